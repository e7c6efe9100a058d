from __future__ import annotations

import os
import stat

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _crash

SETGID = "debian12-proc-status-sendmail-mta-setgid.txt"
DUMPABLE = "debian12-proc-status-sendmail-mta-dumpable.txt"
ROOT_WITH_PTRACE = {"cap_eff": 0xA80C25FB}  # captured in a lab host started with --cap-add SYS_PTRACE
ROOT_WITHOUT_PTRACE = {"cap_eff": 0xA80425FB}  # docker's default set


@pytest.mark.parametrize(
    ("name", "setid", "vmsize"),
    [(SETGID, True, 21252 * 1024), (DUMPABLE, False, None)],
    ids=["debian12-setgid-sendmail", "debian12-dumpable-copy"],
)
def test_parse_status_real(fixture_bytes, name, setid, vmsize):
    status = _crash.parse_status(fixture_bytes(name).decode())
    assert _crash.is_setid(status) is setid
    assert status["uids"][:3] == [0, 0, 0]
    if vmsize:
        assert status["vmsize_bytes"] == vmsize
    assert status["vmsize_bytes"] > 1024 * 1024


def test_parse_status_survives_garbage():
    status = _crash.parse_status("Uid:\tx y\nGid:\nVmSize: lots kB\nCapEff:\tzz\n\x00\xff")
    assert status == {"gids": []} or "uids" not in status
    assert not _crash.is_setid(status)


def test_ptrace_guards(fixture_bytes):
    setgid = _crash.parse_status(fixture_bytes(SETGID).decode())
    plain = _crash.parse_status(fixture_bytes(DUMPABLE).decode())
    assert _crash.ptrace_problem(None, ROOT_WITH_PTRACE, setgid) is None
    assert "CAP_SYS_PTRACE" in _crash.ptrace_problem(None, ROOT_WITHOUT_PTRACE, setgid)
    assert _crash.ptrace_problem(None, ROOT_WITHOUT_PTRACE, plain) is None
    assert "ptrace_scope is 3" in _crash.ptrace_problem(3, ROOT_WITH_PTRACE, plain)
    assert "ptrace_scope is 1" in _crash.ptrace_problem(1, ROOT_WITHOUT_PTRACE, plain)
    assert _crash.ptrace_problem(2, ROOT_WITH_PTRACE, plain) is None


def test_abort_guards(fixture_bytes):
    setgid = _crash.parse_status(fixture_bytes(SETGID).decode())
    plain = _crash.parse_status(fixture_bytes(DUMPABLE).decode())
    assert "suid_dumpable is 0" in _crash.abort_problem(setgid, 0, "core", -1)
    assert "relative" in _crash.abort_problem(setgid, 2, "core", -1)
    assert _crash.abort_problem(setgid, 2, "/var/crash/core.%e.%p", -1) is None
    assert "systemd-coredump" in _crash.abort_problem(plain, 0, "|/lib/systemd/systemd-coredump %P %u", -1)
    assert "limit is 0" in _crash.abort_problem(plain, 0, "core", 0)
    assert _crash.abort_problem(plain, 0, "core", -1) is None


@pytest.mark.parametrize(
    ("pattern", "uses_pid", "expected"),
    [
        ("core", False, "/var/spool/mqueue/core"),
        ("core", True, "/var/spool/mqueue/core.190"),
        ("/var/crash/core.%e.%p.%t", False, "/var/crash/core.sendmail-mta.190.*"),
        ("core-%h-%s-%u-%%", True, "/var/spool/mqueue/core-mx01.lab.test-6-0-%.190"),
        ("/cores/[x]*?%Z", False, "/cores/[[]x][*][?]*"),
    ],
)
def test_core_glob(pattern, uses_pid, expected):
    assert (
        _crash.core_glob(
            pattern, _crash.CoreTarget(190, "sendmail-mta", 0, 0, "mx01.lab.test", uses_pid, "/var/spool/mqueue")
        )
        == expected
    )


def test_matching_cores(tmp_path):
    (tmp_path / "core.190").write_bytes(b"x")
    (tmp_path / "core.191").symlink_to("/etc/passwd")
    os.mkfifo(tmp_path / "core.192")
    glob = _crash.core_glob("core", _crash.CoreTarget(190, "sendmail", 0, 0, "h", True, str(tmp_path)))
    assert _crash.matching_cores(glob, 0) == [str(tmp_path / "core.190")]
    assert _crash.matching_cores(
        _crash.core_glob("core.%t", _crash.CoreTarget(1, "s", 0, 0, "h", False, str(tmp_path))), 0
    ) == [str(tmp_path / "core.190")]


def test_space_and_retention():
    assert _crash.space_problem("/var/crash", 10 * 1048576, 25 * 1048576) == (
        "/var/crash has 10 MiB free, the dump needs up to 25 MiB"
    )
    assert _crash.space_problem("/var/crash", 30 * 1048576, 25 * 1048576) is None
    bundles = [(f"20261127T1{i}0000Z-7{i}", float(i)) for i in range(5)]
    assert _crash.to_delete(bundles, 2) == ["20261127T120000Z-72", "20261127T110000Z-71", "20261127T100000Z-70"]
    assert _crash.to_delete(bundles, 0) == [b[0] for b in reversed(bundles)]
    assert _crash.to_delete(bundles, 9) == []


def test_backtrace_summary_real(fixture_bytes):
    summary = _crash.backtrace_summary(fixture_bytes("debian12-gdb13-backtrace-sendmail-listener.txt").decode())
    assert summary["top"] == "select"
    assert summary["frames"] == 6
    assert summary["functions"][4] == "__libc_start_main"
    assert _crash.backtrace_summary("No stack.\n") == {"frames": 0, "top": None, "functions": []}


def test_bundle_files_are_private(tmp_path):
    bundle = _crash.new_bundle(str(tmp_path), 190, 1795000000)
    assert os.path.basename(bundle) == "20261118T110640Z-190"
    assert stat.S_IMODE(os.lstat(bundle).st_mode) == 0o700
    with pytest.raises(FileExistsError):
        _crash.new_bundle(str(tmp_path), 190, 1795000000)
    _crash.write_private(os.path.join(bundle, "metadata.json"), b"{}")
    assert stat.S_IMODE(os.lstat(os.path.join(bundle, "metadata.json")).st_mode) == 0o600
    os.symlink("/etc/passwd", os.path.join(bundle, "evil"))
    with pytest.raises(OSError):
        _crash.write_private(os.path.join(bundle, "evil"), b"x")
    core = tmp_path / "core.190"
    core.write_bytes(b"\x7fELF" + b"\0" * 5000)
    _crash.move_private(str(core), os.path.join(bundle, "core.190"))
    assert not core.exists()
    gz = _crash.compress(os.path.join(bundle, "core.190"))
    assert gz.endswith(".gz") and stat.S_IMODE(os.lstat(gz).st_mode) == 0o600
    assert not os.path.exists(os.path.join(bundle, "core.190"))
    assert _crash.sha256_file(gz) is not None
    assert _crash.sha256_file(os.path.join(bundle, "evil")) is None


def test_solaris_tools(fixture_bytes):
    bt = _crash.mdb_backtrace_summary(fixture_bytes("solaris10-mdb-C-sendmail-written-from-mdb.1.txt").decode())
    assert bt["frames"] == 6 and bt["top"] == "__pollsys"
    assert bt["functions"][3:5] == ["getrequests", "main"]
    args = _crash.parse_pargs(fixture_bytes("solaris10-pargs-a-sendmail-written-from-pargs.1.txt").decode())
    assert args == ["/usr/lib/sendmail", "-bd", "-q15m"]
    assert _crash.parse_vsz_kb("  4312\n") == 4312 * 1024
    assert _crash.parse_vsz_kb("") is None and _crash.parse_vsz_kb("9" * 40) is None
    assert _crash.solaris_argv("gcore", 412, "/var/crash/sendmail/b") == [
        "/usr/bin/gcore",
        "-o",
        "/var/crash/sendmail/b/core",
        "412",
    ]


def test_a_hard_link_or_a_foreign_file_is_never_taken_for_the_core(tmp_path):
    """The core is moved into the bundle and made 0600: a hard link planted in a shared core directory
    would have moved and chmod'ed the file it links to (#13 item 1, same class)."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"secret")
    victim.chmod(0o640)
    os.link(victim, tmp_path / "core.190")
    glob = _crash.core_glob("core", _crash.CoreTarget(190, "sendmail-mta", 0, 0, "h", True, str(tmp_path)))
    assert _crash.matching_cores(glob, 0) == []
    os.unlink(tmp_path / "core.190")
    (tmp_path / "core.190").write_bytes(b"\x7fELF")
    assert _crash.matching_cores(glob, 0, {os.geteuid()}) == [str(tmp_path / "core.190")]
    assert _crash.matching_cores(glob, 0, {os.geteuid() + 4242}) == []
    assert stat.S_IMODE(victim.stat().st_mode) == 0o640
