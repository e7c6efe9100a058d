"""Property tests: every parser, over random bytes and mutated real captures, raises nothing but what it
documents and returns valid UTF-8 JSON material; the queue scan's counts match the files and IDs are unique."""

from __future__ import annotations

import os

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _queue
from ansible_collections.opsiface.sendmail.tests.unit.plugins.module_utils.fuzz_targets import (
    NASTY,
    TARGETS,
    check,
    seeds,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NASTY_BYTES = st.sampled_from([*NASTY, b" " * 3])


@st.composite
def mutated(draw, corpus: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(corpus)))
    for _step in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "duplicate"]))
        pos = draw(st.integers(0, max(len(data), 1) - 1)) if data else 0
        if op == "insert":
            data[pos:pos] = draw(NASTY_BYTES | st.binary(max_size=16))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "replace" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[pos:]
        elif op == "duplicate":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 256))]
    return bytes(data)


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_parser_survives_random_and_mutated_input(target):
    corpus = seeds(target)

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.binary(max_size=4096), mutated(corpus)))
    def run(data: bytes) -> None:
        check(target, data)

    for seed in corpus:
        check(target, seed)
    run()


NAMES = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789", min_size=8, max_size=14)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    ids=st.lists(NAMES, min_size=0, max_size=25, unique=True),
    junk=st.lists(st.binary(max_size=200), min_size=25, max_size=25),
    orphans=st.integers(0, 3),
)
def test_scan_counts_match_files_and_ids_are_unique(tmp_path_factory, fixture_bytes, ids, junk, orphans):
    qdir = tmp_path_factory.mktemp("q")
    good = fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin")
    empty = 0
    for i, qid in enumerate(ids):
        body = good if i % 3 else junk[i]  # every third control file is garbage: still a message, maybe an anomaly
        empty += not body
        (qdir / f"qf{qid}").write_bytes(body)
        (qdir / f"df{qid}").write_bytes(b"body")
    for n in range(orphans):
        (qdir / f"dfORPHAN{n:06d}").write_bytes(b"x")
    summary = _queue.scan_queue([str(qdir)], 1795786600.0)
    # two processes, and a rescan with the first one's cache, find the same
    cache = str(tmp_path_factory.mktemp("cache"))
    for other in (
        _queue.scan_queue([str(qdir)], 1795786600.0, workers=2),
        _queue.scan_queue([str(qdir)], 1795786600.0, workers=2, cache_dir=cache),
        _queue.scan_queue([str(qdir)], 1795786600.0, cache_dir=cache),
    ):
        assert {k: v for k, v in other.to_dict().items() if k not in ("cache", "files_read")} == {
            k: v for k, v in summary.to_dict().items() if k not in ("cache", "files_read")
        }
    listed, problems = _queue.queue_ids([str(qdir)])
    assert problems == [] and listed == sorted(ids) and len(set(listed)) == len(listed)
    # an empty control file is not a message sendmail could deliver: an anomaly, not counted
    assert summary.count == len(ids) - empty
    assert summary.anomalies.get("zero_length_qf", 0) == empty
    assert summary.anomalies.get("orphan_df", 0) == orphans
    assert sorted(os.listdir(qdir)) == sorted(
        [f"qf{i}" for i in ids] + [f"df{i}" for i in ids] + [f"dfORPHAN{n:06d}" for n in range(orphans)]
    )
