"""The oldest target Python, enforced: code that runs on managed hosts must run on 3.8 to 3.13.

Modules and their module_utils run with the managed host's interpreter, not the controller's:
ansible-core 2.19 supports targets from Python 3.8 (RHEL 9's /usr/bin/python3 is 3.9). Two commands:

``lint [--root DIR]``
    What ruff cannot see (ruff.toml's per-file-target-version already makes syntax newer than 3.8
    an error under plugins/, e.g. ``match``): vermin for standard-library names and arguments newer
    than 3.8 (``zip(strict=)``, ``datetime.UTC``, ``functools.cache``...), and an AST check for what
    vermin cannot know without types: ``str.removeprefix`` and other newer methods on any receiver,
    ``X | Y`` of types and builtin generics such as ``list[int]`` evaluated at run time (annotations
    are fine under ``from __future__ import annotations``), and host code importing controller-only code.

``units [--python 3.8 ...]``
    The unit tests of host code (tests/unit/plugins, less the controller-only ones) under every
    target Python that pyenv has, two at a time. Each interpreter gets a venv cached under
    ~/.cache/opsiface-sendmail/pyvenvs, keyed by its version and tests/unit/requirements-targets.txt
    (pip's wheel cache makes a rebuild cheap); ansible-core itself needs Python >= 3.11, so, as
    ``ansible-test units`` does for target-only Pythons, only the controller's ``ansible/module_utils``
    is put on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import fcntl
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = (3, 8)
TARGET_VERSIONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13")

# Controller-only code under plugins/: it runs with the controller's Python (>= 3.11 for ansible-core 2.19)
# and may use anything that has. Everything else under plugins/ runs on managed hosts.
CONTROLLER_ONLY = (
    "plugins/action/",
    "plugins/filter/",
    "plugins/plugin_utils/",
    "plugins/modules/fleet_report.py",
    "plugins/module_utils/_history.py",
    "plugins/module_utils/_report.py",
)
CONTROLLER_ONLY_TESTS = (
    "tests/unit/plugins/module_utils/test_report.py",
    "tests/unit/plugins/module_utils/test_history.py",
    "tests/unit/plugins/plugin_utils/",
    "tests/unit/plugins/modules/test_fleet_report.py",
)
REQUIREMENTS = "tests/unit/requirements-targets.txt"

# Methods of builtin types newer than 3.8, flagged on any receiver (vermin only sees them on literals).
NEWER_METHODS = {"removeprefix": "3.9", "removesuffix": "3.9", "bit_count": "3.10"}
BUILTIN_TYPES = {
    "bool", "bytearray", "bytes", "complex", "dict", "float", "frozenset", "int", "list", "memoryview",
    "object", "set", "str", "tuple", "type",
}  # fmt: skip
# Subscriptable at run time only from 3.9 (PEP 585); typing's own generics are fine.
GENERIC_BUILTINS = {"dict", "frozenset", "list", "set", "tuple", "type"}
GENERIC_CLASSES = {
    "collections": {"ChainMap", "Counter", "OrderedDict", "defaultdict", "deque"},
    "collections.abc": {
        "AsyncGenerator", "AsyncIterable", "AsyncIterator", "Awaitable", "ByteString", "Callable", "Collection",
        "Container", "Coroutine", "Generator", "ItemsView", "Iterable", "Iterator", "KeysView", "Mapping",
        "MappingView", "MutableMapping", "MutableSequence", "MutableSet", "Reversible", "Sequence", "Set",
        "ValuesView",
    },
    "contextlib": {"AbstractAsyncContextManager", "AbstractContextManager"},
    "os": {"PathLike"},
    "queue": {"Queue", "SimpleQueue"},
    "re": {"Match", "Pattern"},
}  # fmt: skip


def host_files(root: Path) -> list[Path]:
    """The Python files under plugins/ that run on managed hosts."""
    files = []
    for path in sorted((root / "plugins").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if not rel.startswith(CONTROLLER_ONLY):
            files.append(path)
    return files


# --- lint -------------------------------------------------------------------------------------------------------


class _Floor(ast.NodeVisitor):
    """Finds what fails at run time on Python 3.8 and that vermin cannot tell without types."""

    def __init__(self, rel: str, tree: ast.Module) -> None:
        self.rel = rel
        self.problems: list[str] = []
        self.lazy_annotations = any(
            isinstance(node, ast.ImportFrom)
            and node.module == "__future__"
            and any(a.name == "annotations" for a in node.names)
            for node in tree.body
        )
        # names bound to types: classes defined here, and what is imported from typing or as a generic class
        self.type_names = set(BUILTIN_TYPES)
        self.generic_names = set(GENERIC_BUILTINS)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                self.type_names.add(node.name)
            elif isinstance(node, ast.ImportFrom) and node.module in ("typing", "types", *GENERIC_CLASSES):
                for alias in node.names:
                    if node.module in ("typing", "types") or alias.name in GENERIC_CLASSES[node.module]:
                        self.type_names.add(alias.asname or alias.name)
                    if alias.name in GENERIC_CLASSES.get(node.module, ()):
                        self.generic_names.add(alias.asname or alias.name)

    def report(self, node: ast.AST, message: str) -> None:
        self.problems.append(f"{self.rel}:{node.lineno}:{node.col_offset + 1}: {message}")

    # Annotations are strings under `from __future__ import annotations`: not evaluated, not checked.
    def visit_arg(self, node: ast.arg) -> None:
        if node.annotation is not None and not self.lazy_annotations:
            self.visit(node.annotation)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for child in (*node.decorator_list, node.args):
            self.visit(child)
        if node.returns is not None and not self.lazy_annotations:
            self.visit(node.returns)
        for child in node.body:
            self.visit(child)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if not self.lazy_annotations:
            self.visit(node.annotation)
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.target)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in NEWER_METHODS:
            self.report(node, f"'.{func.attr}()' needs Python {NEWER_METHODS[func.attr]}")
        self.generic_visit(node)

    def is_generic_class(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.generic_names
        if isinstance(node, ast.Attribute):
            return node.attr in GENERIC_CLASSES.get(_dotted(node.value), ())
        return False

    def is_type(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Constant):
            return node.value is None
        if isinstance(node, ast.Name):
            return node.id in self.type_names
        if isinstance(node, ast.Attribute):
            return _dotted(node.value) in ("typing", "types") or self.is_generic_class(node)
        if isinstance(node, ast.Subscript):
            return self.is_type(node.value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self.is_type(node.left) or self.is_type(node.right)
        return False

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.BitOr) and self.is_type(node.left) and self.is_type(node.right):
            self.report(node, "'X | Y' of types evaluated at run time needs Python 3.10 (use typing.Union or a tuple)")
            return
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if self.is_generic_class(node.value):
            name = ast.unparse(node.value)
            self.report(node, f"'{name}[...]' evaluated at run time needs Python 3.9 (use typing's generics)")
        self.generic_visit(node)


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _imported_modules(node: ast.AST) -> set[str]:
    """The last components of what an import statement imports (`from . import _report` -> {_report})."""
    if isinstance(node, ast.Import):
        return {alias.name.rsplit(".", 1)[-1] for alias in node.names}
    if isinstance(node, ast.ImportFrom):
        return {(node.module or "").rsplit(".", 1)[-1], *(alias.name for alias in node.names)}
    return set()


def check_ast(root: Path, files: list[Path]) -> list[str]:
    problems = []
    controller_modules = {Path(p).stem for p in CONTROLLER_ONLY if p.startswith("plugins/module_utils/")}
    for path in files:
        rel = path.relative_to(root).as_posix()
        source = path.read_text(encoding="utf-8")
        try:
            tree = ast.parse(source, filename=rel, feature_version=FLOOR)
        except SyntaxError as exc:
            problems.append(f"{rel}:{exc.lineno}:{exc.offset}: syntax newer than Python 3.8: {exc.msg}")
            continue
        floor = _Floor(rel, tree)
        floor.visit(tree)
        problems.extend(floor.problems)
        for node in ast.walk(tree):
            for name in sorted(_imported_modules(node) & controller_modules):
                problems.append(
                    f"{rel}:{node.lineno}:{node.col_offset + 1}: host code imports controller-only {name} "
                    "(CONTROLLER_ONLY in hacking/target_python.py)"
                )
    return problems


def check_vermin(root: Path, files: list[Path]) -> list[str]:
    vermin = shutil.which("vermin", path=os.path.dirname(sys.executable)) or shutil.which("vermin")
    if vermin is None:
        return ["vermin is not installed (requirements.txt pins it; `make venv`)"]
    target = "-t=%d.%d-" % FLOOR
    cmd = [vermin, target, "--no-tips", "--violations", "--format", "parsable", *map(str, files)]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        return []
    # parsable: "file:line:col:py2:py3:feature", then a last line with the minimum versions only
    lines = [line for line in proc.stdout.splitlines() if line.count(":") >= 5 and not line.startswith(":")]
    if not lines:
        return [f"vermin failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[-400:]}"]
    out = []
    for line in lines:
        path, lineno, col, _py2, py3, feature = line.split(":", 5)
        if not lineno:  # a file's own minimum, after its findings
            continue
        rel = os.path.relpath(path, root)
        out.append(f"{rel}:{lineno}:{col or 1}: {feature.strip()} needs Python {py3} (vermin)")
    return out


def lint(root: Path) -> int:
    files = host_files(root)
    problems = check_ast(root, files) + check_vermin(root, files)
    for problem in problems:
        print(problem)
    floor = "%d.%d" % FLOOR
    if problems:
        print(f"target-python: {len(problems)} problem(s): host code must run on Python {floor}")
        return 1
    print(f"target-python: {len(files)} host files run on Python {floor} and newer (vermin, AST check)")
    return 0


# --- units ------------------------------------------------------------------------------------------------------


def pyenv_root() -> Path:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    try:
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
        return Path(out)
    except (OSError, subprocess.CalledProcessError):
        return Path.home() / ".pyenv"


def interpreter(version: str) -> Path | None:
    """The newest pyenv-installed CPython X.Y.Z for *version* X.Y."""
    found = []
    for path in glob.glob(str(pyenv_root() / "versions" / f"{version}.*" / "bin" / "python")):
        patch = Path(path).parent.parent.name.split(".")[2]
        if patch.isdigit():
            found.append((int(patch), Path(path)))
    return max(found)[1] if found else None


@contextlib.contextmanager
def locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def venv_for(python: Path, cache: Path, log) -> Path:
    """A venv for *python* with tests/unit/requirements-targets.txt, built once and reused."""
    full = subprocess.run(
        [str(python), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    requirements = ROOT / REQUIREMENTS
    key = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    venv = cache / f"py{full}-{key}"
    with locked(cache / f".py{full}-{key}.lock"):
        if (venv / ".complete").exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        steps = [
            [str(python), "-m", "venv", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "-r", str(requirements)],
            [str(venv / "bin" / "python"), "-m", "pip", "check"],
        ]
        for cmd in steps:
            log.write("$ " + " ".join(cmd) + "\n")
            log.flush()
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False)
            if proc.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                raise RuntimeError(f"building {venv} failed at: {' '.join(cmd)}")
        (venv / ".complete").write_text(f"{full} {requirements.name} {key}\n")
    return venv


def module_utils_path(into: Path) -> Path:
    """ansible.module_utils alone, from the controller's ansible-core: what a module imports on a host."""
    import ansible

    package = into / "ansible"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "module_utils").symlink_to(Path(ansible.__file__).parent / "module_utils")
    return into


def run_units(version: str, shim: Path, cache: Path, logs: Path, pytest_args: list[str]) -> tuple[str, int, str]:
    started = time.monotonic()
    log_path = logs / f"python{version}.log"
    with open(log_path, "w") as log:
        python = interpreter(version)
        if python is None:
            log.write(f"no Python {version} under {pyenv_root()}/versions\n")
            return version, 2, f"no Python {version} under {pyenv_root()}/versions"
        try:
            venv = venv_for(python, cache, log)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            return version, 2, str(exc)
        env = dict(os.environ, PYTHONPATH=str(shim), HYPOTHESIS_STORAGE_DIRECTORY=str(cache / f"hypothesis-{version}"))
        env.pop("PYTHONHOME", None)
        cmd = [
            str(venv / "bin" / "python"),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            # no --basetemp: tests/conftest.py gives each interpreter (and suite) its own, as they run at once
            "tests/unit/plugins",
            *(f"--ignore={path}" for path in CONTROLLER_ONLY_TESTS),
            *pytest_args,
        ]
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
        lines = [line for line in log_path.read_text().splitlines() if line.strip()]
        summary = lines[-1] if lines else ""
        # Every host module and module_util imports, tested or not (import-time failures such as a
        # module-level `list[int]` alias or `from typing import TypeAlias`).
        names = [
            "ansible_collections.opsiface.sendmail." + ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for path in host_files(ROOT)
        ]
        env["PYTHONPATH"] = f"{shim}{os.pathsep}{ROOT / '.collections'}"
        imports = [str(venv / "bin" / "python"), "-c", IMPORT_ALL, *names]
        log.write(f"$ import the {len(names)} host modules\n")
        log.flush()
        imported = subprocess.run(imports, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
        if imported.returncode != 0:
            summary += f"; importing host modules FAILED (see {log_path})"
    version_line = python.parent.parent.name
    rc = proc.returncode or imported.returncode
    return version, rc, f"Python {version_line}: {summary} ({time.monotonic() - started:.0f} s wall)"


IMPORT_ALL = """
import importlib, sys, traceback
failed = 0
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        failed += 1
        traceback.print_exc()
print("imported %d of %d host modules" % (len(sys.argv) - 1 - failed, len(sys.argv) - 1))
sys.exit(1 if failed else 0)
"""


def units(versions: list[str], jobs: int, pytest_args: list[str]) -> int:
    cache = Path(os.environ.get("OPSIFACE_PYVENVS", Path.home() / ".cache" / "opsiface-sendmail" / "pyvenvs"))
    logs = ROOT / "tests" / "output" / "unit-targets"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="opsiface-module-utils-") as tmp:
        shim = module_utils_path(Path(tmp))
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(lambda v: run_units(v, shim, cache, logs, pytest_args), versions))
    failed = []
    for version, rc, line in results:
        print(f"unit-targets: {line}")
        if rc != 0:
            failed.append(version)
            tail = (logs / f"python{version}.log").read_text().splitlines()[-40:]
            print("\n".join(f"  {t}" for t in tail))
    wall = time.monotonic() - started
    if failed:
        print(f"unit-targets: FAILED on Python {', '.join(failed)} (logs in {logs}); {wall:.0f} s", file=sys.stderr)
        return 1
    print(f"unit-targets: host code's unit tests passed on Python {', '.join(versions)} in {wall:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_lint = sub.add_parser("lint", help="vermin and the AST check on host code")
    p_lint.add_argument("--root", type=Path, default=ROOT, help="a checkout (default: this one)")
    p_units = sub.add_parser("units", help="host code's unit tests under every target Python")
    p_units.add_argument("--python", action="append", choices=TARGET_VERSIONS, help="only these (repeatable)")
    p_units.add_argument("--jobs", type=int, default=2, help="interpreters at once (default 2)")
    p_units.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --")
    args = parser.parse_args(argv)
    if args.command == "lint":
        return lint(args.root.resolve())
    return units(args.python or list(TARGET_VERSIONS), args.jobs, args.pytest_args)


if __name__ == "__main__":
    sys.exit(main())
