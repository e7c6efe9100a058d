"""docs/architecture.md names real things: every `_module.name` it cites is defined in that module_utils file,
and every path it cites exists. (A map that points at renamed code is worse than none.)"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text()
UTILS = ROOT / "plugins" / "module_utils"


def defined(module: str) -> set[str]:
    tree = ast.parse((UTILS / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def test_every_cited_function_exists():
    cited = set(re.findall(r"\b(_[a-z]+)\.([A-Za-z_][A-Za-z0-9_]*)", DOC))
    assert len(cited) > 30
    missing = [f"{m}.{n}" for m, n in sorted(cited) if not (UTILS / f"{m}.py").exists() or n not in defined(m)]
    assert not missing, missing


def test_every_cited_path_exists():
    paths = set(re.findall(r"`((?:plugins|roles|tests|hacking|docs)/[^`\s]+)`", DOC))
    assert len(paths) > 5
    shipped = [p for p in sorted(paths) if (ROOT / p.split("/")[0]).exists()]  # the tarball has no hacking/
    assert not [p for p in shipped if not (ROOT / p).exists()]


def test_every_module_and_role_is_on_the_map():
    for module in (ROOT / "plugins" / "modules").glob("*.py"):
        if module.stem not in ("reachable",):  # the report role's helper, not a runbook step
            assert f"`{module.stem}`" in DOC, module.stem
    for role in (ROOT / "roles").iterdir():
        assert f"`{role.name}`" in DOC, role.name
