"""_compileonce: under a zip import (AnsiballZ), each module of the package compiles once, and is the same module.

Each case imports from a zip laid out as AnsiballZ lays it out, in a fresh interpreter (this one's
Python: the target-Python unit matrix runs it on 3.8 to 3.13) with builtins.compile counted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from ansible_collections.opsiface.sendmail.plugins.module_utils import _compileonce

UTILS = Path(_compileonce.__file__).resolve().parent
PACKAGE = "ansible_collections.opsiface.sendmail.plugins.module_utils"

# argv: the zip, then "install" or "plain", then the module to import. Prints what the import did.
PROBE = r"""
import builtins, json, sys
zip_path, how, name = sys.argv[1:]
sys.path.insert(0, zip_path)
compiled = []
real_compile = builtins.compile
def counting(source, filename, *args, **kwargs):
    compiled.append(str(filename).rsplit("/", 1)[-1])
    return real_compile(source, filename, *args, **kwargs)
builtins.compile = counting
from ansible_collections.opsiface.sendmail.plugins.module_utils import _compileonce
if how == "install":
    _compileonce.install()
    _compileonce.install()
compiled.clear()
import importlib
try:
    module = importlib.import_module(name)
except ImportError as exc:
    print(json.dumps({"error": type(exc).__name__}))
    raise SystemExit(0)
spec = module.__spec__
print(json.dumps({
    "compiled": compiled,
    "file": module.__file__,
    "cached": getattr(module, "__cached__", None),
    "origin": spec.origin,
    "has_location": spec.has_location,
    "loader": type(module.__loader__).__name__,
    "spec_loader": type(spec.loader).__name__,
    "package": module.__package__,
    "path": getattr(module, "__path__", None),
    "finders": sum(type(f).__name__ == "Finder" for f in sys.meta_path),
    "works": module.clean("a\x00b") if hasattr(module, "clean") else None,
}))
"""


@pytest.fixture(scope="module")
def payload(tmp_path_factory) -> Path:
    """A zip of the package as AnsiballZ builds it: an __init__.py at every level, the sources."""
    path = tmp_path_factory.mktemp("zip") / "payload.zip"
    base = PACKAGE.replace(".", "/")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        parts = base.split("/")
        for depth in range(1, len(parts) + 1):
            zf.writestr("/".join(parts[:depth]) + "/__init__.py", "")
        for name in ("_compileonce.py", "_text.py"):
            zf.write(UTILS / name, f"{base}/{name}")
        zf.writestr(f"{base}/sub/__init__.py", "VALUE = 1\n")
    return path


def probe(zip_path: Path, how: str, name: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", PROBE, str(zip_path), how, name],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)


def test_zip_module_compiles_twice_without_and_once_with_the_finder(payload):
    plain = probe(payload, "plain", f"{PACKAGE}._text")
    once = probe(payload, "install", f"{PACKAGE}._text")
    assert plain["compiled"] == ["_text.py", "_text.py"]  # zipimport's double compile, which this is about
    assert once["compiled"] == ["_text.py"]
    assert once["finders"] == 1  # installed once, however often install() is called
    # the same module either way: file, spec, loader, package
    plain.pop("compiled"), once.pop("compiled"), plain.pop("finders"), once.pop("finders")
    assert once == plain
    assert once["file"] == f"{payload}/{PACKAGE.replace('.', '/')}/_text.py"
    assert once["loader"] == "zipimporter" and once["works"] == "a\\x00b"


@pytest.mark.parametrize(
    "name",
    [f"{PACKAGE}.sub", f"{PACKAGE}._missing", "ansible_collections.opsiface.sendmail.plugins._other"],
    ids=["subpackage", "not-in-zip", "outside-package"],
)
def test_anything_else_is_the_normal_import(payload, name):
    once, plain = probe(payload, "install", name), probe(payload, "plain", name)
    assert once.pop("finders", 1) == 1 and plain.pop("finders", 0) == 0
    assert once == plain


def test_install_does_nothing_outside_a_zip(monkeypatch):
    meta_path = list(sys.meta_path)
    monkeypatch.setattr(sys, "meta_path", meta_path)
    _compileonce.install()
    assert sys.meta_path == meta_path and not any(isinstance(f, _compileonce.Finder) for f in meta_path)


def test_finder_answers_none_on_any_surprise(monkeypatch):
    finder = _compileonce.Finder()
    assert finder.find_spec(f"{PACKAGE}._text", None) is None  # no parent path
    assert finder.find_spec("os.path", ["/x"]) is None  # not ours
    assert finder.find_spec(f"{PACKAGE}._text", [str(UTILS)]) is None  # a directory: not a zipimporter
    monkeypatch.setattr(_compileonce, "zip_spec", lambda *a: 1 / 0)
    assert finder.find_spec(f"{PACKAGE}._text", ["/x"]) is None  # an error: the normal import decides
