"""Restart, crash capture and trace on real sendmail lab hosts: what the runbook's Start/Stop,
Crash Dump and Trace/Debug steps must never get wrong."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time

import pytest
from conftest import OUTPUT


def listener(lab, host: str) -> int | None:
    out = lab.exec(host, "head", "-n1", "/var/run/sendmail/mta/sendmail.pid", check=False).stdout.strip()
    return int(out) if out.isdigit() else None


def smtp_port(host: str) -> int:
    out = subprocess.run(["docker", "port", host, "25/tcp"], check=True, capture_output=True, text=True).stdout
    return int(out.split(":")[-1])


def banner(lab, host: str) -> str:
    with socket.create_connection(("127.0.0.1", smtp_port(host)), timeout=10) as sock:
        sock.settimeout(10)
        data = sock.recv(512).decode()
        sock.sendall(b"QUIT\r\n")
        return data


def queue_ids(lab, host: str) -> set[str]:
    out = lab.exec(host, "sh", "-c", "ls /var/spool/mqueue /var/spool/mqueue-client").stdout
    return {name[2:] for name in out.split() if name[:2] in ("qf", "hf", "Qf")}


def state(lab, host: str) -> str:
    """Checksums of /etc/mail, both queues and the mailboxes, and the sendmail process table."""
    script = (
        "cd / && find etc/mail var/spool/mqueue var/spool/mqueue-client var/mail -type f -print0 | sort -z | "
        "xargs -0 sha256sum; ls -la /var/crash /var/lib/opsiface-sendmail 2>&1; "
        "ps -eo pid,ppid,args | grep '[M]TA: accepting connections'"
    )
    return lab.exec(host, "sh", "-c", script).stdout


def report(path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture
def report_dir(request):
    path = OUTPUT / f"ops-{request.node.name}"
    shutil.rmtree(path, ignore_errors=True)
    return path


# ----------------------------------------------------------------- restart
def test_restart_keeps_every_one_of_200_deferred_messages(lab, report_dir):
    host = lab.hosts[0]
    lab.fault(host, "backlog", "--count", "200", "--mode", "clone", "--domains", "restart.example")
    before_ids, before_pid = queue_ids(lab, host), listener(lab, host)
    assert len(before_ids) >= 200
    lab.playbook("playbooks/restart.yml", "--limit", host, "-e", f"sendmail_report_dir={report_dir}")
    after_ids, after_pid = queue_ids(lab, host), listener(lab, host)
    assert after_pid != before_pid and before_ids <= after_ids
    assert banner(lab, host).startswith("220 ")
    data = report(report_dir / "restart.json")
    result = data["hosts"][host]
    assert data["schema"] == "opsiface.sendmail/restart/v1" and result["status"] == "ok", result
    assert list(result["checks"]) == ["lock", "preflight", "record", "stop", "start", "new_pid", "smtp", "nothing_lost"]
    lost_gate = next(o for o in result["observations"] if o.startswith("nothing_lost:"))
    assert f"all {len(before_ids)} message(s) recorded before are accounted for" in lost_gate
    assert any("/etc/init.d/sendmail stop" in a for a in result["actions"])
    journal = (report_dir / "journal.jsonl").read_text().splitlines()
    assert json.loads(journal[-1])["operation"] == "restart"


def test_restart_refuses_a_broken_config_and_the_old_daemon_still_answers(lab, report_dir):
    host = lab.hosts[1]
    try:
        lab.fault(host, "broken-cf")
        before = listener(lab, host)
        proc = lab.playbook(
            "playbooks/restart.yml", "--limit", host, "-e", f"sendmail_report_dir={report_dir}", check=False
        )
        assert proc.returncode != 0
        assert listener(lab, host) == before
        assert banner(lab, host).startswith("220 ")
        result = report(report_dir / "restart.json")["hosts"][host]
        assert result["status"] == "critical" and result["escalate"]
        assert "pre-flight failed" in result["reasons"][0] and "line " in result["reasons"][0]
        assert result["actions"] == ["none: the pre-flight failed, so nothing was stopped or started"]
    finally:
        lab.heal(host)


def test_rolling_restart_stops_after_the_first_failing_host(lab, report_dir):
    first, bad, last = lab.hosts[2], lab.hosts[3], lab.hosts[4]
    try:
        lab.fault(bad, "broken-cf")
        pids = {h: listener(lab, h) for h in (first, bad, last)}
        proc = lab.playbook(
            "playbooks/restart.yml",
            "--limit",
            f"{first},{bad},{last}",
            "-e",
            f"sendmail_report_dir={report_dir}",
            check=False,
        )
        assert proc.returncode != 0
        assert listener(lab, first) != pids[first]  # restarted
        assert listener(lab, bad) == pids[bad]  # refused in pre-flight, untouched
        assert listener(lab, last) == pids[last]  # never reached
        data = report(report_dir / "restart.json")
        assert sorted(data["hosts"]) == [first, bad]
        assert data["hosts"][first]["status"] == "ok" and data["hosts"][bad]["status"] == "critical"
        assert data["pending"] == [last] and data["rollout_stopped"] is True
        # what the summaries said is what happened: after the first batch the others were still to come
        assert f"Not done yet (a later batch of this rollout): {bad}, {last}" in proc.stdout
        assert f"Not reached (the rollout stopped before them): {last}" in proc.stdout
        assert f"stopped before them): {bad}" not in proc.stdout
        assert "TASK [opsiface.sendmail.restart : Pre-flight" in proc.stdout
        assert f"[{last}]" not in proc.stdout.split("PLAY RECAP")[0]
    finally:
        lab.heal(bad)


def test_restart_with_queue_moved_aside_accounts_for_it(lab, report_dir):
    host = lab.hosts[2]
    lab.fault(host, "backlog", "--count", "5", "--mode", "clone", "--domains", "aside.example")
    before = queue_ids(lab, host)
    lab.playbook(
        "playbooks/restart.yml",
        "--limit",
        host,
        "-e",
        f"sendmail_report_dir={report_dir}",
        "-e",
        "restart_move_queue_aside=true",
    )
    result = report(report_dir / "restart.json")["hosts"][host]
    assert result["status"] == "ok", result
    moved = next(a for a in result["actions"] if a.startswith("moved ") and " from /var/spool/mqueue to " in a)
    aside = moved.split(" to ")[1].split(" (")[0]
    out = lab.exec(host, "ls", aside).stdout.split()
    mta_before = {i for i in before if f"qf{i}" in out}
    assert len(mta_before) >= 5
    assert "moved aside" in next(o for o in result["observations"] if o.startswith("nothing_lost:"))
    assert lab.exec(host, "stat", "-c", "%U:%G %a", "/var/spool/mqueue").stdout.strip() == "smmta:smmsp 2750"


# ----------------------------------------------------------------- crash capture
def bundle_files(lab, host: str, base: str) -> dict[str, str]:
    out = lab.exec(host, "sh", "-c", f"find {base} -mindepth 1 -printf '%P %m %s\\n' 2>/dev/null", check=False).stdout
    return {line.split()[0]: line.split()[1] for line in out.splitlines()}


def test_gcore_keeps_the_daemon_running_with_the_same_pid(lab, report_dir):
    host = lab.hosts[3]
    before = listener(lab, host)
    lab.playbook("playbooks/crash_capture.yml", "--limit", host, "-e", f"sendmail_report_dir={report_dir}")
    assert listener(lab, host) == before
    assert banner(lab, host).startswith("220 ")
    result = report(report_dir / "crash_capture.json")["hosts"][host]
    assert result["status"] == "ok", result
    files = bundle_files(lab, host, "/var/crash/sendmail")
    bundles = [name for name, mode in files.items() if "/" not in name]
    assert len(bundles) == 1 and files[bundles[0]] == "700"
    names = {name.split("/", 1)[1]: mode for name, mode in files.items() if "/" in name}
    assert names == {f"core.{before}": "600", "backtrace.txt": "600", "metadata.json": "600"}
    meta = json.loads(lab.exec(host, "cat", f"/var/crash/sendmail/{bundles[0]}/metadata.json").stdout)
    assert meta["pid"] == before and meta["version"] == "8.17.1.9" and len(meta["binary_sha256"]) == 64
    assert "sendmail" in lab.exec(host, "cat", f"/var/crash/sendmail/{bundles[0]}/backtrace.txt").stdout


def test_dump_directory_too_small_fails_cleanly(lab, report_dir):
    """A 2 MiB tmpfs for a ~5 MiB core: refused by the space guard, and, with the guard's margin
    forced down, the dump itself fails on ENOSPC; either way no partial file and the daemon runs."""
    with lab.extra_hosts(1, "/var/crash/small:size=2m,mode=0755") as (host,):
        before = listener(lab, host)
        for margin, reason in (("1.2", "space: /var/crash/small/sendmail has"), ("0.01", "No space left on device")):
            proc = lab.playbook(
                "playbooks/crash_capture.yml",
                "--limit",
                host,
                "-e",
                f"sendmail_report_dir={report_dir}",
                "-e",
                "crash_capture_dir=/var/crash/small/sendmail",
                "-e",
                f"crash_capture_space_margin={margin}",
                check=False,
            )
            assert proc.returncode != 0
            result = report(report_dir / "crash_capture.json")["hosts"][host]
            assert result["status"] == "critical" and reason in result["reasons"][0], result
            assert bundle_files(lab, host, "/var/crash/small/sendmail") == {}
            assert listener(lab, host) == before
            state_line = lab.exec(host, "ps", "-o", "stat=", "-p", str(before)).stdout.strip()
            assert state_line.startswith("S"), state_line  # running (sleeping in select), not stopped
        assert banner(lab, host).startswith("220 ")


def test_abort_mode_produces_a_core_and_restarts(lab, report_dir):
    host = lab.hosts[4]
    try:
        lab.fault(host, "dumpable")
        before = listener(lab, host)
        lab.playbook(
            "playbooks/crash_capture.yml",
            "--limit",
            host,
            "-e",
            f"sendmail_report_dir={report_dir}",
            "-e",
            "crash_capture_mode=abort",
            "-e",
            "crash_capture_confirm_abort=true",
            "-e",
            "crash_capture_fetch=true",
        )
        after = listener(lab, host)
        assert after and after != before
        assert banner(lab, host).startswith("220 ")
        result = report(report_dir / "crash_capture.json")["hosts"][host]
        assert result["status"] == "ok", result
        assert f"sent SIGABRT to the listener {before} (confirmed abort)" in result["actions"]
        assert {"restart_preflight", "restart_start", "restart_new_pid", "restart_smtp"} <= set(result["checks"])
        fetched = list((report_dir / "crash" / host).glob("*/core.*"))
        assert len(fetched) == 1 and fetched[0].stat().st_size > 1_000_000
        assert (fetched[0].parent / "metadata.json").exists() and (fetched[0].parent / "backtrace.txt").exists()
        assert lab.exec(host, "sh", "-c", "ls /var/spool/mqueue | grep -c '^core' || true").stdout.strip() == "0"
    finally:
        lab.heal(host)


def test_abort_refused_without_confirmation_or_dumpability(lab, report_dir):
    host = lab.hosts[5]
    before = listener(lab, host)
    for extra in (
        ["-e", "crash_capture_mode=abort"],
        ["-e", "crash_capture_mode=abort", "-e", "crash_capture_confirm_abort=true"],
    ):
        proc = lab.playbook(
            "playbooks/crash_capture.yml",
            "--limit",
            host,
            "-e",
            f"sendmail_report_dir={report_dir}",
            *extra,
            check=False,
        )
        assert proc.returncode != 0
        assert listener(lab, host) == before
    reasons = report(report_dir / "crash_capture.json")["hosts"][host]["reasons"][0]
    assert "suid_dumpable is 0" in reasons  # Debian's set-gid sendmail dies without a core: refused


# ----------------------------------------------------------------- trace
def hammer(port: int, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.settimeout(5)
                sock.recv(512)
                sock.sendall(b"QUIT\r\n")
                sock.recv(512)
        except OSError:
            time.sleep(0.05)


def test_trace_stops_at_its_bounds_and_the_daemon_keeps_serving(lab, report_dir):
    host = lab.hosts[0]
    port = smtp_port(host)
    pid = listener(lab, host)
    started = time.monotonic()
    lab.playbook(
        "playbooks/trace.yml",
        "--limit",
        host,
        "-e",
        f"sendmail_report_dir={report_dir}",
        "-e",
        "trace_syscalls=true",
        "-e",
        "trace_seconds=2",
    )
    assert time.monotonic() - started < 60
    stop = threading.Event()
    worker = threading.Thread(target=hammer, args=(port, stop), daemon=True)
    worker.start()
    try:
        result = lab.module(
            host, "opsiface.sendmail.sendmail_trace", {"syscalls": True, "seconds": 60, "max_bytes": 4096}
        )
    finally:
        stop.set()
        worker.join(10)
    assert result["trace"]["stopped_by"] == "max_bytes", result["trace"]
    assert result["trace"]["bytes"] <= 4096 and result["trace"]["seconds"] < 30
    assert result["trace"]["summary"]["syscalls"].get("accept", 0) >= 1
    assert result["daemon"]["pid"] == pid and result["daemon"]["state"] == "accepting"
    assert banner(lab, host).startswith("220 ")
    data = report(report_dir / "trace.json")["hosts"][host]
    assert data["status"] == "ok"
    assert any("stopped by seconds" in a for a in data["actions"])
    mode = lab.exec(
        host, "sh", "-c", "stat -c '%a' /var/lib/opsiface-sendmail/trace /var/lib/opsiface-sendmail/trace/*"
    ).stdout.split()
    assert mode[0] == "700" and set(mode[1:]) == {"600"}
    r = lab.module(host, "opsiface.sendmail.sendmail_trace", {"addresses": ["root", "nobody@remote.example", "-bt"]})
    assert r["failed"] and "starts with '-'" in r["msg"]


# ----------------------------------------------------------------- check mode
@pytest.mark.parametrize(
    ("playbook", "extra"),
    [
        ("playbooks/restart.yml", ["-e", "restart_move_queue_aside=true"]),
        ("playbooks/crash_capture.yml", []),
        ("playbooks/crash_capture.yml", ["-e", "crash_capture_mode=abort", "-e", "crash_capture_confirm_abort=true"]),
        ("playbooks/trace.yml", ["-e", "trace_syscalls=true", "-e", '{"trace_queue_ids": ["CHECKMODE0001"]}']),
        ("playbooks/site.yml", ["--tags", "restart,crash_capture,trace"]),
        ("playbooks/healthcheck.yml", []),
    ],
    ids=["restart", "crash_capture", "crash_capture-abort", "trace", "site-all-tags", "healthcheck"],
)
def test_check_mode_changes_nothing(lab, report_dir, playbook, extra):
    host = lab.hosts[1]
    lab.fault(host, "backlog", "--count", "3", "--mode", "clone", "--domains", "check.example")
    before = state(lab, host)
    proc = lab.playbook(
        playbook, "--check", "--limit", host, "-e", f"sendmail_report_dir={report_dir}", *extra, check=False
    )
    assert state(lab, host) == before, proc.stdout[-3000:]
    if "abort" not in " ".join(extra):  # abort is refused by its guard on a set-gid daemon, in check mode too
        assert proc.returncode == 0, proc.stdout[-4000:]


def test_site_runs_only_the_health_check_without_tags(lab, report_dir):
    host = lab.hosts[1]
    pid = listener(lab, host)
    proc = lab.playbook("playbooks/site.yml", "--limit", host, "-e", f"sendmail_report_dir={report_dir}")
    assert listener(lab, host) == pid
    assert (report_dir / "fleet.json").exists()
    assert not (report_dir / "restart.json").exists() and not (report_dir / "crash_capture.json").exists()
    assert "opsiface.sendmail.restart : Stop" not in proc.stdout
    proc = lab.playbook(
        "playbooks/site.yml", "--tags", "restart", "--limit", host, "-e", f"sendmail_report_dir={report_dir}"
    )
    assert listener(lab, host) != pid
    assert "opsiface.sendmail.health_check : Fault status" not in proc.stdout
    assert report(report_dir / "restart.json")["hosts"][host]["status"] == "ok"
