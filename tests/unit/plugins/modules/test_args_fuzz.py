"""The argument fuzzer of bench/fuzz.py (--args) in small: every module's argument spec, hostile values,
through main() with every side effect recorded (args_fuzz.py). 0 crashes, 0 tracebacks."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import pytest
from ansible_collections.opsiface.sendmail.tests.unit.plugins.modules import args_fuzz

INPUTS = 300  # per module: 2,400 in all; bench/fuzz.py --args runs 100,000
FOUND = sorted((args_fuzz.FIXTURES / "fuzz").glob("args-*.json"))


@pytest.mark.parametrize("name", sorted(args_fuzz.MODULES))
def test_module_arguments_never_crash(name, tmp_path):
    if name in args_fuzz.CONTROLLER_ONLY and (sys.version_info < (3, 11) or importlib.util.find_spec("jinja2") is None):
        # the target-Python runs (make unit-targets) have ansible's module_utils only; `make unit` runs it
        pytest.skip(f"{name} runs on the controller (Python 3.11+, with ansible-core), never on a managed host")
    report = args_fuzz.fuzz_module(name, INPUTS, 20261201, tmp_path)
    assert report["crashes"] == 0, json.dumps(report["findings"][:3], indent=1)
    assert report["inputs"] == INPUTS and report["ok"] + report["failed"] == INPUTS
    assert report["ok"] > 0 and report["failed"] > 0  # both paths taken: not a harness that refuses everything


@pytest.mark.parametrize("path", FOUND, ids=[p.stem for p in FOUND])
def test_argument_fuzz_finding_stays_fixed(path, tmp_path):
    finding = json.loads(path.read_text())
    sb = args_fuzz.Sandbox(tmp_path / "sb")
    args = args_fuzz.restore(finding["args"], str(finding.get("sandbox", "")), str(sb.root))
    got = args_fuzz.run_one(finding["module"], args, sb, random.Random(finding.get("seed", 0)))
    assert got["crash"] is None, got["crash"]


def test_the_recorders_keep_writes_in_the_sandbox_and_signals_unsent(tmp_path):
    sb = args_fuzz.Sandbox(tmp_path / "sb")
    args = {
        "operation": "delete",
        "queue": "mta",
        "queue_ids": [args_fuzz.QIDS[0]],
        "trash_dir": "/var/spool/x",
        "config_path": str(sb.cf),
        "lock_dir": str(sb.root / "lock"),
    }
    got = args_fuzz.run_one("sendmail_queue", args, sb, random.Random(1))
    assert got["crash"] is None and got["result"]["failed"]
    assert ("mkdir", "/var/spool/x") in got["denied"] and not Path("/var/spool/x").exists()
    got = args_fuzz.run_one(
        "sendmail_service",
        {"state": "stopped", "force": True, "config_path": str(sb.cf), "lock_dir": str(sb.root / "lock")},
        sb,
        random.Random(3),
    )
    assert got["crash"] is None
