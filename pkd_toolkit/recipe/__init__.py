"""Recipes: safe YAML with line numbers (``yaml_source``), the core's own sections (``settings``, on strict models
from ``base``; what chooses what, ``selection``), the model assembled from the plugins' components (``model``),
``--set`` overrides (``overrides``, walking the model with ``walk``), messages that name file and line
(``problems``), loading and writing recipes (``loading``) and the Markdown reference (``reference``).

May import: ``plugin`` (the registry) and the foundation modules. No torch.
"""
