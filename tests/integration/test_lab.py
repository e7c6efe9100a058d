"""The lab itself: real sendmail hosts as the runbook describes them, and faults that hold."""

from __future__ import annotations

import re
import time

import pytest
from conftest import PREFIX


def listener(lab, host: str) -> tuple[int, int, str, str] | None:
    out = lab.exec(host, "ps", "-eo", "pid=,ppid=,stat=,args=").stdout
    for line in out.splitlines():
        pid, ppid, stat, args = line.split(None, 3)
        if args.startswith("sendmail: MTA: accepting connections"):
            return int(pid), int(ppid), stat, args
    return None


def test_listener_has_ppid_1_and_matches_pidfile(lab):
    host = lab.hosts[0]
    found = listener(lab, host)
    assert found is not None, "no 'sendmail: MTA: accepting connections' process"
    pid, ppid, _stat, _args = found
    assert ppid == 1
    pidfile = lab.exec(host, "cat", "/var/run/sendmail/mta/sendmail.pid").stdout.splitlines()
    assert int(pidfile[0]) == pid
    assert pidfile[1] == "/usr/sbin/sendmail-mta -Am -L sm-mta -bd -q10m"


def test_mail_log_receives_sendmail_lines(lab):
    host = lab.hosts[0]
    log = lab.exec(host, "cat", "/var/log/mail.log").stdout
    assert re.search(r"sm-mta\[\d+\]: starting daemon \(8\.17\.", log)


def test_banner_carries_fqdn_hostname(lab):
    host = lab.hosts[1]
    script = (
        "import socket;s=socket.create_connection(('127.0.0.1',25),5);s.settimeout(5);"
        "print(s.recv(512).decode());s.sendall(b'QUIT\\r\\n');print(s.recv(512).decode())"
    )
    out = lab.exec(host, "python3", "-c", script).stdout
    assert out.startswith(f"220 {host}.lab.test ESMTP Sendmail 8.17.1.9/")
    assert "221 2.0.0" in out


def test_ping_through_collection_inventory(lab):
    proc = lab.playbook("playbooks/ping.yml")
    for host in lab.hosts:
        assert re.search(rf"^{host}\s+: ok=1 .*unreachable=0 +failed=0", proc.stdout, re.M), proc.stdout


def test_up_again_neither_fails_nor_duplicates(lab):
    lab.lab("up", "--count", str(len(lab.hosts)))
    names = lab.exec(lab.hosts[0], "true")  # still there
    assert names.returncode == 0
    import subprocess

    ps = subprocess.run(
        ["docker", "ps", "--filter", f"label=opsiface.lab.prefix={PREFIX}", "--format", "{{.Names}}"],
        check=True,
        text=True,
        capture_output=True,
    ).stdout.split()
    assert sorted(ps) == sorted(lab.hosts)


def test_fault_kill_leaves_no_listener_and_a_stale_pidfile(lab):
    host = lab.hosts[2]
    try:
        pid = listener(lab, host)[0]
        lab.fault(host, "kill")
        time.sleep(0.3)
        assert listener(lab, host) is None
        assert lab.exec(host, "head", "-n1", "/var/run/sendmail/mta/sendmail.pid").stdout.strip() == str(pid)
    finally:
        lab.heal(host)
    assert listener(lab, host) is not None


def test_fault_stop_hangs_the_listener(lab):
    host = lab.hosts[2]
    try:
        lab.fault(host, "stop")
        assert listener(lab, host)[2].startswith("T")
    finally:
        lab.heal(host)
    assert listener(lab, host)[2].startswith("S")


def test_fault_backlog_defers_and_ages_without_leaving_the_host(lab):
    host = lab.hosts[3]
    out = lab.fault(host, "backlog", "--count", "5", "--age-hours", "30", "--domains", "a.example,b.example")
    assert "5 deferred message(s)" in out
    qfs = lab.exec(host, "sh", "-c", "cat /var/spool/mqueue/qf*").stdout
    assert qfs.count("\nMDeferred: Connection refused by [127.0.0.2]") == 5
    created = [int(t) for t in re.findall(r"^T(\d+)$", qfs, re.M)]
    assert len(created) == 5 and all(time.time() - t > 29 * 3600 for t in created)
    assert "user0@a.example" in qfs and "user1@b.example" in qfs
    mailq = lab.exec(host, "mailq").stdout
    assert "(5 requests)" in mailq


@pytest.mark.parametrize(
    "kind,check",
    [
        ("syslog-missing", ("test", "!", "-e", "/var/log/mail.log")),
        ("broken-cf", ("sh", "-c", "! sendmail -bC")),
    ],
)
def test_fault_then_heal(lab, kind, check):
    host = lab.hosts[2]
    try:
        lab.fault(host, kind)
        assert lab.exec(host, *check, check=False).returncode == 0
    finally:
        lab.heal(host)
    assert lab.exec(host, *check, check=False).returncode != 0
