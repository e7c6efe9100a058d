"""#13: hostile arguments through the modules' main(), every side effect replaced by a recorder.

Nothing here may signal, dump or change anything on the machine running the tests: os.kill,
resource.prlimit and the command runner are recorders, and every path is under tmp_path."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsiface.sendmail.plugins.module_utils import _collect, _runner
from ansible_collections.opsiface.sendmail.plugins.module_utils._runner import CmdResult
from ansible_collections.opsiface.sendmail.plugins.modules import sendmail_crash

KILL_OWN_CHILD = os.kill  # the recorders replace os.kill; the tests' own child is ended with the real one


def run(module, args: dict, capsys) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


class RecordingRunner:
    """Says every tool is there and every command succeeded with no output; runs nothing."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def run(self, argv, stdin=None, timeout=30.0):
        self.calls.append(list(argv))
        return CmdResult(tuple(argv), 0, b"", b"")

    def which(self, name):
        return f"/usr/bin/{os.path.basename(name)}"


@pytest.fixture
def recorders(monkeypatch):
    """os.kill, os.killpg, resource.prlimit and the runner, recorded; prlimit reads as soft 0, hard unlimited."""
    seen = {"kill": [], "prlimit_set": [], "runner": RecordingRunner()}
    monkeypatch.setattr(os, "kill", lambda *a: seen["kill"].append(a))
    monkeypatch.setattr(os, "killpg", lambda *a: seen["kill"].append(("pg", *a)))

    def prlimit(pid, res, limits=None):
        if limits is not None:
            seen["prlimit_set"].append((pid, res, limits))
        return (0, -1)

    monkeypatch.setattr(sendmail_crash.resource, "prlimit", prlimit)
    monkeypatch.setattr(_runner, "SubprocessRunner", lambda *a, **k: seen["runner"])
    return seen


@pytest.fixture
def host(tmp_path):
    cf = tmp_path / "sendmail.cf"
    cf.write_text(f"O QueueDirectory={tmp_path}/mqueue\nO PidFile={tmp_path}/sendmail.pid\n")
    (tmp_path / "mqueue").mkdir()
    return {"config_path": str(cf), "submit_config_path": str(tmp_path / "none.cf"), "dir": str(tmp_path / "crash")}


@pytest.mark.parametrize("who", ["init", "self", "parent"])
@pytest.mark.parametrize("mode", ["abort", "gcore"])
def test_crash_refuses_a_pid_that_is_not_sendmail(recorders, host, capsys, tmp_path, who, mode):
    """sendmail_crash pid=1 mode=abort sent SIGABRT to the container's init; mode=gcore pid=1 dumped it."""
    pid = {"init": 1, "self": os.getpid(), "parent": os.getppid()}[who]
    args = dict(host, mode=mode, confirm_abort=True, pid=pid, timeout=1)
    r = run(sendmail_crash, args, capsys)
    assert r["failed"] and f"refusing to capture pid {pid}" in r["msg"], r
    assert recorders["kill"] == [] and recorders["prlimit_set"] == []
    assert not any("gcore" in c[0] for c in recorders["runner"].calls)
    assert not (tmp_path / "crash").exists()


@pytest.fixture
def fake_listener(monkeypatch):
    """A real child process (sleep) that the module is told is the sendmail listener."""
    child = subprocess.Popen(["sleep", "30"])
    real = getattr(_collect, "verify_sendmail", None)

    def verify(pid, runner, before=None, proc_root="/proc"):
        if pid == child.pid:
            return {"pid": pid, "start": 1}, None
        return real(pid, runner, before, proc_root)

    monkeypatch.setattr(_collect, "verify_sendmail", verify, raising=False)
    yield child.pid
    KILL_OWN_CHILD(child.pid, signal.SIGKILL)
    child.wait()


def test_a_refused_abort_changes_nothing(recorders, host, capsys, fake_listener):
    """A refused mode=abort (no confirm_abort) left the listener's core size limit raised to unlimited."""
    r = run(sendmail_crash, dict(host, mode="abort", pid=fake_listener, timeout=1), capsys)
    assert r["failed"] and "confirm_abort" in r["msg"]
    assert r["guards"]["core"]["value"]["core_limit"] == 0  # read, not raised
    assert recorders["prlimit_set"] == [] and recorders["kill"] == []


def test_a_pid_reused_between_the_guards_and_the_signal_is_not_signalled(
    recorders, host, capsys, fake_listener, monkeypatch
):
    real = _collect.verify_sendmail

    def reused(pid, runner, before=None, proc_root="/proc"):
        ident, problem = real(pid, runner, None, proc_root)
        if before is not None:  # the re-check right before acting: another process has the PID now
            return ident, f"pid {pid} is no longer the process seen before (it exited and the PID was reused)"
        return ident, problem

    monkeypatch.setattr(_collect, "verify_sendmail", reused)
    r = run(sendmail_crash, dict(host, mode="abort", confirm_abort=True, pid=fake_listener, timeout=1), capsys)
    assert r["failed"] and "was not signalled" in r["msg"], r
    assert recorders["kill"] == [] and recorders["prlimit_set"] == []
    assert signal.SIGABRT not in [a[1] for a in recorders["kill"] if len(a) > 1]
