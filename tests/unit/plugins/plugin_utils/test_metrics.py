"""#15 item 3: fleet.prom, the Prometheus text exposition of the fleet model, and the push to a Pushgateway."""

from __future__ import annotations

import base64
import copy
import io
import json
import shutil
import subprocess
import urllib.error
from pathlib import Path

import pytest
from ansible_collections.opsiface.sendmail.plugins.filter.health import sendmail_health
from ansible_collections.opsiface.sendmail.plugins.module_utils import _history, _report
from ansible_collections.opsiface.sendmail.plugins.plugin_utils import _metrics

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "report"
STATUS = {
    n: json.loads((FIXTURES / f"debian12-8.17.1.9-sendmail_status-{n}.json").read_text())
    for n in ("healthy", "killed", "backlog")
}


def fleet_of_every_status() -> dict:
    warning = copy.deepcopy(STATUS["backlog"])
    warning["queue"]["mta"]["count"] = 600
    warning["checks"]["queue"] = {"status": "warning", "reason": "MTA queue: 600 messages (backlog)"}
    hosts = {
        "ok01": sendmail_health(copy.deepcopy(STATUS["healthy"])),
        "warn01": sendmail_health(warning),
        "crit01": sendmail_health(copy.deepcopy(STATUS["killed"])),
        "unknown01": _report.access_result("sudo needs a password and none was given", "missing sudo password"),
        "down01": _report.unreachable_result("ssh: connect timed out"),
        'odd"\\\nname': sendmail_health(copy.deepcopy(STATUS["healthy"])),
    }
    data = _report.fleet(hosts, "r1", "2026-12-01T10:00:00Z", "2026-12-01T10:00:42Z")
    _report.with_history(data, {}, _history.Policy())
    return data


def samples(text: str) -> dict[str, str]:
    return {
        line.rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_every_status_has_its_number():
    got = samples(_metrics.render(fleet_of_every_status()))
    assert [
        got[f'sendmail_health_status{{host="{h}"}}'] for h in ("ok01", "warn01", "crit01", "unknown01", "down01")
    ] == [
        "0",
        "1",
        "2",
        "3",
        "4",
    ]


def test_figures_and_the_run():
    got = samples(_metrics.render(fleet_of_every_status()))
    assert got['sendmail_queue_messages{host="warn01",queue="mta"}'] == "600"
    assert got['sendmail_queue_bytes{host="warn01",queue="mta"}'] == str(
        STATUS["backlog"]["queue"]["mta"]["size_bytes"]
    )
    assert (
        float(got['sendmail_smtp_banner_seconds{host="ok01"}']) == STATUS["healthy"]["smtp"]["timings"]["banner"] / 1000
    )
    assert got["sendmail_health_run_duration_seconds"] == "42" and got['sendmail_health_hosts{status="ok"}'] == "2"
    assert not [k for k in got if 'host="down01"' in k and "queue" in k]  # not seen: no series, never a 0
    assert (
        got['sendmail_health_escalate{host="crit01"}'] == "1"
        and got['sendmail_health_hard_state{host="crit01"}'] == "1"
    )


def test_label_values_are_escaped():
    """A host name is inventory text: a quote, a backslash and a line break stay inside one label value (the
    line break first made visible as everywhere in the reports, then every backslash escaped)."""
    text = _metrics.render(fleet_of_every_status())
    assert 'sendmail_health_status{host="odd\\"\\\\\\\\nname"} 0' in text
    assert all(line.startswith(("#", "sendmail_")) for line in text.splitlines())


@pytest.mark.skipif(
    not shutil.which("promtool"), reason="promtool (Debian's prometheus package; lab/ensure-docker.sh installs it)"
)
def test_promtool_accepts_it():
    proc = subprocess.run(
        ["promtool", "check", "metrics"],
        input=_metrics.render(fleet_of_every_status()),
        text=True,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


class Recorder:
    def __init__(self, fail_on: str | None = None) -> None:
        self.requests = []
        self.fail_on = fail_on

    def open(self, request, timeout):
        self.requests.append((request.get_method(), request.full_url, request.headers, request.data.decode()))
        if self.fail_on and self.fail_on in request.full_url:
            raise urllib.error.HTTPError(
                request.full_url, 400, "Bad Request", {}, io.BytesIO(b"pushed metrics are invalid")
            )
        return io.BytesIO(b"")


def test_each_host_is_pushed_to_its_own_group():
    data = fleet_of_every_status()
    rec = Recorder()
    got = _metrics.push("http://127.0.0.1:9091/", data, opener=rec)
    assert got == {"url": "http://127.0.0.1:9091/", "groups": 7, "pushed": 7, "errors": []}
    urls = {url for _m, url, _h, _b in rec.requests}
    b64 = base64.urlsafe_b64encode(b"crit01").decode()
    assert f"http://127.0.0.1:9091/metrics/job/sendmail_healthcheck/host@base64/{b64}" in urls
    assert "http://127.0.0.1:9091/metrics/job/sendmail_healthcheck" in urls
    assert {request[0] for request in rec.requests} == {"PUT"}
    body = next(b for _m, url, _h, b in rec.requests if url.endswith(b64))
    assert 'sendmail_health_status{host="crit01"} 2' in body and "ok01" not in body


def test_a_failed_push_is_reported_not_raised():
    rec = Recorder(fail_on="host@base64")
    got = _metrics.push("http://127.0.0.1:9091", fleet_of_every_status(), opener=rec)
    assert got["pushed"] == 1 and len(got["errors"]) == 6 and "HTTP 400 pushed metrics are invalid" in got["errors"][0]

    class Refused:
        def open(self, request, timeout):
            raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    got = _metrics.push("http://127.0.0.1:1", fleet_of_every_status(), opener=Refused())
    assert got["pushed"] == 0 and "Connection refused" in got["errors"][0]
