"""Which MTA a host runs, named before any of its commands runs (captured Postfix and sendmail in the lab;
Exim and OpenSMTPD from their documentation, the ids say so)."""

from __future__ import annotations

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _mta, _verdict

SENDMAIL_BANNER = "220 mx01.lab.test ESMTP Sendmail 8.17.1.9/8.17.1.9/Debian-2+deb12u2; Tue, 1 Dec 2026 15:38:30 GMT"


@pytest.mark.parametrize(
    "real_path,fixture,expected",
    [
        (
            "/usr/libexec/sendmail/sendmail",
            "mta/debian12-8.17.1.9-usr-libexec-sendmail-sendmail-strings.txt",
            "sendmail",
        ),
        ("/usr/sbin/sendmail", "mta/debian12-postfix-3.7.11-usr-sbin-sendmail-strings.txt", "postfix"),
        ("/usr/sbin/exim4", None, "exim"),  # Debian's exim4: /usr/sbin/sendmail -> exim4 (documented)
        ("/usr/sbin/smtpctl", None, "opensmtpd"),  # OpenSMTPD's /usr/sbin/sendmail -> smtpctl (documented)
        ("/usr/sbin/sendmail", None, None),  # an unknown program called sendmail: cannot tell
    ],
    ids=["debian12-8.17.1.9", "debian12-postfix-3.7.11", "exim4-documented", "opensmtpd-documented", "unknown"],
)
def test_binary(real_path, fixture, expected, fixture_bytes):
    data = fixture_bytes(fixture) if fixture else b""
    assert _mta.binary_mta(real_path, data) == expected


def test_daemons_from_captured_process_tables(fixture_bytes):
    postfix = fixture_bytes("mta/debian12-postfix-3.7.11-proc-cmdlines.txt").decode().splitlines()
    found = {line.strip(): _mta.process_mta(line) for line in postfix}
    assert found["/usr/lib/postfix/sbin/master -w"] == "postfix"
    assert {m for m in found.values() if m} == {"postfix"}  # its smtpd children are no OpenSMTPD
    sendmail = fixture_bytes("mta/debian12-8.17.1.9-proc-cmdlines.txt").decode().splitlines()
    assert {_mta.process_mta(line) for line in sendmail} == {None, "sendmail"}


@pytest.mark.parametrize(
    "args,expected",
    [
        ("/usr/sbin/exim4 -bd -q30m", "exim"),  # Debian's exim4 daemon (documented)
        ("/usr/sbin/smtpd", "opensmtpd"),  # OpenSMTPD's parent (documented)
        ("smtpd: pony express", "opensmtpd"),  # and its process titles (documented)
        ("/usr/libexec/postfix/master -w", "postfix"),  # RHEL's path (documented)
        ("sshd: /usr/sbin/sshd [listener] 0 of 10-100 startups", None),
    ],
    ids=["exim4-documented", "opensmtpd-documented", "opensmtpd-title-documented", "rhel-postfix-documented", "sshd"],
)
def test_daemons_documented(args, expected):
    assert _mta.process_mta(args) == expected


@pytest.mark.parametrize(
    "banner,expected",
    [
        (SENDMAIL_BANNER, "sendmail"),
        (None, None),
        ("220 mx.example.org ESMTP Exim 4.96 Wed, 27 Nov 2026 11:00:00 +0000", "exim"),  # default smtp_banner
        ("220 mx.example.org ESMTP OpenSMTPD", "opensmtpd"),  # smtpd.conf default (documented)
        ("220 mx.example.org ESMTP ready", None),  # a site that hides its MTA
    ],
    ids=["debian12-8.17.1.9", "none", "exim4-documented", "opensmtpd-documented", "hidden"],
)
def test_banners(banner, expected):
    assert _mta.banner_mta(banner) == expected


def test_postfix_banner_captured(fixture_bytes):
    assert _mta.banner_mta(fixture_bytes("mta/debian12-postfix-3.7.11-banner.txt").decode()) == "postfix"


def identity(**kw):
    args = {
        "sendmail_path": "/usr/sbin/sendmail",
        "binary_exists": True,
        "real_path": "/usr/libexec/sendmail/sendmail",
        "binary": "sendmail",
        "config_path": "/etc/mail/sendmail.cf",
        "config_exists": True,
        "daemons": [],
    }
    args.update(kw)
    return _mta.identity(_mta.Found(**args))


def test_sendmail_is_ok():
    check = _verdict.mta_check(identity(), SENDMAIL_BANNER)
    assert check["status"] == "ok" and check["mta"] == "sendmail"


def test_not_installed_is_critical_and_says_so():
    ident = identity(binary_exists=False, real_path=None, binary=None, config_exists=False)
    check = _verdict.mta_check(ident)
    assert check == {
        "status": "critical",
        "reason": "sendmail is not installed (no /usr/sbin/sendmail, no /etc/mail/sendmail.cf)",
        "mta": None,
    }


def test_postfix_with_a_left_over_sendmail_cf_is_named(fixture_bytes):
    """The lab's Postfix host: sendmail.cf stays when Postfix replaces sendmail; its wrapper and daemon say Postfix."""
    daemons = [{"mta": "postfix", "pid": 242, "args": "/usr/lib/postfix/sbin/master -w", "processes": 5}]
    ident = identity(real_path="/usr/sbin/sendmail", binary="postfix", daemons=daemons)
    banner = fixture_bytes("mta/debian12-postfix-3.7.11-banner.txt").decode().strip()
    check = _verdict.mta_check(ident, banner)
    assert check["status"] == "critical" and check["mta"] == "postfix"
    assert check["reason"].startswith("the MTA here is Postfix, not sendmail (/usr/sbin/sendmail is Postfix's")
    assert "/usr/lib/postfix/sbin/master -w" in check["reason"] and banner in check["reason"]


def test_an_unknown_binary_behind_another_mtas_banner_is_named_by_the_banner():
    ident = identity(real_path="/usr/sbin/sendmail", binary=None)
    check = _verdict.mta_check(ident, "220 mx.example.org ESMTP Exim 4.96 Wed, 27 Nov 2026 11:00:00 +0000")
    assert check["status"] == "critical" and "the MTA here is Exim" in check["reason"]


def test_exim_daemon_without_sendmail_running():
    daemons = [{"mta": "exim", "pid": 80, "args": "/usr/sbin/exim4 -bd -q30m"}]
    check = _verdict.mta_check(identity(real_path="/usr/sbin/exim4", binary="exim", daemons=daemons))
    assert check["status"] == "critical" and "Exim" in check["reason"] and "/usr/sbin/exim4" in check["reason"]


def test_smtp_self_test_against_another_mtas_banner_is_no_pass(fixture_bytes):
    banner = fixture_bytes("mta/debian12-postfix-3.7.11-banner.txt").decode().strip()
    probe = {"success": True, "port": 25, "banner": banner, "hostname": "hc03.lab.test", "timings": {"banner": 2}}
    check = _verdict.smtp_check(probe)
    assert check["status"] == "critical" and "answers as Postfix, not sendmail" in check["reason"]
    probe["banner"] = SENDMAIL_BANNER
    assert _verdict.smtp_check(probe)["status"] == "ok"
