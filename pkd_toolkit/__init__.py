"""pkd-toolkit: knowledge distillation for action recognition on compressed video.

The core is deliberately light: importing it loads no torch. Plugins implement
the hooks declared in :mod:`pkd_toolkit.hookspecs` with :data:`hookimpl`.
"""

from importlib.metadata import PackageNotFoundError, version

import pluggy

PROJECT_NAME = "pkd_toolkit"
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

try:
    __version__ = version("pkd-toolkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["PROJECT_NAME", "hookimpl", "__version__"]
