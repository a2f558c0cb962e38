"""report.md and the Markdown tables of the files beside it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from pkd_toolkit.report.formatting import exits_summary, format_threshold, pct, segments_label, summary_line
from pkd_toolkit.report.provenance_text import provenance_markdown
from pkd_toolkit.report.tables import TableData, comparison_table, ensembles_table, exits_table


def markdown(report: dict[str, Any]) -> str:
    """report.md: how it was produced, the tables, and links to the plots."""
    seconds = report.get("seconds")
    lines = [f"# {'Test' if report.get('test') else 'Run'} report: {report['recipe']}", ""]
    lines += provenance_markdown(report)
    if seconds is not None and not report.get("provenance"):
        lines += [f"Wall time: {seconds:.0f} s", ""]
    if report.get("skipped"):
        lines += [f"{len(report['skipped'])} sample(s) could not be read and were skipped:", ""]
        lines += [f"- `{entry['sample']}`: {entry['problem']}" for entry in report["skipped"]] + [""]
    if report.get("selection"):
        chosen = report["selection"]
        lines += [
            f"Chosen on: checkpoints: {chosen['checkpoints']}; ensembles fitted on: {chosen['ensembles']}; early-exit "
            f"threshold: {chosen['threshold']}; teacher order (teachers: auto): {chosen['teachers']}. Every accuracy "
            "below is measured on the test split.",
            "",
        ]
    if report.get("notes"):
        lines += ["Decisions taken while training:", ""]
        lines += [f"- `{key}`: {json.dumps(value)}" for key, value in report["notes"].items()] + [""]
    lines += figures_markdown(report.get("figures") or {})
    lines += section(exits_table(report))
    if report["comparison"]:
        lines += section(comparison_table(report))
    if report["ensembles"]:
        lines += section(ensembles_table(report))
        lines += ["## Early exit", "", *(summary_line(s) + "\n" for s in report["early_exit_summary"])]
        for schedule, files in report["artefacts"].items():
            lines += [f"![early exit, {schedule}]({files['plot']})", ""]
        lines.append(points_markdown(report["early_exit"]))
    return "\n".join(lines).rstrip() + "\n"


def figures_markdown(figures: dict[str, Any]) -> list[str]:
    """The training curves, and links to every confusion matrix (per exit, per ensemble)."""
    lines = []
    if figures.get("training_curves"):
        image = f"![training curves: loss per objective, periodic evaluation]({figures['training_curves']})"
        lines += ["## Training curves", "", image, ""]
    confusion, ensembles = figures.get("confusion") or {}, figures.get("ensemble_confusion") or {}
    if confusion or ensembles:
        lines += ["## Confusion matrices (test split; rows: true class, columns: predicted)", ""]
        for schedule in dict.fromkeys([*confusion, *ensembles]):
            links = [f"[{key}]({path})" for key, path in confusion.get(schedule, {}).items()]
            links += [f"[ensemble {label}]({path})" for label, path in ensembles.get(schedule, {}).items()]
            lines.append(f"- {schedule}: " + ", ".join(links))
        lines.append("")
    return lines


def tables_markdown(title: str, intro: str, tables: Iterable[TableData]) -> str:
    """A page of tables (seeds.md, ``pkd compare --markdown``): a title, a sentence, a section per table."""
    lines = [f"# {title}", "", intro, ""]
    for table in tables:
        lines += section(table)
    return "\n".join(lines).rstrip() + "\n"


def ensembles_markdown(sections: dict[str, Any]) -> str:
    """The ensembles and the early-exit points of one schedule's report sections."""
    return "\n".join([*section(ensembles_table(sections)), "## Early exit", "", points_markdown(sections["early_exit"])])


def section(table: TableData) -> list[str]:
    """A ``##`` heading and the table, as report.md lines."""
    return [f"## {table.title}", "", markdown_table(table.headers, table.rows)]


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table; numbers are right-aligned."""
    rows = [[str(cell) for cell in row] for row in rows]
    numeric = [
        any(_is_number(row[i]) for row in rows) and all(_is_number(row[i]) or not row[i] for row in rows)
        for i in range(len(headers))
    ]
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join("---:" if right else "---" for right in numeric) + " |",
    ]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _is_number(text: str) -> bool:
    """``"92.77"``, ``"40%"``, ``"45.6 ± 4.5"`` (a mean and its spread) and ``"+0.5"`` are numbers."""
    try:
        float(text.partition(" ± ")[0].rstrip("%"))
    except ValueError:
        return False
    return True


def points_markdown(points: Iterable[dict[str, Any]]) -> str:
    """The accuracy-versus-cost points as a Markdown table (for report.md and the README)."""
    rows = [
        (
            point["schedule"],
            point["ensembler"],
            segments_label(point["segments"]),
            format_threshold(point["threshold"]),
            pct(point["top1"]),
            f"{point['gmacs_per_video']:.2f}",
            f"{100 * point['gmacs_fraction']:.0f}%",
            exits_summary(point["exits"]),
        )
        for point in points
    ]
    headers = ("schedule", "ensemble", "segments", "threshold", "top-1", "GMACs/video", "of full", "videos per exit")
    return markdown_table(headers, rows)
