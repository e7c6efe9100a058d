#!/usr/bin/env python3
"""Benchmark: sendmail_queue summary against `mailq` on the same queue, in the same run.

    python3 bench/queue_summary.py [--messages 100000] [--rounds 5]

A lab host (bench01) gets a queue of N deferred messages: one submitted through
the real daemon, the rest copies of its qf/df pair (lab.py backlog --mode clone).
The daemon is stopped while timing, so no queue run rewrites files under either
side. Inside the host, alternately:
  - baseline: `mailq > /dev/null` (Debian's wrapper: MSP and MTA listings)
  - ours:     the collection's scan_queue() over both queues (what summary runs), once
              without a cache (a first run) and once with the cache of the previous run
              (every scheduled run after the first)
  - ours, end to end: the sendmail_queue module through ansible (docker connection)
and prints medians and ratios. Memory over 10^6 messages: bench/queue_memory.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = [
    sys.executable,
    str(ROOT / "lab" / "lab.py"),
    "--prefix",
    "bench",
    "--inventory",
    str(ROOT / "bench" / "results" / "inventory.ini"),
]
HOST = "bench01"
VENV_BIN = ROOT / ".venv" / "bin"

SCAN = r"""
import json, resource, sys, time
sys.path.insert(0, "/tmp/opsiface-bench")
from ansible_collections.opsiface.sendmail.plugins.module_utils import _queue
cache_dir = None if sys.argv[1] == "cold" else "/var/cache/opsiface-bench"
t = time.perf_counter()
out = {}
for name, dirs in (("mta", ["/var/spool/mqueue"]), ("msp", ["/var/spool/mqueue-client"])):
    s = _queue.scan_queue(dirs, time.time(), cache_dir=cache_dir)
    out[name] = s.count
    out[name + "_read"] = s.files_read
out["seconds"] = time.perf_counter() - t
out["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(out))
"""


def sh(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def dexec(*cmd: str) -> subprocess.CompletedProcess:
    return sh("docker", "exec", HOST, *cmd)


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def install_module_utils() -> None:
    dexec("rm", "-rf", "/tmp/opsiface-bench")
    dest = "/tmp/opsiface-bench/ansible_collections/opsiface/sendmail/plugins"
    dexec("mkdir", "-p", dest)
    sh("docker", "cp", str(ROOT / "plugins" / "module_utils"), f"{HOST}:{dest}/module_utils")


def fill_queue(count: int) -> None:
    dexec("find", "/var/spool/mqueue", "/var/spool/mqueue-client", "-mindepth", "1", "-delete")
    subprocess.run([*LAB, "fault", HOST, "heal"], check=True, capture_output=True)  # daemon up, answering 220
    subprocess.run(
        [
            *LAB,
            "fault",
            HOST,
            "backlog",
            "--count",
            str(count),
            "--mode",
            "clone",
            "--age-hours",
            "2",
            "--domains",
            "a.example,b.example,c.example",
        ],
        check=True,
    )
    # Stop the daemon: no queue run may rewrite files while either side reads them.
    dexec("/etc/init.d/sendmail", "stop")
    dexec("sh", "-c", "sleep 1; pkill -f '^sendmail: ' || true")


def run_scan(mode: str = "cold") -> dict:
    return json.loads(dexec("python3", "-c", SCAN, mode).stdout)


def module_round_trip() -> None:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    subprocess.run(
        [str(VENV_BIN / "ansible"), "-i", LAB[-1], HOST, "-m", "opsiface.sendmail.sendmail_queue"],
        check=True,
        capture_output=True,
        env=env,
        cwd=ROOT,
    )


def timing_rounds(args: argparse.Namespace) -> dict:
    print(f"filling the queue with {args.messages} messages ...", flush=True)
    fill_queue(args.messages)
    check = run_scan()
    assert check["mta"] == args.messages, check
    dexec("rm", "-rf", "/var/cache/opsiface-bench")
    run_scan("warm")  # prime the cache, as the previous scheduled run would have
    module_round_trip()  # and the module's own cache
    baseline, cold, warm, e2e = [], [], [], []
    for _ in range(args.rounds):
        baseline.append(timed(lambda: dexec("sh", "-c", "mailq > /dev/null")))
        cold.append(run_scan("cold")["seconds"])
        w = run_scan("warm")
        assert w["mta_read"] == 0, w
        warm.append(w["seconds"])
        e2e.append(timed(module_round_trip))
    b, c, w, e = (statistics.median(x) for x in (baseline, cold, warm, e2e))
    rows = [
        ("mailq (baseline)", b, 1.0),
        ("scan, no cache (first run)", c, b / c),
        ("scan, cache from the last run", w, b / w),
        ("sendmail_queue module via ansible", e, b / e),
    ]
    print(f"\nqueue of {args.messages} messages, median of {args.rounds} rounds")
    print(f"{'what':<36} {'seconds':>8} {'x faster than mailq':>20}")
    for name, secs, ratio in rows:
        print(f"{name:<36} {secs:8.3f} {ratio:20.1f}")
    result = {
        "messages": args.messages,
        "rounds": args.rounds,
        "mailq": baseline,
        "scan_cold": cold,
        "scan_warm": warm,
        "module": e2e,
    }
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="leave the bench host running")
    args = ap.parse_args()
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    subprocess.run([*LAB, "down"], check=True)  # a fresh host every run
    subprocess.run([*LAB, "up", "--count", "1"], check=True)
    try:
        install_module_utils()
        result = timing_rounds(args)
        (ROOT / "bench" / "results" / "queue_summary.json").write_text(json.dumps(result, indent=1))
    finally:
        if not args.keep:
            subprocess.run([*LAB, "down"], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
