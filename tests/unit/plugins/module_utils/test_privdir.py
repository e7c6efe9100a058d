"""_privdir.safe_dir: the guard of every directory the collection writes into (dumps, traces, trash, cache, lock)."""

from __future__ import annotations

import os
import stat

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _privdir


def test_safe_dir_refuses_symlinks_and_open_parents(tmp_path):
    target = tmp_path / "real"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(_privdir.UnsafeDir, match="symlink"):
        _privdir.safe_dir(str(tmp_path / "link" / "sendmail"))
    assert not (target / "sendmail").exists()
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    with pytest.raises(_privdir.UnsafeDir, match="world-writable"):
        _privdir.safe_dir(str(open_dir / "sendmail"))
    sticky = tmp_path / "sticky"  # like /tmp: sticky is not enough
    sticky.mkdir()
    sticky.chmod(0o1777)
    with pytest.raises(_privdir.UnsafeDir, match="world-writable"):
        _privdir.safe_dir(str(sticky / "a" / "b"))
    _privdir.safe_dir(str(tmp_path / "a" / "b"))
    assert stat.S_IMODE(os.lstat(tmp_path / "a" / "b").st_mode) == 0o700
    with pytest.raises(_privdir.UnsafeDir, match="absolute"):
        _privdir.safe_dir("relative/dir")


# #13 item 1: the guard never changes a directory it did not create.
@pytest.fixture
def no_changes(monkeypatch):
    """Any chmod/chown/mkdir/write on this machine fails the test (the old guard chmod'ed /etc to 0700)."""
    calls = []

    def refuse(name):
        def record(*args, **kwargs):
            calls.append((name, args))
            raise AssertionError(f"{name}{args} must not be called")

        return record

    for name in ("chmod", "chown", "lchown", "mkdir", "makedirs", "rename", "replace", "unlink", "rmdir"):
        monkeypatch.setattr(_privdir.os, name, refuse(name))
    return calls


@pytest.mark.parametrize("path", ["/", "/etc", "/proc", "/var/spool", "/usr/bin"])
def test_safe_dir_refuses_system_directories_without_touching_them(no_changes, path):
    before = os.lstat(path)
    with pytest.raises(_privdir.UnsafeDir, match="refusing"):
        _privdir.safe_dir(path)
    assert no_changes == []
    after = os.lstat(path)
    assert (after.st_mode, after.st_uid, after.st_gid) == (before.st_mode, before.st_uid, before.st_gid)


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o710, 0o701, 0o770, 0o1777])
def test_safe_dir_refuses_an_existing_directory_that_is_not_private(tmp_path, mode):
    existing = tmp_path / "spool"
    existing.mkdir()
    existing.chmod(mode)
    with pytest.raises(_privdir.UnsafeDir, match=rf"spool.*mode {mode:04o}, owner uid \d+"):
        _privdir.safe_dir(str(existing))
    assert stat.S_IMODE(os.lstat(existing).st_mode) == mode  # left as it was


def test_safe_dir_refuses_foreign_owners_and_group_writable_parents(tmp_path, monkeypatch):
    parent = tmp_path / "shared"
    parent.mkdir()
    parent.chmod(0o775)
    with pytest.raises(_privdir.UnsafeDir, match="group-writable"):
        _privdir.safe_dir(str(parent / "dumps"))
    assert not (parent / "dumps").exists()
    private = tmp_path / "private"
    private.mkdir(0o700)
    with monkeypatch.context() as m:
        m.setattr(_privdir.os, "geteuid", lambda: 4242)  # as if another user owned it
        with pytest.raises(_privdir.UnsafeDir, match="not a private directory of ours"):
            _privdir.safe_dir(str(private))
    if os.geteuid() == 0:
        other = tmp_path / "other"
        other.mkdir(0o755)
        os.chown(other, 4242, 4242)
        with pytest.raises(_privdir.UnsafeDir, match="owned by another user"):
            _privdir.safe_dir(str(other / "sub" / "dumps"))
        assert not (other / "sub").exists()


def test_safe_dir_creates_missing_components_and_accepts_its_own(tmp_path):
    target = tmp_path / "var" / "crash" / "sendmail"
    created = _privdir.safe_dir(str(target))
    assert created == [str(tmp_path / "var"), str(tmp_path / "var" / "crash"), str(target)]
    assert stat.S_IMODE(os.lstat(target).st_mode) == 0o700
    assert _privdir.safe_dir(str(target)) == []  # private and ours: used as it is
    check = tmp_path / "not" / "yet"
    assert _privdir.safe_dir(str(check), create=False) == [] and not check.parent.exists()
    for bad in ("relative/x", "", "/a/../etc", "/a/./b", "/tmp/x\0y"):
        with pytest.raises(_privdir.UnsafeDir):
            _privdir.safe_dir(bad)
