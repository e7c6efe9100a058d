"""#13 item 4: fleet_report (runs on the controller, often as root) in a directory another user reaches."""

from __future__ import annotations

import json
import os
import stat

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsiface.sendmail.plugins.module_utils import _report, _safefile
from ansible_collections.opsiface.sendmail.plugins.modules import fleet_report

HOST = _report.unreachable_result("ssh: timed out")


def run(args: dict, capsys) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        fleet_report.main()
    return json.loads(capsys.readouterr().out)


def report(report_dir, **extra) -> dict:
    args = {"hosts": {"mx01": HOST}, "run_id": "r1", "started": "2026-11-27T11:00:00Z", "report_dir": str(report_dir)}
    return dict(args, **extra)


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "victim"
    path.write_text("root's file\n")
    path.chmod(0o600)
    return path


def test_a_clean_report_and_a_second_batch(tmp_path, capsys):
    out = run(report(tmp_path / "reports" / "run1", latest_link=True), capsys)
    assert not out.get("failed"), out
    assert os.readlink(tmp_path / "reports" / "latest") == "run1"
    out = run(report(tmp_path / "reports" / "run1", hosts={"mx02": HOST}, merge=True, latest_link=True), capsys)
    fleet = json.loads((tmp_path / "reports" / "run1" / "fleet.json").read_text())
    assert sorted(fleet["hosts"]) == ["mx01", "mx02"]
    assert len((tmp_path / "reports" / "run1" / "journal.jsonl").read_text().splitlines()) == 2
    assert not [n for n in os.listdir(tmp_path / "reports" / "run1") if n.endswith(".tmp")]


@pytest.mark.parametrize("name", ["journal.jsonl", "fleet.md", "fleet.json", "junit.xml"])
def test_links_planted_under_the_report_names_are_never_followed(tmp_path, capsys, victim, name):
    """Root appended to the target of a planted journal.jsonl link (and wrote through *.tmp-<pid> links)."""
    d = tmp_path / "run"
    d.mkdir()
    (d / name).symlink_to(victim)
    for pid in range(os.getpid() - 5, os.getpid() + 50):  # the old predictable temporary names, too
        (d / f"fleet.json.tmp-{pid}").symlink_to(victim)
    out = run(report(d), capsys)
    assert victim.read_text() == "root's file\n" and stat.S_IMODE(victim.stat().st_mode) == 0o600
    if name == "journal.jsonl":
        assert out["failed"] and "refusing to write the report" in out["msg"]
    else:
        assert not out.get("failed"), out
        assert not (d / name).is_symlink()  # replaced by the new file, the link itself gone


def test_a_hard_linked_journal_is_refused(tmp_path, capsys, victim):
    d = tmp_path / "run"
    d.mkdir()
    os.link(victim, d / "journal.jsonl")
    out = run(report(d), capsys)
    assert out["failed"] and "hard link" in out["msg"]
    assert victim.read_text() == "root's file\n"


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o775])
def test_a_report_directory_other_users_can_write_is_refused(tmp_path, capsys, mode):
    d = tmp_path / "shared"
    d.mkdir()
    d.chmod(mode)
    out = run(report(d), capsys)
    assert out["failed"] and f"can be written by other users (mode {mode:04o}" in out["msg"]
    assert os.listdir(d) == []


def test_a_symlinked_report_directory_is_refused(tmp_path, capsys):
    real = tmp_path / "elsewhere"
    real.mkdir()
    (tmp_path / "run").symlink_to(real)
    out = run(report(tmp_path / "run"), capsys)
    assert out["failed"] and "without following a link" in out["msg"]
    assert os.listdir(real) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory to another user")
def test_a_hosts_directory_of_another_user_is_never_reused(tmp_path, capsys):
    d = tmp_path / "run"
    (d / "hosts").mkdir(parents=True)
    os.chown(d / "hosts", 4242, 4242)
    out = run(report(d), capsys)
    assert out["failed"] and "hosts is owned by another user" in out["msg"]
    assert os.listdir(d / "hosts") == [] and not (d / "fleet.json").exists()


def test_safefile_refuses_names_with_separators(tmp_path):
    fd = _safefile.open_dir(str(tmp_path / "x"))
    try:
        for bad in ("../escape", "a/b", "", ".", ".."):
            with pytest.raises(_safefile.UnsafePath):
                _safefile.write_file(fd, bad, b"x")
        (tmp_path / "x" / "latest").mkdir()
        with pytest.raises(_safefile.UnsafePath, match="not a symlink"):
            _safefile.replace_symlink(fd, "latest", "run1")
    finally:
        os.close(fd)
