"""Every target Python of ansible-core 2.19 on real lab hosts: the same results as on the lab's own 3.11.

One fixture borrows six hosts beyond the fleet, one per target Python: the controller's pyenv 3.8, 3.9, 3.10,
3.12 and 3.13 bind-mounted read-only (`lab.py up --python`) and the image's Debian 3.11 as the reference.
Each gets a 60-message backlog six hours old. The health check runs on all six at once; the queue list, hold
and release, the restart and the crash capture run on 3.8 (the oldest target), 3.9 (RHEL 9's python3) and
3.11, each step once for the three.
"""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import OUTPUT, ROOT
from test_operations import banner, bundle_files, listener, queue_ids

VERSIONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13")
REFERENCE = "3.11"  # the lab image's /usr/bin/python3 (Debian 12)
OPERATIONS_ON = ("3.8", "3.9", REFERENCE)
DOMAIN = "py-slow.example"
QUEUE = "opsiface.sendmail.sendmail_queue"


@pytest.fixture(scope="module")
def by_python(lab):
    """{version: host} for six hosts, each with 60 deferred messages to DOMAIN, six hours old."""
    pythons = tuple("system" if v == REFERENCE else v for v in VERSIONS)
    started = time.monotonic()
    with lab.extra_hosts(len(VERSIONS), pythons=pythons) as names:
        hosts = dict(zip(VERSIONS, names, strict=True))
        for host in names:
            lab.fault(host, "backlog", "--count", "60", "--age-hours", "6", "--domains", DOMAIN)
        print(f"\n{len(names)} target-Python hosts with their backlogs in {time.monotonic() - started:.1f} s")
        yield hosts


def run_json(lab, playbook: str, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    """A playbook run with the json stdout callback: every task's result per host."""
    cmd = lab.playbook_cmd(playbook, *args)
    proc = subprocess.run(cmd, cwd=ROOT, env=lab.module_env(), text=True, capture_output=True, check=False)
    try:
        return proc, json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"no JSON from {cmd}: {proc.stdout[-3000:]} {proc.stderr[-3000:]}") from exc


def task_results(data: dict, name: str) -> dict[str, dict]:
    return {
        host: result
        for play in data["plays"]
        for task in play["tasks"]
        if task["task"]["name"].split(" : ", 1)[-1] == name
        for host, result in task["hosts"].items()
    }


def test_health_check_reports_the_60_message_backlog_alike_on_every_target_python(lab, by_python):
    report_dir = OUTPUT / "target-python-healthcheck"
    started = time.monotonic()
    proc, data = run_json(
        lab,
        "playbooks/healthcheck.yml",
        "--limit",
        ",".join(by_python.values()),
        "-e",
        f"sendmail_report_dir={report_dir}",
        "-e",
        "health_check_fail_on=never",
    )
    print(f"\nhealth check of {len(by_python)} hosts: {time.monotonic() - started:.1f} s")
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The modules really ran with each host's interpreter, as the interpreter itself reports.
    status = task_results(data, "Fault status, queue summary and SMTP self-test")
    for version, host in by_python.items():
        assert not status[host].get("failed"), (version, host, status[host].get("msg"))
        python = status[host]["python"]
        assert python["version"].rsplit(".", 1)[0] == version, (host, python)
        expected = "/usr/bin/python3" if version == REFERENCE else f"/versions/{python['version']}/bin/python{version}"
        assert python["executable"].endswith(expected), (host, python)
    fleet = json.loads((report_dir / "fleet.json").read_text())["hosts"]

    def outcome(host: str) -> dict:
        result = fleet[host]
        queue = result["checks"]["queue"]
        return {
            "status": result["status"],
            "checks": {area: check["status"] for area, check in result["checks"].items()},
            "queue": (queue["count"], queue["by_domain"].get(DOMAIN), queue["oldest_age_seconds"] >= 6 * 3600),
        }

    reference = outcome(by_python[REFERENCE])
    assert reference["status"] == "warning" and reference["checks"]["queue"] == "warning"
    assert reference["queue"] == (60, 60, True)
    for version, host in by_python.items():
        assert outcome(host) == reference, (version, host, fleet[host]["reasons"])


def queue_round(lab, host: str) -> dict:
    """list, hold two, release them: what each step reports, without the host's own queue IDs."""

    def queue(args: dict) -> dict:
        result = lab.module(host, QUEUE, args)
        assert not result.get("failed"), (host, args, result.get("msg"))
        return result

    def summary() -> dict:
        return queue({})["queues"]["mta"]

    before = summary()
    listed = queue({"operation": "list", "recipient_domain": DOMAIN})
    ids = sorted(m["queue_id"] for m in listed["messages"])
    held = queue({"operation": "hold", "queue": "mta", "queue_ids": ids[:2], "reason": "py"})
    during = summary()
    released = queue({"operation": "release", "queue": "mta", "queue_ids": ids[:2]})
    after = summary()
    return {
        "listed": (listed["changed"], len(ids), sorted({k for m in listed["messages"] for k in m})),
        "held": (held["changed"], held["queue_ids"] == ids[:2], sorted(held)),
        "released": (released["changed"], sorted(released)),
        "counts": [(q["count"], q["quarantined"]) for q in (before, during, after)],
    }


def test_queue_list_hold_release_alike_on_3_8_and_3_9(lab, by_python):
    hosts = [by_python[v] for v in OPERATIONS_ON]
    with ThreadPoolExecutor(len(hosts)) as pool:
        rounds = dict(zip(OPERATIONS_ON, pool.map(lambda h: queue_round(lab, h), hosts), strict=True))
    reference = rounds[REFERENCE]
    assert reference["listed"][1] == 60 and reference["counts"] == [(60, 0), (58, 2), (60, 0)], reference
    assert reference["held"][:2] == (True, True) and reference["released"][0] is True
    for version in OPERATIONS_ON:
        assert rounds[version] == reference, version


def test_restart_loses_nothing_alike_on_3_8_and_3_9(lab, by_python):
    hosts = {v: by_python[v] for v in OPERATIONS_ON}
    report_dir = OUTPUT / "target-python-restart"
    before = {v: (queue_ids(lab, h), listener(lab, h)) for v, h in hosts.items()}
    started = time.monotonic()
    lab.playbook(
        "playbooks/restart.yml",
        "--limit",
        ",".join(hosts.values()),
        "-e",
        f"sendmail_report_dir={report_dir}",
        "-e",
        f"restart_serial={len(hosts)}",
    )
    print(f"\nrestart of {len(hosts)} hosts: {time.monotonic() - started:.1f} s")
    results = json.loads((report_dir / "restart.json").read_text())["hosts"]
    shape = {v: (results[h]["status"], list(results[h]["checks"])) for v, h in hosts.items()}
    assert shape[REFERENCE] == (
        "ok",
        ["lock", "preflight", "record", "stop", "start", "new_pid", "smtp", "nothing_lost"],
    )
    for version, host in hosts.items():
        ids, pid = before[version]
        assert len(ids) >= 60 and ids <= queue_ids(lab, host) and listener(lab, host) not in (None, pid), version
        assert shape[version] == shape[REFERENCE], (version, results[host])
        gate = next(o for o in results[host]["observations"] if o.startswith("nothing_lost:"))
        assert f"all {len(ids)} message(s) recorded before are accounted for" in gate, (version, gate)
        assert banner(lab, host).startswith("220 ")


def test_crash_capture_gcore_alike_on_3_8_and_3_9(lab, by_python):
    hosts = {v: by_python[v] for v in OPERATIONS_ON}
    report_dir = OUTPUT / "target-python-crash"
    pids = {v: listener(lab, h) for v, h in hosts.items()}
    lab.playbook(
        "playbooks/crash_capture.yml", "--limit", ",".join(hosts.values()), "-e", f"sendmail_report_dir={report_dir}"
    )
    results = json.loads((report_dir / "crash_capture.json").read_text())["hosts"]
    for version, host in hosts.items():
        assert results[host]["status"] == "ok", (version, results[host])
        assert listener(lab, host) == pids[version], version
        files = bundle_files(lab, host, "/var/crash/sendmail")
        names = sorted(name.split("/", 1)[1] for name in files if "/" in name)
        assert names == sorted([f"core.{pids[version]}", "backtrace.txt", "metadata.json"]), (version, files)
