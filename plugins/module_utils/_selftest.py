# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Self-test and Verify/Request as the smtp_probe module runs them, over one host context.

The probe itself (connect, banner, EHLO, STARTTLS, the test message, QUIT) is ``_smtp``; the
mailbox (wait for the token, remove exactly that message) is ``_mailbox``; where a late message
is in the queue is ``_queueops.find_message``. Here: the expected hostname, the refusals that
keep a probe from relaying or injecting, and the delivery verdict.
"""

from __future__ import annotations

import ipaddress
import socket
import time

from . import _config, _mailbox, _queueops, _smtp
from ._context import HostContext, ModuleError
from ._runner import Runner

# How long after its verify_timeout a check may still be removing its own test message (the mailbox lock
# wait is 10 s): a later check removes that message only after this.
DEADLINE_MARGIN = 15


def run(ctx: HostContext, look_up_name: bool = True) -> dict:
    """smtp_probe: the SMTP self-test and, with ``send``/``verify_mailbox``, the delivery check. Without
    ``expect_hostname``, the name is asked of sendmail (``-d0.1 -bt``) only if *look_up_name*."""
    p = ctx.params
    if p["verify_mailbox"] and not p["send"]:  # a value constraint the argspec cannot express
        raise ModuleError("verify_mailbox=true needs send=true")
    expected = p["expect_hostname"] or (
        default_expected_hostname(p["host"], ctx.sendmail, ctx.runner) if look_up_name else None
    )
    try:
        for name in ("helo", "mail_from", "rcpt_to", "subject", "expect_hostname"):
            if p[name] is not None:
                _smtp.check_value(name, p[name])
    except _smtp.SmtpValueError as exc:
        raise ModuleError(str(exc)) from exc
    send = message_to_send(p, expected)
    problem = _mailbox.unusable(p["mailbox"]) if send and p["verify_mailbox"] else None
    if problem:
        raise ModuleError(f"{problem}; no test message was sent")
    options = _smtp.ProbeOptions(
        p["host"],
        p["port"],
        p["connect_timeout"],
        p["banner_timeout"],
        p["command_timeout"],
        expected,
        p["helo"],
        p["tls"],
    )
    result = _smtp.probe(options, send=None if ctx.check_mode else send).to_dict()
    changed = bool(send) and result.get("queue_id") is not None
    if send:
        result["rcpt_to"] = send["rcpt_to"]
    if send and ctx.check_mode:
        result["would_send"] = send
    if p["verify_mailbox"] and result["success"] and not ctx.check_mode:
        changed = verify_delivery(ctx, result) or changed
    return dict(result, changed=changed)


def delivery_check(ctx: HostContext, expected_hostname: str | None, may_run_sendmail: bool = True) -> dict:
    """sendmail_status's ``delivery`` area: :func:`run` as smtp_probe runs it with ``send`` and ``verify_mailbox``,
    over the status call's context (its SMTP host, port and timeout; the ``delivery_*`` options), so that a health
    check with the delivery check is still one module call per host. Never raises: a check that could not start
    is ``success=false, failure=error`` with why. Without *may_run_sendmail* (another MTA's binary, not root:
    sendmail_status runs no sendmail command), no name is asked of sendmail: the banner's is not checked."""
    p = ctx.params
    probe = {
        "host": p["smtp_host"],
        "port": p["smtp_port"] or ctx.paths["ports"][0],
        "connect_timeout": p["smtp_timeout"],
        "banner_timeout": p["smtp_timeout"],
        "command_timeout": p["smtp_timeout"],
        "expect_hostname": expected_hostname,
        "helo": None,
        "tls": False,
        "send": True,
        "mail_from": None,
        "rcpt_to": p["delivery_rcpt"],
        "subject": "opsiface.sendmail delivery check",
        "allow_remote_recipient": None,  # no such option here: never off the host
        "verify_mailbox": True,
        "mailbox": p["delivery_mailbox"],
        "verify_timeout": p["delivery_timeout"],
        "sendmail_path": p.get("sendmail_path"),
        "config_path": p["config_path"],
    }
    sub = HostContext(
        params=probe,
        check_mode=ctx.check_mode,
        layout=ctx.layout,
        runner=ctx.runner,
        now=ctx.now,
        warnings=ctx.warnings,
        _paths=ctx._paths,
    )
    try:
        return run(sub, look_up_name=may_run_sendmail)
    except ModuleError as exc:
        return dict(exc.result, success=False, failure="error", detail=exc.msg, changed=False)


def message_to_send(p: dict, expected: str | None) -> dict | None:
    """The test message to send (envelope, subject, token), or None; refuses a recipient off the probed host."""
    if not p["send"]:
        return None
    rcpt = p["rcpt_to"]
    domain = rcpt.rsplit("@", 1)[1].lower() if "@" in rcpt else None
    local = {d.lower() for d in (expected, "localhost", socket.getfqdn()) if d}
    if domain and domain not in local and not p["allow_remote_recipient"]:
        # allow_remote_recipient None: a caller without that option (sendmail_status's delivery area)
        hint = (
            "set allow_remote_recipient=true to send there"
            if p["allow_remote_recipient"] is not None
            else "the delivery check sends only to a recipient on this host"
        )
        raise ModuleError(f"rcpt_to {rcpt!r} is not on the probed host ({', '.join(sorted(local))}); {hint}")
    return {
        "mail_from": p["mail_from"] or f"root@{expected or socket.getfqdn()}",
        "rcpt_to": rcpt,
        "subject": p["subject"],
        # the token says until when this check waits for the message: a later check removes it after that
        "token": _mailbox.new_token(time.time() + p["verify_timeout"] + DEADLINE_MARGIN),
    }


def verify_delivery(ctx: HostContext, result: dict) -> bool:
    """Wait for the test message in the mailbox and remove exactly it; where it is when it did not arrive.
    Updates *result* (mailbox, queue_entry, and the verdict); returns whether the mailbox was changed."""
    p = ctx.params
    box = _mailbox.wait_and_remove(p["mailbox"], result["token"], p["verify_timeout"])
    entry = None
    if not box.get("arrived") and not box.get("error") and result["queue_id"]:
        entry = _queueops.find_message(ctx.paths["mta_queue_dirs"], result["queue_id"])
        if entry["state"] == "absent":  # it may have left the queue for the mailbox a moment ago
            try:
                box = dict(
                    _mailbox.remove_test_messages(p["mailbox"], result["token"]),
                    **{"waited_seconds": box.get("waited_seconds")},
                )
                box["arrived"] = box["found"]
            except _mailbox.MailboxError as exc:
                box = dict(box, error=str(exc))
    result["mailbox"] = box
    result["queue_entry"] = entry
    verdict = _mailbox.delivery_verdict(box, result["queue_id"], entry, p["verify_timeout"])
    if not verdict["success"]:
        result.update(success=False, failure=verdict["failure"], detail=verdict["detail"])
    elif verdict.get("note"):
        result["detail"] = verdict["note"]
        ctx.warn(verdict["note"])
    if box.get("sweep_error"):
        ctx.warn(f"test messages of earlier checks were not looked for: {box['sweep_error']}")
    for left in box.get("earlier_left") or []:
        ctx.warn(f"an earlier test message ({left['token']}) is left in {p['mailbox']}: {left['why']}")
    return bool(box.get("removed") or box.get("earlier_removed"))


def default_expected_hostname(host: str, sendmail: str, runner: Runner) -> str | None:
    """$j (or this host's FQDN) for loopback; the name itself for a name; no check for another address."""
    if host == "localhost":
        return _local_name(sendmail, runner)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    return _local_name(sendmail, runner) if address.is_loopback else None


def _local_name(sendmail: str, runner: Runner) -> str | None:
    res = runner.run([sendmail, "-d0.1", "-bt"], stdin=b"", timeout=15)
    if not res.missing:
        name = _config.parse_d01(res.stdout, res.stderr).hostname
        if name:
            return name
    return socket.getfqdn() or None
