# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The host's operation lock, taken by every module call that changes the host (see _oplock).
    DOCUMENTATION = r"""
options:
  lock_owner:
    description:
      - The token of an operation of several calls (a run id), for example the restart role's. The call acts under
        that operation's lease - taking it when the host is free, renewing it when it already holds it - and keeps it
        for the next call, O(lock_grace) seconds. Without it the call takes a lease of its own and drops it when done.
      - Either way the host's lock (C(flock) on a root-only file) is held for the whole call, so two operations never
        act on one host at once.
    type: str
  lock_wait:
    description:
      - Seconds to wait while another operation holds the host. Then the call fails, having done nothing, naming the
        operation that holds it (its run, pid, controller and since when).
    type: float
    default: 30
  lock_grace:
    description:
      - With O(lock_owner), how long the lease lasts after this call for the next call of the same operation; a lease
        not renewed in that time is stale and another operation may take the host.
    type: float
    default: 600
  lock_dir:
    description:
      - The lock's directory (root-only, created 0700). Default C(/run/opsiface-sendmail), or C(/var/run/opsiface-sendmail)
        where there is no C(/run).
    type: path
notes:
  - Check mode takes no lock; it says when another operation holds the host.
"""
