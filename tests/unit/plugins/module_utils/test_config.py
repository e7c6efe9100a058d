from __future__ import annotations

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _config

DEBIAN_CF_EXCERPT = b"""O DaemonPortOptions=Family=inet,  Name=MTA-v4, Port=smtp
O DaemonPortOptions=Family=inet,  Name=MSP-v4, Port=submission, M=Ea, Addr=127.0.0.1
O QueueDirectory=/var/spool/mqueue
O PidFile=/var/run/sendmail/mta/sendmail.pid
Qmqueue, P=/var/spool/mqueue, F=f, I=1m
"""


def test_debian12_cf_options_and_ports():
    cf = _config.parse_cf(DEBIAN_CF_EXCERPT)
    assert cf.get("QueueDirectory") == "/var/spool/mqueue"
    assert cf.get("PidFile") == "/var/run/sendmail/mta/sendmail.pid"
    assert _config.mta_ports(cf) == [25]
    ports = _config.daemon_ports(cf)
    assert [p["port"] for p in ports] == [25, 587]
    assert cf.queue_groups == [{"name": "mqueue", "P": "/var/spool/mqueue", "F": "f", "I": "1m"}]


def test_solaris_88_short_options():
    cf = _config.parse_cf(b"OQ/var/spool/mqueue\nOL9\nOOPort=2525\n")
    assert cf.get("QueueDirectory") == "/var/spool/mqueue"
    assert _config.mta_ports(cf) == [2525]


def test_no_daemon_port_options_means_25_and_garbage_is_ignored():
    cf = _config.parse_cf(b"\xff\xfe garbage\nO\nO NoEquals\n")
    assert _config.mta_ports(cf) == [25]
    assert cf.get("QueueDirectory") is None


def test_debian12_d01_identity(fixture_bytes):
    ident = _config.parse_d01(fixture_bytes("debian12-8.17.1.9-d0.1-bt.txt"))
    assert ident.version == "8.17.1.9"
    assert ident.hostname == "mx01.lab.test"
    assert ident.macros["w"] == "mx01" and ident.macros["m"] == "lab.test"
    assert "STARTTLS" in ident.compile_options and "XDEBUG" in ident.compile_options
    assert ident.errors == []


def test_d01_with_complaints_on_stderr():
    ident = _config.parse_d01(b"Version 8.8.8\n", b'/etc/mail/sendmail.cf: line 93: unknown configuration line "x"\n')
    assert ident.version == "8.8.8" and len(ident.errors) == 1


def test_debian12_bc_broken(fixture_bytes):
    verdict = _config.parse_check(70, fixture_bytes("debian12-8.17.1.9-bC-broken.stdout.txt"), b"")
    assert verdict["ok"] is False and verdict["rc"] == 70
    assert verdict["errors"][0]["line"] == 1944
    assert "unknown configuration line" in verdict["errors"][0]["message"]


@pytest.mark.parametrize(
    "rc,stderr,ok",
    [
        (0, b"", True),
        (78, b"can not chdir(/var/spool/nonexist/): No such file or directory\n", False),
        (72, b"/nonexistent.cf: line 0: cannot open: No such file or directory\n", False),
        (0, b"\x81\x82", True),
    ],
    ids=["debian12-ok", "debian12-missing-queue-rc78", "debian12-missing-cf-rc72", "binary-noise"],
)
def test_parse_check(rc, stderr, ok):
    assert _config.parse_check(rc, b"", stderr)["ok"] is ok
