"""Whether the compiled kernels (numba) can be used here, decided once per process.

The video plugin's hottest loops (following motion back to the I-frame, the
accumulated motion and the residual's gather: :mod:`.trace_kernels`) have two
implementations: numpy, the reference, and numba kernels compiled on first
use (cached on disk by numba), with the same results. Where numba cannot be imported or cannot
compile (no wheel for this Python, a NumPy it does not support, a broken
llvmlite) every caller falls back to numpy after one :class:`JitUnavailable`
warning. ``PKD_JIT=0`` chooses numpy without a warning (e.g. to compare).

numba is imported only here and in the modules this loads, and only when a
kernel is first asked for: ``pkd --help`` never pays for it.
"""

from __future__ import annotations

import importlib
import os
import warnings
from functools import lru_cache
from types import ModuleType


class JitUnavailable(UserWarning):
    """The compiled kernels cannot be used here; the numpy implementation (same results, slower) is used instead."""


def disabled() -> bool:
    return os.environ.get("PKD_JIT", "1").strip().lower() in ("0", "false", "no", "off")


def kernels(name: str) -> ModuleType | None:
    """The compiled module ``pkd_plugins.video.<name>``, or None where numba is disabled or unavailable.

    The module compiles its kernels when imported (or loads them from numba's
    disk cache), so a failure shows here, once, and not in the middle of a clip.
    """
    if disabled():
        return None
    return _load(name)


@lru_cache(maxsize=None)
def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"pkd_plugins.video.{name}")
    except Exception as error:  # anything: no numba, numba's NumPy version check, an LLVM failure
        _warn_once(f"{type(error).__name__}: {error}".strip())
        return None


@lru_cache(maxsize=1)
def _warn_once(reason: str) -> None:
    warnings.warn(
        f"the video plugin's compiled kernels are unavailable ({reason}); using numpy instead "
        "(the same results, slower). `pip install numba` fixes this; PKD_JIT=0 chooses numpy without this warning.",
        JitUnavailable,
        stacklevel=4,
    )


def reset() -> None:
    """Forget what was found (tests that simulate a machine without numba)."""
    _load.cache_clear()
    _warn_once.cache_clear()
