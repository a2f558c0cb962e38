"""Networks: multi-exit networks, building them from a recipe's ``networks`` section, and what each exit costs.

Owns :class:`~pkd_toolkit.networks.multi_exit.MultiExitNetwork` and the
:class:`~pkd_toolkit.networks.multi_exit.Backbone` contract that backbone
components fulfil (``multi_exit``), the one place that calls backbone and exit
components (``building``), and the cost per exit (``cost``).

May import: ``recipe``, ``plugin`` and the foundation modules.
This ``__init__`` stays free of torch: the report reads :data:`FINAL` from it.
"""

FINAL = "final"
"""Name of the exit that is the backbone's own head."""
