"""``pkd compare RUN_A RUN_B ...``: reports side by side, each run's figures and their differences to the first."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pkd_toolkit import console


def compare(
    runs: list[Path] = typer.Argument(
        ...,
        help="Run folders (or `pkd test` folders) with a report.json, of one data set.",
        show_default=False,
        metavar="RUN_DIR...",
    ),
    markdown: bool = typer.Option(False, "--markdown", help="Print Markdown tables (to paste) instead."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Put runs' reports side by side: per-exit and ensemble top-1 of each, and each run minus the first.

    The runs are named A, B, C... in the order given. Runs of different data sets
    (another data set, root, split or number of test videos) are refused; other
    test views of the same data (`pkd test`) are not a different data set.
    """
    from pkd_toolkit.report.compare import compare_runs
    from pkd_toolkit.report.markdown import tables_markdown
    from pkd_toolkit.report.summary_tables import compare_tables
    from pkd_toolkit.report.terminal import print_table_data

    comparison = compare_runs(runs)
    if as_json:
        typer.echo(json.dumps(comparison, indent=2))
    elif markdown:
        intro = "Top-1 on the test split, in %; a column `B - A` is run B minus run A, in points."
        typer.echo(tables_markdown("Runs compared", intro, compare_tables(comparison)), nl=False)
    else:
        print_table_data(compare_tables(comparison))
        console.info("differences are in points of top-1; --markdown prints the same tables to paste")


def register(cli: typer.Typer) -> None:
    cli.command()(compare)
