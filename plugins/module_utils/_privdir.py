# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one guard of every directory the collection writes into on a managed host: :func:`safe_dir`.

Dumps, traces, the queue trash, the queue cache and the operation lock live in directories that are
created here without following symlinks, or used only if they already are private directories of
ours. A file of its own so that a call that only needs the guard (the health check's queue cache)
does not compile the crash dump's code.
"""

from __future__ import annotations

import os
import stat

from ._text import clean


class UnsafeDir(Exception):
    """A directory refused; the message names it, its mode and owner, and why."""


def _owner_mode(st: os.stat_result) -> str:
    return f"mode {stat.S_IMODE(st.st_mode):04o}, owner uid {st.st_uid}"


def safe_dir(path: str, create: bool = True) -> list[str]:
    """Make sure *path* is a private directory of ours, creating what is missing; never change what exists.

    Each component is checked with lstat, none is followed: no symlink; every existing parent is a
    directory owned by root or by us that no one else may write (group- or world-writable ones are
    refused, sticky or not: a dump, trace, trash or cache never lives under /tmp-like directories).
    Missing components are created (parents 0755, the last one 0700), owned by us. An existing last
    component is accepted only if it already is private: a real directory owned by us, with no access
    for group or others. Nothing that exists is ever chmod'ed or chown'ed: a guard checks and refuses,
    it does not repair (``dir=/var/spool`` must never leave /var/spool 0700).

    With *create* false (check mode) the components that exist are checked and nothing is made.
    Returns the directories created. Used for dumps, traces, the queue trash, the queue cache and the
    operation lock."""
    if not isinstance(path, str) or not os.path.isabs(path) or "\0" in path:
        raise UnsafeDir(f"{clean(str(path))!r} is not an absolute path")
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise UnsafeDir(f"refusing {clean(path)!r}: name a directory below / without '.' or '..' components")
    me = os.geteuid()
    current = "/"
    created: list[str] = []
    for index, part in enumerate(parts):
        parent_st = os.lstat(current)
        current = os.path.join(current, part)
        last = index == len(parts) - 1
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            if not create:
                return created
            _check_parent(os.path.dirname(current), parent_st, me)
            os.mkdir(current, 0o700 if last else 0o755)
            created.append(current)
            st = os.lstat(current)
        if stat.S_ISLNK(st.st_mode):
            raise UnsafeDir(f"{clean(current)} is a symlink; refusing to use it")
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeDir(f"{clean(current)} is not a directory; refusing to use it")
        if not last:
            _check_parent(current, st, me)
        elif st.st_uid != me or st.st_mode & 0o077:
            raise UnsafeDir(
                f"{clean(current)} exists and is not a private directory of ours ({_owner_mode(st)}); refusing to use "
                f"it and leaving it as it is: name a directory that does not exist yet (it is created 0700), or one "
                f"that already is 0700 and owned by uid {me}"
            )
    return created


def _check_parent(path: str, st: os.stat_result, me: int) -> None:
    """A directory above ours: owned by root or us, writable by no one else (else it could swap ours)."""
    if st.st_mode & stat.S_IWOTH:
        raise UnsafeDir(f"{clean(path)} is world-writable ({_owner_mode(st)}); refusing to use anything under it")
    if st.st_mode & stat.S_IWGRP:
        raise UnsafeDir(f"{clean(path)} is group-writable ({_owner_mode(st)}); refusing to use anything under it")
    if st.st_uid not in (0, me):
        raise UnsafeDir(
            f"{clean(path)} is owned by another user ({_owner_mode(st)}); refusing to use anything under it"
        )
