"""The analyst views in sql/views: real rows through the real store, read by pandas without warnings."""

import warnings

import pandas as pd
import psycopg
import sqlalchemy

from heal_pipeline.detect import DetectionResult
from heal_pipeline.model import Issue
from heal_pipeline.store import open_store, record_detection


def _issue(t, table, sev="warning"):
    return Issue(issue_type=t, severity=sev, target_db="db1", detail=f"{t} on {table}",
                 schema_name="public", table_name=table, object_name=f"{table}_x")


def test_views_answer_the_analyst_questions(fresh_dsn):
    a, b, c = _issue("fk_without_index", "orders"), _issue("no_primary_key", "orders"), \
        _issue("type_mismatch", "sessions", "critical")
    with open_store(fresh_dsn) as store:
        record_detection(store, "db1", DetectionResult([a, b, c]), "run-1",
                         {"fk_without_index", "no_primary_key", "type_mismatch"})
        store.execute("UPDATE heal.issues SET first_seen = now() - interval '2 days'")
        rec = record_detection(store, "db1", DetectionResult([b, c]), "run-2",
                               {"fk_without_index", "no_primary_key", "type_mismatch"})
        assert rec["resolved"] == 1
    url = sqlalchemy.engine.make_url("postgresql+psycopg://")
    dsn = psycopg.conninfo.conninfo_to_dict(fresh_dsn)
    engine = sqlalchemy.create_engine(url, connect_args=dsn)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        open_ = pd.read_sql("SELECT * FROM heal.v_open_issues ORDER BY issue_type", engine)
        trend = pd.read_sql("SELECT * FROM heal.v_issue_trend_daily ORDER BY issue_type", engine)
        mttr = pd.read_sql("SELECT * FROM heal.v_time_to_resolve", engine)
        tables = pd.read_sql("SELECT * FROM heal.v_tables_that_break ORDER BY issues_ever DESC", engine)
    engine.dispose()
    assert list(open_["issue_type"]) == ["no_primary_key", "type_mismatch"]
    assert set(trend["issue_type"]) == {"fk_without_index", "no_primary_key", "type_mismatch"}
    assert int(trend.loc[trend["issue_type"] == "fk_without_index", "runs"].iloc[0]) == 1
    assert int(trend.loc[trend["issue_type"] == "no_primary_key", "runs"].iloc[0]) == 2
    assert mttr["issue_type"].tolist() == ["fk_without_index"]
    assert mttr["mean_time_to_resolve"].iloc[0] >= pd.Timedelta(days=2)
    top = tables.iloc[0]
    assert (top["table_name"], top["issues_ever"], top["open_now"]) == ("orders", 2, 1)
