from __future__ import annotations

import os
import signal
import stat

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _service
from ansible_collections.opsiface.sendmail.plugins.module_utils._runner import CmdResult


def st(mode: int, uid: int = 0) -> os.stat_result:
    return os.stat_result((mode, 0, 0, 1, uid, 0, 0, 0, 0, 0))


@pytest.mark.parametrize(
    ("mode", "uid", "group_ok", "problem"),
    [
        (stat.S_IFDIR | 0o2750, 100, False, None),  # debian12 /var/spool/mqueue smmta:smmsp
        (stat.S_IFDIR | 0o2770, 101, True, None),  # debian12 /var/spool/mqueue-client smmsp:smmsp
        (stat.S_IFDIR | 0o2770, 100, False, "group-writable (mode 2770)"),
        (stat.S_IFDIR | 0o777, 0, True, "world-writable (mode 0777)"),
        (stat.S_IFDIR | 0o700, 1000, False, "owned by uid 1000, expected one of [0, 100, 101]"),
        (stat.S_IFREG | 0o600, 0, False, "is not a directory"),
    ],
)
def test_queue_dir_problem(mode, uid, group_ok, problem):
    found = _service.queue_dir_problem("/var/spool/mqueue", st(mode, uid), {0, 100, 101}, group_ok)
    if problem is None:
        assert found is None
    else:
        assert problem in found and "/var/spool/mqueue" in found


def test_queue_dir_missing_and_binary():
    assert "does not exist" in _service.queue_dir_problem("/nope", None, {0}, False)
    assert "does not exist" in _service.binary_problem("/usr/sbin/sendmail", None, False)
    assert "not executable" in _service.binary_problem("/usr/sbin/sendmail", st(stat.S_IFREG | 0o644), False)
    assert _service.binary_problem("/usr/sbin/sendmail", st(stat.S_IFREG | 0o2755), True) is None


def test_preflight_verdict_names_the_line():
    broken = {
        "ok": False,
        "rc": 70,
        "command": "/usr/sbin/sendmail -d0.1 -bC",
        "errors": [{"line": 1944, "message": 'unknown configuration line "this line is not sendmail.cf syntax"'}],
    }
    verdict = _service.preflight_verdict(None, broken, ["queue directory /var/spool/mqueue does not exist"])
    assert not verdict["ok"]
    assert verdict["problems"][0].startswith("configuration check failed (/usr/sbin/sendmail -d0.1 -bC): line 1944:")
    assert len(verdict["problems"]) == 2
    assert _service.preflight_verdict(None, {"ok": True}, [])["ok"]
    skipped = _service.preflight_verdict(
        "sendmail binary /x does not exist", {"ok": None, "skipped": "/x not found"}, []
    )
    assert skipped["problems"] == [
        "sendmail binary /x does not exist",
        "configuration could not be checked: /x not found",
    ]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeRunner:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def run(self, argv, stdin=None, timeout=30.0):
        self.calls.append(list(argv))
        return CmdResult(tuple(argv), 0, b"Stopping Mail Transport Agent (MTA): sendmail.\n", b"")

    def which(self, name):
        return name


RUNNING = {"pid": 71, "ppid": 1, "state": "accepting", "running": True}
STOP = ["/etc/init.d/sendmail", "stop"]


def test_stop_waits_for_the_listener():
    clock, runner = FakeClock(), FakeRunner()
    gone_at = 1.0
    hooks = _service.Hooks(alive=lambda pid: clock.now < gone_at, clock=clock.clock, sleep=clock.sleep)
    step = _service.stop(runner, _service.ServiceCall(STOP, 30), RUNNING, hooks)
    assert step.ok and step.changed
    assert runner.calls == [STOP]
    assert step.observations[0].startswith("the listener 71 is gone after 1.")


def test_stop_without_force_leaves_a_stuck_listener():
    clock, runner = FakeClock(), FakeRunner()
    killed = []
    hooks = _service.Hooks(lambda pid: True, lambda p, s: killed.append(s), clock.clock, clock.sleep)
    step = _service.stop(runner, _service.ServiceCall(STOP, 5), RUNNING, hooks)
    assert not step.ok
    assert "still runs 5 s after" in step.failure and "restart_force is false" in step.failure
    assert killed == []


def test_stop_with_force_terms_then_kills():
    clock, runner = FakeClock(), FakeRunner()
    sent = []

    def alive(pid):  # survives TERM, not KILL
        return signal.SIGKILL not in sent

    hooks = _service.Hooks(alive, lambda p, s: sent.append(s), clock.clock, clock.sleep)
    step = _service.stop(runner, _service.ServiceCall(STOP, 5, force=True), RUNNING, hooks)
    assert step.ok
    assert sent == [signal.SIGTERM, signal.SIGKILL]
    assert step.actions[-2:] == ["sent SIGTERM to the listener 71 (force)", "sent SIGKILL to the listener 71 (force)"]


def test_stop_check_mode_and_nothing_running():
    runner = FakeRunner()
    step = _service.stop(runner, _service.ServiceCall(STOP, 5, check_mode=True), RUNNING)
    assert step.changed and runner.calls == [] and "check mode" in step.actions[0]
    step = _service.stop(runner, _service.ServiceCall(STOP, 5), {"state": "absent", "pid": None})
    assert not step.changed and runner.calls == []


def test_start_verifies_listener_and_parent():
    clock, runner = FakeClock(), FakeRunner()
    states = iter([{"running": False, "state": "absent"}, {"running": False}, {"running": True, "pid": 90, "ppid": 1}])
    hooks = _service.Hooks(clock=clock.clock, sleep=clock.sleep)
    step, after = _service.start(
        runner, _service.ServiceCall(["/etc/init.d/sendmail", "start"], 10), lambda: next(states), hooks
    )
    assert step.ok and after["pid"] == 90
    states = iter([{"running": False}, {"running": True, "pid": 91, "ppid": 4242}])
    step, _unused = _service.start(runner, _service.ServiceCall(["start"], 10), lambda: next(states), hooks)
    assert not step.ok and "PPID 4242" in step.failure
    step, _unused = _service.start(runner, _service.ServiceCall(["start"], 3), lambda: {"running": False}, hooks)
    assert not step.ok and step.failure.startswith("no sendmail listener 3 s after start")


def test_start_is_idempotent_and_check_mode_after_stop():
    runner = FakeRunner()
    step, after = _service.start(runner, _service.ServiceCall(["start"], 10), lambda: dict(RUNNING))
    assert not step.changed and runner.calls == [] and after["pid"] == 71
    call = _service.ServiceCall(["start"], 10, check_mode=True, after_stop=True)
    step, _unused = _service.start(runner, call, lambda: dict(RUNNING))
    assert step.changed and runner.calls == [] and "would start" in step.actions[0]


def test_account_every_id():
    before = {"mta": ["AAAAAAAA0001", "AAAAAAAA0002", "AAAAAAAA0003", "AAAAAAAA0004"], "msp": ["BBBBBBBB0001"]}
    result = _service.account(
        before, {"AAAAAAAA0001"}, {"AAAAAAAA0002"}, {"AAAAAAAA0003": "sent", "BBBBBBBB0001": "sent"}
    )
    assert result == {
        "expected": 5,
        "present": 1,
        "moved_aside": 1,
        "finished": 2,
        "finished_by_outcome": {"sent": 2},
        "lost": ["AAAAAAAA0004"],
        "duplicate_risk": [],
        "ok": False,
    }
    assert _service.account({"mta": [], "msp": []}, set(), set(), {})["ok"]


def test_account_counts_a_duplicate_risk_as_a_failure():
    """Moved aside while a runner still had it (issue #17): delivered after the move, or still queued too."""
    before = {"mta": ["AAAAAAAA0001", "AAAAAAAA0002", "AAAAAAAA0003"]}
    aside = {"AAAAAAAA0001", "AAAAAAAA0002", "AAAAAAAA0003"}
    result = _service.account(before, {"AAAAAAAA0002"}, aside, {}, {"AAAAAAAA0001"})
    assert result["duplicate_risk"] == ["AAAAAAAA0001", "AAAAAAAA0002"] and not result["ok"]
    assert result["lost"] == [] and result["moved_aside"] == 2
    assert _service.account(before, set(), aside, {}, set())["ok"]


def test_pid_alive_reads_state(tmp_path):
    for pid, state in ((10, "S"), (11, "Z"), (12, "T")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (sendmail-mta) {state} 1 10 10 0 -1\n")
    assert _service.pid_alive(10, str(tmp_path))
    assert not _service.pid_alive(11, str(tmp_path))
    assert _service.pid_alive(12, str(tmp_path))
    assert not _service.pid_alive(13, str(tmp_path))


def test_force_never_signals_a_pid_that_is_no_longer_the_listener():
    """#13 item 3: the listener's PID, read before the stop, is checked right before TERM and KILL."""
    clock, runner = FakeClock(), FakeRunner()
    sent = []
    checks = []

    def verify(pid):
        checks.append(pid)
        return f"pid {pid} is no longer the process seen before (it exited and the PID was reused)"

    hooks = _service.Hooks(lambda pid: True, lambda p, s: sent.append(s), clock.clock, clock.sleep, verify)
    step = _service.stop(runner, _service.ServiceCall(STOP, 5, force=True), RUNNING, hooks)
    assert sent == [] and checks == [71]
    assert not step.ok and "was not signalled: pid 71 is no longer the process" in step.failure
    assert "did not send SIGTERM to 71" in step.observations[-1]
