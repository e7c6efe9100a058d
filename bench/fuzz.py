#!/usr/bin/env python3
"""Fuzz every parser of the collection: N inputs each (default 100,000), half mutated real captures,
half random bytes, from a fixed seed so a run can be repeated exactly.

    .venv/bin/python bench/fuzz.py [--inputs 100000] [--seed 20261127] [--only qf,mailq]

A crash is an exception the parser does not document, or a result that is not valid UTF-8 JSON
material. Each crash is written to tests/unit/fixtures/fuzz/<parser>-<n>.bin (a regression
fixture for tests/unit/plugins/module_utils/test_fuzz_regressions.py) and the run exits 1.
Results go to bench/results/fuzz.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / ".collections")]

from ansible_collections.opsiface.sendmail.tests.unit.plugins.module_utils.fuzz_targets import (  # noqa: E402
    NASTY,
    TARGETS,
    check,
    seeds,
)

OUT = ROOT / "tests" / "unit" / "fixtures" / "fuzz"


def mutate(rng: random.Random, corpus: list[bytes]) -> bytes:
    if rng.random() < 0.5:
        return rng.randbytes(rng.randint(0, 4096))
    data = bytearray(rng.choice(corpus))
    for _step in range(rng.randint(1, 10)):
        op = rng.randrange(6)
        pos = rng.randrange(len(data)) if data else 0
        if op == 0:
            data[pos:pos] = rng.choice(NASTY)
        elif op == 1:
            del data[pos : pos + rng.randint(1, 64)]
        elif op == 2 and data:
            data[pos] = rng.randrange(256)
        elif op == 3:
            del data[pos:]
        elif op == 4:
            data[pos:pos] = data[pos : pos + rng.randint(1, 512)]
        else:
            other = rng.choice(corpus)
            data[pos:] = other[rng.randrange(len(other) or 1) :]
    return bytes(data)


def fuzz(name: str, inputs: int, seed: int) -> dict:
    target = next(t for t in TARGETS if t.name == name)
    corpus = seeds(target)
    rng = random.Random(f"{seed}-{name}")
    crashes: list[dict] = []
    started = time.monotonic()
    for n in range(inputs):
        data = mutate(rng, corpus)
        try:
            check(target, data)
        except Exception as exc:
            OUT.mkdir(parents=True, exist_ok=True)
            path = OUT / f"{name}-{len(crashes)}.bin"
            path.write_bytes(data)
            crashes.append(
                {
                    "input": n,
                    "fixture": str(path.relative_to(ROOT)),
                    "error": repr(exc)[:300],
                    "where": traceback.format_exc().strip().splitlines()[-3][:300],
                }
            )
            if len(crashes) >= 20:
                break
    return {
        "parser": name,
        "inputs": n + 1,
        "crashes": len(crashes),
        "seconds": round(time.monotonic() - started, 1),
        "findings": crashes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--only", default="")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    names = [t.name for t in TARGETS if not args.only or t.name in args.only.split(",")]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(fuzz, names, [args.inputs] * len(names), [args.seed] * len(names)))
    for r in results:
        print(f"{r['parser']:12} {r['inputs']:>8} inputs  {r['crashes']} crashes  {r['seconds']:>7} s")
        for f in r["findings"][:3]:
            print(f"    {f['fixture']}: {f['error']}  {f['where']}")
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "fuzz.json").write_text(json.dumps({"seed": args.seed, "results": results}, indent=2))
    return 1 if any(r["crashes"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
