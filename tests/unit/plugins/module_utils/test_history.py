"""#15: memory across runs. Each host's history gives previous, since, consecutive, state_type, flapping,
trend and changes; the fleet new, recovered and persisting. Host results are the captured results of
sendmail_status on lab hosts (tests/unit/fixtures/report), turned into verdicts by the role's filter."""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path

import pytest
from ansible_collections.opsiface.sendmail.plugins.filter.health import sendmail_health
from ansible_collections.opsiface.sendmail.plugins.module_utils import _history, _report
from hypothesis import given, settings
from hypothesis import strategies as st

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "report"
STATUS = {
    name: json.loads((FIXTURES / f"debian12-8.17.1.9-sendmail_status-{name}.json").read_text())
    for name in ("healthy", "killed", "backlog")
}


def verdict(kind: str, mta_count: int | None = None, oldest: int | None = None) -> dict:
    if kind == "unreachable":
        return _report.unreachable_result("ssh: connect to host mx01 port 22: Connection timed out")
    status = copy.deepcopy(STATUS[kind])
    if mta_count is not None:
        status["queue"]["mta"]["count"] = mta_count
        if mta_count >= 500:  # what sendmail_status decides with the role's health_check_queue_warn_count
            status["checks"]["queue"] = {"status": "warning", "reason": f"MTA queue: {mta_count} messages (backlog)"}
    if oldest is not None:
        status["queue"]["mta"]["oldest_age_seconds"] = oldest
    return sendmail_health(status)


class Fleet:
    """Runs of the health check, 10 minutes apart, carrying each host's history as the report does."""

    def __init__(self, **policy) -> None:
        self.policy = _history.Policy(**policy)
        self.history: dict = {}
        self.n = 0

    def run(self, hosts: dict, minutes: int = 10, record: bool = True) -> dict:
        self.n += 1
        when = datetime.datetime(2026, 12, 1, 10, 0) + datetime.timedelta(minutes=self.n * minutes)
        finished = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        data = _report.fleet(hosts, f"run-{self.n}", finished, finished)
        self.history = _report.with_history(data, self.history, self.policy, record)
        return data


def test_the_first_run_has_no_previous_and_counts_from_now():
    data = Fleet().run({"mx01": verdict("healthy"), "mx02": verdict("killed")})
    ok, dead = data["hosts"]["mx01"], data["hosts"]["mx02"]
    assert ok["previous"] is None and ok["since"] == data["finished"] and ok["consecutive"] == 1
    assert ok["state_type"] == "hard" and ok["flapping"] is False and ok["trend"] == {"queue": {}}
    assert dead["changes"] == ["first health check of this host: critical (hard)"]
    assert data["summary"]["new"] == ["mx02"] and data["summary"]["recovered"] == [] and data["escalate"] == ["mx02"]
    assert data["history"]["recorded"] is True


def test_previous_since_and_consecutive_are_carried_across_runs():
    fleet = Fleet()
    first = fleet.run({"mx01": verdict("killed")})
    fleet.run({"mx01": verdict("killed")})
    third = fleet.run({"mx01": verdict("killed")})
    host = third["hosts"]["mx01"]
    assert host["previous"] == {"status": "critical", "run_id": "run-2", "finished": "2026-12-01T10:20:00Z"}
    assert host["since"] == first["finished"] and host["consecutive"] == 3
    assert third["summary"]["persisting"] == ["mx01"] and third["summary"]["new"] == []
    assert host["changes"] == []  # nothing changed: the same status, the same checks, the same queue
    assert third["escalate"] == ["mx01"]  # a hard critical state stays escalated; paging on "new" pages once


def test_soft_then_hard_with_hard_after_two():
    """Nagios' max_check_attempts: a problem is soft until seen on hard_after runs in a row; soft neither
    escalates nor is new; it becomes hard (and new) on the second run."""
    fleet = Fleet(hard_after=2)
    one = fleet.run({"mx01": verdict("healthy"), "mx02": verdict("killed")})
    dead = one["hosts"]["mx02"]
    assert dead["state_type"] == "soft" and dead["escalate"] is False and one["summary"]["new"] == []
    assert dead["changes"] == ["first health check of this host: critical (soft, 1 of 2)"]
    two = fleet.run({"mx01": verdict("healthy"), "mx02": verdict("killed")})
    dead = two["hosts"]["mx02"]
    assert dead["state_type"] == "hard" and dead["escalate"] is True and two["summary"]["new"] == ["mx02"]
    assert dead["consecutive"] == 2 and dead["since"] == one["finished"]
    assert dead["changes"] == ["status critical is now hard (2 runs in a row)"]
    three = fleet.run({"mx01": verdict("healthy"), "mx02": verdict("healthy")})
    assert three["summary"]["recovered"] == ["mx02"] and "recovered: process" in three["hosts"]["mx02"]["changes"]


def test_a_soft_problem_that_goes_away_is_not_recovered():
    fleet = Fleet(hard_after=3)
    fleet.run({"mx01": verdict("healthy")})
    fleet.run({"mx01": verdict("killed")})
    back = fleet.run({"mx01": verdict("healthy")})
    assert back["summary"]["recovered"] == [] and back["summary"]["new"] == []
    assert back["hosts"]["mx01"]["changes"][0] == "status critical \u2192 ok (hard)"


def test_a_worse_hard_status_is_new_a_better_one_persists():
    fleet = Fleet()
    fleet.run({"mx01": verdict("backlog", 600)})  # warning: 600 messages >= 500
    worse = fleet.run({"mx01": verdict("killed")})
    assert worse["summary"]["new"] == ["mx01"]
    assert "new: process critical" in worse["hosts"]["mx01"]["changes"]
    better = fleet.run({"mx01": verdict("backlog", 600)})
    assert better["summary"]["persisting"] == ["mx01"] and better["summary"]["new"] == []
    assert "recovered: process" in better["hosts"]["mx01"]["changes"]


def test_queue_trend_and_the_changes_line():
    fleet = Fleet()
    fleet.run({"mx03": verdict("backlog", 100, 600)})
    data = fleet.run({"mx03": verdict("backlog", 300, 1200)})
    mta = data["hosts"]["mx03"]["trend"]["queue"]["mta"]
    assert mta["count_delta"] == 200 and mta["rate_per_hour"] == 1200.0 and mta["direction"] == "growing"
    assert mta["oldest_age_delta"] == 600 and mta["interval_seconds"] == 600
    assert "queue MTA 100 \u2192 300 (+200 in 10 min, 1,200/h)" in data["hosts"]["mx03"]["changes"]
    steady = fleet.run({"mx03": verdict("backlog", 310, 1800)})["hosts"]["mx03"]["trend"]["queue"]["mta"]
    assert steady["direction"] == "steady"  # +10 is within 5 % of 300
    draining = fleet.run({"mx03": verdict("backlog", 100, 2400)})["hosts"]["mx03"]["trend"]["queue"]["mta"]
    assert draining["direction"] == "draining" and draining["rate_per_hour"] == -1260.0


def test_a_growing_queue_warns_before_its_count_threshold():
    """1,200/h from 300 reaches 5,000 in 3.9 h: within the 4 h horizon, a warning at 300 messages."""
    fleet = Fleet()
    fleet.run({"mx03": verdict("backlog", 100, 600)})
    data = fleet.run({"mx03": verdict("backlog", 300, 1200)})
    host = data["hosts"]["mx03"]
    assert host["status"] == "warning" and host["checks"]["queue"]["status"] == "warning"
    assert host["trend"]["queue"]["mta"]["projected_crit_hours"] == 3.9
    assert any("projected to reach 5,000 (queue_crit_count) in 3.9 h" in r for r in host["reasons"])
    assert "new: queue warning" in host["changes"] and data["summary"]["new"] == ["mx03"]
    slower = Fleet(queue_horizon_hours=3.0)
    slower.run({"mx03": verdict("backlog", 100, 600)})
    assert slower.run({"mx03": verdict("backlog", 300, 1200)})["hosts"]["mx03"]["status"] == "ok"
    off = Fleet(queue_horizon_hours=0)
    off.run({"mx03": verdict("backlog", 100, 600)})
    assert off.run({"mx03": verdict("backlog", 300, 1200)})["hosts"]["mx03"]["status"] == "ok"


def test_flapping_is_escalated_once_and_then_quiet():
    fleet = Fleet(flap_window=10, flap_threshold=0.3)
    statuses = ["healthy", "killed", "healthy", "killed", "healthy", "killed", "healthy"]
    seen = []
    for kind in statuses:
        data = fleet.run({"mx01": verdict(kind)})
        host = data["hosts"]["mx01"]
        seen.append((host["flapping"], host["escalate"], data["summary"]["new"] == ["mx01"]))
    # 3 changes of 9 transitions (33 %) on the 4th run: flapping starts, escalated once (even though it is ok
    # now, it is in "new"); the flips after that are neither escalated nor new
    assert seen[:3] == [(False, False, False), (False, True, True), (False, False, False)]
    assert seen[3] == (True, True, True)
    assert all(flap and not esc and not new for flap, esc, new in seen[4:])
    assert (
        any(
            c.startswith("started flapping") for c in fleet.run({"mx01": verdict("killed")})["hosts"]["mx01"]["changes"]
        )
        is False
    )


def test_flapping_stops_at_half_the_threshold():
    fleet = Fleet(flap_window=5, flap_threshold=0.5)
    for kind in ["healthy", "killed", "healthy", "killed"]:  # 3 of 4 transitions changed
        data = fleet.run({"mx01": verdict(kind)})
    assert data["hosts"]["mx01"]["flapping"] is True
    flags = [fleet.run({"mx01": verdict("killed")})["hosts"]["mx01"]["flapping"] for _run in range(3)]
    assert flags == [True, True, False]  # 3 of 4, 2 of 4 (above 25 %), then 1 of 4: stopped
    data = fleet.run({"mx01": verdict("killed")})
    assert data["hosts"]["mx01"]["flapping"] is False
    fleet = Fleet(flap_window=5, flap_threshold=0.5)
    for kind in ["healthy", "killed", "healthy", "killed", "killed", "killed", "killed"]:
        data = fleet.run({"mx01": verdict(kind)})
    assert any(c.startswith("stopped flapping") for c in data["hosts"]["mx01"]["changes"])


def test_one_incident_is_not_flapping():
    fleet = Fleet()
    for kind in ["healthy", "killed", "healthy"]:
        data = fleet.run({"mx01": verdict(kind)})
    assert data["hosts"]["mx01"]["flapping"] is False and data["summary"]["recovered"] == ["mx01"]


def test_unreachable_and_unknown_are_states_like_the_others():
    fleet = Fleet()
    fleet.run({"mx01": verdict("healthy"), "mx02": verdict("healthy")})
    unknown = _report.access_result("sudo needs a password and none was given", "missing sudo password")
    data = fleet.run({"mx01": verdict("unreachable"), "mx02": unknown})
    assert data["hosts"]["mx01"]["trend"] == {"queue": {}}
    assert data["hosts"]["mx01"]["changes"][0] == "status ok \u2192 unreachable (hard)"
    assert data["hosts"]["mx02"]["changes"][0] == "status ok \u2192 unknown (hard)"
    assert data["summary"]["new"] == ["mx01", "mx02"] and data["escalate"] == ["mx01"]  # unknown < critical


def test_a_run_of_some_checks_is_compared_but_not_recorded():
    fleet = Fleet()
    fleet.run({"mx01": verdict("healthy")})
    fleet.run({"mx01": verdict("killed")}, record=False)
    data = fleet.run({"mx01": verdict("killed")})
    assert data["hosts"]["mx01"]["previous"]["run_id"] == "run-1" and data["summary"]["new"] == ["mx01"]


def test_histories_are_bounded_by_runs_and_days():
    fleet = Fleet(runs=3, days=1)
    for _run in range(5):
        fleet.run({"mx01": verdict("healthy")})
    assert [r["run_id"] for r in fleet.history["mx01"]] == ["run-3", "run-4", "run-5"]
    fleet = Fleet(days=1)
    fleet.run({"mx01": verdict("healthy")}, minutes=10)
    fleet.n = 200  # the next run 2000 minutes later
    fleet.run({"mx01": verdict("healthy")}, minutes=10)
    assert [r["run_id"] for r in fleet.history["mx01"]] == ["run-201"]


def test_the_two_stores_are_merged_by_run_id():
    a = {"run_id": "a", "finished": "2026-12-01T10:00:00Z", "status": "ok"}
    b = {"run_id": "b", "finished": "2026-12-01T10:10:00Z", "status": "critical"}
    fact = _history.parse(_history.stored([a, dict(b, status="warning")]))
    files = _history.parse(_history.stored([b, {"run_id": "c", "finished": "2026-12-01T09:50:00Z", "status": "ok"}]))
    merged = _history.merge(fact, files)
    assert [(r["run_id"], r["status"]) for r in merged] == [("c", "ok"), ("a", "ok"), ("b", "warning")]


@pytest.mark.parametrize(
    "value",
    [None, [], "x", {"runs": []}, {"schema": "other", "runs": [{}]}, {"schema": _history.SCHEMA, "runs": "x"}],
)
def test_foreign_stored_values_are_no_history(value):
    assert _history.parse(value) == []


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
        max_leaves=40,
    )
)
def test_any_stored_value_parses_to_well_formed_records_and_never_raises(runs):
    """A fact cache or a history file is not ours alone: whatever is there, the report is still written."""
    records = _history.parse({"schema": _history.SCHEMA, "runs": runs if isinstance(runs, list) else [runs]})
    data = _report.fleet({"mx01": verdict("healthy")}, "r", "2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z")
    _report.with_history(data, {"mx01": records}, _history.Policy())
    json.dumps(data)
    for rec in records:
        assert rec["status"] in _history.RANK and _history.parse_time(rec["finished"]) is not None


def test_reports_with_history_match_the_published_schema():
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[4] / "docs" / "fleet.schema.json").read_text())
    fleet = Fleet(hard_after=2)
    for step in range(3):
        data = fleet.run(
            {
                "mx01": verdict("healthy"),
                "mx02": verdict("killed"),
                "mx03": verdict("backlog", 100 * (step + 1), 600 * step),
                "mx04": verdict("unreachable" if step % 2 else "healthy"),
            }
        )
        jsonschema.validate(json.loads(json.dumps(data)), schema)
    assert data["hosts"]["mx03"]["trend"]["queue"]["mta"]["direction"] == "growing"
