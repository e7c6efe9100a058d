#!/usr/bin/env python3
"""Benchmark: the queue summary against `mailq` on the same queue, side by side in one run.

    python3 bench/queue_summary.py [--messages 100000] [--rounds 7] [--prefix bench] [--reuse] [--keep]

A lab host (PREFIX01) gets a queue of N deferred messages: one submitted through
the real daemon, the rest copies of its qf/df pair (lab.py backlog --mode clone).
The daemon is stopped while timing, so no queue run rewrites files under either
side. Then, interleaved, N rounds of:
  - `ansible -m ping` on the host (the cost of any module round trip);
  - `mailq > /dev/null`, timed inside the host (Debian's wrapper: the MSP and MTA listings);
  - the sendmail_queue module (summary of both queues) through ansible with cache=false: cold,
    every qf read, as an operator's first look at a queue that just blew up;
  - the same module with its cache (the previous round's): warm, nothing changed since;
  - the same module on the empty MSP queue alone: what any module run costs beyond ping (the
    controller builds a larger AnsiballZ payload, the host imports the collection's code);
  - inside the host, the collection's scan_queue() cold and warm (no ansible), with the CPU
    time and peak RSS of the scanning processes (the parent and the forked child);
  - inside the host, the floor of any warm scan in plain Python: listing the queue directory, and
    listing it plus an lstat() of every qf, in one process and in two.
Ratios: mailq / (module - ping), medians. Results in bench/results/queue_summary-N.json.
--reuse keeps the host and the queue of an earlier --keep run with the same N.
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
VENV_BIN = ROOT / ".venv" / "bin"
RESULTS = ROOT / "bench" / "results"

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
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
out["cpu"] = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
out["rss_mb"] = me.ru_maxrss / 1024
out["child_rss_mb"] = kids.ru_maxrss / 1024
print(json.dumps(out))
"""

# mailq timed inside the host (no docker exec in its figure), with its CPU time.
MAILQ = r"""
import json, resource, subprocess, time
t = time.perf_counter()
subprocess.run(["mailq"], stdout=subprocess.DEVNULL, check=False)
seconds = time.perf_counter() - t
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": seconds, "cpu": kids.ru_utime + kids.ru_stime}))
"""


# The floor: what any honest warm scan must do at least, timed inside the host in plain Python: list the
# queue directory; list it and lstat() every qf (the cache key needs each one's inode, size and mtime); and
# the same with two processes (list once, then each lstat()s half the names).
FLOOR = r"""
import json, os, time
D = "/var/spool/mqueue"
def lstat_all(dfd, names):
    for name in names:
        os.stat(name, dir_fd=dfd, follow_symlinks=False)
out = {}
t = time.perf_counter()
os.listdir(D)
out["list"] = time.perf_counter() - t
t = time.perf_counter()
dfd = os.open(D, os.O_RDONLY)
lstat_all(dfd, [n for n in os.listdir(dfd) if n[:2] == "qf"])
os.close(dfd)
out["list_lstat_1"] = time.perf_counter() - t
t = time.perf_counter()
dfd = os.open(D, os.O_RDONLY)
names = [n for n in os.listdir(dfd) if n[:2] == "qf"]
pid = os.fork()
if pid == 0:
    lstat_all(dfd, names[1::2])
    os._exit(0)
lstat_all(dfd, names[::2])
os.waitpid(pid, 0)
out["list_lstat_2"] = time.perf_counter() - t
print(json.dumps(out))
"""


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.host = f"{args.prefix}01"
        self.inventory = RESULTS / f"inventory-{args.prefix}.ini"
        self.lab = [
            sys.executable,
            str(ROOT / "lab" / "lab.py"),
            "--prefix",
            args.prefix,
            "--inventory",
            str(self.inventory),
        ]
        self.env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))

    def dexec(self, *cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "exec", self.host, *cmd], check=True, text=True, capture_output=True)

    def ansible(self, module: str, args: str = "") -> None:
        cmd = [str(VENV_BIN / "ansible"), "-i", str(self.inventory), self.host, "-m", module]
        subprocess.run([*cmd, "-a", args] if args else cmd, check=True, capture_output=True, env=self.env, cwd=ROOT)

    def install_module_utils(self) -> None:
        self.dexec("rm", "-rf", "/tmp/opsiface-bench")
        dest = "/tmp/opsiface-bench/ansible_collections/opsiface/sendmail/plugins"
        self.dexec("mkdir", "-p", dest)
        subprocess.run(
            ["docker", "cp", str(ROOT / "plugins" / "module_utils"), f"{self.host}:{dest}/module_utils"], check=True
        )

    def fill_queue(self, count: int) -> None:
        self.dexec("find", "/var/spool/mqueue", "/var/spool/mqueue-client", "-mindepth", "1", "-delete")
        subprocess.run([*self.lab, "fault", self.host, "heal"], check=True, capture_output=True)
        backlog = ["backlog", "--count", str(count), "--mode", "clone", "--age-hours", "2"]
        subprocess.run(
            [*self.lab, "fault", self.host, *backlog, "--domains", "a.example,b.example,c.example"], check=True
        )
        # Stop the daemon: no queue run may rewrite files while either side reads them.
        self.dexec("/etc/init.d/sendmail", "stop")
        self.dexec("sh", "-c", "sleep 1; pkill -f '^sendmail: ' || true")

    def scan(self, mode: str) -> dict:
        return json.loads(self.dexec("python3", "-c", SCAN, mode).stdout)

    def rounds(self) -> dict:
        n = self.args.messages
        check = self.scan("cold")
        assert check["mta"] == n, check
        self.dexec("rm", "-rf", "/var/cache/opsiface-bench")
        self.scan("warm")  # prime both caches, as the previous scheduled run would have
        self.ansible("opsiface.sendmail.sendmail_queue")
        times: dict[str, list[float]] = {k: [] for k in ("ping", "mailq", "module_cold", "module_warm", "module_msp")}
        scans: dict[str, list[dict]] = {"cold": [], "warm": []}
        floors: list[dict] = []
        cpu: dict[str, list[float]] = {"mailq": []}
        load: list[float] = [os.getloadavg()[0]]
        for r in range(self.args.rounds):
            times["ping"].append(timed(lambda: self.ansible("ansible.builtin.ping")))
            mailq = json.loads(self.dexec("python3", "-c", MAILQ).stdout)
            times["mailq"].append(mailq["seconds"])
            cpu["mailq"].append(mailq["cpu"])
            times["module_cold"].append(timed(lambda: self.ansible("opsiface.sendmail.sendmail_queue", "cache=false")))
            times["module_warm"].append(timed(lambda: self.ansible("opsiface.sendmail.sendmail_queue")))
            times["module_msp"].append(timed(lambda: self.ansible("opsiface.sendmail.sendmail_queue", "queue=msp")))
            scans["cold"].append(self.scan("cold"))
            warm = self.scan("warm")
            assert warm["mta_read"] == 0 or n > 150000, warm  # more than the cache holds: read every time
            scans["warm"].append(warm)
            floors.append(json.loads(self.dexec("python3", "-c", FLOOR).stdout))
            load.append(os.getloadavg()[0])
            print(
                f"round {r + 1}: "
                + ", ".join(f"{k} {v[-1]:.2f}" for k, v in times.items())
                + f", scan cold {scans['cold'][-1]['seconds']:.2f} warm {warm['seconds']:.2f}"
                + "".join(f", {k} {v:.2f}" for k, v in floors[-1].items())
                + f" (load {load[-1]:.1f})",
                flush=True,
            )
        med = {k: statistics.median(v) for k, v in times.items()}
        b = med["mailq"]
        rows = [
            ("mailq (baseline)", b),
            ("ansible -m ping", med["ping"]),
            ("module, no cache (cold), minus ping", med["module_cold"] - med["ping"]),
            ("module, cache (warm), minus ping", med["module_warm"] - med["ping"]),
            ("module floor: the empty MSP queue, minus ping", med["module_msp"] - med["ping"]),
            ("scan_queue() in the host, cold", statistics.median(s["seconds"] for s in scans["cold"])),
            ("scan_queue() in the host, warm", statistics.median(s["seconds"] for s in scans["warm"])),
            ("floor in the host: list the directory", statistics.median(f["list"] for f in floors)),
            ("floor: list + lstat every qf, 1 process", statistics.median(f["list_lstat_1"] for f in floors)),
            ("floor: list + lstat every qf, 2 processes", statistics.median(f["list_lstat_2"] for f in floors)),
        ]
        rss = max(s["rss_mb"] for s in scans["cold"] + scans["warm"])
        child_rss = max(s["child_rss_mb"] for s in scans["cold"] + scans["warm"])
        print(
            f"\nqueue of {n} messages, median of {self.args.rounds} rounds, load average {min(load):.1f} to {max(load):.1f}"
        )
        print(f"{'what':<44} {'seconds':>8} {'x faster than mailq':>20}")
        for i, (name, secs) in enumerate(rows):
            print(f"{name:<44} {secs:8.3f} {'' if i == 1 else f'{b / secs:.1f}':>20}")
        print(f"peak RSS of the in-host scan: {rss:.1f} MB (parent), {child_rss:.1f} MB (forked child)")
        mailq_cpu = statistics.median(cpu["mailq"])
        for mode in ("cold", "warm"):
            used = statistics.median(s["cpu"] for s in scans[mode])
            print(f"CPU time, median: mailq {mailq_cpu:.2f} s, scan {mode} {used:.2f} s ({mailq_cpu / used:.1f}x less)")
        return {
            "messages": n,
            "rounds": self.args.rounds,
            **times,
            "mailq_cpu": cpu["mailq"],
            "scan_cold": scans["cold"],
            "scan_warm": scans["warm"],
            "floor": floors,
            "load": load,
        }

    def run(self) -> dict:
        if not self.args.reuse:
            subprocess.run([*self.lab, "down"], check=True)  # a fresh host every run
        subprocess.run([*self.lab, "up", "--count", "1"], check=True)
        self.install_module_utils()
        if not self.args.reuse:
            print(f"filling the queue with {self.args.messages} messages ...", flush=True)
            self.fill_queue(self.args.messages)
        return self.rounds()


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--prefix", default="bench", help="lab prefix of the bench host (PREFIX01)")
    ap.add_argument("--reuse", action="store_true", help="use the host and queue left by an earlier --keep run")
    ap.add_argument("--keep", action="store_true", help="leave the bench host running")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    bench = Bench(args)
    started = time.monotonic()
    try:
        result = bench.run()
        result["wall_seconds"] = round(time.monotonic() - started)
        (RESULTS / f"queue_summary-{args.messages}.json").write_text(json.dumps(result, indent=1))
        print(f"bench wall time: {result['wall_seconds']} s")
    finally:
        if not args.keep:
            subprocess.run([*bench.lab, "down"], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
