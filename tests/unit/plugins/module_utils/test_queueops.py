from __future__ import annotations

import fcntl
import os

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _queue, _queueops
from ansible_collections.opsiface.sendmail.plugins.module_utils._context import HostContext
from ansible_collections.opsiface.sendmail.plugins.module_utils._runner import CmdResult


class FakeRunner:
    def __init__(self):
        self.calls = []

    def run(self, argv, stdin=None, timeout=30.0):
        self.calls.append(argv)
        return CmdResult(tuple(argv), 0, b"Running /var/spool/mqueue/x (sequence 1 of 1)\n", b"")

    def which(self, name):
        return name


@pytest.fixture
def q(tmp_path, fixture_bytes):
    d = tmp_path / "mqueue"
    d.mkdir()
    for qid in ("6ARAaaaa000001", "6ARAaaaa000002"):
        (d / f"qf{qid}").write_bytes(fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin"))
        (d / f"df{qid}").write_bytes(b"body")
    return d


def test_flush_uses_qI_per_id_in_batches():
    runner = FakeRunner()
    ids = [f"6ARAaaaa{n:06d}" for n in range(120)]
    ctx = HostContext(params={"sendmail_path": "/usr/sbin/sendmail", "command_timeout": 30}, runner=runner)
    runs = _queueops.flush(ctx, "mta", ids, verbose=True)
    assert len(runs) == 3 and len(runner.calls) == 3
    assert runner.calls[0][:3] == ["/usr/sbin/sendmail", "-Am", "-v"]
    assert runner.calls[0][3] == "-qI6ARAaaaa000000" and len(runner.calls[0]) == 53
    assert runs[0]["transcript"] == "Running /var/spool/mqueue/x (sequence 1 of 1)"
    assert runs[0]["transcript_lines"] == ["Running /var/spool/mqueue/x (sequence 1 of 1)"]


def test_a_transcript_keeps_its_lines():
    """#16 item 4: a -v transcript came back as one line with literal \\n escapes."""

    class Transcript(FakeRunner):
        def run(self, argv, stdin=None, timeout=30.0):
            out = b"Running /var/spool/mqueue/qf6ARAaaaa000001\r\nConnecting to [127.0.0.2] port 2526 via relay...\n"
            return CmdResult(tuple(argv), 0, out, b"6ARAaaaa000001: Deferred: Connection refused\n")

    ctx = HostContext(params={"sendmail_path": "sm", "command_timeout": 30}, runner=Transcript())
    run = _queueops.flush(ctx, "mta", ["6ARAaaaa000001"], verbose=True)[0]
    assert run["transcript_lines"] == [
        "Running /var/spool/mqueue/qf6ARAaaaa000001",
        "Connecting to [127.0.0.2] port 2526 via relay...",
        "6ARAaaaa000001: Deferred: Connection refused",
    ]
    assert "\\n" not in run["transcript"] and run["transcript"].count("\n") == 2


def test_hold_and_release_arguments():
    runner = FakeRunner()
    ctx = HostContext(params={"sendmail_path": "sm", "submit_config_path": "/etc/mail/submit.cf"}, runner=runner)
    _queueops.quarantine(ctx, "msp", ["6ARAaaaa000001"], "abuse 4711")
    _queueops.quarantine(ctx, "mta", ["6ARAaaaa000001"], None)
    assert runner.calls == [
        ["sm", "-Ac", "-C", "/etc/mail/submit.cf", "-Qabuse 4711", "-qI6ARAaaaa000001"],
        ["sm", "-Am", "-qQ", "-Q", "-qI6ARAaaaa000001"],
    ]


def test_delete_moves_to_private_trash_and_skips_locked(q, tmp_path):
    fd = os.open(q / "qf6ARAaaaa000002", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        result = _queueops.delete(
            [str(q)], ["6ARAaaaa000001", "6ARAaaaa000002", "6ARAnope000003"], str(tmp_path / "trash"), check_mode=False
        )
    finally:
        os.close(fd)
    assert result["deleted"] == ["6ARAaaaa000001"] and result["locked"] == ["6ARAaaaa000002"]
    assert result["not_found"] == ["6ARAnope000003"]
    trash = result["trash_dir"]
    assert sorted(os.listdir(trash)) == ["df6ARAaaaa000001", "qf6ARAaaaa000001"]
    assert oct(os.stat(trash).st_mode & 0o777) == "0o700"
    assert sorted(os.listdir(q)) == ["df6ARAaaaa000002", "qf6ARAaaaa000002"]


def test_delete_check_mode_touches_nothing(q, tmp_path):
    before = sorted(os.listdir(q))
    result = _queueops.delete([str(q)], ["6ARAaaaa000001"], str(tmp_path / "trash"), check_mode=True)
    assert result["deleted"] == ["6ARAaaaa000001"] and sorted(os.listdir(q)) == before
    assert not (tmp_path / "trash").exists()


def test_trash_through_symlink_is_refused(q, tmp_path):
    (tmp_path / "evil").mkdir()
    os.symlink(tmp_path / "evil", tmp_path / "trash")
    with pytest.raises(_queue.QueueError, match="is a symlink; refusing to use it"):
        _queueops.delete([str(q)], ["6ARAaaaa000001"], str(tmp_path / "trash"), check_mode=False)
    assert len(os.listdir(q)) == 4


def test_delete_across_file_systems_copies_then_unlinks(q, tmp_path, monkeypatch):
    real_link = os.link

    def no_link(src, dst, **kw):
        raise OSError(18, "Invalid cross-device link")  # EXDEV: the trash is on another file system

    monkeypatch.setattr(os, "link", no_link)
    result = _queueops.delete([str(q)], ["6ARAaaaa000001"], str(tmp_path / "trash"), check_mode=False)
    monkeypatch.setattr(os, "link", real_link)
    assert result["deleted"] == ["6ARAaaaa000001"] and result["errors"] == []
    trash = result["trash_dir"]
    assert sorted(os.listdir(trash)) == ["df6ARAaaaa000001", "qf6ARAaaaa000001"]
    assert (q.parent / "trash").exists() and not (q / "qf6ARAaaaa000001").exists()
    assert oct(os.stat(os.path.join(trash, "qf6ARAaaaa000001")).st_mode & 0o777) == "0o600"


def test_delete_failing_copy_leaves_the_message(q, tmp_path, monkeypatch):
    def no_link(src, dst, **kw):
        raise OSError(18, "Invalid cross-device link")

    def broken_copy(src, dst, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", no_link)
    monkeypatch.setattr(_queueops.shutil, "copyfile", broken_copy)
    result = _queueops.delete([str(q)], ["6ARAaaaa000001"], str(tmp_path / "trash"), check_mode=False)
    assert result["deleted"] == [] and "left in the queue" in result["errors"][0]
    assert (q / "qf6ARAaaaa000001").exists() and (q / "df6ARAaaaa000001").exists()
    assert os.listdir(result["trash_dir"]) == []


def test_trash_in_an_existing_shared_directory_is_refused_and_left_alone(q, tmp_path):
    """#13 item 1: trash_dir=/var/spool left /var/spool 0700 and local submission failed (rc 78)."""
    spool = tmp_path / "spool"
    spool.mkdir()
    spool.chmod(0o755)
    with pytest.raises(_queue.QueueError, match=r"not a private directory of ours \(mode 0755"):
        _queueops.delete([str(q)], ["6ARAaaaa000001"], str(spool), check_mode=False)
    assert oct(os.stat(spool).st_mode & 0o7777) == "0o755" and os.listdir(spool) == []
    assert (q / "qf6ARAaaaa000001").exists() and (q / "df6ARAaaaa000001").exists()
