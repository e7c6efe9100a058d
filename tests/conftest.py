"""Shared test set-up: make `ansible_collections.opsiface.sendmail` importable.

`make venv` links the checkout as .collections/ansible_collections/opsiface/sendmail;
putting .collections on sys.path lets plain pytest import the collection's
module_utils by their real names, the same names ansible-test uses.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / ".collections"
if not (COLLECTIONS / "ansible_collections" / "opsiface" / "sendmail").exists():
    link = COLLECTIONS / "ansible_collections" / "opsiface" / "sendmail"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to("../../..")
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))


def pytest_configure(config):
    # The collection refuses to create dump, trace and trash directories under a world-writable
    # directory such as /tmp, so the tests' temporary directories live under the user's home
    # (wherever the checkout is: a CI clone may well be under /tmp).
    # One base per checkout and per suite: pytest empties its base temp when it starts, and `make test`
    # runs the unit and the integration suites side by side.
    if config.option.basetemp is None:
        suite = " ".join(sorted(str(arg) for arg in config.args))
        tag = hashlib.sha256(f"{ROOT}\0{sys.executable}\0{suite}".encode()).hexdigest()[:8]
        base = Path.home() / ".cache" / "osm"  # short: UNIX socket paths in the tests must stay under 108 bytes
        base.mkdir(parents=True, exist_ok=True)
        config.option.basetemp = str(base / tag)
