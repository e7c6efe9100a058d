from __future__ import annotations

from array import array
from types import SimpleNamespace

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _qrows


def stat_like(ino: int, size: int = 100, mtime: int = 5):
    return SimpleNamespace(st_ino=ino, st_size=size, st_mtime_ns=mtime)


def sample() -> _qrows.Rows:
    rows = _qrows.Rows()
    rows.add("qfAAAAAAAA0001", stat_like(1), (100, 2, "refused", ("a.example",), True))
    rows.add("qfAAAAAAAA0002", stat_like(2, 50), (None, 9, "refused", ("a.example", "b.example"), False))
    rows.add("qfAAAAAAAA0003", stat_like(3), (40, 0, "(none)", ("(none)",), True))
    return rows


def test_totals_of_rows():
    t = sample().totals()
    assert (t.count, t.size, t.oldest, t.oldest_id, t.max_attempts) == (3, 250, 40, "AAAAAAAA0003", 9)
    assert t.domains == {"a.example": 2, "b.example": 1, "(none)": 1}
    assert t.reasons == {"refused": 2, "(none)": 1}


def test_dump_load_take_extend_keep_every_value():
    rows = sample()
    again = _qrows.Rows.load(rows.dump())
    assert again.dump() == rows.dump() and again.index() == {n: i for i, n in enumerate(rows.name)}
    part = rows.take(array("l", [2, 0]))
    assert part.name == ["qfAAAAAAAA0003", "qfAAAAAAAA0001"] and list(part.ino) == [3, 1]
    other = _qrows.Rows()
    other.add("qfBBBBBBBB0001", stat_like(9), (1, 1, "new reason", ("c.example",), True))
    part.extend(other)
    t = part.totals()
    assert t.reasons == {"(none)": 1, "refused": 1, "new reason": 1} and t.domains["c.example"] == 1


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.update(ino=d["ino"][:-8]),
        lambda d: d.update(dom=array("l", [0, 0, 7]).tobytes()),
        lambda d: d.update(reason=array("l", [0, -1, 0]).tobytes()),
        lambda d: d.pop("name"),
    ],
    ids=["short-column", "domain-index", "negative-reason", "missing-column"],
)
def test_load_refuses_an_inconsistent_dump(damage):
    data = sample().dump()
    damage(data)
    with pytest.raises((ValueError, KeyError)):
        _qrows.Rows.load(data)


def test_totals_merge_and_round_trip():
    a, b = sample().totals(), _qrows.Totals()
    b.count, b.oldest, b.oldest_id, b.max_attempts = 1, 10, "OLDEST", 3
    b.domains["z.example"] = 1
    a.merge(_qrows.Totals.load(b.dump()))
    assert (a.count, a.oldest_id, a.max_attempts, a.domains["z.example"]) == (4, "OLDEST", 9, 1)


@pytest.mark.parametrize("n", [10, 250000])
def test_missing_counts_and_samples_what_is_not_in_the_pool(n):
    pool = array("q", range(0, 2 * n, 2))  # even numbers
    values = array("q", [*range(0, 2 * n, 2), 1, 3, -5])
    count, sample_ = _qrows.missing(values, pool, 2)
    assert count == 3 and len(sample_) == 2 and sample_ <= {1, 3, -5}
