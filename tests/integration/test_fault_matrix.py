"""The fault matrix (docs/reliability.md): each fault injected into a real lab host, the verdict and the
reason checked, and nothing lost or changed. Rows already covered elsewhere are named in the document."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pytest
from conftest import OUTPUT

STATUS = "opsiface.sendmail.sendmail_status"
QUEUE = "opsiface.sendmail.sendmail_queue"
ALL = {"areas": ["process", "config", "syslog", "queue", "smtp"], "smtp_timeout": 3}

FAKE_SMTP = r"""
import socket, sys, time
mode = sys.argv[1]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 25)); srv.listen(5)
while True:
    c, _a = srv.accept()
    try:
        if mode in ("421", "554"):
            c.sendall(mode.encode() + b" fake.example service not available\r\n"); c.close(); continue
        name = b"fake.example" if mode == "220" else socket.gethostname().encode()  # the others pass the name check
        c.sendall(b"220 " + name + b" ESMTP not sendmail\r\n")
        if mode == "reset":
            import struct
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close(); continue
        while True:
            line = c.recv(512)
            if not line:
                break
            if line.upper().startswith(b"QUIT"):
                c.sendall(b"500 5.5.1 no quitting here\r\n" if mode == "quit500" else b"221 2.0.0 bye\r\n"); break
            c.sendall(b"250 " + name + b"\r\n")
    except OSError:
        pass
    c.close()
"""


def pid_of(lab, host):
    out = lab.exec(host, "head", "-n1", "/var/run/sendmail/mta/sendmail.pid", check=False).stdout.strip()
    return int(out) if out.isdigit() else None


def port(host):
    out = subprocess.run(["docker", "port", host, "25/tcp"], capture_output=True, text=True, check=True).stdout
    return int(out.split(":")[-1])


def queue_names(lab, host):
    return sorted(lab.exec(host, "sh", "-c", "ls -A /var/spool/mqueue /var/spool/mqueue-client").stdout.split())


# 1. zombie children piling up under a hung listener
def test_zombie_children_of_a_stopped_listener(lab):
    host = lab.hosts[0]
    clients = []
    try:
        for _n in range(3):
            sock = socket.create_connection(("127.0.0.1", port(host)), timeout=10)
            sock.recv(512)
            clients.append(sock)
        lab.fault(host, "stop")
        for sock in clients:
            sock.close()  # each child sees EOF and exits; its parent is stopped and cannot reap it
        time.sleep(2)
        r = lab.module(host, STATUS, {"areas": ["process", "smtp"], "smtp_timeout": 2, "max_zombie_children": 2})
        assert r["daemon"]["state"] == "stopped" and r["daemon"]["zombie_children"] >= 3, r["daemon"]
        assert r["status"] == "critical"
        assert "stopped" in r["checks"]["process"]["reason"]
        assert r["smtp"]["failure"] == "timeout_banner"
    finally:
        lab.heal(host)
    assert lab.module(host, STATUS, {"areas": ["process"]})["daemon"]["zombie_children"] == 0


# 2. PidFile pointing at an unrelated process, PidFile missing, two listeners
def test_pidfile_faults_and_two_listeners(lab):
    host = lab.hosts[0]
    pidfile = "/var/run/sendmail/mta/sendmail.pid"
    real = lab.exec(host, "cat", pidfile).stdout
    try:
        lab.exec(host, "sh", "-c", f"printf '1\\n/usr/sbin/sendmail-mta -bd\\n' > {pidfile}")
        r = lab.module(host, STATUS, {"areas": ["process"]})
        assert r["daemon"]["pid"] == int(real.split()[0]) and r["daemon"]["pidfile_matches"] is False
        assert "pid 1 is not the listener" in r["daemon"]["pidfile_problem"]
        assert r["checks"]["process"]["status"] == "warning"
        lab.exec(host, "rm", "-f", pidfile)
        r = lab.module(host, STATUS, {"areas": ["process"]})
        assert r["daemon"]["state"] == "accepting" and r["daemon"]["pidfile_problem"] == "missing"
        assert r["checks"]["process"]["status"] == "warning"
        lab.exec(host, "sh", "-c", f"printf '%s' '{real.strip()}' > {pidfile}")
        lab.exec(
            host,
            "/usr/sbin/sendmail-mta",
            "-bd",
            "-ODaemonPortOptions=Port=2525,Name=MTA2",
            "-OPidFile=/run/sendmail-second.pid",
        )
        time.sleep(1)
        r = lab.module(host, STATUS, {"areas": ["process"]})
        assert len(r["daemon"]["listeners"]) == 2
        assert (
            r["checks"]["process"]["status"] == "warning"
            and "more than one listener" in r["checks"]["process"]["reason"]
        )
    finally:
        lab.exec(host, "sh", "-c", "kill $(head -n1 /run/sendmail-second.pid) 2>/dev/null; true", check=False)
        lab.heal(host)


# 3 and 4. Port 25 owned by something that is not sendmail; a 421 greeting
@pytest.mark.parametrize("mode", ["220", "421", "554", "quit500", "reset"])
def test_port_25_owned_by_a_fake(lab, mode):
    host = lab.hosts[1]
    try:
        lab.fault(host, "service-stop")
        subprocess.run(["docker", "exec", "-d", host, "python3", "-c", FAKE_SMTP, mode], check=True)
        time.sleep(1)
        r = lab.module(host, STATUS, ALL)
        assert r["daemon"]["state"] == "absent" and r["status"] == "critical"
        owners = {s.get("args", "").split()[0] for s in r["listening"]["sockets"]}
        assert owners == {"python3"}, r["listening"]
        reason = r["checks"]["process"]["reason"]
        assert "no sendmail listener is running" in reason and "owned by pid" in reason and "python3" in reason, reason
        smtp = r["smtp"]
        if mode == "220":
            assert smtp["hostname"] == "fake.example" and r["checks"]["smtp"]["status"] != "ok"
        elif mode in ("421", "554"):
            assert smtp["success"] is False and smtp["banner_code"] == int(mode), smtp
        elif mode == "quit500":
            assert smtp["failure"] == "quit_not_221" and smtp["quit_code"] == 500, smtp
        else:
            assert smtp["success"] is False and smtp["failure"] in ("protocol_error", "reset"), smtp
        assert r["checks"]["smtp"]["status"] != "ok"
    finally:
        lab.exec(host, "pkill", "-f", "not sendmail", check=False)
        lab.heal(host)


# 5 and 6. Queue anomalies, files that are not files, a locked qf, hostile bytes
SETUP_QUEUE = r"""
set -e
cd /var/spool/mqueue
good=$(ls | grep '^qf' | head -n1)
[ -n "$good" ]
id=${good#qf}
cp -p qf$id Qf6ARLOST0000001                       # a lost control file
printf 'orphan body' > df6ARORPH0000001             # data without control
cp -p qf$id tf6ARSTALE000001 && touch -d '3 hours ago' tf6ARSTALE000001
: > qf6ARZERO0000001                                # zero length
head -c 40 qf$id > qf6ARTRUNC000001                 # truncated
mkfifo qf6ARFIFO0000001                             # must not block the scan
python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind('qf6ARSOCK0000001')"
printf 'OPSIFACE-NOT-TO-BE-READ\n' > /root/opsiface-target && chmod 600 /root/opsiface-target
ln -s /root/opsiface-target qf6ARLINK0000001       # must not be followed
python3 - "$id" <<'PY'
import sys
src = open("qf" + sys.argv[1], "rb").read().split(b"\n")
bad = []
for line in src:
    if line.startswith(b"S"):
        line = b"S<\xff\xfe\x1b[31mevil\r\x01" + b"x" * 10000 + b"@bad.example>"
    elif line.startswith(b"M"):
        line = b"M\xc3\x28 reason with \x00 NUL and \x7f DEL"
    bad.append(line)
open("qf6ARBYTE0000001", "wb").write(b"\n".join(bad))
open("df6ARBYTE0000001", "wb").write(b"body")
PY
chown -h smmta:smmsp qf6AR* df6AR* Qf6AR* tf6AR* 2>/dev/null || true   # -h: never through the symlink
# A hard link to a root-only file elsewhere on the queue's file system, and another user's file: named, never read.
mkdir -m 700 .opsiface-private
printf 'V8\nT1795759003\nN1\nMOPSIFACE-SECRET-REASON\nSOPSIFACE-SECRET-SENDER\nRPFD:<root@secret.example>\n.\n' \
  > .opsiface-private/secret && chmod 600 .opsiface-private/secret
ln .opsiface-private/secret qf6ARHLINK000001
cp .opsiface-private/secret qf6ARFORGN000001 && chown nobody qf6ARFORGN000001
"""


@pytest.fixture
def spare_host(lab):
    """A host of its own beyond the fleet (the 10,000 messages must not stay on a shared one); removed after."""
    with lab.extra_hosts(3) as names:
        yield names[-1]


def test_queue_anomalies_hostile_bytes_and_a_locked_file(lab, spare_host):
    host = spare_host
    lab.fault(host, "backlog", "--count", "10000", "--mode", "clone", "--domains", "matrix.example")
    lab.exec(host, "sh", "-c", SETUP_QUEUE)
    locked = lab.exec(host, "sh", "-c", "ls /var/spool/mqueue | grep '^qf' | head -n1").stdout.strip()
    holder = (
        "import fcntl,time; f=open('/var/spool/mqueue/%s','r+b'); fcntl.flock(f, fcntl.LOCK_EX); "
        "fcntl.lockf(f, fcntl.LOCK_EX); time.sleep(120)" % locked
    )
    subprocess.run(["docker", "exec", "-d", host, "python3", "-c", holder], check=True)
    time.sleep(1)
    before = queue_names(lab, host)
    started = time.monotonic()
    r = lab.module(host, QUEUE, {"cache": False})
    elapsed = time.monotonic() - started
    assert elapsed < 60, elapsed  # the FIFO did not block, the lock was not waited on
    mta = r["queues"]["mta"]
    assert mta["count"] >= 10000
    anomalies = mta["anomalies"]
    for kind in ("lost_qf", "orphan_df", "stale_tf", "zero_length_qf", "truncated_qf", "not_regular"):
        assert anomalies.get(kind, 0) >= 1, (kind, anomalies)
    assert anomalies["not_regular"] >= 3  # FIFO, socket, symlink
    text = json.dumps(r, ensure_ascii=False)
    text.encode("utf-8")
    listed = lab.module(host, QUEUE, {"operation": "list", "queue": "mta", "queue_ids": ["6ARBYTE0000001"]})
    sender = listed["messages"][0]["sender"]
    assert "\\xff\\xfe\\x1b[31mevil\\r\\x01" in sender and "more]" in sender  # escaped, cut, never dropped
    assert "\\xc3(" in listed["messages"][0]["reason"]
    assert "OPSIFACE-NOT-TO-BE-READ" not in json.dumps(r) + json.dumps(listed)  # the symlink was not followed
    assert anomalies["foreign_qf"] >= 2  # the hard link and the other user's file
    leaked = lab.module(
        host, QUEUE, {"operation": "list", "queue": "mta", "queue_ids": ["6ARHLINK000001", "6ARFORGN000001"]}
    )
    assert leaked["messages"] == [] and {a["kind"] for a in leaked["not_read"]} == {"foreign_qf"}
    assert len(leaked["not_read"]) == 2
    assert "OPSIFACE-SECRET" not in json.dumps(r) + json.dumps(listed) + json.dumps(leaked)
    assert queue_names(lab, host) == before  # reading changed nothing, locked file included
    lab.exec(host, "pkill", "-f", "fcntl.flock", check=False)


# 7. Syslog rotated and gzipped with hostile bytes; a 1 GB log read within bounds
def test_syslog_rotated_gzipped_and_huge(lab):
    host = lab.hosts[3]
    script = r"""
set -e
now=$(date -u +%Y-%m-%dT%H:%M:%S)
printf '%s.000000+00:00 %s sm-mta[9]: 6ARBAD000001: \377\376 SYSERR(root): bad \033[31m bytes\n' "$now" "$(hostname -s)" > /var/log/mail.log.1
printf '%s.000000+00:00 %s sm-mta[9]: old line\n' "$now" "$(hostname -s)" | gzip > /var/log/mail.log.2.gz
"""
    lab.exec(host, "sh", "-c", script)
    r = lab.module(host, STATUS, {"areas": ["syslog"], "since_minutes": 60})
    assert r["syslog"]["syserr"] >= 1
    json.dumps(r, ensure_ascii=False).encode("utf-8")
    try:
        lab.exec(
            host,
            "sh",
            "-c",
            "mv /var/log/mail.log /var/log/mail.log.keep; "
            'yes "$(date -u +%Y-%m-%dT%H:%M:%S).000000+00:00 $(hostname -s) sm-mta[9]: 6ARBIG000001: '
            'to=<a@b.example>, stat=Deferred: Connection refused" | head -c 1073741824 > /var/log/mail.log',
        )
        started = time.monotonic()
        budget = 64 * 1024 * 1024  # the default is 512 MiB; the bound, not its size, is under test
        r = lab.module(host, STATUS, {"areas": ["syslog"], "since_minutes": 60, "syslog_max_bytes": budget})
        elapsed = time.monotonic() - started
        assert elapsed < 120, elapsed  # bounded by syslog_max_bytes, not by the 1 GiB file
        assert r["syslog"]["complete"] is False
        assert sum(f["bytes_read"] for f in r["syslog"]["files"]) <= budget + 65536  # within one read block
        assert any("max_bytes" in p for p in r["syslog"]["problems"]), r["syslog"]["problems"]
    finally:
        lab.exec(
            host,
            "sh",
            "-c",
            "mv -f /var/log/mail.log.keep /var/log/mail.log; rm -f /var/log/mail.log.1 /var/log/mail.log.2.gz",
        )


# 7. The log rotated away while a scan reads it
def test_syslog_rotated_during_the_scan(lab):
    host = lab.hosts[3]
    line = "$(date -u +%Y-%m-%dT%H:%M:%S).000000+00:00 $(hostname -s) sm-mta[9]: 6ARROT000001: SYSERR(root): rotate me"
    lab.exec(
        host,
        "sh",
        "-c",
        f'mv /var/log/mail.log /var/log/mail.log.keep; yes "{line}" | head -c 300000000 > /var/log/mail.log',
    )
    try:
        cmd, scan = lab.start_module(host, STATUS, {"areas": ["syslog"], "since_minutes": 60})
        time.sleep(3)  # the scan is reading backwards through the 100 MB file
        lab.exec(host, "sh", "-c", "mv /var/log/mail.log /var/log/mail.log.1 && : > /var/log/mail.log")
        out, _err = scan.communicate(timeout=300)
        r = lab.module_result(host, cmd, out)
        assert not r.get("failed"), r
        assert r["syslog"]["syserr"] > 0  # what was read before the rotation counts; nothing crashed
        json.dumps(r, ensure_ascii=False).encode("utf-8")
    finally:
        lab.exec(host, "sh", "-c", "mv -f /var/log/mail.log.keep /var/log/mail.log; rm -f /var/log/mail.log.1")


# 8. sendmail.cf missing, or unreadable (a FIFO in its place: reading it would block for ever)
@pytest.mark.parametrize("kind", ["missing", "fifo"])
def test_missing_or_unreadable_config_is_critical_and_restart_refuses(lab, kind):
    host = lab.hosts[3]
    pid = pid_of(lab, host)
    report_dir = OUTPUT / f"matrix-cf-{kind}"
    try:
        lab.exec(host, "mv", "/etc/mail/sendmail.cf", "/etc/mail/sendmail.cf.lab-good")
        if kind == "fifo":
            lab.exec(host, "mkfifo", "/etc/mail/sendmail.cf")
        started = time.monotonic()
        r = lab.module(host, STATUS, {"areas": ["process", "config"], "command_timeout": 5})
        assert time.monotonic() - started < 60  # sendmail -bC on a FIFO is killed at command_timeout
        assert r["checks"]["config"]["status"] == "critical" and r["status"] == "critical", r["checks"]
        proc = lab.playbook(
            "playbooks/restart.yml",
            "--limit",
            host,
            "-e",
            f"sendmail_report_dir={report_dir}",
            "-e",
            "restart_command_timeout=5",
            check=False,
        )
        assert proc.returncode != 0
        result = json.loads((report_dir / "restart.json").read_text())["hosts"][host]
        assert "pre-flight failed" in result["reasons"][0]
        assert pid_of(lab, host) == pid
    finally:
        lab.exec(host, "rm", "-f", "/etc/mail/sendmail.cf")
        lab.heal(host)


# 12. A restart interrupted (controller killed) at each step, then run again
STEPS = {
    "preflight": "Pre-flight - sendmail -bC",
    "record": "Record the queue IDs",
    "stop": "Stop sendmail through its service manager",
    "move_aside": "Move the MTA queue aside",
    "start": "Start sendmail and wait",
    "gates": "Gate - every message recorded before",
}


@pytest.mark.parametrize("step", list(STEPS))
def test_interrupted_restart_then_rerun_loses_nothing(lab, step):
    host = lab.hosts[4]
    lab.fault(host, "backlog", "--count", "20", "--mode", "clone", "--domains", "interrupt.example")
    before = [n for n in queue_names(lab, host) if n.startswith("qf")]
    proc = lab.start_playbook(
        "playbooks/restart.yml", "--limit", host, "-e", "restart_move_queue_aside=true", start_new_session=True
    )
    killed = False
    for line in proc.stdout:
        if line.startswith("TASK [") and STEPS[step] in line:
            time.sleep(1.0)  # the step has started on the host, or finished
            os.killpg(proc.pid, signal.SIGKILL)  # never kill(1): procps reads "-9 -1263" as kill(-1)
            killed = True
            break
    proc.wait(60)
    assert killed, f"the run never reached {step}"
    lab.playbook("playbooks/restart.yml", "--limit", host)  # the operator runs it again
    assert pid_of(lab, host) is not None
    with socket.create_connection(("127.0.0.1", port(host)), timeout=10) as sock:
        assert sock.recv(200).startswith(b"220 ")
    # No .aside-* directory when the run was killed before the move: ls exits 2 on the unmatched glob.
    listing = "ls -A /var/spool/mqueue; ls -A /var/spool/mqueue/.aside-* 2>/dev/null; true"
    out = lab.exec(host, "sh", "-c", listing).stdout.split()
    for name in before:
        assert name in out, f"{name} is neither in the queue nor in a moved-aside directory"


# 9. The queue file system full
def test_queue_file_system_full(lab):
    spec = "/var/spool/mqueue:size=4m,mode=2750,uid=100,gid=102"  # smmta:smmsp 2750, as Debian makes it
    with lab.extra_hosts(2, spec) as names:
        host = names[-1]
        r = lab.module(host, STATUS, {"areas": ["queue"]})
        assert r["checks"]["queue"]["status"] == "ok", r["checks"]["queue"]
        lab.exec(host, "sh", "-c", "dd if=/dev/zero of=/var/spool/mqueue/filler bs=1k count=3850 2>/dev/null; true")
        r = lab.module(host, STATUS, {"areas": ["queue", "smtp"]})
        assert r["checks"]["queue"]["status"] == "critical"
        assert "queue file system full" in r["checks"]["queue"]["reason"]
        assert r["queue"]["mta"]["space"]["free_blocks"] <= 100
        assert r["status"] == "critical"


# 10. A host dropping out in the middle of a restart
def test_host_dropping_mid_restart_is_reported_unreachable(lab):
    report_dir = OUTPUT / "matrix-drop"
    with lab.extra_hosts(1) as (host,):
        proc = lab.start_playbook("playbooks/restart.yml", "--limit", host, "-e", f"sendmail_report_dir={report_dir}")
        output = []
        killed = False
        for line in proc.stdout:
            output.append(line)
            if "Record the queue IDs" in line and not killed:
                subprocess.run(["docker", "kill", host], check=True, capture_output=True)
                killed = True
        proc.wait(120)
        assert proc.returncode != 0, "".join(output)
        result = json.loads((report_dir / "restart.json").read_text())["hosts"][host]
        assert result["status"] == "unreachable", result
        assert result["reasons"][0].startswith("unreachable during ")
        assert any(o.startswith("preflight: pre-flight passed") for o in result["observations"])


# 4. The greeting later than the banner timeout: Debian's greet_pause (1 s for clients other than localhost)
def test_greet_pause_past_the_banner_timeout(lab):
    import re

    host = lab.hosts[5]
    smtp_port = re.search(rf"^{host} .*lab_smtp_port=(\d+)", lab.inventory.read_text(), re.M).group(1)
    args = {"host": "127.0.0.1", "port": int(smtp_port), "expect_hostname": f"{host}.lab.test"}
    started = time.monotonic()
    r = lab.module("localhost", "opsiface.sendmail.smtp_probe", dict(args, banner_timeout=0.3), "-c", "local")
    assert r["success"] is False and r["failure"] == "timeout_banner", r
    assert r["timings"]["total"] < 1500 and time.monotonic() - started < 30
    r = lab.module("localhost", "opsiface.sendmail.smtp_probe", dict(args, banner_timeout=5), "-c", "local")
    assert r["success"] and r["timings"]["banner"] >= 900, r  # the pause is real: about a second


# 5. Mail only in the MSP queue, because the MTA refuses
def test_mail_only_in_the_msp_queue(lab):
    host = lab.hosts[5]
    before = lab.module(host, QUEUE, {})["queues"]["msp"]["count"]
    try:
        lab.fault(host, "service-stop")
        lab.exec(host, "/usr/sbin/sendmail", "root", stdin="Subject: while the MTA is down\n\nqueued by the MSP\n")
        r = lab.module(host, STATUS, {"areas": ["process", "queue"]})
        assert r["daemon"]["state"] == "absent" and r["status"] == "critical"
        msp = r["queue"]["msp"]
        assert msp["count"] == before + 1 and msp["path"] == "/var/spool/mqueue-client"
        assert any("Connection refused" in reason for reason in msp["by_reason"]), msp["by_reason"]
    finally:
        lab.heal(host)
