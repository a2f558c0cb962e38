"""Every reference a user can follow resolves inside the repository: Markdown links (and their #anchors), and
the documents that recipes, code and docs name by path."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")
# A document of the repository named in text: a path (docs/x.md, examples/.../README.md) or a top-level
# document in capitals (README.md, DEVELOPERS.md); not the files a run writes (report.md, early_exit.md).
NAMED = re.compile(r"(?<![\w/.<>-])((?:[\w.-]+/)+[\w-]+\.md|[A-Z][A-Z_-]+\.md)\b")


def tracked(*suffixes: str) -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / name for name in names if name.endswith(suffixes) and (ROOT / name).is_file()]


def anchors(markdown: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", markdown.read_text(encoding="utf-8"), flags=re.M):
        text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
        found.add(text.replace(" ", "-"))
    return found


@pytest.mark.parametrize("document", tracked(".md"), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_markdown_links_resolve_inside_the_repository(document):
    broken = []
    for target in LINK.findall(document.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:: outside by intent
            continue
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        if not resolved.exists() or not resolved.is_relative_to(ROOT):
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(target)
    assert not broken, f"{document.relative_to(ROOT)}: links that lead nowhere: {broken}"


def test_documents_named_in_text_exist():
    """Recipes' comments, docstrings and docs name documents by path; each must be in the repository (the tests
    are left out: they name files of their own making)."""
    missing = set()
    for source in tracked(".md", ".py", ".yaml", ".toml", ".txt"):
        if source.is_relative_to(ROOT / "tests"):
            continue
        for name in NAMED.findall(source.read_text(encoding="utf-8", errors="replace")):
            candidates = [ROOT / name, source.parent / name, ROOT / "docs" / name]
            if not any(candidate.is_file() for candidate in candidates):
                missing.add(f"{source.relative_to(ROOT)}: {name}")
    assert not missing, sorted(missing)
