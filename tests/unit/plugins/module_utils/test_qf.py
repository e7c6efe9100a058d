from __future__ import annotations

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _qf as _queue
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def test_debian12_deferred_relay_qf(fixture_bytes):
    qf = _queue.parse_qf(fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin"), "6ARAuis9000145")
    assert qf.complete and qf.problems == []
    assert qf.version == 8 and qf.attempts == 1
    assert qf.created == 1795759003
    assert qf.reason == "Deferred: Connection refused by [127.0.0.2]"
    assert qf.sender == "<lab-backlog@mx02.lab.test>"
    assert qf.recipients == ["<user1@b.example>"]


def test_debian12_quarantined_hf(fixture_bytes):
    qf = _queue.parse_qf(fixture_bytes("queue/debian12-8.17.1.9-hf-quarantined.bin"), "6ARAuis8000145", "hf")
    assert qf.quarantine == "lab hold" and qf.complete


def test_debian12_msp_qf_has_binary_macro_bytes(fixture_bytes):
    data = fixture_bytes("queue/debian12-8.17.1.9-qf-msp-refused.bin")
    assert b"\x81" in data  # sendmail's own macro byte in H?P?Return-Path: <\201g>
    qf = _queue.parse_qf(data, "6ARAujTs000163")
    assert qf.recipients == ["root"] and qf.sender == "root" and qf.complete


def test_solaris_88_qf(fixture_bytes):
    qf = _queue.parse_qf(fixture_bytes("queue/solaris-8.8-qf-deferred-written-from-8.8-queue.c"), "HAA23118")
    assert qf.complete and qf.attempts == 3 and qf.recipients == ["friend@remote.example"]
    assert qf.reason.startswith("Deferred: Connection timed out")


@pytest.mark.parametrize(
    "mutate,problem",
    [
        (lambda d: b"", "zero-length"),
        (lambda d: d[: len(d) // 2], "truncated (no terminating '.' line)"),
        (lambda d: d.replace(b"\nT1795759003", b"\nTgarbage"), "no creation time (T line)"),
    ],
    ids=["zero-length", "truncated", "bad-T-line"],
)
def test_damaged_qf_is_described_not_raised(fixture_bytes, mutate, problem):
    qf = _queue.parse_qf(mutate(fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin")))
    assert problem in qf.problems


def test_hostile_values_are_escaped(fixture_bytes):
    data = fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin")
    data = data.replace(b"MDeferred: Connection refused by [127.0.0.2]", b"MDeferred: \xff\x00\x1b[31m" + b"A" * 10000)
    data = data.replace(b"RPFD:<user1@b.example>", b"RPFD:<evil\r\n@b.example>\r")
    qf = _queue.parse_qf(data)
    assert "\\xff\\x00\\x1b[31m" in qf.reason and "more]" in qf.reason
    assert qf.recipients == ["<evil\\r"]  # the line ends at LF; the CR stays visible
    for value in [qf.reason, *qf.recipients]:
        value.encode("utf-8")


@pytest.mark.parametrize(
    "addr,domain",
    [("<user@Example.COM>", "example.com"), ("root", "(local)"), ("<a@b.example.>", "b.example"), ("@", "(local)")],
)
def test_recipient_domain(addr, domain):
    assert _queue.recipient_domain(addr) == domain


@pytest.mark.parametrize("value", ["../etc/passwd", "-qfoo", "6ARA/x", "short", "a" * 21, "6ARA aaaa0001"])
def test_decode_queue_id_refuses_unsafe_ids(value):
    with pytest.raises(_queue.QueueError):
        _queue.decode_queue_id(value)


def test_decode_queue_id_refuses_a_trailing_newline():
    with pytest.raises(_queue.QueueError):
        _queue.decode_queue_id("6ARAaaaa000001\n")


def reference_facts(data: bytes) -> tuple:
    """What the summary took from parse_qf before summary_facts existed."""
    qf = _queue.parse_qf(data)
    domains = tuple(_queue.recipient_domain(r) for r in qf.recipients) or ("(none)",)
    return qf.created, qf.attempts, _queue.reason_class(qf.reason), domains, qf.complete


LINE_BYTES = st.sampled_from(
    [b"T", b"N", b"M", b"R", b"RPFD:", b".", b"@", b"<", b">", b":", b" ", b"\t", b"\n", b"\r"]
)
ADDR_BYTES = st.binary(max_size=6) | st.sampled_from(
    [b"\xc3", b"\x81", b"\x00", b"\x1c", b"\xe2\x80\xaf", b"A" * 130, b"\x00" * 129, b"B" * 600]
)


@settings(max_examples=3000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.one_of(LINE_BYTES, ADDR_BYTES, st.sampled_from([b"1795759003", b"-3", b" 7 ", b"x", b"[10.0.0.1]"])))
)
def test_summary_facts_equals_parse_qf_on_any_bytes(pieces):
    data = b"".join(pieces)
    assert _queue.summary_facts(data) == reference_facts(data)


def test_summary_facts_equals_parse_qf_on_captures_and_cuts(fixture_bytes):
    for name in (
        "queue/debian12-8.17.1.9-qf-deferred-relay.bin",
        "queue/debian12-8.17.1.9-qf-msp-refused.bin",
        "queue/debian12-8.17.1.9-hf-quarantined.bin",
        "queue/solaris-8.8-qf-deferred-written-from-8.8-queue.c",
    ):
        data = fixture_bytes(name)
        for cut in range(len(data) + 1):
            assert _queue.summary_facts(data[:cut]) == reference_facts(data[:cut]), (name, cut)
    data = fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin")
    assert _queue.summary_facts(data) == (1795759003, 1, "Deferred: Connection refused by [ADDR]", ("b.example",), True)


@pytest.mark.parametrize(
    "line",
    [b"RPFD:<" + b"\x00" * 129 + b"@cut.example>", b"R<" + b"x" * 600 + b"@cut.example>", b"R<a@\xc3@B.Example.>\r"],
    ids=["escapes-past-the-cut", "long-past-the-cut", "invalid-utf8-and-cr"],
)
def test_summary_facts_long_and_escaped_recipients(line):
    data = b"V8\nT1\n" + line + b"\n.\n"
    assert _queue.summary_facts(data) == reference_facts(data)


ODD_LINES = (
    st.sampled_from(
        [b"T", b"T-3", b"T 7", b"N", b"Nx", b"M", b"R", b"RPFD:", b"RPFD:root", b"R@@:<x>", b"R<a@b@C.x.>\r"]
    )
    | st.sampled_from([b".", b"..", b"\x00", b"", b" cont", b"rRFC822; u@x.example", b"T1795759003", b"M[10.0.0.1]"])
    | st.binary(max_size=12)
    | ADDR_BYTES.map(lambda a: b"RPFD:<" + a + b"@" + a + b">")
)


@st.composite
def qf_files(draw) -> bytes:
    """Control files in sendmail's order (T, K, N, P, M?, F, S, recipients, headers, '.'), then mutated."""
    lines = [b"V8", b"T%d" % draw(st.integers(0, 2**40)), b"K0", b"N%d" % draw(st.integers(0, 99)), b"P30098"]
    lines += [b"M" + draw(st.sampled_from([b"Deferred: refused by [127.0.0.2]", b"", b"\xff\x00x"]))] * draw(
        st.integers(0, 1)
    )
    lines += [b"Fbs", b"$_localhost", b"S<a@b.example>"]
    for rcpt in draw(
        st.lists(
            st.sampled_from([b"PFD:<u@d.example>", b"PFD:<v@E.Example.>", b"PFD:root", b"<w@f>", b"PFD:<a@b@C.x.>"]),
            max_size=3,
        )
    ):
        lines += [b"rRFC822; x", b"R" + rcpt]
    lines += [b"H??To: x", b"\tcontinued", b"."]
    for _step in range(draw(st.integers(0, 3))):
        pos = draw(st.integers(0, len(lines)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        if op == "insert":
            lines.insert(pos, draw(ODD_LINES))
        elif lines and pos < len(lines):
            lines[pos : pos + 1] = [] if op == "delete" else [draw(ODD_LINES)]
    return b"\n".join(lines) + draw(st.sampled_from([b"\n", b"", b"\n\n", b"\ntrailing"]))


@settings(max_examples=1500, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.lists(qf_files() | st.lists(LINE_BYTES | ADDR_BYTES, max_size=24).map(b"".join), max_size=6))
def test_parse_many_equals_summary_facts_on_any_bytes(datas):
    """The two-regex pass over many files at once gives what summary_facts gives for each file, whatever the
    bytes (separators, NULs, lines out of sendmail's order, long and odd recipients)."""
    facts = [_queue.summary_facts(d) for d in datas]
    assert _queue.parse_many(datas) == (tuple(list(c) for c in zip(*facts)) if datas else ([], [], [], [], []))


def test_parse_many_on_captures_cut_and_together(fixture_bytes):
    names = (
        "queue/debian12-8.17.1.9-qf-deferred-relay.bin",
        "queue/debian12-8.17.1.9-qf-msp-refused.bin",
        "queue/debian12-8.17.1.9-hf-quarantined.bin",
        "queue/solaris-8.8-qf-deferred-written-from-8.8-queue.c",
    )
    datas = [fixture_bytes(name) for name in names]
    datas += [d[:cut] for d in datas for cut in range(0, len(d), 7)]
    datas.append(
        datas[0].replace(b"RPFD:<user1@b.example>", b"RPFD:<user1@b.example>\nrRFC822; x@c.example\nRPFD:<x@C.Example>")
    )
    facts = [_queue.summary_facts(d) for d in datas]
    assert _queue.parse_many(datas) == tuple(list(c) for c in zip(*facts))
    assert _queue.parse_many(datas[-1:])[3] == [("b.example", "c.example")]
