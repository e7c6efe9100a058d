# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing files into a directory that someone else might also reach, without following their links.

Used by the controller-side report (``fleet_report``) and meant for anything else that writes
files by name: a directory is opened once (never through a symlink), checked to be ours and
writable by no one else, and every later operation is relative to that open directory, so a
directory renamed or swapped afterwards cannot redirect a write. Files are created exclusively
under unpredictable temporary names and renamed into place; appends never follow a link and
refuse a file that is not a plain, singly-linked file of ours.
"""

from __future__ import annotations

import os
import secrets
import stat

from ._text import clean

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class UnsafePath(Exception):
    """A directory or file that must not be written; the message names it, its mode and its owner."""


def _describe(st: os.stat_result) -> str:
    return f"mode {stat.S_IMODE(st.st_mode):04o}, owner uid {st.st_uid}"


def check_dir_stat(path: str, st: os.stat_result, me: int | None = None) -> None:
    """A directory we write into: a real directory, owned by us, that group and others cannot write."""
    me = os.geteuid() if me is None else me
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{clean(path)} is not a directory (a symlink or another file); refusing to write into it")
    if st.st_uid != me:
        raise UnsafePath(
            f"{clean(path)} is owned by another user ({_describe(st)}, we are uid {me}); refusing to write into it"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafePath(
            f"{clean(path)} can be written by other users ({_describe(st)}); refusing to write into it "
            "(another user could plant links or files there): use a directory only you can write"
        )


def open_dir(path: str, create: bool = True, mode: int = 0o755, parent_fd: int | None = None) -> int:
    """Open *path* (or the name *path* inside *parent_fd*) as a directory fd, creating it (with its
    missing parents, when *parent_fd* is None) if asked. The last component is never followed
    through a symlink; the directory must pass :func:`check_dir_stat`. The caller closes the fd."""
    if parent_fd is None:
        path = os.path.abspath(path)
        if create:
            parent = os.path.dirname(path)
            if not os.path.isdir(parent):
                os.makedirs(parent, mode)
    for _attempt in range(2):
        try:
            fd = os.open(path, _DIR_FLAGS, dir_fd=parent_fd)
            break
        except FileNotFoundError:
            if not create:
                raise
            try:
                os.mkdir(path, mode, dir_fd=parent_fd)
            except FileExistsError:
                pass  # made meanwhile by someone: opened and checked like any existing one
        except OSError as exc:
            raise UnsafePath(
                f"{clean(path)} cannot be opened as a directory without following a link: {exc.strerror}"
            ) from exc
    else:  # pragma: no cover - created and gone again twice
        raise UnsafePath(f"{clean(path)} keeps disappearing")
    try:
        check_dir_stat(path, os.fstat(fd))
    except UnsafePath:
        os.close(fd)
        raise
    return fd


def write_file(dir_fd: int, name: str, data: bytes, mode: int = 0o644, sync: bool = True) -> None:
    """Write *name* in the directory *dir_fd* whole or not at all: an exclusive, unpredictable temporary
    name, then a rename over the old file (a link planted under the final name is replaced, never followed).
    With *sync* false the data is not forced to disk before the rename (thousands of small files: the caller
    syncs the directory once, see :func:`sync_dir`)."""
    _plain_name(name)
    tmp = f".{name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, _NEW_FLAGS, mode, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        _unlink_quietly(dir_fd, tmp)
        raise


def sync_dir(dir_fd: int) -> None:
    """Force the directory's entries (the renames into it) to disk. The files' data is not forced: a file
    replaced by rename on ext4 (auto_da_alloc) and XFS is flushed before the rename is; elsewhere a crash
    right after the run may leave a file of this run empty, never one of someone else's."""
    os.fsync(dir_fd)


def append_file(dir_fd: int, name: str, data: bytes, mode: int = 0o644) -> None:
    """Append *data* to *name* in *dir_fd* in one write, creating it if missing; a symlink, a hard link
    (link count above 1), a file of another user or anything but a regular file is refused."""
    _plain_name(name)
    try:
        fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, mode, dir_fd=dir_fd)
    except OSError as exc:
        raise UnsafePath(f"{clean(name)} cannot be opened for append without following a link: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_uid != os.geteuid():
            raise UnsafePath(
                f"{clean(name)} is not a plain file of ours (a hard link, another user's file or not a regular "
                f"file: {_describe(st)}, {st.st_nlink} links); refusing to append to it"
            )
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def read_file(dir_fd: int, name: str, limit: int = 64 * 1024 * 1024) -> bytes | None:
    """The bytes of the regular file *name* in *dir_fd*, not through a link; None when it is missing,
    not a regular file, or larger than *limit*."""
    _plain_name(name)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def replace_symlink(dir_fd: int, name: str, target: str) -> None:
    """Point the symlink *name* in *dir_fd* at *target* atomically (a new link under an unpredictable
    name, renamed over the old one). Anything but a symlink under *name* (a directory, a file) is refused."""
    _plain_name(name)
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISLNK(st.st_mode):
        raise UnsafePath(f"{clean(name)} exists and is not a symlink ({_describe(st)}); not replacing it")
    tmp = f".{name}.{secrets.token_hex(8)}.tmp"
    os.symlink(target, tmp, dir_fd=dir_fd)
    try:
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        _unlink_quietly(dir_fd, tmp)
        raise


def _unlink_quietly(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def _plain_name(name: str) -> None:
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        raise UnsafePath(f"{clean(name)!r} is not a plain file name")
