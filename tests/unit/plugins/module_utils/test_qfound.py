"""What a scan found: the helper's part merged into the parent's, folding past the cache's bound, and whether
the previous scan's cache is still exact."""

from __future__ import annotations

from array import array

from ansible_collections.opsiface.sendmail.plugins.module_utils import _qfound
from ansible_collections.opsiface.sendmail.plugins.module_utils._qcache import Cached
from ansible_collections.opsiface.sendmail.plugins.module_utils._qrows import Rows
from ansible_collections.opsiface.sendmail.tests.unit.plugins.module_utils.test_qrows import sample, stat_like


def old_cache() -> dict[str, Cached]:
    return {"/q": Cached(sample().take([0, 2]), {"dfAAAAAAAA0001": 7, "dfAAAAAAAA0003": 0})}


def part(keep: int = 100, limit: int = 3) -> _qfound.Found:
    return _qfound.Found(old_cache(), keep, limit)


def test_the_helpers_part_merges_into_the_parents():
    parent, helper = part(), part()
    parent.kept["/q"], parent.new["/q"] = array("l", [0]), Rows()
    parent.df_seen["/q"] = ["dfAAAAAAAA0001"]
    helper.kept["/q"], helper.new["/q"] = array("l", [1]), Rows()
    helper.new["/q"].add("qfBBBBBBBB0001", stat_like(9, 30), (5, 4, "new", ("c.example",), True))
    helper.df_seen["/q"], helper.df_new["/q"] = ["dfAAAAAAAA0003", "dfBBBBBBBB0001"], {"dfBBBBBBBB0001": 11}
    helper.control_ids.extend([1, 2])
    helper.reads, helper.quarantined, helper.df_total = 1, 2, 11
    for n in range(4):
        helper.anomaly("stale_tf", f"/q/tf{n}")
    parent.absorb(helper.dump())
    assert (parent.reads, parent.quarantined, parent.df_total, list(parent.control_ids)) == (1, 2, 11, [1, 2])
    assert parent.anomalies == {"stale_tf": 4} and len(parent.examples) == 3  # examples stay within the limit
    rows = parent.leaves()["/q"]
    assert rows.name == ["qfAAAAAAAA0001", "qfAAAAAAAA0003", "qfBBBBBBBB0001"]
    assert rows.totals().count == 3 and rows.totals().oldest_id == "BBBBBBBB0001"
    assert parent.df_sizes("/q") == {"dfAAAAAAAA0001": 7, "dfAAAAAAAA0003": 0, "dfBBBBBBBB0001": 11}
    assert not parent.unchanged()


def test_a_part_that_folded_makes_the_other_fold_and_nothing_is_lost():
    parent, helper = part(keep=2), part(keep=2)
    parent.kept["/q"], parent.new["/q"] = array("l", [0, 1]), Rows()
    helper.new["/q"] = Rows()
    for n in range(3):
        helper.new["/q"].add(f"qfCCCCCCCC000{n}", stat_like(20 + n), (50 + n, 1, "r", ("d.example",), True))
    helper.fold()
    parent.absorb(helper.dump())
    assert not parent.keeping and parent.leaves() == {}
    assert parent.totals.count == 5 and parent.totals.domains == {"a.example": 1, "(none)": 1, "d.example": 3}


def test_unchanged_only_when_every_row_and_df_of_the_cache_was_seen_and_nothing_read():
    found = part()
    found.kept["/q"], found.new["/q"] = array("l", [0, 1]), Rows()
    found.df_seen["/q"] = ["dfAAAAAAAA0001", "dfAAAAAAAA0003"]
    assert found.unchanged() and found.leaves()["/q"] is found.old["/q"].rows  # not even copied
    found.df_seen["/q"].pop()
    assert not found.unchanged()  # a df gone
    found.df_seen["/q"].append("dfAAAAAAAA0003")
    found.kept["/q"].pop()
    assert not found.unchanged()  # a message gone, or changed
    found.kept["/q"].append(1)
    found.reads = 1
    assert not found.unchanged()  # a file read
