"""#15: memory across runs, against real sendmail. Three health checks over a fleet where one host's backlog
grows, one dies and stays dead, one flaps (and one stays healthy), with health_check_hard_after: 2:

- from the CLI with zero configuration (the history beside the reports, reports/history), and
- through ansible-runner as AWX runs it: a fresh private data directory for every run, sharing only a
  jsonfile fact cache directory (AWX's fact storage), the second run as two job slices of two hosts each.

The third CLI run also pushes its metrics to a real Pushgateway (Debian's prometheus-pushgateway, started
here on 127.0.0.1 and stopped after), and fleet.prom passes promtool.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.request

import ansible_runner
import pytest
from conftest import OUTPUT, ROOT, VENV_BIN

BASE = OUTPUT / "history-it"
DOMAIN = "history.example"
OPTIONS = {
    "health_check_hard_after": 2,
    "health_check_flap_window": 3,
    "health_check_flap_threshold": 0.5,  # flapping: both transitions of the last 3 runs changed
    "health_check_smtp_timeout": 4,
    "health_check_fail_on": "never",
}
GROWTH = (20, 80, 200)  # messages added to the growing host's queue before each run


@pytest.fixture(scope="module")
def pushgateway():
    binary = shutil.which("prometheus-pushgateway")
    assert binary, "prometheus-pushgateway is installed by lab/ensure-docker.sh (make docker)"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _attempt in range(100):
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"the Pushgateway did not start: {proc.stderr.read(2000) if proc.poll() else ''}")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # its own process group (start_new_session): only what we started
        proc.wait(timeout=10)


def cli_run(lab, step: int, extra: dict) -> dict:
    """ansible-playbook as an operator types it, in a working directory of its own: nothing configured."""
    cwd = BASE / "cli"
    env = lab.ansible_env()
    env["PWD"] = str(cwd)
    args = [x for k, v in dict(OPTIONS, **extra).items() for x in ("-e", f"{k}={v}")]
    cmd = [
        str(VENV_BIN / "ansible-playbook"),
        "-i",
        str(lab.inventory),
        str(ROOT / "playbooks" / "healthcheck.yml"),
        *args,
    ]
    cmd += ["--limit", ",".join(lab.hosts[:4])]
    proc = subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return json.loads((cwd / "reports" / "latest" / "fleet.json").read_text())


def runner_run(lab, name: str, hosts: list[str]) -> tuple[dict, dict]:
    """ansible-runner as AWX runs a job: a fresh private data directory, the fact cache the only thing shared."""
    private = BASE / "runner" / name
    private.mkdir(parents=True)
    result = ansible_runner.run(
        private_data_dir=str(private),
        playbook=str(ROOT / "playbooks" / "healthcheck.yml"),
        inventory=str(lab.inventory),
        limit=",".join(hosts),
        extravars=dict(OPTIONS, sendmail_report_dir=str(private / "report")),
        # ansible-runner (AWX's engine) sets ANSIBLE_CACHE_PLUGIN=jsonfile and ANSIBLE_CACHE_PLUGIN_CONNECTION to
        # the job's artifacts/<ident>/fact_cache, which AWX fills from its fact storage before the job and reads
        # back after it; an absolute fact_cache makes that the one directory the runs share
        fact_cache_type="jsonfile",
        fact_cache=str(BASE / "fact-cache"),
        envvars={
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),  # gathering = explicit, as this project sets
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
            "ANSIBLE_NOCOLOR": "1",
        },
        quiet=True,
        timeout=600,
    )
    assert result.status == "successful", "".join(result.stdout.readlines()[-60:]) if result.stdout else result.status
    stats = next(e for e in result.events if e.get("event") == "playbook_on_stats")["event_data"]
    return json.loads((private / "report" / "fleet.json").read_text()), stats["artifact_data"]["sendmail_healthcheck"]


def queue_ids(lab, host: str) -> set[str]:
    return set(lab.module(host, "opsiface.sendmail.sendmail_queue", {"operation": "ids", "queue": "mta"})["ids"]["mta"])


def clear_growth(lab, host: str, before: set[str]) -> None:
    """The messages this test queued, deleted as an operator would: their IDs, then delete."""
    added = sorted(queue_ids(lab, host) - before)
    if added:
        got = lab.module(
            host,
            "opsiface.sendmail.sendmail_queue",
            {"operation": "delete", "queue": "mta", "queue_ids": added, "purge": True},
        )
        assert not got.get("failed"), got


@pytest.fixture(scope="module")
def runs(lab, pushgateway):
    healthy, grows, dies, flaps = lab.hosts[:4]
    shutil.rmtree(BASE, ignore_errors=True)
    (BASE / "cli").mkdir(parents=True)
    cli, awx, stats = [], [], []
    started = time.monotonic()
    before = queue_ids(lab, grows)
    try:
        for step in range(3):
            lab.fault(grows, "backlog", "--count", str(GROWTH[step]), "--mode", "clone", "--domains", DOMAIN)
            if step == 0:
                lab.fault(dies, "kill")
            elif step == 1:
                lab.fault(flaps, "service-stop")
            else:
                lab.heal(flaps)
            cli.append(cli_run(lab, step, {"sendmail_metrics_pushgateway_url": pushgateway} if step == 2 else {}))
            if step == 1:  # AWX job slicing: two jobs, two hosts each, at once in AWX; one after the other here
                one, s1 = runner_run(lab, "run1-slice1", [healthy, grows])
                two, s2 = runner_run(lab, "run1-slice2", [dies, flaps])
                assert set(one["hosts"]) == {healthy, grows} and set(two["hosts"]) == {dies, flaps}
                both = {k: one["summary"][k] + two["summary"][k] for k in ("new", "recovered", "persisting")}
                hosts = dict(one["hosts"], **two["hosts"])
                awx.append(
                    dict(one, hosts=hosts, summary=both, escalate=one["escalate"] + two["escalate"], slices=[one, two])
                )
                stats.append([s1, s2])
            else:
                data, s = runner_run(lab, f"run{step}", lab.hosts[:4])
                awx.append(data)
                stats.append(s)
        yield {
            "roles": {"healthy": healthy, "grows": grows, "dies": dies, "flaps": flaps},
            "cli": cli,
            "awx": awx,
            "stats": stats,
            "pushgateway": pushgateway,
            "seconds": time.monotonic() - started,
        }
    finally:
        lab.heal(dies)
        lab.heal(flaps)
        clear_growth(lab, grows, before)


@pytest.mark.parametrize("mode", ["cli", "awx"])
def test_previous_since_consecutive_and_state_type(runs, mode):
    r = runs["roles"]
    d0, d1, d2 = runs[mode]
    run_ids = [d["run_id"] for d in (d0, d1, d2)]
    if mode == "awx":  # the second run was two slices, two run ids
        ids1 = {h: s["run_id"] for s in d1["slices"] for h in s["hosts"]}
    else:
        ids1 = dict.fromkeys(d1["hosts"], run_ids[1])

    ok = [d["hosts"][r["healthy"]] for d in (d0, d1, d2)]
    assert ok[0]["previous"] is None and ok[0]["consecutive"] == 1 and ok[0]["since"] == d0["finished"]
    assert ok[1]["previous"] == {"status": "ok", "run_id": run_ids[0], "finished": d0["finished"]}
    assert ok[2]["previous"]["run_id"] == ids1[r["healthy"]]
    assert ok[2]["consecutive"] == 3 and ok[2]["since"] == d0["finished"] and ok[2]["state_type"] == "hard"
    assert ok[2]["changes"] == [] and ok[2]["flapping"] is False

    dead = [d["hosts"][r["dies"]] for d in (d0, d1, d2)]
    assert dead[0]["status"] == "critical" and dead[0]["state_type"] == "soft" and dead[0]["escalate"] is False
    assert dead[0]["changes"][0] == "first health check of this host: critical (soft, 1 of 2)"
    assert r["dies"] not in d0["summary"]["new"] and r["dies"] not in d0["escalate"]
    assert dead[1]["state_type"] == "hard" and dead[1]["escalate"] is True and dead[1]["consecutive"] == 2
    assert dead[1]["since"] == d0["finished"] and dead[1]["changes"] == [
        "status critical is now hard (2 runs in a row)"
    ]
    assert r["dies"] in d1["summary"]["new"]
    assert (
        dead[2]["consecutive"] == 3
        and dead[2]["since"] == d0["finished"]
        and dead[2]["previous"]["status"] == "critical"
    )
    assert r["dies"] in d2["summary"]["persisting"] and r["dies"] not in d2["summary"]["new"]


@pytest.mark.parametrize("mode", ["cli", "awx"])
def test_the_growing_backlog_has_a_trend_and_warns_before_its_threshold(runs, mode):
    host = runs["roles"]["grows"]
    d0, d1, d2 = (d["hosts"][host] for d in runs[mode])
    for data, added in ((d1, GROWTH[1]), (d2, GROWTH[2])):
        mta = data["trend"]["queue"]["mta"]
        assert mta["count_delta"] == added and mta["direction"] == "growing", mta
        assert mta["rate_per_hour"] > 0 and mta["interval_seconds"] > 0 and mta["oldest_age_delta"] is not None
        line = f"queue MTA {mta['previous_count']:,} \u2192 {mta['count']:,} (+{added} in "
        assert any(c.startswith(line) and re.search(r"[\d,]+/h\)$", c) for c in data["changes"]), data["changes"]
        # growing by thousands an hour: projected to reach queue_crit_count (5,000) well within 4 h
        assert mta["projected_crit_hours"] is not None and mta["projected_crit_hours"] <= 4
        assert any("projected to reach 5,000 (queue_crit_count)" in reason for reason in data["reasons"])
        assert data["status"] in ("warning", "unknown", "critical")
    assert d0["previous"] is None and d0["trend"]["queue"] == {}
    assert d2["state_type"] == "hard" and d2["consecutive"] >= 1


@pytest.mark.parametrize("mode", ["cli", "awx"])
def test_the_flapping_host_is_escalated_once(runs, mode):
    host = runs["roles"]["flaps"]
    d0, d1, d2 = runs[mode]
    a, b, c = (d["hosts"][host] for d in (d0, d1, d2))
    assert a["status"] == "ok" and b["status"] == "critical" and c["status"] == "ok"
    assert b["state_type"] == "soft" and b["escalate"] is False and host not in d1["summary"]["new"]
    assert "new: process critical" in b["changes"]
    assert c["flapping"] is True and c["escalate"] is True and host in d2["summary"]["new"]
    assert "recovered: process" in c["changes"] and any(x.startswith("started flapping") for x in c["changes"])
    assert host not in d2["summary"]["recovered"]  # a soft problem that went away: nobody was paged for it


def test_set_stats_carries_new_and_recovered(runs):
    r = runs["roles"]
    last = runs["stats"][2]
    assert r["flaps"] in last["new"] and r["healthy"] not in last["new"] and last["recovered"] == []
    assert r["dies"] in (runs["stats"][1][1]["new"])  # the slice that had it


def test_the_cli_history_is_private_and_beside_the_reports(runs):
    history = BASE / "cli" / "reports" / "history"
    assert stat.S_IMODE(history.stat().st_mode) == 0o700
    for host in runs["roles"].values():
        path = history / f"{host}.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        stored = json.loads(path.read_text())
        assert [run["run_id"] for run in stored["runs"]] == [d["run_id"] for d in runs["cli"]]


def test_runner_runs_share_only_the_fact_cache(runs):
    """Each private data directory's report has a history of its own run only: the rest came from the facts."""
    for private in (BASE / "runner").iterdir():
        for path in (private / "report" / "history").glob("*.json"):
            assert len(json.loads(path.read_text())["runs"]) <= 3
    dies = runs["roles"]["dies"]
    assert runs["awx"][2]["hosts"][dies]["consecutive"] == 3


def test_fleet_prom_passes_promtool(runs):
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by lab/ensure-docker.sh (Debian's prometheus package)"
    prom = BASE / "cli" / "reports" / "latest" / "fleet.prom"
    proc = subprocess.run(
        [promtool, "check", "metrics"], stdin=prom.open(), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = prom.read_text()
    dies = runs["roles"]["dies"]
    assert f'sendmail_health_status{{host="{dies}"}} 2' in text
    assert f'sendmail_health_consecutive_runs{{host="{dies}"}} 3' in text


def _samples(text: str) -> dict[tuple[str, str, str], float]:
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(sendmail_\w+)\{(.*)\} (\S+)$", line)
        if m:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
            if "host" in labels:
                out[(m.group(1), labels["host"], labels.get("queue", ""))] = float(m.group(3))
    return out


def test_the_pushgateway_serves_back_what_fleet_prom_says(runs):
    with urllib.request.urlopen(runs["pushgateway"] + "/metrics", timeout=10) as response:
        scraped = _samples(response.read().decode())
    written = _samples((BASE / "cli" / "reports" / "latest" / "fleet.prom").read_text())
    assert written and {k: scraped.get(k) for k in written} == written
