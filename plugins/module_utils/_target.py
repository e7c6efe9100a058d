# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The process a module acts on: whether a PID may be signalled, dumped or traced as sendmail right now.

Before a module signals, dumps or traces a process it checks, right before acting, that the PID still
is the sendmail process it means (PIDs are reused, and an argument may name any PID at all):
:func:`verify_sendmail`. Also the /proc files the crash capture reads about its target. Used by the
modules that act on the daemon (service, crash, trace), never by the read-only health check, which
finds the daemon with ``_process``.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable

from . import _process
from ._runner import Runner
from ._text import clean


def read_proc_text(path: str, limit: int = 1 << 20) -> str:
    """Up to *limit* bytes of a /proc file as text ("" when it cannot be read: the process is gone).

    Read to its end, not with one read(): /proc's seq files (maps, limits) give one page per read()
    (a single os.read of /proc/self/maps returned 3,930 of its 14,100 bytes), so _collect.read_file,
    made for files on disk, would cut them."""
    try:
        with open(path, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def read_proc_int(path: str) -> int | None:
    """A /proc/sys value that is one integer (ptrace_scope, suid_dumpable), or None."""
    text = read_proc_text(path, 64).strip()
    return int(text) if text.lstrip("-").isdigit() else None


def read_link(path: str) -> str | None:
    """Where a /proc link (exe, cwd) points, or None when the process is gone or it cannot be read."""
    try:
        return os.readlink(path)
    except OSError:
        return None


# The executables a process must run to be acted on as sendmail.
SENDMAIL_EXES = ("sendmail", "sm-mta", "sm-msp")


def read_identity(pid: int, proc_root: str = "/proc") -> dict | None:
    """What runs as *pid* (Linux /proc): comm, state, ppid, start time in ticks, title and executable.

    None when there is no such process. ``exe`` is None when the link cannot be read (a kernel thread)."""
    if not isinstance(pid, int) or pid < 1:
        return None
    base = os.path.join(proc_root, str(pid))
    try:
        with open(os.path.join(base, "stat"), "rb") as fh:
            comm, state, ppid, start = _process.parse_proc_stat(fh.read(4096))
        with open(os.path.join(base, "cmdline"), "rb") as fh:
            args = _process.parse_cmdline(fh.read(4096))
    except (OSError, ValueError):
        return None
    try:
        exe: str | None = os.readlink(os.path.join(base, "exe"))
    except OSError:
        exe = None
    return {
        "pid": pid,
        "ppid": ppid,
        "state": state,
        "start": start,
        "comm": clean(comm, 64),
        "args": args,
        "exe": clean(exe, 512) if exe is not None else None,
        "source": "proc",
    }


def protected_pids(proc_root: str = "/proc", pid: int | None = None) -> set[int]:
    """PIDs a module must never signal: init, itself and each of its ancestors (the shell, sshd, ansible)."""
    current = os.getpid() if pid is None else pid
    found = {1, current}
    for _hop in range(64):
        ident = read_identity(current, proc_root)
        if ident is None or ident["ppid"] in found or ident["ppid"] < 1:
            break
        current = ident["ppid"]
        found.add(current)
    return found


def target_problem(identity: dict | None, pid: int, protected: Iterable[int] = (1,)) -> str | None:
    """Why *pid* must not be signalled, dumped or traced as sendmail, or None when it is a sendmail process.

    Its executable (when /proc says) must be a sendmail binary and its title or name sendmail's; never
    PID 1 or the module's own process tree; never a zombie."""
    if not isinstance(pid, int) or pid < 1:
        return f"{pid!r} is not a process ID"
    if pid == 1:
        return "pid 1 is init, never a sendmail daemon to act on"
    if pid in set(protected):
        return f"pid {pid} is this module's own process or one of its parents"
    if identity is None:
        return f"there is no process {pid}"
    what = f"pid {pid} ({clean(identity.get('args') or identity.get('comm') or '?', 80)})"
    if identity.get("state") in ("Z", "X"):
        return f"{what} has exited (zombie)"
    exe = identity.get("exe")
    if identity.get("source") == "proc":
        if exe is None:
            return f"{what}: its executable cannot be read, so it cannot be told to be sendmail"
        name = os.path.basename(exe[: -len(" (deleted)")] if exe.endswith(" (deleted)") else exe)
        if not name.startswith(SENDMAIL_EXES):
            return f"{what} runs {clean(exe, 200)}, not a sendmail binary"
    proc = _process.Proc(
        pid=pid, ppid=identity.get("ppid") or 0, state=identity.get("state") or "", args=identity.get("args") or ""
    )
    proc.comm = identity.get("comm") or ""
    if not _process.is_sendmail(proc):
        return f"{what} is not a sendmail process"
    return None


def same_process(before: dict | None, now: dict | None) -> bool:
    """Whether *now* is still the process *before* was (same PID and start time: not a reused PID)."""
    if not before or not now:
        return False
    return before.get("pid") == now.get("pid") and before.get("start") == now.get("start")


def sendmail_identity(pid: int, runner: Runner, proc_root: str = "/proc") -> dict | None:
    """What runs as *pid*: /proc on Linux; elsewhere ``ps`` (no executable, no start time)."""
    if platform.system() == "Linux" and os.path.isdir(proc_root):
        return read_identity(pid, proc_root)
    res = runner.run(["ps", "-o", "pid,ppid,s,etime,args", "-p", str(int(pid))], timeout=15)
    for proc in _process.parse_ps_o(res.stdout.decode("utf-8", "replace")):
        if proc.pid == pid:
            return {
                "pid": pid,
                "ppid": proc.ppid,
                "state": proc.state,
                "start": None,
                "comm": "",
                "args": proc.args,
                "exe": None,
                "source": "ps",
            }
    return None


def verify_sendmail(
    pid: int, runner: Runner, before: dict | None = None, proc_root: str = "/proc"
) -> tuple[dict | None, str | None]:
    """(identity, problem): whether *pid* may be signalled, dumped or traced as sendmail right now.

    With *before* (an identity read earlier), the process must also still be that one (same start
    time): a PID that was reused by another process in between is refused."""
    ident = sendmail_identity(pid, runner, proc_root)
    problem = target_problem(ident, pid, protected_pids(proc_root))
    if problem is None and before is not None and not same_process(before, ident):
        problem = f"pid {pid} is no longer the process seen before (it exited and the PID was reused)"
    return ident, problem
