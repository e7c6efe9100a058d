# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Paths and timeouts every module of the collection takes. Set them once for a
    # play with module_defaults: group/opsiface.sendmail.sendmail.
    DOCUMENTATION = r"""
options:
  config_path:
    description:
      - The MTA configuration file. C(QueueDirectory), C(PidFile) and C(DaemonPortOptions) are read from it.
    type: path
    default: /etc/mail/sendmail.cf
  submit_config_path:
    description:
      - The MSP configuration file; its C(QueueDirectory) is the MSP queue (Debian C(/var/spool/mqueue-client)).
    type: path
    default: /etc/mail/submit.cf
  sendmail_path:
    description:
      - The sendmail binary. Default by platform family, C(/usr/sbin/sendmail) on Linux, C(/usr/lib/sendmail) on Solaris.
    type: path
  command_timeout:
    description:
      - Seconds any one sendmail command may run before it is killed (more than 0, at most 3600). Nothing the module
        runs is unbounded.
    type: float
    default: 30
notes:
  - Every argument is checked (ranges, finite numbers, lengths, absolute paths, no control characters where a value
    reaches a command line) before the module does anything; a refused call says which argument and why, and has
    changed nothing.
  - The targets need Python 3.8 or newer (tested on 3.8 to 3.13). RHEL 8's platform-python (3.6) is too old; use a
    python3.x from AppStream as C(ansible_python_interpreter).
"""
