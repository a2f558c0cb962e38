"""Pipelines: the commands' way through the packages below them, each step one call to its owner.

``train``: ``pkd run`` (recipe -> data -> networks -> stages -> score files ->
ensembles -> report); ``preflight``: what is checked before a run folder exists
(``pkd validate`` too); ``predictor``: ``pkd predict``'s early-exit inference on
single videos.

May import: every core package except ``cli``.
"""
