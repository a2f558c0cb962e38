"""One run = one folder: where everything a run writes lives (``layout``), the run in progress (``run``),
the lock that keeps a second process out (``lock``), and opening, resuming and reading run folders
(``opening``).

May import: ``recipe``, ``plugin`` and the foundation modules. Every package that
writes into a run folder takes its paths from ``layout``, so the folder's
description there is the whole truth.
"""
