"""Read YAML as plain data with PyYAML's safe loader, remembering where each value was written.

Recipes are data: any tag that would build a Python object is refused, and so
are duplicate keys (PyYAML would silently keep the last one).

Recipes are also small, and YAML can make a small file big: an alias (``*name``)
repeats everything its anchor (``&name``) holds, and anchors may alias each
other, so a file of under 1 KB can stand for billions of values (the "billion
laughs" file), which every later step (line index, validation, the resolved
recipe) would walk. Nesting is recursion for PyYAML's composer, so 500 ``[`` in
a row end in a RecursionError. Both are refused before anything walks the data:

- :data:`MAX_DEPTH`: values nested at most 50 levels deep (the deepest built-in
  recipe nests 5; PyYAML needs about two stack frames per level);
- :data:`MAX_VALUES`: at most 100,000 values once every alias is expanded (the
  largest built-in recipe expands to a few hundred; reading 100,000 values
  with their line index takes about half a second and 15 MB);
- an alias inside the value its anchor names (``&a [*a]``) is refused: it
  stands for an infinite value.

The limits apply to recipe files and to ``--set`` values alike
(``benchmarks/bench_hostile_yaml.py`` measures the refusals).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pkd_toolkit.errors import UsageError

Location = tuple[str | int, ...]

MAX_DEPTH = 50
MAX_VALUES = 100_000


@dataclass
class YamlSource:
    """Data read from one YAML file and the line (1-based) of every key and item in it."""

    path: Path
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)

    def line_of(self, location: Location) -> int | None:
        """Line of ``location``, or of its closest written ancestor (a default has no line of its own)."""
        for end in range(len(location), -1, -1):
            if location[:end] in self.lines:
                return self.lines[location[:end]]
        return None


def read_yaml(path: Path) -> YamlSource:
    """Parse ``path`` safely; raise :class:`UsageError` naming file and line on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a recipe file") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"{path}: not a UTF-8 text file ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot be read: {error.strerror}") from None
    source = YamlSource(path, None)

    def index(node: yaml.Node) -> None:
        _index(node, (), source, path)

    source.data = _load(text, lambda line: f"{path}:{line}", index)
    if source.data is _EMPTY:
        raise UsageError(f"{path}: the file is empty; a recipe is a YAML mapping of sections")
    return source


def load_value(text: str, where: str) -> Any:
    """One YAML value (a ``--set`` value), read safely within the same limits; ``where`` prefixes messages."""
    value = _load(text, lambda line: where, None)
    return None if value is _EMPTY else value


_EMPTY = object()
Place = Callable[[int | str], str]  # line -> "recipe.yaml:12" (or "--set ..." for a value)


def _load(text: str, place: Place, index: Callable[[yaml.Node], None] | None) -> Any:
    """Compose ``text`` within the limits, let ``index`` see the node graph, construct plain data."""
    loader = _BoundedLoader(text, place)
    try:
        node = loader.get_single_node()
        if node is None:
            return _EMPTY
        _check_expansion(node, place, loader.anchor_names)
        if index is not None:
            index(node)
        return loader.construct_document(node)
    except yaml.constructor.ConstructorError as error:
        raise UsageError(_tag_message(place, error)) from None
    except yaml.MarkedYAMLError as error:
        raise UsageError(f"{place(_line(error))}: malformed YAML: {error.problem}{_context(error)}") from None
    except yaml.YAMLError as error:
        raise UsageError(f"{place('?')}: malformed YAML: {error}") from None
    finally:
        loader.dispose()


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing values nested deeper than :data:`MAX_DEPTH` while it composes them, and
    remembering the anchor name of each anchored node (PyYAML's nodes do not keep it)."""

    def __init__(self, text: str, place: Place):
        super().__init__(text)
        self._place = place
        self._depth = 0
        self.anchor_names: dict[int, str] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            event = self.peek_event()
            if self._depth > MAX_DEPTH:
                raise UsageError(
                    f"{self._place(event.start_mark.line + 1)}: the recipe nests values more than {MAX_DEPTH} "
                    "levels deep; recipes are limited to that (see pkd_toolkit/recipe/yaml_source.py)"
                )
            node = super().compose_node(parent, index)
            if getattr(event, "anchor", None) and not isinstance(event, yaml.AliasEvent):
                self.anchor_names[id(node)] = event.anchor
            return node
        finally:
            self._depth -= 1


def _check_expansion(root: yaml.Node, place: Place, anchor_names: dict[int, str]) -> None:
    """Refuse a node graph that stands for more than :data:`MAX_VALUES` values, or for an infinite one.

    Aliases share nodes, so each node's expanded size is computed once (depth
    first; the depth is bounded by the composer's limit) and the first node
    found above the limit is named: the smallest anchor that is too big.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            anchor = anchor_names.get(key, "?")
            raise UsageError(
                f"{place(node.start_mark.line + 1)}: the alias *{anchor} refers to a value that contains it "
                "(an endless value)"
            )
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        open_nodes.discard(key)
        if total > MAX_VALUES:
            raise UsageError(
                f"{place(node.start_mark.line + 1)}: the recipe expands to more than {MAX_VALUES:,} values "
                f"(this value alone holds {total:,}: each alias repeats what its anchor holds); "
                "recipes are limited to that (see pkd_toolkit/recipe/yaml_source.py)"
            )
        sizes[key] = total
        return total

    size(root)


def _index(node: yaml.Node, location: Location, source: YamlSource, path: Path) -> None:
    source.lines[location] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<' merges are resolved by the constructor; lines stay with the parent
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise UsageError(f"{path}:{line}: duplicate key {key!r} (first written on line {seen[key]})")
            seen[key] = line
            _index(value_node, (*location, key), source, path)
            source.lines[(*location, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index(item, (*location, index), source, path)


def _line(error: yaml.MarkedYAMLError) -> int | str:
    mark = error.problem_mark or error.context_mark
    return mark.line + 1 if mark is not None else "?"


def _context(error: yaml.MarkedYAMLError) -> str:
    """`` (while parsing a flow sequence started on line 1)`` when the problem began elsewhere."""
    if not error.context or error.context_mark is None or error.context_mark.line == getattr(error.problem_mark, "line", None):
        return ""
    return f" ({error.context} started on line {error.context_mark.line + 1})"


def _tag_message(place: Place, error: yaml.constructor.ConstructorError) -> str:
    problem = error.problem or ""
    if "tag" in problem:
        tag = problem.split("tag", 1)[1].strip(" '")
        tag = tag.replace("tag:yaml.org,2002:", "!!")
        return (
            f"{place(_line(error))}: the YAML tag {tag!r} is not allowed: recipes are plain data "
            "and never build Python objects"
        )
    return f"{place(_line(error))}: {problem}"
