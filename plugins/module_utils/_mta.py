# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which MTA a host really runs: sendmail, another MTA behind a sendmail-compatible wrapper, or none.

Postfix, Exim and OpenSMTPD all install a ``/usr/sbin/sendmail`` of their own,
and any of them answers an SMTP self-test with a 220. Running their wrapper
with sendmail's options (``-d0.1 -bt``) writes a "fatal: usage" line into the
mail log, so the MTA is named *before* any sendmail command runs, from what
can be read without running anything: where the ``sendmail`` path resolves to
(symlinks, Debian alternatives), the strings in that binary, the daemon
processes (``/proc/*/cmdline``, readable without root) and, after the
self-test, the banner. Pure functions over those strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NAMES = {"sendmail": "sendmail", "postfix": "Postfix", "exim": "Exim", "opensmtpd": "OpenSMTPD"}

# Strings only that MTA's sendmail-compatible binary carries (captured: Debian 12 sendmail 8.17.1.9
# /usr/libexec/sendmail/sendmail, Debian 12 Postfix 3.7.11 /usr/sbin/sendmail; Exim's and
# OpenSMTPD's are the exim4/exim and smtpctl binaries themselves, named by where the link points).
_BINARY_MARKS: tuple[tuple[str, tuple[bytes, ...]], ...] = (
    ("sendmail", (b"DontBlameSendmail", b"This is Sendmail version")),
    ("postfix", (b"Postfix sendmail command", b"libpostfix-", b"/etc/postfix")),
    ("exim", (b"Exim is a Mail Transfer Agent", b"exim_path", b"Exim version")),
    ("opensmtpd", (b"OpenSMTPD", b"smtpctl")),
)
_BINARY_NAMES = (
    (re.compile(r"^exim\d*$"), "exim"),
    (re.compile(r"^smtpctl$"), "opensmtpd"),
    (re.compile(r"^(sendmail|sendmail\.sendmail|sendmail-mta|sm-mta)$"), None),  # a name many MTAs use
)

# Daemon processes by their command line: (pattern, mta). Postfix's master runs from
# /usr/lib/postfix/sbin (Debian) or /usr/libexec/postfix (RHEL); its smtpd children too.
_DAEMONS = (
    (re.compile(r"(^|/)postfix/(sbin/)?master(\s|$)|^/usr/(lib|libexec)/postfix/"), "postfix"),
    (re.compile(r"(^|/)exim\d*(\s.*)?\s-bd(\s|$)|^exim\d*:? "), "exim"),
    (re.compile(r"^smtpd: |(^|/)sbin/smtpd(\s|$)"), "opensmtpd"),
    (re.compile(r"^(sendmail|sm-mta|sendmail-mta): |(^|/)(sendmail|sendmail-mta|sm-mta)(\s|$)"), "sendmail"),
)

# 220 greetings (captured: Debian 12 sendmail 8.17.1.9 and Postfix 3.7.11; Exim 4 and OpenSMTPD as
# their documentation and default smtp_banner / smtpd.conf show them).
_BANNERS = (
    (re.compile(r"\bESMTP Sendmail\b|\bSendmail [0-9.]+/", re.I), "sendmail"),
    (re.compile(r"\bPostfix\b", re.I), "postfix"),
    (re.compile(r"\bExim\b", re.I), "exim"),
    (re.compile(r"\bOpenSMTPD\b", re.I), "opensmtpd"),
)


def name(mta: str | None) -> str:
    return NAMES.get(mta or "", mta or "unknown")


def binary_mta(real_path: str, data: bytes | None) -> str | None:
    """The MTA whose binary *real_path* is (the sendmail path resolved through its links), from its name
    and, where the name says nothing, from strings in its first bytes (*data*). None: cannot tell."""
    base = real_path.rstrip("/").rsplit("/", 1)[-1]
    for pattern, mta in _BINARY_NAMES:
        if pattern.match(base) and mta:
            return mta
    if "/postfix/" in real_path:
        return "postfix"
    for mta, marks in _BINARY_MARKS:
        if data and any(mark in data for mark in marks):
            return mta
    return None


def process_mta(args: str | None) -> str | None:
    """The MTA a daemon process belongs to, from its command line or title."""
    text = (args or "").strip()
    for pattern, mta in _DAEMONS:
        if pattern.search(text):
            return mta
    return None


def banner_mta(banner: str | None) -> str | None:
    """The MTA a 220 greeting names, or None when it names none (a site may hide it)."""
    text = banner or ""
    for pattern, mta in _BANNERS:
        if pattern.search(text):
            return mta
    return None


@dataclass(frozen=True)
class Found:
    """What was found on the host: the sendmail path, whether a binary is there, where it resolves to and
    whose it is (:func:`binary_mta`), the configuration file, and the MTA daemons of the process table."""

    sendmail_path: str
    binary_exists: bool
    real_path: str | None
    binary: str | None
    config_path: str
    config_exists: bool
    daemons: list[dict] = field(default_factory=list)


def identity(found: Found) -> dict:
    """What the host's MTA is: ``mta`` (sendmail, postfix, exim, opensmtpd or None), ``installed``
    (sendmail's binary and configuration are there), and the evidence, each item naming its source."""
    sendmail_path, binary_exists, real_path = found.sendmail_path, found.binary_exists, found.real_path
    binary, config_path, config_exists, daemons = found.binary, found.config_path, found.config_exists, found.daemons
    evidence = []
    if binary_exists:
        via = f" -> {real_path}" if real_path and real_path != sendmail_path else ""
        evidence.append(f"{sendmail_path}{via} is {name(binary) if binary else 'an unknown program'}'s")
    else:
        evidence.append(f"no {sendmail_path}")
    evidence.append(f"{config_path} {'exists' if config_exists else 'does not exist'}")
    foreign = [d for d in daemons if d.get("mta") not in (None, "sendmail")]
    for d in foreign[:3]:
        evidence.append(f"{name(d['mta'])} daemon pid {d.get('pid')} ({d.get('args')})")
    if binary not in (None, "sendmail"):
        mta = binary
    elif foreign and not any(d.get("mta") == "sendmail" for d in daemons):
        mta = foreign[0]["mta"]
    elif binary == "sendmail" or (binary_exists and config_exists):
        mta = "sendmail"
    else:
        mta = foreign[0]["mta"] if foreign else None
    return {
        "mta": mta,
        "installed": binary == "sendmail" or (binary_exists and binary is None and config_exists),
        "binary": sendmail_path,
        "binary_exists": binary_exists,
        "real_path": real_path,
        "binary_mta": binary,
        "config": config_path,
        "config_exists": config_exists,
        "daemons": daemons,
        "evidence": evidence,
    }
