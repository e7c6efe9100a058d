#!/usr/bin/env python3
"""Benchmark: the health check of this checkout against that of an earlier commit, side by side with ping.

    python3 bench/healthcheck_ab.py --base COMMIT [--sizes 20,100] [--rounds 5] [--prefix ha] [--keep]

Exports COMMIT (`git archive`) to a temporary directory with its own .collections link, starts
max(sizes) lab hosts and raises their load limits as bench/healthcheck.py does, then for each size
runs one warm-up of each health check and, alternately per round, `ansible -m ping`, the health
check of COMMIT and the health check of this checkout (defaults, history on, fail_on never). Prints
each round with the load average at its start and the medians; on a shared machine only these
side-by-side ratios are comparable.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from healthcheck import RESULTS, ROOT, bench_hosts, healthcheck_command, limit_of, ping_command, timed, tree_env


def export(commit: str, into: Path) -> None:
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    link = into / ".collections" / "ansible_collections" / "opsiface"
    link.mkdir(parents=True)
    (link / "sendmail").symlink_to("../../..")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the commit to compare with")
    ap.add_argument("--sizes", default="20,100")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--prefix", default="ha")
    ap.add_argument("--keep", action="store_true", help="leave the hosts running")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="healthcheck-ab-") as tmp:
        base = Path(tmp)
        export(args.base, base)
        with bench_hosts(args.prefix, max(sizes), args.keep) as inventory:
            for n in sizes:
                limit = limit_of(args.prefix, n)
                ping = ping_command(inventory, limit)
                runs = {
                    name: (healthcheck_command(inventory, limit, RESULTS / f"{args.prefix}-report-{name}"), tree)
                    for name, tree in (("base", base), ("this", ROOT))
                }
                for cmd, tree in runs.values():  # warm-up: first AnsiballZ build, queue caches
                    timed(cmd, tree_env(tree), tree)
                rows: dict[str, list[float]] = {"load": [], "ping": [], "base": [], "this": []}
                for i in range(args.rounds):
                    rows["load"].append(os.getloadavg()[0])
                    rows["ping"].append(timed(ping, tree_env()))
                    for name, (cmd, tree) in runs.items():
                        rows[name].append(timed(cmd, tree_env(tree), tree))
                    print(
                        f"{n} hosts, round {i + 1}: " + "  ".join(f"{k} {v[-1]:.2f}" for k, v in rows.items()),
                        flush=True,
                    )
                p, b, t = (statistics.median(rows[k]) for k in ("ping", "base", "this"))
                print(f"{n} hosts: ping {p:.2f} s, {args.base} {b:.2f} s ({b / p:.2f}x), this {t:.2f} s ({t / p:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
