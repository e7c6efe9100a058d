#!/usr/bin/env python3
"""Benchmark: playbooks/healthcheck.yml against `ansible -m ping` on the same lab hosts, same run.

    python3 bench/healthcheck.py [--sizes 20,100] [--rounds 3] [--prefix hb] [--profile]

Starts max(sizes) lab hosts (hb01..), raises sendmail's RefuseLA and QueueLA on them (the machine's
load average is shared by every container: with the defaults every lab sendmail refuses connections
under the load of the bench itself, and the bench would measure refusals), then for each fleet size
N, alternately:
  - baseline: `ansible hb01..hbN -m ansible.builtin.ping` (one module round trip per host)
  - ours:     `ansible-playbook playbooks/healthcheck.yml --limit hb01..hbN` (every read-only check,
              verdicts, history, the fleet report and metrics written; the defaults, so history is on:
              each run compares with the last through the history files beside the reports)
both through the community.docker.docker connection with pipelining and forks 20 (ansible.cfg),
and prints the medians and the ratio, with the load average at the start of each size. Goal (#15):
at most 1.5x ping at 20 and at 100 hosts. --profile adds one health check per size with
ansible.posix.profile_tasks and keeps its per-task times (bench/results/healthcheck-profile-N.txt).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
VENV_BIN = ROOT / ".venv" / "bin"
# The load average limits of the bench's hosts: high enough that no lab sendmail refuses or queues for load.
LOAD_LIMITS = r"s/^#\?O QueueLA=.*/O QueueLA=1000/; s/^#\?O RefuseLA=.*/O RefuseLA=1000/"


def tree_env(tree: Path = ROOT) -> dict:
    """The environment of an Ansible run from *tree* (a checkout): its ansible.cfg, the venv's commands."""
    return dict(os.environ, ANSIBLE_CONFIG=str(tree / "ansible.cfg"), PATH=f"{VENV_BIN}:{os.environ['PATH']}")


def ping_command(inventory: Path, limit: str) -> list[str]:
    return [str(VENV_BIN / "ansible"), "-i", str(inventory), limit, "-m", "ansible.builtin.ping"]


def healthcheck_command(inventory: Path, limit: str, report_dir: Path) -> list[str]:
    """The health check as measured: its defaults (history on), never failing a host, reports in *report_dir*."""
    return [
        str(VENV_BIN / "ansible-playbook"),
        "-i",
        str(inventory),
        "playbooks/healthcheck.yml",
        "--limit",
        limit,
        "-e",
        f"sendmail_report_dir={report_dir}",
        "-e",
        "health_check_fail_on=never",
    ]


def timed(cmd: list[str], env: dict, tree: Path = ROOT) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def raise_load_limits(prefix: str, count: int) -> None:
    """RefuseLA and QueueLA at 1000 on every bench host, and sendmail restarted with them (8 hosts at a time:
    a restart through the init script takes seconds)."""

    def one(i: int) -> None:
        host = f"{prefix}{i:02d}"
        script = f"sed -i '{LOAD_LIMITS}' /etc/mail/sendmail.cf && /etc/init.d/sendmail restart >/dev/null 2>&1"
        subprocess.run(["docker", "exec", host, "sh", "-c", script], check=True)
        got = subprocess.run(
            ["docker", "exec", host, "grep", "-c", "^O RefuseLA=1000", "/etc/mail/sendmail.cf"],
            capture_output=True,
            text=True,
            check=False,
        )
        if got.stdout.strip() != "1":
            raise SystemExit(f"{host}: RefuseLA was not raised")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(1, count + 1)))


@contextlib.contextmanager
def bench_hosts(prefix: str, count: int, keep: bool):
    """*count* lab hosts PREFIX01.. with raised load limits, for the length of the block; their inventory.
    Removed afterwards (also when a step fails) unless *keep*."""
    inventory = RESULTS / f"{prefix}-inventory.ini"
    lab = [sys.executable, str(ROOT / "lab" / "lab.py"), "--prefix", prefix, "--inventory", str(inventory)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    subprocess.run([*lab, "up", "--count", str(count)], check=True)
    try:
        raise_load_limits(prefix, count)
        yield inventory
    finally:
        if not keep:
            subprocess.run([*lab, "down"], check=False)


def limit_of(prefix: str, n: int) -> str:
    """The --limit of the first *n* bench hosts."""
    return ",".join(f"{prefix}{i:02d}" for i in range(1, n + 1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="20,100")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prefix", default="hb", help="lab host prefix of the bench's hosts (hb)")
    ap.add_argument("--profile", action="store_true", help="one more health check per size, with per-task times")
    ap.add_argument("--keep", action="store_true", help="leave the hosts running")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    prefix = args.prefix
    env = tree_env()
    rows = []
    with bench_hosts(prefix, max(sizes), args.keep) as inventory:
        for n in sizes:
            load = os.getloadavg()
            limit = limit_of(prefix, n)
            ping = ping_command(inventory, limit)
            check = healthcheck_command(inventory, limit, RESULTS / f"{prefix}-report")
            timed(check, env)  # warm-up: first AnsiballZ build, queue caches
            base, ours = [], []
            for _ in range(args.rounds):
                base.append(timed(ping, env))
                ours.append(timed(check, env))
            b, o = statistics.median(base), statistics.median(ours)
            rows.append({"hosts": n, "ping": base, "healthcheck": ours, "ratio": o / b, "load_at_start": load})
            print(
                f"{n:>3} hosts: ping {b:6.2f} s   healthcheck {o:6.2f} s   ratio {o / b:4.2f}x   "
                f"(load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})",
                flush=True,
            )
            if args.profile:
                penv = dict(
                    env, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", PROFILE_TASKS_TASK_OUTPUT_LIMIT="40"
                )
                proc = subprocess.run(check, cwd=ROOT, env=penv, capture_output=True, text=True, check=False)
                recap = proc.stdout[proc.stdout.rfind("TASKS RECAP") :]
                (RESULTS / f"healthcheck-profile-{n}.txt").write_text(recap)
                print(recap, flush=True)
        (RESULTS / "healthcheck.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
