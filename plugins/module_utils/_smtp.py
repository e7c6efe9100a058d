# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Self-test and Verify/Request: the runbook's ``mconnect localhost`` and ``mailx -v root``.

A probe connects, waits for the banner, says EHLO with a name that tags it
(``opsiface-probe.<host>``), and QUITs, each step with its own timeout, and
classifies what went wrong. Optionally it sends one test message with a
unique token. Every value that goes on the wire is checked for CR, LF, NUL,
``<`` and ``>`` first.

A health check imports this module on every host, every run: what only STARTTLS needs (``ssl``) and what
only sending needs (the mailbox helpers) is imported where it is used.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field

from ._text import clean

MAX_LINE = 4096
MAX_REPLY_LINES = 100
FORBIDDEN = re.compile(r"[\r\n\0<>]")
QUEUE_ID_IN_REPLY = re.compile(r"\b([A-Za-z0-9]{8,20}) Message accepted for delivery")
PROBE_HELO_PREFIX = "opsiface-probe"


class SmtpValueError(ValueError):
    """A value that must not go into an SMTP command; the message names it."""


def check_value(name: str, value: str) -> str:
    if FORBIDDEN.search(value):
        raise SmtpValueError(f"{name} must not contain CR, LF, NUL, '<' or '>': {clean(value, 80)!r}")
    if not value or len(value) > 512:
        raise SmtpValueError(f"{name} must be 1 to 512 characters: {clean(value, 80)!r}")
    return value


@dataclass
class Reply:
    code: int | None
    lines: list[str]

    @property
    def text(self) -> str:
        return " ".join(self.lines)


def parse_reply(lines: list[bytes]) -> Reply:
    """Lines of one SMTP reply ('250-a', '250 b') to a Reply; code None if malformed."""
    code: int | None = None
    texts = []
    for raw in lines:
        line = raw.rstrip(b"\r\n")
        head = line[:3]
        if len(line) < 3 or not head.isdigit() or (len(line) > 3 and line[3:4] not in (b" ", b"-")):
            return Reply(None, [clean(x.rstrip(b"\r\n"), 512) for x in lines])
        if code is None:
            code = int(head)
        elif int(head) != code:
            return Reply(None, [clean(x.rstrip(b"\r\n"), 512) for x in lines])
        texts.append(clean(line[4:], 512))
    return Reply(code, texts)


class _Conn:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def read_reply(self, timeout: float) -> Reply:
        deadline = time.monotonic() + timeout
        lines: list[bytes] = []
        while True:
            while b"\n" not in self.buf:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("reply timed out")
                self.sock.settimeout(remaining)
                try:
                    chunk = self.sock.recv(4096)
                except socket.timeout as exc:  # an alias of TimeoutError only from Python 3.10
                    raise TimeoutError("reply timed out") from exc
                if not chunk:
                    raise ConnectionError("connection closed by server")
                self.buf += chunk
                if len(self.buf) > MAX_LINE and b"\n" not in self.buf:
                    raise ValueError("reply line too long")
            line, _sep, self.buf = self.buf.partition(b"\n")
            lines.append(line)
            if len(lines) > MAX_REPLY_LINES:
                raise ValueError("too many reply lines")
            if len(line) < 4 or line[3:4] != b"-":
                return parse_reply(lines)

    def send(self, command: str, timeout: float) -> None:
        self.write(command.encode("ascii", "strict") + b"\r\n", timeout)

    def write(self, data: bytes, timeout: float) -> None:
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(data)
        except socket.timeout as exc:  # not a TimeoutError before Python 3.10
            raise TimeoutError("sending timed out") from exc


@dataclass
class ProbeResult:
    success: bool = False
    failure: str | None = None
    detail: str | None = None
    host: str = ""
    port: int = 25
    banner: str | None = None
    banner_code: int | None = None
    hostname: str | None = None
    expected_hostname: str | None = None
    helo: str | None = None
    ehlo_code: int | None = None
    esmtp_extensions: list[str] = field(default_factory=list)
    starttls: dict = field(default_factory=lambda: {"offered": False})
    quit_code: int | None = None
    queue_id: str | None = None
    token: str | None = None
    send_code: int | None = None
    timings: dict[str, float | None] = field(
        default_factory=lambda: {"connect": None, "banner": None, "ehlo": None, "send": None, "total": None}
    )

    def to_dict(self) -> dict:
        return asdict(self)


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 1)


@dataclass(frozen=True)
class ProbeOptions:
    """Where one probe connects and how long each step may take; *tls*: say STARTTLS when it is offered."""

    host: str = "127.0.0.1"
    port: int = 25
    connect_timeout: float = 5.0
    banner_timeout: float = 10.0
    command_timeout: float = 10.0
    expect_hostname: str | None = None
    helo: str | None = None
    tls: bool = False


def probe(options: ProbeOptions, send: dict | None = None) -> ProbeResult:
    """Run one SMTP probe; never raises for network trouble (it is the *result*).

    *send* (optional): {"mail_from", "rcpt_to", "subject", "token"} to send one message.
    """
    o = options
    result = ProbeResult(host=o.host, port=o.port, expected_hostname=o.expect_hostname)
    result.helo = check_value("helo", o.helo or f"{PROBE_HELO_PREFIX}.{socket.gethostname() or 'localhost'}")
    started = time.monotonic()
    sock = None
    try:
        opened = _open(o, result, started)
        if isinstance(opened, ProbeResult):
            return opened  # the failure to connect
        sock = opened
        return _session(_Conn(sock), o, send, result, started)
    except TimeoutError:
        return _fail(result, "timeout_command", "a command got no reply in time", started)
    except (ConnectionError, OSError) as exc:
        return _fail(result, "protocol_error", f"connection lost: {clean(str(exc), 200)}", started)
    except ValueError as exc:
        return _fail(result, "protocol_error", clean(str(exc), 200), started)
    finally:
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


def _open(o: ProbeOptions, result: ProbeResult, started: float) -> socket.socket | ProbeResult:
    """The connected socket, or the failed result (dns, refused, timeout_connect, protocol_error)."""
    host, port = o.host, o.port
    step = time.monotonic()
    try:
        addresses = resolve(host, port, o.connect_timeout)
    except DnsError as exc:
        return _fail(result, "dns", str(exc), started)
    try:
        sock = _connect(addresses, step + o.connect_timeout)
    except ConnectionRefusedError:
        return _fail(result, "refused", f"connection to {host}:{port} refused", started)
    except (socket.timeout, TimeoutError):  # _connect's deadline; socket.timeout is TimeoutError only from 3.10
        return _fail(result, "timeout_connect", f"no connection to {host}:{port} within {o.connect_timeout} s", started)
    except ConnectionResetError:
        # Something accepted the connection and reset it before connect() returned (a peer that resets right
        # after its greeting can win that race): a listener is there, so it is the same failure as a reset
        # one step later, not "refused".
        return _fail(result, "protocol_error", f"connection to {host}:{port} reset as soon as it was accepted", started)
    except OSError as exc:
        return _fail(result, "refused", f"cannot connect to {host}:{port}: {exc.strerror or exc}", started)
    result.timings["connect"] = _ms(step)
    return sock


def _session(conn: _Conn, o: ProbeOptions, send: dict | None, result: ProbeResult, started: float) -> ProbeResult:
    """Banner, EHLO, (STARTTLS), (the test message), QUIT on a connected socket."""
    step = time.monotonic()
    try:
        banner = conn.read_reply(o.banner_timeout)
    except TimeoutError:
        return _fail(result, "timeout_banner", f"no banner within {o.banner_timeout} s", started)
    result.timings["banner"] = _ms(step)
    result.banner = banner.text[:512] if banner.code is None else f"{banner.code} {banner.text}"[:512]
    result.banner_code = banner.code
    if banner.code in (421, 554):
        return _fail(result, "rejecting", f"greeting {banner.code}: {banner.text[:200]}", started)
    if banner.code != 220:
        return _fail(result, "protocol_error", f"unexpected greeting: {result.banner}", started)
    words = banner.lines[0].split() if banner.lines else []
    result.hostname = words[0] if words else None
    expected = o.expect_hostname
    if expected and (result.hostname or "").lower().rstrip(".") != expected.lower().rstrip("."):
        _quit(conn, o.command_timeout, result)
        return _fail(result, "hostname_mismatch", f"banner names {result.hostname!r}, expected {expected!r}", started)
    step = time.monotonic()
    conn.send(f"EHLO {result.helo}", o.command_timeout)
    ehlo = conn.read_reply(o.command_timeout)
    result.timings["ehlo"] = _ms(step)
    result.ehlo_code = ehlo.code
    if ehlo.code != 250:
        _quit(conn, o.command_timeout, result)
        return _fail(result, "protocol_error", f"EHLO answered {ehlo.code}: {ehlo.text[:200]}", started)
    result.esmtp_extensions = [line.split()[0].upper() for line in ehlo.lines[1:] if line.split()]
    result.starttls["offered"] = "STARTTLS" in result.esmtp_extensions
    if o.tls and result.starttls["offered"]:
        conn = _starttls(conn, o.host, result, o.command_timeout)
        if conn is None:
            return _fail(result, "protocol_error", f"STARTTLS failed: {result.starttls.get('error')}", started)
    if send and not _send(conn, send, result, o.command_timeout):
        _quit(conn, o.command_timeout, result)
        # a reply refused the message (4xx/5xx): mail is not accepted, unlike a slow delivery later
        return _fail(result, "not_accepted", result.detail or "sending the test message failed", started)
    _quit(conn, o.command_timeout, result)
    if result.quit_code != 221:
        return _fail(result, "quit_not_221", f"QUIT answered {result.quit_code}", started)
    result.success = True
    result.timings["total"] = _ms(started)
    return result


_SOCKET_TIMEOUT = getattr(socket, "timeout", TimeoutError)


class DnsError(Exception):
    """The name did not resolve, or the resolver did not answer in time; the message names the host."""


def resolve(host: str, port: int, timeout: float, getaddrinfo=None) -> list[tuple]:
    """Addresses of *host* for a TCP connection, the name lookup bounded by *timeout* seconds.

    getaddrinfo has no timeout of its own (a resolver that never answers held a probe with
    connect_timeout=1 for 20 s), so a name, unlike an address, is looked up in a daemon thread
    that is abandoned when the time is up."""
    getaddrinfo = getaddrinfo or socket.getaddrinfo
    try:
        return getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        pass  # not an address: a name to look up
    answer: dict = {}

    def lookup() -> None:
        try:
            answer["addresses"] = getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except (OSError, UnicodeError, ValueError) as exc:
            answer["error"] = exc

    worker = threading.Thread(target=lookup, name="opsiface-resolve", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise DnsError(f"no answer resolving {clean(host, 253)!r} within {timeout:g} s")
    if "error" in answer:
        exc = answer["error"]
        why = getattr(exc, "strerror", None) or clean(str(exc), 200)
        raise DnsError(f"cannot resolve {clean(host, 253)!r}: {why}")
    if not answer.get("addresses"):
        raise DnsError(f"{clean(host, 253)!r} resolves to no address")
    return answer["addresses"]


def _connect(addresses: list[tuple], deadline: float) -> socket.socket:
    """Connect to the first address that answers before *deadline* (what create_connection does, with
    one deadline for all of them); the last address's error is raised when none does."""
    error: OSError | None = None
    for family, kind, proto, _name, address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("connect timed out")
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            # socket.timeout is an alias of TimeoutError only from Python 3.10
            error = TimeoutError(str(exc) or "connect timed out") if isinstance(exc, _SOCKET_TIMEOUT) else exc
    raise error if error is not None else OSError("no address to connect to")


def _fail(result: ProbeResult, failure: str, detail: str, started: float) -> ProbeResult:
    result.success = False
    result.failure = failure
    result.detail = detail
    result.timings["total"] = _ms(started)
    return result


def _quit(conn: _Conn, timeout: float, result: ProbeResult) -> None:
    try:
        conn.send("QUIT", timeout)
        result.quit_code = conn.read_reply(timeout).code
    except (OSError, TimeoutError, ValueError):
        result.quit_code = None


def _starttls(conn: _Conn, host: str, result: ProbeResult, timeout: float) -> _Conn | None:
    conn.send("STARTTLS", timeout)
    reply = conn.read_reply(timeout)
    if reply.code != 220:
        result.starttls["error"] = f"STARTTLS answered {reply.code}"
        return None
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        tls_sock = context.wrap_socket(conn.sock, server_hostname=host)
    except (ssl.SSLError, OSError) as exc:
        result.starttls["error"] = clean(str(exc), 200)
        return None
    result.starttls.update(
        {"handshake": True, "version": tls_sock.version(), "cipher": (tls_sock.cipher() or [None])[0]}
    )
    result.starttls.update(certificate_facts(tls_sock.getpeercert(binary_form=True)))
    return _Conn(tls_sock)


def certificate_facts(der: bytes | None, now: float | None = None) -> dict:
    """Subject, issuer, notAfter and days to expiry of a DER certificate (the server's, unverified).

    The standard library decodes certificates only from a file (ssl._ssl._test_decode_cert),
    so the DER is written to a private temporary file for the moment it takes.
    """
    if not der:
        return {"certificate": None}
    import ssl

    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is None:
        return {"certificate": {"error": "this Python cannot decode certificates"}}
    fd, path = tempfile.mkstemp(prefix="opsiface-cert-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(ssl.DER_cert_to_PEM_cert(der))
        info = decode(path)
    except (ssl.SSLError, OSError, ValueError) as exc:
        return {"certificate": {"error": clean(str(exc), 200)}}
    finally:
        os.unlink(path)

    def name(rdns) -> str:
        return ", ".join(f"{k}={v}" for rdn in rdns or () for k, v in rdn)

    not_after = info.get("notAfter")
    expires = ssl.cert_time_to_seconds(not_after) if not_after else None
    current = time.time() if now is None else now
    return {
        "certificate": {
            "subject": clean(name(info.get("subject")), 512),
            "issuer": clean(name(info.get("issuer")), 512),
            "not_after": not_after,
            "days_to_expiry": int((expires - current) // 86400) if expires is not None else None,
        }
    }


def _send(conn: _Conn, send: dict, result: ProbeResult, timeout: float) -> bool:
    from ._mailbox import body_of, new_token

    mail_from = check_value("mail_from", send["mail_from"])
    rcpt_to = check_value("rcpt_to", send["rcpt_to"])
    subject = check_value("subject", send.get("subject") or "opsiface.sendmail test")
    token = send.get("token") or new_token(time.time() + 3600)
    result.token = token
    step = time.monotonic()
    for command, expect in ((f"MAIL FROM:<{mail_from}>", 250), (f"RCPT TO:<{rcpt_to}>", (250, 251)), ("DATA", 354)):
        conn.send(command, timeout)
        reply = conn.read_reply(timeout)
        if reply.code not in ((expect,) if isinstance(expect, int) else expect):
            result.send_code = reply.code
            result.detail = f"{command.split(':', maxsplit=1)[0]} answered {reply.code}: {reply.text[:200]}"
            return False
    body = (
        f"From: <{mail_from}>\r\nTo: <{rcpt_to}>\r\nSubject: {subject} {token}\r\n"
        f"X-Opsiface-Token: {token}\r\n\r\n{body_of(token)}.\r\n"
    )
    conn.write(body.encode("ascii"), timeout)
    reply = conn.read_reply(timeout)
    result.send_code = reply.code
    result.timings["send"] = _ms(step)
    if reply.code != 250:
        result.detail = f"end of DATA answered {reply.code}: {reply.text[:200]}"
        return False
    match = QUEUE_ID_IN_REPLY.search(reply.text)
    result.queue_id = match.group(1) if match else None
    return True
