from __future__ import annotations

import fcntl
import os

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _mailbox

OTHER = (
    b"From root@mx01.lab.test Fri Nov 27 10:48:02 2026\nSubject: keep me\n\nbody\nFrom inside body is quoted >From\n\n"
)
OURS = (
    b"From root@mx01.lab.test Fri Nov 27 11:05:11 2026\nSubject: check opsiface-abc\n"
    b"X-Opsiface-Token: opsiface-abc\n\ntoken: opsiface-abc\n\n"
)
LAST = b"From MAILER-DAEMON Fri Nov 27 11:06:00 2026\nSubject: after\n\nx\n\n"


@pytest.mark.parametrize(
    "before,after", [(OTHER, LAST), (b"", LAST), (OTHER, b""), (b"", b"")], ids=["middle", "first", "last", "only"]
)
def test_removes_exactly_our_message(tmp_path, before, after):
    box = tmp_path / "root"
    box.write_bytes(before + OURS + after)
    os.chmod(box, 0o600)
    inode = box.stat().st_ino
    done = _mailbox.remove_message(str(box), "opsiface-abc")
    assert done["found"] and done["removed"] and done["message_bytes"] == len(OURS)
    assert box.read_bytes() == before + after
    assert box.stat().st_ino == inode and oct(box.stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "root.lock").exists()


def test_check_mode_changes_nothing(tmp_path):
    box = tmp_path / "root"
    box.write_bytes(OTHER + OURS)
    done = _mailbox.remove_message(str(box), "opsiface-abc", check_mode=True)
    assert done["found"] and not done["removed"] and box.read_bytes() == OTHER + OURS


def test_token_absent(tmp_path):
    box = tmp_path / "root"
    box.write_bytes(OTHER)
    assert _mailbox.remove_message(str(box), "opsiface-abc") == {"found": False, "removed": False, "path": str(box)}
    assert not _mailbox.contains_token(str(box), "opsiface-abc")


def test_locked_mailbox_is_left_alone(tmp_path):
    box = tmp_path / "root"
    box.write_bytes(OTHER + OURS)
    fd = os.open(box, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(_mailbox.MailboxError, match="locked"):
            _mailbox.remove_message(str(box), "opsiface-abc", lock_timeout=0.3)
    finally:
        os.close(fd)
    assert box.read_bytes() == OTHER + OURS
    assert not (tmp_path / "root.lock").exists()


def test_dotlock_held_by_another_program(tmp_path):
    box = tmp_path / "root"
    box.write_bytes(OURS)
    (tmp_path / "root.lock").write_bytes(b"")
    with pytest.raises(_mailbox.MailboxError, match="held by another program"):
        _mailbox.remove_message(str(box), "opsiface-abc", lock_timeout=0.3)
    assert box.read_bytes() == OURS and (tmp_path / "root.lock").exists()


def test_symlinked_mailbox_is_refused(tmp_path):
    (tmp_path / "elsewhere").write_bytes(OURS)
    os.symlink(tmp_path / "elsewhere", tmp_path / "root")
    with pytest.raises(_mailbox.MailboxError):
        _mailbox.remove_message(str(tmp_path / "root"), "opsiface-abc", lock_timeout=0.3)
    assert (tmp_path / "elsewhere").read_bytes() == OURS


def test_wait_and_remove_times_out_cleanly(tmp_path):
    box = tmp_path / "root"
    box.write_bytes(OTHER)
    done = _mailbox.wait_and_remove(str(box), "opsiface-abc", timeout=0.3, poll=0.05)
    assert done["found"] is False and done["removed"] is False
