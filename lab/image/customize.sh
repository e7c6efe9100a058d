#!/bin/sh
# Runs inside the debootstrapped root (chroot) while the lab image is built.
# Everything here is what makes a stock Debian 12 sendmail host a *lab* host;
# each change says why.
set -eu
export DEBIAN_FRONTEND=noninteractive

# No service may start inside the build chroot (sshd would bind the build machine's port 22).
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d

# Tools the runbook's Verify/Request, Trace/Debug and Crash Dump steps use; sshd and
# sudo for hosts reached over SSH (lab.py up --connection ssh starts sshd).
apt-get install -y -q --no-install-recommends gdb strace bsd-mailx openssh-server sudo >/dev/null
apt-get clean  # (debootstrap leaves its own packages in the archive cache)

# Postfix's packages, downloaded but not installed: `lab.py up --variant postfix` makes a
# second image from this one by installing them offline (installing Postfix removes
# sendmail: the MTA slot is exclusive), so no test needs the network.
apt-get install -y -q --no-install-recommends --download-only postfix >/dev/null
mkdir -p /var/cache/lab-debs/postfix
mv /var/cache/apt/archives/*.deb /var/cache/lab-debs/postfix/
apt-get clean
rm -rf /var/lib/apt/lists/*
rm -f /usr/sbin/policy-rc.d

# SSH: host keys are made per host at boot (lab-init), key login only.
rm -f /etc/ssh/ssh_host_*
cat > /etc/ssh/sshd_config.d/lab.conf <<'SSHD'
# lab: one ed25519 host key made at boot; keys only; no DNS lookups of clients
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
SSHD

# Users of hosts reached over SSH (their authorized key is installed by lab.py up):
#   ops:   sudo without a password (the usual automation account);
#   opspw: sudo that asks for a password (lab-sudo-password);
#   opsro: no sudo, in the groups that may read the mail log (adm) and the queues
#          (smmsp): the read-only health check of docs/security.md.
useradd -m -s /bin/bash ops
useradd -m -s /bin/bash opspw
useradd -m -s /bin/bash -G adm,smmsp opsro
echo 'opspw:lab-sudo-password' | chpasswd
cat > /etc/sudoers.d/lab <<'SUDO'
ops ALL=(ALL:ALL) NOPASSWD: ALL
opspw ALL=(ALL:ALL) ALL
SUDO
chmod 0440 /etc/sudoers.d/lab
visudo -c >/dev/null

# rsyslog: a container has no kernel log to read.
sed -i 's/^module(load="imklog")/#&/' /etc/rsyslog.conf

# sendmail.mc, three lab changes:
#  1. the MTA listens on all container addresses (Debian binds 127.0.0.1), so
#     a port published on the controller's 127.0.0.1 reaches it;
#  2. remote mail goes to a smart host on the container's own loopback (127.0.0.2), port
#     2526, where nothing listens: it is deferred ("Connection refused by
#     [127.0.0.2]") and can never bounce or leave the host;
#     (127.0.0.1 itself cannot be the smart host: it is in $=w, so sendmail
#     drops it as "local" and goes to the domain's MX instead);
#  3. FEATURE(nocanonify): recipient domains are not looked up in DNS (the
#     hosts run with an unreachable resolver), so the smart host decides;
#  nothing else: greet_pause, throttles and the rest stay Debian's defaults.
mc=/etc/mail/sendmail.mc
sed -i "s/Name=MTA-v4, Port=smtp, Addr=127.0.0.1/Name=MTA-v4, Port=smtp/" "$mc"
grep -q "Name=MTA-v4, Port=smtp')" "$mc"
sed -i "/^MAILER_DEFINITIONS/i define(\`SMART_HOST', \`[127.0.0.2]')dnl lab: refusing relay\\
define(\`RELAY_MAILER_ARGS', \`TCP \$h 2526')dnl lab: nothing listens there\\
define(\`ESMTP_MAILER_ARGS', \`TCP \$h 2526')dnl lab: nothing listens there\\
FEATURE(\`nocanonify')dnl lab: no DNS for recipient domains" "$mc"
grep -q "SMART_HOST" "$mc"
m4 "$mc" > /etc/mail/sendmail.cf
chmod 0644 /etc/mail/sendmail.cf
grep -q '^DS\[127.0.0.2\]' /etc/mail/sendmail.cf

# Aliases every mail host has (debootstrap leaves /etc/aliases empty), and a
# sink for the lab's backlog sender, so the "cannot send for 4 hours" warnings
# that sendmail sends about an aged backlog go nowhere instead of bouncing.
cat > /etc/aliases <<'ALIASES'
postmaster: root
MAILER-DAEMON: postmaster
abuse: postmaster
lab-backlog: /dev/null
ALIASES
newaliases >/dev/null

# The image's build-time name must not leak into the hosts.
rm -f /etc/hostname
install -m 0755 /tmp/lab-init /usr/local/sbin/lab-init
