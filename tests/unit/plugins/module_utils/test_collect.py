from __future__ import annotations

from ansible_collections.opsiface.sendmail.plugins.module_utils import _collect
from ansible_collections.opsiface.sendmail.plugins.module_utils._runner import CmdResult


class ScriptedRunner:
    """Answers each argv with captured output, and records the calls."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def run(self, argv, stdin=None, timeout=30.0):
        self.calls.append(argv)
        rc, out, err = self.answers[argv[2]]
        return CmdResult(tuple(argv), rc, out, err)

    def which(self, name):
        return name


def test_debian12_one_process_for_identity_and_check(tmp_path, fixture_bytes):
    cf = tmp_path / "sendmail.cf"
    cf.write_text("O QueueDirectory=/var/spool/mqueue\n")
    runner = ScriptedRunner({"-bC": (0, fixture_bytes("debian12-8.17.1.9-d0.1-bt.txt"), b"")})
    got = _collect.collect_config(str(cf), "/usr/sbin/sendmail", runner, 30)
    assert [c[1:3] for c in runner.calls] == [["-d0.1", "-bC"]]
    assert got["version"] == "8.17.1.9" and got["hostname"] == "mx01.lab.test" and got["check"]["ok"] is True
    assert len(got["sha256"]) == 64


def test_solaris_88_falls_back_to_bt_and_reads_complaints(tmp_path):
    cf = tmp_path / "sendmail.cf"
    cf.write_text("OQ/var/spool/mqueue\n")
    ident = b"Version 8.8.8+Sun\n"
    runner = ScriptedRunner(
        {
            "-bC": (64, b"Version 8.8.8+Sun\n", b"Invalid operation mode C\n"),
            "-bt": (0, ident, b'/etc/mail/sendmail.cf: line 93: unknown configuration line "garbage"\n'),
        }
    )
    got = _collect.collect_config(str(cf), "/usr/lib/sendmail", runner, 30)
    assert [c[2] for c in runner.calls] == ["-bC", "-bt"]
    assert got["version"] == "8.8.8+Sun" and got["check"]["ok"] is False
    assert got["check"]["errors"][0]["line"] == 93 and got["check"]["command"].endswith("-d0.1 -bt")


def test_missing_binary_is_unknown(tmp_path):
    class Missing(ScriptedRunner):
        def run(self, argv, stdin=None, timeout=30.0):
            return CmdResult(tuple(argv), None, b"", b"not found", missing=True)

    got = _collect.collect_config(str(tmp_path / "none.cf"), "/nope/sendmail", Missing({}), 30)
    assert got["exists"] is False and got["check"]["ok"] is None and "not found" in got["check"]["skipped"]


def test_unreadable_queue_falls_back_to_mailq(tmp_path, fixture_bytes):
    runner = ScriptedRunner({"-oQ" + str(tmp_path / "gone"): (0, fixture_bytes("solaris-8.8-mailq-deferred.txt"), b"")})
    thresholds = {"warn_count": 500, "crit_count": 5000, "warn_age": 14400, "crit_age": 172800}
    got = _collect.collect_queue("mta", [str(tmp_path / "gone")], 0.0, runner, "/usr/lib/sendmail", thresholds, 30)
    assert runner.calls == [["/usr/lib/sendmail", "-bp", "-oQ" + str(tmp_path / "gone")]]
    assert got["source"] == "mailq" and got["count"] == 2 and "does not exist" in got["error"]
    assert got["by_domain"] == {"remote.example": 1, "other.example": 1}
    assert got["by_reason"] == {"Deferred: Connection timed out with mx.remote.example.": 1, "(none)": 1}


def test_queue_cache_in_a_directory_that_is_not_ours_is_off_and_left_alone(tmp_path):
    """#13 item 1: a user-supplied cache_dir is checked like a dump directory; a shared one is not written,
    not read (a planted cache would forge the summary) and not chmod'ed."""
    import os
    import stat

    queue = tmp_path / "mqueue"
    queue.mkdir(0o700)
    shared = tmp_path / "shared-cache"
    shared.mkdir()
    shared.chmod(0o755)
    thresholds = {"warn_count": 10, "crit_count": 20, "warn_age": 60, "crit_age": 120}
    summary = _collect.collect_queue(
        "mta", [str(queue)], 0, None, "/nonexistent", thresholds, 5, {"dir": str(shared), "write": True}
    )
    assert "queue cache disabled" in summary["cache"]["problem"] and "mode 0755" in summary["cache"]["problem"]
    assert os.listdir(shared) == [] and stat.S_IMODE(os.lstat(shared).st_mode) == 0o755
    fresh = tmp_path / "cache" / "opsiface"
    summary = _collect.collect_queue(
        "mta", [str(queue)], 0, None, "/nonexistent", thresholds, 5, {"dir": str(fresh), "write": True}
    )
    assert "problem" not in summary["cache"] and stat.S_IMODE(os.lstat(fresh).st_mode) == 0o700
