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
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from healthcheck import RESULTS, ROOT, VENV_BIN, raise_load_limits


def export(commit: str, into: Path) -> None:
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    link = into / ".collections" / "ansible_collections" / "opsiface"
    link.mkdir(parents=True)
    (link / "sendmail").symlink_to("../../..")


def timed(cmd: list[str], tree: Path) -> float:
    env = dict(os.environ, ANSIBLE_CONFIG=str(tree / "ansible.cfg"), PATH=f"{VENV_BIN}:{os.environ['PATH']}")
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the commit to compare with")
    ap.add_argument("--sizes", default="20,100")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--prefix", default="ha")
    ap.add_argument("--keep", action="store_true", help="leave the hosts running")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    inventory = RESULTS / f"{args.prefix}-inventory.ini"
    lab = [sys.executable, str(ROOT / "lab" / "lab.py"), "--prefix", args.prefix, "--inventory", str(inventory)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="healthcheck-ab-") as tmp:
        base = Path(tmp)
        export(args.base, base)
        subprocess.run([*lab, "up", "--count", str(max(sizes))], check=True)
        try:
            raise_load_limits(args.prefix, max(sizes))
            for n in sizes:
                limit = ",".join(f"{args.prefix}{i:02d}" for i in range(1, n + 1))
                ping = [str(VENV_BIN / "ansible"), "-i", str(inventory), limit, "-m", "ansible.builtin.ping"]

                def check(name: str, limit: str = limit) -> list[str]:
                    report = RESULTS / f"{args.prefix}-report-{name}"
                    return [
                        str(VENV_BIN / "ansible-playbook"),
                        "-i",
                        str(inventory),
                        "playbooks/healthcheck.yml",
                        "--limit",
                        limit,
                        "-e",
                        f"sendmail_report_dir={report}",
                        "-e",
                        "health_check_fail_on=never",
                    ]

                timed(check("base"), base)
                timed(check("this"), ROOT)
                rows: dict[str, list[float]] = {"load": [], "ping": [], "base": [], "this": []}
                for i in range(args.rounds):
                    rows["load"].append(os.getloadavg()[0])
                    rows["ping"].append(timed(ping, ROOT))
                    rows["base"].append(timed(check("base"), base))
                    rows["this"].append(timed(check("this"), ROOT))
                    print(
                        f"{n} hosts, round {i + 1}: " + "  ".join(f"{k} {v[-1]:.2f}" for k, v in rows.items()),
                        flush=True,
                    )
                p, b, t = (statistics.median(rows[k]) for k in ("ping", "base", "this"))
                print(f"{n} hosts: ping {p:.2f} s, {args.base} {b:.2f} s ({b / p:.2f}x), this {t:.2f} s ({t / p:.2f}x)")
        finally:
            if not args.keep:
                subprocess.run([*lab, "down"], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
