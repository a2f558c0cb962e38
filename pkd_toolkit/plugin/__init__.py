"""The plugin system: the hook specs (``hookspecs``), loading plugins with their failures isolated
(``manager``), and the registry of named components that recipes choose from (``registry``).

May import: the foundation modules. Everything
here stays free of torch: ``pkd --help`` and ``pkd list-plugins`` load it.
"""
