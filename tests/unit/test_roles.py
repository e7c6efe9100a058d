"""#16 item 3: explicit data flow on the controller. The report's input is passed as values; the only places
that name a role's registered variables are that role's register: lines and the extraction beside them
(``map('extract', hostvars, NAME)``). Renaming one without the other must fail here, loudly, instead of
every host silently becoming "left the play"."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"
EXTRACT = re.compile(r"""map\(\s*'extract'\s*,\s*hostvars\s*,\s*'([A-Za-z_][A-Za-z0-9_]*)'\s*\)""")
# A filter of this collection given hostvars would read variables by name itself.
HOSTVARS_INTO_FILTER = re.compile(r"opsiface\.sendmail\.\w+\((?:[^()]|\([^()]*\))*\bhostvars\b")
SET_FACT = ("set_fact", "ansible.builtin.set_fact")


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _tasks(node):
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ("block", "rescue", "always"):
            yield from _tasks(node.get(key))


def _yaml_files(role: Path) -> list[Path]:
    return sorted(p for sub in ("tasks", "vars", "defaults") for p in (role / sub).glob("*.yml"))


def defined_by(role: Path) -> set[str]:
    """The variables a role's tasks register or set as facts."""
    names = set()
    for path in sorted((role / "tasks").glob("*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text()) or []):
            if isinstance(task.get("register"), str):
                names.add(task["register"])
            for action in SET_FACT:
                if isinstance(task.get(action), dict):
                    names.update(k for k in task[action] if k != "cacheable")
    return names


def extracted_by(role: Path) -> dict[str, str]:
    """NAME -> file, for every map('extract', hostvars, NAME) in the role."""
    found = {}
    for path in _yaml_files(role):
        for text in _strings(yaml.safe_load(path.read_text())):
            for name in EXTRACT.findall(text):
                found.setdefault(name, path.relative_to(role.parent).as_posix())
    return found


def problems(roles_dir: Path) -> list[str]:
    roles = sorted(p for p in roles_dir.iterdir() if (p / "tasks").is_dir())
    public = {name for role in roles for name in defined_by(role) if not name.startswith("__")}
    out = []
    for role in roles:
        own = defined_by(role)
        for name, where in sorted(extracted_by(role).items()):
            if name.startswith("__") and name not in own:
                out.append(f"{where} extracts {name}, which no task of role {role.name} registers or sets")
            elif not name.startswith("__") and name not in public:
                out.append(f"{where} extracts {name}, which no role of the collection sets (a public fact)")
            if name.startswith("__") and not name.startswith(f"__{role.name}_"):
                out.append(f"{where} extracts {name}, a private variable of another role")
        for path in _yaml_files(role):
            for text in _strings(yaml.safe_load(path.read_text())):
                if HOSTVARS_INTO_FILTER.search(text):
                    out.append(
                        f"{path.relative_to(roles_dir)} passes hostvars to a filter of the collection: pass values"
                    )
    return out


def test_every_extracted_result_is_registered_by_its_own_role():
    assert problems(ROLES) == []


def test_the_report_inputs_are_extracted_where_they_are_registered():
    assert {"__health_check_status", "health_check_past_runs"} <= set(extracted_by(ROLES / "health_check"))
    assert "restart_result" in extracted_by(ROLES / "crash_capture")


def test_renaming_a_registered_result_fails_here(tmp_path):
    """The failure this guards against: collect.yml's register renamed, vars/main.yml not (or the reverse)."""
    copy = tmp_path / "roles"
    shutil.copytree(ROLES, copy)
    collect = copy / "health_check" / "tasks" / "collect.yml"
    collect.write_text(collect.read_text().replace("register: __health_check_status", "register: __health_check_state"))
    assert problems(copy) == [
        "health_check/vars/main.yml extracts __health_check_status, which no task of role health_check registers or sets"
    ]
    shutil.rmtree(copy)
    shutil.copytree(ROLES, copy)
    restart = copy / "restart" / "tasks" / "main.yml"
    restart.write_text(restart.read_text().replace("    restart_result:", "    restart_results:"))
    assert problems(copy) == [
        "crash_capture/vars/main.yml extracts restart_result, which no role of the collection sets (a public fact)"
    ]


def test_a_filter_given_hostvars_fails_here(tmp_path):
    copy = tmp_path / "roles"
    shutil.copytree(ROLES, copy)
    vars_file = copy / "health_check" / "vars" / "main.yml"
    vars_file.write_text(
        vars_file.read_text() + '__x: "{{ ansible_play_hosts_all | opsiface.sendmail.sendmail_results(hostvars) }}"\n'
    )
    assert problems(copy) == ["health_check/vars/main.yml passes hostvars to a filter of the collection: pass values"]
