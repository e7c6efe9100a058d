# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start/Stop: pre-flight, stopping, starting and accounting for every message.

The runbook's "Start/Stop" made safe: nothing is stopped before the
configuration, the queue directories and the binary have been checked, a stop
is verified (the listener is gone), a start is verified (a new listener whose
parent is init), and every queue ID seen before is found again afterwards:
still queued, moved aside with the queue, or logged as delivered.

The decisions are pure functions; the waiting and signalling take a clock and
a process reader so that tests can drive them.
"""

from __future__ import annotations

import grp
import os
import pwd
import signal
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import _collect, _config, _oplock, _target
from ._context import HostContext, ModuleError
from ._runner import CmdResult, Runner
from ._text import clean, clean_lines


# ----------------------------------------------------------------- pre-flight
def queue_dir_problem(path: str, st: os.stat_result | None, owners: set[int], group_write_ok: bool) -> str | None:
    """Why sendmail would not use *path* as a queue directory, or None.

    sendmail refuses a queue directory that is world-writable, and the MTA's
    one must not be group-writable either (the MSP's is 0770 smmsp by design).
    """
    if st is None:
        return f"queue directory {clean(path)} does not exist"
    if not stat.S_ISDIR(st.st_mode):
        return f"queue directory {clean(path)} is not a directory"
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid not in owners:
        return f"queue directory {clean(path)} is owned by uid {st.st_uid}, expected one of {sorted(owners)}"
    if mode & stat.S_IWOTH:
        return f"queue directory {clean(path)} is world-writable (mode {mode:04o})"
    if mode & stat.S_IWGRP and not group_write_ok:
        return f"queue directory {clean(path)} is group-writable (mode {mode:04o})"
    return None


def binary_problem(path: str, st: os.stat_result | None, executable: bool) -> str | None:
    if st is None:
        return f"sendmail binary {clean(path)} does not exist"
    if not stat.S_ISREG(st.st_mode):
        return f"sendmail binary {clean(path)} is not a regular file"
    if not executable:
        return f"sendmail binary {clean(path)} is not executable"
    return None


def preflight_verdict(binary: str | None, config_check: dict, queue_problems: list[str]) -> dict:
    """ok plus every problem found; config_check is _config.parse_check's result."""
    problems = []
    if binary:
        problems.append(binary)
    if config_check.get("ok") is False:
        complaints = config_check.get("errors") or []
        detail = (
            "; ".join((f"line {c['line']}: " if c.get("line") else "") + str(c.get("message")) for c in complaints[:5])
            or f"rc {config_check.get('rc')}"
        )
        problems.append(f"configuration check failed ({config_check.get('command', 'sendmail -bC')}): {detail}")
    elif config_check.get("ok") is None:
        problems.append(f"configuration could not be checked: {config_check.get('skipped') or 'no verdict'}")
    problems += queue_problems
    return {"ok": not problems, "problems": [clean(p, 600) for p in problems]}


def preflight(ctx: HostContext) -> dict:
    """Would a restart be safe: the binary, the configuration (``sendmail -bC``) and every queue directory,
    with each problem named. Changes nothing."""
    p = ctx.params
    real = os.path.realpath(ctx.sendmail)
    st = _stat(real)
    binary = {"path": ctx.sendmail, "realpath": real, "present": st is not None}
    problem = binary_problem(ctx.sendmail, st, st is not None and os.access(real, os.X_OK))
    config = _collect.collect_config(ctx, check=True)
    queue_dirs = []
    problems = []
    for kind, cf_path, group_ok in (("mta", p["config_path"], False), ("msp", p["submit_config_path"], True)):
        owners = _owners(cf_path)
        for path in ctx.paths[f"{kind}_queue_dirs"]:
            qst = _stat(path)
            entry = {"queue": kind, "path": path, "problem": queue_dir_problem(path, qst, owners, group_ok)}
            if qst is not None:
                entry.update(owner=_name(qst.st_uid), group=_group(qst.st_gid), mode=f"{qst.st_mode & 0o7777:04o}")
            queue_dirs.append(entry)
            if entry["problem"]:
                problems.append(entry["problem"])
    if not ctx.paths["mta_queue_dirs"]:
        problems.append(f"{p['config_path']} names no QueueDirectory")
    verdict = preflight_verdict(problem, config.get("check") or {}, problems)
    config_summary = {k: config.get(k) for k in ("path", "exists", "sha256", "version", "hostname", "check")}
    return dict(verdict, binary=binary, config=config_summary, queue_dirs=queue_dirs)


def _uid(name: str | None) -> int | None:
    if not name:
        return None
    user = name.split(":", 1)[0]
    if user.isdigit():
        return int(user)
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _owners(cf_path: str) -> set[int]:
    """Who may own a queue directory: root, and the cf's TrustedUser and RunAsUser."""
    data, _unused = _collect.read_file(cf_path)
    cf = _config.parse_cf(data or b"")
    return {0} | {u for u in (_uid(cf.get("TrustedUser")), _uid(cf.get("RunAsUser"))) if u is not None}


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


# ----------------------------------------------------------------- stop/start
@dataclass
class Step:
    """What one stop or start did, in the report's words."""

    changed: bool = False
    ok: bool = True
    actions: list[str] = field(default_factory=list)
    observations: list[str] = field(default_factory=list)
    commands: list[dict] = field(default_factory=list)
    failure: str | None = None
    waited_seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "changed": self.changed,
            "ok": self.ok,
            "actions": self.actions,
            "observations": self.observations,
            "commands": self.commands,
            "failure": self.failure,
            "waited_seconds": round(self.waited_seconds, 2),
        }


def command_record(res: CmdResult) -> dict:
    """A command run, for the result: argv, rc, and the tail of its output as text and as lines."""
    record: dict = {"argv": list(res.argv), "rc": res.rc, "timed_out": res.timed_out}
    for name, data in (("stdout", res.stdout), ("stderr", res.stderr)):
        lines = clean_lines(data.decode("utf-8", "replace")[-2000:], 2000)
        record[name] = "\n".join(lines)
        record[f"{name}_lines"] = lines
    return record


def wait_until(predicate: Callable[[], bool], timeout: float, clock=time.monotonic, sleep=time.sleep) -> float | None:
    """Seconds until *predicate* held, or None when *timeout* passed first."""
    start = clock()
    delay = 0.05
    while True:
        if predicate():
            return clock() - start
        if clock() - start >= timeout:
            return None
        sleep(delay)
        delay = min(delay * 2, 0.5)


def pid_alive(pid: int, proc_root: str = "/proc") -> bool:
    """A process exists and is not a zombie (a zombie has exited; its parent just has not reaped it).

    Linux: the state letter in /proc/PID/stat. Solaris has /proc/PID (binary psinfo, no stat file);
    without /proc at all, signal 0 says whether the PID exists.
    """
    try:
        with open(os.path.join(proc_root, str(pid), "stat"), "rb") as fh:
            data = fh.read()
    except OSError:
        if os.path.isdir(proc_root):
            return os.path.isdir(os.path.join(proc_root, str(pid)))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    state = data[data.rfind(b")") + 2 : data.rfind(b")") + 3]
    return state not in (b"Z", b"X")


@dataclass(frozen=True)
class ServiceCall:
    """One stop or start: the service manager's command, how long to wait, and what the caller allows."""

    argv: list[str]
    timeout: float
    check_mode: bool = False
    force: bool = False  # stop: TERM, then KILL, when the listener outlives the command
    expected_ppids: tuple[int, ...] = (1,)  # start: the parents a new listener may have
    after_stop: bool = False  # start, check mode: a stop earlier in the run would have ended the listener


@dataclass
class Hooks:
    """What a stop or start waits and signals with. None: the real ones (pid_alive, os.kill, the monotonic
    clock, time.sleep), looked up when called, so that a test or the fuzzer can replace them. *verify*
    says, right before each signal, why a PID must not be signalled (no longer the listener seen before)."""

    alive: Callable[[int], bool] | None = None
    kill: Callable[[int, int], None] | None = None
    clock: Callable[[], float] | None = None
    sleep: Callable[[float], None] | None = None
    verify: Callable[[int], str | None] | None = None

    def real(self) -> Hooks:
        return Hooks(
            self.alive or pid_alive,
            self.kill or os.kill,
            self.clock or time.monotonic,
            self.sleep or time.sleep,
            self.verify or (lambda _pid: None),
        )


def stop(runner: Runner, call: ServiceCall, daemon: dict, hooks: Hooks | None = None) -> Step:
    """Stop through the service manager; TERM then KILL the listener only when *call.force*."""
    h = (hooks or Hooks()).real()
    step = Step()
    pid = daemon.get("pid")
    if pid is None or daemon.get("state") == "absent":
        step.observations.append("no sendmail listener was running; nothing to stop")
        return step
    if daemon.get("state") == "zombie":
        step.observations.append(f"the listener {pid} is a zombie (exited, not reaped); nothing to stop")
        return step
    step.changed = True
    command = " ".join(call.argv)
    if call.check_mode:
        step.observations.append(f"the listener {pid} is {daemon.get('state')}")
        step.actions.append(f"would stop the listener {pid} with {command} (check mode: nothing stopped)")
        return step
    res = runner.run(call.argv, timeout=call.timeout)
    step.commands.append(command_record(res))
    if res.missing:
        step.observations.append(f"{call.argv[0]} not found")
    step.actions.append(f"ran {command} (rc {res.rc}{', timed out' if res.timed_out else ''})")
    started = h.clock()
    if wait_until(lambda: not h.alive(pid), max(1.0, call.timeout), h.clock, h.sleep) is not None:
        step.waited_seconds = h.clock() - started
        step.observations.append(f"the listener {pid} is gone after {step.waited_seconds:.1f} s")
        return step
    if not call.force:
        step.ok = False
        step.failure = (
            f"the listener {pid} still runs {call.timeout:.0f} s after {command}; "
            "not signalled because restart_force is false"
        )
        return step
    _force(step, pid, call, h)
    step.waited_seconds = h.clock() - started
    if step.ok:
        step.observations.append(f"the listener {pid} is gone after {step.waited_seconds:.1f} s")
    return step


def _force(step: Step, pid: int, call: ServiceCall, h: Hooks) -> None:
    """TERM, then KILL, each only after *h.verify* passed right before it; the step fails when the listener
    is still there afterwards."""
    refused = None
    for sig, name in ((signal.SIGTERM, "TERM"), (signal.SIGKILL, "KILL")):
        refused = h.verify(pid)
        if refused:
            step.observations.append(f"did not send SIG{name} to {pid}: {refused}")
            break
        try:
            h.kill(pid, sig)
        except ProcessLookupError:
            break
        step.actions.append(f"sent SIG{name} to the listener {pid} (force)")
        if wait_until(lambda: not h.alive(pid), 10.0, h.clock, h.sleep) is not None:
            break
    if refused and h.alive(pid):
        step.ok = False
        command = " ".join(call.argv)
        step.failure = f"pid {pid} still runs {call.timeout:.0f} s after {command} and was not signalled: {refused}"
    elif h.alive(pid):
        step.ok = False
        step.failure = f"the listener {pid} survived TERM and KILL"


def start(
    runner: Runner, call: ServiceCall, read_daemon: Callable[[], dict], hooks: Hooks | None = None
) -> tuple[Step, dict]:
    """Start through the service manager and wait for a listener that accepts, whose parent is one of
    *call.expected_ppids* (init)."""
    h = (hooks or Hooks()).real()
    step = Step()
    before = read_daemon()
    command = " ".join(call.argv)
    if before.get("running") and not (call.check_mode and call.after_stop):
        step.observations.append(
            f"a sendmail listener already runs (pid {before.get('pid')}, PPID {before.get('ppid')}); nothing started"
        )
        return step, before
    step.changed = True
    if call.check_mode:
        step.actions.append(f"would start sendmail with {command} (check mode: nothing started)")
        return step, before
    res = runner.run(call.argv, timeout=call.timeout)
    step.commands.append(command_record(res))
    step.actions.append(f"ran {command} (rc {res.rc}{', timed out' if res.timed_out else ''})")
    started = h.clock()
    state: dict = {}

    def up() -> bool:
        state.update(read_daemon())
        return bool(state.get("running"))

    waited = wait_until(up, max(1.0, call.timeout), h.clock, h.sleep)
    step.waited_seconds = h.clock() - started
    if waited is None:
        step.ok = False
        step.failure = f"no sendmail listener {call.timeout:.0f} s after {command} (rc {res.rc})"
        return step, state
    ppids = set(call.expected_ppids)
    step.observations.append(
        f"a new listener {state.get('pid')} (PPID {state.get('ppid')}) accepts after {step.waited_seconds:.1f} s"
    )
    if state.get("ppid") not in ppids:
        step.ok = False
        step.failure = f"the new listener {state.get('pid')} has PPID {state.get('ppid')}, expected {sorted(ppids)}"
    return step, state


# ----------------------------------------------------------------- the sendmail_service module
DAEMON_KEYS = ("running", "state", "pid", "ppid", "args", "pidfile_pid", "pidfile_problem")


def service(ctx: HostContext) -> dict:
    """sendmail_service: ``state`` preflight, stopped, started or restarted (pre-flight, stop, start)."""
    state = ctx.params["state"]
    if state != "preflight":
        _oplock.hold(ctx, f"service {state}")  # the host's operation lock, released as the call ends
    before = read_daemon(ctx)
    result: dict = {"changed": False, "daemon_before": before, "actions": [], "observations": [], "commands": []}
    if state in ("preflight", "restarted"):
        _preflight_step(ctx, before, result)
        if state == "preflight":
            result["daemon"] = before
            return result
    if state in ("stopped", "restarted"):
        _stop_step(ctx, before, result)
    if state in ("started", "restarted"):
        _start_step(ctx, before, result)
    else:
        result["daemon"] = read_daemon(ctx) if not ctx.check_mode else before
    return result


def read_daemon(ctx: HostContext) -> dict:
    d = _collect.collect_daemon(ctx.pidfile, time.time(), ctx.runner)
    return {k: d.get(k) for k in DAEMON_KEYS}


def _preflight_step(ctx: HostContext, before: dict, result: dict) -> None:
    result["preflight"] = pf = preflight(ctx)
    check = pf["config"].get("check", {})
    result["observations"].append(
        f"pre-flight {'passed' if pf['ok'] else 'FAILED'}: {check.get('command')} "
        f"rc {check.get('rc')}, sendmail {pf['config'].get('version')}, "
        + ", ".join(f"{q['path']} {q.get('owner')}:{q.get('group')} {q.get('mode')}" for q in pf["queue_dirs"])
    )
    result["observations"].append(
        f"listener before: {before.get('state')}"
        + (f", pid {before.get('pid')}, PPID {before.get('ppid')}" if before.get("pid") else "")
    )
    if not pf["ok"]:
        result["daemon"] = before
        result["actions"].append("none: the pre-flight failed, so nothing was stopped or started")
        raise ModuleError("pre-flight failed: " + "; ".join(pf["problems"]), **result)


def _stop_step(ctx: HostContext, before: dict, result: dict) -> None:
    p = ctx.params
    target = _target.verify_sendmail(before["pid"], ctx.runner)[0] if before.get("pid") else None
    call = ServiceCall(p["stop_command"] or ctx.layout.service_stop, p["timeout"], ctx.check_mode, p["force"])
    verify = Hooks(verify=lambda pid: _target.verify_sendmail(pid, ctx.runner, before=target)[1])
    step = stop(ctx.runner, call, before, verify)
    _merge(result, step)
    if not step.ok:
        result["daemon"] = read_daemon(ctx)
        raise ModuleError(step.failure or "the stop failed", **result)


def _start_step(ctx: HostContext, before: dict, result: dict) -> None:
    p = ctx.params
    call = ServiceCall(
        p["start_command"] or ctx.layout.service_start,
        p["timeout"],
        ctx.check_mode,
        expected_ppids=tuple(p["expected_ppids"]),
        after_stop=p["after_stop"] or p["state"] == "restarted",
    )
    step, after = start(ctx.runner, call, lambda: read_daemon(ctx))
    _merge(result, step)
    result["daemon"] = after or before
    if not ctx.check_mode:
        result["new_pid"] = after.get("pid") is not None and after.get("pid") != before.get("pid")
    if not step.ok:
        raise ModuleError(step.failure or "the start failed", **result)


def _merge(result: dict, step: Step) -> None:
    result["changed"] = result["changed"] or step.changed
    result["actions"] += step.actions
    result["observations"] += step.observations
    result["commands"] += step.commands


# ----------------------------------------------------------------- accounting
def account(
    before: dict[str, list[str]],
    present: set[str],
    aside: set[str],
    outcomes: dict[str, str],
    delivered_after_move: set[str] | None = None,
) -> dict:
    """Where each queue ID recorded before went: present, moved aside, or an outcome from the log.

    *outcomes* maps a queue ID to what the mail log says finished it ("sent",
    "bounced", ...). Anything else is lost. A message both in a moved-aside
    directory and still in the queue, or moved aside and logged as sent after
    the move (*delivered_after_move*), was taken from a process still working
    on it: running the aside directory would deliver it twice. That is a
    failure too (``duplicate_risk``).
    """
    expected = sorted({qid for ids in before.values() for qid in ids})
    found: dict[str, list[str]] = {"present": [], "moved_aside": [], "finished": [], "lost": []}
    by_outcome: dict[str, int] = {}
    for qid in expected:
        if qid in present:
            found["present"].append(qid)
        elif qid in aside:
            found["moved_aside"].append(qid)
        elif qid in outcomes:
            found["finished"].append(qid)
            by_outcome[outcomes[qid]] = by_outcome.get(outcomes[qid], 0) + 1
        else:
            found["lost"].append(qid)
    twice = sorted((present & aside) | (aside & (delivered_after_move or set())))
    return {
        "expected": len(expected),
        "present": len(found["present"]),
        "moved_aside": len(found["moved_aside"]),
        "finished": len(found["finished"]),
        "finished_by_outcome": by_outcome,
        "lost": found["lost"],
        "duplicate_risk": twice,
        "ok": not found["lost"] and not twice,
    }
