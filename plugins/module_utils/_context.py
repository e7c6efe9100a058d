# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module call starts from: its checked arguments and the host it runs on, in one object.

A module file is documentation, an argument spec, and :func:`run`: the arguments are checked
(``_args``), the :class:`HostContext` is built once (platform layout, command runner, sendmail
binary, the paths sendmail.cf names, timeouts, check mode, the time of the call), one function of
``module_utils`` does the work with it and returns the result, and the module exits with that
result or fails with the one error type, :class:`ModuleError`.

The options every module of the collection takes are :data:`COMMON_ARGS` here and the doc fragment
``opsiface.sendmail.common``; the operation lock's (every module that changes the host) are
:data:`LOCK_ARGS` here and ``opsiface.sendmail.lock``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import _args, _collect, _platform, _runner

# The doc fragment opsiface.sendmail.common, as an argument spec (set once with module_defaults:
# group/opsiface.sendmail.sendmail).
COMMON_ARGS = {
    "config_path": {"type": "path", "default": "/etc/mail/sendmail.cf"},
    "submit_config_path": {"type": "path", "default": "/etc/mail/submit.cf"},
    "sendmail_path": {"type": "path"},
    "command_timeout": {"type": "float", "default": 30},
}
# The doc fragment opsiface.sendmail.lock (see _oplock): here, not in _oplock, so that a module that may
# take the lock (sendmail_queue) compiles _oplock only for the operations that take it.
LOCK_ARGS = {
    "lock_owner": {"type": "str"},
    "lock_wait": {"type": "float", "default": 30.0},
    "lock_grace": {"type": "float", "default": 600.0},
    "lock_dir": {"type": "path"},
}


def argument_spec(own: dict, *fragments: dict) -> dict:
    """A module's own options, then :data:`COMMON_ARGS` and any other fragment (:data:`LOCK_ARGS`)."""
    spec = dict(own)
    for fragment in (COMMON_ARGS, *fragments):
        spec.update(fragment)
    return spec


class ModuleError(Exception):
    """The one error a module fails with: *msg* names the thing and its value; *result* is what the call
    had found or done so far (returned beside ``failed``, so a report can show it)."""

    def __init__(self, msg: str, **result) -> None:
        super().__init__(msg)
        self.msg = msg
        self.result = result


@dataclass
class HostContext:
    """One module call on one host. Built once by :func:`build`; tests build it with a fake runner."""

    params: dict
    check_mode: bool = False
    diff: bool = False
    # None: the host's (looked up when the context is built, so that a test or the fuzzer may replace them)
    layout: _platform.Layout | None = None
    runner: _runner.Runner | None = None
    now: float | None = None
    warnings: list[str] = field(default_factory=list)
    _paths: dict | None = field(default=None, repr=False)
    _cleanups: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.layout is None:
            self.layout = _platform.detect()
        if self.runner is None:
            self.runner = _runner.SubprocessRunner()
        if self.now is None:
            self.now = time.time()

    @property
    def sendmail(self) -> str:
        """The sendmail binary: the option, else the platform's."""
        return self.params.get("sendmail_path") or self.layout.sendmail

    @property
    def command_timeout(self) -> float:
        """Seconds any one sendmail command may run (COMMON_ARGS)."""
        return float(self.params.get("command_timeout") or 30)

    @property
    def paths(self) -> dict:
        """What sendmail.cf and submit.cf say (queue directories, PidFile, ports), read on first use."""
        if self._paths is None:
            self._paths = _collect.config_paths(
                self.params.get("config_path") or self.layout.config,
                self.params.get("submit_config_path") or self.layout.submit_config,
                self.layout,
            )
        return self._paths

    @property
    def pidfile(self) -> str:
        """The daemon's PidFile: the option, else sendmail.cf's, else the platform's."""
        return self.params.get("pidfile") or self.paths["pidfile"]

    def warn(self, message: str) -> None:
        """A warning Ansible shows beside the result."""
        self.warnings.append(message)

    def on_close(self, cleanup: Callable[[], None]) -> None:
        """Run *cleanup* when the call ends, before the module exits (the operation lock's release)."""
        self._cleanups.append(cleanup)

    def close(self) -> None:
        while self._cleanups:
            self._cleanups.pop()()


def build(module, validate: Callable[[dict], None] | None = None) -> HostContext:
    """The context of this module call, after *validate* (a function of ``_args``) passed its arguments.

    A refused argument is a ModuleError: nothing was read, run or changed."""
    if validate is not None:
        try:
            validate(module.params)
        except _args.ArgError as exc:
            raise ModuleError(f"invalid argument: {exc}; nothing was done") from exc
    return HostContext(params=module.params, check_mode=module.check_mode, diff=module._diff)


def run(module, validate: Callable[[dict], None] | None, call: Callable[[HostContext], dict]) -> None:
    """Check the arguments, build the context, make the one *call*, and exit with its result; on a
    ModuleError, fail with its message and result. Cleanups (the operation lock) run before either."""
    ctx = None
    try:
        ctx = build(module, validate)
        try:
            result = call(ctx)
        finally:
            ctx.close()
    except ModuleError as exc:
        _warn(module, ctx)
        module.fail_json(msg=exc.msg, **exc.result)
    _warn(module, ctx)
    module.exit_json(**result)


def _warn(module, ctx: HostContext | None) -> None:
    for message in ctx.warnings if ctx is not None else []:
        module.warn(message)
