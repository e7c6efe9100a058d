# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health check's verdict per host and the fleet report (controller side).

"If any test fails, or any problem cannot be corrected, escalate. Document all
observations and actions taken." Each host gets a status, whether to escalate,
the reasons, the checks with their figures, what was observed (with values)
and what the run did. The fleet report renders the same data as JSON,
Markdown, a self-contained HTML page, JUnit XML and Prometheus metrics: this file builds that
data (the fleet model, docs/fleet.schema.json); plugin_utils/_render.py and _metrics.py render it.
"""

from __future__ import annotations

from . import _history, _verdict
from ._text import clean

# Host statuses, least to most severe. unknown (Nagios UNKNOWN) is a check that could not be done
# (no privilege, become failed, a file that cannot be read): never ok, above warning because what
# could not be seen may be critical, below critical because a fault that was seen outranks it.
RANK = {"ok": 0, "warning": 1, "unknown": 2, "critical": 3, "unreachable": 4}
STATUSES = tuple(RANK)
AREAS = ("mta", "process", "config", "syslog", "queue", "smtp", "tls", "delivery")


def host_status(checks: dict) -> str:
    """The worst status of the checks: a host with any check unknown and none worse is unknown, never ok."""
    worst = "ok"
    for check in checks.values():
        status = check.get("status", "unknown")
        if status not in RANK or status == "unreachable":
            status = "unknown"
        if RANK[status] > RANK[worst]:
            worst = status
    return worst


def at_or_above(status: str, level: str) -> bool:
    if level == "never":
        return False
    return RANK.get(status, RANK["unknown"]) >= RANK.get(level, RANK["critical"])


# What Ansible says when privilege escalation failed (ansible-core's become plugins and connections):
# no check ran, and nothing is known about the mail server.
_BECOME_FAILURES = (
    ("missing sudo password", "sudo needs a password and none was given"),
    ("incorrect sudo password", "the sudo password given is wrong"),
    ("incorrect su password", "the su password given is wrong"),
    ("missing become password", "become needs a password and none was given"),
    ("a password is required", "sudo needs a password and none was given"),
    ("waiting for privilege escalation prompt", "become timed out waiting for its password prompt"),
    ("privilege output closed while waiting for password prompt", "become ended before its password prompt"),
    ("is not in the sudoers file", "the user may not use sudo"),
    ("is not allowed to execute", "sudo does not allow the user to run the module"),
    ("sudo: not found", "sudo is not installed"),
    ("no tty present", "sudo wants a terminal (requiretty)"),
)
BECOME_FIX = (
    "give the password (--ask-become-pass, or ansible_become_password from a vault), allow the Ansible user "
    "sudo without a password, or run without become in the read-only groups (docs/security.md)"
)


def access_failure(message: str) -> str | None:
    """The cause, when a failed task's message says privilege escalation failed; None otherwise."""
    text = (message or "").lower()
    for needle, cause in _BECOME_FAILURES:
        if needle in text:
            return cause
    return None


def _age(seconds) -> str:
    return "n/a" if seconds is None else _history.duration(seconds)


def _top(counts: dict | None, n: int = 3) -> str:
    items = list((counts or {}).items())[:n]
    return ", ".join(f"{k}={v}" for k, v in items) if items else "none"


def _with(check: dict, source: dict, *keys: str) -> dict:
    """A check's status and reason, with the named figures of what it looked at."""
    return dict(check, **{key: source.get(key) for key in keys})


def host_result(status: dict, delivery: dict | None = None, escalate_on: str = "critical") -> dict:
    """The per-host object of fleet.json from a sendmail_status result (and a smtp_probe delivery result)."""
    checks: dict[str, dict] = {}
    observations: list[str] = []
    actions: list[str] = []
    src = status.get("checks") or {}
    mta = status.get("mta")
    if "mta" in src and mta is not None:
        checks["mta"] = _with(src["mta"], mta, "real_path", "binary_mta")
        checks["mta"]["mta"] = src["mta"].get("mta", mta.get("mta"))
        observations.append("mta: " + "; ".join(mta.get("evidence") or ["nothing found"]))
    if status.get("root") is False:
        observations.append("access: the checks ran as a user other than root (no become)")
    daemon = status.get("daemon")
    if "process" in src and daemon is not None:
        checks["process"] = _with(src["process"], daemon, "state", "pid", "ppid", "uptime_seconds", "pidfile_matches")
        checks["process"]["listening"] = (status.get("listening") or {}).get("by_daemon")
        pidfile = f"PidFile {daemon.get('pidfile')} " + (
            "matches" if daemon.get("pidfile_matches") else f"{daemon.get('pidfile_problem') or 'does not match'}"
        )
        if daemon.get("pid") is None:
            observations.append(f"process: no sendmail listener running; {pidfile}")
        else:
            observations.append(
                f"process: listener {daemon.get('state')}, pid {daemon.get('pid')}, PPID {daemon.get('ppid')}, "
                f"up {_age(daemon.get('uptime_seconds'))}, {pidfile}"
            )
        others = daemon.get("others") or []
        if others:
            observations.append(
                "process: other sendmail processes: " + ", ".join(f"{o.get('pid')} {o.get('role')}" for o in others[:5])
            )
    config = status.get("config")
    if "config" in src and config is not None:
        check = config.get("check") or {}
        checks["config"] = _with(src["config"], config, "path", "version", "hostname", "sha256")
        checks["config"]["check_ok"] = check.get("ok")
        if config.get("version") is None and check.get("ok") is None:
            observations.append(
                f"config: {config.get('path')} {'exists' if config.get('exists') else 'does not exist'}; "
                f"sendmail not run: {check.get('skipped') or 'no checker'}"
            )
        else:
            observations.append(
                f"config: {config.get('path')} sendmail {config.get('version')}, $j {config.get('hostname')}, "
                f"check {'passed' if check.get('ok') else 'FAILED' if check.get('ok') is False else 'not run'}"
            )
    syslog = status.get("syslog")
    if "syslog" in src and syslog is not None:
        files = ", ".join(f["path"] for f in syslog.get("files") or []) or syslog.get("source")
        checks["syslog"] = _with(
            src["syslog"], syslog, "errors", "warnings", "syserr", "counts", "last_activity_age_seconds"
        )
        checks["syslog"]["offending"] = [o.get("line") for o in syslog.get("offending") or []][:5]
        observations.append(
            f"syslog: {syslog.get('errors')} error(s), {syslog.get('warnings')} warning(s) in the window "
            f"({_top(syslog.get('counts'), 6)}); last activity {_age(syslog.get('last_activity_age_seconds'))} ago; "
            f"read {files}"
        )
    queues = status.get("queue")
    if "queue" in src and queues is not None:
        mta_q = queues.get("mta") or {}
        msp = queues.get("msp") or {}
        checks["queue"] = _with(
            src["queue"],
            mta_q,
            "oldest_age_seconds",
            "max_attempts",
            "by_domain",
            "by_reason",
            "quarantined",
            "anomalies",
            "verdict",
            "size_bytes",
        )
        checks["queue"]["count"] = mta_q.get("count", 0)
        checks["queue"]["msp"] = {
            k: msp.get(k) for k in ("count", "oldest_age_seconds", "verdict", "by_reason", "size_bytes")
        }
        for name, q in (("MTA", mta_q), ("MSP", msp)):
            if q.get("present") and q.get("count") is None:
                observations.append(f"queue: {name} {q.get('path')} not counted: {(q.get('evidence') or ['?'])[0]}")
            elif q.get("present"):
                observations.append(
                    f"queue: {name} {q.get('path')} {q.get('count', 0)} message(s), oldest {_age(q.get('oldest_age_seconds'))}, "
                    f"domains {_top(q.get('by_domain'))}, reasons {_top(q.get('by_reason'), 2)}, verdict {q.get('verdict')}"
                    + (f", {(q.get('space') or {}).get('free_bytes', 0) // 1048576} MiB free" if q.get("space") else "")
                )
    smtp = status.get("smtp")
    if "smtp" in src and smtp is not None:
        checks["smtp"] = _with(src["smtp"], smtp, "success", "failure", "banner", "timings", "quit_code")
        if smtp.get("success"):
            observations.append(
                f"smtp: {smtp.get('banner_code')} {smtp.get('hostname')} in "
                f"{(smtp.get('timings') or {}).get('banner')} ms, QUIT {smtp.get('quit_code')}"
            )
        else:
            observations.append(f"smtp: {smtp.get('failure')}: {smtp.get('detail')}")
    if "tls" in src and status.get("tls") is not None:
        checks["tls"], seen = tls_result(src["tls"], status["tls"])
        observations.append(seen)
    if delivery is not None:
        mailbox = delivery.get("mailbox") or {}
        checks["delivery"] = _verdict.delivery_check(delivery)
        if delivery.get("queue_id"):
            actions.append(
                f"sent test message {delivery.get('queue_id')} (token {delivery.get('token')}) to "
                f"{delivery.get('rcpt_to') or (delivery.get('would_send') or {}).get('rcpt_to') or 'root'}"
            )
        if mailbox.get("removed"):
            actions.append(
                f"removed that message from {mailbox.get('path')} ({mailbox.get('message_bytes')} bytes) "
                f"after {mailbox.get('waited_seconds')} s"
            )
        elif delivery.get("queue_id"):
            why = mailbox.get("left_because") or mailbox.get("error") or "it had not arrived; the next check removes it"
            actions.append(f"the test message is NOT removed: {why}")
        if mailbox.get("earlier_removed"):
            actions.append(
                f"removed {len(mailbox['earlier_removed'])} test message(s) of earlier checks that arrived late "
                f"from {mailbox.get('path')}: {', '.join(mailbox['earlier_removed'][:5])}"
            )
    if not actions:
        actions.append("none: the health check only read; it changed nothing on the host")
    result_status = host_status(checks) if checks else "warning"
    reasons = [f"{area}: {c.get('reason')}" for area, c in checks.items() if c.get("status") != "ok"]
    if not checks:
        reasons.append("no check ran (were all areas skipped by tags?)")
    return {
        "status": result_status,
        "escalate": at_or_above(result_status, escalate_on),
        "reasons": reasons,
        "checks": checks,
        "observations": [clean(o, 1024) for o in observations],
        "actions": actions,
    }


def tls_result(check: dict, tls: dict) -> tuple[dict, str]:
    """The tls area's check with its figures, and its observation (#16: the sixth area, docs/architecture.md)."""
    cert = tls.get("certificate") or {}
    figures = dict(check, offered=tls.get("offered"), version=tls.get("version"), not_after=cert.get("not_after"))
    if tls.get("offered") is None:
        return figures, f"tls: not known: {tls.get('probe_failure')}"
    if not tls.get("offered"):
        return figures, f"tls: port {tls.get('port')} does not offer STARTTLS"
    return figures, (
        f"tls: STARTTLS {tls.get('version') or 'failed: ' + str(tls.get('error'))}, certificate "
        f"{cert.get('subject') or '?'} until {cert.get('not_after') or '?'}"
    )


def unreachable_result(message: str) -> dict:
    return {
        "status": "unreachable",
        "escalate": True,
        "reasons": [f"unreachable: {clean(message, 512)}"],
        "checks": {},
        "observations": [f"the host could not be reached: {clean(message, 512)}"],
        "actions": ["none: the host was not reached"],
    }


def access_result(cause: str, message: str, escalate_on: str = "critical") -> dict:
    """A host reached, but where become failed: nothing could be checked (unknown), no mail fault."""
    reason = f"access: become failed: {cause} ({clean(message, 300)}); {BECOME_FIX}"
    return {
        "status": "unknown",
        "escalate": at_or_above("unknown", escalate_on),
        "reasons": [reason],
        "checks": {"access": {"status": "unknown", "reason": reason}},
        "observations": [f"access: privilege escalation failed: {clean(message, 512)}"],
        "actions": ["none: nothing ran on the host"],
    }


def _step_text(result: dict) -> str:
    """What a registered step result says when it has no observations of its own (smtp_probe, assert)."""
    if "banner_code" in result or "failure" in result:
        if result.get("success"):
            return (
                f"{result.get('banner_code')} {result.get('hostname')} in "
                f"{(result.get('timings') or {}).get('banner')} ms, QUIT {result.get('quit_code')}"
            )
        return f"{result.get('failure')}: {result.get('detail')}"
    items = result.get("results")
    if isinstance(items, list):
        dests = [i.get("dest") for i in items if isinstance(i, dict) and i.get("dest")]
        if dests:
            return f"copied {len(dests)} file(s) to {clean(dests[0].rsplit('/', 1)[0], 400)}"
        return f"{len(items)} item(s) done"
    return clean(result.get("msg") or "done", 512)


def never_ran(result: dict) -> bool:
    """A failure with no module output and no Python traceback: the connection ran nothing (a stopped
    or killed container, a host whose exec fails). A crash of the module itself has a traceback."""
    output = str(result.get("module_stdout") or "").strip()
    stderr = str(result.get("module_stderr") or "")
    msg = str(result.get("msg") or "")
    no_json = "deserialization failed" in msg or msg.startswith("MODULE FAILURE")
    return bool(result.get("failed")) and no_json and not output and "Traceback" not in stderr


def operation_result(steps: list[tuple[str, dict | None]], escalate_on: str = "critical") -> dict:
    """The per-host object of an operation (restart, crash_capture, trace) from its registered steps, in order.

    Same shape as :func:`host_result`: each step that ran is a check (ok or
    critical, with the reason), its observations and actions are the host's,
    and a step the host could not be reached for makes it unreachable.
    """
    checks: dict[str, dict] = {}
    observations: list[str] = []
    actions: list[str] = []
    unreachable = None
    for name, result in steps:
        if not result or result.get("skipped"):
            continue
        if result.get("unreachable") or never_ran(result):
            unreachable = f"{name}: {clean(result.get('msg'), 400)}"
            observations.append(f"{name}: the host could not be reached: {clean(result.get('msg'), 400)}")
            break
        own = [clean(o, 1024) for o in result.get("observations") or []]
        observations += [f"{name}: {o}" for o in own] or [f"{name}: {_step_text(result)}"]
        actions += [clean(a, 1024) for a in result.get("actions") or []]
        if result.get("failed"):
            reason = result.get("msg") or _step_text(result)
            if reason == "done" or not reason:
                reason = "failed"
            cause = access_failure(str(result.get("msg") or ""))
            if cause:  # nothing ran: the operation could not be done, and nothing is known of the daemon
                checks[name] = {
                    "status": "unknown",
                    "reason": clean(f"become failed: {cause} ({reason}); {BECOME_FIX}", 1024),
                }
                break
            checks[name] = {"status": "critical", "reason": clean(reason, 1024)}
        else:
            checks[name] = {"status": "ok", "reason": own[0] if own else _step_text(result)}
    if unreachable:
        status = "unreachable"
        reasons = [f"unreachable during {unreachable}"]
    else:
        status = host_status(checks) if checks else "unreachable"
        reasons = [f"{area}: {c.get('reason')}" for area, c in checks.items() if c.get("status") != "ok"]
        if not checks:
            reasons = ["no step ran on this host"]
    if not actions:
        actions.append("none: nothing was changed on the host")
    return {
        "status": status,
        "escalate": at_or_above(status, escalate_on),
        "reasons": reasons,
        "checks": checks,
        "observations": observations,
        "actions": actions,
    }


def fleet(
    hosts: dict, run_id: str, started: str, finished: str, extra: dict | None = None, operation: str = "healthcheck"
) -> dict:
    """The fleet model: the JSON that docs/fleet.schema.json describes (fleet.json, <operation>.json).

    Every rendering (Markdown, HTML, JUnit, metrics) is made from this and nothing else."""
    data = {
        "schema": f"opsiface.sendmail/{operation}/v1",
        "operation": operation,
        "run_id": run_id,
        "started": started,
        "finished": finished,
        "summary": {},
        "escalate": [],
        "hosts": dict(sorted(hosts.items())),
    }
    _summarise(data)
    if extra:
        data.update(extra)
    return data


def _summarise(data: dict) -> None:
    summary = dict({"total": len(data["hosts"])}, **{status: 0 for status in STATUSES})
    for result in data["hosts"].values():
        summary[result["status"]] = summary.get(result["status"], 0) + 1
    for key in ("new", "recovered", "persisting"):  # set by with_history
        if key in data["summary"]:
            summary[key] = data["summary"][key]
    data["summary"] = summary
    data["escalate"] = sorted(h for h, r in data["hosts"].items() if r.get("escalate"))


def with_history(data: dict, history: dict, policy: _history.Policy, record: bool = True) -> dict:
    """Add what changed since the last run to a health check's model; return each host's history to keep.

    *history* maps a host to its earlier records, oldest first (see _history.parse/merge/bounded).
    Per host: previous, since, consecutive, state_type, flapping, trend, changes (and a queue that is
    projected to reach queue_crit_count within the horizon warns); in the summary the hosts that are
    new, recovered and persisting; escalate only for hard states and once for a host that starts
    flapping. With *record* false (a run of only some checks) the histories are returned unchanged."""
    new, recovered, persisting, keep = [], [], [], {}
    now = _history.parse_time(data["finished"]) or 0.0
    for host, result in data["hosts"].items():
        runs = list(history.get(host) or [])
        got = _history.assess(result, runs, data["run_id"], data["finished"], policy)
        for flag, names in (("new", new), ("recovered", recovered), ("persisting", persisting)):
            if got[flag]:
                names.append(host)
        if record:
            runs = _history.merge([got["record"]], runs)
        keep[host] = _history.bounded(runs, policy, now)
    data["summary"].update(new=new, recovered=recovered, persisting=persisting)
    _summarise(data)
    data["history"] = {
        "recorded": record,
        "runs": policy.runs,
        "days": policy.days,
        "hard_after": policy.hard_after,
        "flap_window": policy.flap_window,
        "flap_threshold": policy.flap_threshold,
        "queue_horizon_hours": policy.queue_horizon_hours,
        "queue_crit_count": policy.queue_crit_count,
    }
    return keep
