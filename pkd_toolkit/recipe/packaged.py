"""The ready-made recipes shipped with the toolkit (the ``pkd_recipes`` package data), found by name.

``pkd run quickstart`` runs the packaged ``quickstart.yaml`` unless the working
directory has ``quickstart`` or ``quickstart.yaml``: a file here always wins, so
a copy made with ``pkd recipes copy`` and edited is what runs.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import yaml

from pkd_toolkit import atomic
from pkd_toolkit.errors import UsageError

PACKAGE = "pkd_recipes"
SUFFIX = ".yaml"


def packaged_recipes() -> dict[str, Path]:
    """Name -> file of every packaged recipe, sorted by name."""
    try:
        folder = files(PACKAGE)
    except ModuleNotFoundError:  # a core installed without its recipes: nothing to offer
        return {}
    found = {
        entry.name.removesuffix(SUFFIX): Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(SUFFIX)
    }
    return dict(sorted(found.items()))


def describe(path: Path) -> str:
    """A recipe's ``description:`` (read as plain YAML: nothing is validated)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return ""
    return str(data.get("description") or "") if isinstance(data, dict) else ""


def recipe_path(text: str | Path) -> Path:
    """The recipe file ``text`` names: a path (as given), or the name of a packaged recipe.

    A bare name (no folder, no suffix) is, in order: a file of that name here,
    ``NAME.yaml`` here (what ``pkd recipes copy NAME`` writes, so an edited
    copy wins), then the packaged recipe. Anything else is left to the recipe
    loader, which reports a missing file itself.
    """
    path = Path(text)
    if path.exists() or path.suffix or len(path.parts) != 1:
        return path
    if path.with_suffix(SUFFIX).is_file():
        return path.with_suffix(SUFFIX)
    packaged = packaged_recipes()
    if path.name in packaged:
        return packaged[path.name]
    raise UsageError(
        f"{text}: no such recipe file, and no packaged recipe of that name "
        f"(packaged: {', '.join(packaged) or 'none'}; `pkd recipes` lists them)"
    )


def copy_recipe(name: str, destination: Path | None, *, force: bool = False) -> Path:
    """Write the packaged recipe ``name`` to ``destination`` (a file, or a folder to put ``NAME.yaml`` in).

    An existing file is refused unless ``force``; the copy keeps the recipe's comments.
    """
    packaged = packaged_recipes()
    if name not in packaged:
        raise UsageError(f"{name}: no packaged recipe of that name (packaged: {', '.join(packaged) or 'none'})")
    target = destination if destination is not None else Path(name + SUFFIX)
    if target.is_dir():
        target = target / (name + SUFFIX)
    if target.exists() and not force:
        raise UsageError(f"{target}: already exists; choose another destination, or overwrite it with --force")
    try:
        atomic.write_text(target, packaged[name].read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"{target}: cannot write the recipe there: {error.strerror or error}") from None
    return target
