"""Priority of fixes in a run (pure: plans built in memory, as the planners build them)."""

from heal_pipeline.model import FixPlan, FixStep
from heal_pipeline.plan.priority import lock_rank, order_plans, priority_key, priority_table


def plan(fp, severity="warning", lock="SHARE UPDATE EXCLUSIVE", rows=0, depends_on=(), issue_type="t"):
    return FixPlan(fingerprint=fp, issue_type=issue_type, target_db="db", tier="auto", summary=fp,
                   steps=[FixStep("s", "", lock=lock), FixStep("c", "", lock="ACCESS SHARE", kind="check")],
                   rows_rewritten=rows, depends_on=list(depends_on), issue={"severity": severity})


def fps(plans):
    return [p.fingerprint for p in plans]


def test_severity_first_then_lock_then_rows():
    plans = [plan("warn-cheap", rows=0), plan("crit-expensive", "critical", "ACCESS EXCLUSIVE", rows=10**6),
             plan("warn-exclusive", lock="ACCESS EXCLUSIVE", rows=10), plan("warn-rows", rows=500),
             plan("info", "info"), plan("warn-unknown-rows", rows=None)]
    assert fps(order_plans(plans)) == ["crit-expensive", "warn-cheap", "warn-rows", "warn-unknown-rows",
                                       "warn-exclusive", "info"]


def test_dependency_beats_severity_and_prerequisite_inherits_urgency():
    plans = [plan("other-warning", rows=0), plan("crit", "critical", depends_on=["prereq"]),
             plan("prereq", "info", lock="ACCESS EXCLUSIVE", rows=100)]
    order = fps(order_plans(plans))
    assert order == ["prereq", "crit", "other-warning"]
    table = priority_table(plans)
    assert [r["fingerprint"] for r in table] == order
    assert table[0]["effective_severity"] == "critical" and table[0]["severity"] == "info"
    assert table[1]["depends_on"] == ["prereq"] and not any(r["cycle"] for r in table)


def test_missing_dependency_ignored_and_cycle_broken_deterministically():
    plans = [plan("a", depends_on=["b", "gone"]), plan("b", depends_on=["a"]), plan("c", "critical")]
    order = fps(order_plans(plans))
    assert order[0] == "c" and sorted(order) == ["a", "b", "c"] and len(order) == 3
    assert order == fps(order_plans(list(reversed(plans))))
    assert sum(r["cycle"] for r in priority_table(plans)) == 1


def test_lock_rank_and_key_shape():
    assert lock_rank("ACCESS EXCLUSIVE") > lock_rank("SHARE ROW EXCLUSIVE") > lock_rank("SHARE") \
        > lock_rank("SHARE UPDATE EXCLUSIVE") > lock_rank("ACCESS SHARE") > lock_rank("none") == 0
    assert lock_rank("ACCESS EXCLUSIVE on public.t") == 8
    assert priority_key(plan("x", "critical", "ACCESS EXCLUSIVE", 7)) == (0, 8, 7, "t", "x")
