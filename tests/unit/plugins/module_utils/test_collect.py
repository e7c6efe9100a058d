from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _collect
from ansible_collections.opsiface.sendmail.plugins.module_utils._context import HostContext
from ansible_collections.opsiface.sendmail.plugins.module_utils._runner import CmdResult


def context(
    runner, sendmail: str = "/usr/sbin/sendmail", config_path: str = "/nonexistent.cf", **params
) -> HostContext:
    """A module call's context with this runner (nothing runs but what it answers), at time 0."""
    params = dict({"config_path": config_path, "sendmail_path": sendmail, "command_timeout": 30}, **params)
    return HostContext(params=params, runner=runner, now=params.pop("now", 0.0))


def summarise(runner, name, dirs, sendmail, thresholds, cache=None):
    options = _collect.QueueOptions(_collect.QueueThresholds(**thresholds), _collect.QueueCache(**(cache or {})))
    return _collect.collect_queue(context(runner, sendmail), name, dirs, options)


class ScriptedRunner:
    """Answers each argv with captured output, and records the calls."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def run(self, argv, stdin=None, timeout=30.0):
        self.calls.append(argv)
        rc, out, err = next(self.answers[arg] for arg in argv if arg in self.answers)
        return CmdResult(tuple(argv), rc, out, err)

    def which(self, name):
        return name


def test_debian12_one_process_for_identity_and_check(tmp_path, fixture_bytes):
    cf = tmp_path / "sendmail.cf"
    cf.write_text("O QueueDirectory=/var/spool/mqueue\n")
    runner = ScriptedRunner({"-bC": (0, fixture_bytes("debian12-8.17.1.9-d0.1-bt.txt"), b"")})
    got = _collect.collect_config(context(runner, "/usr/sbin/sendmail", str(cf)))
    # LogLevel 0: checking a broken cf as root leaves no SYSERR in the mail log (seen in the lab)
    assert [c[1:4] for c in runner.calls] == [["-OLogLevel=0", "-d0.1", "-bC"]]
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
    got = _collect.collect_config(context(runner, "/usr/lib/sendmail", str(cf)))
    assert [c[3] for c in runner.calls] == ["-bC", "-bt"]
    assert got["version"] == "8.8.8+Sun" and got["check"]["ok"] is False
    assert got["check"]["errors"][0]["line"] == 93 and got["check"]["command"].endswith("-d0.1 -bt")


def test_missing_binary_is_unknown(tmp_path):
    class Missing(ScriptedRunner):
        def run(self, argv, stdin=None, timeout=30.0):
            return CmdResult(tuple(argv), None, b"", b"not found", missing=True)

    got = _collect.collect_config(context(Missing({}), "/nope/sendmail", str(tmp_path / "none.cf")))
    assert got["exists"] is False and got["check"]["ok"] is None and "not found" in got["check"]["skipped"]


def test_unreadable_queue_falls_back_to_mailq(tmp_path, fixture_bytes):
    runner = ScriptedRunner({"-oQ" + str(tmp_path / "gone"): (0, fixture_bytes("solaris-8.8-mailq-deferred.txt"), b"")})
    thresholds = {"warn_count": 500, "crit_count": 5000, "warn_age": 14400, "crit_age": 172800}
    got = summarise(runner, "mta", [str(tmp_path / "gone")], "/usr/lib/sendmail", thresholds)
    assert runner.calls == [["/usr/lib/sendmail", "-OLogLevel=0", "-bp", "-oQ" + str(tmp_path / "gone")]]
    assert got["source"] == "mailq" and got["count"] == 2 and "does not exist" in got["error"]
    assert got["by_domain"] == {"remote.example": 1, "other.example": 1}
    assert got["by_reason"] == {"Deferred: Connection timed out with mx.remote.example.": 1, "(none)": 1}


# --------------------------------------------------------------- no sendmail command where it would log
class Recorder(ScriptedRunner):
    """Fails the test on any sendmail command (none may run); anything else (journalctl) finds nothing."""

    def run(self, argv, stdin=None, timeout=30.0):
        assert "sendmail" not in argv[0], f"ran {argv}"
        return CmdResult(tuple(argv), 1, b"", b"")


THRESHOLDS = {"warn_count": 500, "crit_count": 5000, "warn_age": 14400, "crit_age": 172800}


@pytest.fixture
def not_root(monkeypatch):
    """This user may read nothing of sendmail's (as `ops` on Debian: mail.log 0640 root:adm, queues 2750)."""
    monkeypatch.setattr(_collect, "is_root", lambda: False)
    monkeypatch.setattr(_collect.os, "access", lambda path, mode: False)


def test_not_root_no_queue_is_counted_as_empty_and_mailq_does_not_run(tmp_path, not_root):
    """As `ops`, `mailq -oQ...` wrote SYSERR(ops): can not chdir into the mail log and printed nothing,
    which was counted as an empty queue: a 6-hour backlog passed as ok."""
    qdir = tmp_path / "mqueue"
    qdir.mkdir()
    got = summarise(Recorder({}), "mta", [str(qdir)], "/usr/sbin/sendmail", THRESHOLDS)
    assert got["status"] == "unknown" and got["count"] is None
    assert "cannot list" in got["evidence"][0] and "not root" in got["evidence"][0]


def test_mailq_that_lists_nothing_is_unknown_not_empty(tmp_path, fixture_bytes):
    stderr = b"can not chdir(/var/spool/mqueue/): Permission denied\nProgram mode requires special privileges\n"
    runner = ScriptedRunner({"-bp": (78, b"", stderr)})
    got = summarise(runner, "mta", [str(tmp_path / "gone")], "/usr/sbin/sendmail", THRESHOLDS)
    assert got["status"] == "unknown" and got["verdict"] == "unknown" and got["count"] is None
    assert "mailq failed (rc 78)" in got["evidence"][0]


def test_not_root_config_runs_no_sendmail_and_syslog_is_not_read(tmp_path, not_root):
    cf = tmp_path / "sendmail.cf"
    cf.write_text("O QueueDirectory=/var/spool/mqueue\n")
    ctx = context(Recorder({}), "/usr/sbin/sendmail", str(cf))
    got = _collect.collect_config(ctx, check=True, not_run=_collect.NOT_ROOT_COMMANDS)
    assert got["check"]["ok"] is None and "not root" in got["check"]["access"]
    log = tmp_path / "mail.log"
    log.write_text("Dec  1 15:38:32 mx01 sendmail[129]: NOQUEUE: SYSERR(ops): can not chdir(/var/spool/mqueue/)\n")
    scan = _collect.collect_syslog(context(Recorder({})), [str(log)], _collect.SyslogOptions(60, 10))
    assert scan["access"] and "not root" in scan["access"] and scan["errors"] == 0


def test_mailq_dates_give_ages():
    now = time.mktime(time.strptime("2026 Dec 1 15:38", "%Y %b %d %H:%M"))
    assert _collect.mailq_age("Tue Dec  1 09:38", now) == 6 * 3600
    assert _collect.mailq_age("Wed Dec 31 23:00", now) > 300 * 86400  # last year's
    assert _collect.mailq_age("garbage", now) is None


def _status_params(tmp_path, sendmail: str) -> dict:
    return {
        "areas": ["process", "config", "syslog", "queue"],
        "config_path": str(tmp_path / "sendmail.cf"),
        "submit_config_path": str(tmp_path / "submit.cf"),
        "sendmail_path": sendmail,
        "command_timeout": 5,
        "pidfile": str(tmp_path / "sendmail.pid"),
        "ports": [2],
        "log_paths": [str(tmp_path / "mail.log")],
        "since_minutes": 60,
        "syslog_max_bytes": 1 << 20,
        "max_lines": 10,
        "check_config": True,
        "max_zombie_children": 5,
        "syslog_warn_errors": 1,
        "syslog_crit_errors": 10,
        "syslog_warn_warnings": 50,
        "syslog_crit_warnings": 500,
        "queue_warn_count": 500,
        "queue_crit_count": 5000,
        "queue_warn_age": 14400,
        "queue_crit_age": 172800,
        "queue_cache": False,
        "queue_cache_dir": str(tmp_path / "cache"),
        "smtp_host": "127.0.0.1",
        "smtp_port": None,
        "smtp_timeout": 1,
        "smtp_warn_banner_ms": 2000,
    }


@pytest.fixture
def no_mta_daemons(monkeypatch):
    """This machine's /proc shows the daemons of every lab container (a Postfix lab host's master too): these
    tests are about the binary, so the process table is empty."""
    monkeypatch.setattr(_collect, "mta_daemons", lambda proc_root="/proc": [])


def test_another_mtas_wrapper_is_never_run(tmp_path, fixture_bytes, no_mta_daemons):
    """Postfix's /usr/sbin/sendmail logs "fatal: usage" for -d0.1 (captured): it is named, not run."""
    wrapper = tmp_path / "sendmail"
    wrapper.write_bytes(fixture_bytes("mta/debian12-postfix-3.7.11-usr-sbin-sendmail-strings.txt"))
    (tmp_path / "sendmail.cf").write_text(f"O QueueDirectory={tmp_path}/mqueue\n")
    got = _collect.host_status(context(Recorder({}), **_status_params(tmp_path, str(wrapper))))
    assert got["mta"]["mta"] == "postfix" and got["checks"]["mta"]["status"] == "critical"
    assert "Postfix" in got["checks"]["mta"]["reason"] and got["status"] == "critical"


@pytest.mark.parametrize("areas", [["delivery"], ["config", "smtp", "delivery"]], ids=["alone", "with-config"])
@pytest.mark.parametrize("who", ["postfix-wrapper", "not-root"])
def test_the_delivery_area_runs_no_sendmail_command_where_none_may_run(
    tmp_path, fixture_bytes, no_mta_daemons, monkeypatch, who, areas
):
    """The delivery area asked `sendmail -d0.1 -bt` for the name to expect in the banner whenever the config area
    had not read it: on a Postfix host ("fatal: usage" in its log) and as a user other than root, where the
    module promises no sendmail command runs. It expects what the smtp area expects (none when not read)."""
    sendmail = tmp_path / "sendmail"
    sendmail.write_bytes(fixture_bytes("mta/debian12-postfix-3.7.11-usr-sbin-sendmail-strings.txt"))
    if who == "not-root":
        sendmail = tmp_path / "sendmail-by-name"  # what sendmail it is does not matter: not root runs none
        sendmail.write_bytes(b"#!/bin/sh\n")
        monkeypatch.setattr(_collect, "is_root", lambda: False)
        monkeypatch.setattr(_collect, "_why_not_run", lambda *a: _collect.NOT_ROOT_COMMANDS)
    (tmp_path / "sendmail.cf").write_text(f"O QueueDirectory={tmp_path}/mqueue\n")
    params = _status_params(tmp_path, str(sendmail))
    params.update(
        areas=areas,
        smtp_port=2,  # nothing listens there: refused, nothing sent
        delivery_rcpt="root",
        delivery_mailbox=str(tmp_path / "mbox"),
        delivery_timeout=1,
    )
    got = _collect.host_status(context(Recorder({}), **params))
    assert got["delivery"]["failure"] == "refused" and got["checks"]["delivery"]["status"] == "critical", got
    assert got["changed"] is False


def test_not_installed(tmp_path, no_mta_daemons):
    params = _status_params(tmp_path, str(tmp_path / "no-sendmail"))
    got = _collect.host_status(context(Recorder({}), **params))
    assert got["checks"]["mta"]["reason"].startswith("sendmail is not installed (no ")
    assert got["checks"]["config"]["status"] == "critical"


def test_not_root_a_missing_queue_is_not_counted_with_mailq(tmp_path, monkeypatch):
    """sendmail_queue's summary takes this path too: as another user mailq would log, so it does not run."""
    monkeypatch.setattr(_collect, "is_root", lambda: False)
    got = summarise(Recorder({}), "mta", [str(tmp_path / "gone")], "/usr/sbin/sendmail", THRESHOLDS)
    assert got["status"] == "unknown" and "does not exist" in got["evidence"][0] and "not root" in got["evidence"][0]


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
    summary = summarise(None, "mta", [str(queue)], "/nonexistent", thresholds, {"dir": str(shared), "write": True})
    assert "queue cache disabled" in summary["cache"]["problem"] and "mode 0755" in summary["cache"]["problem"]
    assert os.listdir(shared) == [] and stat.S_IMODE(os.lstat(shared).st_mode) == 0o755
    fresh = tmp_path / "cache" / "opsiface"
    summary = summarise(None, "mta", [str(queue)], "/nonexistent", thresholds, {"dir": str(fresh), "write": True})
    assert "problem" not in summary["cache"] and stat.S_IMODE(os.lstat(fresh).st_mode) == 0o700


# #15: every health check imports _collect on every host; what only STARTTLS, sending, rotated .gz logs and the
# NFS fallback need is imported where it is used.
def test_collect_imports_no_tls_mailbox_gzip_or_mailq():
    code = (
        "import sys\n"
        "from ansible_collections.opsiface.sendmail.plugins.module_utils import _collect\n"
        "print(sorted(m for m in ('ssl', 'gzip', 'uuid', "
        "'ansible_collections.opsiface.sendmail.plugins.module_utils._mailbox', "
        "'ansible_collections.opsiface.sendmail.plugins.module_utils._mailq') if m in sys.modules))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
