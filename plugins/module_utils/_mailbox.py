# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verify/Request, second half: "Read and delete the message" from an mbox.

Only our own test messages are removed, and only when their bytes are
certain: a test message is found by its own header (``X-Opsiface-Token``),
starts with a ``From `` line at the start of the file or after a blank line,
and carries exactly the body that was sent; what follows it is the end of the
file or the next ``From `` line. Anything less certain (a writer that glued
our ``From `` line to a last message without a trailing newline, a body a
filter changed) leaves the mailbox untouched, and the result says why.

The mailbox is changed under the locks local delivery agents take (a
``.lock`` dot-lock, ``fcntl`` and ``flock``), crash-safely: a test message at
the end of the file (the usual case) is cut off with one ``ftruncate``; one in
the middle is removed by writing the new mailbox beside it (same owner, group
and mode) and renaming it over the old one, after checking the old one did not
change meanwhile. Killed at any instant, the mailbox is the old or the new one.
The rename case relies on delivery agents taking the dot-lock before opening
the mailbox (procmail, mail.local, Postfix local and Dovecot's LDA do).

A token carries the time until which its check waits for it
(``opsiface-<deadline>-<random>``): a test message that arrives after its
check gave up is removed by the next check, and a message of a check still
waiting is never touched.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
import time
import uuid

from ._text import clean

TOKEN_HEADER = b"X-Opsiface-Token: "
BODY_FIRST_LINE = "opsiface.sendmail delivery check."
TOKEN = re.compile(rb"opsiface-([0-9]{9,12})-[0-9a-f]{32}\Z")
MAX_BYTES = 256 * 1024 * 1024
TEMP_MARK = ".opsiface-"


class MailboxError(Exception):
    """The mailbox cannot be used; the message names it and why."""


class _Changed(Exception):
    """The mailbox changed while we held its locks (a writer that ignores them)."""


def new_token(deadline: float) -> str:
    """A test message token that says until when its check waits for it."""
    return f"opsiface-{int(deadline)}-{uuid.uuid4().hex}"


def token_deadline(token: bytes) -> int | None:
    match = TOKEN.match(token)
    return int(match.group(1)) if match else None


def body_of(token: str) -> str:
    """The test message's body as it goes on the wire."""
    return f"{BODY_FIRST_LINE}\r\ntoken: {token}\r\n"


def _header_value(data: bytes, at: int) -> bytes:
    end = data.find(b"\n", at)
    return data[at : len(data) if end < 0 else end].rstrip(b"\r")


def message_span(data: bytes, header_at: int) -> tuple[int, int] | str:
    """(start, end) of the test message whose ``X-Opsiface-Token`` header line starts at *header_at*, or
    why its bytes are not certain."""
    token = _header_value(data, header_at + len(TOKEN_HEADER))
    blank = data.rfind(b"\n\n", 0, header_at)
    start = 0 if blank < 0 else blank + 2
    if not data.startswith(b"From ", start):
        return "its From_ line does not start a message (not at the start of the file or after a blank line)"
    head_end = data.find(b"\n\n", header_at)
    if head_end < 0:
        return "its header has no end"
    if any(line.startswith(b"From ") for line in data[start:head_end].split(b"\n")[1:]):
        return "a From_ line inside its header"
    body = re.compile(
        re.escape(BODY_FIRST_LINE.encode()) + rb"\r?\ntoken: " + re.escape(token) + rb"\r?\n(?:\r?\n)*"
    ).match(data, head_end + 2)
    if body is None:
        return "its body is not the one sent"
    end = body.end()
    if end < len(data) and not data.startswith(b"From ", end):
        return "what follows its body is not the next message's From_ line"
    return start, end


def find_test_messages(
    data: bytes, token: bytes | None, expired_before: float | None
) -> tuple[dict[bytes, list[tuple[int, int]]], list[dict]]:
    """Our test messages in an mbox: the one with *token*, and those whose token's deadline is before
    *expired_before*. Returns ({token: [(start, end), ...]}, [{token, why}] for those left uncertain).
    A token that is neither is never looked at further (a check still waiting for it)."""
    found: dict[bytes, list[tuple[int, int]]] = {}
    uncertain: list[dict] = []
    at = 0 if data.startswith(TOKEN_HEADER) else -1
    if at < 0:
        at = data.find(b"\n" + TOKEN_HEADER)
        at = at + 1 if at >= 0 else -1
    while at >= 0:
        value = _header_value(data, at + len(TOKEN_HEADER))
        deadline = token_deadline(value)
        ours = value == token or (expired_before is not None and deadline is not None and deadline < expired_before)
        if ours:
            span = message_span(data, at)
            if isinstance(span, str):
                uncertain.append({"token": value.decode("ascii", "replace"), "why": span})
            elif span not in found.setdefault(value, []):
                found[value].append(span)
        nxt = data.find(b"\n" + TOKEN_HEADER, at + 1)
        at = nxt + 1 if nxt >= 0 else -1
    return found, uncertain


def without(data: bytes, spans: list[tuple[int, int]]) -> bytes:
    out, pos = [], 0
    for start, end in sorted(spans):
        out.append(data[pos:start])
        pos = max(pos, end)
    out.append(data[pos:])
    return b"".join(out)


class _Locks:
    """The dot-lock, then fcntl and flock on the mailbox, each bounded by *timeout*."""

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
                try:
                    os.write(lock_fd, f"opsiface-sendmail {os.getpid()}\n".encode("ascii"))
                finally:
                    os.close(lock_fd)
                self.have_dotlock = True
                break
            except FileExistsError:
                if _break_own_stale_dotlock(self.dotlock):
                    continue
                if time.monotonic() > deadline:
                    raise MailboxError(f"{self.dotlock} is held by another program; nothing changed") from None
                time.sleep(0.1)
            except PermissionError:
                break  # no write access to the spool directory: rely on the kernel locks
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
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


def _dead(pid: int, proc_root: str = "/proc") -> bool:
    return pid != os.getpid() and os.path.isdir(proc_root) and not os.path.exists(os.path.join(proc_root, str(pid)))


def _break_own_stale_dotlock(dotlock: str) -> bool:
    """Remove a dot-lock that one of our own checks left when it was killed (it names its PID, which is
    gone). Anyone else's dot-lock is waited for."""
    try:
        fd = os.open(dotlock, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        content = os.read(fd, 64)
    finally:
        os.close(fd)
    words = content.split()
    if len(words) != 2 or words[0] != b"opsiface-sendmail" or not words[1].isdigit() or len(words[1]) > 10:
        return False
    if not _dead(int(words[1])):
        return False
    try:
        os.unlink(dotlock)
    except OSError:
        return False
    return True


def _remove_own_stale_temp_files(path: str) -> None:
    """Temporary mailboxes our killed checks left beside *path* (``.<name>.opsiface-<pid>-<hex>.tmp``)."""
    directory, name = os.path.split(path)
    prefix = f".{name}{TEMP_MARK}"
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return
    for entry in names:
        if not (entry.startswith(prefix) and entry.endswith(".tmp")):
            continue
        pid = entry[len(prefix) :].split("-", 1)[0]
        full = os.path.join(directory, entry)
        try:
            st = os.lstat(full)
        except OSError:
            continue
        if (
            pid.isdigit()
            and len(pid) <= 10
            and _dead(int(pid))
            and stat.S_ISREG(st.st_mode)
            and st.st_uid == os.geteuid()
        ):
            try:
                os.unlink(full)
            except OSError:
                pass


def _read_all(fd: int, max_bytes: int, path: str) -> tuple[bytes, os.stat_result]:
    st = os.fstat(fd)
    if st.st_size > max_bytes:
        raise MailboxError(f"{path} is {st.st_size} bytes, more than mailbox_max_bytes={max_bytes}; nothing changed")
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    total = 0
    while total <= max_bytes:
        chunk = os.read(fd, 1024 * 1024)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks), st


def _unchanged(fd: int, before: os.stat_result) -> bool:
    now = os.fstat(fd)
    return (now.st_size, now.st_mtime_ns, now.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _replace(path: str, fd: int, st: os.stat_result, new: bytes) -> None:
    """Write *new* beside *path* (owner, group and mode of the old one) and rename it over *path*, unless the
    old one changed meanwhile. Interrupted anywhere, *path* is the old or the new mailbox."""
    directory, name = os.path.split(path)
    temp = os.path.join(directory, f".{name}{TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")
    tfd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            _write_all(tfd, new)
            os.fchown(tfd, st.st_uid, st.st_gid)
            os.fchmod(tfd, stat.S_IMODE(st.st_mode))
            os.fsync(tfd)
        finally:
            os.close(tfd)
        if not _unchanged(fd, st):
            raise _Changed()
        os.rename(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    dfd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def remove_test_messages(
    path: str,
    token: str | None,
    now: float | None = None,
    lock_timeout: float = 10.0,
    check_mode: bool = False,
    max_bytes: int = MAX_BYTES,
) -> dict:
    """Remove the test message with *token* and every earlier test message whose check has given up
    (its token's deadline is before *now*) from mbox *path*, and nothing else. Returns what was done."""
    when = time.time() if now is None else now
    wanted = token.encode("ascii") if token else None
    result: dict = {"found": False, "removed": False, "path": clean(path)}
    if not os.path.lexists(path):
        return dict(result, earlier_removed=[], earlier_left=[])
    _remove_own_stale_temp_files(path)
    with _Locks(path, lock_timeout) as fd:
        for _attempt in range(3):
            data, st = _read_all(fd, max_bytes, path)
            found, uncertain = find_test_messages(data, wanted, when)
            own = found.pop(wanted, []) if wanted else []
            own_uncertain = [u for u in uncertain if wanted and u["token"] == token]
            result.update(
                found=bool(own or own_uncertain),
                message_bytes=sum(end - start for start, end in own),
                bytes_before=len(data),
                earlier_removed=sorted(t.decode("ascii") for t in found),
                earlier_left=[u for u in uncertain if not (wanted and u["token"] == token)],
            )
            if own_uncertain and not own:
                result["left_because"] = own_uncertain[0]["why"]
            spans = own + [span for spans in found.values() for span in spans]
            if not spans or check_mode:
                result["bytes_after"] = len(data) - sum(end - start for start, end in spans)
                if check_mode:
                    result["earlier_removed"] = []
                    result["earlier_would_remove"] = sorted(t.decode("ascii") for t in found)
                return result
            new = without(data, spans)
            try:
                if data.startswith(new):  # only the end goes: cut it off in place
                    if not _unchanged(fd, st):
                        raise _Changed()
                    os.ftruncate(fd, len(new))
                    os.fsync(fd)
                    result["method"] = "truncated"
                else:
                    _replace(path, fd, st, new)
                    result["method"] = "rewritten beside and renamed"
            except _Changed:
                continue
            except OSError as exc:
                raise MailboxError(f"cannot rewrite {path}: {exc.strerror or exc}; nothing changed") from exc
            result.update(removed=bool(own), bytes_after=len(new))
            return result
    raise MailboxError(f"{path} kept changing while it was locked (a writer that ignores the locks); nothing changed")


def unusable(path: str) -> str | None:
    """Why the delivery check could not watch mbox *path* and remove its test message from it, or None: asked
    before anything is sent, so that a test message is never sent where it would be left (and its delivery
    called a failure). A mailbox that does not exist yet is fine (the delivery creates it)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot look at the mailbox {clean(path)}: {exc.strerror}"
    if stat.S_ISLNK(st.st_mode):
        return f"the mailbox {clean(path)} is a symlink (never followed)"
    if not stat.S_ISREG(st.st_mode):
        return f"the mailbox {clean(path)} is not a regular file"
    try:  # what the removal opens it with: the effective user's permissions, ACLs, a read-only mount
        os.close(os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK))
    except OSError as exc:
        return (
            f"the mailbox {clean(path)} (mode {stat.S_IMODE(st.st_mode):04o}, owner uid {st.st_uid}) cannot be read "
            f"and rewritten by uid {os.geteuid()}: {exc.strerror} (run as root: become)"
        )
    return None


def arrived(path: str, token: str, since_offset: int = 0, max_bytes: int = MAX_BYTES) -> tuple[bool, int]:
    """Whether the header of the message with *token* is in the mailbox, reading only from *since_offset*
    on (what an earlier look had not seen; a mailbox that shrank is read again from the start). Returns
    (found, the offset to look from next time). A peek: no locks."""
    marker = b"\n" + TOKEN_HEADER + token.encode("ascii")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return False, 0
    except OSError as exc:
        raise MailboxError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise MailboxError(f"{path} is not a regular file")
        offset = since_offset if since_offset <= st.st_size else 0
        start = max(0, offset - len(marker) - 2)
        os.lseek(fd, start, os.SEEK_SET)
        data = os.read(fd, min(st.st_size - start, max_bytes) + 1)
        return re.search(re.escape(marker) + rb"\r?\n", data) is not None, start + len(data)
    finally:
        os.close(fd)


def wait_and_remove(path: str, token: str, timeout: float, poll: float = 0.2, sweep_lock_timeout: float = 3.0) -> dict:
    """Wait up to *timeout* s for the message with *token* to arrive, then remove exactly it, and any test
    message of an earlier check that arrived after that check gave up ("arrived" says whether ours came,
    "removed" whether it is gone again). When ours did not come, the clean-up of earlier ones waits at
    most *sweep_lock_timeout* for the locks."""
    started = time.monotonic()
    offset = 0
    came = False
    try:
        while True:
            came, offset = arrived(path, token, offset)
            if came or time.monotonic() - started > timeout:
                break
            time.sleep(poll)
    except MailboxError as exc:
        return {"arrived": None, "found": None, "removed": False, "path": clean(path), "error": str(exc)}
    waited = round(time.monotonic() - started, 1)
    try:
        done = remove_test_messages(path, token, lock_timeout=10.0 if came else sweep_lock_timeout)
    except MailboxError as exc:
        # ours arrived and cannot be removed: that is the result; else only the clean-up could not be done
        done = {"found": came, "removed": False, "path": clean(path), "error" if came else "sweep_error": str(exc)}
    done["arrived"] = came or bool(done.get("found"))
    done["waited_seconds"] = waited
    return done


def delivery_verdict(mailbox: dict, queue_id: str | None, queue_entry: dict | None, timeout: float) -> dict:
    """The delivery check's outcome from what the mailbox and the queue show: "success", and when it is
    false a "failure" class and a "detail" that says what is known.

    - delivered and removed: success;
    - delivered, but left in the mailbox (its bytes not certain, or the mailbox locked): success, with a
      "note" (the report makes it a warning: the debris is ours);
    - accepted but not in the mailbox yet, and still in the queue: "delivery_late" (mail is not refused,
      it is slow: sendmail's throttles, a busy mailbox, a deferral);
    - accepted, in neither the mailbox nor the queue: "not_delivered" (delivered elsewhere, e.g. by an
      alias, or bounced);
    - the mailbox cannot be read: "not_delivered" with the error.
    """
    path = mailbox.get("path")
    waited = mailbox.get("waited_seconds", timeout)
    if mailbox.get("arrived"):
        if mailbox.get("removed"):
            return {"success": True}
        why = mailbox.get("left_because") or mailbox.get("error") or "not removed"
        return {"success": True, "note": f"the test message {queue_id} reached {path} but is left there: {why}"}
    if mailbox.get("error"):
        return {"success": False, "failure": "not_delivered", "detail": mailbox["error"]}
    accepted = f"accepted by the MTA as {queue_id}" if queue_id else "accepted by the MTA (no queue ID in its reply)"
    entry = queue_entry or {"state": "absent"}
    if entry["state"] == "absent":
        return {
            "success": False,
            "failure": "not_delivered",
            "detail": f"{accepted}, but after {waited} s it is neither in {path} nor in the queue "
            "(delivered elsewhere, e.g. by an alias or a .forward, or bounced: see the mail log)",
        }
    state = {
        "being_delivered": "being delivered",
        "deferred": "deferred",
        "queued": "queued, not tried yet",
        "quarantined": "quarantined",
    }.get(entry["state"], entry["state"])
    extra = []
    if entry.get("held_by"):
        extra.append("by " + ", ".join(f"pid {h['pid']} ({h['title']})" for h in entry["held_by"]))
    if entry.get("attempts"):
        extra.append(f"{entry['attempts']} attempt(s)")
    if entry.get("reason"):
        extra.append(str(entry["reason"]))
    return {
        "success": False,
        "failure": "delivery_late",
        "detail": f"{accepted}, not yet in {path} after {waited} s; the queue shows it {state}"
        + (f": {'; '.join(extra)}" if extra else ""),
    }
