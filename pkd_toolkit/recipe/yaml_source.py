"""Read YAML as plain data with PyYAML's safe loader, remembering where each value was written.

Recipes are data: any tag that would build a Python object is refused, and so
are duplicate keys (PyYAML would silently keep the last one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pkd_toolkit.errors import UsageError

Location = tuple[str | int, ...]


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
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise UsageError(f"{path}: the file is empty; a recipe is a YAML mapping of sections")
        source = YamlSource(path, None)
        _index(node, (), source, path)
        source.data = loader.construct_document(node)
    except yaml.constructor.ConstructorError as error:
        raise UsageError(_tag_message(path, error)) from None
    except yaml.MarkedYAMLError as error:
        raise UsageError(f"{path}:{_line(error)}: malformed YAML: {error.problem}{_context(error)}") from None
    except yaml.YAMLError as error:
        raise UsageError(f"{path}: malformed YAML: {error}") from None
    finally:
        loader.dispose()
    return source


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


def _tag_message(path: Path, error: yaml.constructor.ConstructorError) -> str:
    problem = error.problem or ""
    if "tag" in problem:
        tag = problem.split("tag", 1)[1].strip(" '")
        tag = tag.replace("tag:yaml.org,2002:", "!!")
        return (
            f"{path}:{_line(error)}: the YAML tag {tag!r} is not allowed: recipes are plain data "
            "and never build Python objects"
        )
    return f"{path}:{_line(error)}: {problem}"
