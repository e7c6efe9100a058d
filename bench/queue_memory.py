#!/usr/bin/env python3
"""Peak memory of the queue summary over 1,000,000 messages.

    python3 bench/queue_memory.py [--messages 1000000]

Builds a queue directory under /var/tmp of N qf/df pairs (hard links to 20 copies of a
captured Debian 12 qf, since names and not bytes decide memory; ext4 allows 65,000 links
an inode), scans it as the module does by default (with a cache directory, which a queue
this large does not use), prints the peak RSS (baseline: the interpreter with the
collection's module_utils imported), and removes the directory.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".collections"))
from ansible_collections.opsiface.sendmail.plugins.module_utils import _queue  # noqa: E402

TEMPLATE = ROOT / "tests/unit/fixtures/queue/debian12-8.17.1.9-qf-deferred-relay.bin"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1000000)
    args = ap.parse_args()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    work = Path(tempfile.mkdtemp(prefix="opsiface-memory-", dir="/var/tmp"))
    try:
        queue = work / "mqueue"
        queue.mkdir()
        sources = []
        for k in range(20):
            qf, df = work / f"src-qf{k:02d}", work / f"src-df{k:02d}"
            shutil.copy(TEMPLATE, qf)
            df.write_text("body\n")
            sources.append((qf, df))
        for i in range(args.messages):
            qf, df = sources[i % 20]
            (queue / f"qf6ARAm{i:09d}").hardlink_to(qf)
            (queue / f"df6ARAm{i:09d}").hardlink_to(df)
        started = time.perf_counter()
        summary = _queue.scan_queue([str(queue)], time.time(), cache_dir=str(work / "cache"))
        result = {
            "messages": summary.count,
            "seconds": round(time.perf_counter() - started, 1),
            "baseline_rss_mb": round(baseline, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "cache_written": summary.cache["written"],
        }
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
