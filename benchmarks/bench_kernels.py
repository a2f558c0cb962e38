"""The trace kernel's candidates: numpy (the reference), numba, torch's own ops; first-call cost and steady rate.

    python benchmarks/bench_kernels.py [--json] [--source DIR] [--gops N]

The work: one GOP of a 340x256 video (``--source`` videos prepared as in
bench_loader.py, else synthetic actions): follow its 11 motion fields back to
the I-frame, then the accumulated motion and the accumulated residual of its
last frame, as :mod:`pkd_plugins.video.tracing` does. Every candidate's
output is checked against numpy's, bit for bit.

- steady: GOPs per second of this process's CPU time, the best of 5 rounds;
- first call: a fresh Python process timing its first GOP, imports included:
  numba with an empty cache (it compiles), numba again (it loads the compiled
  kernels from its cache), torch (eager ops; ``torch.compile`` is no candidate:
  its CPU backend compiles C++ at run time, so it needs a compiler on the user's machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pkd_plugins.video.container import read_index
from pkd_plugins.video.export import export_motion_vectors
from pkd_plugins.video.motion import MV_COLUMNS, motion_fields
from pkd_plugins.video.representations import read_representations
from pkd_plugins.video.tracing import IntegerTrace

HERE = Path(__file__).resolve().parent


def gops_of(video: Path, count: int) -> list[tuple[list, np.ndarray, np.ndarray]]:
    """Up to ``count`` whole GOPs: (fields, keyframe RGB, last frame RGB)."""
    index = read_index(video)
    tables = export_motion_vectors(video)
    gops = []
    for start, length in zip(index.keyframes, index.gop_lengths, strict=True):
        if length < 12 or len(gops) == count:
            continue
        records = [{name: table[:, column] for column, name in enumerate(MV_COLUMNS)} for table in tables[start + 1 : start + length]]
        frames = read_representations(video, [start, start + length - 1], {"rgb": _rgb()})["rgb"]
        gops.append((motion_fields(records, index.height, index.width), frames[0], frames[1]))
    return gops


def _rgb():
    from pkd_plugins.video.modalities import Representation

    return Representation("rgb")


def run_numpy(fields, keyframe, frame, trace_class=IntegerTrace):
    height, width = frame.shape[:2]
    trace = trace_class(height, width)
    for field in fields:
        trace.follow(field)
    motion, residual = np.empty((height, width, 2), np.float32), np.empty((height, width, 3), np.float32)
    trace.displacement(out=motion)
    trace.residual(frame, keyframe, residual)
    return motion, residual


def run_numba(fields, keyframe, frame):
    from pkd_plugins.video.trace_kernels import CompiledIntegerTrace

    return run_numpy(fields, keyframe, frame, CompiledIntegerTrace)


def run_torch(fields, keyframe, frame):
    """The same with torch's eager ops: one full-frame gather per field (torch has no per-cell block copy)."""
    import torch

    torch.set_num_threads(1)  # as in a DataLoader worker; with its pool, waiting threads would count as CPU time
    height, width = frame.shape[:2]
    ys, xs = torch.arange(height)[:, None], torch.arange(width)[None, :]
    source = torch.arange(height * width).view(height, width)
    for field in fields:
        if field.is_zero:
            continue
        dense = torch.from_numpy(field.dense()).long()
        rows = (ys - dense[..., 1]).clamp_(0, height - 1)
        columns = (xs - dense[..., 0]).clamp_(0, width - 1)
        source = source.view(-1)[rows * width + columns]
    motion = torch.stack([xs - source % width, ys - source // width], dim=-1).float()
    picked = torch.from_numpy(keyframe).view(-1, 3)[source.view(-1)].view(height, width, 3)
    residual = (torch.from_numpy(frame).short() - picked.short()).float()
    return motion.numpy(), residual.numpy()


CANDIDATES = {"numpy": run_numpy, "numba": run_numba, "torch": run_torch}


def steady(gops, candidate, rounds: int = 5) -> float:
    run = CANDIDATES[candidate]
    for fields, keyframe, frame in gops:  # checked, and warmed up
        expected = run_numpy(fields, keyframe, frame)
        got = run(fields, keyframe, frame)
        assert all(a.tobytes() == b.tobytes() for a, b in zip(expected, got, strict=True)), f"{candidate} differs from numpy"
    best = 0.0
    for _ in range(rounds):
        start = time.process_time()
        for fields, keyframe, frame in gops:
            run(fields, keyframe, frame)
        best = max(best, len(gops) / (time.process_time() - start))
    return best


def first_call(video: Path, candidate: str, cache: Path) -> float:
    """Seconds a fresh process needs for its first GOP (imports, compiling or loading kernels), wall clock."""
    code = (
        "import sys, time; start = time.perf_counter(); sys.path.insert(0, sys.argv[1]); import bench_kernels as b; "
        "gops = b.gops_of(b.Path(sys.argv[2]), 1); setup = time.perf_counter(); "
        f"b.CANDIDATES[{candidate!r}](*gops[0]); print(time.perf_counter() - setup)"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PKD_JIT": "1"}
    result = subprocess.run([sys.executable, "-c", code, str(HERE), str(video)], env=env, capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--source", type=Path, help="videos to prepare and measure (default: synthetic actions at 340x256)")
    parser.add_argument("--gops", type=int, default=12, help="GOPs measured")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from bench_loader import videos_at_340x256

    with tempfile.TemporaryDirectory(prefix="pkd-kernels-") as folder:
        work = Path(folder)
        videos = videos_at_340x256(args.source, work)
        gops = [gop for video in videos for gop in gops_of(video, args.gops)][: args.gops]
        rates = {candidate: round(steady(gops, candidate), 1) for candidate in CANDIDATES}
        cache = work / "numba-cache"
        first = {
            "numba, empty cache (compiles)": first_call(videos[0], "numba", cache),
            "numba, cached": first_call(videos[0], "numba", cache),
            "torch": first_call(videos[0], "torch", cache),
            "numpy": first_call(videos[0], "numpy", cache),
        }
    report = {
        "gops": len(gops),
        "steady_gops_per_second": rates,
        "speed_vs_numpy": {name: round(rate / rates["numpy"], 2) for name, rate in rates.items()},
        "first_gop_seconds": {name: round(value, 2) for name, value in first.items()},
    }
    print(json.dumps(report, indent=2) if args.json else "\n".join(f"{k}: {v}" for k, v in report.items()))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
