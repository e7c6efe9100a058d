# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a queue scan found: rows reused from the previous scan, rows read, df sizes, totals, anomalies.

One :class:`Found` per process of the scan (:mod:`_qscan` fills it); the
helper's comes back through :meth:`Found.dump` and is merged with
:meth:`Found.absorb`. While the queue is small enough to cache (*keep* rows),
the rows are kept: by index into the previous scan's rows when a file did not
change (``kept``), else as new rows; past that bound everything is folded into
running totals and memory stays flat. What goes back into the cache is made
here too (:meth:`Found.leaves`, :meth:`Found.df_sizes`).
"""

from __future__ import annotations

from array import array
from collections import Counter

from ._qcache import Cached
from ._qrows import Rows, Totals
from ._text import clean

EMPTY = Cached()  # the previous scan's rows of a directory it did not see (never changed)


def candidates(examples: list[dict], limit: int) -> list[dict]:
    """The examples that may still be shown: the *limit* first by path of each kind. Whichever way the scan
    split its work, the same files are kept, so the report's examples do not change from run to run."""
    by_kind: dict[str, list[dict]] = {}
    for example in sorted(examples, key=lambda e: (e["path"], e["kind"])):
        kept = by_kind.setdefault(example["kind"], [])
        if len(kept) < limit:
            kept.append(example)
    return [e for kept in by_kind.values() for e in kept]


def pick(examples: list[dict], limit: int) -> list[dict]:
    """At most *limit* examples in path order, every kind found shown at least once while there is room."""
    ranked = sorted(candidates(examples, limit), key=lambda e: (e["path"], e["kind"]))
    first: dict[str, dict] = {}
    for example in ranked:
        first.setdefault(example["kind"], example)
    chosen = list(first.values())[:limit]
    chosen_ids = {id(e) for e in chosen}
    chosen += [e for e in ranked if id(e) not in chosen_ids][: limit - len(chosen)]
    return sorted(chosen, key=lambda e: (e["path"], e["kind"]))


class Found:
    """What one process of the scan found."""

    def __init__(self, old: dict[str, Cached], keep: int, example_limit: int) -> None:
        self.old, self.keep, self.example_limit = old, keep, example_limit
        self.keeping = keep > 0
        self.kept: dict[str, array] = {}  # indices into the previous scan's rows of each directory
        self.new: dict[str, Rows] = {}
        self.df_seen: dict[str, list[str]] = {}  # df names, by directory (only while keeping)
        self.df_new: dict[str, dict[str, int]] = {}  # sizes of the dfs not in the previous scan's, by directory
        self.held = 0
        self.totals = Totals()
        self.df_total = self.reads = self.hits = self.quarantined = 0
        self.anomalies: Counter[str] = Counter()
        self.examples: list[dict] = []
        self.reduce_at = 4 * example_limit + 16
        self.control_ids = array("q")  # hashes of the IDs of every qf/hf/Qf/tf
        self.data_ids = array("q")

    def anomaly(self, kind: str, path: str, detail: str | None = None) -> None:
        self.anomalies[kind] += 1
        if self.example_limit <= 0:
            return
        example = {"kind": kind, "path": clean(path, 512)}
        if detail:
            example["detail"] = clean(detail, 256)
        self.examples.append(example)
        if len(self.examples) >= self.reduce_at:  # amortised: bounded memory, a sort every so many anomalies
            self.examples = candidates(self.examples, self.example_limit)
            self.reduce_at = max(4 * self.example_limit + 16, 2 * len(self.examples))

    def fold(self) -> None:
        """Too many messages to cache: fold the rows into running totals and go on in flat memory."""
        for directory, kept in self.kept.items():
            self.totals.merge((self.old.get(directory) or EMPTY).rows.take(kept).totals())
        for rows in self.new.values():
            self.totals.merge(rows.totals())
        self.keeping, self.kept, self.new, self.df_seen, self.df_new, self.held = False, {}, {}, {}, {}, 0

    def dump(self) -> dict:
        leaves = {
            d: (
                self.kept.get(d, array("l")).tobytes(),
                rows.dump(),
                "\n".join(self.df_seen.get(d, ())),
                self.df_new.get(d, {}),
            )
            for d, rows in self.new.items()
        }
        return {
            "leaves": leaves if self.keeping else None,
            "totals": self.totals.dump(),
            "counts": [self.df_total, self.reads, self.hits, self.quarantined],
            "ids": [self.control_ids.tobytes(), self.data_ids.tobytes()],
            "anomalies": dict(self.anomalies),
            "examples": self.examples,
        }

    def absorb(self, other: dict) -> None:
        """Merge another part's dump() into this one."""
        self.totals.merge(Totals.load(other["totals"]))
        df_total, reads, hits, quarantined = other["counts"]
        self.df_total, self.reads, self.hits = self.df_total + df_total, self.reads + reads, self.hits + hits
        self.quarantined += quarantined
        self.control_ids.frombytes(other["ids"][0])
        self.data_ids.frombytes(other["ids"][1])
        self.anomalies.update(other["anomalies"])
        self.examples = candidates(self.examples + other["examples"], self.example_limit)
        if other["leaves"] is None:  # the other part folded its rows into totals: so must this one
            if self.keeping:
                self.fold()
            return
        for directory, (kept_bytes, rows_dump, seen, sizes) in other["leaves"].items():
            kept, rows = array("l"), Rows.load(rows_dump)
            kept.frombytes(kept_bytes)
            if self.keeping:
                self.kept.setdefault(directory, array("l")).extend(kept)
                self.new.setdefault(directory, Rows()).extend(rows)
                self.df_seen.setdefault(directory, []).extend(seen.split("\n") if seen else ())
                self.df_new.setdefault(directory, {}).update(sizes)
                self.held += len(kept) + len(rows)
            else:
                self.totals.merge((self.old.get(directory) or EMPTY).rows.take(kept).totals())
                self.totals.merge(rows.totals())
        if self.keeping and self.held > self.keep:
            self.fold()

    def leaves(self) -> dict[str, Rows]:
        """Every message's row, by directory (only while keeping)."""
        out = {}
        for directory, new in self.new.items():
            old = self.old.get(directory) or EMPTY
            kept = self.kept.get(directory, array("l"))
            if len(kept) == len(old.rows) and not len(new):
                out[directory] = old.rows  # nothing changed
            else:
                out[directory] = old.rows.take(kept)
                out[directory].extend(new)
        return out

    def unchanged(self) -> bool:
        """Nothing read, and every row and df size of the previous scan still there: its cache is still exact."""
        if self.reads or not self.keeping or set(self.new) != set(self.old):
            return False
        return all(
            len(self.kept.get(d, ())) == len(old.rows)
            and not len(self.new[d])
            and len(self.df_seen.get(d, ())) == len(old.df)
            and not self.df_new.get(d)
            for d, old in self.old.items()
        )

    def df_sizes(self, directory: str) -> dict[str, int]:
        """The size of every df seen in *directory* (only while keeping)."""
        old, new = (self.old.get(directory) or EMPTY).df, self.df_new.get(directory, {})
        return {n: new[n] if n in new else old[n] for n in self.df_seen.get(directory, ()) if n in new or n in old}
