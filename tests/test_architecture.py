"""The house rules, checked on the source: no import cycle, packages import what their ``__init__`` says they
may, plugins import the core through ``pkd_toolkit.api`` only, long modules say why they are long.

Imports are read with ``ast`` (the code is not run), function-level imports included; those under
``if TYPE_CHECKING:`` are annotations only and do not count.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "pkd_toolkit"
# Top-level modules every package may use: the house's utilities and the package root.
FOUNDATION = {"pkd_toolkit", "pkd_toolkit.errors", "pkd_toolkit.console", "pkd_toolkit.atomic", "pkd_toolkit.torch_compat"}
ENTRY_POINTS = {"pkd_toolkit.__main__", "pkd_toolkit.api"}  # the console entry, and the plugins' view of the core
PACKAGES = sorted(path.parent.name for path in CORE.glob("*/__init__.py"))
LONG = 300  # lines; a longer module says why at its top ("Over 300 lines ..." / "Just over 300 lines ...")


def module_name(path: Path, root: Path, package: str) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(tree: ast.Module, importer: str, known: set[str]) -> Iterator[tuple[str, int]]:
    """(module, line) of every import outside ``if TYPE_CHECKING:`` blocks; ``from m import x`` is ``m.x`` when
    that is a module."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(inner) for statement in node.body for inner in ast.walk(statement)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importer's package
                base = ".".join(importer.split(".")[: -node.level] + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield (candidate if candidate in known else base), node.lineno


def core_modules() -> dict[str, ast.Module]:
    return {module_name(path, CORE, "pkd_toolkit"): ast.parse(path.read_text()) for path in CORE.rglob("*.py")}


def import_graph() -> dict[str, dict[str, int]]:
    """Core module -> {core module it imports: first line}."""
    modules = core_modules()
    graph: dict[str, dict[str, int]] = {}
    for name, tree in modules.items():
        edges = graph.setdefault(name, {})
        for imported, line in runtime_imports(tree, name, set(modules)):
            if imported.startswith("pkd_toolkit") and imported != name:
                edges.setdefault(imported, line)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, {}):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_of(module: str) -> str | None:
    """``recipe`` for ``pkd_toolkit.recipe.loading``; None for foundation and entry-point modules."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in PACKAGES else None


def allowed_packages(package: str) -> set[str]:
    """What the package's ``__init__`` docstring says it may import (its "May import: ..." sentence)."""
    docstring = ast.get_docstring(ast.parse((CORE / package / "__init__.py").read_text())) or ""
    match = re.search(r"May import: (.*?)\.(\s|$)", docstring, flags=re.S)
    assert match, f"pkd_toolkit/{package}/__init__.py does not say what it may import ('May import: ...')"
    sentence = match.group(1)
    named = set(re.findall(r"``(\w+)``", sentence))
    assert named <= set(PACKAGES), f"{package}: 'May import' names what is not a core package: {named - set(PACKAGES)}"
    if "every core package" in sentence:
        return set(PACKAGES) - named - {package}
    return named


def test_the_import_graph_finds_a_cycle_when_there_is_one():
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b": 1}, "b": {}}) == []


def test_the_core_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_every_package_imports_only_what_its_init_allows():
    problems = []
    for module, edges in import_graph().items():
        package = package_of(module)
        for imported, line in edges.items():
            target = package_of(imported)
            where = f"{module} (line {line}) imports {imported}"
            if imported in ENTRY_POINTS:
                problems.append(f"{where}: only plugins and the console script use it")
            elif module in FOUNDATION and imported not in FOUNDATION:
                problems.append(f"{where}: a foundation module imports only foundation modules")
            elif package is not None and target is not None and target != package:
                if target not in allowed_packages(package):
                    problems.append(f"{where}: {package}/__init__.py does not allow {target}")
    assert problems == []


def test_the_core_names_no_plugin_package():
    imports = [
        (module, imported)
        for module, tree in core_modules().items()
        for imported, _ in runtime_imports(tree, module, set())
        if imported.startswith("pkd_plugins")
    ]
    assert imports == []


def plugin_sources() -> Iterator[tuple[str, Path]]:
    for path in (ROOT / "plugins").rglob("*.py"):
        yield module_name(path, ROOT / "plugins", "pkd_plugins"), path
    for path in (ROOT / "examples").rglob("src/**/*.py"):
        yield path.stem, path
    yield "toy_plugin", ROOT / "tests" / "toy_plugin.py"


def test_plugins_import_the_core_through_the_api_only():
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {imported}"
        for module, path in plugin_sources()
        for imported, line in runtime_imports(ast.parse(path.read_text()), module, set())
        if imported.startswith("pkd_toolkit") and imported != "pkd_toolkit.api"
    ]
    assert found == []


def test_the_api_lists_only_names_it_can_give():
    import pkd_toolkit.api as api

    for name in api.__all__:
        assert getattr(api, name) is not None, name
    with pytest.raises(AttributeError, match="a plugin may use only what it lists"):
        api.Trainer  # noqa: B018 - the engine's trainer is not part of the contract


@pytest.mark.parametrize("folder", ["pkd_toolkit", "plugins"])
def test_long_modules_say_why_they_are_long(folder):
    unexplained = []
    for path in (ROOT / folder).rglob("*.py"):
        lines = path.read_text().splitlines()
        docstring = ast.get_docstring(ast.parse("\n".join(lines))) or ""
        if len(lines) > LONG and not re.search(r"over 300 lines", docstring, flags=re.I):
            unexplained.append(f"{path.relative_to(ROOT)}: {len(lines)} lines")
    assert unexplained == []
