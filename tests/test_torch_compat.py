"""torchvision and timm import on a CPU torch where torchvision's C++ ops fail to load, and only there."""

from __future__ import annotations

import subprocess
import sys

# Simulates the failing load everywhere: torchvision's _C library cannot be loaded.
FAILING_LOAD = """
import torch
real_load = torch.ops.load_library
def refuse_torchvision(path):
    if "torchvision" in str(path):
        raise OSError(f"simulated: cannot load {path}")
    return real_load(path)
torch.ops.load_library = refuse_torchvision
"""

# Simulates a machine where torchvision imports cleanly (its ops loaded).
HEALTHY_TORCHVISION = """
import sys, types
sys.modules["torchvision"] = types.ModuleType("torchvision")
"""

CHECK = """
from pkd_toolkit.torch_compat import import_timm, import_torchvision, declared_fallback_operators
import_timm()
import torch, torchvision
print("declared:", ",".join(declared_fallback_operators()) or "none")
print("nms schema:", torch._C._dispatch_has_kernel("torchvision::nms") if hasattr(torch._C, "_dispatch_has_kernel") else "?")
"""


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_timm_imports_when_torchvision_ops_fail_to_load():
    result = run(FAILING_LOAD + CHECK + "import timm; timm.create_model('resnet18', num_classes=2)\n")
    assert result.returncode == 0, result.stderr
    assert "declared: nms,qnms" in result.stdout


def test_nothing_is_declared_where_torchvision_imports_normally():
    result = run(HEALTHY_TORCHVISION + CHECK.replace("import_timm()", "import_torchvision()"))
    assert result.returncode == 0, result.stderr
    assert "declared: none" in result.stdout


def test_other_import_errors_are_not_hidden():
    code = (
        "import sys; sys.modules['torchvision'] = None\n"
        "from pkd_toolkit.torch_compat import import_torchvision\n"
        "try:\n    import_torchvision()\nexcept ImportError:\n    print('import error kept')\n"
    )
    result = run(code)
    assert "import error kept" in result.stdout, result.stderr
