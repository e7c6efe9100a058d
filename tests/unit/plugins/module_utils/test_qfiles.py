from __future__ import annotations

import os
import pwd

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _qfiles

CONTROL = b"V8\nT1\nSroot\n.\n"


@pytest.fixture
def qdir(tmp_path):
    q = tmp_path / "mqueue"
    q.mkdir()
    return q


def test_a_control_file_of_ours_is_read(qdir):
    (qdir / "qfAAAAAAAA0001").write_bytes(CONTROL)
    data, st, kind, detail = _qfiles.read_control(str(qdir / "qfAAAAAAAA0001"), None, frozenset({os.geteuid()}))
    assert (data, kind, detail, st.st_size) == (CONTROL, None, None, len(CONTROL))
    fd = os.open(qdir, os.O_RDONLY)
    try:
        assert _qfiles.read_control("qfAAAAAAAA0001", fd, frozenset({os.geteuid()}), limit=4)[0] == CONTROL[:4]
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    "plant,kind,why",
    [
        (lambda p, t: os.link(t, p), "foreign_qf", "2 hard links"),
        (lambda p, t: (p.write_bytes(CONTROL), os.chown(p, 4242, 0)), "foreign_qf", "owner uid 4242"),
        (lambda p, t: (p.write_bytes(CONTROL), p.chmod(0o646)), "foreign_qf", "world-writable"),
        (lambda p, t: (p.write_bytes(CONTROL), os.truncate(p, _qfiles.QF_MAX_BYTES + 1)), "foreign_qf", "larger than"),
        (lambda p, t: os.symlink(t, p), "not_regular", "symlink"),
        (lambda p, t: os.mkfifo(p), "not_regular", "not a regular file"),
        (lambda p, t: p.mkdir(), "not_regular", "not a regular file"),
    ],
    ids=["hard-link", "other-owner", "world-writable", "oversized", "symlink", "fifo", "directory"],
)
def test_files_sendmail_did_not_write_are_named_not_read(qdir, tmp_path, plant, kind, why):
    target = tmp_path / "root-only"
    target.write_bytes(b"SECRET\n")
    target.chmod(0o600)
    path = qdir / "qfAAAAAAAA0002"
    plant(path, target)
    data, _st, got_kind, detail = _qfiles.read_control(str(path), None, frozenset({0}))
    assert data is None and got_kind == kind and why in detail


def test_queue_owners_are_root_us_the_directories_and_debians_accounts(qdir):
    os.chown(qdir, 4343, 0)
    owners = _qfiles.queue_owners([str(qdir), "/nonexistent"])
    assert {0, os.geteuid(), 4343} <= owners
    for user in ("smmta", "smmsp"):
        try:
            assert pwd.getpwnam(user).pw_uid in owners
        except KeyError:
            pass


def test_leaf_dirs_takes_real_subdirectories_only(qdir, tmp_path):
    (qdir / "qf").mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", qdir / "df")
    assert _qfiles.leaf_dirs(str(qdir)) == [str(qdir), str(qdir / "qf")]


def test_read_regular_reports_what_it_did_not_read(qdir):
    os.mkfifo(qdir / "fifo")
    os.symlink("/etc/passwd", qdir / "link")
    assert _qfiles.read_regular(str(qdir / "fifo"))[2] == "not a regular file"
    assert _qfiles.read_regular(str(qdir / "link"))[2] == "symlink"
    assert _qfiles.read_regular(str(qdir / "missing"))[2] == "vanished"
