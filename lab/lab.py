#!/usr/bin/env python3
"""The opsiface.sendmail lab: a fleet of real sendmail 8.17 hosts in containers.

    lab.py build              build the image (debootstrap + docker import), once
    lab.py up --count N       start hosts mx01..mxNN and write the inventory
    lab.py up ... --python 3.9    ... whose modules run with the controller's pyenv Python 3.9
    lab.py up --count N --connection ssh
                              the same hosts reached over SSH as a sudo user (see below)
    lab.py down               remove the hosts
    lab.py status             list the hosts
    lab.py fault HOST KIND    put a host into a known fault (see `fault --help`)

Every host is a Debian 12 root file system with Debian's own sendmail,
rsyslog writing /var/log/mail.log, and sendmail started through
/etc/init.d/sendmail under a real init (tini) so the listener's PPID is 1.
Hosts are reached with `docker exec` (the community.docker.docker
connection) and, for SMTP from the controller, through port 25 published on
127.0.0.1 only. Remote mail is routed to a refusing smart host on the
container's own loopback, and the resolver points at 127.0.0.1: deferred mail
stays deferred and nothing leaves the host.

With --connection ssh, new hosts also run sshd, published on 127.0.0.1 only,
and the inventory reaches them as `ops` (key login, sudo without a password)
with become left to the playbooks; the key is lab/.state/PREFIX/id_ed25519
(0600). `opspw` needs a password for sudo (--ssh-user opspw) and `opsro` has no
sudo but reads the mail log and queues through its groups (adm, smmsp).
--variant postfix starts hosts whose MTA is Postfix instead of sendmail.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parent
IMAGE_DIR = LAB_DIR / "image"
IMAGE_REPO = "opsiface-sendmail-lab"
LABEL = "opsiface.lab"
SUITE = "bookworm"
PACKAGES = ["python3", "sendmail", "rsyslog", "procps", "iproute2", "tini"]
DEFAULT_INVENTORY = LAB_DIR / "inventory.ini"
# Users made in the image (customize.sh) for hosts reached over SSH: ops sudo without a password,
# opspw sudo with one, opsro no sudo but in the groups adm (mail log) and smmsp (queues).
SSH_USERS = ("ops", "opspw", "opsro")  # opspw's sudo password: lab-sudo-password


def say(msg: str) -> None:
    print(f"lab: {msg}", flush=True)


def run(cmd: list[str], check: bool = True, capture: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, text=True, capture_output=capture, **kw)


# --------------------------------------------------------------------- image
def image_inputs_digest() -> str:
    """Digest of everything that goes into the image: rebuild only when it changes."""
    h = hashlib.sha256()
    h.update(SUITE.encode())
    h.update(" ".join(PACKAGES).encode())
    for path in sorted(IMAGE_DIR.iterdir()):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def image_tag() -> str:
    return f"{IMAGE_REPO}:{image_inputs_digest()}"


def image_exists(tag: str) -> bool:
    return run(["docker", "image", "inspect", tag], check=False).returncode == 0


def debian_mirror() -> str:
    """The Debian mirror this machine's apt already uses (no host is hard-coded)."""
    override = os.environ.get("LAB_DEBIAN_MIRROR")
    if override:
        return override
    deb822 = Path("/etc/apt/sources.list.d/debian.sources")
    if deb822.exists():
        stanza: dict[str, str] = {}
        for line in [*deb822.read_text().splitlines(), ""]:
            if not line.strip():
                if "security" not in stanza.get("Suites", "") and stanza.get("URIs"):
                    return stanza["URIs"].split()[0]
                stanza = {}
            elif not line.startswith("#") and ":" in line:
                key, _sep, value = line.partition(":")
                stanza[key.strip()] = value.strip()
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and "security" not in parts[2]:
                return parts[1]
    raise SystemExit("lab: no Debian mirror found in /etc/apt; set LAB_DEBIAN_MIRROR")


def build(force: bool = False) -> str:
    tag = image_tag()
    if image_exists(tag) and not force:
        run(["docker", "tag", tag, f"{IMAGE_REPO}:latest"])  # molecule's platforms use :latest
        say(f"image {tag} is up to date")
        return tag
    for tool in ("debootstrap", "docker"):
        if not shutil.which(tool):
            raise SystemExit(f"lab: {tool} is missing; run lab/ensure-docker.sh first")
    mirror = debian_mirror()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="opsiface-lab-", dir="/var/tmp") as tmp:
        root = Path(tmp) / "root"
        say(f"building {tag}: debootstrap {SUITE} with {', '.join(PACKAGES)} (about a minute)")
        proc = run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(root), mirror],
            check=False,
        )
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            raise SystemExit(f"lab: debootstrap failed (rc {proc.returncode})")
        say("adding gdb, strace, bsd-mailx and the lab's sendmail.mc changes (chroot)")
        shutil.copy(IMAGE_DIR / "customize.sh", root / "tmp" / "customize.sh")
        shutil.copy(IMAGE_DIR / "lab-init", root / "tmp" / "lab-init")
        shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
        run(["mount", "-t", "proc", "proc", str(root / "proc")])
        try:
            proc = run(["chroot", str(root), "/bin/sh", "/tmp/customize.sh"], check=False)
        finally:
            run(["umount", str(root / "proc")], check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            raise SystemExit(f"lab: image customisation failed (rc {proc.returncode})")
        for leftover in ("tmp/customize.sh", "tmp/lab-init"):
            (root / leftover).unlink()
        (root / "etc" / "resolv.conf").write_text("")
        say("importing the root file system into docker")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(
            [
                "docker",
                "import",
                "-c",
                'CMD ["/usr/bin/tini", "--", "/usr/local/sbin/lab-init"]',
                "-c",
                "ENV TZ=UTC",
                "-c",
                f"LABEL {LABEL}.image={tag}",
                "-",
                tag,
            ],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
        )
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or imp.returncode != 0:
            raise SystemExit(f"lab: docker import failed: {imp.stderr.strip()}")
    run(["docker", "tag", tag, f"{IMAGE_REPO}:latest"])
    say(f"built {tag} in {time.monotonic() - started:.0f} s")
    return tag


# --------------------------------------------------------------------- hosts
def host_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i:02d}" for i in range(1, count + 1)]


def lab_containers(prefix: str | None = None) -> list[dict]:
    fmt = "{{json .}}"
    filters = ["--filter", f"label={LABEL}"]
    if prefix is not None:
        filters += ["--filter", f"label={LABEL}.prefix={prefix}"]
    out = run(["docker", "ps", "-a", *filters, "--format", fmt]).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def container_state(name: str) -> str | None:
    proc = run(["docker", "inspect", "--format", "{{.State.Status}}", name], check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def smtp_port(name: str) -> int:
    out = run(["docker", "port", name, "25/tcp"]).stdout.split()
    return int(out[0].rsplit(":", 1)[1])


READY_PROBE = (
    "import socket,sys\n"
    "s=socket.create_connection(('127.0.0.1',25),2);s.settimeout(5)\n"
    "b=s.recv(512);s.sendall(b'QUIT\\r\\n');s.recv(512)\n"
    "sys.exit(0 if b.startswith(b'220 ') else 1)\n"
)


def wait_ready(names: list[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    pending = list(names)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            probe = run(["docker", "exec", name, "python3", "-c", READY_PROBE], check=False)
            maillog = run(["docker", "exec", name, "test", "-s", "/var/log/mail.log"], check=False)
            if probe.returncode == 0 and maillog.returncode == 0 and ssh_ready(name):
                pending.remove(name)
        if pending:
            time.sleep(0.5)
    if pending:
        raise SystemExit(f"lab: hosts not answering 220 after {timeout:.0f} s: {', '.join(pending)}")


def up(
    count: int,
    prefix: str,
    inventory: Path,
    tmpfs: list[str] | None = None,
    connection: str = "docker",
    variant: str = "sendmail",
    ssh_user: str = SSH_USERS[0],
    pythons: list[str] | None = None,
) -> list[str]:
    """Start the hosts of *prefix* up to *count*; *connection*, *variant*, *ssh_user* apply to new ones,
    *pythons* (target Pythons) to new ones in turn."""
    tag = variant_image(build(), variant, prefix)
    names = host_names(prefix, count)
    interpreters = target_pythons(pythons or [])
    started = []
    mounted: dict[str, str] = {}
    for name in names:
        state = container_state(name)
        if state == "running":
            say(f"{name} is already running")
            continue
        if state is not None:
            say(f"{name} exists ({state}); starting it")
            run(["docker", "start", name])
            started.append(name)
            continue
        python = interpreters[len(mounted) % len(interpreters)] if interpreters else None
        if python:
            mounted[name] = python
        say(
            f"starting {name} ({name}.lab.test{', ' + variant if variant != 'sendmail' else ''}, {connection})"
            + (f", modules run with {python}" if python else "")
        )
        run(
            [
                "docker",
                "run",
                "-d",
                "--name",
                name,
                "--hostname",
                f"{name}.lab.test",
                "--label",
                LABEL,
                "--label",
                f"{LABEL}.prefix={prefix}",
                "--label",
                f"{LABEL}.variant={variant}",
                *ssh_run_args(connection, ssh_user),
                "--cap-add",
                "SYS_PTRACE",
                "--dns",
                "127.0.0.1",
                "-p",
                "127.0.0.1::25",
                # The queues on a real file system (a volume), as on a mail server, not on the
                # container's overlay: listing and opening 10^5 files behaves as in production.
                *[
                    arg
                    for path in ("/var/spool/mqueue", "/var/spool/mqueue-client")
                    if not any(spec.split(":")[0] == path for spec in tmpfs or [])  # a tmpfs replaces the volume
                    for arg in ("-v", path)
                ],
                *[arg for spec in tmpfs or [] for arg in ("--tmpfs", spec)],
                *python_run_args(python),
                tag,
            ]
        )
        started.append(name)
    if connection == "ssh":
        install_ssh_keys([n for n in started if ssh_port(n)], ssh_key(prefix))
    wait_ready(started)  # the hosts already running are as their tests left them (a fault may be deliberate)
    check_pythons(mounted)
    write_inventory(prefix, inventory)
    say(f"{len(names)} host(s) up; inventory: {inventory}")
    return names


def write_inventory(prefix: str, inventory: Path) -> None:
    running = sorted((c for c in lab_containers(prefix) if c["State"] == "running"), key=lambda c: c["Names"])
    docker_hosts = [c["Names"] for c in running if container_labels(c).get(f"{LABEL}.connection") != "ssh"]
    ssh_hosts = [c for c in running if container_labels(c).get(f"{LABEL}.connection") == "ssh"]
    lines = [
        "# Written by lab/lab.py: the lab's sendmail hosts, reached with docker exec",
        "# (group sendmail) or over SSH (group sendmail_ssh, a child of sendmail).",
        "# lab_smtp_port: port 25 of the host, published on the controller's 127.0.0.1.",
        "[sendmail]",
    ]
    for name in docker_hosts:
        python = python_of(next(c for c in running if c["Names"] == name))
        python_var = f" ansible_python_interpreter={python}" if python else ""
        lines.append(f"{name} ansible_host={name} lab_smtp_port={smtp_port(name)}{python_var}")
    lines += [
        "",
        "[sendmail:vars]",
        "ansible_connection=community.docker.docker",
        "ansible_python_interpreter=/usr/bin/python3",
        "",
    ]
    if ssh_hosts:
        lines += ssh_inventory_lines(prefix, ssh_hosts)
    inventory.parent.mkdir(parents=True, exist_ok=True)
    inventory.write_text("\n".join(lines))


def container_labels(container: dict) -> dict[str, str]:
    """The labels of a `docker ps --format '{{json .}}'` entry (one "k=v,k=v" string there)."""
    labels = {}
    for item in (container.get("Labels") or "").split(","):
        if item:
            key, _sep, value = item.partition("=")
            labels[key] = value
    return labels


# --------------------------------------------------------------------- SSH


def state_dir(prefix: str) -> Path:
    """lab/.state/PREFIX, 0700: what the lab keeps for a prefix (the SSH key)."""
    path = LAB_DIR / ".state" / prefix
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def ssh_key(prefix: str) -> Path:
    """The prefix's SSH key (ed25519, 0600), made once."""
    key = state_dir(prefix) / "id_ed25519"
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"opsiface-lab-{prefix}", "-f", str(key)])
    os.chmod(key, 0o600)
    return key


def ssh_run_args(connection: str, ssh_user: str) -> list[str]:
    """docker run arguments of a host reached over SSH: sshd on, port 22 published on 127.0.0.1."""
    if connection != "ssh":
        return ["--label", f"{LABEL}.connection=docker"]
    if ssh_user not in SSH_USERS:
        raise SystemExit(f"lab: --ssh-user must be one of {', '.join(SSH_USERS)}, not {ssh_user!r}")
    return [
        "--label",
        f"{LABEL}.connection=ssh",
        "--label",
        f"{LABEL}.ssh_user={ssh_user}",
        "-e",
        "LAB_SSHD=1",
        "-p",
        "127.0.0.1::22",
    ]


AUTHORIZE_SCRIPT = r"""
set -e
for user in "$@"; do
  home=$(getent passwd "$user" | cut -d: -f6)
  install -d -m 0700 -o "$user" -g "$user" "$home/.ssh"
  cat /tmp/lab-key.pub > "$home/.ssh/authorized_keys"
  chown "$user:$user" "$home/.ssh/authorized_keys"
  chmod 0600 "$home/.ssh/authorized_keys"
done
rm -f /tmp/lab-key.pub
"""


def install_ssh_keys(names: list[str], key: Path) -> None:
    """The prefix's public key as every lab user's authorized key on *names*."""
    pub = key.with_suffix(".pub").read_text()
    for name in names:
        dexec(name, "sh", "-c", "cat > /tmp/lab-key.pub", stdin=pub)
        dexec(name, "sh", "-c", AUTHORIZE_SCRIPT, "-", *SSH_USERS)


def ssh_port(name: str) -> int | None:
    proc = run(["docker", "port", name, "22/tcp"], check=False)
    out = proc.stdout.split()
    return int(out[0].rsplit(":", 1)[1]) if proc.returncode == 0 and out else None


def ssh_ready(name: str) -> bool:
    """True for a docker-connection host, or when sshd answers with its banner on the published port."""
    port = ssh_port(name)
    if port is None:
        return True
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.settimeout(5)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def ssh_inventory_lines(prefix: str, containers: list[dict]) -> list[str]:
    key = ssh_key(prefix)
    lines = [
        "# Reached over SSH as the user each host was started with (lab.py up --ssh-user, default ops);",
        "# the playbooks become root with sudo themselves.",
        "[sendmail_ssh]",
    ]
    for c in containers:
        name = c["Names"]
        user = container_labels(c).get(f"{LABEL}.ssh_user") or SSH_USERS[0]
        python = python_of(c)
        lines.append(
            f"{name} ansible_host=127.0.0.1 ansible_port={ssh_port(name)} ansible_user={user} "
            f"lab_smtp_port={smtp_port(name)}" + (f" ansible_python_interpreter={python}" if python else "")
        )
    lines += [
        "",
        "[sendmail:children]",
        "sendmail_ssh",
        "",
        "[sendmail_ssh:vars]",
        "ansible_connection=ssh",
        f"ansible_ssh_private_key_file={key}",
        # the hosts' keys are made at boot and their ports change when they are recreated
        "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR'",
        "",
    ]
    return lines


# --------------------------------------------------------------------- variants
# Postfix instead of sendmail: a second image made from the first by installing the Postfix
# packages customize.sh downloaded (offline: installing Postfix removes sendmail's packages).
POSTFIX_SCRIPT = r"""
set -e
export DEBIAN_FRONTEND=noninteractive
printf '#!/bin/sh
exit 101
' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d
echo 'postfix postfix/main_mailer_type select Internet Site' | debconf-set-selections
echo 'postfix postfix/mailname string lab.test' | debconf-set-selections
apt-get install -y -q --no-install-recommends /var/cache/lab-debs/postfix/*.deb >/dev/null
rm -f /usr/sbin/policy-rc.d
# the host's own name at boot (not the build container's); remote mail deferred as on the sendmail hosts
postconf -X myhostname
postconf -e 'mydestination = $myhostname, localhost' 'relayhost = [127.0.0.2]:2526' 'inet_interfaces = all'
! test -e /usr/sbin/sendmail-mta
"""


def variant_image(tag: str, variant: str, prefix: str) -> str:
    """The image of *variant* (sendmail: *tag* itself), made from *tag* once and kept."""
    if variant == "sendmail":
        return tag
    if variant != "postfix":
        raise SystemExit(f"lab: unknown variant {variant!r} (sendmail, postfix)")
    derived = f"{tag}-postfix"
    if image_exists(derived):
        return derived
    builder = f"{prefix}-build-postfix"
    say(f"making {derived}: Postfix installed from the image's package cache (offline)")
    run(["docker", "rm", "-f", builder], check=False)
    labels = ["--label", LABEL, "--label", f"{LABEL}.prefix={prefix}"]
    proc = run(
        ["docker", "run", "--name", builder, *labels, "--network", "none", tag, "sh", "-c", POSTFIX_SCRIPT], check=False
    )
    try:
        if proc.returncode != 0:
            raise SystemExit(f"lab: installing Postfix failed (rc {proc.returncode}): {proc.stderr[-2000:]}")
        run(
            [
                "docker",
                "commit",
                "--change",
                'CMD ["/usr/bin/tini", "--", "/usr/local/sbin/lab-init"]',
                "--change",
                f"LABEL {LABEL}.image={derived}",
                builder,
                derived,
            ]
        )
    finally:
        run(["docker", "rm", "-f", builder], check=False)
    return derived


def down(prefix: str | None, inventory: Path) -> None:
    containers = lab_containers(prefix)
    if containers:
        names = [c["Names"] for c in containers]
        say(f"removing {', '.join(sorted(names))}")
        run(["docker", "rm", "-f", "-v", *names])
    else:
        say("no lab hosts to remove")
    if inventory.exists():
        inventory.unlink()


def status(prefix: str | None) -> None:
    for c in sorted(lab_containers(prefix), key=lambda c: c["Names"]):
        print(f"{c['Names']:<10} {c['State']:<10} {c['Ports']}")


# ------------------------------------------------------------ target Pythons
# The image's /usr/bin/python3 is Debian 12's 3.11. `up --python 3.9` gives new hosts another target Python
# for the modules: the controller's pyenv CPython 3.9.x, bind-mounted read-only at the same path (pyenv's
# builds link only libc, libm and their own libpython), named per host in the inventory as
# ansible_python_interpreter. The docker connection runs as root; an unprivileged SSH user would also need
# o+rx on each parent directory of the mount.
PYTHON_LABEL = f"{LABEL}.python"


def pyenv_root() -> Path:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    proc = (
        subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
        if shutil.which("pyenv")
        else None
    )
    return Path(proc.stdout.strip()) if proc and proc.returncode == 0 else Path.home() / ".pyenv"


def target_pythons(versions: list[str]) -> list[str | None]:
    """The interpreter paths for `--python` values: X.Y (the newest pyenv X.Y.Z) or `system` (None)."""
    found: list[str | None] = []
    for version in versions:
        if version == "system":
            found.append(None)
            continue
        installs = sorted(
            (int(d.name.split(".")[2]), d)
            for d in (pyenv_root() / "versions").glob(f"{version}.*")
            if d.name.count(".") == 2 and d.name.split(".")[2].isdigit()
        )
        if not installs:
            raise SystemExit(f"lab: no Python {version} under {pyenv_root()}/versions (pyenv install {version})")
        interpreter = installs[-1][1] / "bin" / f"python{version}"
        if not os.access(interpreter, os.X_OK):
            raise SystemExit(f"lab: {interpreter} is not an executable")
        found.append(str(interpreter))
    return found


def python_run_args(interpreter: str | None) -> list[str]:
    """docker run arguments for a host whose modules run with *interpreter* (None: the image's python3)."""
    if interpreter is None:
        return []
    install = str(Path(interpreter).parent.parent)
    return ["-v", f"{install}:{install}:ro", "--label", f"{PYTHON_LABEL}={interpreter}"]


def python_of(container: dict) -> str | None:
    """The interpreter a lab host was started with (its label), from `docker ps --format json`."""
    for label in (container.get("Labels") or "").split(","):
        key, _sep, value = label.partition("=")
        if key == PYTHON_LABEL and value:
            return value
    return None


def check_pythons(started: dict[str, str]) -> None:
    """The mounted interpreters run inside their hosts (or `up` fails, naming the host and the error)."""
    for name, interpreter in started.items():
        proc = run(["docker", "exec", name, interpreter, "-c", "import sys, zlib; print(sys.version.split()[0])"],
                   check=False)  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(f"lab: {interpreter} does not run on {name}: {(proc.stderr or proc.stdout).strip()}")
        say(f"{name}: modules run with Python {proc.stdout.strip()} ({interpreter})")


# --------------------------------------------------------------------- faults
def dexec(host: str, *cmd: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    args = ["docker", "exec"] + (["-i"] if stdin is not None else []) + [host, *cmd]
    proc = subprocess.run(args, input=stdin, encoding="utf-8", errors="replace", capture_output=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"lab: {' '.join(cmd)} on {host} failed (rc {proc.returncode}): {proc.stderr.strip()}")
    return proc


def listener_pid(host: str) -> int | None:
    proc = dexec(host, "head", "-n1", "/var/run/sendmail/mta/sendmail.pid", check=False)
    text = proc.stdout.strip()
    return int(text) if proc.returncode == 0 and text.isdigit() else None


BACKLOG_SCRIPT = Path(__file__).resolve().parent / "backlog.py"
SMARTHOST_SCRIPT = Path(__file__).resolve().parent / "smarthost.py"


def fault(host: str, kind: str, args: argparse.Namespace) -> None:
    pid = listener_pid(host)
    if kind == "kill":
        if pid is None:
            raise SystemExit(f"lab: {host} has no listener PID to kill")
        dexec(host, "kill", "-9", str(pid))
        say(f"{host}: listener {pid} killed with SIGKILL (PidFile left stale)")
    elif kind == "service-stop":
        dexec(host, "/etc/init.d/sendmail", "stop")
        say(f"{host}: sendmail stopped with /etc/init.d/sendmail stop")
    elif kind == "stop":
        if pid is None:
            raise SystemExit(f"lab: {host} has no listener PID to stop")
        dexec(host, "kill", "-STOP", str(pid))
        say(f"{host}: listener {pid} stopped with SIGSTOP (hung)")
    elif kind == "cont":
        if pid is not None:
            dexec(host, "kill", "-CONT", str(pid))
        say(f"{host}: listener {pid} continued")
    elif kind == "backlog":
        argv = [
            "python3",
            "-",
            "--count",
            str(args.count),
            "--age-hours",
            str(args.age_hours),
            "--domains",
            args.domains,
            "--mode",
            args.mode,
        ]
        proc = dexec(host, *argv, stdin=BACKLOG_SCRIPT.read_text())
        say(f"{host}: {proc.stdout.strip()}")
    elif kind == "slow-smarthost":
        # slow.example resolves from /etc/hosts (the lab's resolver answers nothing), so mail to it is relayed
        dexec(
            host,
            "sh",
            "-c",
            "pkill -f '^python3 /usr/local/lib/lab-smarthost.py'; rm -rf /var/lib/lab-smarthost",
            check=False,
        )
        dexec(host, "sh", "-c", "grep -q ' slow.example$' /etc/hosts || echo '192.0.2.10 slow.example' >> /etc/hosts")
        dexec(host, "sh", "-c", "cat > /usr/local/lib/lab-smarthost.py", stdin=SMARTHOST_SCRIPT.read_text())
        run(["docker", "exec", "-d", host, "python3", "/usr/local/lib/lab-smarthost.py", "--delay", str(args.delay)])
        ready = "import socket; socket.create_connection(('127.0.0.2', 2526), timeout=1).close()"
        for _attempt in range(50):
            if dexec(host, "python3", "-c", ready, check=False).returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise SystemExit(f"lab: the slow smart host on {host} did not start")
        say(
            f"{host}: a smart host on 127.0.0.2:2526 accepts mail for slow.example after {args.delay} s per message; "
            "deliveries are listed in /var/lib/lab-smarthost/deliveries"
        )
    elif kind == "syslog-missing":
        dexec(host, "sh", "-c", "pkill -x rsyslogd; rm -f /var/log/mail.log /var/log/mail.* /var/log/syslog*")
        say(f"{host}: rsyslogd stopped; /var/log/mail.log and /var/log/syslog removed")
    elif kind == "broken-cf":
        dexec(
            host,
            "sh",
            "-c",
            "cp -p /etc/mail/sendmail.cf /etc/mail/sendmail.cf.lab-good && "
            "printf 'this line is not sendmail.cf syntax\\n' >> /etc/mail/sendmail.cf",
        )
        say(f"{host}: a garbage line appended to /etc/mail/sendmail.cf (good copy: sendmail.cf.lab-good)")
    elif kind == "dumpable":
        dexec(host, "sh", "-c", DUMPABLE_SCRIPT)
        wait_ready([host])
        say(f"{host}: the MTA daemon now runs from a copy of sendmail without the set-gid bit (dumpable on abort)")
    elif kind == "no-sendmail":
        dexec(host, "sh", "-c", NO_SENDMAIL_SCRIPT)
        say(f"{host}: sendmail's packages removed: no /usr/sbin/sendmail, no sendmail.cf, no daemon")
    elif kind == "heal":
        heal(host)
    else:  # argparse keeps us from getting here
        raise SystemExit(f"lab: unknown fault {kind}")


# Linux marks a process non-dumpable when it runs a set-id binary (Debian's sendmail is set-gid smmsp) and
# fs.suid_dumpable is 0, so `kill -6` leaves no core. A site that wants cores on abort runs the MTA from a copy
# without the set-gid bit (the daemon runs as root and needs none); that is what this fault does.
DUMPABLE_SCRIPT = r"""
set -e
/etc/init.d/sendmail stop >/dev/null 2>&1
cp -p /usr/libexec/sendmail/sendmail /usr/libexec/sendmail/sendmail-mta-dumpable
chmod 0755 /usr/libexec/sendmail/sendmail-mta-dumpable
ln -sfn /usr/libexec/sendmail/sendmail-mta-dumpable /etc/alternatives/sendmail-mta
/etc/init.d/sendmail start >/dev/null 2>&1
"""

# A host where sendmail is not installed: its packages purged (offline: removing needs no mirror).
# sendmail-base stays, because its removal script cannot remove the queue directories, which are
# volumes in the lab; the configuration it generated goes.
NO_SENDMAIL_SCRIPT = r"""
set -e
export DEBIAN_FRONTEND=noninteractive
/etc/init.d/sendmail stop >/dev/null 2>&1 || true
apt-get -y -q purge sendmail sendmail-bin sensible-mda bsd-mailx >/dev/null 2>&1
rm -f /etc/mail/sendmail.cf /etc/mail/submit.cf
! test -e /usr/sbin/sendmail
"""

HEAL_SCRIPT = r"""
set -u
if [ -f /usr/libexec/sendmail/sendmail-mta-dumpable ]; then
  /etc/init.d/sendmail stop >/dev/null 2>&1
  ln -sfn /usr/libexec/sendmail/sendmail /etc/alternatives/sendmail-mta
  rm -f /usr/libexec/sendmail/sendmail-mta-dumpable
fi
[ -f /etc/mail/sendmail.cf.lab-good ] && mv -f /etc/mail/sendmail.cf.lab-good /etc/mail/sendmail.cf
pkill -CONT -f 'sendmail: ' 2>/dev/null
pkill -f '^python3 /usr/local/lib/lab-smarthost.py' 2>/dev/null
pgrep -x rsyslogd >/dev/null || { rm -f /run/rsyslogd.pid; /usr/sbin/rsyslogd; }
/etc/init.d/sendmail stop >/dev/null 2>&1
pkill -KILL -f '^sendmail: ' 2>/dev/null
sleep 0.2
/etc/init.d/sendmail start >/dev/null 2>&1
"""


def heal(host: str) -> None:
    dexec(host, "sh", "-c", HEAL_SCRIPT, check=False)
    wait_ready([host])
    say(f"{host}: healed (syslog running, good sendmail.cf, listener answering 220)")


# --------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", default=os.environ.get("LAB_PREFIX", "mx"), help="host name prefix (mx)")
    parser.add_argument("--inventory", type=Path, default=Path(os.environ.get("LAB_INVENTORY", DEFAULT_INVENTORY)))
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_build = sub.add_parser("build", help="build the lab image if its inputs changed")
    p_build.add_argument("--force", action="store_true")
    p_up = sub.add_parser("up", help="start hosts and write the inventory")
    p_up.add_argument("--count", type=int, default=3)
    p_up.add_argument(
        "--tmpfs", action="append", default=[], help="docker --tmpfs PATH[:OPTIONS] for every new host (repeatable)"
    )
    p_up.add_argument(
        "--connection",
        choices=["docker", "ssh"],
        default="docker",
        help="how the inventory reaches new hosts: docker exec, or SSH as --ssh-user with sudo (sshd on 127.0.0.1)",
    )
    p_up.add_argument("--ssh-user", choices=SSH_USERS, default=SSH_USERS[0], help="SSH user of new hosts (ops)")
    p_up.add_argument(
        "--variant", choices=["sendmail", "postfix"], default="sendmail", help="the MTA of new hosts (sendmail)"
    )
    p_up.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="X.Y|system",
        help="the target Python of new hosts: pyenv's X.Y mounted read-only, or the image's python3 (system); "
        "repeated, new hosts take them in turn",
    )
    sub.add_parser("down", help="remove this prefix's hosts")
    sub.add_parser("down-all", help="remove every lab host, whatever its prefix")
    sub.add_parser("status", help="list hosts")
    sub.add_parser("tag", help="print the image tag for the current inputs")
    p_fault = sub.add_parser(
        "fault",
        help="inject a fault",
        description=(
            "kill: SIGKILL the listener (stale PidFile). service-stop: /etc/init.d/sendmail stop. "
            "stop: SIGSTOP the listener (hung daemon). cont: SIGCONT. "
            "backlog: N messages for remote domains, deferred by the refusing smart host, aged. "
            "syslog-missing: stop rsyslogd and remove mail.log and syslog. broken-cf: append a garbage line to "
            "sendmail.cf. dumpable: run the MTA from a copy of sendmail without the set-gid bit, so that SIGABRT "
            "leaves a core. slow-smarthost: a smart host on 127.0.0.2:2526 that accepts mail for slow.example after "
            "--delay seconds per message (and while /var/lib/lab-smarthost/hold exists) and lists each delivery "
            "in /var/lib/lab-smarthost/deliveries. "
            "no-sendmail: purge sendmail's packages and its cf (cannot be healed: make a new host). "
            "heal: undo all but the backlog and no-sendmail."
        ),
    )
    p_fault.add_argument("host")
    p_fault.add_argument(
        "kind",
        choices=[
            "kill",
            "service-stop",
            "stop",
            "cont",
            "backlog",
            "slow-smarthost",
            "syslog-missing",
            "broken-cf",
            "dumpable",
            "no-sendmail",
            "heal",
        ],
    )
    p_fault.add_argument("--delay", type=float, default=20.0, help="slow-smarthost: seconds per message")
    p_fault.add_argument("--count", type=int, default=20, help="backlog: messages")
    p_fault.add_argument("--age-hours", type=float, default=0.0, help="backlog: age of the messages")
    p_fault.add_argument("--domains", default="remote.example", help="backlog: comma-separated recipient domains")
    p_fault.add_argument(
        "--mode",
        choices=["smtp", "clone"],
        default="smtp",
        help="backlog: submit through the daemon (smtp) or copy one real deferred message (clone, fast)",
    )
    args = parser.parse_args(argv)

    if args.cmd == "build":
        build(force=args.force)
    elif args.cmd == "tag":
        print(image_tag())
    elif args.cmd == "up":
        up(
            args.count,
            args.prefix,
            args.inventory,
            args.tmpfs,
            args.connection,
            args.variant,
            args.ssh_user,
            args.python,
        )
    elif args.cmd == "down":
        down(args.prefix, args.inventory)
    elif args.cmd == "down-all":
        down(None, args.inventory)
    elif args.cmd == "status":
        status(args.prefix)
    elif args.cmd == "fault":
        fault(args.host, args.kind, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
