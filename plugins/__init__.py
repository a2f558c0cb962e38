"""Built-in plugins of pkd-toolkit, installed as the package ``pkd_plugins``: one package each.

Each package is a plugin registered through the ``pkd_toolkit`` entry-point
group by its ``hooks`` module, exactly like a third-party plugin, and imports
from the core only what :mod:`pkd_toolkit.api` offers. Inside a package:
``__init__`` says what the plugin adds, ``hooks`` registers it, ``config`` holds
its recipe sections, and the other modules implement it. Hook modules stay
light: heavy imports (torch, timm, av) happen inside the factories they
register.
"""
