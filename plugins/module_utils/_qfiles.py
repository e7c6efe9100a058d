# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Queue directories and files: where they are, and which files may be read and how.

A queue file is read only if it looks like one sendmail wrote (:func:`read_control`):
a regular file, not a link to one (link count 1), owned by root, by us or by a
queue directory's owner (sendmail's RunAsUser/TrustedUser; Debian's smmta and
smmsp), not world-writable and not larger than any control file. Anything else
named like a queue file (a hard link to a root-only file, a file of another
user, a symlink, a FIFO) is reported by name and never read, so its contents
never reach a listing or a summary.
"""

from __future__ import annotations

import glob
import os
import pwd
import stat

READ_LIMIT = 64 * 1024  # the most read of one control file: the summary's lines come first
QF_MAX_BYTES = 16 * 1024 * 1024  # a control file larger than this is not one sendmail wrote
REG = stat.S_IFREG
_RFLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)


def expand_queue_dirs(queue_directory: str, queue_groups: list[dict] | None = None) -> list[str]:
    """QueueDirectory (may end in '*': qd* directories) plus queue-group paths, deduplicated."""
    patterns = [queue_directory]
    for group in queue_groups or []:
        path = group.get("Path") or group.get("P")
        if path:
            patterns.append(path)
    dirs: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if "*" in pattern else [pattern]
        for path in matches:
            if path not in dirs:
                dirs.append(path)
    return dirs


def leaf_dirs(qdir: str) -> list[str]:
    """A queue directory and its qf/df/xf subdirectories (real directories only, no symlinks)."""
    dirs = [qdir]
    for sub in ("qf", "df", "xf"):
        path = os.path.join(qdir, sub)
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                dirs.append(path)
        except OSError:
            pass
    return dirs


def read_regular(path: str, limit: int = READ_LIMIT) -> tuple[bytes | None, int, str | None]:
    """Read up to *limit* bytes of a regular file without following links or blocking.

    Returns (data, size, problem). data is None when the file is not read.
    """
    try:
        fd = os.open(path, _RFLAGS)
    except FileNotFoundError:
        return None, 0, "vanished"
    except OSError as exc:
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            mode = stat.S_IFREG
        if stat.S_ISLNK(mode):
            return None, 0, "symlink"
        if not stat.S_ISREG(mode):
            return None, 0, "not a regular file"  # a socket, device, ... (a FIFO opens, non-blocking)
        return None, 0, f"cannot open: {exc.strerror}"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, st.st_size, "not a regular file"
        data = os.read(fd, limit)
        return data, st.st_size, None
    except OSError as exc:
        return None, 0, f"cannot read: {exc.strerror}"
    finally:
        os.close(fd)


def queue_owners(directories: list[str]) -> frozenset[int]:
    """The users a queue file may belong to: root, us, each queue directory's owner, smmta and smmsp."""
    owners = {0, os.geteuid()}
    for path in directories:
        try:
            owners.add(os.stat(path).st_uid)
        except OSError:
            pass
    for user in ("smmta", "smmsp"):
        try:
            owners.add(pwd.getpwnam(user).pw_uid)
        except KeyError:
            pass
    return frozenset(owners)


def foreign(st: os.stat_result, owners: frozenset[int]) -> str | None:
    """Why a regular file named like a control file is not one sendmail wrote, or None."""
    if st.st_uid not in owners:
        return f"owner uid {st.st_uid} is not root or the queue's"
    if st.st_nlink != 1:
        return f"{st.st_nlink} hard links (sendmail's control files have one)"
    if st.st_mode & 0o002:
        return "world-writable"
    if st.st_size > QF_MAX_BYTES:
        return f"{st.st_size} bytes, larger than any control file"
    return None


def _not_opened(ref: str, dir_fd: int | None, exc: OSError) -> tuple[str, str]:
    try:
        mode = os.stat(ref, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except OSError:
        mode = REG
    if mode & 0o170000 == 0o120000:
        return "not_regular", "symlink"
    if mode & 0o170000 != REG:
        return "not_regular", "not a regular file"  # a socket, device, ... (a FIFO opens, non-blocking)
    return "unreadable", f"cannot open: {exc.strerror}"


def read_control(ref: str, dir_fd: int | None, owners: frozenset[int], limit: int = READ_LIMIT) -> tuple:
    """(data, stat, None, None) for a control file that looks like sendmail's (at most *limit* bytes read),
    else (None, stat or None, anomaly kind, detail), kind 'vanished' for one gone meanwhile.

    Opened without following links or blocking, checked on the open descriptor (no race)."""
    try:
        fd = os.open(ref, _RFLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return None, None, "vanished", None
    except OSError as exc:
        return (None, None, *_not_opened(ref, dir_fd, exc))
    try:
        st = os.fstat(fd)
        if st.st_mode & 0o170000 != REG:
            return None, st, "not_regular", "not a regular file"
        why = foreign(st, owners)
        if why:
            return None, st, "foreign_qf", why
        return (os.read(fd, min(st.st_size, limit)) if st.st_size else b""), st, None, None
    except OSError as exc:
        return None, None, "unreadable", f"cannot read: {exc.strerror}"
    finally:
        os.close(fd)
