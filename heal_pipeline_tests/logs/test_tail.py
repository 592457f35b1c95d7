"""The incremental reader on real files: cursors, rotation, truncation, partial lines, garbage, caps."""

from __future__ import annotations

import json
import os

import pytest

from heal_pipeline.errors import HealError
from heal_pipeline.logs import LogUnreadable, cursor_at_end, read_new

from .helpers import LOG_LINE, PG18_CSV, cline, jline


def write(path, text: str, mode: str = "a") -> None:
    with open(path, mode, encoding="utf-8") as fh:
        fh.write(text)


def lines(start: int, n: int, **kw) -> str:
    return "".join(jline(i, **kw) for i in range(start, start + n))


def nums(res) -> list[int]:
    """The line_num field of each record, read back from its statement/vxid."""
    return [int(r.timestamp.split(".")[1][:3]) for r in res.records]


def test_first_read_then_only_new_bytes(tmp_path):
    log = tmp_path / "postgresql.json"
    write(log, LOG_LINE + lines(1, 3))
    first = read_new(log, None)
    assert first.fmt == "jsonlog" and first.reason is None
    assert len(first.records) == 3 and first.skipped == 1
    assert first.cursor["offset"] == log.stat().st_size
    assert [r.line for r in first.records] == [2, 3, 4]
    assert first.failed[0].count == 3

    again = read_new(log, first.cursor)
    assert again.records == [] and again.failed == []
    assert again.bytes_read <= 256  # the head check only

    write(log, lines(4, 2))
    second = read_new(log, again.cursor)
    assert nums(second) == [4, 5]
    assert [r.line for r in second.records] == [5, 6]
    assert second.bytes_read - 256 <= len(lines(4, 2).encode())
    assert not second.rotated and not second.truncated


def test_cursor_survives_a_json_round_trip(tmp_path):
    log = tmp_path / "postgresql.json"
    write(log, lines(1, 2))
    stored = json.dumps(read_new(log, None).cursor)  # e.g. the sensor's cursor string
    write(log, lines(3, 2))
    res = read_new(log, json.loads(stored))
    assert nums(res) == [3, 4]
    assert json.loads(json.dumps(res.cursor)) == res.cursor


def test_partial_last_line_is_completed_on_the_next_tick(tmp_path):
    log = tmp_path / "postgresql.json"
    full = jline(3)
    write(log, lines(1, 2) + full[:57])
    a = read_new(log, None)
    assert nums(a) == [1, 2] and a.garbage == 0
    assert a.cursor["offset"] == len(lines(1, 2).encode())
    write(log, full[57:])
    b = read_new(log, a.cursor)
    assert nums(b) == [3] and b.garbage == 0 and b.records[0].line == 3


def test_partial_csv_record_waits_for_its_closing_quote(tmp_path):
    log = tmp_path / "postgresql.csv"
    rec = cline(2, "42703", 'column "nope" does not exist', "select *\nfrom t\nwhere nope = 1", cursor=28)
    cut = rec.index("from t") + 3  # two complete lines of the record are already there
    write(log, cline(1) + rec[:cut])
    a = read_new(log, None)
    assert len(a.records) == 1 and a.garbage == 0
    write(log, rec[cut:] + cline(3))
    b = read_new(log, a.cursor)
    assert [r.statement for r in b.records] == ["select *\nfrom t\nwhere nope = 1", "select * from x"]
    assert b.records[0].line == 2 and b.garbage == 0


def test_garbage_lines_between_good_ones_are_counted_and_skipped(tmp_path):
    log = tmp_path / "postgresql.json"
    write(log, jline(1) + "not json at all\n" + jline(2) + '{"timestamp":"2026-11-22 01:25:34 UTC","error_'
          + "\n" + "\x00\x01\xff binary\n" + '{"error_severity":"ERROR", broken}\n' + '["ERROR"]\n' + jline(3))
    res = read_new(log, None)
    assert nums(res) == [1, 2, 3]
    assert res.garbage == 5
    assert [g["line"] for g in res.garbage_samples] == [2, 4, 5, 6, 7]
    assert res.garbage_samples[0]["offset"] == len(jline(1).encode())
    assert res.garbage_samples[0]["text"] == "not json at all"
    assert "invalid JSON" in res.garbage_samples[3]["reason"]
    assert res.cursor["offset"] == log.stat().st_size


def test_rotation_by_rename_finishes_the_old_file_then_reads_the_new_one(tmp_path):
    log = tmp_path / "postgresql.json"
    write(log, lines(1, 2))
    a = read_new(log, None)
    write(log, lines(3, 2))  # written after our last read, then the file is rotated away
    os.rename(log, tmp_path / "postgresql.json.1")
    write(log, lines(5, 1))
    b = read_new(log, a.cursor)
    assert b.rotated and not b.truncated
    assert nums(b) == [3, 4, 5]
    assert any("finished the previous file" in n and "postgresql.json.1" in n for n in b.notes)
    assert b.cursor["ino"] == log.stat().st_ino and b.cursor["offset"] == log.stat().st_size
    assert b.records[2].line == 1
    c = read_new(log, b.cursor)
    assert c.records == [] and not c.rotated


def test_rotation_when_the_old_file_is_out_of_reach(tmp_path):
    log = tmp_path / "postgresql.json"
    write(log, lines(1, 2))
    a = read_new(log, None)
    (tmp_path / "archive").mkdir()
    os.rename(log, tmp_path / "archive" / "old.json")  # moved away: keeps its inode
    gone = read_new(log, a.cursor)
    assert gone.reason.startswith("missing:") and gone.records == []
    assert gone.cursor == a.cursor  # kept for when the file comes back
    write(log, lines(7, 1))
    b = read_new(log, gone.cursor)
    assert b.rotated and nums(b) == [7]
    assert any("was not found" in n for n in b.notes)


def test_deleted_and_recreated_file_is_read_from_zero(tmp_path):
    log = tmp_path / "postgresql.json"
    write(log, lines(1, 2))
    a = read_new(log, None)
    os.unlink(log)
    write(log, lines(7, 1))  # the filesystem may well hand out the same inode again
    b = read_new(log, a.cursor)
    assert (b.rotated or b.truncated) and nums(b) == [7]


def test_missing_file_first_then_created(tmp_path):
    log = tmp_path / "postgresql.json"
    res = read_new(log, None)
    assert res.reason == f"missing: {log} does not exist"
    assert res.records == [] and res.failed == [] and res.cursor == {}
    write(log, lines(1, 1))
    again = read_new(log, res.cursor)
    assert nums(again) == [1] and again.notes == []


def test_truncation_restarts_at_zero(tmp_path):
    log = tmp_path / "postgresql.json"
    write(log, lines(1, 5))
    a = read_new(log, None)
    write(log, lines(9, 1), mode="w")  # copytruncate: same inode, shorter
    assert log.stat().st_ino == a.cursor["ino"]
    b = read_new(log, a.cursor)
    assert b.truncated and nums(b) == [9]
    assert any("truncated" in n for n in b.notes)


def test_same_inode_rewritten_longer_is_detected_by_the_head_hash(tmp_path):
    log = tmp_path / "postgresql.json"
    write(log, lines(1, 2))
    a = read_new(log, None)
    write(log, lines(20, 5), mode="w")  # truncated and regrown past the old offset between two reads
    b = read_new(log, a.cursor)
    assert b.rotated and nums(b) == [20, 21, 22, 23, 24]
    assert any("replaced" in n for n in b.notes)


def test_byte_cap_leaves_the_rest_for_the_next_tick(tmp_path):
    log = tmp_path / "postgresql.json"
    write(log, lines(1, 100))
    cursor, seen, ticks = None, [], 0
    while True:
        res = read_new(log, cursor, max_bytes=4000)
        ticks += 1
        seen += nums(res)
        cursor = res.cursor
        assert res.bytes_read <= 4000 + 256
        if not res.more:
            break
    assert seen == list(range(1, 101)) and ticks > 10


def test_a_line_longer_than_the_cap_is_garbage_and_its_rest_is_skipped(tmp_path):
    log = tmp_path / "postgresql.json"
    huge = jline(2, statement="select " + "x, " * 3000 + "1")
    write(log, jline(1) + huge + jline(3))
    cursor, recs, garbage = None, [], 0
    for _ in range(20):
        res = read_new(log, cursor, max_bytes=2000)
        recs += nums(res)
        garbage += res.garbage
        cursor = res.cursor
        if not res.more:
            break
    assert recs == [1, 3] and garbage == 1


def test_start_at_end_reads_only_what_comes_next(tmp_path):
    log = tmp_path / "postgresql.json"
    write(log, lines(1, 50) + jline(51)[:20])  # ends with a half-written line
    cur = cursor_at_end(log)
    assert cur["offset"] == len(lines(1, 50).encode()) and cur["line"] is None
    write(log, jline(51)[20:] + lines(52, 1))
    res = read_new(log, cur)
    assert nums(res) == [51, 52] and res.records[0].line is None


def test_csvlog_incremental_with_real_pg18_lines(tmp_path):
    log = tmp_path / "postgresql.csv"
    write(log, PG18_CSV)
    a = read_new(log, None)
    assert a.fmt == "csvlog" and [r.sqlstate for r in a.records] == ["42P01", "42883", "23505"]
    write(log, cline(9, "42703", 'column "a" does not exist', "select a\nfrom \"b\"\"x\""))
    b = read_new(log, a.cursor)
    assert [r.statement for r in b.records] == ['select a\nfrom "b""x"']


def test_format_comes_from_content_and_can_be_forced(tmp_path):
    log = tmp_path / "postgresql"  # PostgreSQL's name when log_filename has no suffix
    write(log, PG18_CSV)
    assert read_new(log, None).fmt == "csvlog"
    assert read_new(log, None, fmt="plain").records == []  # forced: no plain lines in there
    empty = tmp_path / "app.log"
    write(empty, "")
    res = read_new(empty, None)
    assert res.fmt is None and res.reason.startswith("empty:")
    write(empty, "2026-11-22T01:25:34Z ERROR 42P01 relation \"x\" does not exist | STATEMENT: select 1\n")
    res = read_new(empty, res.cursor)
    assert res.fmt == "plain" and len(res.records) == 1


def test_unreadable_paths_raise_a_one_line_heal_error(tmp_path):
    with pytest.raises(LogUnreadable, match="is a directory"):
        read_new(tmp_path, None)
    assert issubclass(LogUnreadable, HealError)
    if os.geteuid() != 0:  # root reads everything
        log = tmp_path / "secret.json"
        write(log, lines(1, 1))
        log.chmod(0)
        with pytest.raises(LogUnreadable, match="permission denied"):
            read_new(log, None)


def test_a_foreign_cursor_is_ignored_with_a_note(tmp_path):
    log = tmp_path / "postgresql.json"
    write(log, lines(1, 2))
    res = read_new(log, {"offset": 5, "ino": "x"})
    assert nums(res) == [1, 2] and any("cursor ignored" in n for n in res.notes)


def test_renamed_file_is_finished_even_before_the_new_one_exists(tmp_path):
    log = tmp_path / "postgresql.json"
    write(log, lines(1, 2))
    a = read_new(log, None)
    write(log, lines(3, 3))
    os.rename(log, tmp_path / "postgresql.json.1")
    b = read_new(log, a.cursor)
    assert b.reason.startswith("missing:") and b.rotated and nums(b) == [3, 4, 5]
    write(log, lines(6, 1))
    c = read_new(log, b.cursor)
    assert c.rotated and nums(c) == [6]


def test_byte_cap_inside_the_rotated_file_continues_there(tmp_path):
    log = tmp_path / "postgresql.json"
    write(log, lines(1, 1))
    cursor = read_new(log, None).cursor
    write(log, lines(2, 30))
    os.rename(log, tmp_path / "postgresql.json.1")
    write(log, lines(40, 2))
    seen = []
    for _ in range(50):
        res = read_new(log, cursor, max_bytes=3000)
        seen += nums(res)
        cursor = res.cursor
        if not res.more:
            break
    assert seen == list(range(2, 32)) + [40, 41]


def test_broken_csv_line_at_the_end_waits_then_becomes_garbage(tmp_path):
    log = tmp_path / "postgresql.csv"
    write(log, cline(1) + 'half a record "with an open quote\n')
    a = read_new(log, None)
    assert len(a.records) == 1 and a.garbage == 0  # could still be a record being written
    write(log, cline(2) + cline(3, "42703", 'column "a" does not exist', "select a\nfrom b"))
    b = read_new(log, a.cursor)
    assert [r.line for r in b.records] == [3, 4] and b.garbage == 1
    assert b.garbage_samples[0]["line"] == 2
    assert b.cursor["offset"] == log.stat().st_size


def test_all_records_on_request_and_database_filter(tmp_path):
    log = tmp_path / "postgresql.json"
    write(log, LOG_LINE + jline(1, db="app") + jline(2, db="other"))
    res = read_new(log, None, failures_only=False, database="app")
    assert [r.severity for r in res.records] == ["LOG", "ERROR", "ERROR"]
    assert [(g.database, g.count) for g in res.failed] == [("app", 1)]
