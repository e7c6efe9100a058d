"""Every molecule scenario runs its full sequence: destroy, create, prepare, check (converge in check mode),
converge, verify, destroy. Only health_check also runs idempotence (a second converge that must change
nothing): it only reads. The other roles change the host on every run by design - crash_capture writes a new
bundle, restart starts a new listener, trace writes a new trace file - and each of their molecule.yml says why
it has no idempotence step. test_the_sequences_are_what_this_docstring_says keeps this docstring true."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml
from conftest import ROOT, VENV_BIN

SCENARIOS = sorted(p.name for p in (ROOT / "molecule").iterdir() if (p / "molecule.yml").exists())
IDEMPOTENT = {"health_check"}  # read-only roles: a second converge changes nothing
SEQUENCE = ["destroy", "create", "prepare", "check", "converge", "verify", "destroy"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_sequences_are_what_this_docstring_says(scenario):
    text = (ROOT / "molecule" / scenario / "molecule.yml").read_text()
    sequence = yaml.safe_load(text)["scenario"]["test_sequence"]
    if scenario in IDEMPOTENT:
        assert sequence == [*SEQUENCE[:5], "idempotence", *SEQUENCE[5:]], sequence
    else:
        assert sequence == SEQUENCE, sequence
        assert re.search(r"^# No idempotence step: \S.*", text, re.MULTILINE), f"{scenario}: say why, in molecule.yml"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario):
    env = dict(
        os.environ,
        PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
    )
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run(
        [str(VENV_BIN / "molecule"), "test", "-s", scenario],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]
