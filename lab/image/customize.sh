#!/bin/sh
# Runs inside the debootstrapped root (chroot) while the lab image is built.
# Everything here is what makes a stock Debian 12 sendmail host a *lab* host;
# each change says why.
set -eu
export DEBIAN_FRONTEND=noninteractive

# Tools the runbook's Verify/Request, Trace/Debug and Crash Dump steps use.
apt-get install -y -q --no-install-recommends gdb strace bsd-mailx >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/*

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
