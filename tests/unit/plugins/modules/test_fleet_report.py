"""#13 item 4: fleet_report (runs on the controller, often as root) in a directory another user reaches.

fleet_report is an action plugin: these tests drive its whole work, plugin_utils/_fleet_report.run(), with
the task's arguments, as the action does."""

from __future__ import annotations

import json
import os
import stat

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _report, _safefile
from ansible_collections.opsiface.sendmail.plugins.plugin_utils import _fleet_report

HOST = _report.unreachable_result("ssh: timed out")


def run(args: dict, capsys=None) -> dict:
    return json.loads(json.dumps(_fleet_report.run(args)))


def report(report_dir, **extra) -> dict:
    args = {"hosts": {"mx01": HOST}, "run_id": "r1", "started": "2026-11-27T11:00:00Z", "report_dir": str(report_dir)}
    return dict(args, **extra)


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "victim"
    path.write_text("root's file\n")
    path.chmod(0o600)
    return path


def test_a_clean_report_and_a_second_batch(tmp_path, capsys):
    out = run(report(tmp_path / "reports" / "run1", latest_link=True), capsys)
    assert not out.get("failed"), out
    assert os.readlink(tmp_path / "reports" / "latest") == "run1"
    out = run(report(tmp_path / "reports" / "run1", hosts={"mx02": HOST}, merge=True, latest_link=True), capsys)
    fleet = json.loads((tmp_path / "reports" / "run1" / "fleet.json").read_text())
    assert sorted(fleet["hosts"]) == ["mx01", "mx02"]
    assert len((tmp_path / "reports" / "run1" / "journal.jsonl").read_text().splitlines()) == 2
    assert not [n for n in os.listdir(tmp_path / "reports" / "run1") if n.endswith(".tmp")]


@pytest.mark.parametrize("name", ["journal.jsonl", "fleet.md", "fleet.json", "junit.xml"])
def test_links_planted_under_the_report_names_are_never_followed(tmp_path, capsys, victim, name):
    """Root appended to the target of a planted journal.jsonl link (and wrote through *.tmp-<pid> links)."""
    d = tmp_path / "run"
    d.mkdir()
    (d / name).symlink_to(victim)
    for pid in range(os.getpid() - 5, os.getpid() + 50):  # the old predictable temporary names, too
        (d / f"fleet.json.tmp-{pid}").symlink_to(victim)
    out = run(report(d), capsys)
    assert victim.read_text() == "root's file\n" and stat.S_IMODE(victim.stat().st_mode) == 0o600
    if name == "journal.jsonl":
        assert out["failed"] and "refusing to write the report" in out["msg"]
    else:
        assert not out.get("failed"), out
        assert not (d / name).is_symlink()  # replaced by the new file, the link itself gone


def test_a_hard_linked_journal_is_refused(tmp_path, capsys, victim):
    d = tmp_path / "run"
    d.mkdir()
    os.link(victim, d / "journal.jsonl")
    out = run(report(d), capsys)
    assert out["failed"] and "hard link" in out["msg"]
    assert victim.read_text() == "root's file\n"


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o775])
def test_a_report_directory_other_users_can_write_is_refused(tmp_path, capsys, mode):
    d = tmp_path / "shared"
    d.mkdir()
    d.chmod(mode)
    out = run(report(d), capsys)
    assert out["failed"] and f"can be written by other users (mode {mode:04o}" in out["msg"]
    assert os.listdir(d) == []


def test_a_symlinked_report_directory_is_refused(tmp_path, capsys):
    real = tmp_path / "elsewhere"
    real.mkdir()
    (tmp_path / "run").symlink_to(real)
    out = run(report(tmp_path / "run"), capsys)
    assert out["failed"] and "without following a link" in out["msg"]
    assert os.listdir(real) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory to another user")
def test_a_hosts_directory_of_another_user_is_never_reused(tmp_path, capsys):
    d = tmp_path / "run"
    (d / "hosts").mkdir(parents=True)
    os.chown(d / "hosts", 4242, 4242)
    out = run(report(d), capsys)
    assert out["failed"] and "hosts is owned by another user" in out["msg"]
    assert os.listdir(d / "hosts") == [] and not (d / "fleet.json").exists()


def test_safefile_refuses_names_with_separators(tmp_path):
    fd = _safefile.open_dir(str(tmp_path / "x"))
    try:
        for bad in ("../escape", "a/b", "", ".", ".."):
            with pytest.raises(_safefile.UnsafePath):
                _safefile.write_file(fd, bad, b"x")
        (tmp_path / "x" / "latest").mkdir()
        with pytest.raises(_safefile.UnsafePath, match="not a symlink"):
            _safefile.replace_symlink(fd, "latest", "run1")
    finally:
        os.close(fd)


def test_fleet_report_is_private_and_latest_always_has_a_fleet_md(tmp_path):
    """`cat reports/latest/fleet.md` works after any operation; a restart has its own latest-restart."""
    old_umask = os.umask(0o022)  # a usual umask: the files must be private whatever it is
    try:
        hosts = {"mx01": _report.unreachable_result("gone")}
        reports = tmp_path / "reports"
        health = {
            "hosts": hosts,
            "run_id": "r1",
            "started": "s",
            "report_dir": str(reports / "hc-1"),
            "latest_link": True,
            "history": {},
            "history_dir": str(reports / "history"),
        }
        assert not run(health).get("failed")
        restart = dict(health, report_dir=str(reports / "restart-1"), operation="restart", run_id="r2")
        assert not run(restart).get("failed")
    finally:
        os.umask(old_umask)
    assert (reports / "latest" / "fleet.md").is_file()
    assert (reports / "latest").resolve() == (reports / "hc-1").resolve()
    assert (reports / "latest-healthcheck").resolve() == (reports / "hc-1").resolve()
    assert (reports / "latest-restart" / "restart.md").is_file()
    assert (reports / "history" / "mx01.json").is_file() and (reports / "hc-1" / "fleet.prom").is_file()
    for path in [reports, *reports.rglob("*")]:
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (
            {"hosts": {"mx01": {"status": "ok"}}, "run_id": "r", "started": "s", "report_dir": "/x"},
            "hosts.mx01 has no status",
        ),
        ({"hosts": {}, "run_id": "r\n<b>", "started": "s", "report_dir": "/x"}, "run_id must not contain"),
        ({"hosts": {}, "run_id": "r", "started": "s", "report_dir": "/x", "hard_after": 0}, "hard_after=0"),
        ({"hosts": {}, "run_id": "r", "started": "s", "report_dir": "/x", "flap_threshold": 2.0}, "flap_threshold=2"),
        ({"hosts": {}, "run_id": "r", "started": "s", "report_dir": "/x", "pushgateway_url": "ftp://x"}, "not an http"),
        ({"hosts": {}, "run_id": "r", "started": "s", "report_dir": "/x", "history_runs": 10**6}, "history_runs="),
        ({"hosts": {}, "run_id": "r", "started": "s", "report_dir": "/x", "bogus": 1}, "bogus"),
    ],
)
def test_hostile_arguments_are_refused_before_anything_is_done(args, msg):
    out = run(args)
    assert out["failed"] and msg in out["msg"], out
    assert not os.path.exists("/x")


# ----------------------------------------------------------------- #15: history beside the reports and in facts
def crit(reason: str = "process: no sendmail listener is running") -> dict:
    return {
        "status": "critical",
        "escalate": True,
        "reasons": [reason],
        "checks": {"process": {"status": "critical", "reason": reason}},
        "observations": [],
        "actions": ["none"],
    }


def ok() -> dict:
    return {
        "status": "ok",
        "escalate": False,
        "reasons": [],
        "checks": {"process": {"status": "ok", "reason": "up"}},
        "observations": [],
        "actions": ["none"],
    }


def health(tmp_path, run_id: str, hosts: dict, **extra) -> dict:
    args = {
        "hosts": hosts,
        "run_id": run_id,
        "started": "2026-12-01T10:00:00Z",
        "report_dir": str(tmp_path / "reports" / run_id),
        "history": {},
        "history_dir": str(tmp_path / "reports" / "history"),
    }
    return dict(args, **extra)


def stored(tmp_path, host: str) -> list[str]:
    data = json.loads((tmp_path / "reports" / "history" / f"{host}.json").read_text())
    assert data["host"] == host and data["schema"] == "opsiface.sendmail/history/v1"
    return [r["run_id"] for r in data["runs"]]


def test_slices_each_update_their_own_hosts_and_lose_nothing(tmp_path):
    """AWX job slicing: two jobs at once, each with half the hosts, one history directory (or fact cache)."""
    assert not run(health(tmp_path, "r1", {"mx01": ok(), "mx02": ok()})).get("failed")
    one = run(health(tmp_path, "r2a", {"mx01": crit()}))
    two = run(health(tmp_path, "r2b", {"mx02": ok()}))
    assert stored(tmp_path, "mx01") == ["r1", "r2a"] and stored(tmp_path, "mx02") == ["r1", "r2b"]
    assert one["new"] == ["mx01"] and two["new"] == [] and list(one["history"]) == ["mx01"]
    assert set(json.loads((tmp_path / "reports" / "r2a" / "fleet.json").read_text())["hosts"]) == {"mx01"}


def test_facts_and_files_are_one_history(tmp_path):
    """What the fact cache holds (AWX) and what the file holds (the CLI) are merged by run id."""
    first = run(health(tmp_path, "r1", {"mx01": crit()}, history_dir=None))
    assert first["history_dir"] is None and not (tmp_path / "reports" / "history").exists()
    facts = {"mx01": first["history"]["mx01"]}
    second = run(health(tmp_path, "r2", {"mx01": crit()}, history=facts))
    assert second["persisting"] == ["mx01"] and stored(tmp_path, "mx01") == ["r1", "r2"]
    third = run(health(tmp_path, "r3", {"mx01": ok()}))  # no facts this time: the file alone
    assert third["recovered"] == ["mx01"]
    assert [r["run_id"] for r in third["history"]["mx01"]["runs"]] == ["r1", "r2", "r3"]
    data = json.loads((tmp_path / "reports" / "r3" / "fleet.json").read_text())
    assert data["hosts"]["mx01"]["previous"]["run_id"] == "r2" and data["summary"]["recovered"] == ["mx01"]


def test_soft_states_are_not_escalated_and_say_so(tmp_path):
    out = run(health(tmp_path, "r1", {"mx01": crit()}, hard_after=2))
    assert out["escalate"] == [] and out["statuses"]["mx01"] == {
        "status": "critical",
        "reasons": ["process: no sendmail listener is running"],
        "escalate": False,
        "state_type": "soft",
    }
    out = run(health(tmp_path, "r2", {"mx01": crit()}, hard_after=2))
    assert out["escalate"] == ["mx01"] and out["statuses"]["mx01"]["state_type"] == "hard" and out["new"] == ["mx01"]


def test_a_locked_history_is_not_recorded_and_the_report_is_still_written(tmp_path, monkeypatch):
    import fcntl

    run(health(tmp_path, "r1", {"mx01": ok()}))
    lock = os.open(tmp_path / "reports" / "history" / ".lock", os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)  # another health check, in the middle of writing
    try:
        monkeypatch.setattr(_fleet_report, "LOCK_WAIT", 0.2)
        out = run(health(tmp_path, "r2", {"mx01": crit()}))
    finally:
        os.close(lock)
    assert "locked by another run" in out["warnings"][0] and stored(tmp_path, "mx01") == ["r1"]
    assert out["history"] == {}  # not recorded: no facts to set either
    assert (tmp_path / "reports" / "r2" / "fleet.md").is_file()


def test_a_planted_history_file_or_directory_link_is_not_followed(tmp_path, victim):
    history = tmp_path / "reports" / "history"
    history.mkdir(parents=True, mode=0o700)
    (history / "mx01.json").symlink_to(victim)
    out = run(health(tmp_path, "r1", {"mx01": ok()}))
    assert not out.get("failed") and victim.read_text() == "root's file\n" and stored(tmp_path, "mx01") == ["r1"]
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    out = run(health(tmp_path, "r3", {"mx01": ok()}, history_dir=str(tmp_path / "link")))
    assert out["failed"] and "without following a link" in out["msg"] and os.listdir(tmp_path / "elsewhere") == []


def test_hosts_whose_names_collide_when_made_safe_keep_apart(tmp_path):
    run(health(tmp_path, "r1", {"mx/01": crit(), "mx_01": ok()}))
    out = run(health(tmp_path, "r2", {"mx/01": crit(), "mx_01": ok()}))
    assert out["persisting"] == ["mx/01"] and out["new"] == []
    names = sorted(os.listdir(tmp_path / "reports" / "history"))
    assert len([n for n in names if n.endswith(".json")]) == 2 and "mx_01.json" in names
