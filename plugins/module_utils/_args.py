# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module argument checked, with a message naming it and its value, before anything is done.

The argument spec says the type and the choices; what it cannot say (ranges, finite numbers,
lengths, characters that must never reach a command line, a socket or a path) is checked here,
one function per module, so that a refused call has done nothing at all: no command run, no
file touched, no connection made. Each function takes the module's params and raises ArgError.
"""

from __future__ import annotations

import math
import re

from ._text import clean

MAX_SECONDS = 86400.0  # a day: no single step of this collection waits longer
MAX_PATH = 4096
MAX_LIST = 100000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_QUEUE_ID = re.compile(r"^[A-Za-z0-9]{8,20}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9_.:%\[\]-]{1,253}$")


class ArgError(ValueError):
    """An argument that must not be used; the message names it and the value."""


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _show(value) -> str:
    return repr(value) if not isinstance(value, str) else repr(clean(value, 80))


# ----------------------------------------------------------------- single values
def number(name: str, value, low: float, high: float, low_open: bool = False) -> None:
    """A finite number in [low, high] (or (low, high] with *low_open*); None passes (an unset option)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgError(f"{name}={_show(value)} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ArgError(f"{name}={_show(value)} is not a finite number")
    if value < low or (low_open and value == low) or value > high:
        bracket = "(" if low_open else "["
        raise ArgError(f"{name}={_show(value)} is outside {bracket}{_num(low)}, {_num(high)}]")


def seconds(name: str, value, high: float = MAX_SECONDS) -> None:
    """A timeout: finite, more than 0, at most *high* seconds."""
    number(name, value, 0, high, low_open=True)


def port(name: str, value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535):
        raise ArgError(f"{name}={_show(value)} is not a TCP port (1 to 65535)")


def text(name: str, value, max_len: int, empty_ok: bool = False) -> None:
    """Printable text of at most *max_len* characters: no CR, LF, NUL or other control characters."""
    if value is None:
        return
    if not isinstance(value, str):
        raise ArgError(f"{name}={_show(value)} is not text")
    if not value and not empty_ok:
        raise ArgError(f"{name} must not be empty")
    if len(value) > max_len:
        raise ArgError(f"{name} is {len(value)} characters long, more than {max_len}: {_show(value)}")
    if _CONTROL.search(value):
        raise ArgError(f"{name} must not contain CR, LF, NUL or other control characters: {_show(value)}")


def host(name: str, value) -> None:
    """A host name or address to connect to: letters, digits, '.', '-', '_', ':' (IPv6), at most 253."""
    if value is None:
        return
    text(name, value, 253)
    if not _HOSTNAME.match(value) or value.startswith("-"):
        raise ArgError(
            f"{name}={_show(value)} is not a host name or address (letters, digits, '.', '-', ':', no spaces)"
        )


def path(name: str, value) -> None:
    """An absolute path without NUL (a module runs in a temporary directory: a relative path means nothing)."""
    if value is None:
        return
    if not isinstance(value, str) or not value:
        raise ArgError(f"{name}={_show(value)} is not a path")
    if "\0" in value or len(value) > MAX_PATH:
        raise ArgError(f"{name}={_show(value)} contains NUL or is longer than {MAX_PATH} characters")
    if not value.startswith("/"):
        raise ArgError(f"{name}={_show(value)} is not an absolute path")


def paths(name: str, values) -> None:
    if values is None:
        return
    sized(name, values, 256)
    for value in values:
        path(name, value)


def sized(name: str, values, most: int) -> None:
    if values is not None and len(values) > most:
        raise ArgError(f"{name} has {len(values)} entries, more than {most}")


def queue_ids(name: str, values, most: int = MAX_LIST) -> None:
    if values is None:
        return
    sized(name, values, most)
    for value in values:
        if not isinstance(value, str) or not _QUEUE_ID.match(value):
            raise ArgError(f"{name}: not a queue ID: {_show(value)} (expected 8-20 letters and digits)")


def ordered(low_name: str, low, high_name: str, high) -> None:
    if low is not None and high is not None and low > high:
        raise ArgError(f"{low_name}={low} is above {high_name}={high}")


def argv(name: str, values) -> None:
    """A command as a list: 1 to 64 words, none with NUL, the first not an option."""
    if values is None:
        return
    if not values:
        raise ArgError(f"{name} is an empty command")
    sized(name, values, 64)
    for word in values:
        if not isinstance(word, str) or "\0" in word or len(word) > MAX_PATH:
            raise ArgError(f"{name}: {_show(word)} contains NUL or is too long")
    if not values[0] or values[0].startswith("-"):
        raise ArgError(f"{name}: the command {_show(values[0])} is empty or starts with '-'")


# ----------------------------------------------------------------- per module
def common(p: dict) -> None:
    """The options of the doc fragment opsiface.sendmail.common, and the paths most modules share."""
    for key in ("config_path", "submit_config_path", "sendmail_path", "pidfile"):
        path(key, p.get(key))
    seconds("command_timeout", p.get("command_timeout"), 3600)


def lock(p: dict) -> None:
    """The options of the doc fragment opsiface.sendmail.lock."""
    text("lock_owner", p.get("lock_owner"), 200)
    number("lock_wait", p.get("lock_wait"), 0, MAX_SECONDS)  # 0: refuse at once when the host is busy
    number("lock_grace", p.get("lock_grace"), 1, 7 * MAX_SECONDS)
    path("lock_dir", p.get("lock_dir"))


def sendmail_queue(p: dict) -> None:
    common(p)
    lock(p)
    queue_ids("queue_ids", p["queue_ids"], 10000)
    text("recipient_domain", p["recipient_domain"], 255)
    if p["recipient_domain"] is not None and (" " in p["recipient_domain"] or "/" in p["recipient_domain"]):
        raise ArgError(f"recipient_domain={_show(p['recipient_domain'])} is not a domain")
    text("sender", p["sender"], 512)
    number("older_than", p["older_than"], 1, 100 * 365 * 86400)
    number("limit", p["limit"], 1, 1000000)
    text("reason", p["reason"], 512)
    for key in ("trash_dir", "cache_dir"):
        path(key, p[key])
    for key in ("warn_count", "crit_count", "warn_age", "crit_age"):
        number(key, p[key], 0, 10**12)
    ordered("warn_count", p["warn_count"], "crit_count", p["crit_count"])
    ordered("warn_age", p["warn_age"], "crit_age", p["crit_age"])
    number("since", p["since"], 0, 10**11)
    expected = p["expected_ids"]
    if expected is not None:
        unknown = sorted(set(expected) - {"mta", "msp"})
        if unknown:
            raise ArgError(f"expected_ids has queues other than mta and msp: {_show(unknown)}")
        for key, ids in expected.items():
            if ids is not None and not isinstance(ids, list):
                raise ArgError(f"expected_ids.{key} is not a list of queue IDs")
            queue_ids(f"expected_ids.{key}", [str(i) for i in ids or []], 10000000)
    paths("aside_dirs", p["aside_dirs"])
    paths("log_paths", p["log_paths"])


def sendmail_status(p: dict) -> None:
    common(p)
    sized("ports", p["ports"], 64)
    for value in p["ports"] or []:
        port("ports", value)
    paths("log_paths", p["log_paths"])
    number("since_minutes", p["since_minutes"], 1, 20 * 366 * 24 * 60)
    number("syslog_max_bytes", p["syslog_max_bytes"], 4096, 1 << 40)
    number("max_lines", p["max_lines"], 0, 1000)
    number("max_zombie_children", p["max_zombie_children"], 0, 10**6)
    for kind in ("errors", "warnings"):
        warn, crit = p[f"syslog_warn_{kind}"], p[f"syslog_crit_{kind}"]
        number(f"syslog_warn_{kind}", warn, 0, 10**12)
        number(f"syslog_crit_{kind}", crit, 0, 10**12)
        ordered(f"syslog_warn_{kind}", warn, f"syslog_crit_{kind}", crit)
    for kind in ("count", "age"):
        warn, crit = p[f"queue_warn_{kind}"], p[f"queue_crit_{kind}"]
        number(f"queue_warn_{kind}", warn, 0, 10**12)
        number(f"queue_crit_{kind}", crit, 0, 10**12)
        ordered(f"queue_warn_{kind}", warn, f"queue_crit_{kind}", crit)
    path("queue_cache_dir", p["queue_cache_dir"])
    host("smtp_host", p["smtp_host"])
    port("smtp_port", p["smtp_port"])
    seconds("smtp_timeout", p["smtp_timeout"], 3600)
    number("smtp_warn_banner_ms", p["smtp_warn_banner_ms"], 0, 3600 * 1000)
    number("tls_warn_days", p["tls_warn_days"], -100000, 100000)
    number("tls_crit_days", p["tls_crit_days"], -100000, 100000)
    ordered("tls_crit_days", p["tls_crit_days"], "tls_warn_days", p["tls_warn_days"])
    text("delivery_rcpt", p["delivery_rcpt"], 512)
    path("delivery_mailbox", p["delivery_mailbox"])
    seconds("delivery_timeout", p["delivery_timeout"], 3600)


def smtp_probe(p: dict) -> None:
    host("host", p["host"])
    port("port", p["port"])
    for key in ("connect_timeout", "banner_timeout", "command_timeout", "verify_timeout"):
        seconds(key, p[key], 3600)
    for key in ("expect_hostname", "helo", "mail_from", "rcpt_to", "subject"):
        text(key, p[key], 512)
    path("mailbox", p["mailbox"])
    path("sendmail_path", p["sendmail_path"])


def sendmail_service(p: dict) -> None:
    common(p)
    lock(p)
    seconds("timeout", p["timeout"], 3600)
    argv("stop_command", p["stop_command"])
    argv("start_command", p["start_command"])
    sized("expected_ppids", p["expected_ppids"], 64)
    for value in p["expected_ppids"] or []:
        number("expected_ppids", value, 1, 1 << 22)


def sendmail_crash(p: dict) -> None:
    common(p)
    lock(p)
    path("dir", p["dir"])
    number("keep", p["keep"], 1, 1000)
    number("space_margin", p["space_margin"], 0, 100.0, low_open=True)  # below 1 risks ENOSPC, cleanly
    seconds("timeout", p["timeout"])
    number("pid", p["pid"], 1, 1 << 22)  # 1 passes here to be refused as init, with the reason, by the target check


def sendmail_trace(p: dict) -> None:
    common(p)
    lock(p)
    sized("addresses", p["addresses"], 100)
    sized("queue_ids", p["queue_ids"], 100)
    queue_ids("queue_ids", p["queue_ids"], 100)
    number("seconds", p["seconds"], 1, 600)
    number("max_bytes", p["max_bytes"], 1024, 1 << 30)
    path("dir", p["dir"])
    number("pid", p["pid"], 1, 1 << 22)


def sendmail_lock(p: dict) -> None:
    for key in ("owner", "operation", "break_owner"):
        text(key, p[key], 200)
    number("wait", p["wait"], 0, MAX_SECONDS)
    number("grace", p["grace"], 1, 7 * MAX_SECONDS)
    path("lock_dir", p["lock_dir"])
    controller = p["controller"]
    if controller is not None:
        if set(controller) - {"host", "pid", "start"}:
            raise ArgError(f"controller has keys other than host, pid and start: {_show(sorted(controller))}")
        text("controller.host", controller.get("host"), 253)
        for key in ("pid", "start"):
            if controller.get(key) is not None and (
                isinstance(controller[key], bool) or not isinstance(controller[key], int)
            ):
                raise ArgError(f"controller.{key}={_show(controller[key])} is not a number")


def fleet_report(p: dict) -> None:
    text("run_id", p["run_id"], 200)
    text("started", p["started"], 64)
    if not isinstance(p["report_dir"], str) or not p["report_dir"] or "\0" in p["report_dir"]:
        raise ArgError(f"report_dir={_show(p['report_dir'])} is not a path")
    sized("hosts", p["hosts"], MAX_LIST)
    sized("all_hosts", p["all_hosts"], MAX_LIST)
    for name, result in p["hosts"].items():
        text("hosts", name, 1024)
        report_host(f"hosts.{clean(name, 80)}", result)


def report_host(name: str, result) -> None:
    """One per-host result as the sendmail_results / sendmail_operation_results filters make it."""
    if not isinstance(result, dict):
        raise ArgError(f"{name} is not a per-host result (a dict)")
    if not isinstance(result.get("status"), str) or not isinstance(result.get("escalate"), bool):
        raise ArgError(f"{name} has no status (text) and escalate (true/false)")
    for key in ("reasons", "observations", "actions"):
        if not isinstance(result.get(key), list) or not all(isinstance(x, str) for x in result[key]):
            raise ArgError(f"{name}.{key} is not a list of text")
    if not isinstance(result.get("checks"), dict) or not all(isinstance(c, dict) for c in result["checks"].values()):
        raise ArgError(f"{name}.checks is not a dict of checks")


def check(module, validate) -> None:
    """Run *validate* over the module's params; fail the module, having done nothing, on the first problem."""
    try:
        validate(module.params)
    except ArgError as exc:
        module.fail_json(msg=f"invalid argument: {exc}; nothing was done")
