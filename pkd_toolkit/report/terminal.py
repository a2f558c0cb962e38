"""The report on the terminal: rich tables of the exits, the comparison, the ensembles and the early-exit curves."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.table import Table

from pkd_toolkit import console
from pkd_toolkit.report.formatting import exits_summary, format_threshold, pct, segments_label, summary_line
from pkd_toolkit.report.tables import TableData, comparison_table, ensembles_table, exits_table


def print_tables(report: dict[str, Any]) -> None:
    """Per-exit accuracy, the baseline against the other schedules, the ensembles and the early-exit curves."""
    console.print_table(rich_table(exits_table(report)))
    if report["comparison"]:
        console.print_table(rich_table(comparison_table(report)))
    if report["ensembles"]:
        console.print_table(rich_table(ensembles_table(report)))
        _print_early_exit(report)


def _print_early_exit(report: dict[str, Any]) -> None:
    for summary in report["early_exit_summary"]:
        schedule, label = summary["schedule"], summary["ensembler"]
        points = [p for p in report["early_exit"] if p["schedule"] == schedule and p["ensembler"] == label]
        first = segments_label(points[0]["segments"]) if points else ""  # the other settings: report.md
        curve = _table(
            f"Early exit with {label}, schedule {schedule}, {first}", ("segments",), ("threshold", "top-1", "GMACs/video", "of full")
        )
        curve.add_column("stopped at")
        for point in points:
            if segments_label(point["segments"]) == first:
                curve.add_row(
                    segments_label(point["segments"]), format_threshold(point["threshold"]), pct(point["top1"]),
                    f"{point['gmacs_per_video']:.2f}", f"{100 * point['gmacs_fraction']:.0f}%",
                    exits_summary(point["exits"], separator="\n"),
                )  # fmt: skip
        console.print_table(curve)
        console.out.print(summary_line(summary), soft_wrap=True)
    console.out.print("Every segment setting's curve, and the plots: report.md", soft_wrap=True)


def print_table_data(tables: Iterable[TableData]) -> None:
    """Tables of any other page (``pkd compare``, several seeds) on the terminal."""
    for table in tables:
        console.print_table(rich_table(table))


def rich_table(data: TableData) -> Table:
    table = _table(data.title, data.headers[: data.text_columns], data.headers[data.text_columns :])
    for row in data.rows:
        table.add_row(*row)
    return table


def _table(title: str, text_columns: Iterable[str], number_columns: Iterable[str]) -> Table:
    """A table whose numbers are right-aligned and never cut."""
    table = Table(title=title, title_justify="left")
    for column in text_columns:
        table.add_column(column)
    for column in number_columns:
        table.add_column(column, justify="right", no_wrap=True, min_width=6)
    return table
