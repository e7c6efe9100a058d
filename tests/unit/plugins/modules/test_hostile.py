"""#13: hostile arguments through the modules' main(), every side effect replaced by a recorder.

Nothing here may signal, dump or change anything on the machine running the tests: os.kill,
resource.prlimit and the command runner are recorders, and every path is under tmp_path."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsiface.sendmail.plugins.module_utils import _runner, _target
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

    monkeypatch.setattr(resource, "prlimit", prlimit)
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
    real = _target.verify_sendmail

    def verify(pid, runner, before=None, proc_root="/proc"):
        if pid == child.pid:
            return {"pid": pid, "start": 1}, None
        return real(pid, runner, before, proc_root)

    monkeypatch.setattr(_target, "verify_sendmail", verify)
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
    real = _target.verify_sendmail

    def reused(pid, runner, before=None, proc_root="/proc"):
        ident, problem = real(pid, runner, None, proc_root)
        if before is not None:  # the re-check right before acting: another process has the PID now
            return ident, f"pid {pid} is no longer the process seen before (it exited and the PID was reused)"
        return ident, problem

    monkeypatch.setattr(_target, "verify_sendmail", reused)
    r = run(sendmail_crash, dict(host, mode="abort", confirm_abort=True, pid=fake_listener, timeout=1), capsys)
    assert r["failed"] and "was not signalled" in r["msg"], r
    assert recorders["kill"] == [] and recorders["prlimit_set"] == []
    assert signal.SIGABRT not in [a[1] for a in recorders["kill"] if len(a) > 1]


# #13 item 7: every argument is validated, with a clear message, before anything is done
from ansible_collections.opsiface.sendmail.plugins.modules import (  # noqa: E402
    sendmail_queue,
    sendmail_service,
    sendmail_status,
    sendmail_trace,
    smtp_probe,
)

NAN = float("nan")
INF = float("inf")
HOSTILE_ARGS = [
    (sendmail_queue, {"operation": "hold", "queue": "mta", "older_than": -1}, "older_than=-1"),
    (sendmail_queue, {"operation": "list", "older_than": 0}, "older_than=0"),
    (
        sendmail_queue,
        {"operation": "hold", "queue": "mta", "queue_ids": ["6ARAuis9000145"], "reason": "x" * 300000},
        "reason is 300000 characters long",
    ),
    (sendmail_queue, {"operation": "list", "limit": 0}, "limit=0"),
    (
        sendmail_queue,
        {"operation": "delete", "queue": "mta", "queue_ids": ["6ARAuis9000145"], "trash_dir": "trash"},
        "trash_dir='trash' is not an absolute path",
    ),
    (sendmail_queue, {"cache_dir": "/var/cache/x\0y"}, "cache_dir="),
    (sendmail_queue, {"command_timeout": NAN}, "command_timeout=nan is not a finite number"),
    (sendmail_queue, {"command_timeout": 1e300}, "command_timeout=1e+300 is outside (0, 3600]"),
    (sendmail_queue, {"warn_count": 10, "crit_count": 5}, "warn_count=10 is above crit_count=5"),
    (sendmail_queue, {"operation": "account", "expected_ids": {"mta": [], "../x": []}, "since": 1}, "expected_ids has"),
    (sendmail_queue, {"operation": "account", "expected_ids": {"mta": ["../../etc"]}, "since": 1}, "not a queue ID"),
    (sendmail_queue, {"operation": "account", "expected_ids": {"mta": []}, "since": INF}, "since=inf"),
    (sendmail_queue, {"recipient_domain": "a b\r\n"}, "recipient_domain must not contain CR"),
    (smtp_probe, {"port": 0}, "port=0 is not a TCP port"),
    (smtp_probe, {"port": 65536}, "port=65536 is not a TCP port"),
    (smtp_probe, {"port": -1}, "port=-1 is not a TCP port"),
    (smtp_probe, {"host": "mx01\r\nQUIT"}, "host must not contain CR"),
    (smtp_probe, {"host": "mx 01"}, "host='mx 01' is not a host name"),
    (smtp_probe, {"host": "mx\u000001"}, "host must not contain"),
    (smtp_probe, {"host": "-oProxyCommand=x"}, "is not a host name"),
    (smtp_probe, {"banner_timeout": 1e300}, "banner_timeout=1e+300"),
    (smtp_probe, {"connect_timeout": NAN}, "connect_timeout=nan"),
    (smtp_probe, {"command_timeout": -1}, "command_timeout=-1"),
    (smtp_probe, {"verify_timeout": 0}, "verify_timeout=0"),
    (smtp_probe, {"mailbox": "root"}, "mailbox='root' is not an absolute path"),
    (sendmail_status, {"since_minutes": 0}, "since_minutes=0"),
    (sendmail_status, {"syslog_max_bytes": -1}, "syslog_max_bytes=-1"),
    (sendmail_status, {"ports": [25, 0]}, "ports=0 is not a TCP port"),
    (sendmail_status, {"smtp_port": 70000}, "smtp_port=70000"),
    (sendmail_status, {"smtp_host": "a\nb"}, "smtp_host must not contain"),
    (sendmail_status, {"smtp_timeout": INF}, "smtp_timeout=inf"),
    (sendmail_status, {"max_lines": -1}, "max_lines=-1"),
    (sendmail_status, {"log_paths": ["mail.log"]}, "log_paths='mail.log' is not an absolute path"),
    (sendmail_status, {"syslog_warn_errors": 5, "syslog_crit_errors": 1}, "syslog_warn_errors=5 is above"),
    (sendmail_service, {"state": "stopped", "timeout": NAN}, "timeout=nan"),
    (sendmail_service, {"state": "stopped", "stop_command": []}, "stop_command is an empty command"),
    (sendmail_service, {"state": "started", "start_command": ["-x"]}, "starts with '-'"),
    (sendmail_service, {"state": "started", "expected_ppids": [0]}, "expected_ppids=0"),
    (sendmail_crash, {"keep": 0}, "keep=0"),
    (sendmail_crash, {"keep": -5}, "keep=-5"),
    (sendmail_crash, {"space_margin": 0}, "space_margin=0.0 is outside (0, 100]"),
    (sendmail_crash, {"space_margin": NAN}, "space_margin=nan"),
    (sendmail_crash, {"timeout": INF}, "timeout=inf"),
    (sendmail_crash, {"pid": -1}, "pid=-1"),
    (sendmail_crash, {"dir": "crash"}, "dir='crash' is not an absolute path"),
    (sendmail_trace, {"syscalls": True, "seconds": NAN}, "seconds=nan"),
    (sendmail_trace, {"syscalls": True, "max_bytes": 10}, "max_bytes=10"),
    (sendmail_trace, {"syscalls": True, "pid": 0}, "pid=0"),
    (sendmail_trace, {"queue_ids": ["6ARAuis9000145/../x"]}, "not a queue ID"),
    (sendmail_trace, {"addresses": ["-bi"]}, "would be read as an option"),
    # fleet_report is an action plugin: its hostile arguments are in test_fleet_report.py
]


@pytest.fixture
def no_side_effects(recorders, monkeypatch, tmp_path):
    """Recorders for everything a module could do besides the runner and signals: sockets and file changes."""
    done = []
    monkeypatch.chdir(tmp_path)

    def refuse(name):
        def record(*args, **kwargs):
            done.append((name, args))
            raise AssertionError(f"{name} called by a refused module call")

        return record

    import socket

    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    for name in ("mkdir", "makedirs", "chmod", "chown", "rename", "replace", "unlink", "symlink", "link"):
        monkeypatch.setattr(os, name, refuse(name))
    return dict(recorders, done=done)


@pytest.mark.parametrize(
    ("module", "args", "msg"),
    HOSTILE_ARGS,
    ids=[f"{m.__name__.rsplit('.', 1)[-1]}-{i}" for i, (m, _a, _m) in enumerate(HOSTILE_ARGS)],
)
def test_hostile_arguments_are_refused_before_anything_is_done(no_side_effects, capsys, module, args, msg):
    r = run(module, args, capsys)
    # a NUL makes AnsibleModule itself refuse (it cannot log the invocation) on some Pythons (3.12+)
    # before our check sees it: refused all the same, and nothing done
    nul = any("\0" in str(v) for v in args.values()) and "embedded null character" in r.get("msg", "")
    assert r.get("failed") and (msg in r["msg"] or nul), r
    assert "Traceback" not in r["msg"]
    assert no_side_effects["runner"].calls == [] and no_side_effects["kill"] == [] and no_side_effects["done"] == []


# #13 item 9: a call that changes the host waits for, or refuses beside, another operation on it
def test_delete_refuses_while_a_restart_holds_the_host(tmp_path, capsys, private_lock_dir):
    from pathlib import Path

    from ansible_collections.opsiface.sendmail.plugins.module_utils import _oplock

    fixtures = Path(__file__).resolve().parents[2] / "fixtures"
    q = tmp_path / "mqueue"
    q.mkdir()
    (q / "qf6ARAuis9000145").write_bytes((fixtures / "queue/debian12-8.17.1.9-qf-deferred-relay.bin").read_bytes())
    (q / "df6ARAuis9000145").write_bytes(b"body\n")
    cf = tmp_path / "sendmail.cf"
    cf.write_text(f"O QueueDirectory={q}\n")
    restart = _oplock.OpLock()
    restart.acquire(_oplock.Request("restart", owner="run-A", wait=0))
    restart.release(keep=True)
    args = {
        "operation": "delete",
        "queue": "mta",
        "queue_ids": ["6ARAuis9000145"],
        "config_path": str(cf),
        "submit_config_path": str(tmp_path / "none.cf"),
        "trash_dir": str(tmp_path / "trash"),
        "lock_wait": 0.2,
    }
    r = run(sendmail_queue, args, capsys)
    assert r["failed"] and "another operation (restart, run run-A" in r["msg"] and "nothing was done" in r["msg"]
    assert (q / "qf6ARAuis9000145").exists() and not (tmp_path / "trash").exists()
    r = run(sendmail_queue, dict(args, lock_owner="run-A"), capsys)  # a step of that restart
    assert not r.get("failed") and r["deleted"]["deleted"] == ["6ARAuis9000145"], r
    assert _oplock.read_lease(str(private_lock_dir))["owner"] == "run-A"  # kept for the run's next step
