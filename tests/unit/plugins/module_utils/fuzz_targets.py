"""Every parser of the collection as a fuzz target: a function of bytes, the exceptions it documents,
and the captures it is seeded with. Shared by test_properties.py (hypothesis) and bench/fuzz.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path

from ansible_collections.opsiface.sendmail.plugins.module_utils import (
    _config,
    _crash,
    _mailq,
    _process,
    _qf,
    _queue,
    _smtp,
    _syslog,
    _trace,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

# Byte strings the mutators insert: encodings, controls, separators and the tokens the parsers look for.
# bench/fuzz.py draws from this list in this order: changing it changes what a given seed reproduces.
NASTY = [
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\r",
    b"\n",
    b"\r\n",
    b"\t",
    b"(",
    b")",
    b":",
    b"=",
    b"<",
    b">",
    b"\x1b[31m",
    b"\xed\xa0\x80",
    b"9" * 30,
    b"-" * 5,
    b"A" * 10_000,
    b"qf",
    b"T",
    b"R<",
    b"M",
    b"stat=Sent",
    b"...",
    b"#0 ",
]
NOW = 1795786600.0


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], object]
    seeds: tuple[str, ...]
    documented: tuple[type[BaseException], ...] = ()


def _lines(data: bytes) -> object:
    return [_syslog.parse_line(raw, NOW, 3600) for raw in data.splitlines() or [data]]


def _reply(data: bytes) -> object:
    return _smtp.parse_reply(data.split(b"\n"))


def _proc_stat(data: bytes) -> object:
    return _process.parse_proc_stat(data)


TARGETS = [
    Target(
        "qf",
        lambda d: _queue.parse_qf(d, "6ARAuis8000145"),
        (
            "queue/debian12-8.17.1.9-qf-deferred-relay.bin",
            "queue/debian12-8.17.1.9-hf-quarantined.bin",
            "queue/solaris-8.8-qf-deferred-written-from-8.8-queue.c",
        ),
    ),
    Target(
        "qf_summary",
        _qf.summary_facts,
        (
            "queue/debian12-8.17.1.9-qf-deferred-relay.bin",
            "queue/debian12-8.17.1.9-qf-msp-refused.bin",
            "queue/solaris-8.8-qf-deferred-written-from-8.8-queue.c",
        ),
    ),
    Target(
        "mailq",
        _mailq.parse_mailq,
        (
            "debian12-8.17.1.9-mailq-quarantine.txt",
            "debian12-8.17.1.9-mailq-msp-mta-quarantine.txt",
            "solaris-8.8-mailq-deferred.txt",
        ),
    ),
    Target(
        "ps_ef",
        lambda d: _process.parse_ps_ef(d.decode("utf-8", "backslashreplace")),
        ("debian12-procps-ps-ef.txt", "solaris-8.8-ps-ef.txt"),
    ),
    Target(
        "ps_o", lambda d: _process.parse_ps_o(d.decode("utf-8", "backslashreplace")), ("debian12-procps-ps-eo.txt",)
    ),
    Target("proc_stat", _proc_stat, ("debian12-proc-status-sendmail-mta-setgid.txt",), (ValueError,)),
    Target("pidfile", _process.parse_pidfile, ("debian12-8.17.1.9-d0.1-bt.txt",)),
    Target(
        "syslog",
        _lines,
        (
            "debian12-8.17.1.9-mail.log",
            "rhel9-8.16-maillog.txt",
            "solaris-8.8-var-adm-messages.txt",
            "debian12-8.17.1.9-mail.log-sent-bounced",
        ),
    ),
    Target("smtp_reply", _reply, ("debian12-8.17.1.9-bv.txt",)),
    Target("cf", _config.parse_cf, ("debian12-8.17.1.9-d0.1-bt.txt",)),
    Target("d01", _config.parse_d01, ("debian12-8.17.1.9-d0.1-bt.txt",)),
    Target("bC", lambda d: _config.parse_check(70, d, d), ("debian12-8.17.1.9-bC-broken.stdout.txt",)),
    Target("bv", lambda d: _trace.parse_bv("root", 0, d), ("debian12-8.17.1.9-bv.txt",)),
    Target(
        "strace",
        lambda d: _trace.summarize_syscalls(d.decode("utf-8", "replace")),
        ("debian12-strace6-listener-smtp-session.txt", "solaris10-truss-f-d-listener-written-from-truss.1.txt"),
    ),
    Target(
        "proc_status",
        lambda d: _crash.parse_status(d.decode("utf-8", "replace")),
        ("debian12-proc-status-sendmail-mta-setgid.txt",),
    ),
    Target(
        "backtrace",
        lambda d: _crash.backtrace_summary(d.decode("utf-8", "replace")),
        ("debian12-gdb13-backtrace-sendmail-listener.txt",),
    ),
]


def seeds(target: Target) -> list[bytes]:
    return [(FIXTURES / name).read_bytes() for name in target.seeds]


def plain(value: object) -> object:
    """The parser's result as JSON material (dataclasses, tuples, lists, dicts)."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def check(target: Target, data: bytes) -> None:
    """Run one input; raise AssertionError if the result is not valid UTF-8 JSON material.
    A documented exception is fine; anything else propagates."""
    try:
        result = target.run(data)
    except target.documented:
        return
    json.dumps(plain(result), ensure_ascii=False, default=str).encode("utf-8")  # surrogates would raise here
