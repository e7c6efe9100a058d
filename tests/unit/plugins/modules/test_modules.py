"""The modules' own code paths through ansible-core's patch_module_args harness (no lab needed)."""

from __future__ import annotations

import json
import platform
import shutil
import sys
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsiface.sendmail.plugins.module_utils import _queueops
from ansible_collections.opsiface.sendmail.plugins.modules import sendmail_queue, sendmail_status, smtp_probe

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def run(module, args: dict, capsys) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def queue_host(tmp_path):
    """A cf whose QueueDirectory holds two captured Debian 12 messages."""
    q = tmp_path / "mqueue"
    q.mkdir()
    shutil.copy(FIXTURES / "queue/debian12-8.17.1.9-qf-deferred-relay.bin", q / "qf6ARAuis9000145")
    (q / "df6ARAuis9000145").write_bytes(b"body\n")
    shutil.copy(FIXTURES / "queue/debian12-8.17.1.9-hf-quarantined.bin", q / "hf6ARAuis8000145")
    (q / "df6ARAuis8000145").write_bytes(b"body\n")
    cf = tmp_path / "sendmail.cf"
    cf.write_text(f"O QueueDirectory={q}\nO PidFile={tmp_path}/sendmail.pid\n")
    return {
        "config_path": str(cf),
        "submit_config_path": str(tmp_path / "absent-submit.cf"),
        "sendmail_path": "/nonexistent/sendmail",
        "queue": "mta",
    }


def test_queue_summary(queue_host, capsys):
    out = run(sendmail_queue, queue_host, capsys)
    mta = out["queues"]["mta"]
    assert out["changed"] is False and mta["count"] == 1 and mta["quarantined"] == 1
    assert mta["by_domain"] == {"b.example": 1}


@pytest.mark.parametrize(
    "args,msg",
    [
        ({"operation": "flush", "queue": "both"}, "acts on one queue"),
        ({"operation": "list", "queue_ids": ["../../etc/passwd"]}, "not a queue ID"),
        ({"operation": "hold", "queue": "mta"}, "needs a selection"),
        ({"operation": "delete", "queue": "mta", "recipient_domain": "b.example"}, "explicit queue_ids"),
        ({"operation": "hold", "queue": "mta", "queue_ids": ["6ARAuis9000145"], "reason": "x\r\ny"}, "CR, LF"),
    ],
    ids=["both-queues", "path-in-id", "hold-everything", "delete-by-filter", "reason-injection"],
)
def test_queue_refusals(queue_host, capsys, args, msg):
    out = run(sendmail_queue, dict(queue_host, **args), capsys)
    assert out["failed"] and msg in out["msg"]


def test_queue_move_aside_check_mode_plans_only(queue_host, capsys, tmp_path, monkeypatch):
    # This machine's /proc may show the lab's daemons; the unit under test is the module's plan.
    monkeypatch.setattr(
        sendmail_queue._queuetasks._collect, "collect_daemon", lambda *a, **k: {"running": False, "state": "absent"}
    )
    monkeypatch.setattr(_queueops, "queue_processes", lambda *a, **k: [])
    out = run(sendmail_queue, dict(queue_host, operation="move_aside", _ansible_check_mode=True), capsys)
    planned = out["moved"]["directories"][0]
    assert out["changed"] and planned["moved_to"].startswith(str(tmp_path / "mqueue.aside-"))
    assert sorted(planned["moved"]) == ["6ARAuis8000145", "6ARAuis9000145"] and out["moved"]["aside_dirs"] == []
    assert (tmp_path / "mqueue" / "qf6ARAuis9000145").exists() and not planned["created"]
    assert "check mode: nothing moved" in out["actions"][0]


def test_queue_move_aside_takes_every_queue_directory_out_of_service(tmp_path, capsys, monkeypatch):
    """QueueDirectory=.../q*: every qN moves, and no aside name is one sendmail would serve (issue #13 item 2)."""
    monkeypatch.setattr(
        sendmail_queue._queuetasks._collect, "collect_daemon", lambda *a, **k: {"running": False, "state": "absent"}
    )
    monkeypatch.setattr(_queueops, "queue_processes", lambda *a, **k: [])
    base = tmp_path / "mqueue"
    for n in (1, 2, 3):
        (base / f"q{n}").mkdir(parents=True)
        shutil.copy(FIXTURES / "queue/debian12-8.17.1.9-qf-deferred-relay.bin", base / f"q{n}" / f"qf6ARAuis900014{n}")
        (base / f"q{n}" / f"df6ARAuis900014{n}").write_bytes(b"body\n")
    cf = tmp_path / "sendmail.cf"
    cf.write_text(f"O QueueDirectory={base}/q*\nO PidFile={tmp_path}/sendmail.pid\n")
    args = {"config_path": str(cf), "submit_config_path": str(tmp_path / "absent.cf"), "queue": "mta"}
    out = run(sendmail_queue, dict(args, operation="move_aside", sendmail_path="/nonexistent/sendmail"), capsys)
    assert out["changed"] and out["moved"]["messages_moved"] == 3
    assert [d["queue_dir"] for d in out["moved"]["directories"]] == [str(base / f"q{n}") for n in (1, 2, 3)]
    assert len(out["moved"]["aside_dirs"]) == 3 and len(out["actions"]) == 3
    # what sendmail would serve now: q1..q3, empty
    served = sorted(n for n in base.iterdir() if n.name.startswith("q"))
    assert [p.name for p in served] == ["q1", "q2", "q3"]
    assert all(not [f for f in p.iterdir() if f.name.startswith(("qf", "df"))] for p in served)


def test_status_syslog_area_over_rhel_capture(tmp_path, capsys):
    log = tmp_path / "maillog"
    log.write_bytes((FIXTURES / "rhel9-8.16-maillog.txt").read_bytes())
    out = run(
        sendmail_status,
        {
            "areas": ["syslog"],
            "log_paths": [str(log)],
            "since_minutes": 60 * 24 * 366 * 2,
            "config_path": str(tmp_path / "none.cf"),
        },
        capsys,
    )
    assert out["changed"] is False and out["syslog"]["syserr"] == 1
    assert out["checks"]["syslog"]["status"] == "warning"
    # the interpreter that ran the module, as it reports itself (the target-Python matrix runs this on each)
    assert out["python"] == {"version": platform.python_version(), "executable": sys.executable}


@pytest.mark.parametrize(
    "args,msg",
    [
        (
            {"send": True, "rcpt_to": "x@elsewhere.example", "expect_hostname": "mx01.lab.test"},
            "allow_remote_recipient",
        ),
        ({"helo": "a\r\nMAIL FROM:<x>"}, "must not contain CR"),
        ({"verify_mailbox": True}, "needs send=true"),
    ],
    ids=["relay-refused", "helo-injection", "verify-without-send"],
)
def test_probe_refusals(capsys, args, msg):
    out = run(smtp_probe, dict(args, port=1, sendmail_path="/nonexistent/sendmail"), capsys)
    assert out["failed"] and msg in out["msg"]


def test_probe_check_mode_sends_nothing(capsys):
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    seen = []

    def serve():
        conn, _unused = srv.accept()
        with conn:
            conn.sendall(b"220 mx01.lab.test ESMTP Sendmail 8.17.1.9/8.17.1.9/Debian-2+deb12u2\r\n")
            f = conn.makefile("rb")
            for line in f:
                seen.append(line.strip())
                if line.startswith(b"EHLO"):
                    conn.sendall(b"250-mx01.lab.test Hello\r\n250 HELP\r\n")
                elif line.startswith(b"QUIT"):
                    conn.sendall(b"221 2.0.0 mx01.lab.test closing connection\r\n")
                    return

    threading.Thread(target=serve, daemon=True).start()
    out = run(
        smtp_probe,
        {"port": srv.getsockname()[1], "send": True, "expect_hostname": "mx01.lab.test", "_ansible_check_mode": True},
        capsys,
    )
    srv.close()
    assert out["success"] and out["changed"] is False and out["would_send"]["rcpt_to"] == "root"
    assert [s.split()[0] for s in seen] == [b"EHLO", b"QUIT"]


class SolarisRunner:
    """The proc tools of a Solaris 10 host, answering with output written from their manual pages."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.calls: list[list[str]] = []

    def which(self, name):
        return name

    def run(self, argv, stdin=None, timeout=30.0):
        from ansible_collections.opsiface.sendmail.plugins.module_utils._runner import CmdResult

        self.calls.append(list(argv))
        tool = argv[0].rsplit("/", 1)[-1]
        out = b""
        if tool == "ps" and (argv[1] == "-eo" or argv[2].startswith("pid,ppid")):
            out = f"  PID  PPID S     ELAPSED COMMAND\n{self.pid:5d}     1 S    01:02:03 /usr/lib/sendmail -bd -q15m\n".encode()
        elif tool == "ps":
            out = b"  4312\n"
        elif tool == "pargs":
            out = (FIXTURES / "solaris10-pargs-a-sendmail-written-from-pargs.1.txt").read_bytes()
        elif tool == "gcore":
            Path(f"{argv[2]}.{argv[3]}").write_bytes(b"\x7fELF" + b"\0" * 4096)
            out = f"gcore: {argv[2]}.{argv[3]} dumped\n".encode()
        elif tool == "mdb":
            assert stdin == b"$C\n::quit\n"
            out = (FIXTURES / "solaris10-mdb-C-sendmail-written-from-mdb.1.txt").read_bytes()
        elif tool == "sendmail":
            out = (FIXTURES / "debian12-8.17.1.9-d0.1-bt.txt").read_bytes()
        return CmdResult(tuple(argv), 0, out, b"")


def test_crash_capture_on_solaris_uses_the_proc_tools(tmp_path, capsys, monkeypatch):
    import os
    import platform

    from ansible_collections.opsiface.sendmail.plugins.module_utils import _runner, _service
    from ansible_collections.opsiface.sendmail.plugins.modules import sendmail_crash

    pid = 4_000_000 + os.getpid()  # the Solaris listener: beyond Linux's pid_max, so no process of this machine
    runner = SolarisRunner(pid)
    monkeypatch.setattr(_service, "pid_alive", lambda p, *a: p == pid)
    monkeypatch.setattr(platform, "system", lambda: "SunOS")
    monkeypatch.setattr(_runner, "SubprocessRunner", lambda *a, **k: runner)
    cf = tmp_path / "sendmail.cf"
    cf.write_text(f"O QueueDirectory={tmp_path}/mqueue\nO PidFile={tmp_path}/sendmail.pid\n")
    (tmp_path / "mqueue").mkdir()
    crash_dir = tmp_path / "crash"
    r = run(
        sendmail_crash, {"dir": str(crash_dir), "config_path": str(cf), "sendmail_path": "/usr/lib/sendmail"}, capsys
    )
    assert r["changed"] and not r.get("failed"), r
    assert ["/usr/bin/gcore", "-o", f"{r['bundle']}/core", str(pid)] in runner.calls
    assert r["backtrace"]["top"] == "__pollsys" and r["backtrace"]["frames"] == 6
    names = sorted(f["path"].rsplit("/", 1)[1] for f in r["files"])
    assert names == ["backtrace.txt", f"core.{pid}", "metadata.json"]
    assert {f["mode"] for f in r["files"]} == {"0600"}
    meta = json.loads((Path(r["bundle"]) / "metadata.json").read_text())
    assert meta["cmdline"] == "/usr/lib/sendmail -bd -q15m" and meta["binary"] == "/usr/lib/sendmail"
    abort = run(
        sendmail_crash, {"dir": str(crash_dir), "mode": "abort", "confirm_abort": True, "config_path": str(cf)}, capsys
    )
    assert abort["failed"] and "coreadm" in abort["msg"]


class SmtpServer:
    """A one-connection SMTP server on 127.0.0.1 that accepts a message (what a real daemon says), and records
    the commands it was sent."""

    def __init__(self, hostname: str) -> None:
        import socket
        import threading

        self.hostname, self.seen = hostname, []
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(1)
        self.srv.settimeout(20)
        self.port = self.srv.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        try:
            conn, _unused = self.srv.accept()
        except OSError:
            return
        with conn:
            conn.sendall(f"220 {self.hostname} ESMTP Sendmail 8.17.1.9/8.17.1.9/Debian-2+deb12u2\r\n".encode())
            data = False
            for line in conn.makefile("rb"):
                if data:
                    if line.rstrip(b"\r\n") == b".":
                        data = False
                        conn.sendall(b"250 2.0.0 6B1Fq6ri000105 Message accepted for delivery\r\n")
                    continue
                self.seen.append(line.split()[0].upper() if line.split() else b"")
                if line.startswith(b"EHLO"):
                    conn.sendall(f"250-{self.hostname} Hello\r\n250 HELP\r\n".encode())
                elif line.startswith(b"DATA"):
                    data = True
                    conn.sendall(b'354 Enter mail, end with "." on a line by itself\r\n')
                elif line.startswith(b"QUIT"):
                    conn.sendall(b"221 2.0.0 closing connection\r\n")
                    return
                else:
                    conn.sendall(b"250 2.1.0 ok\r\n")

    def close(self) -> None:
        self.srv.close()


def unusable_mailbox(tmp_path: Path, kind: str) -> Path:
    import os

    box = tmp_path / "mbox"
    if kind == "directory":
        box.mkdir()
    elif kind == "fifo":
        os.mkfifo(box)
    else:  # a symlink to a real mailbox: never followed, so never watched nor cleaned
        (tmp_path / "real").write_bytes(b"")
        box.symlink_to(tmp_path / "real")
    return box


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink"])
@pytest.mark.parametrize("module", ["smtp_probe", "sendmail_status"])
def test_delivery_check_sends_nothing_to_a_mailbox_it_could_not_watch_or_clean(tmp_path, capsys, kind, module):
    """A mailbox the check cannot read and rewrite (a directory, a FIFO, a symlink; as a user other than root,
    root's 0600 mbox) would leave the test message there, in the real mailbox, on every run, and call that
    mail "not delivered" (critical): the check refuses before sending, and says why (unknown: not done)."""
    import socket

    box = unusable_mailbox(tmp_path, kind)
    server = SmtpServer(socket.getfqdn())
    common = {"sendmail_path": "/nonexistent/sendmail", "config_path": str(tmp_path / "absent.cf")}
    try:
        if module == "smtp_probe":
            args = dict(common, port=server.port, send=True, verify_mailbox=True, mailbox=str(box), verify_timeout=1)
            out = run(smtp_probe, args, capsys)
            assert out["failed"] and str(box) in out["msg"] and "no test message" in out["msg"], out
        else:
            args = dict(
                common,
                areas=["delivery"],
                smtp_host="127.0.0.1",
                smtp_port=server.port,
                delivery_mailbox=str(box),
                delivery_timeout=1,
            )
            out = run(sendmail_status, args, capsys)
            check = out["checks"]["delivery"]
            assert check["status"] == "unknown" and str(box) in check["reason"], check
            assert out["changed"] is False and out["delivery"].get("queue_id") is None, out["delivery"]
    finally:
        server.close()
    assert b"MAIL" not in server.seen and b"DATA" not in server.seen, server.seen


def test_delivery_result_names_its_recipient(tmp_path, capsys):
    """The report said "sent test message ... to root" whatever delivery_rcpt was: the result names it."""
    import socket

    (tmp_path / "mqueue").mkdir()
    (tmp_path / "sendmail.cf").write_text(f"O QueueDirectory={tmp_path}/mqueue\n")
    server = SmtpServer(socket.getfqdn())
    args = {
        "areas": ["delivery"],
        "sendmail_path": "/nonexistent/sendmail",
        "config_path": str(tmp_path / "sendmail.cf"),
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
        "delivery_rcpt": "postmaster",
        "delivery_mailbox": str(tmp_path / "postmaster"),
        "delivery_timeout": 0.5,
    }
    try:
        out = run(sendmail_status, args, capsys)
    finally:
        server.close()
    assert out["delivery"]["queue_id"] == "6B1Fq6ri000105" and out["changed"] is True, out["delivery"]
    assert out["delivery"]["rcpt_to"] == "postmaster"
    assert out["checks"]["delivery"]["status"] == "critical"  # accepted, in neither the mailbox nor the queue


def test_delivery_area_refuses_a_recipient_off_the_host_with_advice_it_can_take(tmp_path, capsys):
    """sendmail_status has no allow_remote_recipient: its refusal said to set it (an unsupported parameter)."""
    args = {
        "areas": ["delivery"],
        "sendmail_path": "/nonexistent/sendmail",
        "config_path": str(tmp_path / "absent.cf"),
        "smtp_port": 2,
        "delivery_rcpt": "x@elsewhere.example",
    }
    check = run(sendmail_status, args, capsys)["checks"]["delivery"]
    assert check["status"] == "unknown" and "is not on the probed host" in check["reason"], check
    assert "allow_remote_recipient" not in check["reason"] and "only to a recipient on this host" in check["reason"]
