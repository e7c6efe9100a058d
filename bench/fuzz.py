#!/usr/bin/env python3
"""Fuzz every parser of the collection, and every module's arguments, from a fixed seed so a run can
be repeated exactly.

    .venv/bin/python bench/fuzz.py [--inputs 100000] [--args-inputs 100000] [--seed 20261127] [--only qf,smtp_probe]

Parsers: N inputs each (default 100,000), half mutated real captures, half random bytes. A crash is
an exception the parser does not document, or a result that is not valid UTF-8 JSON material; it is
written to tests/unit/fixtures/fuzz/<parser>-<n>.bin (replayed by test_fuzz_regressions.py).

Module arguments (--args-inputs, default 100,000 in all, split over the modules): each input is one
call of a module's main() with options drawn from its own argument spec (hostile strings, edge and
non-finite numbers, wrong types, system paths), with every side effect replaced by a recorder - the
command runner, subprocess, os.kill/os.killpg, resource.prlimit, sockets and name resolution, and
every file write, mkdir, unlink, rename, chmod or chown outside the input's own sandbox directory
(see tests/unit/plugins/modules/args_fuzz.py): random arguments never reach a real process or file
of this machine. A crash is a traceback or an exit without one JSON result; it is written to
tests/unit/fixtures/fuzz/args-<module>-<n>.json (replayed by test_args_fuzz.py).

The run exits 1 on any crash. Results go to bench/results/fuzz.json.
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
from ansible_collections.opsiface.sendmail.tests.unit.plugins.modules import args_fuzz  # noqa: E402

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


def fuzz_args(name: str, inputs: int, seed: int) -> dict:
    """One module's arguments, *inputs* calls, each in a sandbox of its own under ~/.cache (never /tmp:
    the modules refuse directories under world-writable ones)."""
    import os
    import shutil

    base = Path.home() / ".cache" / "osm-fuzz" / f"{name}-{os.getpid()}"
    base.mkdir(parents=True, exist_ok=True)
    try:
        result = args_fuzz.fuzz_module(name, inputs, seed, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    for n, finding in enumerate(result["findings"]):
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / f"args-{name}-{n}.json"
        path.write_text(json.dumps(finding, indent=1))
        finding["fixture"] = str(path.relative_to(ROOT))
        finding["error"] = finding["crash"].splitlines()[0][:300]
    result["parser"] = f"args:{name}"
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--only", default="")
    parser.add_argument("--args-inputs", type=int, default=100_000, help="module calls in all (0: none)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    only = [n for n in args.only.split(",") if n]
    names = [t.name for t in TARGETS if not only or t.name in only] if args.inputs else []
    modules = [m for m in sorted(args_fuzz.MODULES) if not only or m in only] if args.args_inputs else []
    share = [args.args_inputs // len(modules) + (i < args.args_inputs % len(modules)) for i in range(len(modules))]
    with ProcessPoolExecutor(args.jobs) as pool:
        jobs = [pool.submit(fuzz_args, m, n, args.seed) for m, n in zip(modules, share, strict=True)]
        jobs += [pool.submit(fuzz, n, args.inputs, args.seed) for n in names]
        results = [job.result() for job in jobs]
    for r in results:
        print(f"{r['parser']:24} {r['inputs']:>8} inputs  {r['crashes']} crashes  {r['seconds']:>7} s", end="")
        if "ok" in r:
            print(
                f"  ({r['ok']} ok, {r['failed']} refused or failed cleanly, {r['denied_writes']} writes outside the "
                f"sandbox denied, {r['recorded_signals']} signals/limits recorded, {r['commands']} commands recorded)"
            )
        else:
            print()
        for f in r["findings"][:3]:
            print(f"    {f['fixture']}: {f['error']}  {f.get('where', '')}")
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "fuzz.json").write_text(json.dumps({"seed": args.seed, "results": results}, indent=2))
    return 1 if any(r["crashes"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
