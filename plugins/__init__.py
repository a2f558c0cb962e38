"""Built-in plugins of pkd-toolkit, installed as the package ``pkd_plugins``.

Each module is a plugin registered through the ``pkd_toolkit`` entry-point
group, exactly like a third-party plugin. Plugin modules stay light: heavy
imports (torch, timm, av) happen inside the factories they register.
"""
