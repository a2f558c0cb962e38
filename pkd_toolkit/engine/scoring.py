"""Score files: every schedule's networks run over the train split (test-time transforms), the validation split
when the recipe carves one, and the test split."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pkd_toolkit.data.protocol import Dataset
from pkd_toolkit.data.validation import has_validation
from pkd_toolkit.engine.assembly import Assembly
from pkd_toolkit.engine.loaders import eval_loader
from pkd_toolkit.engine.monitor import Monitor
from pkd_toolkit.engine.predictions import predict
from pkd_toolkit.engine.runtime import Runtime
from pkd_toolkit.networks.cost import exit_costs
from pkd_toolkit.run_folder.layout import score_path
from pkd_toolkit.run_folder.run import Run
from pkd_toolkit.scores.files import ExitScores, ScoreSet


def write_score_files(
    run: Run,
    assembly: Assembly,
    dataset: Dataset,
    classes: list[str],
    runtime: Runtime,
    monitor: Monitor,
    workers: int,
    splits: Sequence[str] | None = None,
) -> dict[str, dict[str, ScoreSet]]:
    """Per-exit logits of every split (the train split with test-time transforms), or of ``splits``, for every
    schedule.

    Rank 0 writes and returns them; the other processes return empty sets.
    """
    modalities = assembly.used_modalities()
    scored = assembly.scored()
    keyed = {f"{label}/{name}": (name, net) for label, networks in scored.items() for name, net in networks.items()}
    costs = _exit_costs(keyed, assembly, modalities, dataset.input_size)
    network_modality = {name: assembly.modality_of(name) for name in run.recipe.networks}
    results: dict[str, dict[str, ScoreSet]] = {label: {} for label in scored}
    if splits is None:
        splits = ("train", "val", "test") if has_validation(dataset) else ("train", "test")
    for split in splits:
        data = dataset.split(split, modalities=modalities, training=False)
        loader = eval_loader(data, run.recipe.train, runtime, workers)
        description = f"score files, {split} split"
        predictions = predict(keyed, loader, runtime, network_modality, monitor, description, summary=True)
        if predictions is None:  # not rank 0: its share went there
            continue
        videos = list(dataset.videos(split))
        for label, networks in scored.items():
            exits = [
                ExitScores(name, exit_name, net.exit_stage(exit_name), logits, costs[f"{label}/{name}"][exit_name])
                for name, net in networks.items()
                for exit_name, logits in predictions.logits[f"{label}/{name}"].items()
            ]
            scores = ScoreSet(label, split, classes, [videos[i] for i in predictions.indices], predictions.labels, exits)
            scores.save(score_path(run.dir, label, split))
            results[label][split] = scores
    return results


def _exit_costs(
    keyed: Mapping[str, tuple[str, Any]], assembly: Assembly, modalities: Mapping[str, Any], size: tuple[int, int]
) -> dict[str, dict[str, float]]:
    """Cumulative GMACs per frame of every exit of every scored network, by key and exit name."""
    return {
        key: {c.name: c.gmacs for c in exit_costs(net, (modalities[assembly.modality_of(name)].channels, *size))}
        for key, (name, net) in keyed.items()
    }
