"""Ensembles of exits: the ensembler contract and exit order (``protocol``), the recipe's ensembles built
(``planning``), fitted ensemblers on disk (``fitted``), their evaluation on score files (``evaluation``) and
the early-exit policy (``early_exit``).

May import: ``scores``, ``recipe``, ``plugin``, ``run_folder`` and the foundation
modules. Works on numpy arrays; rendering tables and plots is the report's.
"""
