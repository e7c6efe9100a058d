# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Acting on queued messages without ever losing one.

Targeted operations (flush, hold, release) are done by sendmail itself
(``-qI``, ``-Q``). Delete takes the lock sendmail takes on the control file
and skips any message it cannot lock; it moves files to a root-only trash
directory unless told to purge. Moving the whole queue aside is refused while
a daemon runs (op.me: the queue directory may only be manipulated as a whole
while sendmail is stopped).
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import time

from . import _crash
from ._queue import QueueError, _leaf_dirs, split_name
from ._runner import Runner
from ._text import clean

BATCH = 50


def sendmail_queue_args(queue: str, submit_config: str | None) -> list[str]:
    """Arguments that point sendmail at the MTA queue (-Am) or the MSP queue (-Ac)."""
    if queue == "msp":
        return ["-Ac"] + (["-C", submit_config] if submit_config else [])
    return ["-Am"]


def _in_batches(runner: Runner, base: list[str], queue_ids: list[str], timeout: float, limit: int) -> list[dict]:
    """Run *base* + one -qI<id> per queue ID, BATCH IDs per sendmail process."""
    runs = []
    for i in range(0, len(queue_ids), BATCH):
        batch = queue_ids[i : i + BATCH]
        res = runner.run([*base, *(f"-qI{qid}" for qid in batch)], timeout=timeout)
        runs.append(
            {
                "queue_ids": batch,
                "rc": res.rc,
                "timed_out": res.timed_out,
                "output": clean(res.stdout + res.stderr, limit),
            }
        )
    return runs


def flush(
    runner: Runner,
    sendmail: str,
    queue: str,
    queue_ids: list[str],
    verbose: bool,
    timeout: float,
    submit_config: str | None = None,
) -> list[dict]:
    """One delivery attempt for exactly these IDs (-qI per ID); with *verbose*, sendmail's transcript."""
    base = [sendmail, *sendmail_queue_args(queue, submit_config), *(["-v"] if verbose else [])]
    runs = _in_batches(runner, base, queue_ids, timeout, 16384)
    for run in runs:
        run["transcript"] = run.pop("output") if verbose else None
    return runs


def quarantine(
    runner: Runner,
    sendmail: str,
    queue: str,
    queue_ids: list[str],
    reason: str | None,
    timeout: float,
    submit_config: str | None = None,
) -> list[dict]:
    """Hold (-Q<reason>) or, with reason None, release (-qQ -Q) exactly these IDs."""
    base = [
        sendmail,
        *sendmail_queue_args(queue, submit_config),
        *(["-qQ", "-Q"] if reason is None else [f"-Q{reason}"]),
    ]
    return _in_batches(runner, base, queue_ids, timeout, 4096)


def ensure_private_dir(path: str) -> None:
    """Create *path* (and missing parents) 0700 root-only; refuse symlinks, world-writable parents and
    foreign owners (the same rules as for crash dumps and traces)."""
    try:
        _crash.safe_dir(path)
    except _crash.CrashError as exc:
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


def delete(queue_dirs: list[str], queue_ids: list[str], trash_dir: str | None, check_mode: bool) -> dict:
    """Delete (move to *trash_dir*, or unlink when None) messages that are not locked by sendmail."""
    wanted = set(queue_ids)
    done: list[str] = []
    locked: list[str] = []
    missing = set(wanted)
    errors: list[str] = []
    files: dict[str, list[tuple[str, str]]] = {}
    for qdir in queue_dirs:
        for directory in _leaf_dirs(qdir):
            try:
                names = os.listdir(directory)
            except OSError as exc:
                raise QueueError(f"{directory}: {exc.strerror}") from exc
            for name in names:
                parts = split_name(name)
                if parts and parts[1] in wanted:
                    files.setdefault(parts[1], []).append((parts[0], os.path.join(directory, name)))
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


def move_aside(queue_dir: str, daemon_running: bool, check_mode: bool, now: float | None = None) -> dict:
    """Rename the queue directory and recreate it empty with the same owner, group and mode.

    A queue directory that is a mount point (its own file system, common on mail
    servers) cannot be renamed: then its queue files are moved, by rename on the
    same file system, into a hidden ``.aside-<time>`` directory inside it, which
    sendmail does not read (it only reads names starting with qf, hf or Qf).
    """
    if daemon_running:
        raise QueueError(f"refusing to move {queue_dir} aside while the sendmail daemon runs; stop it first")
    st = os.lstat(queue_dir)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise QueueError(f"{queue_dir} is not a real directory; refusing to move it")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    mounted = os.path.ismount(queue_dir)
    new_path = os.path.join(queue_dir, f".aside-{stamp}") if mounted else f"{queue_dir.rstrip('/')}.aside-{stamp}"
    if os.path.lexists(new_path):
        raise QueueError(f"{new_path} exists already; refusing to overwrite it")
    subdirs = [
        (sub, os.lstat(os.path.join(queue_dir, sub)))
        for sub in ("qf", "df", "xf")
        if os.path.isdir(os.path.join(queue_dir, sub)) and not os.path.islink(os.path.join(queue_dir, sub))
    ]
    plan = {
        "queue_dir": queue_dir,
        "moved_to": new_path,
        "method": "files moved into a directory inside the mount point" if mounted else "directory renamed",
        "owner": st.st_uid,
        "group": st.st_gid,
        "mode": oct(stat.S_IMODE(st.st_mode)),
        "subdirectories": [sub for sub, _value in subdirs],
    }
    if check_mode:
        return plan
    if mounted:
        plan["files"] = _move_files_inside(queue_dir, new_path, st, subdirs)
        return plan
    os.rename(queue_dir, new_path)
    for path, attrs in [(queue_dir, st)] + [(os.path.join(queue_dir, sub), sst) for sub, sst in subdirs]:
        _mkdir_like(path, attrs)
    return plan


def _mkdir_like(path: str, attrs: os.stat_result) -> None:
    os.mkdir(path, 0o700)
    os.chown(path, attrs.st_uid, attrs.st_gid)
    os.chmod(path, stat.S_IMODE(attrs.st_mode))


def _move_files_inside(queue_dir: str, target: str, st: os.stat_result, subdirs: list) -> int:
    """Rename every queue file of *queue_dir* (and its qf/df/xf subdirectories) into *target*."""
    _mkdir_like(target, st)
    os.chmod(target, 0o700)
    moved = 0
    pairs = [(queue_dir, target)]
    for sub, sst in subdirs:
        _mkdir_like(os.path.join(target, sub), sst)
        pairs.append((os.path.join(queue_dir, sub), os.path.join(target, sub)))
    for src_dir, dst_dir in pairs:
        # control files first: interrupted half-way, a data file is left behind, never a qf without its df
        for name in sorted(os.listdir(src_dir), key=lambda n: (n[:2] not in ("qf", "hf", "Qf"), n)):
            path = os.path.join(src_dir, name)
            if split_name(name) is None or not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            os.rename(path, os.path.join(dst_dir, name))
            moved += 1
    return moved
