"""The plugin system: the hook specs (``hookspecs``), finding plugins (``discovery``), loading them with their
failures isolated (``manager``; what a failing lifecycle hook becomes: ``failures``), and the registry of
named components that recipes choose from (``registry``).

May import: the foundation modules. Everything
here stays free of torch: ``pkd --help`` and ``pkd list-plugins`` load it.
"""
