"""A whole video's cost, decode to decision: RGB TSN against the compressed domain's full ensemble and its early exit.

    python benchmarks/bench_inference.py --run RUN_DIR --rgb-run RGB_RUN_DIR [--json] [--videos N] [--threads 1]

``RUN_DIR``: a finished compressed-domain run with fitted ensembles and an
early-exit report (``pkd run recipes/quickstart.yaml``); ``RGB_RUN_DIR``: the
RGB TSN baseline on the same data (``pkd run recipes/quickstart_rgb.yaml``).
On the run's test videos, one at a time as ``pkd predict`` reads them, it
measures per video the decoding and transforms (``decode``), the networks and
the ensemble (``network``) and their sum (``total``), and the top-1 accuracy of:

- ``rgb_tsn``: the RGB run's network on every test segment of decoded RGB frames;
- ``compressed_full``: every exit of the three compressed-domain networks, the
  fitted early-exit ensemble (WISE in the recipes) at threshold 1, all segments;
- ``compressed_early_exit``: the same ensemble at the point the run's report
  picks as the cheapest within its tolerance (1 point) of the full ensemble:
  that threshold and those segments, decoding only what the exits reached need.

Times are this process's CPU time (other jobs on a shared machine stay out of
them), torch on ``--threads`` threads (1: its pool's waiting would count as CPU
time), after one untimed video per method (compiling, warming up); the methods
alternate video by video. ``videos_per_second`` is 1000 / mean total ms.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pkd_toolkit.engine.assembly import load_trained
from pkd_toolkit.networks.cost import exit_costs
from pkd_toolkit.pipeline.predictor import PredictionRequest, PredictorSetup, prepare_predictor
from pkd_toolkit.plugin.manager import load_plugins
from pkd_toolkit.run_folder.layout import BACKBONE_SCHEDULE
from pkd_toolkit.run_folder.opening import load_run_recipe


class TimedInputs:
    """A dataset's FileInputs that adds the CPU time spent loading to ``seconds``."""

    def __init__(self, inputs: Any):
        self.inputs, self.segments, self.seconds = inputs, inputs.segments, 0.0

    def load(self, key: str, rows: Sequence[int] | None = None) -> torch.Tensor:
        start = time.process_time()
        try:
            return self.inputs.load(key, rows)
        finally:
            self.seconds += time.process_time() - start


class Compressed:
    """The compressed-domain networks through ``pkd predict``'s early-exit predictor."""

    def __init__(self, setup: PredictorSetup):
        self.setup = setup

    def classify(self, path: Path) -> dict[str, Any]:
        inputs = TimedInputs(self.setup.dataset.open_file(path, modalities=self.setup.modalities))
        prediction = self.setup.predictor.predict(str(path), inputs)
        return {"class": prediction.top[0][0], "decode": inputs.seconds, "gmacs": prediction.gmacs, "stage": prediction.stage}


class RgbTsn:
    """The RGB run's network: every test segment, segment consensus of its final head."""

    def __init__(self, run_dir: Path, registry):
        recipe = load_run_recipe(run_dir, registry)
        self.dataset = registry.build("datasets", recipe.data)
        self.classes = list(self.dataset.classes)
        assembly = load_trained(run_dir, recipe, registry, len(self.classes))
        (self.name, self.network), *others = assembly.scored()[BACKBONE_SCHEDULE].items()
        if others:
            raise SystemExit(f"{run_dir}: the RGB baseline has one network, not {len(others) + 1}")
        self.network.eval()
        self.modality = assembly.modality_of(self.name)
        self.modalities = assembly.used_modalities()
        channels = assembly.modalities[self.modality].channels
        self.gmacs_per_segment = exit_costs(self.network, (channels, *self.dataset.input_size))[-1].gmacs

    @torch.no_grad()
    def classify(self, path: Path) -> dict[str, Any]:
        inputs = TimedInputs(self.dataset.open_file(path, modalities=self.modalities))
        clip = inputs.load(self.modality)[None]
        *_, (_, logits) = self.network.cascade(clip)
        return {"class": self.classes[int(logits[0].argmax())], "decode": inputs.seconds,
                "gmacs": self.gmacs_per_segment * clip.shape[1], "stage": 1}  # fmt: skip


def test_videos(setup: PredictorSetup) -> list[tuple[Path, str]]:
    """(path, class name) of every test video of the run's data set, in its order."""
    clips = setup.dataset.split("test", modalities=setup.modalities, training=False)
    classes = list(setup.dataset.classes)
    return [(entry.path, classes[entry.label]) for entry in clips.entries]


def measure(methods: dict[str, Any], videos: list[tuple[Path, str]]) -> dict[str, dict[str, Any]]:
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in methods}
    for method in methods.values():  # untimed: compiling kernels, first allocations
        method.classify(videos[0][0])
    for path, label in videos:
        for name, method in methods.items():
            start = time.process_time()
            result = method.classify(path)
            result["total"] = time.process_time() - start
            result["correct"] = result["class"] == label
            rows[name].append(result)
    summary = {}
    for name, results in rows.items():
        decode = 1000 * float(np.mean([r["decode"] for r in results]))
        total = 1000 * float(np.mean([r["total"] for r in results]))
        summary[name] = {
            "decode_ms": round(decode, 2),
            "network_ms": round(total - decode, 2),
            "total_ms": round(total, 2),
            "videos_per_second": round(1000 / total, 2),
            "top1": round(100 * float(np.mean([r["correct"] for r in results])), 2),
            "gmacs_per_video": round(float(np.mean([r["gmacs"] for r in results])), 4),
            "mean_stage": round(float(np.mean([r["stage"] for r in results])), 2),
        }
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished compressed-domain run (fitted ensembles, early-exit report)")
    parser.add_argument("--rgb-run", type=Path, required=True, help="the RGB TSN run on the same data")
    parser.add_argument("--videos", type=int, default=0, help="measure the first N test videos only (0: all)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    registry = load_plugins().registry
    early = prepare_predictor(args.run, registry, PredictionRequest())  # the report's choice of threshold and segments
    full = prepare_predictor(args.run, registry, PredictionRequest(ensemble=early.ensemble, threshold=1.0))
    videos = test_videos(early)[: args.videos or None]
    methods = {"rgb_tsn": RgbTsn(args.rgb_run, registry), "compressed_full": Compressed(full), "compressed_early_exit": Compressed(early)}
    summary = measure(methods, videos)
    report = {
        "run": str(args.run),
        "rgb_run": str(args.rgb_run),
        "videos": len(videos),
        "ensemble": early.ensemble,
        "early_exit": {"threshold": early.predictor.threshold, "segments": early.predictor.segments or "all"},
        "methods": summary,
        "speed_vs_rgb_tsn": {name: round(s["videos_per_second"] / summary["rgb_tsn"]["videos_per_second"], 2) for name, s in summary.items()},
        "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()], "torch_threads": args.threads},
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(markdown_table(report))
    return report


def markdown_table(report: dict[str, Any]) -> str:
    names = {"rgb_tsn": "RGB TSN", "compressed_full": "compressed, full ensemble", "compressed_early_exit": "compressed, early exit"}
    lines = ["| | videos/s | top-1 | decode ms | network ms | GMACs/video |", "|---|---:|---:|---:|---:|---:|"]
    for key, label in names.items():
        row = report["methods"][key]
        lines.append(f"| {label} | {row['videos_per_second']:.1f} | {row['top1']:.1f} | {row['decode_ms']:.1f} | "
                     f"{row['network_ms']:.1f} | {row['gmacs_per_video']:.3f} |")  # fmt: skip
    threshold, segments = report["early_exit"]["threshold"], report["early_exit"]["segments"]
    lines.append(f"\n{report['videos']} test videos; early exit: {report['ensemble']} at threshold {threshold}, segments {segments}")
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
