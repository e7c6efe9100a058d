"""Every input bench/fuzz.py ever found a crash with, run again through its parser (fixtures/fuzz/<parser>-<n>.bin)."""

from __future__ import annotations

import pytest
from ansible_collections.opsiface.sendmail.tests.unit.plugins.module_utils.fuzz_targets import FIXTURES, TARGETS, check

FOUND = sorted((FIXTURES / "fuzz").glob("*.bin"))
BY_NAME = {t.name: t for t in TARGETS}


@pytest.mark.parametrize("path", FOUND, ids=[p.stem for p in FOUND])
def test_fuzz_finding_stays_fixed(path):
    check(BY_NAME[path.stem.rsplit("-", 1)[0]], path.read_bytes())


def test_there_are_findings_to_replay():
    assert FOUND, "bench/fuzz.py's findings are kept as regression fixtures"
