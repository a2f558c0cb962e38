"""Several seeds summarised (mean ± sd of every figure) and runs compared side by side, on hand-made reports;
runs of different data sets refused."""

from __future__ import annotations

import json
import statistics

import pytest

from pkd_toolkit.errors import UsageError
from pkd_toolkit.report.markdown import tables_markdown
from pkd_toolkit.report.seeds import summarise_seeds
from pkd_toolkit.report.summary_tables import seed_tables


def fake_report(seed: int, offset: float, *, root: str = "/data/quickstart", test_videos: int = 180) -> dict:
    """A report.json as `pkd run` writes it, cut down to what summaries and comparisons read."""
    data = {
        "dataset": "synthetic_actions",
        "root": root,
        "split": 1,
        "videos": {"train": 420, "test": test_videos},
        "classes": 12,
    }
    point = {"top1": 0.74 + offset, "gmacs_per_video": 0.2, "gmacs_fraction": 0.5}
    return {
        "recipe": "quickstart",
        "provenance": {"seed": seed, "overrides": [f"seed={seed}"], "data": data},
        "exits": [
            {"schedule": "ce", "network": "mv", "exit": "ic1", "top1": 0.5 + offset, "gmacs": 0.016},
            {"schedule": "pkd", "network": "mv", "exit": "ic1", "top1": 0.6 + offset, "gmacs": 0.016},
        ],
        "comparison": [
            {
                "schedule": "pkd",
                "network": "mv",
                "exit": "ic1",
                "top1": 0.6 + offset,
                "base": "ce",
                "base_top1": 0.5 + offset,
                "difference": 0.1,
            }
        ],
        "ensembles": [
            {"schedule": "pkd", "name": "sum", "component": "sum", "top1": 0.7, "gmacs_per_video": 0.4},
            {"schedule": "pkd", "name": "wise", "component": "wise", "top1": 0.7 + offset, "gmacs_per_video": 0.4},
        ],
        "early_exit": [{"schedule": "pkd", "ensembler": "wise", "segments": {"mv": 5}, "threshold": 0.9, **point}],
        "early_exit_summary": [{"schedule": "pkd", "ensembler": "wise", "cheapest_within": point}],
        "seconds": 600.0 + 60 * seed,
    }


def test_every_figure_is_summarised_as_mean_and_spread_over_the_seeds():
    offsets = {0: 0.0, 1: 0.02, 2: 0.07}
    summary = summarise_seeds({seed: fake_report(seed, offset) for seed, offset in offsets.items()})
    assert summary["seeds"] == [0, 1, 2] and summary["test_videos"] == 180
    pkd = next(row for row in summary["exits"] if row["schedule"] == "pkd")
    assert pkd["top1"]["mean"] == pytest.approx(0.6 + statistics.fmean(offsets.values()))
    assert pkd["top1"]["sd"] == pytest.approx(statistics.stdev(offsets.values())) and pkd["gmacs"] == 0.016
    assert summary["comparison_means"]["pkd"]["mean"] == pytest.approx(0.1)
    (wise,) = summary["ensemble_differences"]  # the last ensemble against each other one
    assert (wise["ensemble"], wise["minus"]) == ("wise", "sum")
    assert wise["difference"]["mean"] == pytest.approx(statistics.fmean(offsets.values()))
    assert summary["seconds"]["mean"] == pytest.approx(660.0)
    page = tables_markdown("quickstart over 3 seeds", "intro", seed_tables(summary))
    assert "| pkd | mv | ic1 | 63.0 ± 3.6 | 0.016 |" in page  # every row names its schedule
    assert "| mean over exits, minus ce |  |  | +10.0 ± 0.0 |" in page
    assert "| pkd | sum | 70.0 ± 0.0 | 0.400 | +3.0 ± 3.6 |" in page and "| wise minus it |" in page
    assert "| pkd | wise | 5 segments | 0.9 | 77.0 ± 3.6 | 0.200 | 50% |" in page


def test_seeds_of_different_data_sets_are_refused():
    with pytest.raises(
        UsageError, match=r"seeds 0 and 1 are runs on different data sets \(root '/data/a' vs '/data/b'\)"
    ):
        summarise_seeds({0: fake_report(0, 0.0, root="/data/a"), 1: fake_report(1, 0.0, root="/data/b")})


@pytest.fixture
def runs(tmp_path):
    """``runs(report, ...)``: run folders holding those reports."""

    def make(*reports: dict) -> list:
        folders = []
        for number, report in enumerate(reports):
            folder = tmp_path / f"run-{number}"
            folder.mkdir()
            (folder / "report.json").write_text(json.dumps(report))
            folders.append(folder)
        return folders

    return make


def test_compare_puts_runs_side_by_side_with_their_differences(cli, runs):
    first, second = runs(fake_report(0, 0.0), fake_report(1, 0.05))
    result = cli("compare", first, second, "--markdown")
    assert result.code == 0, result.err
    assert f"| A | {first} | quickstart | 0 | seed=0 |  |" in result.out
    assert "| pkd | mv | ic1 | 60.00 | 65.00 | +5.00 |" in result.out
    assert "| pkd | wise | 70.00 | 75.00 | +5.00 |" in result.out
    assert "| pkd | wise | 74.00 at 0.20 GMACs (50%) | 79.00 at 0.20 GMACs (50%) |" in result.out
    assert cli("compare", first, second).code == 0  # the same tables for the terminal


@pytest.mark.parametrize(
    ("other", "difference"),
    [
        ({"root": "/data/elsewhere"}, "root '/data/quickstart' vs '/data/elsewhere'"),
        ({"test_videos": 150}, "test videos 180 vs 150"),
    ],
)
def test_compare_refuses_runs_of_different_data_sets(cli, runs, other, difference):
    first, second = runs(fake_report(0, 0.0), fake_report(1, 0.0, **other))
    result = cli("compare", first, second)
    err = " ".join(result.err.split())
    assert result.code == 2 and err.count("error:") == 1 and result.out == ""
    assert (
        f"{first} and {second} are runs on different data sets ({difference}): their figures cannot be compared" in err
    )


def test_compare_refuses_folders_without_a_report_and_a_single_run(cli, runs, tmp_path):
    (first,) = runs(fake_report(0, 0.0))
    result = cli("compare", first, tmp_path / "run-9")
    assert result.code == 2 and "run-9: no such run folder" in result.err
    (tmp_path / "unfinished").mkdir()
    result = cli("compare", first, tmp_path / "unfinished")
    assert result.code == 2 and "has no report.json; compare finished runs" in " ".join(result.err.split())
    assert cli("compare", first).code == 2
