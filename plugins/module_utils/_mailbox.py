# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verify/Request, second half: "Read and delete the message" from an mbox.

Only the one message that carries our token is removed, under the same locks
local delivery agents take (a ``.lock`` dot-lock, ``fcntl`` and ``flock`` on
the mailbox), rewriting the file in place so its owner, mode and inode stay.
Nothing else in the mailbox is touched; if the locks cannot be had in time,
nothing is changed and the result says so.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time

from ._text import clean

TOKEN_HEADER = b"X-Opsiface-Token: "


class MailboxError(Exception):
    """The mailbox cannot be used; the message names it and why."""


def message_bounds(data: bytes, token: bytes) -> tuple[int, int] | None:
    """(start, end) of the mbox message whose header carries *token*, or None.

    A message starts with a ``From `` line at the start of the file or after a
    newline, and ends where the next one starts.
    """
    marker = TOKEN_HEADER + token
    at = data.find(marker)
    if at < 0:
        return None
    start = data.rfind(b"\nFrom ", 0, at)
    start = 0 if start < 0 else start + 1
    if not data.startswith(b"From ", start):
        return None
    nxt = data.find(b"\nFrom ", at)
    end = len(data) if nxt < 0 else nxt + 1
    return start, end


class _Locks:
    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.dotlock = path + ".lock"
        self.timeout = timeout
        self.fd: int | None = None
        self.have_dotlock = False

    def __enter__(self) -> int:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                lock_fd = os.open(self.dotlock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                os.close(lock_fd)
                self.have_dotlock = True
                break
            except FileExistsError:
                if time.monotonic() > deadline:
                    raise MailboxError(f"{self.dotlock} is held by another program; nothing changed") from None
                time.sleep(0.1)
            except PermissionError:
                break  # no write access to the spool directory: rely on the kernel locks
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW)
        except OSError as exc:
            self._release()
            raise MailboxError(f"cannot open {self.path}: {exc.strerror}") from exc
        if not stat.S_ISREG(os.fstat(self.fd).st_mode):
            self._release()
            raise MailboxError(f"{self.path} is not a regular file")
        while True:
            try:
                fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self.fd
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    self._release()
                    raise MailboxError(f"cannot lock {self.path}: {exc.strerror}") from exc
                if time.monotonic() > deadline:
                    self._release()
                    raise MailboxError(f"{self.path} is locked by another program; nothing changed") from None
                time.sleep(0.1)

    def _release(self) -> None:
        if self.fd is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
                fcntl.lockf(self.fd, fcntl.LOCK_UN)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None
        if self.have_dotlock:
            try:
                os.unlink(self.dotlock)
            except OSError:
                pass
            self.have_dotlock = False

    def __exit__(self, *exc) -> None:
        self._release()


def _read_all(fd: int, max_bytes: int, path: str) -> bytes:
    size = os.fstat(fd).st_size
    if size > max_bytes:
        raise MailboxError(f"{path} is {size} bytes, more than mailbox_max_bytes={max_bytes}; nothing changed")
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        chunk = os.read(fd, 1024 * 1024)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def contains_token(path: str, token: str, max_bytes: int = 256 * 1024 * 1024) -> bool:
    """Whether the mailbox holds the message with *token* (read without locks: only a peek)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise MailboxError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise MailboxError(f"{path} is not a regular file")
        return message_bounds(_read_all(fd, max_bytes, path), token.encode("ascii")) is not None
    finally:
        os.close(fd)


def remove_message(
    path: str, token: str, lock_timeout: float = 10.0, check_mode: bool = False, max_bytes: int = 256 * 1024 * 1024
) -> dict:
    """Remove exactly the message carrying *token* from mbox *path*. Returns what was done."""
    with _Locks(path, lock_timeout) as fd:
        data = _read_all(fd, max_bytes, path)
        bounds = message_bounds(data, token.encode("ascii"))
        if bounds is None:
            return {"found": False, "removed": False, "path": clean(path)}
        start, end = bounds
        result = {
            "found": True,
            "removed": not check_mode,
            "path": clean(path),
            "message_bytes": end - start,
            "bytes_before": len(data),
            "bytes_after": len(data) - (end - start),
        }
        if check_mode:
            return result
        os.lseek(fd, start, os.SEEK_SET)
        rest = data[end:]
        written = 0
        while written < len(rest):
            written += os.write(fd, rest[written:])
        os.ftruncate(fd, start + len(rest))
        os.fsync(fd)
        return result


def wait_and_remove(path: str, token: str, timeout: float, poll: float = 0.2) -> dict:
    """Wait up to *timeout* s for the message with *token* to arrive, then remove exactly it."""
    started = time.monotonic()
    try:
        while not contains_token(path, token):
            if time.monotonic() - started > timeout:
                return {
                    "found": False,
                    "removed": False,
                    "path": clean(path),
                    "waited_seconds": round(time.monotonic() - started, 1),
                }
            time.sleep(poll)
        done = remove_message(path, token, lock_timeout=10)
    except MailboxError as exc:
        return {"found": None, "removed": False, "path": clean(path), "error": str(exc)}
    done["waited_seconds"] = round(time.monotonic() - started, 1)
    return done
