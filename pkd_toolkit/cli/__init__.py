"""The ``pkd`` command line: thin typer commands that call the packages below them (``app`` builds it).

May import: every core package. Nothing imports ``cli`` but ``__main__`` and the
console script.
"""
