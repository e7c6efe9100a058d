"""Nothing delivered twice, nothing deleted that is not ours (issue #17), on real sendmail lab hosts.

The queue tests use the lab's slow smart host (`lab.py fault HOST slow-smarthost`): mail for
slow.example is relayed to it, it holds the end of DATA while /var/lib/lab-smarthost/hold exists (so a
queue runner holds that message's lock as long as the test wants) and lists every delivery, so a
duplicate is counted where it would hurt: at the receiving end.
"""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
import time
import uuid

import pytest
from conftest import OUTPUT

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
