#!/usr/bin/env python3
"""Benchmark: the CPU a module call costs inside the managed host, against ping's, old code beside new.

    python3 bench/module_cpu.py --base COMMIT [--prefix pc] [--rounds 15] [--python /usr/bin/python3]

Needs one lab host PREFIX01 (`lab/lab.py --prefix PREFIX --inventory tests/output/inventory-PREFIX.ini up
--count 1`). Exports COMMIT (`git archive`, as bench/healthcheck_ab.py does) and, for it and for this
checkout, has Ansible build and leave on the host (ANSIBLE_KEEP_REMOTE_FILES, no pipelining) the AnsiballZ
payload of:
  - ping:    ansible.builtin.ping (the floor of any module call; built once, from this checkout)
  - status:  sendmail_status with the health check's areas process, config, syslog, queue, smtp
  - queue:   sendmail_queue's summary of both queues (empty in a fresh lab host)
Then, inside the host (no docker exec, no controller in the figures), runs every payload alternately
ROUNDS times with subprocess and prints the medians of the CPU it took (RUSAGE_CHILDREN user + sys: the
module's Python and any command it ran) and of the wall time, each against ping's; and, from
`python -X importtime` (median of 5), the self time of the imports of the collection's module_utils and of
all imports; and, with builtins.compile timed (median of 5), how many times the collection's files were
compiled and the CPU ms that took. Only the side-by-side figures of one run are comparable: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from healthcheck import ROOT, VENV_BIN, tree_env
from healthcheck_ab import export

WHERE = "/root/module-cpu"
MODULES = {
    "status": ("opsiface.sendmail.sendmail_status", {"areas": ["process", "config", "syslog", "queue", "smtp"]}),
    "queue": ("opsiface.sendmail.sendmail_queue", {"operation": "summary"}),
}

# Run inside the host: argv = rounds, then the payloads. Prints one JSON object.
RUNNER = r"""
import json, os, re, resource, statistics, subprocess, sys, time
rounds, files = int(sys.argv[1]), sys.argv[2:]
cpu = {f: [] for f in files}
wall = {f: [] for f in files}
failed = {}
for _ in range(rounds):
    for f in files:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, f], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        wall[f].append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu[f].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != 0 or b'"failed": true' in proc.stdout:
            failed[f] = proc.stdout.decode("utf-8", "replace")[-2000:]
# the payload run with builtins.compile timed (CPU) for the collection's files: the calls and their ms
COMPILES = '''
import builtins, json, runpy, sys, time
calls, spent = [0], [0.0]
real = builtins.compile
def timed(source, filename, *args, **kwargs):
    started = time.process_time()
    try:
        return real(source, filename, *args, **kwargs)
    finally:
        if "ansible_collections/opsiface/" in str(filename):
            calls[0] += 1
            spent[0] += time.process_time() - started
builtins.compile = timed
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit:
    pass
print(json.dumps({"calls": calls[0], "ms": spent[0] * 1000}), file=sys.stderr)
'''
line = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")
imports = {}
for f in files:
    ours, total = [], []
    for _ in range(5):
        err = subprocess.run([sys.executable, "-X", "importtime", f], capture_output=True).stderr.decode()
        found = [m.groups() for m in map(line.match, err.splitlines()) if m]
        ours.append(sum(int(s) for s, _c, _i, n in found if n.startswith("ansible_collections.opsiface")))
        total.append(sum(int(s) for s, _c, _i, _n in found))
    imports[f] = {"ours_ms": statistics.median(ours) / 1000, "all_ms": statistics.median(total) / 1000}
    runs = [json.loads(subprocess.run([sys.executable, "-c", COMPILES, f], capture_output=True).stderr.splitlines()[-1])
            for _ in range(5)]
    imports[f].update(compiles=runs[0]["calls"], compile_ms=statistics.median(r["ms"] for r in runs))
print(json.dumps({
    "python": sys.version.split()[0],
    "cpu_ms": {f: statistics.median(v) * 1000 for f, v in cpu.items()},
    "wall_ms": {f: statistics.median(v) * 1000 for f, v in wall.items()},
    "imports": imports,
    "failed": failed,
}))
"""


def docker(host: str, *argv: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["docker", "exec", "-i", host, *argv], input=stdin, capture_output=True, check=True).stdout


def capture(tree: Path, inventory: Path, host: str, module: str, args: dict, into: str) -> None:
    """The AnsiballZ payload Ansible runs for *module* from *tree*, kept on the host as *into*."""
    docker(host, "sh", "-c", "rm -rf /root/.ansible/tmp/ansible-tmp-*")
    env = dict(tree_env(tree), ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_PIPELINING="False")
    cmd = [str(VENV_BIN / "ansible"), "-i", str(inventory), host, "-m", module]
    cmd += ["-a", json.dumps(args)] if args else []
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    script = f"mkdir -p {WHERE} && cp /root/.ansible/tmp/ansible-tmp-*/AnsiballZ_*.py {into}"
    docker(host, "sh", "-c", script)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the commit to compare with")
    ap.add_argument("--prefix", default="pc")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--python", default="/usr/bin/python3", help="the host's Python that runs the payloads")
    args = ap.parse_args()
    host = f"{args.prefix}01"
    inventory = ROOT / "tests" / "output" / f"inventory-{args.prefix}.ini"
    files = {"ping": f"{WHERE}/ping.py"}
    with tempfile.TemporaryDirectory(prefix="module-cpu-") as tmp:
        base = Path(tmp)
        export(args.base, base)
        capture(ROOT, inventory, host, "ansible.builtin.ping", {}, files["ping"])
        for label, tree in (("base", base), ("this", ROOT)):
            for name, (module, margs) in MODULES.items():
                files[f"{name} {label}"] = f"{WHERE}/{name}-{label}.py"
                capture(tree, inventory, host, module, margs, files[f"{name} {label}"])
    out = json.loads(docker(host, args.python, "-", str(args.rounds), *files.values(), stdin=RUNNER.encode()))
    if out["failed"]:
        raise SystemExit(f"payloads failed: {json.dumps(out['failed'], indent=1)}")
    ping_cpu, ping_wall = out["cpu_ms"][files["ping"]], out["wall_ms"][files["ping"]]
    print(f"{host}, Python {out['python']}, {args.rounds} alternating rounds, medians; base {args.base}")
    print(
        f"{'payload':<13} {'CPU ms':>7} {'x ping':>7} {'-ping':>7} {'wall ms':>8} {'x ping':>7} {'ours imp':>9} {'all imp':>8}"
        f" {'compiles':>9} {'comp ms':>8}"
    )
    for label, path in files.items():
        c, w, imp = out["cpu_ms"][path], out["wall_ms"][path], out["imports"][path]
        print(
            f"{label:<13} {c:7.1f} {c / ping_cpu:7.2f} {c - ping_cpu:7.1f} {w:8.1f} {w / ping_wall:7.2f} "
            f"{imp['ours_ms']:9.1f} {imp['all_ms']:8.1f} {imp['compiles']:9d} {imp['compile_ms']:8.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
