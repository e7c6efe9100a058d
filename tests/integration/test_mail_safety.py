"""Nothing delivered twice, nothing deleted that is not ours (issue #17), on real sendmail lab hosts.

The queue tests use the lab's slow smart host (`lab.py fault HOST slow-smarthost`): mail for
slow.example is relayed to it, it holds the end of DATA while /var/lib/lab-smarthost/hold exists (so a
queue runner holds that message's lock as long as the test wants) and lists every delivery, so a
duplicate is counted where it would hurt: at the receiving end.
"""

from __future__ import annotations

import collections
import hashlib
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from conftest import OUTPUT, ROOT

QUEUE = "opsiface.sendmail.sendmail_queue"
SMARTHOST = "/var/lib/lab-smarthost"


def wait_for(predicate, timeout: float = 60.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def mta_ids(lab, host: str) -> set[str]:
    out = lab.exec(host, "ls", "/var/spool/mqueue").stdout.split()
    return {name[2:] for name in out if name.startswith("qf")}


def submit(lab, host: str, tag: str) -> tuple[str, str]:
    """Queue one message for the slow smart host without delivering it; (queue ID, Message-Id)."""
    before = mta_ids(lab, host)
    msgid = f"<{tag}-{uuid.uuid4().hex[:12]}@lab.test>"
    lab.exec(
        host,
        "sh",
        "-c",
        f"printf 'Subject: {tag}\\nMessage-Id: {msgid}\\n\\nbody\\n' | /usr/sbin/sendmail -Am -odq someone@slow.example",
    )
    (qid,) = mta_ids(lab, host) - before
    return qid, msgid


def delivering(lab, host: str) -> str | None:
    """The queue ID a queue runner is delivering now (its title: sendmail: MTA: ./<ID> [127.0.0.2]: ...)."""
    out = lab.exec(host, "ps", "-eo", "args").stdout
    for line in out.splitlines():
        if line.startswith("sendmail: MTA: ./") and "[127.0.0.2]" in line:
            return line.split("./", 1)[1].split()[0]
    return None


def runners(lab, host: str) -> list[str]:
    return [a for a in lab.exec(host, "ps", "-eo", "args").stdout.splitlines() if a.startswith("sendmail: MTA: ./")]


def deliveries(lab, host: str) -> collections.Counter:
    out = lab.exec(host, "sh", "-c", f"cat {SMARTHOST}/deliveries 2>/dev/null; true").stdout
    return collections.Counter(line.split()[1] for line in out.splitlines() if len(line.split()) == 2)


def start_runner(host: str) -> None:
    """An operator's `sendmail -Am -qf` (foreground queue run), left running on the host."""
    subprocess.run(["docker", "exec", "-d", host, "/usr/sbin/sendmail", "-Am", "-qf"], check=True)


def run_aside(lab, host: str, aside: str) -> None:
    """What the operator does later: run the moved-aside directory."""
    lab.exec(host, "/usr/sbin/sendmail", "-Am", "-qf", "-O", f"QueueDirectory={aside}")


@pytest.fixture(scope="module")
def fresh(lab):
    """A host of its own: an empty queue, so the runner delivers only this file's messages."""
    with lab.extra_hosts(1) as names:
        yield names[0]


# ------------------------------------------------------------------ item 1: queue runners
def test_move_aside_never_takes_a_message_a_queue_runner_is_delivering(lab, fresh):
    host = fresh
    lab.fault(host, "slow-smarthost", "--delay", "0")
    try:
        lab.exec(host, "touch", f"{SMARTHOST}/hold")
        first, second = submit(lab, host, "runner-a"), submit(lab, host, "runner-b")
        ids = {first[0]: first[1], second[0]: second[1]}
        lab.exec(host, "/etc/init.d/sendmail", "stop")
        started = time.time()
        start_runner(host)
        busy = wait_for(lambda: delivering(lab, host), what="the runner to deliver a message")
        # The old code moved both: the runner delivered the busy one, and running the aside directory again.
        lab.exec(
            host, "sh", "-c", f"mkdir -p /var/spool/old-move && cp -p /var/spool/mqueue/?f{busy} /var/spool/old-move/"
        )
        r = lab.module(host, QUEUE, {"operation": "move_aside", "queue": "mta"})
        assert not r.get("failed") and r["changed"], r
        (moved,) = r["moved"]["directories"]
        (idle,) = set(ids) - {busy}
        assert moved["moved"] == [idle]
        assert [e["queue_id"] for e in moved["locked"]] == [busy]
        (holder,) = moved["locked"][0]["held_by"]
        assert holder["title"].startswith(f"sendmail: MTA: ./{busy} [127.0.0.2]"), holder
        assert any(p["pid"] == holder["pid"] for p in r["moved"]["processes"]), r["moved"]
        assert any(f"{busy} (pid {holder['pid']}" in a for a in r["actions"]), r["actions"]
        lab.exec(host, "rm", f"{SMARTHOST}/hold")
        wait_for(lambda: not runners(lab, host), what="the queue runner to finish")
        run_aside(lab, host, moved["moved_to"])
        assert deliveries(lab, host) == collections.Counter(ids.values()), "a message was delivered twice or never"
        # the nothing-lost gate: what the old code left behind (a copy of the busy message) is a failure now
        gate = lab.module(
            host,
            QUEUE,
            {
                "operation": "account",
                "expected_ids": {"mta": sorted(ids)},
                "since": started - 5,
                "moved_at": r["moved"]["started_at"],
                "aside_dirs": ["/var/spool/old-move", moved["moved_to"]],
            },
        )
        assert gate["failed"] and gate["accounting"]["duplicate_risk"] == [busy], gate
        assert "would deliver them twice" in gate["msg"]
    finally:
        lab.exec(host, "sh", "-c", "rm -rf /var/spool/old-move /var/spool/mqueue/.aside-*", check=False)
        lab.heal(host)


def test_restart_moving_the_queue_aside_while_a_runner_delivers_delivers_each_message_once(lab, fresh):
    host = fresh
    report_dir = OUTPUT / "ops-restart-with-a-runner"
    shutil.rmtree(report_dir, ignore_errors=True)
    lab.fault(host, "slow-smarthost", "--delay", "0")
    try:
        lab.exec(host, "touch", f"{SMARTHOST}/hold")
        first, second = submit(lab, host, "restart-a"), submit(lab, host, "restart-b")
        ids = {first[0]: first[1], second[0]: second[1]}
        start_runner(host)  # a flush an operator started, which outlives the stop
        busy = wait_for(lambda: delivering(lab, host), what="the runner to deliver a message")
        proc = lab.playbook(
            "playbooks/restart.yml",
            "--limit",
            host,
            "-e",
            f"sendmail_report_dir={report_dir}",
            "-e",
            "restart_move_queue_aside=true",
            check=False,
        )
        result = json.loads((report_dir / "restart.json").read_text())["hosts"][host]
        assert proc.returncode == 0 and result["status"] == "ok", (proc.stdout[-3000:], result)
        left = next(a for a in result["actions"] if a.startswith("left 1 message(s) in /var/spool/mqueue"))
        assert busy in left and "holds locked" in left
        moved = next(a for a in result["actions"] if a.startswith("moved 1 message(s) from /var/spool/mqueue to "))
        aside = moved.split(" to ")[1].split(" (")[0]
        lab.exec(host, "rm", f"{SMARTHOST}/hold")
        wait_for(lambda: not runners(lab, host), what="the queue runner to finish")
        run_aside(lab, host, aside)
        assert deliveries(lab, host) == collections.Counter(ids.values()), "a message was delivered twice or never"
    finally:
        lab.exec(host, "sh", "-c", f"rm -f {SMARTHOST}/hold; rm -rf /var/spool/mqueue/.aside-*", check=False)
        lab.heal(host)


# ------------------------------------------------------------------ item 2: mailboxes
PROBE = "opsiface.sendmail.smtp_probe"
MBOX_LAB = Path(__file__).resolve().parent / "mbox_lab.py"
NO_NEWLINE = b"From a@x  Tue Dec  1 10:00:00 2026\nSubject: k\n\nno newline"
FROM_LINES = (
    b"From a@example.org  Tue Dec  1 10:00:00 2026\nSubject: quoted\n\nhello\n>From a quoted line\n\n"
    b"From an unquoted line after a blank one (mboxo)\n>>From twice quoted (mboxrd)\n\n"
    b"From b@example.org  Tue Dec  1 10:01:00 2026\nSubject: last\n\nFrom: not a separator\nbye\n\n"
)


def mailbox(lab, host: str) -> bytes:
    out = subprocess.run(["docker", "exec", host, "cat", "/var/mail/root"], check=True, capture_output=True)
    return out.stdout


def put_mailbox(lab, host: str, data: bytes) -> None:
    subprocess.run(
        [
            "docker",
            "exec",
            "-i",
            host,
            "sh",
            "-c",
            "cat > /var/mail/root; chown root:mail /var/mail/root; chmod 600 /var/mail/root; rm -f /var/mail/root.lock",
        ],
        input=data,
        check=True,
    )


def test_the_delivery_check_removes_nothing_but_its_own_message(lab, fresh):
    host = fresh
    # mboxo/mboxrd From_ lines in bodies: the test message is cut off the end, every other byte stays
    put_mailbox(lab, host, FROM_LINES)
    r = lab.module(host, PROBE, {"send": True, "verify_mailbox": True, "verify_timeout": 30})
    assert r["success"] and r["mailbox"]["removed"] and r["mailbox"]["method"] == "truncated", r
    assert mailbox(lab, host) == FROM_LINES
    # the reproduction: procmail glues our From_ line to a last message without a newline
    put_mailbox(lab, host, NO_NEWLINE)
    r = lab.module(host, PROBE, {"send": True, "verify_mailbox": True, "verify_timeout": 30})
    assert r["success"] and not r["mailbox"]["removed"], r
    assert "does not start a message" in r["mailbox"]["left_because"] and "left there" in r["detail"]
    after = mailbox(lab, host)
    assert after.startswith(NO_NEWLINE + b"From ") and r["token"].encode() in after  # "k" is whole
    put_mailbox(lab, host, b"")


def test_a_message_delivered_during_the_rewrite_is_kept(lab, fresh):
    """40 MB of other people's mail, a late test message in the middle: the check rewrites the mailbox beside
    it and renames it; procmail delivers a message as soon as the check holds the dot-lock."""
    host = fresh
    subprocess.run(["docker", "exec", host, "rm", "-f", "/tmp/appended"], check=True)
    sums = json.loads(
        lab.exec(host, "python3", "-", "build", "/var/mail/root", "40", stdin=MBOX_LAB.read_text()).stdout
    )
    expected_sha = sums["new"]
    watcher = (
        "until grep -qs opsiface-sendmail /var/mail/root.lock; do sleep 0.01; done; "
        "printf 'Subject: appended during the rewrite\\n\\nhello\\n' | /usr/sbin/sendmail -odi root; touch /tmp/appended"
    )
    subprocess.run(["docker", "exec", "-d", host, "sh", "-c", watcher], check=True)
    r = lab.module(host, PROBE, {"send": True, "verify_mailbox": True, "verify_timeout": 30})
    assert r["success"] and r["mailbox"]["removed"], r
    assert r["mailbox"]["earlier_removed"] == ["opsiface-1000000000-" + "f" * 32]
    assert r["mailbox"]["method"] == "rewritten beside and renamed"
    wait_for(lambda: lab.exec(host, "test", "-e", "/tmp/appended", check=False).returncode == 0, what="the watcher")
    wait_for(
        lambda: b"appended during the rewrite" in mailbox(lab, host)[-2000:], what="the appended message to arrive"
    )
    after = mailbox(lab, host)
    head = after[: after.rindex(b"\nFrom ") + 1]
    assert hashlib.sha256(head).hexdigest() == expected_sha, "a byte of someone else's mail changed"
    assert b"X-Opsiface-Token" not in after
    assert lab.exec(host, "stat", "-c", "%U:%G %a", "/var/mail/root").stdout.strip() == "root:mail 600"
    put_mailbox(lab, host, b"")


def test_killed_mid_rewrite_the_mailbox_is_the_old_or_the_new_one(lab, fresh):
    host = fresh
    target = "/tmp/opsiface-mu/ansible_collections/opsiface/sendmail/plugins"
    lab.exec(host, "mkdir", "-p", target)
    subprocess.run(["docker", "cp", str(ROOT / "plugins" / "module_utils"), f"{host}:{target}/"], check=True)
    lab.exec(
        host,
        "sh",
        "-c",
        "cd /tmp/opsiface-mu/ansible_collections && touch __init__.py opsiface/__init__.py "
        "opsiface/sendmail/__init__.py opsiface/sendmail/plugins/__init__.py",
    )
    out = lab.exec(host, "python3", "-", "kill", "/var/mail/root", "30", "16", stdin=MBOX_LAB.read_text()).stdout
    seen = json.loads(out)
    assert seen["other"] == 0, seen  # never a truncated or half-written mailbox
    assert seen["old"] >= 1 and seen["new"] >= 1, seen  # the kills landed before and after the rename
    assert seen["final"] == "new" and seen["debris"] == [], seen  # the next check cleans up after a killed one
    put_mailbox(lab, host, b"")


# ------------------------------------------------------------------ item 3: late test messages
def test_a_late_test_message_is_reported_as_late_and_removed_by_the_next_check(lab, fresh):
    host = fresh
    put_mailbox(lab, host, FROM_LINES)
    lab.exec(host, "touch", "/var/mail/root.lock")  # a mail reader holds the mailbox: local delivery waits
    try:
        first = lab.module(host, PROBE, {"send": True, "verify_mailbox": True, "verify_timeout": 2})
    finally:
        lab.exec(host, "rm", "-f", "/var/mail/root.lock")
    assert not first["success"] and first["failure"] == "delivery_late", first
    assert f"accepted by the MTA as {first['queue_id']}, not yet in /var/mail/root" in first["detail"]
    assert first["queue_entry"]["state"] == "being_delivered" and first["queue_entry"]["held_by"], first
    token = first["token"].encode()
    wait_for(lambda: token in mailbox(lab, host), timeout=60, what="the late test message to arrive")
    deadline = int(first["token"].split("-")[1])
    wait_for(lambda: time.time() > deadline + 1, timeout=60, what="the first check's deadline")
    second = lab.module(host, PROBE, {"send": True, "verify_mailbox": True, "verify_timeout": 30})
    assert second["success"] and second["mailbox"]["earlier_removed"] == [first["token"]], second
    assert mailbox(lab, host) == FROM_LINES  # no test message left, nothing else touched
    put_mailbox(lab, host, b"")
