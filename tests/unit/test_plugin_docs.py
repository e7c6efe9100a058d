"""Every plugin's documentation parses as YAML, in `make unit`.

ansible-lint only warns when a module's DOCUMENTATION does not parse (`[ERROR]: Unable to parse
documentation`, exit 0), and ansible-test sanity, which fails on it, runs late in CI: a ": " inside
a description slipped through `make lint` twice (the review of the delivery area found both)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PY_DOCS = sorted(
    p for p in (ROOT / "plugins").glob("*/*.py") if p.parent.name in ("modules", "doc_fragments", "action", "filter")
)
YML_DOCS = sorted((ROOT / "plugins").glob("*/*.yml"))


def _doc_strings(source: str) -> dict[str, str]:
    """DOCUMENTATION, EXAMPLES, RETURN (module level, or a doc fragment class's) as written."""
    found = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("DOCUMENTATION", "EXAMPLES", "RETURN") and isinstance(node.value, ast.Constant):
                found[f"{name}@{node.lineno}"] = node.value.value
    return found


@pytest.mark.parametrize("path", PY_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_plugin_docs_parse(path):
    for name, text in _doc_strings(path.read_text()).items():
        try:
            yaml.safe_load(text)
        except yaml.YAMLError as exc:
            pytest.fail(f"{path.relative_to(ROOT)} {name}: {exc}")


@pytest.mark.parametrize("path", YML_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_yaml_plugin_docs_parse(path):
    yaml.safe_load(path.read_text())


def test_a_colon_in_a_description_fails_here():
    """The shape that broke: ': ' on a continuation line of a plain description."""
    broken = 'DOCUMENTATION = r"""\nmodule: x\ndescription:\n  - runs it with\n    O(send=true): a message\n"""\n'
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(_doc_strings(broken)["DOCUMENTATION@1"])
