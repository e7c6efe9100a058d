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

import os
import signal
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ._runner import CmdResult, Runner
from ._text import clean


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
    return {
        "argv": list(res.argv),
        "rc": res.rc,
        "timed_out": res.timed_out,
        "stdout": clean(res.stdout.decode("utf-8", "replace")[-2000:], 2000),
        "stderr": clean(res.stderr.decode("utf-8", "replace")[-2000:], 2000),
    }


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


def stop(
    runner: Runner,
    argv: list[str],
    daemon: dict,
    timeout: float,
    force: bool,
    check_mode: bool,
    alive: Callable[[int], bool] | None = None,
    kill: Callable[[int, int], None] | None = None,
    clock=time.monotonic,
    sleep=time.sleep,
    verify: Callable[[int], str | None] | None = None,
) -> Step:
    """Stop through the service manager; TERM then KILL the listener only when *force*.

    *verify* says, right before each signal, why *pid* must not be signalled (no longer the sendmail
    listener seen before: a reused PID, not sendmail, PID 1), or None. *alive* and *kill* default to
    pid_alive and os.kill, looked up when called (so that a test or the fuzzer can record them)."""
    alive = alive if alive is not None else pid_alive
    kill = kill if kill is not None else os.kill
    step = Step()
    pid = daemon.get("pid")
    if pid is None or daemon.get("state") == "absent":
        step.observations.append("no sendmail listener was running; nothing to stop")
        return step
    if daemon.get("state") == "zombie":
        step.observations.append(f"the listener {pid} is a zombie (exited, not reaped); nothing to stop")
        return step
    step.changed = True
    if check_mode:
        step.observations.append(f"the listener {pid} is {daemon.get('state')}")
        step.actions.append(f"would stop the listener {pid} with {' '.join(argv)} (check mode: nothing stopped)")
        return step
    res = runner.run(argv, timeout=timeout)
    step.commands.append(command_record(res))
    if res.missing:
        step.observations.append(f"{argv[0]} not found")
    step.actions.append(f"ran {' '.join(argv)} (rc {res.rc}{', timed out' if res.timed_out else ''})")
    started = clock()
    waited = wait_until(lambda: not alive(pid), max(1.0, timeout), clock, sleep)
    if waited is not None:
        step.waited_seconds = clock() - started
        step.observations.append(f"the listener {pid} is gone after {step.waited_seconds:.1f} s")
        return step
    if not force:
        step.ok = False
        step.failure = (
            f"the listener {pid} still runs {timeout:.0f} s after {' '.join(argv)}; "
            "not signalled because restart_force is false"
        )
        return step
    refused = None
    for sig, name in ((signal.SIGTERM, "TERM"), (signal.SIGKILL, "KILL")):
        refused = verify(pid) if verify is not None else None
        if refused:
            step.observations.append(f"did not send SIG{name} to {pid}: {refused}")
            break
        try:
            kill(pid, sig)
        except ProcessLookupError:
            break
        step.actions.append(f"sent SIG{name} to the listener {pid} (force)")
        if wait_until(lambda: not alive(pid), 10.0, clock, sleep) is not None:
            break
    step.waited_seconds = clock() - started
    if refused and alive(pid):
        step.ok = False
        step.failure = f"pid {pid} still runs {timeout:.0f} s after {' '.join(argv)} and was not signalled: {refused}"
    elif alive(pid):
        step.ok = False
        step.failure = f"the listener {pid} survived TERM and KILL"
    else:
        step.observations.append(f"the listener {pid} is gone after {step.waited_seconds:.1f} s")
    return step


def start(
    runner: Runner,
    argv: list[str],
    read_daemon: Callable[[], dict],
    timeout: float,
    check_mode: bool,
    expected_ppids: Iterable[int] = (1,),
    clock=time.monotonic,
    sleep=time.sleep,
    after_stop: bool = False,
) -> tuple[Step, dict]:
    """Start through the service manager and wait for a listener that accepts, whose parent is init.

    *after_stop* (check mode): a stop earlier in the same run would have ended the running listener.
    """
    step = Step()
    before = read_daemon()
    if before.get("running") and not (check_mode and after_stop):
        step.observations.append(
            f"a sendmail listener already runs (pid {before.get('pid')}, PPID {before.get('ppid')}); nothing started"
        )
        return step, before
    step.changed = True
    if check_mode:
        step.actions.append(f"would start sendmail with {' '.join(argv)} (check mode: nothing started)")
        return step, before
    res = runner.run(argv, timeout=timeout)
    step.commands.append(command_record(res))
    step.actions.append(f"ran {' '.join(argv)} (rc {res.rc}{', timed out' if res.timed_out else ''})")
    started = clock()
    state: dict = {}

    def up() -> bool:
        state.update(read_daemon())
        return bool(state.get("running"))

    waited = wait_until(up, max(1.0, timeout), clock, sleep)
    step.waited_seconds = clock() - started
    if waited is None:
        step.ok = False
        step.failure = f"no sendmail listener {timeout:.0f} s after {' '.join(argv)} (rc {res.rc})"
        return step, state
    ppids = set(expected_ppids)
    step.observations.append(
        f"a new listener {state.get('pid')} (PPID {state.get('ppid')}) accepts after {step.waited_seconds:.1f} s"
    )
    if state.get("ppid") not in ppids:
        step.ok = False
        step.failure = f"the new listener {state.get('pid')} has PPID {state.get('ppid')}, expected {sorted(ppids)}"
    return step, state


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
