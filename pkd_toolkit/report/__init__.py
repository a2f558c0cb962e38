"""The run report: built as data from score files (``build``), rendered apart from that: Markdown
(``markdown``), rich tables on the terminal (``terminal``), plots (``plots``) and the files beside the
report (``files``: per-schedule ensemble tables and plots, confusion matrices).

May import: ``ensembles``, ``scores``, ``recipe``, ``plugin``, ``run_folder``,
``networks`` (only its root, which holds :data:`~pkd_toolkit.networks.FINAL` and no
torch) and the foundation modules. matplotlib is imported inside the plot functions.
"""
