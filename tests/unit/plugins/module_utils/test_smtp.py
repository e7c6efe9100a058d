"""The SMTP probe against a scripted peer that replays replies captured from the lab's sendmail."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _smtp


def probe(host: str, port: int, send: dict | None = None, **options) -> _smtp.ProbeResult:
    return _smtp.probe(_smtp.ProbeOptions(host, port, **options), send)


# Captured from sendmail 8.17.1.9 on Debian 12 (lab host mx01).
DEBIAN12_BANNER = (
    b"220 mx01.lab.test ESMTP Sendmail 8.17.1.9/8.17.1.9/Debian-2+deb12u2; Fri, 27 Nov 2026 10:47:40 GMT; "
    b"(No UCE/UBE) logging access from: localhost(OK)-localhost [127.0.0.1]\r\n"
)
DEBIAN12_EHLO = (
    b"250-mx01.lab.test Hello localhost [127.0.0.1], pleased to meet you\r\n250-ENHANCEDSTATUSCODES\r\n"
    b"250-PIPELINING\r\n250-EXPN\r\n250-VERB\r\n250-8BITMIME\r\n250-SIZE\r\n250-DSN\r\n250-ETRN\r\n"
    b"250-DELIVERBY\r\n250 HELP\r\n"
)
DEBIAN12_QUIT = b"221 2.0.0 mx01.lab.test closing connection\r\n"
DEBIAN12_ACCEPTED = b"250 2.0.0 6ARB5A4o000106 Message accepted for delivery\r\n"


class Peer:
    """A one-connection SMTP peer on 127.0.0.1 following a script."""

    def __init__(self, banner=DEBIAN12_BANNER, banner_delay=0.0, quit_reply=DEBIAN12_QUIT, reset_after_banner=False):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.banner, self.delay, self.quit_reply, self.reset = banner, banner_delay, quit_reply, reset_after_banner
        self.commands: list[bytes] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _unused = self.sock.accept()
        with conn:
            conn.settimeout(5)
            time.sleep(self.delay)
            try:
                conn.sendall(self.banner)
                if self.reset:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    return
                buf = b""
                in_data = False
                while True:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                    while b"\r\n" in buf:
                        line, buf = buf.split(b"\r\n", 1)
                        if in_data:
                            if line == b".":
                                in_data = False
                                conn.sendall(DEBIAN12_ACCEPTED)
                            continue
                        self.commands.append(line)
                        verb = line.split(b" ")[0].upper()
                        if verb == b"EHLO":
                            conn.sendall(DEBIAN12_EHLO)
                        elif verb == b"QUIT":
                            conn.sendall(self.quit_reply)
                            return
                        elif verb == b"DATA":
                            in_data = True
                            conn.sendall(b'354 Enter mail, end with "." on a line by itself\r\n')
                        else:
                            conn.sendall(b"250 2.1.0 ok\r\n")
            except OSError:
                return

    def close(self):
        self.sock.close()


@pytest.fixture
def peer_factory():
    peers = []

    def make(**kw):
        peers.append(Peer(**kw))
        return peers[-1]

    yield make
    for p in peers:
        p.close()


def test_healthy_debian12_daemon(peer_factory):
    peer = peer_factory()
    r = probe("127.0.0.1", peer.port, expect_hostname="mx01.lab.test", helo="opsiface-probe.test")
    assert r.success and r.failure is None
    assert r.banner_code == 220 and r.hostname == "mx01.lab.test" and r.quit_code == 221
    assert "PIPELINING" in r.esmtp_extensions and r.starttls == {"offered": False}
    assert peer.commands == [b"EHLO opsiface-probe.test", b"QUIT"]
    assert set(r.timings) == {"connect", "banner", "ehlo", "send", "total"}


def test_send_returns_queue_id_and_token(peer_factory):
    peer = peer_factory()
    r = probe("127.0.0.1", peer.port, send={"mail_from": "root@mx01.lab.test", "rcpt_to": "root"})
    assert r.success and r.queue_id == "6ARB5A4o000106" and r.token.startswith("opsiface-")
    assert b"MAIL FROM:<root@mx01.lab.test>" in peer.commands and b"RCPT TO:<root>" in peer.commands


def test_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = probe("127.0.0.1", port)
    assert (r.success, r.failure) == (False, "refused")


def test_banner_timeout_is_bounded(peer_factory):
    peer = peer_factory(banner_delay=3)
    started = time.monotonic()
    r = probe("127.0.0.1", peer.port, banner_timeout=0.5)
    assert r.failure == "timeout_banner" and time.monotonic() - started < 2


@pytest.mark.parametrize("code", [421, 554])
def test_rejecting_greetings(peer_factory, code):
    peer = peer_factory(banner=b"%d 4.3.2 mx01.lab.test Too many connections\r\n" % code)
    r = probe("127.0.0.1", peer.port)
    assert r.failure == "rejecting" and r.banner_code == code


def test_hostname_mismatch(peer_factory):
    peer = peer_factory()
    r = probe("127.0.0.1", peer.port, expect_hostname="mx02.lab.test")
    assert r.failure == "hostname_mismatch" and "mx01.lab.test" in r.detail


def test_quit_not_221(peer_factory):
    peer = peer_factory(quit_reply=b"500 5.5.1 Command unrecognized\r\n")
    r = probe("127.0.0.1", peer.port)
    assert r.failure == "quit_not_221" and r.quit_code == 500


def test_reset_after_banner(peer_factory):
    peer = peer_factory(reset_after_banner=True)
    r = probe("127.0.0.1", peer.port)
    assert r.failure == "protocol_error"


def test_reset_seen_while_connecting_is_a_protocol_error_not_refused(monkeypatch):
    # The race seen live: the peer greets and resets before connect() has returned, so create_connection
    # itself raises ECONNRESET. Something listens there: not "refused".
    def reset(*_args, **_kwargs):
        raise ConnectionResetError(104, "Connection reset by peer")

    monkeypatch.setattr(_smtp, "_connect", reset)
    r = probe("127.0.0.1", 25)
    assert (r.success, r.failure) == (False, "protocol_error") and "reset as soon as it was accepted" in r.detail


class _StalledSocket:
    """A connected socket as the standard library gives it: its timeouts raise socket.timeout, which is
    TimeoutError only from Python 3.10 (a plain OSError on the 3.8 and 3.9 of RHEL 9 and older hosts)."""

    def __init__(self, stall_on):
        self.stall_on, self.replies = stall_on, [DEBIAN12_BANNER]

    def settimeout(self, _timeout):
        pass

    def connect(self, _address):
        if self.stall_on == "connect":
            raise socket.timeout("timed out")

    def recv(self, _size):
        if self.stall_on == "recv" and not self.replies:
            raise socket.timeout("timed out")
        return self.replies.pop(0) if self.replies else b""

    def sendall(self, _data):
        if self.stall_on == "sendall":
            raise socket.timeout("timed out")

    def close(self):
        pass


def test_connect_timeout_is_timeout_connect_on_every_python(monkeypatch):
    # the socket's connect() raises socket.timeout, as the standard library's does on every Python
    monkeypatch.setattr(_smtp.socket, "socket", lambda *_a, **_k: _StalledSocket("connect"))
    r = probe("127.0.0.1", 25, connect_timeout=0.1)
    assert (r.success, r.failure) == (False, "timeout_connect")


@pytest.mark.parametrize("stall_on", ["recv", "sendall"])
def test_command_timeout_is_timeout_command_on_every_python(monkeypatch, stall_on):
    # recv: EHLO gets no reply in time; sendall: the peer stopped reading (full window).
    monkeypatch.setattr(_smtp.socket, "socket", lambda *_a, **_k: _StalledSocket(stall_on))
    r = probe("127.0.0.1", 25)
    assert (r.success, r.failure) == (False, "timeout_command")


def test_garbage_banner(peer_factory):
    peer = peer_factory(banner=b"\xff\xfeHELLO\r\n")
    r = probe("127.0.0.1", peer.port)
    assert r.failure == "protocol_error" and r.banner_code is None


@pytest.mark.parametrize("value", ["a\r\nRCPT TO:<x>", "x>", "<x", "nul\0", ""])
def test_check_value_refuses_smtp_injection(value):
    with pytest.raises(_smtp.SmtpValueError):
        _smtp.check_value("rcpt_to", value)


@pytest.mark.parametrize(
    "lines,code",
    [([b"250-a", b"250 b"], 250), ([b"220 x"], 220), ([b"250-a", b"251 b"], None), ([b"xyz"], None), ([b"25"], None)],
)
def test_parse_reply(lines, code):
    assert _smtp.parse_reply(lines).code == code


def make_certificate(directory) -> tuple:
    """A self-signed certificate for mx01.lab.test, valid for 30 days, and its key (openssl)."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "30",
            "-subj",
            "/CN=mx01.lab.test/O=opsiface lab",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_cert(tmp_path):
    return make_certificate(tmp_path)


class StartTlsPeer:
    """A one-connection SMTP peer on 127.0.0.1 that offers STARTTLS and presents *cert*."""

    def __init__(self, cert, key) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.cert, self.key = cert, key
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        conn, _unused = self.sock.accept()
        conn.sendall(DEBIAN12_BANNER)
        f = conn.makefile("rb")
        f.readline()  # EHLO
        conn.sendall(b"250-mx01.lab.test Hello\r\n250-STARTTLS\r\n250 HELP\r\n")
        f.readline()  # STARTTLS
        conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.cert), str(self.key))
        tls = ctx.wrap_socket(conn, server_side=True)
        for line in tls.makefile("rb"):
            if line.startswith(b"QUIT"):
                tls.sendall(DEBIAN12_QUIT)
                break
        tls.close()

    def close(self):
        self.sock.close()


def test_starttls_handshake_reports_certificate(tls_cert):
    peer = StartTlsPeer(*tls_cert)
    r = probe("127.0.0.1", peer.port, tls=True, expect_hostname="mx01.lab.test")
    peer.close()
    assert r.success, r.detail
    assert r.starttls["offered"] and r.starttls["handshake"] and r.starttls["version"].startswith("TLS")
    c = r.starttls["certificate"]
    assert "commonName=mx01.lab.test" in c["subject"] and 28 <= c["days_to_expiry"] <= 30


def test_certificate_facts_on_garbage():
    assert _smtp.certificate_facts(b"") == {"certificate": None}
    assert "error" in _smtp.certificate_facts(b"\x30\x03\x02\x01\x00")["certificate"]


# #13 item 7: name resolution is bounded by the connect timeout and is its own failure class
def test_a_resolver_that_never_answers_is_dns_within_the_connect_timeout(monkeypatch):
    real = _smtp.socket.getaddrinfo

    def hang(host, *args):
        if args[-1:] == (_smtp.socket.AI_NUMERICHOST,):
            return real(host, *args)  # an address is never looked up
        time.sleep(30)

    monkeypatch.setattr(_smtp.socket, "getaddrinfo", hang)
    started = time.monotonic()
    r = probe("mx.unanswered.example", 25, connect_timeout=0.5)
    assert time.monotonic() - started < 2
    assert (r.success, r.failure) == (False, "dns") and "within 0.5 s" in r.detail


def test_a_name_that_does_not_resolve_is_dns_not_refused(monkeypatch):
    def nxdomain(host, *args):
        raise _smtp.socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(_smtp.socket, "getaddrinfo", nxdomain)
    r = probe("no-such-host.invalid", 25, connect_timeout=1)
    assert r.failure == "dns" and "Name or service not known" in r.detail and "no-such-host.invalid" in r.detail


def test_an_address_still_connects_and_refused_stays_refused():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    free_port = srv.getsockname()[1]
    srv.close()  # nothing listens there now
    r = probe("127.0.0.1", free_port, connect_timeout=2)
    assert r.failure == "refused"
