# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Acting on queued messages without ever losing one or delivering one twice.

Targeted operations (flush, hold, release) are done by sendmail itself
(``-qI``, ``-Q``). Delete and move-aside take the lock sendmail takes on the
control file and skip any message they cannot lock (a queue runner is
delivering it); delete moves files to a root-only trash directory unless told
to purge. Moving the queue aside is refused while a daemon runs (op.me: the
queue directory may only be manipulated as a whole while sendmail is stopped),
covers every queue directory, and moves each message so that no directory
ever holds a control file without its data file.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import time
from typing import TYPE_CHECKING

from . import _privdir, _process
from ._queue import QueueError, _leaf_dirs, parse_qf, queue_owners, read_control, split_name
from ._runner import Runner
from ._text import clean, clean_lines

if TYPE_CHECKING:
    from ._context import HostContext

BATCH = 50


def sendmail_queue_args(queue: str, submit_config: str | None) -> list[str]:
    """Arguments that point sendmail at the MTA queue (-Am) or the MSP queue (-Ac)."""
    if queue == "msp":
        return ["-Ac"] + (["-C", submit_config] if submit_config else [])
    return ["-Am"]


def _in_batches(runner: Runner, base: list[str], queue_ids: list[str], timeout: float, limit: int) -> list[dict]:
    """Run *base* + one -qI<id> per queue ID, BATCH IDs per sendmail process; the output as text and as
    lines (``output_lines``, like Ansible's ``stdout_lines``)."""
    runs = []
    for i in range(0, len(queue_ids), BATCH):
        batch = queue_ids[i : i + BATCH]
        res = runner.run([*base, *(f"-qI{qid}" for qid in batch)], timeout=timeout)
        lines = clean_lines(res.stdout + res.stderr, limit)
        runs.append(
            {
                "queue_ids": batch,
                "rc": res.rc,
                "timed_out": res.timed_out,
                "output": "\n".join(lines),
                "output_lines": lines,
            }
        )
    return runs


def flush(ctx: HostContext, queue: str, queue_ids: list[str], verbose: bool = False) -> list[dict]:
    """One delivery attempt for exactly these IDs (-qI per ID); with *verbose*, sendmail's transcript
    (``transcript``, and ``transcript_lines``)."""
    base = [ctx.sendmail, *sendmail_queue_args(queue, ctx.params.get("submit_config_path"))]
    runs = _in_batches(ctx.runner, base + (["-v"] if verbose else []), queue_ids, ctx.command_timeout, 16384)
    for run in runs:
        run["transcript"] = run.pop("output") if verbose else None
        run["transcript_lines"] = run.pop("output_lines") if verbose else []
    return runs


def quarantine(ctx: HostContext, queue: str, queue_ids: list[str], reason: str | None) -> list[dict]:
    """Hold (-Q<reason>) or, with reason None, release (-qQ -Q) exactly these IDs."""
    base = [
        ctx.sendmail,
        *sendmail_queue_args(queue, ctx.params.get("submit_config_path")),
        *(["-qQ", "-Q"] if reason is None else [f"-Q{reason}"]),
    ]
    return _in_batches(ctx.runner, base, queue_ids, ctx.command_timeout, 4096)


def ensure_private_dir(path: str) -> None:
    """Create *path* (and missing parents) 0700 root-only; refuse symlinks, world-writable parents and
    foreign owners (the same rules as for crash dumps and traces)."""
    try:
        _privdir.safe_dir(path)
    except _privdir.UnsafeDir as exc:
        raise QueueError(str(exc)) from exc


def _lock(fd: int) -> bool:
    """Take sendmail's lock on a control file without waiting: flock and fcntl both."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        fcntl.flock(fd, fcntl.LOCK_UN)
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


def _copy_to_trash(paths: list[str], target: str) -> None:
    """Put a copy of every file of one message in *target* (hard link on the same file
    system, else a synced copy) before any original is removed. On failure, the copies
    made so far are removed again and the originals are untouched."""
    made: list[str] = []
    try:
        for path in paths:
            dest = os.path.join(target, os.path.basename(path))
            try:
                os.link(path, dest, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                    raise
                tmp = dest + ".partial"
                made.append(tmp)
                shutil.copyfile(path, tmp, follow_symlinks=False)
                with open(tmp, "rb") as fh:
                    os.fsync(fh.fileno())
                os.chmod(tmp, 0o600)
                os.rename(tmp, dest)
                made.remove(tmp)
            made.append(dest)
    except OSError:
        for done in made:
            try:
                os.unlink(done)
            except OSError:
                pass
        raise


def _queue_files(directories: list[str], wanted: set[str] | None = None) -> dict[str, list[tuple[str, str]]]:
    """{queue ID: [(kind, path), ...]} of the queue files in *directories* (only *wanted* IDs, when given)."""
    files: dict[str, list[tuple[str, str]]] = {}
    for directory in directories:
        try:
            names = os.listdir(directory)
        except OSError as exc:
            raise QueueError(f"{clean(directory)}: {exc.strerror}") from exc
        for name in names:
            parts = split_name(name)
            if parts and (wanted is None or parts[1] in wanted):
                files.setdefault(parts[1], []).append((parts[0], os.path.join(directory, name)))
    return files


def delete(queue_dirs: list[str], queue_ids: list[str], trash_dir: str | None, check_mode: bool) -> dict:
    """Delete (move to *trash_dir*, or unlink when None) messages that are not locked by sendmail."""
    wanted = set(queue_ids)
    done: list[str] = []
    locked: list[str] = []
    missing = set(wanted)
    errors: list[str] = []
    files = _queue_files([d for qdir in queue_dirs for d in _leaf_dirs(qdir)], wanted)
    target = None
    if trash_dir and not check_mode and files:
        target = os.path.join(trash_dir, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
        ensure_private_dir(trash_dir)  # checked with lstat: a symlinked trash_dir is refused
        ensure_private_dir(target)
    for qid, entries in sorted(files.items()):
        kinds = dict(entries)
        control = kinds.get("qf") or kinds.get("hf") or kinds.get("Qf")
        if control is None:
            errors.append(f"{qid}: no control file (only {', '.join(sorted(kinds))}); left alone")
            continue
        missing.discard(qid)
        try:
            fd = os.open(control, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            errors.append(f"{qid}: cannot open {clean(control)}: {exc.strerror}")
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                errors.append(f"{qid}: {clean(control)} is not a regular file; left alone")
                continue
            if not _lock(fd):
                locked.append(qid)
                continue
            if check_mode:
                done.append(qid)
                continue
            paths = [kinds[k] for k in ("qf", "hf", "Qf", "tf", "df", "xf") if k in kinds]
            try:
                if target:
                    _copy_to_trash(paths, target)
                # Control file first: once it is gone sendmail cannot pick the message up.
                for path in paths:
                    os.unlink(path)
            except OSError as exc:
                errors.append(f"{qid}: {exc.strerror or exc}; the message was left in the queue")
                continue
            done.append(qid)
        finally:
            os.close(fd)
    return {
        "deleted": done,
        "locked": locked,
        "not_found": sorted(missing),
        "errors": errors,
        "trash_dir": target,
    }


# ------------------------------------------------------------------ move aside
CONTROL_KINDS = ("qf", "hf", "Qf")
SUBDIRS = ("qf", "df", "xf")


def sendmail_serves(path: str, pattern: str) -> bool:
    """Whether sendmail takes *path* as a queue directory for *pattern* (a QueueDirectory or a queue
    group's path). A pattern ending in ``*`` stands for every entry of its directory whose name starts
    with the part before the ``*``, names starting with a dot included: sendmail's multiqueue_cache
    compares prefixes, it does not glob."""
    path = os.path.normpath(path)
    if pattern.endswith("*"):
        base, prefix = os.path.split(pattern[:-1])
        parent, name = os.path.split(path)
        return os.path.normpath(base or "/") == parent and name.startswith(prefix)
    return os.path.normpath(pattern) == path


def aside_target(queue_dir: str, stamp: str, patterns: list[str], beside: bool) -> tuple[str, str]:
    """Where *queue_dir*'s messages go: ``<dir>.aside-<stamp>`` beside it when that is on the same file
    system (*beside*) and no pattern of *patterns* serves that name, else ``<dir>/.aside-<stamp>`` inside
    it (sendmail reads no subdirectory of a queue directory but qf, df and xf). Returns (path, method)."""
    candidates = [(os.path.join(queue_dir, f".aside-{stamp}"), "inside")]
    if beside:
        candidates.insert(0, (f"{queue_dir.rstrip('/')}.aside-{stamp}", "beside"))
    for path, method in candidates:
        if not any(sendmail_serves(path, pattern) for pattern in patterns):
            return path, method
    raise QueueError(
        f"every name to move {clean(queue_dir)} aside to ({', '.join(clean(p) for p, _m in candidates)}) is a "
        f"queue directory sendmail would serve ({', '.join(clean(p) for p in patterns)}); refusing"
    )


def move_steps(kinds: list[str]) -> list[tuple[str, str]] | str:
    """How one message (the kinds of its files, one file each) moves so that no directory ever holds its
    control file without its data file, wherever the move is interrupted: the data file is linked into
    the target first, then the control file is renamed (the message moves in that one step), then the
    data file's old name is removed; transcript and temporary files follow. A string says why the
    message stays where it is."""
    controls = [k for k in CONTROL_KINDS if k in kinds]
    if not controls:
        return "no control file"
    if len(controls) > 1:
        return f"several control files ({', '.join(controls)})"
    if "df" not in kinds:
        return "no data file beside its control file (it may be in another queue directory)"
    steps = [("link", "df"), ("rename", controls[0]), ("unlink", "df")]
    return steps + [("rename", k) for k in ("xf", "tf") if k in kinds]


def parse_proc_locks(text: str) -> dict[tuple[int, int], list[int]]:
    """/proc/locks to {(device, inode): [PIDs holding a lock on it]}. Waiters (``->``) and open file
    description locks (PID -1) are left out."""
    held: dict[tuple[int, int], list[int]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[1] == "->":
            continue
        try:
            pid = int(fields[4])
            major, minor, inode = fields[5].split(":")
            key = (os.makedev(int(major, 16), int(minor, 16)), int(inode))
        except (ValueError, OverflowError):
            continue
        if pid > 0:
            held.setdefault(key, []).append(pid)
    return held


def lock_holders(proc_root: str = "/proc") -> dict[tuple[int, int], list[int]]:
    try:
        with open(os.path.join(proc_root, "locks"), encoding="ascii", errors="replace") as fh:
            return parse_proc_locks(fh.read(8 * 1024 * 1024))
    except OSError:
        return {}


def queue_processes(directories: list[str], proc_root: str = "/proc") -> list[dict] | None:
    """The sendmail processes (but this one and a listener) working in one of *directories*: sendmail
    changes into its queue directory, so a queue runner, a delivery or an SMTP session has it as its
    working directory; a queue runner also names it in its title (``running queue: <dir>``). None where
    there is no /proc to read."""
    if not os.path.isdir(os.path.join(proc_root, "self")):
        return None
    wanted = {os.path.realpath(d) for d in directories}
    found = []
    for proc in _process.read_linux_processes(proc_root):
        if proc.pid == os.getpid() or proc.state == "Z" or _process.role_of(proc) == "listener":
            continue
        try:
            cwd = os.readlink(os.path.join(proc_root, str(proc.pid), "cwd"))
        except OSError:
            cwd = ""
        titled = proc.args.partition("running queue: ")[2].split(" ")[0].rstrip("/")
        if cwd in wanted or (titled and titled in wanted):
            found.append({"pid": proc.pid, "title": clean(proc.args, 200), "directory": clean(cwd or titled)})
    return found


def move_aside(
    queue_dirs: list[str],
    patterns: list[str],
    daemon_running: bool,
    check_mode: bool,
    now: float | None = None,
    proc_root: str = "/proc",
) -> dict:
    """Take every message of *queue_dirs* out of service: move it into a directory per queue directory
    that sendmail does not serve (none of *patterns* matches it), where ``sendmail -oQ<dir> -q`` can run it.

    Each message moves under sendmail's own lock on its control file: a message another process holds
    locked (a queue runner delivering it, a session still writing it) stays where it is and is named with
    the PIDs that hold it. A runner that opened a control file before it moved finds it gone when it
    checks after locking (sendmail's readqf compares the name with the file it locked), so nothing is
    delivered twice. Every directory is planned and checked before anything moves.
    """
    if daemon_running:
        raise QueueError("refusing to move the queue aside while the sendmail daemon runs; stop it first")
    if not queue_dirs:
        raise QueueError("no queue directory to move aside")
    when = time.time() if now is None else now
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
    plans = [_plan_directory(qdir, stamp, patterns) for qdir in queue_dirs]
    bases = [os.path.dirname(p[:-1]) for p in patterns if p.endswith("*")]
    processes = queue_processes(list(queue_dirs) + bases, proc_root)
    holders: dict | None = None
    for plan in plans:
        locked_before = len(plan["locked"])
        _move_directory(plan, check_mode)
        if len(plan["locked"]) > locked_before and holders is None:
            holders = lock_holders(proc_root)
        for entry in plan["locked"]:
            key = entry.pop("_key", None)
            if key is not None:
                entry["held_by"] = [
                    {"pid": pid, "title": clean(_process.read_proc_comm_args(proc_root, pid) or "?", 200)}
                    for pid in (holders or {}).get(key, [])
                ]
    directories = [{k: v for k, v in plan.items() if not k.startswith("_")} for plan in plans]
    return {
        "directories": directories,
        "aside_dirs": [d["moved_to"] for d in directories if d["created"]],
        "messages_moved": sum(len(d["moved"]) for d in directories),
        "messages_locked": sum(len(d["locked"]) for d in directories),
        "messages_left": sum(len(d["left"]) for d in directories),
        "processes": processes,
        "started_at": when,
    }


def _plan_directory(queue_dir: str, stamp: str, patterns: list[str]) -> dict:
    st = os.lstat(queue_dir)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise QueueError(f"{clean(queue_dir)} is not a real directory; refusing to move it")
    parent = os.path.dirname(os.path.normpath(queue_dir)) or "/"
    target, method = aside_target(queue_dir, stamp, patterns, os.stat(parent).st_dev == st.st_dev)
    if os.path.lexists(target):
        raise QueueError(f"{clean(target)} exists already; refusing to overwrite it")
    subs = []
    for sub in SUBDIRS:
        path = os.path.join(queue_dir, sub)
        try:
            sst = os.lstat(path)
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(sst.st_mode):
            continue  # a symlink or file named like a subdirectory: not sendmail's, not ours to move
        if sst.st_dev != st.st_dev:
            raise QueueError(
                f"{clean(path)} is another file system than {clean(queue_dir)}: its files cannot be moved "
                "without copying; refusing"
            )
        subs.append((sub, sst))
    return {
        "queue_dir": queue_dir,
        "moved_to": target,
        "method": "beside the queue directory" if method == "beside" else "inside the queue directory",
        "created": False,
        "owner": st.st_uid,
        "group": st.st_gid,
        "mode": oct(stat.S_IMODE(st.st_mode)),
        "subdirectories": [sub for sub, _sst in subs],
        "moved": [],
        "locked": [],
        "left": [],
        "errors": [],
        "orphan_files": 0,
        "_st": st,
        "_subs": subs,
    }


def _move_directory(plan: dict, check_mode: bool) -> None:
    qdir, target = plan["queue_dir"], plan["moved_to"]
    leaves = [qdir] + [os.path.join(qdir, sub) for sub in plan["subdirectories"]]
    for qid, entries in sorted(_queue_files(leaves).items()):
        kinds: dict[str, str] = dict(entries)
        steps = move_steps(list(kinds))
        if isinstance(steps, str):
            if any(k in kinds for k in CONTROL_KINDS):
                plan["left"].append({"queue_id": qid, "why": steps})
            else:
                plan["orphan_files"] += len(entries)
            continue
        if len(kinds) < len(entries):
            plan["left"].append({"queue_id": qid, "why": "more than one file of a kind"})
            continue
        paths = {kind: (path, os.path.join(target, os.path.relpath(path, qdir))) for kind, path in kinds.items()}
        control = steps[1][1]
        try:
            fd = os.open(paths[control][0], os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            plan["left"].append({"queue_id": qid, "why": f"cannot open {control}{qid}: {exc.strerror}"})
            continue
        try:
            fst = os.fstat(fd)
            if not stat.S_ISREG(fst.st_mode) or not stat.S_ISREG(os.lstat(paths["df"][0]).st_mode):
                plan["left"].append({"queue_id": qid, "why": "a file of it is not a regular file"})
                continue
            if not _lock(fd):
                plan["locked"].append({"queue_id": qid, "_key": (fst.st_dev, fst.st_ino)})
                continue
            now_st = os.lstat(paths[control][0])
            if (now_st.st_dev, now_st.st_ino) != (fst.st_dev, fst.st_ino):
                plan["locked"].append({"queue_id": qid, "why": "rewritten by sendmail while it was being locked"})
                continue
            if check_mode:
                plan["moved"].append(qid)
                continue
            if not plan["created"]:
                _make_target(plan)
            problem = _run_steps(steps, paths)
            if problem is None:
                plan["moved"].append(qid)
            elif problem.startswith("moved"):
                plan["moved"].append(qid)
                plan["errors"].append(f"{qid}: {problem}")
            else:
                plan["errors"].append(f"{qid}: {problem}")
        except OSError as exc:
            plan["errors"].append(f"{qid}: {exc.strerror or exc}; left in the queue")
        finally:
            os.close(fd)
    if plan["created"]:
        for sub in [""] + plan["subdirectories"]:
            for directory in (os.path.join(qdir, sub), os.path.join(target, sub)):
                _fsync_dir(directory)


def _run_steps(steps: list[tuple[str, str]], paths: dict[str, tuple[str, str]]) -> str | None:
    """Do the steps of :func:`move_steps` (*paths*: kind to (source, target)); None when all were done, else
    what happened."""
    kind = steps[0][1]
    try:
        os.link(*paths[kind], follow_symlinks=False)
    except OSError as exc:
        return f"cannot link {kind} into the aside directory: {exc.strerror}; left in the queue"
    control = steps[1][1]
    try:
        os.rename(*paths[control])
    except OSError as exc:
        try:
            os.unlink(paths[kind][1])
        except OSError:
            pass
        return f"cannot move {control}: {exc.strerror}; left in the queue"
    try:
        os.unlink(paths[kind][0])
    except OSError as exc:
        return f"moved, but the data file's old name stays in the queue (an orphan df): {exc.strerror}"
    for _action, kind in steps[3:]:
        try:
            os.rename(*paths[kind])
        except OSError as exc:
            return f"moved, but its {kind} file stays in the queue: {exc.strerror}"
    return None


def _make_target(plan: dict) -> None:
    """The aside directory and its qf/df/xf subdirectories, with the owner, group and mode of the
    queue directory's (sendmail can run it as it is)."""
    _mkdir_like(plan["moved_to"], plan["_st"])
    plan["created"] = True
    for sub, sst in plan["_subs"]:
        _mkdir_like(os.path.join(plan["moved_to"], sub), sst)


def _mkdir_like(path: str, attrs: os.stat_result) -> None:
    os.mkdir(path, 0o700)
    os.chown(path, attrs.st_uid, attrs.st_gid)
    os.chmod(path, stat.S_IMODE(attrs.st_mode))


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def describe_move(moved: dict, check_mode: bool) -> tuple[list[str], list[str], str]:
    """The report's actions, the warnings and a one-line observation for a :func:`move_aside` result."""
    actions: list[str] = []
    warnings: list[str] = []
    verb = "would move" if check_mode else "moved"
    observation = (
        f"{len(moved['directories'])} queue director{'y' if len(moved['directories']) == 1 else 'ies'}: "
        f"{moved['messages_moved']} message(s) {verb} aside, {moved['messages_locked']} left in the queue because "
        f"a process holds them locked, {moved['messages_left']} left otherwise"
    )
    for d in moved["directories"]:
        qdir = clean(d["queue_dir"])
        if d["moved"]:
            actions.append(
                f"{verb} {len(d['moved'])} message(s) from {qdir} to {clean(d['moved_to'])} ({d['method']}, owner "
                f"{d['owner']}, group {d['group']}, mode {d['mode']}; run them with sendmail -oQ{clean(d['moved_to'])} -q)"
                + (" (check mode: nothing moved)" if check_mode else "")
            )
        else:
            why = "none of its messages could be moved (below)" if d["locked"] or d["left"] else "it holds no message"
            actions.append(f"nothing {'to move' if check_mode else 'moved'} from {qdir}: {why}")
        if d["locked"]:
            held = []
            for entry in d["locked"][:10]:
                holders = ", ".join(f"pid {h['pid']} ({h['title']})" for h in entry.get("held_by") or [])
                held.append(f"{entry['queue_id']} ({holders or entry.get('why') or 'holder unknown'})")
            text = (
                f"left {len(d['locked'])} message(s) in {qdir} that another process holds locked (being delivered "
                f"or written; moving them would deliver them twice): {', '.join(held)}"
            )
            actions.append(text)
            warnings.append(text)
        if d["left"]:
            text = f"left {len(d['left'])} message(s) in {qdir}: " + ", ".join(
                f"{e['queue_id']} ({e['why']})" for e in d["left"][:10]
            )
            actions.append(text)
            warnings.append(text)
        if d["orphan_files"]:
            actions.append(f"left {d['orphan_files']} file(s) without a control file in {qdir} (no message in service)")
    if moved["processes"]:
        warnings.append(
            "sendmail processes still work in the queue directory: "
            + ", ".join(f"pid {p['pid']} ({p['title']})" for p in moved["processes"][:10])
        )
    return actions, warnings, observation


def find_message(queue_dirs: list[str], queue_id: str, proc_root: str = "/proc") -> dict:
    """Where one message is in the queue and what state it is in, without taking its lock (a peek must
    not make a runner skip it): "being_delivered" (a process holds its lock, named in "held_by"),
    "quarantined", "deferred" (tried, with the "reason" of the last attempt), "queued" (not tried yet)
    or "absent"."""
    owners = queue_owners(queue_dirs)
    for qdir in queue_dirs:
        for directory in _leaf_dirs(qdir):
            for kind in CONTROL_KINDS:
                path = os.path.join(directory, kind + queue_id)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                # only a control file that looks like sendmail's is read (a hard link named like one is not)
                data, _stat, problem, detail = read_control(path, None, owners)
                if problem and detail:
                    problem = f"{problem}: {detail}"
                qf = parse_qf(data or b"", queue_id, kind)
                pids = lock_holders(proc_root).get((st.st_dev, st.st_ino), [])
                held_by = [
                    {"pid": pid, "title": clean(_process.read_proc_comm_args(proc_root, pid) or "?", 200)}
                    for pid in pids
                ]
                if held_by:
                    state = "being_delivered"
                elif kind == "hf" or qf.quarantine:
                    state = "quarantined"
                elif qf.attempts or qf.reason:
                    state = "deferred"
                else:
                    state = "queued"
                return {
                    "state": state,
                    "path": clean(path),
                    "reason": qf.reason or qf.quarantine or problem,
                    "attempts": qf.attempts,
                    "held_by": held_by,
                }
    return {"state": "absent"}
