"""The modules' host operation lock lives under each test's own directory, never in this machine's /run."""

from __future__ import annotations

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _oplock


@pytest.fixture(autouse=True)
def private_lock_dir(tmp_path, monkeypatch):
    lock = tmp_path / "oplock" / "opsiface-sendmail"
    monkeypatch.setattr(_oplock, "DEFAULT_DIR", str(lock))
    monkeypatch.setattr(_oplock, "FALLBACK_DIR", str(lock))
    return lock
