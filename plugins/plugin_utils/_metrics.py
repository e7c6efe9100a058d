# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health check as Prometheus metrics (controller side): fleet.prom, and an optional push to a Pushgateway.

Text exposition format 0.0.4, from the fleet model only (module_utils/_report.fleet). Every series has
the label ``host`` (and ``queue`` for the queues); a figure the run could not see (an unreachable host's
queue) is left out, never written as 0. ``promtool check metrics`` passes on the output (tested).

The push sends each host's series to its own group (``/metrics/job/<job>/host@base64/<name>``), and the
run's own series to ``/metrics/job/<job>``: a PUT replaces only that group, so the slices of an AWX job
(each with its own hosts) never remove each other's hosts, and a host that left the inventory keeps its
last values until someone deletes its group (docs/report-format.md, "Metrics").
"""

from __future__ import annotations

import base64
import math
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.opsiface.sendmail.plugins.module_utils._history import parse_time
from ansible_collections.opsiface.sendmail.plugins.module_utils._text import clean

# The numbering (#15), not the report's severity order: ok=0, warning=1, critical=2, unknown=3, unreachable=4.
STATUS_CODES = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3, "unreachable": 4}
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# name, help; all gauges. Host series first, then queue series, then the run's.
HOST_METRICS = (
    (
        "sendmail_health_status",
        "Host status of the health check: 0 ok, 1 warning, 2 critical, 3 unknown (a check could not be done), "
        "4 unreachable.",
    ),
    (
        "sendmail_health_escalate",
        "1 when the host is escalated by this run (a hard state, or a host that starts flapping).",
    ),
    (
        "sendmail_health_hard_state",
        "1 when the host's status is a hard state, 0 while it is soft (health_check_hard_after).",
    ),
    ("sendmail_health_flapping", "1 while the host's status flaps (changes in too many of its last runs)."),
    ("sendmail_health_consecutive_runs", "Runs in a row, this one included, with the host's current status."),
    ("sendmail_health_status_since_timestamp_seconds", "When the host entered its current status (Unix time)."),
    ("sendmail_smtp_banner_seconds", "Time from connect to the SMTP greeting of the self-test."),
    ("sendmail_syslog_errors", "Error lines of sendmail in the mail log window of the health check."),
    ("sendmail_syslog_warnings", "Warning lines of sendmail in the mail log window of the health check."),
)
QUEUE_METRICS = (
    ("sendmail_queue_messages", "Messages in the queue."),
    ("sendmail_queue_oldest_age_seconds", "Age of the oldest message in the queue."),
    ("sendmail_queue_bytes", "Bytes of the queued messages (control and data files)."),
)
RUN_METRICS = (
    ("sendmail_health_run_duration_seconds", "Wall time of the health check run, start to report."),
    ("sendmail_health_run_timestamp_seconds", "When the health check run finished (Unix time)."),
    ("sendmail_health_hosts", "Hosts of the run by status."),
)


def label(value) -> str:
    """A label value: UTF-8 text with backslash, double quote and line feed escaped (the format's rule)."""
    return clean(str(value), 1024).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _value(value) -> str | None:
    if isinstance(value, bool):
        return "1" if value else "0"
    if not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, float) and not value.is_integer():
        return repr(round(value, 6))
    return str(int(value))


def host_series(host: str, r: dict) -> dict[str, list[tuple[str, str]]]:
    """Metric name -> [(labels, value)] for one host."""
    checks = r.get("checks") or {}
    h = f'host="{label(host)}"'
    out: dict[str, list[tuple[str, str]]] = {}

    def put(name, value, labels=h):
        text = _value(value)
        if text is not None:
            out.setdefault(name, []).append((labels, text))

    put("sendmail_health_status", STATUS_CODES.get(r.get("status"), STATUS_CODES["unknown"]))
    put("sendmail_health_escalate", bool(r.get("escalate")))
    if "state_type" in r:
        put("sendmail_health_hard_state", r.get("state_type") == "hard")
        put("sendmail_health_flapping", bool(r.get("flapping")))
        put("sendmail_health_consecutive_runs", r.get("consecutive"))
        put("sendmail_health_status_since_timestamp_seconds", parse_time(r.get("since")))
    banner = ((checks.get("smtp") or {}).get("timings") or {}).get("banner")
    if isinstance(banner, (int, float)) and not isinstance(banner, bool):
        put("sendmail_smtp_banner_seconds", banner / 1000.0)
    syslog = checks.get("syslog") or {}
    put("sendmail_syslog_errors", syslog.get("errors"))
    put("sendmail_syslog_warnings", syslog.get("warnings"))
    queue = checks.get("queue")
    if isinstance(queue, dict):
        msp = queue.get("msp") or {}
        for name, count, oldest, size in (
            ("mta", queue.get("count"), queue.get("oldest_age_seconds"), queue.get("size_bytes")),
            ("msp", msp.get("count"), msp.get("oldest_age_seconds"), msp.get("size_bytes")),
        ):
            labels = f'{h},queue="{name}"'
            if count is None:
                continue  # not counted (unreadable): no figure, not a zero
            put("sendmail_queue_messages", count, labels)
            put("sendmail_queue_oldest_age_seconds", oldest if oldest is not None else 0, labels)
            put("sendmail_queue_bytes", size, labels)
    return out


def run_series(data: dict) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    started, finished = parse_time(data.get("started")), parse_time(data.get("finished"))
    if started is not None and finished is not None:
        out["sendmail_health_run_duration_seconds"] = [("", _value(max(0.0, finished - started)) or "0")]
    if finished is not None:
        out["sendmail_health_run_timestamp_seconds"] = [("", _value(finished) or "0")]
    summary = data.get("summary") or {}
    out["sendmail_health_hosts"] = [(f'status="{s}"', str(int(summary.get(s, 0)))) for s in STATUS_CODES]
    return out


def _exposition(series: dict[str, list[tuple[str, str]]], catalogue) -> str:
    lines = []
    for name, help_text in catalogue:
        samples = series.get(name)
        if not samples:
            continue
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        lines += [f"{name}{{{labels}}} {value}" if labels else f"{name} {value}" for labels, value in samples]
    return "\n".join(lines) + "\n" if lines else ""


def render(data: dict) -> str:
    """fleet.prom: every host's series and the run's, each metric's samples together."""
    merged: dict[str, list[tuple[str, str]]] = {}
    for host, r in sorted(data["hosts"].items()):
        for name, samples in host_series(host, r).items():
            merged.setdefault(name, []).extend(samples)
    merged.update(run_series(data))
    return _exposition(merged, HOST_METRICS + QUEUE_METRICS + RUN_METRICS)


def groups(data: dict, job: str) -> list[tuple[str, str]]:
    """(path, body) per Pushgateway group: one per host, and the run's."""
    job_path = "/metrics/job/" + urllib.parse.quote(job, safe="")
    out = []
    for host, r in sorted(data["hosts"].items()):
        encoded = base64.urlsafe_b64encode(host.encode("utf-8", "surrogateescape")).decode("ascii")
        out.append(
            (f"{job_path}/host@base64/{encoded}", _exposition(host_series(host, r), HOST_METRICS + QUEUE_METRICS))
        )
    out.append((job_path, _exposition(run_series(data), RUN_METRICS)))
    return out


def push(url: str, data: dict, job: str = "sendmail_healthcheck", timeout: float = 10.0, opener=None) -> dict:
    """PUT each group to the Pushgateway at *url*; {"url", "groups", "pushed", "errors"} (never raises)."""
    opener = opener or urllib.request.build_opener()
    base = url.rstrip("/")

    def one(group: tuple[str, str]) -> str | None:
        path, body = group
        request = urllib.request.Request(base + path, data=body.encode("utf-8"), method="PUT")
        request.add_header("Content-Type", CONTENT_TYPE)
        try:
            with opener.open(request, timeout=timeout) as response:
                response.read()
            return None
        except urllib.error.HTTPError as exc:
            detail = clean(exc.read()[:300], 300) if hasattr(exc, "read") else ""
            return f"{clean(path, 200)}: HTTP {exc.code} {detail}".strip()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return f"{clean(path, 200)}: {clean(str(getattr(exc, 'reason', exc)), 300)}"

    todo = groups(data, job)
    with ThreadPoolExecutor(max_workers=8) as pool:
        errors = [e for e in pool.map(one, todo) if e]
    return {"url": clean(url, 300), "groups": len(todo), "pushed": len(todo) - len(errors), "errors": errors[:20]}
