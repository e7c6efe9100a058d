# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""From observations to a status per area: ok, warning, critical or unknown, with a reason.

Every function here is pure: it takes what the other areas observed and the
thresholds, and returns ``{"status": ..., "reason": ...}``. The reason is a
sentence an operator can paste into a ticket.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import _mta

# unknown (Nagios UNKNOWN: the check could not be done) ranks above warning: what could not be
# seen may be critical; below critical: a fault that was seen outranks one that might be there.
ORDER = {"ok": 0, "warning": 1, "unknown": 2, "critical": 3}

# The fix that every "could not be done for lack of privilege" reason ends with.
BECOME_FIX = "run with become (root), or see docs/security.md for the read-only groups"


def worst(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: ORDER.get(s, ORDER["unknown"])) if statuses else "unknown"


def _check(status: str, reason: str, **extra) -> dict:
    return dict({"status": status, "reason": reason}, **extra)


def process_check(
    daemon: dict, listening: list[dict] | None, max_zombie_children: int = 5, banner_mta: str | None = None
) -> dict:
    """The daemon's state, its PidFile, and who owns the listening port.

    Who owns a socket is read from /proc/PID/fd, which only root (or the owner) may read. When
    the owner cannot be seen, the banner on the port decides (*banner_mta*, from the self-test):
    sendmail's banner says the port is sendmail's; without one the check cannot be done.
    """
    state = daemon.get("state")
    pid = daemon.get("pid")
    if state in ("absent", "stopped", "zombie"):
        return _not_running(daemon, listening)
    problems: list[str] = []
    status = "ok"
    hidden_owner = ""
    if listening is not None:
        verdict = _port_owner(pid, listening, banner_mta)
        if isinstance(verdict, dict):
            return verdict
        hidden_owner = verdict
        if not listening:
            problems.append(f"listener pid {pid} runs but nothing listens on the daemon port")
            status = "critical"
    status = _listener_problems(daemon, max_zombie_children, status, problems)
    if not problems:
        uptime = daemon.get("uptime_seconds")
        up = f", up {uptime} s" if uptime is not None else ""
        return _check(
            "ok", f"listener pid {pid} (PPID {daemon.get('ppid')}) is accepting connections{up}{hidden_owner}"
        )
    return _check(status, "; ".join(problems))


def _not_running(daemon: dict, listening: list[dict] | None) -> dict:
    """A listener that is absent, stopped (state T) or a zombie: critical, and why."""
    state, pid = daemon.get("state"), daemon.get("pid")
    if state == "stopped":
        return _check("critical", f"listener pid {pid} is stopped (state T): it accepts no mail until continued")
    if state == "zombie":
        return _check("critical", f"listener pid {pid} is a zombie (defunct): it is dead")
    reason = "no sendmail listener is running"
    if daemon.get("pidfile_problem"):
        reason += f" (PidFile {daemon.get('pidfile')}: {daemon['pidfile_problem']})"
    owners = [s for s in listening or [] if s.get("pid") is not None]
    if owners:  # something answers on the port, and it is not sendmail: the self-test may pass anyway
        reason += (
            f"; port {owners[0]['port']} is owned by pid {owners[0]['pid']} "
            f"({owners[0].get('args') or 'unknown'}), not by sendmail"
        )
    return _check("critical", reason)


def _port_owner(pid: int | None, listening: list[dict], banner_mta: str | None) -> dict | str:
    """A check when the port is not the listener's (or who owns it cannot be seen), else the text to add
    to an ok reason ("" or why the owner is taken from the banner)."""
    foreign = [s for s in listening if s.get("pid") is not None and s.get("pid") != pid]
    ours = [s for s in listening if s.get("pid") == pid]
    hidden = [s for s in listening if s.get("pid") is None]
    if hidden and not ours and not foreign:
        port = hidden[0].get("port")
        if banner_mta == "sendmail":
            return f"; port {port}'s owner is not visible without root, but its banner is sendmail's"
        if banner_mta is not None:
            return _check(
                "critical", f"port {port} answers as {_mta.name(banner_mta)}, not as the sendmail listener {pid}"
            )
        return _check(
            "unknown",
            f"listener pid {pid} runs, but who listens on port {port} cannot be seen: not root "
            f"(/proc/PID/fd of root's processes); {BECOME_FIX}",
        )
    if foreign and not ours:
        owner = foreign[0]
        return _check(
            "critical",
            f"port {owner['port']} is owned by pid {owner['pid']} ({owner.get('args') or 'unknown'}), "
            f"not by the sendmail listener {pid}",
        )
    return ""


def _listener_problems(daemon: dict, max_zombie_children: int, status: str, problems: list[str]) -> str:
    """What is wrong with a running listener (load, PidFile, defunct children, several listeners), added to
    *problems*; returns the status with them."""
    pid = daemon.get("pid")
    if daemon.get("state") == "rejecting_load":
        problems.append(f"listener pid {pid} is refusing connections (load average {daemon.get('load_average')})")
        status = "warning" if status == "ok" else status
    if daemon.get("pidfile_access"):  # the cross-check could not be done: not a fault of the PidFile
        problems.append(f"PidFile not compared with the listener: {daemon['pidfile_access']}")
        status = worst([status, "unknown"])
    elif daemon.get("pidfile_matches") is False or daemon.get("pidfile_problem"):
        problems.append(f"PidFile {daemon.get('pidfile')}: {daemon.get('pidfile_problem') or 'does not match'}")
        status = "warning" if status == "ok" else status
    if daemon.get("zombie_children", 0) > max_zombie_children:
        problems.append(
            f"{daemon['zombie_children']} defunct children of the listener (warning above {max_zombie_children})"
        )
        status = "warning" if status == "ok" else status
    if len(daemon.get("listeners") or []) > 1:
        pids = ", ".join(str(p["pid"]) for p in daemon["listeners"])
        problems.append(f"more than one listener process: {pids}")
        status = "warning" if status == "ok" else status
    return status


def config_check(config: dict) -> dict:
    if not config.get("exists"):
        return _check("critical", f"{config.get('path')} does not exist")
    if config.get("access"):
        return _check("unknown", f"{config.get('path')}: {config['access']}")
    if config.get("readable") is False:
        return _check("critical", f"{config.get('path')} cannot be read: {config.get('problem') or 'unknown error'}")
    verdict = config.get("check") or {}
    if verdict.get("access"):
        return _check("unknown", f"the configuration was not checked: {verdict['access']}")
    if verdict.get("timed_out"):
        return _check("unknown", f"the configuration check ({verdict.get('command')}) timed out")
    if verdict.get("ok") is False:
        first = (verdict.get("errors") or [{}])[0]
        where = f" line {first.get('line')}" if first.get("line") else ""
        return _check(
            "critical",
            f"{config.get('path')}{where}: {first.get('message') or 'check failed'} "
            f"(rc {verdict.get('rc')}): a restart would not start a daemon",
        )
    if verdict.get("ok") is None:
        return _check("unknown", "the configuration was not checked: " + (verdict.get("skipped") or "no checker"))
    return _check("ok", f"{config.get('path')} passes {verdict.get('command')}")


@dataclass(frozen=True)
class SyslogThresholds:
    """Error and warning lines in the window from which the syslog area warns, and is critical."""

    warn_errors: int = 1
    crit_errors: int = 10
    warn_warnings: int = 50
    crit_warnings: int = 500


def syslog_check(scan: dict, thresholds: SyslogThresholds | None = None, since_minutes: int = 60) -> dict:
    t = thresholds or SyslogThresholds()
    daemon_down = (scan.get("daemon") or {}).get("running") is False
    if scan.get("access"):
        return _check("unknown", f"the mail log was not read: {scan['access']}")
    if scan.get("source") == "none":
        reason = "no mail log to read: " + "; ".join(scan.get("problems") or ["none found"])
        if daemon_down:
            reason += "; no syslog daemon is running, so sendmail's log lines are lost"
        return _check("warning", reason)
    if daemon_down:
        return _check("warning", "no syslog daemon is running: sendmail's log lines since it stopped are lost")
    errors = scan.get("errors", 0)
    warnings = scan.get("warnings", 0)
    counts = ", ".join(
        f"{k}={v}" for k, v in sorted((scan.get("counts") or {}).items()) if k not in ("activity", "other")
    )
    window = f"in the last {since_minutes} min"
    if errors >= t.crit_errors or warnings >= t.crit_warnings:
        status = "critical"
    elif errors >= t.warn_errors or warnings >= t.warn_warnings:
        status = "warning"
    else:
        status = "ok"
    reason = f"{errors} error(s), {warnings} warning(s) {window}"
    if counts:
        reason += f" ({counts})"
    if status != "ok" and scan.get("offending"):
        reason += f"; latest: {scan['offending'][0]['line'][:200]}"
    if not scan.get("complete", True) and status == "ok":
        status = "unknown"
        reason += "; scan incomplete: " + "; ".join(scan.get("problems") or [])
    return _check(status, reason)


def smtp_check(result: dict, warn_banner_ms: float = 2000.0) -> dict:
    other = _mta.banner_mta(result.get("banner"))
    if other not in (None, "sendmail"):
        # another MTA's 220 and 221 are no self-test of sendmail
        return _check(
            "critical",
            f"port {result.get('port')} answers as {_mta.name(other)}, not sendmail: {result.get('banner')}",
        )
    if not result.get("success"):
        return _check("critical", f"SMTP self-test failed: {result.get('failure')}: {result.get('detail')}")
    banner_ms = (result.get("timings") or {}).get("banner")
    if banner_ms is not None and banner_ms > warn_banner_ms:
        return _check("warning", f"banner took {banner_ms} ms (warning above {warn_banner_ms} ms)")
    return _check("ok", f"220 {result.get('hostname')} then 221 in {(result.get('timings') or {}).get('total')} ms")


def delivery_check(delivery: dict) -> dict:
    """Verify/Request from a delivery check's result (smtp_probe with verify_mailbox, or sendmail_status's delivery
    area): ok only when the test message arrived and was removed. Mail accepted and still queued after the wait
    (a throttle, a deferral) is slow, not refused; a test message delivered but left in the mailbox (its bytes not
    certain) is our debris: both warn. A check that could not start, or sent nothing (check mode), is unknown."""
    mailbox = delivery.get("mailbox") or {}
    extra = {"queue_id": delivery.get("queue_id"), "waited_seconds": mailbox.get("waited_seconds")}
    if delivery.get("failure") == "error" or (delivery.get("failed") and not delivery.get("failure")):
        return _check("unknown", f"delivery check not done: {delivery.get('detail') or delivery.get('msg')}", **extra)
    if delivery.get("would_send") and not delivery.get("queue_id"):
        rcpt = (delivery.get("would_send") or {}).get("rcpt_to")
        return _check("unknown", f"check mode: no test message sent (one would go to {rcpt})", **extra)
    ok = bool(delivery.get("success")) and bool(mailbox.get("removed"))
    slow = delivery.get("failure") == "delivery_late"
    left = bool(delivery.get("success")) and bool(mailbox.get("arrived")) and not mailbox.get("removed")
    if ok:
        reason = (
            f"test message {delivery.get('queue_id')} delivered to {mailbox.get('path')} in "
            f"{mailbox.get('waited_seconds')} s and removed"
        )
    elif left:
        reason = f"delivered, but {delivery.get('detail')}"
    else:
        reason = f"delivery check failed: {delivery.get('failure')}: {delivery.get('detail')}"
    return _check("ok" if ok else "warning" if slow or left else "critical", reason, **extra)


def mta_check(identity: dict, banner: str | None = None) -> dict:
    """Whether the host's MTA is sendmail at all: installed, and no other MTA behind its name or port."""
    binary = identity.get("binary") or "/usr/sbin/sendmail"
    config = identity.get("config") or "sendmail.cf"
    mta = identity.get("mta")
    served = _mta.banner_mta(banner)
    evidence = "; ".join(identity.get("evidence") or [])
    if mta not in (None, "sendmail") or served not in (None, "sendmail"):
        found = mta if mta not in (None, "sendmail") else served
        where = f"; banner: {banner}" if served == found and banner else ""
        return _check("critical", f"the MTA here is {_mta.name(found)}, not sendmail ({evidence}{where})", mta=found)
    if not identity.get("binary_exists") and not identity.get("config_exists"):
        return _check("critical", f"sendmail is not installed (no {binary}, no {config})", mta=None)
    if not identity.get("binary_exists"):
        return _check("critical", f"sendmail's binary is missing: no {binary} ({config} is there)", mta=mta)
    if identity.get("binary_mta") is None and not identity.get("config_exists"):
        return _check("critical", f"{binary} is not sendmail's and there is no {config} ({evidence})", mta=None)
    real = identity.get("real_path")
    via = f" ({real})" if real and real != binary else ""
    return _check("ok", f"{binary}{via} is sendmail", mta="sendmail")


# ----------------------------------------------------------------- tls (the sixth area: docs/architecture.md)
@dataclass(frozen=True)
class TlsThresholds:
    """Days to the certificate's expiry from which the tls area warns, and is critical; and whether a
    server that does not offer STARTTLS is critical (*required*) or ok (it was looked at: not offered)."""

    warn_days: int = 30
    crit_days: int = 7
    required: bool = False


def tls_observation(probe: dict) -> dict:
    """What the SMTP probe (run with tls) saw of STARTTLS: ``offered`` (None when the probe did not get as
    far as EHLO, so nobody knows), the handshake, protocol, cipher and certificate, or the error."""
    starttls = dict(probe.get("starttls") or {})
    known = probe.get("ehlo_code") == 250
    return dict(
        starttls,
        offered=bool(starttls.get("offered")) if known else None,
        port=probe.get("port"),
        probe_failure=None if known else probe.get("failure"),
        probe_detail=None if known else probe.get("detail"),
    )


def tls_check(tls: dict, thresholds: TlsThresholds | None = None) -> dict:
    """STARTTLS offered, the handshake done, and the days until the server certificate expires.

    The rule for a server that does not offer STARTTLS: that was seen, so it is a finding, not an unknown:
    ok ("not offered", with the fact in the reason) unless *thresholds.required*, then critical. What
    could not be seen (the probe failed before EHLO, a certificate that cannot be read) is unknown."""
    t = thresholds or TlsThresholds()
    port = tls.get("port")
    if tls.get("offered") is None:
        why = f"{tls.get('probe_failure')}: {tls.get('probe_detail')}"
        return _check("unknown", f"whether port {port} offers STARTTLS is not known: the SMTP probe failed ({why})")
    if not tls["offered"]:
        if t.required:
            return _check("critical", f"port {port} does not offer STARTTLS (tls_required): mail to it goes in clear")
        return _check("ok", f"port {port} does not offer STARTTLS (not required; set tls_required to make it critical)")
    if not tls.get("handshake"):
        return _check("critical", f"port {port} offers STARTTLS but the handshake failed: {tls.get('error')}")
    cert = tls.get("certificate") or {}
    days = cert.get("days_to_expiry")
    if days is None:
        why = cert.get("error") or "no certificate was presented"
        return _check("unknown", f"STARTTLS works ({tls.get('version')}) but the certificate cannot be read: {why}")
    what = f"{tls.get('version')}, certificate {cert.get('subject') or '?'} expires {cert.get('not_after')}"
    if days < 0:
        return _check("critical", f"{what}: EXPIRED {-days} day(s) ago", days_to_expiry=days)
    if days <= t.crit_days:
        return _check("critical", f"{what}: in {days} day(s) (critical at {t.crit_days})", days_to_expiry=days)
    if days <= t.warn_days:
        return _check("warning", f"{what}: in {days} day(s) (warning at {t.warn_days})", days_to_expiry=days)
    return _check("ok", f"{what}: in {days} day(s)", days_to_expiry=days)
