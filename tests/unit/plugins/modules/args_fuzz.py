"""Fuzzing every module's ARGUMENTS through its main(), with every side effect replaced by a recorder.

Shared by test_args_fuzz.py (a few thousand inputs in `make unit`) and bench/fuzz.py (--args, 100,000).

Each input is one module call: options drawn from the module's own argument spec (hostile strings,
edge numbers, NaN and infinities, wrong types, system paths and paths into a per-input sandbox),
run through main() under ansible-core's patch_module_args. While it runs:

- the command runner, subprocess.Popen, os.kill/os.killpg and resource.prlimit are recorders: no
  command runs and no process of this machine is signalled or changed;
- sockets, name resolution and connect are fakes (a refused port, a timeout, or a scripted SMTP peer);
- every call that writes, creates, removes, renames or chmods a file (os.open for writing, open() in
  a writing mode, mkdir, unlink, rmdir, rename, replace, symlink, link, chmod, chown, truncate, utime)
  is allowed only inside the input's sandbox directory and denied (EACCES) anywhere else;
- the process table the modules see is a fake one (a sendmail listener, init, rsyslogd), time.sleep
  and time.monotonic are a fake clock, and the module's syslog logging is off.

A crash is any exception escaping main() (a traceback), or an exit without exactly one JSON result.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import json
import math
import os
import random
import resource
import shutil
import socket
import subprocess
import time
import traceback
from pathlib import Path
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsiface.sendmail.plugins.module_utils import (
    _collect,
    _process,
    _report,
    _runner,
    _service,
    _target,
)
from ansible_collections.opsiface.sendmail.plugins.modules import (
    sendmail_crash,
    sendmail_lock,
    sendmail_queue,
    sendmail_service,
    sendmail_status,
    sendmail_trace,
    smtp_probe,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


class _FleetReportAction:
    """fleet_report is an action plugin, with no module main(): this drives its whole work (the argument
    spec, then plugin_utils/_fleet_report.run) the way the harness drives a module. Controller only."""

    AnsibleModule = basic.AnsibleModule
    __name__ = "fleet_report"

    @classmethod
    def main(cls) -> None:
        from ansible_collections.opsiface.sendmail.plugins.plugin_utils import _fleet_report

        module = cls.AnsibleModule(argument_spec=_fleet_report.SPEC, supports_check_mode=True)
        result = _fleet_report.run(module.params)
        if result.pop("failed", False):
            module.fail_json(**result)
        module.exit_json(**result)


fleet_report = _FleetReportAction
MODULES = {
    "fleet_report": fleet_report,
    "sendmail_crash": sendmail_crash,
    "sendmail_lock": sendmail_lock,
    "sendmail_queue": sendmail_queue,
    "sendmail_service": sendmail_service,
    "sendmail_status": sendmail_status,
    "sendmail_trace": sendmail_trace,
    "smtp_probe": smtp_probe,
}
# runs on the controller (Python 3.11+ for ansible-core 2.19), never with a managed host's interpreter
CONTROLLER_ONLY = frozenset({"fleet_report"})
LISTENER = 4_194_301  # the fake listener's PID: above any PID this machine will have given out (pid_max 4194304)
QIDS = ["6ARAuis9000145", "6ARAuis8000145", "6ARAaaaa000001"]
STRINGS = [
    "",
    " ",
    "a",
    "-",
    "-bi",
    "--",
    "-oQ/tmp",
    "root",
    "root@localhost",
    "x@remote.example",
    "mx01.lab.test",
    "localhost",
    "127.0.0.1",
    "::1",
    "mx.nowhere.invalid",
    "a b",
    "a\r\nQUIT",
    "a\nb",
    "nul\0x",
    "\x1b[31m",
    "<img src=x onerror=alert(1)>",
    "a|b",
    "[x](javascript:1)",
    "../../etc/passwd",
    "{{ 7 * 7 }}",
    "%s%n%x",
    "\u202ertl",
    "\u00e9t\u00e9",
    "1e300",
    "nan",
    "-1",
    "0",
    "65536",
    "yes",
    "x" * 513,
    "y" * 70000,
    *QIDS,
    "6ARA/../x0001",
]
INTS = [0, 1, 2, -1, -(2**31), 2**31, 2**63, 10**30, 25, 65535, 65536, 100, 5000, LISTENER, 4194304]
FLOATS = [0.0, -0.0, 1e-9, 0.001, 0.5, 1.0, 2.0, 10.0, -1.0, 3600.0, 86401.0, 1e300, -1e300]
FLOATS += [math.nan, math.inf, -math.inf]
SYSTEM_PATHS = ["/", "/etc", "/proc", "/var", "/var/spool", "/var/spool/mqueue", "/dev/null", "/nonexistent/x"]
SYSTEM_PATHS += ["/tmp", "/etc/hostname", "relative/dir", "", "/x\0y", "/" + "a" * 5000, "~/x", "/run"]


# ----------------------------------------------------------------- argument specs
def argument_spec(module) -> dict:
    """The module's argument spec, as its main() passes it to AnsibleModule (captured, nothing run)."""

    class Captured(Exception):
        pass

    def capture(*_args, **kwargs):
        raise Captured(kwargs)

    with mock.patch.object(module, "AnsibleModule", capture), contextlib.suppress(Captured):
        try:
            module.main()
        except Captured as exc:
            return exc.args[0]["argument_spec"]
    raise AssertionError(f"{module.__name__}.main() did not build an AnsibleModule")


# ----------------------------------------------------------------- the sandbox
class Sandbox:
    """A directory per input with a sendmail.cf, submit.cf, two queues with real messages, a mail log,
    an mbox; every write of the module under test must stay in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        q, msp = root / "mqueue", root / "mqueue-client"
        for d in (q, msp, root / "etc"):
            d.mkdir(parents=True, mode=0o700)
        qf = (FIXTURES / "queue/debian12-8.17.1.9-qf-deferred-relay.bin").read_bytes()
        hf = (FIXTURES / "queue/debian12-8.17.1.9-hf-quarantined.bin").read_bytes()
        (q / f"qf{QIDS[0]}").write_bytes(qf)
        (q / f"df{QIDS[0]}").write_bytes(b"body\n")
        (q / f"hf{QIDS[1]}").write_bytes(hf)
        (q / f"df{QIDS[1]}").write_bytes(b"body\n")
        (msp / f"qf{QIDS[2]}").write_bytes((FIXTURES / "queue/debian12-8.17.1.9-qf-msp-refused.bin").read_bytes())
        self.cf = root / "etc" / "sendmail.cf"
        self.cf.write_text(f"O QueueDirectory={q}\nO PidFile={root}/sendmail.pid\nO DaemonPortOptions=Port=25\n")
        self.submit = root / "etc" / "submit.cf"
        self.submit.write_text(f"O QueueDirectory={msp}\n")
        (root / "sendmail.pid").write_text(f"{LISTENER}\n/usr/sbin/sendmail-mta -bd -q10m\n")
        self.log = root / "mail.log"
        shutil.copyfile(FIXTURES / "debian12-8.17.1.9-mail.log", self.log)
        sendmail = root / "sendmail"  # never run (the runner is a recorder); there for the pre-flight's checks
        sendmail.write_bytes(b"#!/bin/false\n")
        sendmail.chmod(0o755)
        self.mbox = root / "root.mbox"
        self.mbox.write_bytes(b"From root Fri Nov 27 10:00:00 2026\nSubject: hi\n\nbody\n")
        self.paths = [str(p) for p in (self.cf, self.submit, self.log, self.mbox, q, msp, root / "sendmail.pid")]
        self.paths += [str(root / n) for n in ("crash", "trace", "trash", "cache", "lock", "reports/run1", "new/a/b")]

    def inside(self, path: str) -> bool:
        root = str(self.root)
        return path == root or path.startswith(root + "/")


# ----------------------------------------------------------------- drawing arguments
def _value(rng: random.Random, name: str, spec: dict, sb: Sandbox):
    kind = spec.get("type", "str")
    if rng.random() < 0.05:  # the wrong type altogether: the argument spec must refuse it cleanly
        return rng.choice([{"a": 1}, [1, "x"], "abc", 3.5, True, None, "", -7])
    choices = spec.get("choices")
    if choices and rng.random() < 0.9:
        if kind == "list":
            return rng.sample(list(choices), rng.randint(0, len(choices)))
        return rng.choice(list(choices))
    if kind == "path":
        return rng.choice(sb.paths) if rng.random() < 0.75 else rng.choice(SYSTEM_PATHS)
    if kind == "int":
        return rng.choice(INTS) if rng.random() < 0.6 else rng.randint(-(10**6), 10**6)
    if kind == "float":
        return rng.choice(FLOATS) if rng.random() < 0.6 else round(rng.uniform(-5, 120), 3)
    if kind == "bool":
        return rng.choice([True, False, True, False, "yes", "no", "maybe"])
    if kind == "list":
        element = {"type": spec.get("elements", "str")}
        return [_value(rng, name, element, sb) for _n in range(rng.choice([0, 1, 1, 2, 3, 120]))]
    if kind == "dict":
        return _dict(rng, name, sb)
    if name in ("queue_ids", "owner", "lock_owner") and rng.random() < 0.5:
        return rng.choice([*QIDS, "run-1"])
    return rng.choice(STRINGS)


def _dict(rng: random.Random, name: str, sb: Sandbox, plausible: bool = False):
    if plausible and name == "hosts":
        return {"mx01": _report.unreachable_result("ssh: timed out"), "mx02": _report.host_result({"checks": {}})}
    if plausible and name == "expected_ids":
        return {"mta": QIDS[:2], "msp": [QIDS[2]]}
    if plausible and name == "controller":
        return {"host": "ctl.example", "pid": 4711, "start": 5}
    if plausible:
        return {"check_mode": False}
    if name == "hosts":
        hostile = rng.choice(STRINGS)
        results = {
            "mx01": _report.unreachable_result(hostile),
            rng.choice(STRINGS) or "mx02": _report.host_result({"checks": {}, "smtp": {"banner": hostile}}),
        }
        if rng.random() < 0.3:
            results["broken"] = rng.choice([{}, {"status": 1}, {"status": "ok", "reasons": "x"}, [], "x"])
        return results
    if name == "expected_ids":
        return {rng.choice(["mta", "msp", "x"]): rng.choice([QIDS[:2], [], ["../x"], "x", None, [1, 2]])}
    if name == "controller":
        return rng.choice([{"host": "ctl", "pid": 1, "start": 5}, {"x": 1}, {"pid": "a"}, {}])
    return {rng.choice(STRINGS): rng.choice([*STRINGS, 1, None, [1]]) for _n in range(rng.randint(0, 3))}


PLAUSIBLE_TEXT = {
    "host": ["127.0.0.1", "localhost", "mx01.lab.test", "::1"],
    "smtp_host": ["127.0.0.1", "localhost"],
    "helo": ["probe.example"],
    "mail_from": ["root", "root@localhost"],
    "rcpt_to": ["root", "root@localhost", "postmaster"],
    "delivery_rcpt": ["root", "root@localhost", "nobody@remote.example"],
    "subject": ["check"],
    "reason": ["held by the fuzzer"],
    "recipient_domain": ["b.example", "a.example"],
    "sender": ["root", "MAILER"],
    "owner": ["run-1", "run-2"],
    "lock_owner": ["run-1", "run-2"],
    "break_owner": ["run-2"],
    "operation": ["restart", "maintenance"],
    "run_id": ["20261201T000000Z-1a2b"],
    "started": ["2026-12-01T00:00:00Z"],
    "expect_hostname": ["mx01.lab.test"],
    "queue_ids": QIDS,
    "addresses": ["root", "postmaster", "nobody@remote.example"],
    "all_hosts": ["mx01", "mx02"],
    "stop_command": ["/etc/init.d/sendmail", "stop"],
    "start_command": ["/etc/init.d/sendmail", "start"],
}
PLAUSIBLE_NUMBERS = {
    "port": (1, 65535),
    "smtp_port": (1, 65535),
    "ports": (1, 65535),
    "pid": (1, LISTENER),
    "keep": (1, 10),
    "limit": (1, 1000),
    "older_than": (1, 10**6),
    "since_minutes": (1, 10**4),
    "syslog_max_bytes": (4096, 10**9),
    "max_lines": (0, 50),
    "max_bytes": (1024, 10**7),
    "max_zombie_children": (0, 10),
    "expected_ppids": (1, 4),
    "seconds": (1, 5),
    "space_margin": (0.5, 3),
    "lock_wait": (0, 1),
    "lock_grace": (1, 600),
    "grace": (1, 600),
    "wait": (0, 1),
    "since": (1.7e9, 1.8e9),
    "smtp_warn_banner_ms": (10, 5000),
    "delivery_timeout": (1, 5),
}
SANDBOXED = {
    "config_path": "cf",
    "submit_config_path": "submit",
    "pidfile": "sendmail.pid",
    "log_paths": "log",
    "mailbox": "mbox",
    "delivery_mailbox": "mbox",
    "dir": "crash",
    "trash_dir": "trash",
    "cache_dir": "cache",
    "queue_cache_dir": "cache",
    "lock_dir": "lock",
    "report_dir": "reports/run1",
    "aside_dirs": "mqueue.aside",
    "sendmail_path": "sendmail",
}


def _sandbox_path(name: str, sb: Sandbox) -> str:
    where = SANDBOXED.get(name, "new/a/b")
    named = {"cf": sb.cf, "submit": sb.submit, "log": sb.log, "mbox": sb.mbox}.get(where)
    return str(named or sb.root / where)


def _plausible(rng: random.Random, name: str, spec: dict, sb: Sandbox):
    """A value a careful operator would pass (the module then does its real work in the sandbox)."""
    kind = spec.get("type", "str")
    if spec.get("choices"):
        choices = list(spec["choices"])
        return rng.sample(choices, rng.randint(1, len(choices))) if kind == "list" else rng.choice(choices)
    if kind == "list":
        element = dict(spec, type=spec.get("elements", "str"))
        element.pop("elements", None)
        if name in ("stop_command", "start_command"):
            return list(PLAUSIBLE_TEXT[name])
        return [_plausible(rng, name, element, sb) for _n in range(rng.randint(0, 3))]
    if kind == "path":
        return _sandbox_path(name, sb)
    if kind == "bool":
        return rng.random() < 0.5
    if kind in ("int", "float"):
        low, high = PLAUSIBLE_NUMBERS.get(
            name, (0, 10) if "warn" in name else (11, 10000) if "crit" in name else (1, 30)
        )
        return rng.randint(int(low), int(high)) if kind == "int" else round(rng.uniform(max(low, 0.05), high), 3)
    if kind == "dict":
        return _dict(rng, name, sb, plausible=True)
    return rng.choice(PLAUSIBLE_TEXT.get(name, ["x"]))


def draw(rng: random.Random, spec: dict, sb: Sandbox) -> dict:
    """One call's arguments from the module's spec. Half the inputs are a careful operator's call with one
    hostile value in it (so the module gets past its checks and acts, in the sandbox); the other half are
    hostile throughout. Paths a default would take from this machine mostly point into the sandbox."""
    args: dict = {}
    careful = rng.random() < 0.5
    names = list(spec)
    hostile_one = rng.choice(names) if names else None
    for name, option in spec.items():
        chosen = option.get("required") or rng.random() < (0.3 if careful else 0.5)
        if careful and name == hostile_one and rng.random() < 0.8:
            args[name] = _value(rng, name, option, sb)
        elif chosen:
            args[name] = _plausible(rng, name, option, sb) if careful else _value(rng, name, option, sb)
        elif name in SANDBOXED and rng.random() < 0.9:
            value = _sandbox_path(name, sb)
            args[name] = [value] if option.get("type") == "list" else value
    if rng.random() < 0.3:
        args["_ansible_check_mode"] = True
    if rng.random() < 0.2:
        args["_ansible_diff"] = True
    return args


# ----------------------------------------------------------------- the recorders
class Recorder:
    """Everything the module tried that would have reached this machine, and what was allowed."""

    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def __init__(self, sb: Sandbox, rng: random.Random) -> None:
        self.sb = sb
        self.rng = rng
        self.denied: list[tuple] = []
        self.signals: list[tuple] = []
        self.commands: list[list[str]] = []
        self.connects: list = []
        self.clock = 1_000_000.0
        self.real = {}

    # -- paths
    def _resolve(self, path, dir_fd=None) -> str | None:
        if isinstance(path, int):
            return None  # an fd: opened through the guarded os.open
        text = os.fsdecode(path)
        if "\0" in text:
            return None  # the real call raises ValueError and does nothing
        if dir_fd is not None and not os.path.isabs(text):
            text = os.path.join(self.real["readlink"](f"/proc/self/fd/{dir_fd}"), text)
        text = os.path.abspath(text)
        parent = self.real["realpath"](os.path.dirname(text))
        return os.path.join(parent, os.path.basename(text))

    def _check(self, what: str, *paths, dir_fd=None) -> None:
        for path in paths:
            where = self._resolve(path, dir_fd)
            if where is not None and not self.sb.inside(where):
                self.denied.append((what, where[:200]))
                raise PermissionError(errno.EACCES, "denied by the argument fuzzer's recorder", where)

    def guarded(self, name: str, count: int = 1):
        real = self.real[name]

        def call(*args, **kwargs):
            self._check(name, *args[:count], dir_fd=kwargs.get("dir_fd") or kwargs.get("src_dir_fd"))
            return real(*args, **kwargs)

        return call

    def guarded_second(self, name: str):
        real = self.real[name]

        def call(src, dst, *args, **kwargs):
            self._check(name, dst, dir_fd=kwargs.get("dir_fd") or kwargs.get("dst_dir_fd"))
            return real(src, dst, *args, **kwargs)

        return call

    def os_open(self, path, flags, mode=0o777, *, dir_fd=None):
        if flags & self.WRITE_FLAGS:
            self._check("open", path, dir_fd=dir_fd)
        return self.real["os.open"](path, flags, mode, dir_fd=dir_fd)

    def builtin_open(self, file, mode="r", *args, **kwargs):
        if not isinstance(file, int) and any(c in mode for c in "wax+"):
            self._check("open()", file)
        return self.real["open"](file, mode, *args, **kwargs)

    # -- processes, limits, time
    def kill(self, *args):
        self.signals.append(args)

    def prlimit(self, pid, res, limits=None):
        if limits is not None:
            self.signals.append(("prlimit", pid, res, limits))
        return (0, -1)

    def sleep(self, seconds):
        self.clock += max(0.0, float(seconds))

    def monotonic(self):
        self.clock += 0.001
        return self.clock


class FakeRunner:
    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.outputs = {
            "-bC": (FIXTURES / "debian12-8.17.1.9-d0.1-bt.txt").read_bytes(),
            "-bt": (FIXTURES / "debian12-8.17.1.9-d0.1-bt.txt").read_bytes(),
            "-bp": (FIXTURES / "debian12-8.17.1.9-mailq-quarantine.txt").read_bytes(),
            "-bv": (FIXTURES / "debian12-8.17.1.9-bv.txt").read_bytes(),
        }

    def which(self, name):
        return None if self.rec.rng.random() < 0.1 else f"/usr/bin/{os.path.basename(str(name))}"

    def run(self, argv, stdin=None, timeout=30.0):
        rng = self.rec.rng
        self.rec.commands.append(list(argv))
        out = next((v for k, v in self.outputs.items() if k in argv), b"")
        if rng.random() < 0.1:
            n = rng.randint(0, 300)
            out = rng.getrandbits(8 * n).to_bytes(n, "little") if n else b""  # randbytes is 3.9+
        rc = rng.choice([0, 0, 0, 1, 70, 78])
        if rng.random() < 0.05:
            return _runner.CmdResult(tuple(argv), None, b"", b"", timed_out=True)
        if rng.random() < 0.03:
            return _runner.CmdResult(tuple(argv), None, b"", b"not found", missing=True)
        return _runner.CmdResult(tuple(argv), rc, out, b"")


class FakePopen:
    """subprocess.Popen (the bounded strace): exits at once, having run nothing."""

    def __init__(self, argv, *args, **kwargs):
        FakePopen.rec.commands.append(list(argv))
        self.pid = LISTENER + 1
        self.returncode = 0
        self.stderr = io.BytesIO(b"") if kwargs.get("stderr") == subprocess.PIPE else None
        self.stdout = io.BytesIO(b"") if kwargs.get("stdout") == subprocess.PIPE else None

    def poll(self):
        return 0

    def wait(self, timeout=None):
        return 0

    def communicate(self, input=None, timeout=None):
        return b"", b""

    def send_signal(self, sig):
        FakePopen.rec.signals.append(("popen", sig))

    def kill(self):
        FakePopen.rec.signals.append(("popen", 9))


class FakeSocket:
    """A TCP peer that refuses, times out, or speaks a scripted SMTP dialogue (never STARTTLS)."""

    rec: Recorder

    def __init__(self, *args, **kwargs):
        self.mode = FakeSocket.rec.rng.choice(["refused", "timeout", "reset", "smtp", "smtp", "garbage"])
        self.out = b""

    def settimeout(self, value):
        if value is not None and (math.isnan(value) or value < 0 or value > 1e12):
            raise ValueError("Timeout value out of range")

    def setsockopt(self, *args):
        pass

    def connect(self, address):
        FakeSocket.rec.connects.append(address)
        if self.mode == "refused":
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        if self.mode == "timeout":
            raise TimeoutError("timed out")
        if self.mode == "reset":
            raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
        self.out = b"220 mx01.lab.test ESMTP Sendmail 8.17.1.9; x\r\n" if self.mode == "smtp" else b"\xff\xfe<b>\n"

    def sendall(self, data):
        line = data.split(b" ", 1)[0].split(b":", 1)[0].strip().upper()
        replies = {
            b"EHLO": b"250-mx01.lab.test Hello\r\n250-STARTTLS\r\n250 HELP\r\n",
            b"MAIL": b"250 2.1.0 ok\r\n",
            b"RCPT": b"250 2.1.5 ok\r\n",
            b"DATA": b"354 go\r\n",
            b"QUIT": b"221 2.0.0 bye\r\n",
            b"STARTTLS": b"454 4.7.0 TLS not available\r\n",
        }
        if data.endswith(b"\r\n.\r\n"):
            self.out += b"250 2.0.0 6B1Fq6ri000105 Message accepted for delivery\r\n"
        else:
            self.out += replies.get(line, b"500 5.5.1 what\r\n")

    def recv(self, size):
        data, self.out = self.out[:size], self.out[size:]
        return data

    def close(self):
        pass

    def fileno(self):
        return -1


def fake_create_connection(address, *args, **kwargs):
    sock = FakeSocket()
    sock.connect(address)
    return sock


def fake_getaddrinfo(host, port, *args, **kwargs):
    if not isinstance(host, str) or not host or "\0" in host:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    if host.endswith(".invalid"):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise OverflowError("getsockaddrarg: port must be 0-65535.")
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]


def fake_processes(rng: random.Random) -> list[_process.Proc]:
    listener_state = rng.choice(["S", "S", "S", "T", "Z", None])
    procs = [_process.Proc(pid=1, ppid=0, state="S", args="/usr/bin/tini -- /usr/local/sbin/lab-init", comm="tini")]
    if listener_state:
        title = rng.choice(
            ["sendmail: MTA: accepting connections", "sendmail: rejecting connections on daemon MTA: load average: 12"]
        )
        procs.append(_process.Proc(pid=LISTENER, ppid=1, state=listener_state, args=title, comm="sendmail-mta"))
    return procs


IDENTITIES = {
    1: {"pid": 1, "ppid": 0, "state": "S", "start": 1, "comm": "tini", "args": "/usr/bin/tini", "exe": "/usr/bin/tini"},
    LISTENER: {
        "pid": LISTENER,
        "ppid": 1,
        "state": "S",
        "start": 99,
        "comm": "sendmail-mta",
        "args": "sendmail: MTA: accepting connections",
        "exe": "/usr/libexec/sendmail/sendmail",
    },
}


@contextlib.contextmanager
def sandboxed(sb: Sandbox, rng: random.Random):
    """Every side effect of a module call replaced by a recorder (see the module docstring)."""
    rec = Recorder(sb, rng)
    rec.real = {
        "os.open": os.open,
        "open": builtins.open,
        "readlink": os.readlink,
        "realpath": os.path.realpath,
    }
    for name in ("mkdir", "rmdir", "unlink", "remove", "chmod", "chown", "lchown", "truncate", "utime", "mkfifo"):
        rec.real[name] = getattr(os, name)
    for name in ("rename", "replace", "link", "symlink"):
        rec.real[name] = getattr(os, name)
    procs = fake_processes(rng)
    status_text = (
        FIXTURES
        / rng.choice(["debian12-proc-status-sendmail-mta-setgid.txt", "debian12-proc-status-sendmail-mta-dumpable.txt"])
    ).read_text()

    def fake_daemon(pidfile, now, runner, proc_root="/proc"):
        data, _problem = _collect.read_file(pidfile, 4096)
        pid, command, pid_problem = _process.parse_pidfile(data) if data is not None else (None, None, "missing")
        return dict(_process.find_daemon(procs, pid, command, pid_problem, pidfile).to_dict(), source="proc")

    def fake_read(path, limit=1 << 20):
        if path.endswith("/status"):
            return status_text
        if path.endswith("core_pattern"):
            return rng.choice(["core", "|/lib/systemd/systemd-coredump %P", f"{sb.root}/core.%e.%p", "/var/crash/core"])
        if path.endswith(("suid_dumpable", "ptrace_scope", "core_uses_pid")):
            return rng.choice(["0", "1", "2", "3", "x", ""])
        return rng.choice(["", "00400000-00452000 r-xp /usr/libexec/sendmail/sendmail\n"])

    def fake_wait_until(predicate, timeout, clock=None, sleep=None):
        return 0.0 if predicate() else None

    FakeSocket.rec = rec
    FakePopen.rec = rec
    patches = [
        mock.patch.object(basic.AnsibleModule, "log", lambda self, msg, log_args=None: None),
        mock.patch.object(_runner, "SubprocessRunner", lambda *a, **k: FakeRunner(rec)),
        mock.patch.object(subprocess, "Popen", FakePopen),
        mock.patch.object(os, "kill", rec.kill),
        mock.patch.object(os, "killpg", rec.kill),
        mock.patch.object(resource, "prlimit", rec.prlimit),
        mock.patch.object(time, "sleep", rec.sleep),
        mock.patch.object(time, "monotonic", rec.monotonic),
        mock.patch.object(socket, "socket", FakeSocket),
        mock.patch.object(socket, "create_connection", fake_create_connection),
        mock.patch.object(socket, "getfqdn", lambda name="": "fuzz.lab.test"),
        mock.patch.object(socket, "getaddrinfo", fake_getaddrinfo),
        mock.patch.object(os, "open", rec.os_open),
        mock.patch.object(builtins, "open", rec.builtin_open),
        mock.patch.object(io, "open", rec.builtin_open),
        mock.patch.object(_collect, "collect_daemon", fake_daemon),
        mock.patch.object(
            _collect,
            "collect_listening",
            lambda ports, pid, proc_root="/proc": {
                "ports": ports,
                "sockets": [],
                "listening": False,
                "by_daemon": False,
            },
        ),
        mock.patch.object(
            _collect, "syslog_daemon", lambda proc_root="/proc": {"running": True, "names": ["rsyslogd"]}
        ),
        mock.patch.object(_target, "sendmail_identity", lambda pid, runner, proc_root="/proc": IDENTITIES.get(pid)),
        mock.patch.object(_target, "protected_pids", lambda proc_root="/proc", pid=None: {1, os.getpid()}),
        mock.patch.object(
            _service, "pid_alive", lambda pid, proc_root="/proc": pid in (1, LISTENER) and rng.random() < 0.9
        ),
        mock.patch.object(_service, "wait_until", fake_wait_until),
        mock.patch.object(_target, "read_proc_text", fake_read),
        mock.patch.object(
            _target,
            "read_link",
            lambda path: rng.choice([None, "/usr/libexec/sendmail/sendmail", str(sb.root)]),
        ),
    ]
    for name in ("mkdir", "rmdir", "unlink", "remove", "chmod", "chown", "lchown", "truncate", "utime", "mkfifo"):
        patches.append(mock.patch.object(os, name, rec.guarded(name)))
    for name in ("rename", "replace"):
        patches.append(mock.patch.object(os, name, rec.guarded(name, 2)))
    for name in ("link", "symlink"):  # only the new name is written; the first argument is the target
        patches.append(mock.patch.object(os, name, rec.guarded_second(name)))
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        yield rec


# ----------------------------------------------------------------- one input
def run_one(module_name: str, args: dict, sb: Sandbox, rng: random.Random) -> dict:
    """Run one call; return {"crash": None or what went wrong, "result": the JSON, "denied": [...], ...}."""
    module = MODULES[module_name]
    out = io.StringIO()
    crash = None
    cwd = os.getcwd()
    os.chdir(sb.root)
    try:
        with sandboxed(sb, rng) as rec, patch_module_args(args), contextlib.redirect_stdout(out):
            try:
                module.main()
                crash = "main() returned without exit_json or fail_json"
            except SystemExit:
                pass
            except BaseException as exc:
                crash = f"{type(exc).__name__}: {exc}"[:300] + "\n" + traceback.format_exc()[-2000:]
    finally:
        os.chdir(cwd)
    result = None
    if crash is None:
        try:
            result = json.loads(out.getvalue())
            if not isinstance(result, dict):
                crash = f"the output is not one JSON object: {out.getvalue()[:200]!r}"
        except ValueError:
            crash = f"no JSON result: {out.getvalue()[:300]!r}"
    return {
        "crash": crash,
        "result": result,
        "denied": rec.denied,
        "signals": rec.signals,
        "commands": len(rec.commands),
    }


def fuzz_module(module_name: str, inputs: int, seed: int, base: Path, spec: dict | None = None) -> dict:
    """*inputs* calls of one module, from a fixed seed; a sandbox per call under *base*."""
    rng = random.Random(f"{seed}-args-{module_name}")
    spec = spec or argument_spec(MODULES[module_name])
    findings: list[dict] = []
    stats = {"failed": 0, "ok": 0, "denied_writes": 0, "recorded_signals": 0, "commands": 0, "changed": 0}
    started = time.monotonic()
    for n in range(inputs):
        root = base / f"{module_name}-{n}"
        sb = Sandbox(root)
        args = draw(rng, spec, sb)
        case_seed = f"{seed}-{module_name}-{n}"
        got = run_one(module_name, args, sb, random.Random(case_seed))
        shutil.rmtree(root, ignore_errors=True)
        stats["denied_writes"] += len(got["denied"])
        stats["recorded_signals"] += len(got["signals"])
        stats["commands"] += got["commands"]
        if got["crash"]:
            findings.append(
                {
                    "module": module_name,
                    "input": n,
                    "seed": case_seed,
                    "sandbox": str(root),
                    "args": args,
                    "crash": got["crash"],
                }
            )
            if len(findings) >= 20:
                break
        elif got["result"].get("failed"):
            stats["failed"] += 1
        else:
            stats["ok"] += 1
            stats["changed"] += bool(got["result"].get("changed"))
    return {
        "module": module_name,
        "inputs": n + 1 if inputs else 0,
        "crashes": len(findings),
        "seconds": round(time.monotonic() - started, 1),
        "findings": findings,
        **stats,
    }


def restore(args, old_root: str, new_root: str):
    """A finding's arguments for a replay: paths into its sandbox moved into the replay's."""
    if isinstance(args, str):
        return new_root + args[len(old_root) :] if old_root and args.startswith(old_root) else args
    if isinstance(args, dict):
        return {k: restore(v, old_root, new_root) for k, v in args.items()}
    if isinstance(args, list):
        return [restore(v, old_root, new_root) for v in args]
    return args
