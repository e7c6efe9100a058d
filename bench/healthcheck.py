#!/usr/bin/env python3
"""Benchmark: playbooks/healthcheck.yml against `ansible -m ping` on the same lab hosts, same run.

    python3 bench/healthcheck.py [--sizes 1,5,10,20] [--rounds 3]

Starts 20 lab hosts (hb01..hb20), then for each fleet size N, alternately:
  - baseline: `ansible hb01..hbN -m ansible.builtin.ping` (one module round trip per host)
  - ours:     `ansible-playbook playbooks/healthcheck.yml --limit hb01..hbN` (every read-only check,
              verdicts, the fleet report written)
both through the community.docker.docker connection with pipelining and forks 20 (ansible.cfg),
and prints the medians and the ratio. Goal: at most 2.0x ping at 20 hosts.
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
RESULTS = ROOT / "bench" / "results"
INVENTORY = RESULTS / "hb-inventory.ini"
LAB = [sys.executable, str(ROOT / "lab" / "lab.py"), "--prefix", "hb", "--inventory", str(INVENTORY)]
VENV_BIN = ROOT / ".venv" / "bin"


def timed(cmd: list[str], env: dict) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,5,10,20")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="leave the hosts running")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    subprocess.run([*LAB, "up", "--count", str(max(sizes))], check=True)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), PATH=f"{VENV_BIN}:{os.environ['PATH']}")
    rows = []
    try:
        for n in sizes:
            limit = ",".join(f"hb{i:02d}" for i in range(1, n + 1))
            ping = [str(VENV_BIN / "ansible"), "-i", str(INVENTORY), limit, "-m", "ansible.builtin.ping"]
            check = [
                str(VENV_BIN / "ansible-playbook"),
                "-i",
                str(INVENTORY),
                "playbooks/healthcheck.yml",
                "--limit",
                limit,
                "-e",
                f"sendmail_report_dir={RESULTS / 'hb-report'}",
            ]
            timed(check, env)  # warm-up: first AnsiballZ build, queue caches
            base, ours = [], []
            for _ in range(args.rounds):
                base.append(timed(ping, env))
                ours.append(timed(check, env))
            b, o = statistics.median(base), statistics.median(ours)
            rows.append({"hosts": n, "ping": base, "healthcheck": ours, "ratio": o / b})
            print(f"{n:>3} hosts: ping {b:6.2f} s   healthcheck {o:6.2f} s   ratio {o / b:4.2f}x", flush=True)
        (RESULTS / "healthcheck.json").write_text(json.dumps(rows, indent=1))
    finally:
        if not args.keep:
            subprocess.run([*LAB, "down"], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
