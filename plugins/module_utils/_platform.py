# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where things are on each platform family, when neither the options nor the cf say."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Layout:
    family: str
    sendmail: str
    config: str
    submit_config: str
    pidfile: str
    logs: list[str] = field(default_factory=list)
    mailbox_dir: str = "/var/mail"
    service_stop: list[str] = field(default_factory=list)
    service_start: list[str] = field(default_factory=list)


LAYOUTS = {
    "Debian": Layout(
        family="Debian",
        sendmail="/usr/sbin/sendmail",
        config="/etc/mail/sendmail.cf",
        submit_config="/etc/mail/submit.cf",
        pidfile="/var/run/sendmail/mta/sendmail.pid",
        logs=["/var/log/mail.log", "/var/log/maillog", "/var/log/syslog"],
        mailbox_dir="/var/mail",
        service_stop=["/etc/init.d/sendmail", "stop"],
        service_start=["/etc/init.d/sendmail", "start"],
    ),
    "RedHat": Layout(
        family="RedHat",
        sendmail="/usr/sbin/sendmail",
        config="/etc/mail/sendmail.cf",
        submit_config="/etc/mail/submit.cf",
        pidfile="/var/run/sendmail.pid",
        logs=["/var/log/maillog", "/var/log/mail.log"],
        mailbox_dir="/var/spool/mail",
        service_stop=["systemctl", "stop", "sendmail"],
        service_start=["systemctl", "start", "sendmail"],
    ),
    "Solaris": Layout(
        family="Solaris",
        sendmail="/usr/lib/sendmail",
        config="/etc/mail/sendmail.cf",
        submit_config="/etc/mail/submit.cf",
        pidfile="/var/run/sendmail.pid",
        logs=["/var/log/syslog", "/var/adm/messages"],
        mailbox_dir="/var/mail",
        service_stop=["/usr/sbin/svcadm", "disable", "-st", "network/smtp:sendmail"],
        service_start=["/usr/sbin/svcadm", "enable", "-st", "network/smtp:sendmail"],
    ),
}


def parse_os_release(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip().strip('"')
    return out


def family_from(system: str, os_release: dict[str, str]) -> str:
    if system == "SunOS":
        return "Solaris"
    ids = (os_release.get("ID", "") + " " + os_release.get("ID_LIKE", "")).lower().split()
    if any(i in ("rhel", "fedora", "centos", "rocky", "almalinux", "ol", "amzn") for i in ids):
        return "RedHat"
    return "Debian"


def detect(root: str = "/") -> Layout:
    try:
        with open(os.path.join(root, "etc/os-release"), encoding="utf-8", errors="replace") as fh:
            release = parse_os_release(fh.read())
    except OSError:
        release = {}
    return LAYOUTS[family_from(platform.system(), release)]
