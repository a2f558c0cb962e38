"""Training speed at a recipe's real size: clips per second, time waiting for data, peak memory, per stage.

    python benchmarks/bench_train.py --recipe recipes/hmdb51_pkd.yaml --steps 5 [--json]
        [--batch-size auto|N] [--workers auto|N] [--amp/--no-amp] [--device auto|cpu|cuda] [--warmup 1]

The recipe's networks, modalities, clip settings (segments, crop size, scales)
and stages are used as they are; its data set is replaced by synthetic actions
rendered at 340x256 (HMDB51's size after ``pkd prepare``) and its ``pretrained``
files by random initialisation (speed does not depend on the weights). Each
stage runs ``--warmup`` steps that are not counted, then ``--steps`` steps,
through the engine's own loader (``TrainBatches``) and step (DDP under
torchrun), so the figures are those of ``pkd run``.

Figures per stage:

- ``clips_per_s``: clips trained per second over the counted steps (all processes together);
- ``data_wait_fraction``: the share of that time the training loop waited for a batch;
- ``peak_host_mb``: peak proportional set size (PSS, shared pages split among the processes sharing
  them) of this process and its DataLoader workers, sampled every 0.2 s (Linux; elsewhere the
  process's own peak RSS);
- ``peak_device_mb``: peak GPU memory allocated by torch (null on CPU).

And ``loader_clips_per_s``: the clips per second the loader delivers with no training at all
(the same workers, one more pass over the clips): a stage whose ``clips_per_s`` comes close to
it is limited by the loader.

``--batch-size auto`` is the recipe's batch on a GPU and 4 on a CPU (on a 2-core
CPU the recipe's 32 clips of ResNet-50 + 2 x ResNet-18 would take minutes a
step); the JSON says which batch was used. docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

from pkd_toolkit.engine.assembly import RunServices, assemble
from pkd_toolkit.engine.loaders import TrainBatches, WaitClock, available_cpus, resolve_workers
from pkd_toolkit.engine.optim import build_optimizer
from pkd_toolkit.engine.parallel import step_function
from pkd_toolkit.engine.runtime import epoch_seed, seed_everything, start_runtime, stop_runtime
from pkd_toolkit.engine.stages import StepContext
from pkd_toolkit.engine.trainer import apply_gradients, enter_epoch
from pkd_toolkit.plugin.manager import load_plugins
from pkd_toolkit.recipe.loading import load_recipe
from pkd_toolkit.recipe.yaml_source import read_yaml

VIDEO_SIZE = (340, 256)
CPU_BATCH = 4


def synthetic_overrides(recipe_path: Path, root: Path, batch: str, workers: str, amp: bool | None, device: str) -> list[str]:
    """``--set`` overrides: synthetic videos at 340x256 with the recipe's clip settings, no pretrained files."""
    raw = read_yaml(recipe_path).data
    clip = {key: raw["data"][key] for key in ("segments", "size", "scales", "flip", "normalization") if key in raw["data"]}
    data = {"name": "synthetic_actions", "root": str(root), "preset": "tiny", "videos_per_class": 2, "frames": 48,
            "frame_size": list(VIDEO_SIZE), **clip}  # fmt: skip
    overrides = [f"data={json.dumps(data)}", f"train.device={device}"]
    overrides += [f"networks.{name}.backbone.pretrained=null" for name, section in raw["networks"].items()
                  if "pretrained" in section.get("backbone", {})]  # fmt: skip
    if batch != "auto":
        overrides.append(f"train.batch_size={batch}")
    if workers != "recipe":
        overrides.append(f"train.num_workers={workers}")
    if amp is not None:
        overrides.append(f"train.amp={str(amp).lower()}")
    return overrides


class Repeated(torch.utils.data.Dataset):
    """``dataset`` read round and round to ``length`` samples: enough clips for any number of steps."""

    def __init__(self, dataset: Any, length: int):
        self.dataset, self.length = dataset, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Any:
        return {**self.dataset[index % len(self.dataset)], "index": index}


class PeakHostMemory:
    """Peak PSS of this process and its children (DataLoader workers), sampled in a thread."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak_kb = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakHostMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, _tree_kb())

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_kb = max(self.peak_kb, _tree_kb())

    @property
    def mb(self) -> float:
        return round(self.peak_kb / 1024, 1)


def _tree_kb() -> int:
    me = os.getpid()
    if not Path("/proc/self/smaps_rollup").exists():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux; the process alone
    pids = [me]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == me:
                pids.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def bench_stage(stage, index, assembly, batches, runtime, modalities, steps: int, warmup: int, seed: int) -> dict:
    for prepare in stage.setup:
        prepare()
    active = enter_epoch(assembly.model, stage, 0)
    step = step_function(assembly.model, active, runtime)
    optimizers = {o.name: build_optimizer(o.parameters, o.optimizer, o.lr) for o in active}
    scaler = torch.amp.GradScaler(runtime.device.type, enabled=runtime.amp)
    cuda = runtime.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(runtime.device)
    seed_everything(seed)
    clock = WaitClock(batches.epoch(epoch_seed(seed, index, 0)))
    clips, started, waited_before = 0, None, 0.0
    with PeakHostMemory() as memory:
        for number, batch in enumerate(clock):
            if number == warmup:
                if cuda:
                    torch.cuda.synchronize(runtime.device)
                started, waited_before, clips = time.perf_counter(), clock.waited, 0
            context = StepContext(batch, 0, modalities, runtime.device)
            with runtime.autocast():
                losses = step(context)
            apply_gradients(sum(losses.values()), active, optimizers, scaler)
            clips += len(context.labels)
            if number + 1 == warmup + steps:
                break
        if cuda:
            torch.cuda.synchronize(runtime.device)
        elapsed = time.perf_counter() - started
    return {
        "objectives": [o.name for o in active],
        "clips_per_s": round(clips * runtime.world_size / elapsed, 3),
        "data_wait_fraction": round((clock.waited - waited_before) / elapsed, 4),
        "step_s": round(elapsed / steps, 3),
        "peak_host_mb": memory.mb,
        "peak_device_mb": round(torch.cuda.max_memory_allocated(runtime.device) / 2**20, 1) if cuda else None,
    }


def loader_rate(batches: TrainBatches, runtime) -> float:
    """Clips per second the loader delivers alone (all processes), with its workers already running."""
    started, clips = time.perf_counter(), 0
    for batch in batches.epoch(99991):  # another order than the stages read
        clips += len(batch["label"])
    return clips * runtime.world_size / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=5, help="counted training steps per stage")
    parser.add_argument("--warmup", type=int, default=1, help="steps per stage run first and not counted")
    parser.add_argument("--batch-size", default="auto", help="clips per step and process (auto: see above)")
    parser.add_argument("--workers", default="recipe", help="DataLoader workers: recipe, auto or a number")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="default: the recipe's")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data", type=Path, help="where to render the synthetic videos (default: a temporary folder)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    plugins = load_plugins()
    with tempfile.TemporaryDirectory(prefix="pkd-bench-train-") as folder:
        root = args.data or Path(folder) / "videos"
        batch = args.batch_size
        if batch == "auto" and not (args.device in ("auto", "cuda") and torch.cuda.is_available()):
            batch = str(CPU_BATCH)
        overrides = synthetic_overrides(args.recipe, root, batch, args.workers, args.amp, args.device)
        recipe = load_recipe(args.recipe, plugins.registry, overrides)
        report = run(recipe, plugins, args.steps, args.warmup)
    report.update(recipe_file=str(args.recipe), recipe_batch_size=read_yaml(args.recipe).data["train"].get("batch_size"))
    if report.get("rank", 0) == 0:
        print(json.dumps(report, indent=2) if args.json else _table(report))
    return report


def run(recipe, plugins, steps: int, warmup: int) -> dict:
    runtime = start_runtime(recipe.train)
    try:
        dataset = plugins.registry.build("datasets", recipe.data)
        # teachers: auto would order the teachers by measured accuracy; the speed does not depend on the order
        untrained = RunServices(lambda: dict.fromkeys(recipe.networks, 0.0), lambda key, value, message: None)
        assembly = assemble(recipe, plugins.registry, len(dataset.classes), untrained)
        assembly.model.to(runtime.device)
        modalities = assembly.used_modalities()
        split = dataset.split("train", modalities=modalities, training=True)
        clips = (steps + warmup) * recipe.train.batch_size * runtime.world_size
        workers = resolve_workers(recipe.train.num_workers, runtime)
        batches = TrainBatches(Repeated(split, clips), recipe.train, runtime, workers.count)
        network_modality = {name: assembly.modality_of(name) for name in recipe.networks}
        stages = {
            stage.name: bench_stage(stage, index, assembly, batches, runtime, network_modality, steps, warmup, recipe.seed)
            for index, stage in enumerate(assembly.stages())
        }
        loader = loader_rate(batches, runtime)
    finally:
        stop_runtime(runtime)
    networks = {name: f"{s.backbone.model} ({s.modality})" for name, s in recipe.networks.items()}
    cuda = runtime.device.type == "cuda"
    return {
        "rank": runtime.rank,
        "device": f"{runtime.device} ({torch.cuda.get_device_name(runtime.device)})" if cuda else str(runtime.device),
        "processes": runtime.world_size,
        "amp": runtime.amp,
        "batch_size": recipe.train.batch_size,
        "workers": workers.count,
        "workers_note": workers.note,
        "cpus": available_cpus(),
        "torch_threads": torch.get_num_threads(),
        "videos": f"synthetic actions, {VIDEO_SIZE[0]}x{VIDEO_SIZE[1]}, {len(split)} distinct in the train split",
        "input": f"{recipe.data.segments} segments of {recipe.data.size}x{recipe.data.size}",
        "networks": networks,
        "steps": steps,
        "warmup_steps": warmup,
        "stages": stages,
        "loader_clips_per_s": round(loader, 3),
    }


def _table(report: dict) -> str:
    lines = [
        f"{report['device']}, batch {report['batch_size']}, {report['workers']} workers, amp {report['amp']}, "
        f"loader alone {report['loader_clips_per_s']:.2f} clips/s"
    ]
    for name, figures in report["stages"].items():
        device = "-" if figures["peak_device_mb"] is None else f"{figures['peak_device_mb']:.0f}"
        lines.append(
            f"  {name:12s} {figures['clips_per_s']:8.2f} clips/s  data wait {100 * figures['data_wait_fraction']:5.1f}%"
            f"  host {figures['peak_host_mb']:8.0f} MB  device {device} MB"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
