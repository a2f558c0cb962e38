"""Whether the compiled kernels (numba) can be used here, decided once per process.

The video plugin's hottest loops (following motion back to the I-frame, the
accumulated motion and the residual's gather: :mod:`.trace_kernels`; the
8-bit clips' normalisation: :mod:`.transform_kernels`) have two
implementations with the same results, bit for bit: numpy, the reference the
tests compare against, and numba kernels (a dependency), compiled on first use
and cached on disk by numba. ``PKD_JIT`` chooses: ``auto`` (the default) uses
numba where it is installed, ``1`` asks for it, ``0`` never uses it. Where
numba was asked for or is installed but cannot be imported or cannot compile
(a NumPy it does not support, a broken llvmlite), every caller falls back to
numpy after one :class:`JitUnavailable` warning per process.

numba is imported only by the modules this loads, and only when a kernel is
first asked for: ``pkd --help`` never pays for it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import warnings
from functools import lru_cache
from types import ModuleType


class JitUnavailable(UserWarning):
    """The compiled kernels cannot be used here; the numpy implementation (the same results) is used instead."""


def setting() -> str:
    """``PKD_JIT``: ``auto`` (default), ``1`` or ``0``."""
    value = os.environ.get("PKD_JIT", "auto").strip().lower()
    return {"true": "1", "yes": "1", "on": "1", "false": "0", "no": "0", "off": "0"}.get(value, value)


def kernels(name: str) -> ModuleType | None:
    """The compiled module ``pkd_plugins.video.<name>``, or None: numba turned off, not installed, or unusable.

    The module compiles its kernels when imported (or loads them from numba's
    disk cache), so a failure shows here, once, and not in the middle of a clip.
    """
    chosen = setting()
    if chosen == "0" or (chosen != "1" and not _installed()):
        return None  # numpy, the default: nothing to warn about
    return _load(name)


@lru_cache(maxsize=1)
def _installed() -> bool:
    return importlib.util.find_spec("numba") is not None


@lru_cache(maxsize=None)
def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"pkd_plugins.video.{name}")
    except Exception as error:  # anything: no numba, numba's NumPy version check, an LLVM failure
        _warn_once(f"{type(error).__name__}: {error}".strip())
        return None


_warned: list[str] = []  # the reason given, once per process


def _warn_once(reason: str) -> None:
    if _warned:
        return
    _warned.append(reason)
    warnings.warn(
        f"the video plugin's compiled kernels are unavailable ({reason}); using numpy instead (the same results). "
        "`pip install numba` (a version that supports this NumPy) fixes this; PKD_JIT=0 chooses numpy without this warning.",
        JitUnavailable,
        stacklevel=4,
    )


def reset() -> None:
    """Forget what was found (tests that simulate a machine without numba)."""
    _installed.cache_clear()
    _load.cache_clear()
    _warned.clear()
