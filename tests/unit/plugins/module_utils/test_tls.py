"""The tls area (#16 item 7, the sixth check area): STARTTLS and the certificate's days to expiry, decided by
_verdict.tls_check from what the status module's own SMTP probe saw."""

from __future__ import annotations

import json
import sys

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.opsiface.sendmail.plugins.module_utils import _verdict
from ansible_collections.opsiface.sendmail.plugins.modules import sendmail_status
from ansible_collections.opsiface.sendmail.tests.unit.plugins.module_utils.test_smtp import (
    Peer,
    StartTlsPeer,
    make_certificate,
)

SEEN = {"offered": True, "handshake": True, "version": "TLSv1.3", "port": 25}


def cert(days: int | None) -> dict:
    return {
        "certificate": {
            "subject": "commonName=mx01.lab.test",
            "not_after": "Dec 31 00:00:00 2026 GMT",
            "days_to_expiry": days,
        }
    }


@pytest.mark.parametrize(
    "tls,thresholds,status,words",
    [
        ({"offered": False, "port": 25}, _verdict.TlsThresholds(), "ok", "does not offer STARTTLS (not required"),
        ({"offered": False, "port": 25}, _verdict.TlsThresholds(required=True), "critical", "goes in clear"),
        ({"offered": None, "port": 25, "probe_failure": "refused", "probe_detail": "x"}, None, "unknown", "not known"),
        ({"offered": True, "handshake": False, "error": "EOF", "port": 25}, None, "critical", "handshake failed: EOF"),
        (dict(SEEN, certificate={"error": "bad"}), None, "unknown", "cannot be read: bad"),
        (dict(SEEN, certificate=None), None, "unknown", "no certificate was presented"),
        (dict(SEEN, **cert(200)), None, "ok", "in 200 day(s)"),
        (dict(SEEN, **cert(30)), None, "warning", "(warning at 30)"),
        (dict(SEEN, **cert(7)), None, "critical", "(critical at 7)"),
        (dict(SEEN, **cert(-3)), None, "critical", "EXPIRED 3 day(s) ago"),
        (dict(SEEN, **cert(20)), _verdict.TlsThresholds(warn_days=10, crit_days=5), "ok", "in 20 day(s)"),
    ],
    ids=[
        "not-offered",
        "not-offered-required",
        "probe-failed",
        "handshake-failed",
        "certificate-unreadable",
        "no-certificate",
        "far",
        "warn-day",
        "crit-day",
        "expired",
        "own-thresholds",
    ],
)
def test_tls_check_rules(tls, thresholds, status, words):
    got = _verdict.tls_check(tls, thresholds)
    assert got["status"] == status and words in got["reason"], got


def test_what_the_probe_saw_before_ehlo_is_not_known():
    assert (
        _verdict.tls_observation({"ehlo_code": None, "failure": "refused", "detail": "d", "port": 25})["offered"]
        is None
    )
    seen = _verdict.tls_observation({"ehlo_code": 250, "starttls": {"offered": False}, "port": 25})
    assert seen["offered"] is False and seen["probe_failure"] is None


def status(args: dict, capsys) -> dict:
    with patch_module_args(dict(args, config_path="/nonexistent/sendmail.cf")), pytest.raises(SystemExit):
        sendmail_status.main()
    return json.loads(capsys.readouterr().out)


def test_status_tls_area_on_a_debian12_daemon_without_starttls(capsys):
    """The lab's sendmail (Debian 12's EHLO, captured) offers no STARTTLS: said so, never a certificate verdict."""
    peer = Peer()
    r = status({"areas": ["tls"], "smtp_port": peer.port}, capsys)
    assert r["tls"]["offered"] is False and r["checks"]["tls"]["status"] == "ok"
    assert "does not offer STARTTLS" in r["checks"]["tls"]["reason"] and "smtp" not in r and "smtp" not in r["checks"]
    peer = Peer()
    r = status({"areas": ["tls"], "smtp_port": peer.port, "tls_required": True}, capsys)
    assert r["checks"]["tls"]["status"] == "critical" and r["status"] == "critical"


def test_status_tls_area_reads_the_certificate_from_the_same_probe(tmp_path, capsys):
    peer = StartTlsPeer(*make_certificate(tmp_path))  # a certificate valid for 30 days
    r = status({"areas": ["smtp", "tls"], "smtp_port": peer.port}, capsys)
    peer.close()
    assert r["smtp"]["starttls"]["handshake"] and r["checks"]["smtp"]["status"] == "ok"
    assert r["checks"]["tls"]["status"] == "warning" and 28 <= r["checks"]["tls"]["days_to_expiry"] <= 30
    assert r["tls"]["certificate"]["subject"] == "commonName=mx01.lab.test, organizationName=opsiface lab"


def test_a_refused_probe_leaves_tls_unknown(capsys):
    import socket

    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    r = status({"areas": ["tls"], "smtp_port": port}, capsys)
    assert r["checks"]["tls"]["status"] == "unknown" and "refused" in r["checks"]["tls"]["reason"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the report is built on the controller (Python 3.11+)")
def test_the_report_carries_the_tls_area():
    from ansible_collections.opsiface.sendmail.plugins.module_utils import _report

    tls = {"offered": False, "port": 25}
    status = {"checks": {"tls": _verdict.tls_check(tls)}, "tls": tls}
    host = _report.host_result(status)
    assert host["checks"]["tls"]["status"] == "ok" and host["checks"]["tls"]["offered"] is False
    assert "tls: port 25 does not offer STARTTLS" in host["observations"] and host["status"] == "ok"
    seen = dict(SEEN, **cert(3))
    host = _report.host_result({"checks": {"tls": _verdict.tls_check(seen)}, "tls": seen})
    assert host["status"] == "critical" and host["reasons"][0].startswith("tls: TLSv1.3, certificate commonName")
