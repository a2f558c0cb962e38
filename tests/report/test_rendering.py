"""How the report reads: numbers and settings formatted, Markdown tables, and each schedule's files."""

from __future__ import annotations

import json
from pathlib import Path

from synthetic_scores import recipe_data

from pkd_toolkit.ensembles.evaluation import evaluate_ensembles
from pkd_toolkit.recipe.loading import validate_source
from pkd_toolkit.recipe.yaml_source import YamlSource
from pkd_toolkit.report.files import write_schedule_files
from pkd_toolkit.report.formatting import format_threshold, segments_label
from pkd_toolkit.report.markdown import markdown_table

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_segment_settings_read_as_one_count_or_per_network():
    assert segments_label({"residual": 1, "mv": 1}) == "1 segment"
    assert segments_label({"residual": 3, "mv": 3}) == "3 segments"
    assert segments_label({"residual": 5, "mv": 1}) == "residual 5, mv 1"


def test_markdown_table_aligns_numbers_and_escapes_pipes():
    table = markdown_table(("name", "top-1"), [("a|b", "90.00"), ("c", "85.50")])
    assert table.splitlines() == ["| name | top-1 |", "| --- | ---: |", "| a\\|b | 90.00 |", "| c | 85.50 |"]


def test_thresholds_print_as_written():
    assert format_threshold(0.99999995) == "0.99999995"
    assert format_threshold(1.0) == "1"


def test_each_schedule_gets_its_ensembles_report_table_and_plot(wise_plugins, train_scores, test_scores, tmp_path):
    recipe = validate_source(YamlSource(Path("recipe.yaml"), recipe_data()), wise_plugins.registry)
    sections = evaluate_ensembles(recipe, wise_plugins.registry, train_scores, test_scores, tmp_path)
    artefacts = write_schedule_files(tmp_path, recipe, "pkd", sections)
    assert artefacts == {
        "report": "ensembles/pkd/report.json", "table": "ensembles/pkd/early_exit.md", "plot": "ensembles/pkd/early_exit.png"
    }  # fmt: skip
    written = json.loads((tmp_path / artefacts["report"]).read_text())
    assert written["ensembles"] == sections["ensembles"] and written["early_exit"] == sections["early_exit"]
    assert written["settings"]["early_exit"]["thresholds"] == [0.5, 0.9, 0.99, 1.0]
    assert (tmp_path / artefacts["plot"]).read_bytes().startswith(PNG_SIGNATURE)
    table = (tmp_path / artefacts["table"]).read_text()
    assert "| pkd | wise | 12 |" in table and "| pkd | wise | 5 segments | 0.99 |" in table  # every row names both
