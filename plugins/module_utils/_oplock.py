# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One operation at a time per host: a lease held under flock.

Two restarts at once on one host both stopped and started the daemon and raised false
"18 of 19 lost" alarms (every file was in the other run's aside directory). Every module
call that changes the host (stop, start, move aside, delete, hold/release, flush, crash
capture, trace) now works under the host's operation lock:

- ``<lock_dir>/lock`` (root-only directory, 0600 file) is flock'ed for the whole module call,
  so two calls never act at once;
- ``<lock_dir>/lease.json`` says who holds the host (owner token, operation, module pid,
  controller, since, expiry). A single call takes a lease of its own and drops it when it
  ends. An operation of several calls (the restart role: pre-flight, record, stop, move
  aside, start, gates) passes its run id as *owner*: the first call takes the lease, each
  call checks and refreshes it and keeps it for the next one (for *grace* seconds), the
  last (or the rescue path) releases it. A lease whose expiry has passed is stale and may
  be taken; so may the lease of a run whose controller is gone (see
  :func:`controller_gone`, used on the controller by the ``sendmail_lock`` action).

A second operation waits at most *wait* seconds, then refuses with who holds the host.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import stat
import time
from dataclasses import dataclass

from . import _privdir
from ._context import LOCK_ARGS, HostContext, ModuleError
from ._text import clean

DEFAULT_DIR = "/run/opsiface-sendmail"
FALLBACK_DIR = "/var/run/opsiface-sendmail"  # where /run does not exist (Solaris)
# The options every module that changes the host takes are _context.LOCK_ARGS (doc fragment opsiface.sendmail.lock).
DEFAULT_WAIT = LOCK_ARGS["lock_wait"]["default"]
DEFAULT_GRACE = LOCK_ARGS["lock_grace"]["default"]


@dataclass(frozen=True)
class Request:
    """What one call asks of the lock: its *operation*; the run it belongs to (*owner*, None for a call of
    its own); how long to wait for another operation and to keep the lease after; the controller running
    the run; and a run whose lease may be taken over (*break_owner*, an operator ending a dead run)."""

    operation: str
    owner: str | None = None
    wait: float = DEFAULT_WAIT
    grace: float = DEFAULT_GRACE
    controller: dict | None = None
    break_owner: str | None = None


class LockBusy(Exception):
    """Another operation holds the host; the message names it (operation, run, pid, since)."""

    def __init__(self, message: str, lease: dict | None = None) -> None:
        super().__init__(message)
        self.lease = lease


class LockError(Exception):
    """The lock itself cannot be used (its directory or file is not private); the message says why."""


# ----------------------------------------------------------------- pure decisions
def iso(ts) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(ts)))
    except (TypeError, ValueError, OverflowError, OSError):
        return "?"


def parse_lease(data: bytes | None) -> dict | None:
    """The lease file's content, or None when there is none (or it is not a lease: nothing holds)."""
    if not data:
        return None
    try:
        lease = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(lease, dict) or not isinstance(lease.get("owner"), str):
        return None
    for key in ("since", "expires"):
        if lease.get(key) is not None and not isinstance(lease[key], (int, float)):
            return None
    return lease


def is_stale(lease: dict | None, now: float) -> bool:
    return lease is None or lease.get("expires") is None or float(lease["expires"]) <= now


def describe(lease: dict | None, now: float) -> str:
    """'another operation (restart, run R, pid N, controller C, since T) holds the lock; ...'"""
    if not lease:
        return "another operation holds the lock (it is busy right now)"
    parts = [clean(lease.get("operation") or "?", 64)]
    if lease.get("owner"):
        parts.append(f"run {clean(lease['owner'], 80)}")
    if lease.get("pid"):
        parts.append(f"pid {lease['pid']}")
    controller = lease.get("controller")
    if isinstance(controller, dict) and controller.get("pid"):
        parts.append(f"controller pid {controller.get('pid')} on {clean(controller.get('host') or '?', 80)}")
    parts.append(f"since {iso(lease.get('since'))}")
    text = f"another operation ({', '.join(parts)}) holds the lock"
    if lease.get("expires") is not None:
        text += (
            f"; its lease ends at {iso(lease['expires'])} unless it acts again (release a dead run's lease with "
            f"opsiface.sendmail.sendmail_lock state=released owner={clean(lease.get('owner'), 80)})"
        )
    return text


def decide(lease: dict | None, owner: str | None, now: float, break_owner: str | None = None) -> str:
    """What the holder of the flock does with the lease it found: 'take' (free, stale, broken on purpose),
    'renew' (ours), or 'busy' (another operation's, still valid)."""
    if lease is None:
        return "take"
    if owner is not None and lease.get("owner") == owner:
        return "renew"
    if break_owner is not None and lease.get("owner") == break_owner:
        return "take"
    if lease.get("private") or is_stale(lease, now):
        # a single call's own lease is only ever valid while its flock is held: found under our flock, it
        # was left by a call that ended without cleaning up (killed)
        return "take"
    return "busy"


# ----------------------------------------------------------------- the controller side
def controller_identity(pid: int | None = None, proc_root: str = "/proc") -> dict:
    """Who runs the play: this host's name, the ansible-playbook process (the parent of an action
    plugin's worker) and its start time, so a reused PID is not taken for it."""
    import socket

    pid = os.getppid() if pid is None else pid
    return {"host": socket.gethostname(), "pid": pid, "start": _start_ticks(pid, proc_root)}


def controller_gone(controller, hostname: str, proc_root: str = "/proc") -> bool:
    """Whether the controller process named in a lease has certainly ended: it ran on *this* host
    (*hostname*), and /proc shows no process with its PID and start time. False whenever that cannot
    be told (another controller host, no /proc, no start time recorded)."""
    if not isinstance(controller, dict) or controller.get("host") != hostname:
        return False
    pid, start = controller.get("pid"), controller.get("start")
    if not isinstance(pid, int) or not isinstance(start, int) or not os.path.isdir(proc_root):
        return False
    return _start_ticks(pid, proc_root) != start


def _start_ticks(pid: int, proc_root: str) -> int | None:
    try:
        with open(os.path.join(proc_root, str(int(pid)), "stat"), "rb") as fh:
            data = fh.read(4096)
    except (OSError, ValueError):
        return None
    rest = data[data.rfind(b")") + 2 :].split()
    return int(rest[19]) if len(rest) > 19 and rest[19].isdigit() else None


# ----------------------------------------------------------------- the host side
def lock_dir(value: str | None) -> str:
    if value:
        return value
    return DEFAULT_DIR if os.path.isdir("/run") and not os.path.islink("/run") else FALLBACK_DIR


def read_lease(directory: str) -> dict | None:
    """The current lease (read without the lock: it is replaced atomically)."""
    try:
        fd = os.open(os.path.join(directory, "lease.json"), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return parse_lease(os.read(fd, 65536))
    finally:
        os.close(fd)


class OpLock:
    """The host's operation lock for one module call (see the module docstring)."""

    def __init__(self, directory: str | None = None, clock=time.time, monotonic=time.monotonic, sleep=time.sleep):
        self.dir = lock_dir(directory)
        self.clock = clock
        self.monotonic = monotonic
        self.sleep = sleep
        self.fd: int | None = None
        self.lease: dict | None = None
        self.observations: list[str] = []

    # -- files
    def _open(self) -> int:
        try:
            _privdir.safe_dir(self.dir)
        except _privdir.UnsafeDir as exc:
            raise LockError(f"lock directory: {exc}") from exc
        path = os.path.join(self.dir, "lock")
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            raise LockError(f"cannot open {path} without following a link: {exc.strerror}") from exc
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_nlink != 1 or st.st_mode & 0o077:
            os.close(fd)
            raise LockError(f"{path} is not a private file of ours (mode {stat.S_IMODE(st.st_mode):04o}); refusing it")
        return fd

    def _write(self, lease: dict | None) -> None:
        target = os.path.join(self.dir, "lease.json")
        if lease is None:
            try:
                os.unlink(target)
            except FileNotFoundError:
                pass
            return
        tmp = os.path.join(self.dir, f".lease.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(lease, fh, sort_keys=True)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def _try_flock(self) -> bool:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise

    # -- the operation
    def acquire(self, request: Request) -> dict:
        """Hold the host for this call: the flock, and the lease (taken, or renewed when *request.owner*
        holds it). Waits at most *request.wait* seconds for another operation, then raises LockBusy naming it."""
        self.fd = self._open()
        deadline = self.monotonic() + max(0.0, request.wait)
        delay = 0.1
        while True:
            if self._try_flock():
                now = self.clock()
                found = read_lease(self.dir)
                verdict = decide(found, request.owner, now, request.break_owner)
                if verdict != "busy":
                    return self._hold(found, verdict, request, now)
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            else:
                found = read_lease(self.dir)
                if found is not None:
                    found = dict(found, expires=None)  # a module of it runs right now
            if self.monotonic() >= deadline:
                self.close()
                waited = f" (waited {request.wait:g} s)" if request.wait > 0 else ""
                raise LockBusy(describe(found, self.clock()) + waited, found)
            self.sleep(min(delay, max(0.0, deadline - self.monotonic())))
            delay = min(delay * 2, 1.0)

    def _hold(self, found: dict | None, verdict: str, request: Request, now: float) -> dict:
        if verdict == "renew":
            lease = dict(found or {})
        else:
            if found is not None:
                why = (
                    "its lease had expired"
                    if is_stale(found, now)
                    else "its call ended without releasing it"
                    if found.get("private")
                    else "its run is gone"
                )
                self.observations.append(f"took over the lock from {describe(found, now)} ({why})")
            lease = {
                "owner": request.owner or f"{request.operation}-{os.getpid()}-{secrets.token_hex(4)}",
                "operation": request.operation,
                "since": now,
                "controller": request.controller,
                "private": request.owner is None,
            }
        grace = request.grace
        lease.update(pid=os.getpid(), step=request.operation, expires=now + max(grace, 1.0), grace=grace)
        if request.controller and not lease.get("controller"):
            lease["controller"] = request.controller
        self._write(lease)
        self.lease = lease
        return lease

    def release(self, keep: bool) -> None:
        """End this call: keep the lease for the next call of the same run (refreshed), or drop it."""
        if self.fd is None:
            return
        try:
            if self.lease is not None:
                if keep:
                    self._write(dict(self.lease, pid=None, expires=self.clock() + float(self.lease.get("grace") or 1)))
                else:
                    self._write(None)
        finally:
            self.close()

    def close(self) -> None:
        if self.fd is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None

    def drop(self, owner: str, wait: float = DEFAULT_WAIT) -> dict:
        """Release the lease of *owner* (the last step of a run, its rescue path, or an operator ending a dead
        run's lease by its token). Another owner's lease is left alone and said so."""
        self.fd = self._open()
        deadline = self.monotonic() + max(0.0, wait)
        while not self._try_flock():
            if self.monotonic() >= deadline:
                found = read_lease(self.dir)
                self.close()
                raise LockBusy(describe(found and dict(found, expires=None), self.clock()), found)
            self.sleep(0.2)
        try:
            found = read_lease(self.dir)
            if found is None:
                return {"released": False, "lease": None, "reason": "no operation holds the host"}
            if found.get("owner") != owner:
                return {"released": False, "lease": found, "reason": describe(found, self.clock()) + "; not ours"}
            self._write(None)
            return {"released": True, "lease": found, "reason": None}
        finally:
            self.close()


def hold(ctx: HostContext, operation: str) -> OpLock | None:
    """Hold the host for the rest of this module call (a call that changes the host), with the lock options
    of the context (doc fragment opsiface.sendmail.lock); released when the call ends (``ctx.close``),
    keeping the run's lease when *lock_owner* is given, else dropping this call's own.

    Check mode takes no lock: it warns when another operation holds the host. A busy host is a
    ModuleError: nothing was done."""
    p = ctx.params
    if ctx.check_mode:
        held = read_lease(lock_dir(p.get("lock_dir")))
        if held is not None and held.get("owner") != p.get("lock_owner") and not is_stale(held, time.time()):
            ctx.warn("check mode: " + describe(held, time.time()) + "; a real run would wait for it")
        return None
    lock = OpLock(p.get("lock_dir"))
    try:
        lock.acquire(Request(operation, p.get("lock_owner"), p["lock_wait"], p["lock_grace"]))
    except (LockBusy, LockError) as exc:
        raise ModuleError(f"{operation} refused: {exc}; nothing was done") from exc
    except OSError as exc:
        raise ModuleError(f"{operation} refused: the operation lock: {exc}; nothing was done") from exc

    def release() -> None:
        try:
            lock.release(keep=bool(p.get("lock_owner")))
        except OSError:
            pass

    ctx.on_close(release)
    return lock


def lease(ctx: HostContext) -> dict:
    """sendmail_lock: take (``state=acquired``) or drop (``released``) the lease of a run of several calls."""
    p = ctx.params
    directory = lock_dir(p["lock_dir"])
    if ctx.check_mode:
        held = read_lease(directory)
        seen = [describe(held, time.time())] if held and held.get("owner") != p["owner"] else []
        return {"changed": False, "lease": held, "observations": seen}
    lock = OpLock(directory)
    try:
        if p["state"] == "released":
            done = lock.drop(p["owner"], p["wait"])
            notes = [done["reason"]] if done["reason"] else [f"released the lease of {p['owner']}"]
            return {
                "changed": done["released"],
                "released": done["released"],
                "lease": done["lease"],
                "observations": notes,
            }
        request = Request(p["operation"], p["owner"], p["wait"], p["grace"], p["controller"], p["break_owner"])
        taken = lock.acquire(request)
        lock.release(keep=True)
    except LockBusy as exc:
        raise ModuleError(f"{p['operation']} refused: {exc}; nothing was done", lease=exc.lease, busy=True) from exc
    except (LockError, OSError) as exc:
        raise ModuleError(f"the host's operation lock cannot be used: {exc}") from exc
    lock.observations.append(
        f"holds the host for {taken.get('operation')} (run {taken.get('owner')}) since "
        f"{iso(taken.get('since'))}; each step renews the lease for {p['grace']:g} s"
    )
    return {"changed": False, "lease": taken, "observations": lock.observations}
