"""The target-Python floor cannot rot: what fails on a managed host's Python 3.8 fails `make lint` first.

Each case writes one construct newer than 3.8 into a copy of plugins/ and runs the same check as
`make lint-target-python`; ruff.toml's per-file-target-version is checked on the same copy.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "hacking" / "target_python.py"
RUFF = Path(sys.executable).parent / "ruff"

pytestmark = pytest.mark.skipif(not CHECK.exists(), reason="a checkout's hacking/ (not in the collection tarball)")

NEWER = {
    "zip_strict": "def f(a, b):\n    return dict(zip(a, b, strict=True))\n",
    "match": "def f(x):\n    match x:\n        case 1:\n            return 1\n    return 0\n",
    "removeprefix": "def f(name):\n    return name.removeprefix('qf')\n",
    "removesuffix": "def f(name):\n    return name.removesuffix('.pid')\n",
    "union_isinstance": "def f(x):\n    return isinstance(x, int | str)\n",
    "union_alias": "from typing import Optional\n\nMaybeInt = Optional[int] | None\n",
    "union_none": "Timeout = float | None\n",
    "datetime_utc": "import datetime\n\n\ndef f():\n    return datetime.datetime.now(datetime.UTC)\n",
    "datetime_utc_from": "from datetime import UTC\n",
    "generic_alias": "Rows = list[tuple[str, int]]\n",
    "generic_cast": "from typing import cast\n\n\ndef f(x):\n    return cast(dict[str, int], x)\n",
    "generic_abc": "from collections.abc import Mapping\n\n\ndef f(x):\n    return isinstance(x, Mapping[str, int])\n",
    "generic_counter": "import collections\n\nC = collections.Counter[str]\n",
    "annotations_evaluated": "def f(x: list[int]) -> None:\n    return None\n",
    "functools_cache": "import functools\n\n\n@functools.cache\ndef f():\n    return 1\n",
    "controller_import": "from ansible_collections.opsiface.sendmail.plugins.module_utils import _report\n",
    "controller_import_relative": "from . import _report\n",
}

# What 3.8 runs: annotations are strings under the __future__ import; bitwise or of values is not a union.
FINE = """from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Optional, Union, cast


def f(x: list[int] | None, y: re.Pattern[str], z: Mapping[str, int]) -> dict[str, int] | None:
    rows: list[tuple[str, int]] = []
    flags = os.O_RDONLY | os.O_NOFOLLOW
    env = os.environ["HOME"]
    return cast("dict[str, int]", {"a": flags | 1, "b": len(env), "c": len(rows)}) or cast(Optional[int], None)


Alias = Union[int, str]
"""


@pytest.fixture(scope="module")
def findings(tmp_path_factory):
    """One copy of plugins/ with every construct in a file of its own, checked once."""
    root = tmp_path_factory.mktemp("floor")
    shutil.copytree(ROOT / "plugins", root / "plugins", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "ruff.toml", root / "ruff.toml")
    for name, code in NEWER.items():
        (root / "plugins" / "module_utils" / f"_newer_{name}.py").write_text(code)
    (root / "plugins" / "modules" / "newer_in_a_module.py").write_text(NEWER["removeprefix"])
    (root / "plugins" / "doc_fragments" / "newer_in_a_fragment.py").write_text(NEWER["zip_strict"])
    (root / "plugins" / "module_utils" / "_fine.py").write_text(FINE)
    # controller-only code may use what the controller's Python has
    (root / "plugins" / "filter" / "newer_on_the_controller.py").write_text(NEWER["datetime_utc"])
    proc = subprocess.run(
        [sys.executable, str(CHECK), "lint", "--root", str(root)], capture_output=True, text=True, check=False
    )
    return root, proc


def test_host_code_of_this_checkout_passes():
    proc = subprocess.run([sys.executable, str(CHECK), "lint"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", sorted(NEWER))
def test_construct_newer_than_3_8_fails_the_lint(findings, name):
    _root, proc = findings
    assert proc.returncode == 1
    assert f"plugins/module_utils/_newer_{name}.py:" in proc.stdout, proc.stdout


def test_modules_and_doc_fragments_are_host_code_too(findings):
    _root, proc = findings
    assert "plugins/modules/newer_in_a_module.py:2:" in proc.stdout
    assert "plugins/doc_fragments/newer_in_a_fragment.py:2:" in proc.stdout


def test_no_false_positives_and_controller_only_code_is_not_held_to_3_8(findings):
    _root, proc = findings
    assert "_fine.py" not in proc.stdout
    assert "newer_on_the_controller.py" not in proc.stdout
    assert "fleet_report.py" not in proc.stdout  # datetime.UTC, on the controller


def test_ruff_targets_3_8_syntax_under_plugins(findings):
    root, _proc = findings
    proc = subprocess.run(
        [str(RUFF), "check", "--no-cache", "--output-format", "concise", "plugins/module_utils/_newer_match.py"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1 and "Python 3.8" in proc.stdout, proc.stdout + proc.stderr


def test_make_runs_the_floor_in_lint_and_the_unit_matrix_in_test():
    # `make test` runs the static lane beside the integration lane; the static lane's dry run (its recipe
    # is only recursive makes, so -n reaches every step without running one) must include both.
    makefile = (ROOT / "Makefile").read_text()
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "test-static" in test_recipe
    dry = subprocess.run(["make", "-n", "--no-print-directory", "test-static"],
                         cwd=ROOT, capture_output=True, text=True, check=False)  # fmt: skip
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "hacking/target_python.py lint" in dry.stdout, dry.stdout
    assert "hacking/target_python.py units" in dry.stdout, dry.stdout
