"""Removing the delivery check's test messages from an mbox: exactly their bytes, or nothing (issue #17 item 2).

The message shapes are procmail's, as the lab's Debian 12 sendmail delivers them (sensible-mda -> procmail):
a From_ line, the headers, the body, one blank line; body lines starting with "From " quoted as ">From ";
a new message appended right after a last message without a trailing newline.
"""

from __future__ import annotations

import fcntl
import os
import time

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _mailbox

NOW = 1796140000
TOKEN = f"opsiface-{NOW + 60}-{'a' * 32}"  # its check still waits for it (deadline in the future)


def probe_message(token: str, sender: str = "root@hb01.lab.test") -> bytes:
    """A test message as procmail writes it (sendmail turned the CRLF of the wire into LF)."""
    return (
        f"From {sender}  Tue Dec  1 15:36:50 2026\n"
        f"Return-Path: <{sender}>\n"
        "Received: from opsiface-probe.hb01.lab.test (localhost [127.0.0.1])\n"
        "\tby hb01.lab.test (8.17.1.9/8.17.1.9/Debian-2+deb12u2) with ESMTP id 6B1Fao2r000169\n"
        f"Subject: opsiface.sendmail delivery check {token}\n"
        f"X-Opsiface-Token: {token}\n\n" + _mailbox.body_of(token).replace("\r\n", "\n") + "\n"
    ).encode()


OURS = probe_message(TOKEN)
OTHER = (
    b"From someone@example.org  Tue Dec  1 10:48:02 2026\nSubject: keep me\n\n"
    b"body\n>From inside a body, quoted by procmail\n\nFrom an unquoted line after a blank one (mboxo)\n\n"
)
LAST = b"From MAILER-DAEMON  Tue Dec  1 11:06:00 2026\nSubject: after\n\nx\n\n"


def remove(box, token=TOKEN, **kw):
    return _mailbox.remove_test_messages(str(box), token, now=NOW, **kw)


@pytest.mark.parametrize(
    "before,after,method",
    [
        (OTHER, LAST, "rewritten beside and renamed"),
        (b"", LAST, "rewritten beside and renamed"),
        (OTHER, b"", "truncated"),
        (b"", b"", "truncated"),
    ],
    ids=["middle", "first", "last", "only"],
)
def test_removes_exactly_our_message(tmp_path, before, after, method):
    box = tmp_path / "root"
    box.write_bytes(before + OURS + after)
    os.chmod(box, 0o640)
    inode = box.stat().st_ino
    done = remove(box)
    assert done["found"] and done["removed"] and done["message_bytes"] == len(OURS) and done["method"] == method
    assert box.read_bytes() == before + after
    assert oct(box.stat().st_mode & 0o777) == "0o640"
    assert (box.stat().st_ino == inode) is (method == "truncated")  # cut in place: the inode stays
    assert sorted(os.listdir(tmp_path)) == ["root"]  # no lock, no temporary file left


def test_issue_reproduction_no_trailing_newline_leaves_the_mbox_untouched(tmp_path):
    """procmail appends our From_ line right after 'no newline': the boundary is not certain."""
    kept = b"From a@x  Tue Dec  1 10:00:00 2026\nSubject: k\n\nno newline"
    box = tmp_path / "root"
    box.write_bytes(kept + OURS)
    done = remove(box)
    assert done["found"] and not done["removed"]
    assert "does not start a message" in done["left_because"]
    assert box.read_bytes() == kept + OURS


def test_a_last_message_with_a_newline_but_no_blank_line_is_not_a_boundary_either(tmp_path):
    kept = b"From a@x  Tue Dec  1 10:00:00 2026\nSubject: k\n\nlast line\n"
    box = tmp_path / "root"
    box.write_bytes(kept + OURS + LAST)
    done = remove(box)
    assert not done["removed"] and box.read_bytes() == kept + OURS + LAST


def test_a_message_glued_after_ours_keeps_every_byte(tmp_path):
    """A writer that adds no blank line after our message: ours ends where its known body ends."""
    box = tmp_path / "root"
    box.write_bytes(OTHER + OURS.rstrip(b"\n") + b"\n" + LAST)
    done = remove(box)
    assert done["removed"] and box.read_bytes() == OTHER + LAST


@pytest.mark.parametrize(
    "change,why",
    [
        (lambda m: m.replace(b"token: opsiface", b"token: opsiface-x"), "body is not the one sent"),
        (lambda m: m + b"-- \nScanned by a filter\n\n", "what follows its body"),
        (lambda m: m.replace(b"Return-Path", b"From evil\nReturn-Path"), "From_ line inside its header"),
        (lambda m: m[: m.index(b"\n\n")], "header has no end"),
    ],
    ids=["body-changed", "footer-added", "from-in-header", "truncated-header"],
)
def test_uncertain_bytes_change_nothing(tmp_path, change, why):
    box = tmp_path / "root"
    data = OTHER + change(OURS) + (LAST if why != "header has no end" else b"")
    box.write_bytes(data)
    done = remove(box)
    assert done["found"] and not done["removed"] and why in done["left_because"]
    assert box.read_bytes() == data


def test_a_bounce_quoting_our_message_is_never_taken_for_it(tmp_path):
    bounce = (
        b"From MAILER-DAEMON  Tue Dec  1 11:00:00 2026\nSubject: Returned mail\n\n"
        b"--BOUNDARY\nContent-Type: message/rfc822\n\n"
        b"Return-Path: <root@hb01.lab.test>\nX-Opsiface-Token: " + TOKEN.encode() + b"\n\n"
        b"opsiface.sendmail delivery check.\ntoken: " + TOKEN.encode() + b"\n--BOUNDARY--\n\n"
    )
    box = tmp_path / "root"
    box.write_bytes(bounce + OURS + LAST)
    done = remove(box)
    assert done["removed"] and box.read_bytes() == bounce + LAST


def test_late_test_messages_of_earlier_checks_are_removed_and_nothing_else(tmp_path):
    expired = f"opsiface-{NOW - 5}-{'b' * 32}"  # its check gave up
    waiting = f"opsiface-{NOW + 30}-{'c' * 32}"  # a check that still waits for it (running at the same time)
    old_style = "opsiface-" + "d" * 32  # no deadline: not ours to judge
    data = OTHER + probe_message(expired) + probe_message(waiting) + probe_message(old_style) + LAST
    box = tmp_path / "root"
    box.write_bytes(data)
    done = remove(box, token=None)
    assert done["earlier_removed"] == [expired] and not done["found"]
    assert box.read_bytes() == OTHER + probe_message(waiting) + probe_message(old_style) + LAST
    check = remove(box, token=None, check_mode=True)
    assert (
        check["earlier_would_remove"] == []
        and box.read_bytes() == OTHER + probe_message(waiting) + probe_message(old_style) + LAST
    )


def test_an_earlier_one_with_uncertain_bytes_is_left_and_named(tmp_path):
    expired = f"opsiface-{NOW - 5}-{'b' * 32}"
    kept = b"From a@x  Tue Dec  1 10:00:00 2026\nSubject: k\n\nno newline"
    box = tmp_path / "root"
    box.write_bytes(kept + probe_message(expired) + OURS)
    done = remove(box)
    assert done["removed"] and done["earlier_left"] == [
        {
            "token": expired,
            "why": "its From_ line does not start a message (not at the start of the file or after a blank line)",
        }
    ]
    assert box.read_bytes() == kept + probe_message(expired)


def test_a_message_appended_during_the_rewrite_is_kept(tmp_path, monkeypatch):
    """A writer that ignores the locks appends while the new mailbox is written: the rename is not done
    on stale data, the rewrite starts over and keeps the new message."""
    box = tmp_path / "root"
    box.write_bytes(OTHER + OURS + LAST)
    late = b"From late@example.org  Tue Dec  1 12:00:00 2026\nSubject: appended meanwhile\n\nhi\n\n"
    real_write_all = _mailbox._write_all
    appended = []

    def write_all(fd, data):
        if not appended:
            with open(box, "ab") as fh:
                fh.write(late)
            appended.append(True)
        real_write_all(fd, data)

    monkeypatch.setattr(_mailbox, "_write_all", write_all)
    done = remove(box)
    assert done["removed"] and box.read_bytes() == OTHER + LAST + late
    assert sorted(os.listdir(tmp_path)) == ["root"]


def test_a_message_appended_before_the_cut_is_kept(tmp_path, monkeypatch):
    box = tmp_path / "root"
    box.write_bytes(OTHER + OURS)
    late = b"From late@example.org  Tue Dec  1 12:00:00 2026\nSubject: appended meanwhile\n\nhi\n\n"
    real_find = _mailbox.find_test_messages
    calls = []

    def find(data, token, expired_before):
        if not calls:
            with open(box, "ab") as fh:
                fh.write(late)
        calls.append(1)
        return real_find(data, token, expired_before)

    monkeypatch.setattr(_mailbox, "find_test_messages", find)
    done = remove(box)
    assert done["removed"] and box.read_bytes() == OTHER + late and len(calls) == 2


@pytest.mark.parametrize("at", ["write", "fsync", "rename"])
def test_killed_while_rewriting_leaves_the_old_mailbox(tmp_path, monkeypatch, at):
    """A kill before the rename leaves the old mailbox whole (the rename is the one step that changes it);
    the next check removes the temporary file the killed one left and finishes the job."""
    box = tmp_path / "root"
    data = OTHER + OURS + LAST
    box.write_bytes(data)
    target = {"write": (_mailbox, "_write_all"), "fsync": (os, "fsync"), "rename": (os, "rename")}[at]

    def killed(*args, **kwargs):
        raise SystemExit("killed")  # stands for SIGKILL here; the lab test kills for real

    monkeypatch.setattr(*target, killed)
    monkeypatch.setattr(_mailbox.os, "unlink", lambda *a, **k: None)  # a real kill cleans nothing up
    with pytest.raises(SystemExit):
        remove(box)
    monkeypatch.undo()
    assert box.read_bytes() == data
    (temp,) = [n for n in os.listdir(tmp_path) if n != "root" and not n.endswith(".lock")]
    os.rename(tmp_path / temp, tmp_path / temp.replace(f"-{os.getpid()}-", "-999999999-"))  # its check is gone
    lock = tmp_path / "root.lock"
    lock.write_bytes(b"opsiface-sendmail 999999999\n")  # and so is the dot-lock's owner
    done = remove(box)
    assert done["removed"] and box.read_bytes() == OTHER + LAST and sorted(os.listdir(tmp_path)) == ["root"]


def test_token_absent(tmp_path):
    box = tmp_path / "root"
    box.write_bytes(OTHER)
    done = remove(box)
    assert (done["found"], done["removed"], done["earlier_removed"]) == (False, False, [])
    assert box.read_bytes() == OTHER


def test_check_mode_changes_nothing(tmp_path):
    box = tmp_path / "root"
    box.write_bytes(OTHER + OURS)
    done = remove(box, check_mode=True)
    assert done["found"] and not done["removed"] and box.read_bytes() == OTHER + OURS


def test_locked_mailbox_is_left_alone(tmp_path):
    box = tmp_path / "root"
    box.write_bytes(OTHER + OURS)
    fd = os.open(box, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(_mailbox.MailboxError, match="locked"):
            remove(box, lock_timeout=0.3)
    finally:
        os.close(fd)
    assert box.read_bytes() == OTHER + OURS
    assert not (tmp_path / "root.lock").exists()


@pytest.mark.parametrize(
    "content",
    [b"", b"0\n", f"opsiface-sendmail {os.getpid()}\n".encode()],
    ids=["empty", "a-zero", "our-own-live-pid"],  # fixed ids: xdist workers must collect the same tests
)
def test_dotlock_held_by_another_program_is_waited_for(tmp_path, content):
    box = tmp_path / "root"
    box.write_bytes(OURS)
    (tmp_path / "root.lock").write_bytes(content)
    with pytest.raises(_mailbox.MailboxError, match="held by another program"):
        remove(box, lock_timeout=0.3)
    assert box.read_bytes() == OURS and (tmp_path / "root.lock").read_bytes() == content


def test_symlinked_mailbox_is_refused(tmp_path):
    (tmp_path / "elsewhere").write_bytes(OURS)
    os.symlink(tmp_path / "elsewhere", tmp_path / "root")
    with pytest.raises(_mailbox.MailboxError):
        remove(tmp_path / "root", lock_timeout=0.3)
    assert (tmp_path / "elsewhere").read_bytes() == OURS


def test_arrived_reads_only_what_is_new(tmp_path):
    box = tmp_path / "root"
    box.write_bytes(OTHER)
    found, offset = _mailbox.arrived(str(box), TOKEN)
    assert not found and offset == len(OTHER)
    with open(box, "ab") as fh:
        fh.write(OURS)
    assert _mailbox.arrived(str(box), TOKEN, offset) == (True, len(OTHER + OURS))
    box.write_bytes(OURS)  # rewritten shorter by a mail reader: read again from the start
    assert _mailbox.arrived(str(box), TOKEN, 10**9)[0]
    assert _mailbox.arrived(str(tmp_path / "none"), TOKEN) == (False, 0)


def test_wait_and_remove_times_out_cleanly_and_still_sweeps(tmp_path):
    box = tmp_path / "root"
    expired = f"opsiface-{int(time.time()) - 5}-{'b' * 32}"
    box.write_bytes(OTHER + probe_message(expired))
    done = _mailbox.wait_and_remove(str(box), f"opsiface-{int(time.time()) + 60}-{'e' * 32}", timeout=0.3, poll=0.05)
    assert done["arrived"] is False and done["removed"] is False and done["earlier_removed"] == [expired]
    assert box.read_bytes() == OTHER


def test_tokens_carry_their_deadline():
    token = _mailbox.new_token(1796140000.7)
    assert token.startswith("opsiface-1796140000-") and _mailbox.token_deadline(token.encode()) == 1796140000
    assert _mailbox.token_deadline(b"opsiface-" + b"a" * 32) is None
    assert _mailbox.token_deadline(b"opsiface-1796140000-" + b"a" * 32 + b"x") is None


@pytest.mark.parametrize(
    "box,entry,expected",
    [
        ({"arrived": True, "removed": True}, None, {"success": True}),
        (
            {
                "arrived": True,
                "removed": False,
                "left_because": "its body is not the one sent",
                "path": "/var/mail/root",
            },
            None,
            "success-note",
        ),
        (
            {"arrived": False, "path": "/var/mail/root", "waited_seconds": 30.1},
            {"state": "deferred", "reason": "Deferred: local mailer (procmail) exited with EX_TEMPFAIL", "attempts": 1},
            (
                "delivery_late",
                "accepted by the MTA as 6B1FhwkS000163, not yet in /var/mail/root after 30.1 s; the queue "
                "shows it deferred: 1 attempt(s); Deferred: local mailer (procmail) exited with EX_TEMPFAIL",
            ),
        ),
        (
            {"arrived": False, "path": "/var/mail/root", "waited_seconds": 3.0},
            {"state": "being_delivered", "held_by": [{"pid": 77, "title": "sendmail: MTA: ./6B1FhwkS000163 local"}]},
            ("delivery_late", "the queue shows it being delivered: by pid 77 (sendmail: MTA: ./6B1FhwkS000163 local)"),
        ),
        (
            {"arrived": False, "path": "/var/mail/root", "waited_seconds": 3.0},
            {"state": "absent"},
            ("not_delivered", "neither in /var/mail/root nor in the queue"),
        ),
        (
            {"arrived": None, "error": "cannot open /var/mail/root: Permission denied"},
            None,
            ("not_delivered", "Permission denied"),
        ),
    ],
    ids=["delivered", "delivered-left", "late-deferred", "late-being-delivered", "vanished", "unreadable"],
)
def test_delivery_verdict(box, entry, expected):
    verdict = _mailbox.delivery_verdict(box, "6B1FhwkS000163", entry, 30)
    if expected == "success-note":
        assert verdict["success"] and "left there: its body is not the one sent" in verdict["note"]
    elif isinstance(expected, dict):
        assert verdict == expected
    else:
        assert (verdict["success"], verdict["failure"]) == (False, expected[0]) and expected[1] in verdict["detail"]


def test_unusable_names_what_the_check_could_not_watch_or_clean(tmp_path, monkeypatch):
    """Asked before a test message is sent: a missing mailbox is fine (delivery creates it), a regular file we
    may read and rewrite is fine; one we may not (root's 0600 mbox as another user) is named with its mode,
    owner and the fix, without changing it."""
    box = tmp_path / "root"
    assert _mailbox.unusable(str(box)) is None
    box.write_bytes(b"From a@b Tue Dec  1 10:00:00 2026\n\nmail\n")
    box.chmod(0o600)
    assert _mailbox.unusable(str(box)) is None
    real_open = os.open

    def as_another_user(path, flags, *args):
        if str(path) == str(box):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(_mailbox.os, "open", as_another_user)
    why = _mailbox.unusable(str(box))
    assert f"{box} (mode 0600, owner uid {os.getuid()})" in why and "Permission denied" in why and "become" in why
    assert box.read_bytes().endswith(b"mail\n")
