#!/usr/bin/env python3
"""Benchmark: the health check's report step with history, for large synthetic fleets (#15 item 4).

    .venv/bin/python bench/report_history.py [--sizes 1000,5000] [--runs 12]

Every host's input is a result of sendmail_status as the module returns it, captured on lab hosts
(tests/unit/fixtures/report: healthy, a backlog, a killed daemon), with its name and queue figures varied.
Each host starts with a full history (--runs earlier runs, in its fact and in its file beside the
reports). Two measurements per fleet size, each in a fresh process (peak RSS is that process's):

  action    the report step's work in one process: the verdicts (sendmail_results), the fleet model
            with history (facts and files merged, trends, states), the report files, fleet.prom and
            each host's history file written (plugin_utils/_fleet_report.run, what the action runs);
  playbook  the role's report tasks through ansible-playbook (tasks_from: start, then report): the
            extraction of every host's registered result from hostvars, the filter, the action, the
            facts set for every host into a jsonfile fact cache (what AWX's fact storage reads),
            set_stats and the summary. The hosts' results come from inventory variables.

Prints a table; writes bench/results/report_history.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
FIXTURES = ROOT / "tests" / "unit" / "fixtures" / "report"
KINDS = ("healthy", "backlog", "killed")
sys.path.insert(0, str(ROOT / ".collections"))


def status_of(kind: str, rng: random.Random) -> dict:
    status = json.loads((FIXTURES / f"debian12-8.17.1.9-sendmail_status-{kind}.json").read_text())
    status["queue"]["mta"]["count"] = rng.randint(0, 400) if kind == "backlog" else rng.randint(0, 3)
    status["smtp"]["timings"]["banner"] = round(rng.uniform(1, 20), 1)
    return status


def seed(hosts: list[str], runs: int, history_dir: Path) -> dict:
    """Every host's last *runs* runs, 15 minutes apart, in a fact value and in its history file."""
    from ansible_collections.opsiface.sendmail.plugins.module_utils import _history
    from ansible_collections.opsiface.sendmail.plugins.plugin_utils import _fleet_report

    history_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
    now = time.time()
    facts = {}
    for i, host in enumerate(hosts):
        records = []
        for n in range(runs):
            finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - (runs - n) * 900))
            records.append(
                {
                    "run_id": f"seed-{n}",
                    "finished": finished,
                    "status": "ok" if (i + n) % 7 else "warning",
                    "state_type": "hard",
                    "since": finished,
                    "consecutive": 1,
                    "attempt": 0,
                    "flapping": False,
                    "checks": {a: "ok" for a in ("mta", "process", "config", "syslog", "queue", "smtp")},
                    "queue": {
                        "mta": {"count": n, "oldest": 60 * n, "bytes": 700 * n},
                        "msp": {"count": 0, "oldest": None, "bytes": 0},
                    },
                    "smtp_banner_ms": 3.0,
                    "syslog": {"errors": 0, "warnings": n},
                }
            )
        stored = _history.stored(records)
        facts[host] = stored
        (history_dir / _fleet_report.host_file(host)).write_text(json.dumps(dict(stored, host=host)))
        os.chmod(history_dir / _fleet_report.host_file(host), 0o600)
    return facts


def action(size: int, runs: int, work: Path) -> dict:
    from ansible_collections.opsiface.sendmail.plugins.filter.health import sendmail_results
    from ansible_collections.opsiface.sendmail.plugins.plugin_utils import _fleet_report

    rng = random.Random(size)
    hosts = [f"mx{i:05d}.example.net" for i in range(size)]
    statuses = [status_of(KINDS[i % 3] if i % 10 else "killed", rng) for i in range(size)]
    facts = seed(hosts, runs, work / "reports" / "history")
    started = time.perf_counter()
    results = sendmail_results(hosts, statuses, None, "critical")
    out = _fleet_report.run(
        {
            "hosts": results,
            "run_id": "bench-1",
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "report_dir": str(work / "reports" / "run"),
            "history": facts,
            "history_dir": str(work / "reports" / "history"),
            "history_runs": runs,
        }
    )
    elapsed = time.perf_counter() - started
    assert not out.get("failed"), out.get("msg")
    assert len(out["history"]) == size and all(len(h["runs"]) == runs for h in out["history"].values())
    return {"seconds": elapsed}


PLAYBOOK = """---
- name: The health check's report step over a synthetic fleet
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Start
      ansible.builtin.import_role:
        name: opsiface.sendmail.health_check
        tasks_from: start
    - name: Report
      ansible.builtin.import_role:
        name: opsiface.sendmail.health_check
        tasks_from: report
"""


def playbook(size: int, runs: int, work: Path) -> dict:
    """ansible-playbook over an inventory whose hosts carry a sendmail_status result (by group) and a history."""
    import yaml

    rng = random.Random(size)
    groups = {kind: {"hosts": {}, "vars": {"__health_check_status": status_of(kind, rng)}} for kind in KINDS}
    hosts = [f"mx{i:05d}.example.net" for i in range(size)]
    for i, host in enumerate(hosts):
        groups[KINDS[i % 3]]["hosts"][host] = None
    inventory = {"all": {"children": {"fleet": {"children": groups}}, "vars": {"ansible_connection": "local"}}}
    (work / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (work / "report.yml").write_text(PLAYBOOK)
    cache = work / "fact-cache"
    facts = seed(hosts, runs, work / "reports" / "history")
    cache.mkdir()
    for host, value in facts.items():  # the fact cache as ansible-core 2.19 writes it (a run's facts)
        payload = json.dumps({"health_check_past_runs": value})
        (cache / f"s1_{host}").write_text(json.dumps({"__payload__": payload}))
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_CACHE_PLUGIN="jsonfile",
        ANSIBLE_CACHE_PLUGIN_CONNECTION=str(cache),
        ANSIBLE_CACHE_PLUGIN_TIMEOUT="0",
        ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",  # per task, in playbook.log
        PWD=str(work),
        PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
    )
    cmd = [
        str(ROOT / ".venv" / "bin" / "ansible-playbook"),
        "-i",
        str(work / "inventory.yml"),
        str(work / "report.yml"),
    ]
    cmd += ["-e", f"health_check_history_runs={runs}", "-e", "health_check_report_dir="]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    (work / "playbook.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"ansible-playbook failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    recap = proc.stdout[proc.stdout.rfind("TASKS RECAP") :].splitlines()[3:]
    timed = (re.match(r"^(.*?)\s-*\s*([0-9.]+s)$", line) for line in recap)
    tasks = {m.group(1).split(" : ")[-1].strip(): m.group(2) for m in timed if m}
    latest = json.loads((work / "reports" / "latest" / "fleet.json").read_text())
    assert len(latest["hosts"]) == size and all(h["previous"] for h in latest["hosts"].values())
    one = json.loads(json.loads((cache / f"s1_{hosts[0]}").read_text())["__payload__"])["health_check_past_runs"]
    assert len((one.get("value") or one)["runs"]) == runs
    return {"seconds": elapsed, "tasks": tasks}


def child(kind: str, size: int, runs: int, work: Path) -> None:
    got = (action if kind == "action" else playbook)(size, runs, work)
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    got["peak_rss_mb"] = round(max(self_rss, kids_rss) / 1024, 1)
    got["peak_rss_of"] = "ansible-playbook (largest process)" if kind == "playbook" else "the process"
    print(json.dumps(got))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,5000")
    ap.add_argument("--runs", type=int, default=12, help="earlier runs each host has (the default bound)")
    ap.add_argument("--kinds", default="action,playbook")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "SIZE", "WORK"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.runs, Path(args.child[2]))
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for kind in args.kinds.split(","):
            work = RESULTS / f"report-history-{kind}-{size}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True, mode=0o700)
            cmd = [sys.executable, __file__, "--runs", str(args.runs), "--child", kind, str(size), str(work)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise SystemExit(proc.stdout[-3000:] + proc.stderr[-3000:])
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(dict(got, hosts=size, kind=kind, load=os.getloadavg()[0]))
            print(
                f"{size:>5} hosts  {kind:<8}  {got['seconds']:7.2f} s   peak RSS {got['peak_rss_mb']:7.1f} MB",
                flush=True,
            )
            shutil.rmtree(work, ignore_errors=True)
    (RESULTS / "report_history.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
