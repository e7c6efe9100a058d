from __future__ import annotations

from ansible_collections.opsiface.sendmail.plugins.module_utils._mailq import parse_mailq


def test_debian12_empty(fixture_bytes):
    m = parse_mailq(fixture_bytes("debian12-8.17.1.9-mailq-empty.txt"))
    assert [(s.label, s.queue_dir, s.count) for s in m.sections] == [
        ("MSP", "/var/spool/mqueue-client", 0),
        ("MTA", "/var/spool/mqueue", 0),
    ]
    assert m.unparsed == []


def test_debian12_msp_and_mta_deferred(fixture_bytes):
    m = parse_mailq(fixture_bytes("debian12-8.17.1.9-mailq-msp-mta-quarantine.txt"))
    msp, mta = m.sections
    assert (msp.label, msp.count, len(msp.entries)) == ("MSP", 2, 2)
    assert msp.entries[0].reason == "Deferred: Connection refused by [127.0.0.1]"
    assert msp.entries[0].recipients == ["root"]
    assert (mta.label, mta.count, len(mta.entries)) == ("MTA", 3, 3)
    assert mta.entries[0].queue_id == "6ARAuis9000145"
    assert mta.entries[0].sender == "<lab-backlog@mx02.lab.test>"
    assert mta.entries[0].recipients == ["<user1@b.example>"]
    assert m.unparsed == []


def test_debian12_quarantine_listing(fixture_bytes):
    m = parse_mailq(fixture_bytes("debian12-8.17.1.9-mailq-quarantine.txt"))
    entry = m.sections[1].entries[0]
    assert entry.quarantine == "lab hold"
    assert entry.reason == "Deferred: Connection refused by [127.0.0.2]"


def test_solaris_88_formats(fixture_bytes):
    empty = parse_mailq(fixture_bytes("solaris-8.8-mailq-empty.txt"))
    assert [s.count for s in empty.sections] == [0]
    m = parse_mailq(fixture_bytes("solaris-8.8-mailq-deferred.txt"))
    (section,) = m.sections
    assert section.count == 2
    assert [e.queue_id for e in section.entries] == ["HAA23118", "HAA23200"]
    assert section.entries[1].status == "*"
    assert section.entries[0].reason == "Deferred: Connection timed out with mx.remote.example."


def test_garbage_never_raises():
    m = parse_mailq(b"\x00\xff\n(lonely reason)\n\t\tnot a header\n" * 50)
    assert m.sections == [] and 0 < len(m.unparsed) <= 20
