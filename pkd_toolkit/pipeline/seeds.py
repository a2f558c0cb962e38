"""``pkd run RECIPE --seeds 0,1,2``: the recipe once per seed into one folder, and the mean ± sd of the runs.

Each seed is an ordinary run folder, ``seed-<seed>/``; a seed whose report
exists is kept, one with a checkpoint is resumed, so the command can be run
again after an interruption to finish the others.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pkd_toolkit import atomic, console
from pkd_toolkit.errors import UsageError
from pkd_toolkit.pipeline.train import start_run
from pkd_toolkit.plugin.manager import Plugins
from pkd_toolkit.recipe.loading import load_recipe
from pkd_toolkit.report.build import read_report
from pkd_toolkit.report.markdown import tables_markdown
from pkd_toolkit.report.seeds import summarise_seeds
from pkd_toolkit.report.summary_tables import seed_tables
from pkd_toolkit.run_folder.layout import SEEDS_MARKDOWN, SEEDS_REPORT, last_checkpoint, seed_run_dir
from pkd_toolkit.run_folder.opening import runs_of


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; refused unless it is distinct integers."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--seeds {text}: expected integers separated by commas, for example 0,1,2") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds {text}: expected distinct integers separated by commas, for example 0,1,2")
    return seeds


def run_seeds(
    recipe_file: Path,
    plugins: Plugins,
    seeds: Sequence[int],
    *,
    overrides: Sequence[str] = (),
    parent: Path | None = None,
    command: str = "",
    deterministic: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Run (or finish) every seed; write seeds.json and seeds.md; return the folder and the summary."""
    recipes = {seed: load_recipe(recipe_file, plugins.registry, [*overrides, f"seed={seed}"]) for seed in seeds}
    parent = parent or runs_of(recipes[seeds[0]]) / f"{time.strftime('%Y%m%d-%H%M%S')}-seeds"
    reports = {}
    for number, (seed, recipe) in enumerate(recipes.items(), 1):
        folder = seed_run_dir(parent, seed)
        report = read_report(folder)
        if report is None:
            console.info(f"seed {seed} ({number} of {len(seeds)}): {folder}")
            recipe.train.deterministic = recipe.train.deterministic or deterministic
            resume = str(folder) if last_checkpoint(folder).is_file() else None
            start_run(
                recipe, plugins, run_dir=folder, resume=resume, command=command, overrides=[*overrides, f"seed={seed}"]
            )
            report = read_report(folder)
        else:
            console.info(f"seed {seed} ({number} of {len(seeds)}): finished earlier, its report is kept ({folder})")
        if report is None:  # a process of several (torchrun) that is not rank 0: rank 0 summarises
            return parent, {}
        reports[seed] = report
    summary = summarise_seeds(reports)
    atomic.write_json(parent / SEEDS_REPORT, summary)
    intro = (
        f"The recipe {summary['recipe']} run with seeds {', '.join(map(str, seeds))} (one run folder each, "
        f"seed-<seed>/); every figure is the mean ± sample standard deviation over the seeds, on the test split"
        + (f" of {summary['test_videos']} videos." if summary["test_videos"] else ".")
    )
    atomic.write_text(
        parent / SEEDS_MARKDOWN,
        tables_markdown(f"{summary['recipe']} over {len(seeds)} seeds", intro, seed_tables(summary)),
    )
    return parent, summary
