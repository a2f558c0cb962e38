"""What a plugin's failure becomes: a lifecycle hook that raises stops the run with :class:`HookFailed`, one
message naming the plugin and the hook (docs/hooks.md says why the run stops rather than going on).

pluggy calls a hook's implementations from its own frames and lets an exception through as it is; which
plugin raised it is found in the traceback.
"""

from __future__ import annotations

from typing import Any

import pluggy

from pkd_toolkit.errors import PkdError


class HookFailed(PkdError):
    """A plugin's lifecycle hook raised; the message names the plugin and the hook, the exception is the cause."""

    def __init__(self, plugin: str, hook: str, error: BaseException):
        super().__init__(f"plugin {plugin} failed in {hook}: {describe(error)}")
        self.plugin = plugin
        self.hook = hook


class GuardedHooks:
    """pluggy's hook caller for lifecycle hooks: an exception in an implementation becomes :class:`HookFailed`
    naming its plugin (KeyboardInterrupt passes unchanged)."""

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self._manager = manager

    def __getattr__(self, hook_name: str) -> Any:
        caller = getattr(self._manager.hook, hook_name)

        def call(**kwargs: Any) -> Any:
            try:
                return caller(**kwargs)
            except KeyboardInterrupt:
                raise
            except BaseException as error:
                raise HookFailed(_raised_by(caller, error), hook_name, error) from error

        return call


def _raised_by(caller: Any, error: BaseException) -> str:
    """``'name'`` of the plugin whose implementation raised ``error``: the implementation whose frame is in the
    traceback (pluggy calls them from its own frames; methods of one class are told apart by their ``self``);
    when none is found, every plugin implementing the hook."""
    impls = caller.get_hookimpls()
    trace = error.__traceback__
    while trace is not None:
        frame = trace.tb_frame
        for impl in impls:
            if getattr(impl.function, "__code__", None) is frame.f_code and _same_owner(impl.function, frame):
                return repr(impl.plugin_name)
        trace = trace.tb_next
    return " or ".join(repr(impl.plugin_name) for impl in impls) or "?"


def _same_owner(function: Any, frame: Any) -> bool:
    owner = getattr(function, "__self__", None)
    if owner is None or not frame.f_code.co_argcount:
        return True
    return frame.f_locals.get(frame.f_code.co_varnames[0]) is owner


def describe(error: BaseException) -> str:
    """``RuntimeError: message``; a PkdError's message alone (it was written for the user)."""
    return str(error) if isinstance(error, PkdError) else f"{type(error).__name__}: {error}"
