# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Memory across health checks, per host: what changed, for how long, and how fast (controller side).

Each health check appends one small record per host (its status, the status of each check area and
the figures that trend: per queue the count, the oldest message's age and the bytes; the SMTP banner
time; the syslog error and warning counts) to that host's history, kept bounded (the last
``runs`` records, none older than ``days``). From the history and this run's verdict come the
report's ``previous``, ``since``, ``consecutive``, ``state_type`` (soft or hard, as Nagios'
max_check_attempts), ``flapping``, ``trend`` and ``changes`` of each host, and the fleet's ``new``,
``recovered`` and ``persisting``. docs/report-format.md states every rule; this file implements them.

Pure functions over plain data: a history comes from a fact cache or a file that someone else may
have written, so :func:`parse` keeps only well-formed records and never raises.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass

SCHEMA = "opsiface.sendmail/history/v1"
# Host statuses, least to most severe (the order of _report.RANK, repeated here to stay import-free).
RANK = {"ok": 0, "warning": 1, "unknown": 2, "critical": 3, "unreachable": 4}
QUEUES = ("mta", "msp")
AREAS = ("mta", "process", "config", "syslog", "queue", "smtp", "delivery", "access")
MAX_RUNS = 1000  # whatever a caller asks, a host's history never holds more records


@dataclass(frozen=True)
class Policy:
    """The rules that turn a history into states; docs/report-format.md, "Across runs"."""

    runs: int = 12  # records kept per host
    days: float = 7.0  # and none older than this
    hard_after: int = 1  # a problem becomes hard on its n-th consecutive run (1: at once, as before history)
    flap_window: int = 10  # runs judged for flapping (this one included)
    flap_threshold: float = 0.3  # flapping from more than this share of the window's transitions changing
    queue_horizon_hours: float = 4.0  # warn on a growing queue projected to reach queue_crit_count this soon
    queue_crit_count: int = 5000
    escalate_on: str = "critical"


_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$")
_TIMES: dict[str, float | None] = {}  # a fleet's records share a few dozen run times: parsed once each


def parse_time(value) -> float | None:
    """Epoch seconds of an ISO 8601 UTC time as the reports write it (``2026-11-27T11:00:05Z``); None otherwise."""
    if not isinstance(value, str):
        return None
    if value in _TIMES:
        return _TIMES[value]
    m = _TIME.match(value)
    got = None
    if m:
        y, mo, d, h, mi, s = (int(x) for x in m.groups())
        if 1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1] and h < 24 and mi < 60 and s < 60 and y >= 1970:
            got = float(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)))
    if len(_TIMES) < 100000:
        _TIMES[value] = got
    return got


def _number(value) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _text(value, limit: int = 200) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _clean_record(raw) -> dict | None:
    """One record as this module writes it, or None: unknown keys dropped, wrong types dropped."""
    if not isinstance(raw, dict):
        return None
    run_id, finished, status = _text(raw.get("run_id")), raw.get("finished"), raw.get("status")
    if run_id is None or parse_time(finished) is None or status not in RANK:
        return None
    rec = {"run_id": run_id, "finished": finished, "status": status}
    rec["state_type"] = raw.get("state_type") if raw.get("state_type") in ("soft", "hard") else "hard"
    rec["since"] = raw.get("since") if parse_time(raw.get("since")) is not None else finished
    for key in ("consecutive", "attempt"):
        n = _number(raw.get(key))
        rec[key] = int(n) if n is not None and n >= 0 else 0
    rec["flapping"] = raw.get("flapping") is True
    checks = raw.get("checks")
    if isinstance(checks, dict):
        rec["checks"] = {a: s for a, s in checks.items() if a in AREAS and s in RANK}
    queues = raw.get("queue")
    if isinstance(queues, dict):
        rec["queue"] = {}
        for name in QUEUES:
            q = queues.get(name)
            if isinstance(q, dict):
                rec["queue"][name] = {k: _number(q.get(k)) for k in ("count", "oldest", "bytes")}
    banner = _number(raw.get("smtp_banner_ms"))
    if banner is not None:
        rec["smtp_banner_ms"] = banner
    syslog = raw.get("syslog")
    if isinstance(syslog, dict):
        rec["syslog"] = {k: _number(syslog.get(k)) for k in ("errors", "warnings")}
    return rec


def parse(value) -> list[dict]:
    """The records of a stored history (``{"schema": ..., "runs": [...]}``), oldest first; [] for anything else."""
    if not isinstance(value, dict) or value.get("schema") != SCHEMA or not isinstance(value.get("runs"), list):
        return []
    runs = [r for r in (_clean_record(raw) for raw in value["runs"][-MAX_RUNS:]) if r is not None]
    return sorted(runs, key=lambda r: (parse_time(r["finished"]) or 0.0, r["run_id"]))


def merge(*histories: list[dict]) -> list[dict]:
    """Every record of the histories once (by run_id; the first history's copy wins), oldest first.

    Two stores (the fact cache and the file beside the reports) may each hold runs the other
    missed: a run with fact caching off, a run from another working directory. The union loses
    neither; a run both hold is the same run written twice."""
    seen: dict[str, dict] = {}
    for history in histories:
        for rec in history:
            seen.setdefault(rec["run_id"], rec)
    return sorted(seen.values(), key=lambda r: (parse_time(r["finished"]) or 0.0, r["run_id"]))


def bounded(runs: list[dict], policy: Policy, now: float) -> list[dict]:
    """The last ``policy.runs`` records, none older than ``policy.days`` before *now*."""
    oldest = now - policy.days * 86400
    kept = [r for r in runs if (parse_time(r["finished"]) or 0) >= oldest]
    limit = max(1, min(policy.runs, MAX_RUNS))
    return kept[-limit:]


def stored(runs: list[dict]) -> dict:
    """What the fact cache and the history file hold."""
    return {"schema": SCHEMA, "runs": runs}


# ----------------------------------------------------------------- figures of one run
def figures(result: dict) -> dict:
    """The per-area statuses and the figures that trend, from a host's object in fleet.json."""
    checks = result.get("checks") or {}
    out: dict = {"checks": {a: c.get("status") for a, c in checks.items() if a in AREAS and c.get("status") in RANK}}
    queue = checks.get("queue")
    if isinstance(queue, dict):
        msp = queue.get("msp") or {}
        out["queue"] = {
            "mta": {
                "count": queue.get("count"),
                "oldest": queue.get("oldest_age_seconds"),
                "bytes": queue.get("size_bytes"),
            },
            "msp": {"count": msp.get("count"), "oldest": msp.get("oldest_age_seconds"), "bytes": msp.get("size_bytes")},
        }
        for q in out["queue"].values():
            for key in q:
                q[key] = _number(q[key])
    smtp = checks.get("smtp")
    if isinstance(smtp, dict):
        banner = _number((smtp.get("timings") or {}).get("banner"))
        if banner is not None:
            out["smtp_banner_ms"] = banner
    syslog = checks.get("syslog")
    if isinstance(syslog, dict):
        out["syslog"] = {"errors": _number(syslog.get("errors")), "warnings": _number(syslog.get("warnings"))}
    return out


# ----------------------------------------------------------------- wording
def _n(value) -> str:
    """A count with thousands separators (1,200)."""
    return f"{round(value):,}"


def _signed(value) -> str:
    return ("+" if value > 0 else "-" if value < 0 else "\u00b1") + _n(abs(value))


def duration(seconds: float) -> str:
    """10 min, 2.5 h, 3.0 d."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


# ----------------------------------------------------------------- trend
def _last_with(runs: list[dict], queue: str) -> dict | None:
    """The newest record that counted *queue*."""
    for rec in reversed(runs):
        if ((rec.get("queue") or {}).get(queue) or {}).get("count") is not None:
            return rec
    return None


def queue_trend(runs: list[dict], now_figures: dict, now: float, policy: Policy) -> dict:
    """Per queue counted now and in an earlier run: count_delta, rate_per_hour, oldest_age_delta, direction.

    ``steady`` when the count moved by at most 5 % of the earlier count (at least one message);
    ``projected_crit_hours`` when a growing queue below queue_crit_count would reach it at this rate."""
    trend = {}
    for name in QUEUES:
        cur = (now_figures.get("queue") or {}).get(name) or {}
        if cur.get("count") is None:
            continue
        prev_rec = _last_with(runs, name)
        if prev_rec is None:
            continue
        prev = prev_rec["queue"][name]
        delta = cur["count"] - prev["count"]
        interval = now - (parse_time(prev_rec["finished"]) or now)
        rate = round(delta * 3600.0 / interval, 1) if interval > 0 else None
        tolerance = max(1, int(prev["count"]) // 20)
        direction = "growing" if delta > tolerance else "draining" if delta < -tolerance else "steady"
        oldest = None
        if cur.get("oldest") is not None and prev.get("oldest") is not None:
            oldest = cur["oldest"] - prev["oldest"]
        item = {
            "count": cur["count"],
            "previous_count": prev["count"],
            "count_delta": delta,
            "interval_seconds": int(interval),
            "rate_per_hour": rate,
            "oldest_age_delta": oldest,
            "direction": direction,
            "projected_crit_hours": None,
        }
        if direction == "growing" and rate and rate > 0 and cur["count"] < policy.queue_crit_count:
            item["projected_crit_hours"] = round((policy.queue_crit_count - cur["count"]) / rate, 1)
        trend[name] = item
    return trend


def projection_warning(name: str, item: dict, policy: Policy) -> str | None:
    """The reason a growing queue warns before its count threshold, or None."""
    hours = item.get("projected_crit_hours")
    if hours is None or policy.queue_horizon_hours <= 0 or hours > policy.queue_horizon_hours:
        return None
    return (
        f"{name.upper()} queue growing {_n(item['rate_per_hour'])}/h ({_n(item['previous_count'])} \u2192 "
        f"{_n(item['count'])} in {duration(item['interval_seconds'])}): projected to reach "
        f"{_n(policy.queue_crit_count)} (queue_crit_count) in {hours} h, within the {policy.queue_horizon_hours:g} h horizon"
    )


def trend_line(name: str, item: dict) -> str:
    """queue MTA 100 → 300 (+200 in 10 min, 1,200/h)"""
    rate = f", {_n(item['rate_per_hour'])}/h" if item.get("rate_per_hour") is not None else ""
    return (
        f"queue {name.upper()} {_n(item['previous_count'])} \u2192 {_n(item['count'])} "
        f"({_signed(item['count_delta'])} in {duration(item['interval_seconds'])}{rate})"
    )


# ----------------------------------------------------------------- state across runs
def flap_share(statuses: list[str], window: int) -> float:
    """Changes between consecutive statuses among the last *window*, over the window's *window - 1*
    transitions (a short history counts as steady before it: one incident is never flapping)."""
    window = max(2, window)
    recent = statuses[-window:]
    changes = sum(1 for a, b in zip(recent, recent[1:]) if a != b)
    return changes / (window - 1)


def assess(result: dict, runs: list[dict], run_id: str, finished: str, policy: Policy) -> dict:
    """This run's state of one host against its history (oldest first), and the record to keep.

    *result* is the host's object in fleet.json; it is updated in place (trend warnings on the queue
    check and the host status, escalate, and the history fields) and also returned."""
    now = parse_time(finished) or 0.0
    prev = runs[-1] if runs else None
    now_figures = figures(result)

    trend = queue_trend(runs, now_figures, now, policy) if result.get("status") != "unreachable" else {}
    warnings = [w for w in (projection_warning(n, t, policy) for n, t in trend.items()) if w]
    queue_check = (result.get("checks") or {}).get("queue")
    if warnings and isinstance(queue_check, dict):
        if queue_check.get("status") == "ok":
            queue_check["status"] = "warning"
            queue_check["reason"] = "; ".join(warnings)
            now_figures["checks"]["queue"] = "warning"
        else:
            queue_check["reason"] = f"{queue_check.get('reason')}; " + "; ".join(warnings)
        result["reasons"] = [r for r in result.get("reasons") or [] if not r.startswith("queue: ")]
        result["reasons"].append(f"queue: {queue_check['reason']}")
        if RANK.get(result.get("status"), 2) < RANK["warning"]:
            result["status"] = "warning"

    status = result["status"]
    same = prev is not None and prev["status"] == status
    consecutive = prev["consecutive"] + 1 if same and prev.get("consecutive") else 1
    since = prev["since"] if same else finished
    attempt = 0 if status == "ok" else (prev.get("attempt", 0) + 1 if prev and prev["status"] != "ok" else 1)
    state_type = "hard" if status == "ok" or attempt >= max(1, policy.hard_after) else "soft"

    statuses = [r["status"] for r in runs] + [status]
    share = flap_share(statuses, policy.flap_window)
    was_flapping = bool(prev and prev.get("flapping"))
    flapping = share > policy.flap_threshold if not was_flapping else share > policy.flap_threshold / 2

    prev_hard = prev["status"] if prev and prev.get("state_type") == "hard" else "ok"
    worse_hard = state_type == "hard" and status != "ok" and RANK[status] > RANK[prev_hard]
    started_flapping = flapping and not was_flapping
    quiet = flapping and was_flapping  # escalated once when it started; not paged on every flip
    new = started_flapping or (worse_hard and not quiet)
    recovered = status == "ok" and prev is not None and prev["status"] != "ok" and prev_hard != "ok" and not quiet
    persisting = status != "ok" and not new and prev is not None and prev["status"] != "ok"

    at_or_above = RANK.get(status, 2) >= RANK.get(policy.escalate_on, 99) if policy.escalate_on != "never" else False
    escalate = (at_or_above and state_type == "hard" and not quiet) or (
        started_flapping and policy.escalate_on != "never"
    )
    result["escalate"] = bool(escalate)

    changes = _changes(result, prev, now_figures, trend, state_type, attempt, policy, share, flapping, was_flapping)
    result.update(
        previous={"status": prev["status"], "run_id": prev["run_id"], "finished": prev["finished"]} if prev else None,
        since=since,
        consecutive=consecutive,
        state_type=state_type,
        flapping=flapping,
        trend={"queue": trend},
        changes=changes,
    )
    record = dict(
        {"run_id": run_id, "finished": finished, "status": status, "state_type": state_type, "since": since},
        consecutive=consecutive,
        attempt=attempt,
        flapping=flapping,
        **now_figures,
    )
    return {"result": result, "record": record, "new": new, "recovered": recovered, "persisting": persisting}


def _changes(result, prev, now_figures, trend, state_type, attempt, policy, share, flapping, was_flapping) -> list[str]:
    status = result["status"]
    lines: list[str] = []
    kind = "hard" if state_type == "hard" else f"soft, {attempt} of {policy.hard_after}"
    if prev is None:
        lines.append(f"first health check of this host: {status} ({kind})")
    elif prev["status"] != status:
        lines.append(f"status {prev['status']} \u2192 {status} ({kind})")
    elif prev.get("state_type") == "soft" and state_type == "hard" and status != "ok":
        lines.append(f"status {status} is now hard ({attempt} runs in a row)")
    before = (prev or {}).get("checks") or {}
    for area, now_status in now_figures["checks"].items():
        was = before.get(area)
        if was is None or was == now_status:
            continue
        if RANK[now_status] > RANK[was]:
            lines.append(f"new: {area} {now_status}")
        elif now_status == "ok":
            lines.append(f"recovered: {area}")
        else:
            lines.append(f"better: {area} {was} \u2192 {now_status}")
    for name, item in trend.items():
        if item["count_delta"]:
            lines.append(trend_line(name, item))
    window = max(2, policy.flap_window)
    if flapping and not was_flapping:
        lines.append(
            f"started flapping: the status changed in {share:.0%} of the last {window} runs' transitions "
            f"(over {policy.flap_threshold:.0%}); escalated once, not again while it flaps"
        )
    elif was_flapping and not flapping:
        lines.append(f"stopped flapping ({share:.0%} of the last {window} runs' transitions changed)")
    elif flapping and prev is not None and prev["status"] != status:
        lines.append("flapping: this change is not escalated")
    return lines
