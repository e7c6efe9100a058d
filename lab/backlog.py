"""Runs *inside* a lab host (python3 stdlib only), fed on stdin by lab.py.

Builds a deferred backlog in the MTA queue, the way it happens in life:
messages for remote domains are submitted to the running daemon over SMTP,
the daemon tries the (refusing) smart host and defers them, so every qf file
carries a real `M` reason and attempt count. Then the creation time (`T`) and
last attempt (`K`) of each message are set back by --age-hours, taking
sendmail's own flock on each qf first so a running delivery is never touched.

--mode clone submits one message that way and then copies its qf/df pair
under fresh queue IDs: the same bytes sendmail wrote, for queues of 10^5 and
more that would take too long to submit one by one.
"""

import argparse
import fcntl
import os
import random
import smtplib
import socket
import string
import time

QDIR = "/var/spool/mqueue"
ID_CHARS = string.digits + string.ascii_uppercase + string.ascii_lowercase


def qf_files():
    return {n for n in os.listdir(QDIR) if n.startswith("qf")}


def submit(count, domains):
    before = qf_files()
    # A sender in the host's own domain: the daemon checks that the sender's
    # domain resolves, and this one is local ($=w).
    sender = "lab-backlog@%s" % socket.gethostname()
    with smtplib.SMTP("127.0.0.1", 25, local_hostname="opsiface-lab-backlog.lab.test", timeout=30) as smtp:
        for i in range(count):
            rcpt = "user%d@%s" % (i, domains[i % len(domains)])
            msg = "From: %s\r\nTo: %s\r\nSubject: lab backlog %d\r\n\r\nlab backlog message %d\r\n" % (
                sender,
                rcpt,
                i,
                i,
            )
            smtp.sendmail(sender, [rcpt], msg)
    deadline = time.time() + 120
    while time.time() < deadline:
        new = qf_files() - before
        pending = [n for n in new if not attempted(n)]
        if len(new) >= count and not pending:
            return sorted(new)
        time.sleep(0.2)
    raise SystemExit("backlog: %d messages not deferred within 120 s" % count)


def attempted(name):
    try:
        with open(os.path.join(QDIR, name), "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return True
    return b"\nM" in data and b"\nN0\n" not in data


def locked_rewrite(path, fn):
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    try:
        with os.fdopen(fd, "r+b", closefd=False) as fh:
            data = fn(fh.read())
            fh.seek(0)
            fh.write(data)
            fh.truncate()
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    return True


def set_times(data, created, attempted_at):
    out = []
    for line in data.split(b"\n"):
        if line.startswith(b"T") and line[1:].isdigit():
            line = b"T%d" % created
        elif line.startswith(b"K") and line[1:].isdigit():
            line = b"K%d" % attempted_at
        out.append(line)
    return b"\n".join(out)


def age(names, hours):
    """Set T/K back; a qf still locked by its delivery is retried for up to 10 s."""
    now = int(time.time())
    pending = dict((name, now - int(hours * 3600) - i) for i, name in enumerate(names))
    deadline = time.time() + 10
    while pending and time.time() < deadline:
        for name, created in list(pending.items()):
            path = os.path.join(QDIR, name)
            if locked_rewrite(path, lambda d, c=created: set_times(d, c, max(c, now - 600))):
                os.utime(path, (created, created))
                del pending[name]
        if pending:
            time.sleep(0.1)
    return len(pending)


def clone(template, count):
    qid = template[2:]
    with open(os.path.join(QDIR, "qf" + qid), "rb") as fh:
        qf = fh.read()
    with open(os.path.join(QDIR, "df" + qid), "rb") as fh:
        df = fh.read()
    st = os.stat(os.path.join(QDIR, "qf" + qid))
    made = []
    prefix = qid[:6]
    serial = 0
    while len(made) < count:
        serial += 1
        new = prefix + random.choice(ID_CHARS) + random.choice(ID_CHARS) + "%06d" % (serial % 1000000)
        qf_path = os.path.join(QDIR, "qf" + new)
        if os.path.exists(qf_path):
            continue
        for kind, data in (("df", df), ("qf", qf)):
            path = os.path.join(QDIR, kind + new)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            os.write(fd, data)
            os.fchown(fd, st.st_uid, st.st_gid)
            os.close(fd)
        made.append("qf" + new)
    return made


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--age-hours", type=float, default=0.0)
    ap.add_argument("--domains", default="remote.example")
    ap.add_argument("--mode", choices=["smtp", "clone"], default="smtp")
    a = ap.parse_args()
    domains = [d for d in a.domains.split(",") if d]
    if a.mode == "smtp":
        names = submit(a.count, domains)
    else:
        names = submit(1, domains)
        names += clone(names[0], a.count - 1)
    skipped = age(names, a.age_hours) if a.age_hours else 0
    print(
        "backlog: %d deferred message(s) for %s, aged %.1f h (%d locked, not aged)"
        % (len(names), ",".join(domains), a.age_hours, skipped)
    )


main()
