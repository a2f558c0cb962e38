"""The opening of report.md: how the report was produced (provenance), rebuilt (``pkd eval``) or re-tested
(``pkd test``), in words."""

from __future__ import annotations

from typing import Any

LIBRARY_NAMES = {"python": "Python", "av": "PyAV"}


def provenance_markdown(report: dict[str, Any]) -> list[str]:
    """The "how it was produced" block of report.md; empty for a report written before provenance was kept."""
    provenance = report.get("provenance")
    later = _test_lines(report.get("test")) + _evaluation_lines(report.get("evaluation"))
    if not provenance:  # a run older than provenance: what was done to it since, at least
        return ["## How this report was produced", "", *later, ""] if later else []
    overrides = provenance.get("overrides") or []
    plugins = ", ".join(
        f"{name} {version or '(no version)'}" for name, version in provenance.get("plugins", {}).items()
    )
    libraries = ", ".join(
        f"{LIBRARY_NAMES.get(name, name)} {version or 'not installed'}"
        for name, version in provenance.get("packages", {}).items()
    )
    processes = provenance.get("world_size", 1)
    lines = [
        "## How this report was produced",
        "",
        f"- **Command**: `{provenance.get('command') or '(not recorded)'}`",
        f"- **Overrides** (`--set`): {', '.join(f'`{text}`' for text in overrides) if overrides else 'none'}",
        f"- **Toolkit**: pkd-toolkit {provenance.get('toolkit')}; plugins: {plugins or 'none'}",
        f"- **Libraries**: {libraries}",
        (
            f"- **Device**: {provenance.get('device')}, {processes} process{'es' if processes != 1 else ''}; "
            f"**seed** {provenance.get('seed')}"
        ),
        f"- **Data set**: {data_text(provenance.get('data') or {})}",
        f"- **Wall time**: {wall_time_text(provenance.get('wall_time') or {}, report.get('seconds'))}",
        f"- **Finished**: {provenance.get('finished')} on {provenance.get('host') or 'an unnamed host'}",
    ]
    return [*lines, *later, ""]


def data_text(data: dict[str, Any]) -> str:
    """``synthetic_actions at `/data/quickstart`, split 1: 420 train and 180 test videos, 12 classes, none skipped``."""
    where = f" at `{data['root']}`" if data.get("root") else ""
    split = f", split {data['split']}" if data.get("split") is not None else ""
    videos = data.get("videos", {})
    counted = [f"{count} {name}" for name, count in videos.items()]
    counts = " and ".join([", ".join(counted[:-1]), counted[-1]] if len(counted) > 1 else counted)
    skipped = data.get("skipped", 0)
    return (
        f"{data.get('dataset')}{where}{split}: {counts} videos, {data.get('classes')} classes, "
        f"{f'{skipped} sample(s) skipped (listed below)' if skipped else 'none skipped'}"
    )


def wall_time_text(wall_time: dict[str, Any], total: float | None) -> str:
    """``612 s in all: backbones 200 s (20 epochs), exits 300 s (20 epochs), score files 50 s, ensembles 12 s``."""
    parts = [
        f"{stage} {times['seconds']:.0f} s ({times['epochs']} epoch{'s' if times['epochs'] != 1 else ''})"
        for stage, times in (wall_time.get("stages") or {}).items()
    ]
    for key, name in (("scores", "score files"), ("ensembles", "ensembles and report")):
        if wall_time.get(key) is not None:
            parts.append(f"{name} {wall_time[key]:.0f} s")
    head = f"{total:.0f} s in all" if total is not None else "not recorded"
    return f"{head}: {', '.join(parts)}" if parts else head


def _evaluation_lines(evaluation: dict[str, Any] | None) -> list[str]:
    if not evaluation:
        return []
    applied = ", ".join(f"`{text}`" for text in evaluation.get("overrides", [])) or "none"
    ignored = evaluation.get("ignored") or []
    command, at = evaluation.get("command"), evaluation.get("at")
    lines = [f"- **Rebuilt** by `{command}` on {at} (nothing retrained); overrides: {applied}"]
    if ignored:
        lines.append(f"- **Ignored** (nothing to recompute them with): {', '.join(f'`{text}`' for text in ignored)}")
    return lines


def _test_lines(test: dict[str, Any] | None) -> list[str]:
    if not test:
        return []
    lines = [
        (
            f"- **Re-test** of the run `{test.get('run')}` from the checkpoint `{test.get('checkpoint')}` "
            f"({test.get('position')}); scored again: {_splits(test.get('scored', []))}"
        ),
        f"- **Ensembles** fitted on {test.get('ensembles_fitted_on')}",
    ]
    ignored = test.get("ignored") or []
    if ignored:
        lines.append(f"- **Ignored** (they change training, not testing): {', '.join(f'`{text}`' for text in ignored)}")
    return lines


def _splits(names: list[str]) -> str:
    """``the test split``, ``the train and test splits``."""
    return f"the {' and '.join(names)} split{'s' if len(names) != 1 else ''}"
