#!/usr/bin/python
# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: smtp_probe
short_description: The runbook's Self-test and Verify/Request against a sendmail daemon
version_added: 0.1.0
description:
  - Connects to O(host):O(port) (the runbook's C(mconnect localhost)), waits for the banner, says EHLO with a HELO name
    that tags the probe, and QUITs. Success needs a C(220) banner whose first word is the expected hostname, a C(250)
    EHLO, and a C(221) to QUIT. Each step has its own timeout, so a hung daemon costs at most the timeouts.
  - With O(send=true), sends one test message with a unique token (the runbook's C(mailx -v root)) and returns the
    queue ID from sendmail's C(250 ... Message accepted for delivery).
  - With O(verify_mailbox=true), waits until the token arrives in the local mailbox and removes exactly that message
    under the mailbox locks (the runbook's "Read and delete the message"). Only bytes known to be the test message
    are removed (its own header, a C(From ) line at the start of the file or after a blank line, the body that was
    sent); when that is not certain the mailbox is left untouched and the result says why. The mailbox is cut or
    replaced crash-safely (the old or the new mailbox, never a truncated one).
  - The same check removes test messages of earlier checks that arrived after those checks gave up, found by their
    token header, never anything else. A test message accepted by the MTA but not in the mailbox in time is looked
    up in the queue and reported as V(delivery_late) (still queued, deferred or being delivered) or V(not_delivered)
    (in neither place).
  - Runs on the target, or on the controller with C(delegate_to) to probe a host from outside.
  - Refuses CR, LF, NUL, C(<) and C(>) in any envelope or EHLO value, and never sends to a recipient outside the probed
    host unless O(allow_remote_recipient=true).
author:
  - opsiface.sendmail developers (@opsiface)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: In check mode the connection test runs; no message is sent or removed.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: [posix]
options:
  host:
    description:
      - Where to connect. Use C(delegate_to) and a published address to probe from outside.
      - A name or an address (no spaces, CR, LF or other control characters). A name is resolved within
        O(connect_timeout); failing that, the failure is V(dns), not V(refused).
    type: str
    default: 127.0.0.1
  port:
    description: The SMTP port (1 to 65535).
    type: int
    default: 25
  connect_timeout:
    description: Seconds to wait for the name lookup and the TCP connection together (more than 0, at most 3600).
    type: float
    default: 5
  banner_timeout:
    description: Seconds to wait for the greeting after connecting.
    type: float
    default: 10
  command_timeout:
    description: Seconds to wait for the reply to each command.
    type: float
    default: 10
  expect_hostname:
    description:
      - The hostname the banner must name first. Default, when O(host) is a loopback address, the daemon's C($j)
        (from C(sendmail -d0.1 -bt)) or this host's FQDN; when O(host) is a name, that name; when it is another
        address, no hostname check (set it).
    type: str
  helo:
    description: The EHLO name. Default C(opsiface-probe.<this host's name>), which marks the probe as ours.
    type: str
  tls:
    description:
      - When STARTTLS is offered, do the handshake and report its protocol, cipher and the server certificate's
        subject and days to expiry (reported, not verified).
    type: bool
    default: false
  send:
    description: Send one test message.
    type: bool
    default: false
  mail_from:
    description: Envelope sender of the test message. Default C(root@<expected hostname or this host>).
    type: str
  rcpt_to:
    description: Recipient of the test message. A local user by default.
    type: str
    default: root
  subject:
    description: Subject of the test message; the token is appended.
    type: str
    default: opsiface.sendmail delivery check
  allow_remote_recipient:
    description: Allow O(rcpt_to) in a domain other than the probed host's. Off, so the probe never relays.
    type: bool
    default: false
  verify_mailbox:
    description:
      - After sending, wait for the message in O(mailbox) and remove exactly it. Needs O(send=true).
      - A O(mailbox) that is not a regular file this user may read and rewrite (a symlink, a directory, root's mbox
        without become) fails the probe before anything is sent (the test message would be left there).
    type: bool
    default: false
  mailbox:
    description: The mbox the test message is delivered to.
    type: path
    default: /var/mail/root
  verify_timeout:
    description:
      - Seconds to wait for the message to arrive in O(mailbox). A message that arrives later is removed by the next
        check with O(verify_mailbox=true) (its token says until when this check waits for it).
    type: float
    default: 30
  config_path:
    description: The sendmail.cf whose QueueDirectory is searched for a test message that has not arrived in time.
    type: path
    default: /etc/mail/sendmail.cf
  sendmail_path:
    description: The sendmail binary used to learn C($j) for the default O(expect_hostname).
    type: path
seealso:
  - module: opsiface.sendmail.sendmail_status
"""

EXAMPLES = r"""
- name: Self-test on the host itself (mconnect localhost)
  opsiface.sendmail.smtp_probe:
  register: probe

- name: Probe each lab host from the controller through its published port
  opsiface.sendmail.smtp_probe:
    host: 127.0.0.1
    port: "{{ lab_smtp_port }}"
    expect_hostname: "{{ inventory_hostname }}.lab.test"
  delegate_to: localhost

- name: Verify/Request, send a test mail to root, see it arrive, delete it
  opsiface.sendmail.smtp_probe:
    send: true
    verify_mailbox: true
"""

RETURN = r"""
success:
  description: Whether the daemon greeted with 220 and the expected hostname, answered EHLO, and said 221 to QUIT.
  returned: always
  type: bool
failure:
  description:
    - Why not. V(dns) (the name did not resolve, or the resolver did not answer within O(connect_timeout)),
      V(refused), V(timeout_connect), V(timeout_banner), V(timeout_command), V(rejecting) (a 421 or 554
      greeting), V(hostname_mismatch), V(protocol_error), V(quit_not_221), V(not_accepted) (MAIL, RCPT, DATA or the
      end of DATA answered with an error), V(delivery_late) (accepted, still in the queue after O(verify_timeout)),
      V(not_delivered) (accepted, in neither the mailbox nor the queue, or the mailbox unreadable).
  returned: when RV(success) is false
  type: str
  sample: timeout_banner
detail:
  description: A sentence saying what happened.
  returned: when RV(success) is false
  type: str
banner:
  description: The greeting, sanitised.
  returned: when a greeting came
  type: str
  sample: "220 mx01.lab.test ESMTP Sendmail 8.17.1.9/8.17.1.9/Debian-2+deb12u2; Fri, 27 Nov 2026 10:47:40 GMT"
banner_code:
  description: The greeting's reply code.
  returned: always
  type: int
hostname:
  description: The first word of the greeting.
  returned: always
  type: str
expected_hostname:
  description: What it was compared with (null when not checked).
  returned: always
  type: str
helo:
  description: The EHLO name sent.
  returned: always
  type: str
esmtp_extensions:
  description: Keywords of the EHLO reply.
  returned: always
  type: list
  elements: str
  sample: [ENHANCEDSTATUSCODES, PIPELINING, 8BITMIME, SIZE, DSN, ETRN, DELIVERBY, HELP]
starttls:
  description:
    - C(offered), and with O(tls=true) C(handshake), C(version), C(cipher) and C(certificate) (C(subject), C(issuer),
      C(not_after), C(days_to_expiry); the certificate is reported, not verified), or C(error).
  returned: always
  type: dict
quit_code:
  description: The reply code to QUIT.
  returned: always
  type: int
  sample: 221
queue_id:
  description: The queue ID sendmail gave the test message.
  returned: when O(send=true)
  type: str
  sample: 6ARAq0Rk000143
token:
  description: The unique token in the test message's subject, header and body.
  returned: when O(send=true)
  type: str
rcpt_to:
  description: The recipient of the test message (O(rcpt_to)).
  returned: when O(send=true) and the recipient was not refused
  type: str
  sample: root
mailbox:
  description:
    - With O(verify_mailbox=true), C(arrived), C(found), C(removed), C(path), C(message_bytes), C(waited_seconds),
      C(method) (V(truncated) or V(rewritten beside and renamed)), C(left_because) (why an arrived test message was
      left in place), C(earlier_removed) (tokens of earlier checks' late test messages removed now),
      C(earlier_left) (those left, with why), C(error), C(sweep_error) (the earlier ones could not be looked for).
  returned: when O(verify_mailbox=true)
  type: dict
queue_entry:
  description:
    - When the test message did not arrive in time, where the queue has it. C(state) is V(being_delivered) (with
      C(held_by), the PIDs and titles holding its lock), V(deferred) (with C(reason) and C(attempts)), V(queued),
      V(quarantined) or V(absent).
  returned: when O(verify_mailbox=true)
  type: dict
timings:
  description: Milliseconds for C(connect), C(banner), C(ehlo), C(send) and C(total).
  returned: always
  type: dict
  sample: {connect: 0.2, banner: 3.1, ehlo: 0.4, send: null, total: 4.2}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.opsiface.sendmail.plugins.module_utils import _compileonce

_compileonce.install()  # first: under AnsiballZ the rest of module_utils then compiles once, not twice

from ansible_collections.opsiface.sendmail.plugins.module_utils import _args, _context, _selftest

# Not the common fragment: command_timeout here is the SMTP reply timeout, and no queue or cf option but
# config_path (where a late test message is looked for) applies.
SPEC = {
    "host": {"type": "str", "default": "127.0.0.1"},
    "port": {"type": "int", "default": 25},
    "connect_timeout": {"type": "float", "default": 5},
    "banner_timeout": {"type": "float", "default": 10},
    "command_timeout": {"type": "float", "default": 10},
    "expect_hostname": {"type": "str"},
    "helo": {"type": "str"},
    "tls": {"type": "bool", "default": False},
    "send": {"type": "bool", "default": False},
    "mail_from": {"type": "str"},
    "rcpt_to": {"type": "str", "default": "root"},
    "subject": {"type": "str", "default": "opsiface.sendmail delivery check"},
    "allow_remote_recipient": {"type": "bool", "default": False},
    "verify_mailbox": {"type": "bool", "default": False},
    "mailbox": {"type": "path", "default": "/var/mail/root"},
    "verify_timeout": {"type": "float", "default": 30},
    "sendmail_path": {"type": "path"},
    "config_path": {"type": "path", "default": "/etc/mail/sendmail.cf"},
}


def main() -> None:
    module = AnsibleModule(argument_spec=SPEC, supports_check_mode=True)
    _context.run(module, _args.smtp_probe, _selftest.run)


if __name__ == "__main__":
    main()
