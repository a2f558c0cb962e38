"""Import torchvision, and so timm, on a torch build its wheel was not made for.

The torchvision wheels on PyPI are built against CUDA torch. On a CPU-only
torch their C++ operator library fails to load; torchvision notices and skips
the registrations that need it, except the fake kernels of ``torchvision::nms``
and ``torchvision::qnms``, which then fail with "operator torchvision::nms does
not exist". That breaks ``import torchvision`` and, through it, ``import timm``.

:func:`import_torchvision` imports torchvision normally. Only when the import
fails for exactly that reason does it declare the missing operator schemas
(declarations without kernels: calling ``torchvision.ops.nms`` then raises
torch's own "no kernel for CPU" error) and import again. Where torchvision's
operators load, nothing is declared and nothing is changed.
"""

from __future__ import annotations

import re
import sys
from types import ModuleType

_MISSING_OPERATOR = re.compile(r"operator torchvision::(\w+) does not exist")

# Schemas as torchvision's C++ library declares them (torchvision/csrc/ops).
_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}

# Kept alive for the process: dropping the Library object removes its schemas.
_fallback_library = None


def declared_fallback_operators() -> list[str]:
    """Names of the torchvision operators this module had to declare (empty when none)."""
    return sorted(getattr(_fallback_library, "_pkd_declared", ()))


def import_torchvision() -> ModuleType:
    """Return the torchvision module, importable even when its C++ ops cannot load."""
    for _ in range(len(_SCHEMAS) + 1):
        try:
            import torchvision
        except RuntimeError as error:
            missing = _MISSING_OPERATOR.search(str(error))
            if missing is None or missing.group(1) not in _SCHEMAS:
                raise
            if missing.group(1) in declared_fallback_operators():
                raise  # declaring it did not help: a different problem
            _declare(missing.group(1))
            _forget_partial_import()
        else:
            return torchvision
    raise RuntimeError("torchvision could not be imported")  # pragma: no cover - loop bound


def import_timm() -> ModuleType:
    """Return the timm module (which imports torchvision) after :func:`import_torchvision`."""
    import_torchvision()
    import timm

    return timm


def _declare(operator: str) -> None:
    global _fallback_library
    import torch.library

    if _fallback_library is None:
        _fallback_library = torch.library.Library("torchvision", "FRAGMENT")
        _fallback_library._pkd_declared = set()
    _fallback_library.define(_SCHEMAS[operator])
    _fallback_library._pkd_declared.add(operator)


def _forget_partial_import() -> None:
    for name in [name for name in sys.modules if name == "torchvision" or name.startswith("torchvision.")]:
        del sys.modules[name]
