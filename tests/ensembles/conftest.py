"""Fixtures of the ensemble tests: synthetic score sets, an isolated plugin set, run folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from pkd_plugins import wise
from pkd_toolkit.plugins import Plugins
from pkd_toolkit.run import RECIPE_FILE
from pkd_toolkit.scores import ScoreSet, score_path

from .synthetic import StubComponents, recipe_data, synthetic_scores


@pytest.fixture
def make_scores() -> Callable[..., ScoreSet]:
    return synthetic_scores


@pytest.fixture
def train_scores() -> ScoreSet:
    return synthetic_scores("train")


@pytest.fixture
def test_scores() -> ScoreSet:
    return synthetic_scores("test")


@pytest.fixture
def plugins() -> Plugins:
    """Only the wise plugin and the stubs: the tests do not depend on the other plugins."""
    loaded = Plugins()
    loaded.register(wise, "wise")
    loaded.register(StubComponents(), "stubs")
    loaded.collect_components()
    assert not loaded.broken(), [info.error for info in loaded.broken()]
    return loaded


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """``make_run(schedules=("pkd",), **recipe_sections)``: a run folder with a recipe and score files."""

    def make(schedules=("pkd",), **sections) -> Path:
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        (run_dir / RECIPE_FILE).write_text(yaml.safe_dump(recipe_data(**sections)), encoding="utf-8")
        for schedule in schedules:
            for split in ("train", "test"):
                synthetic_scores(split, schedule=schedule).save(score_path(run_dir, schedule, split))
        return run_dir

    return make
