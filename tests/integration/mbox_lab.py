"""Run inside a lab host (python3 - ARGS < this file): build test mailboxes, and kill the mailbox clean-up
at many points of its rewrite (issue #17 item 2).

    build PATH MEGABYTES        an mbox of about that size, other people's mail with From_ lines in bodies,
                                and in the middle a test message whose check gave up long ago; prints the
                                sha256 of the mbox as it is and as it must be once that message is removed
    kill PATH MEGABYTES N       N times: build the mbox, start the clean-up (the collection's own
                                _mailbox.remove_test_messages, from /tmp/opsiface-mu), SIGKILL its process
                                group after a spread of delays, and record whether the mbox is the old or
                                the new one (anything else is a failure); then one clean-up that is not
                                killed must finish the job and leave no lock or temporary file
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

CLEANUP = (
    "import sys; sys.path.insert(0, '/tmp/opsiface-mu'); "
    "from ansible_collections.opsiface.sendmail.plugins.module_utils import _mailbox; "
    "print(_mailbox.remove_test_messages(sys.argv[1], None).get('method'))"
)


def other_message(n: int, size: int) -> bytes:
    line = f"line {n} of someone's mail, nothing to do with the check\n".encode()
    body = line * max(1, size // len(line))
    return (
        f"From user{n}@example.org  Tue Dec  1 10:{n % 60:02d}:00 2026\n"
        f"Return-Path: <user{n}@example.org>\nSubject: message {n}\n\n".encode()
        + b"Hello,\n>From a quoted line (mboxo)\n\nFrom an unquoted line after a blank line\n"
        + body
        + b"\n"
    )


def expired_test_message() -> bytes:
    token = "opsiface-1000000000-" + "f" * 32  # its check gave up in 2001
    return (
        "From root@lab.test  Tue Dec  1 09:00:00 2026\nReturn-Path: <root@lab.test>\n"
        f"Subject: opsiface.sendmail delivery check {token}\nX-Opsiface-Token: {token}\n\n"
        f"opsiface.sendmail delivery check.\ntoken: {token}\n\n"
    ).encode()


def build(path: str, megabytes: float) -> tuple[str, str]:
    count = 40
    size = int(megabytes * 1024 * 1024 / count)
    before = [other_message(n, size) for n in range(count // 2)]
    after = [other_message(n, size) for n in range(count // 2, count)]
    old = b"".join(before) + expired_test_message() + b"".join(after)
    new = b"".join(before) + b"".join(after)
    with open(path, "wb") as fh:
        fh.write(old)
    os.chmod(path, 0o600)
    os.chown(path, 0, 8)  # root:mail, as Debian's mailboxes
    return hashlib.sha256(old).hexdigest(), hashlib.sha256(new).hexdigest()


def digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def cleanup(path: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CLEANUP, path], start_new_session=True, stdout=subprocess.PIPE, text=True
    )


def kill(path: str, megabytes: float, runs: int) -> dict:
    old, new = build(path, megabytes)
    started = time.monotonic()
    proc = cleanup(path)
    method = proc.communicate()[0].strip()
    whole = time.monotonic() - started
    seen = {"old": 0, "new": 0, "other": 0, "duration": round(whole, 3), "method": method, "delays": []}
    assert digest(path) == new, "the clean-up that was not killed did not remove the test message"
    for i in range(runs):
        build(path, megabytes)
        delay = whole * (0.15 + 1.0 * i / max(1, runs - 1))
        proc = cleanup(path)
        time.sleep(delay)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: the clean-up and nothing else
        except ProcessLookupError:
            pass
        proc.wait()
        state = {old: "old", new: "new"}.get(digest(path), "other")
        seen[state] += 1
        seen["delays"].append([round(delay, 3), state])
    # whatever the last kill left (a dot-lock, a temporary file), the next clean-up finishes the job
    proc = cleanup(path)
    proc.communicate()
    seen["final"] = "new" if digest(path) == new else "other"
    directory, name = os.path.split(path)
    seen["debris"] = sorted(n for n in os.listdir(directory) if n.startswith((name + ".lock", "." + name)))
    return seen


def main() -> None:
    mode, path, megabytes = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if mode == "build":
        old, new = build(path, megabytes)
        print(json.dumps({"old": old, "new": new}))
    elif mode == "kill":
        print(json.dumps(kill(path, megabytes, int(sys.argv[4]))))


if __name__ == "__main__":
    main()
