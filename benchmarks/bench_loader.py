"""Benchmark of the video loader: clips per second per modality, against plain decoding, in one process.

    python benchmarks/bench_loader.py [--json] [--source DIR] [--clips N]

Videos: ``--source`` (any videos; they are prepared to 340x256 first, e.g.
../shared/data/hmdb51_clips), else synthetic actions rendered at 340x256.
Every figure is measured on the same clips (3 TSN segments, fixed seed), in
rounds that alternate the measurements, keeping each one's best round, in this
process's CPU time (wall time for loaders with workers), so that other jobs on
a shared machine disturb the ratios as little as possible:

- extraction: ``read_representations`` for each modality (numpy arrays, no transforms),
  into reused buffers as the loader calls it (and, for the target, into new arrays);
- plain decode: the same GOP prefixes decoded by the same decoder without
  extracting anything (``decode``), and with every decoded frame converted to
  RGB (``decode+rgb``): the rate the targets are measured against;
- full-RGB TSN: plain PyAV, seek to each sampled frame's keyframe, decode up to
  the frame, convert it to RGB: what an RGB TSN loader does;
- loader: the dataset's clips (224x224 crops, CoViAR normalisation) through a
  DataLoader with 0 and 2 workers;
- memory cache: the quickstart's small synthetic size, a second epoch with and without ``cache: memory``.

Targets (issues 3 and 16), printed at the top level of the JSON:

- ``accumulated_mv_residual_vs_decode`` (>= 0.5): accumulated MV + residual
  extraction against the plain decode of the same GOP prefixes;
- ``iframe_vs_rgb`` (>= 3.0): I-frame clips against full-RGB clips (the ``rgb``
  modality: each sampled frame decoded from its GOP's keyframe) through the
  DataLoader at 224x224 with 0 workers, transforms and collate included;
  ``iframe_vs_rgb_extraction`` is the same without the loader: I-frame
  extraction against the plain PyAV full-RGB TSN decode.

``kernels`` says whether the compiled kernels (numba) or numpy did the work
(``PKD_JIT=0`` measures numpy).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import av
import numpy as np

from pkd_plugins.video.config import SyntheticActionsConfig
from pkd_plugins.video.container import GopDecoder, open_video, read_index
from pkd_plugins.video.encoding import EncoderSettings
from pkd_plugins.video.jit import kernels
from pkd_plugins.video.modalities import Representation
from pkd_plugins.video.prepare import prepare
from pkd_plugins.video.representations import gop_prefixes, read_representations
from pkd_plugins.video.sampling import random_positions
from pkd_plugins.video.synthetic import SyntheticSpec, generate

MODALITIES = {
    "iframe": {"iframe": Representation("iframe")},
    "mv (accumulated)": {"mv": Representation("mv")},
    "mv (per frame)": {"mv": Representation("mv", accumulate=False)},
    "residual (accumulated)": {"residual": Representation("residual")},
    "residual (per frame)": {"residual": Representation("residual", accumulate=False)},
    "mv + residual (accumulated)": {"mv": Representation("mv"), "residual": Representation("residual")},
    "mv + residual (per frame)": {"mv": Representation("mv", False), "residual": Representation("residual", False)},
    "mv + residual (accumulated, subpixel)": {
        "mv": Representation("mv", precision="subpixel"),
        "residual": Representation("residual", precision="subpixel"),
    },
    "rgb": {"rgb": Representation("rgb")},
}
TARGET_KEY = "mv + residual (accumulated)"


def videos_at_340x256(source: Path | None, work: Path) -> list[Path]:
    if source is not None:
        prepare(source, work / "prepared", EncoderSettings(), jobs=2)
        return sorted((work / "prepared").rglob("*.avi")) + sorted((work / "prepared").rglob("*.mp4"))
    spec = SyntheticSpec(("slide", "orbit", "pulse"), ("stripes", "rings"), videos_per_class=2, frames=96, width=340, height=256)
    generate(work / "synthetic", spec, jobs=2)
    return sorted((work / "synthetic" / "videos").rglob("*.avi"))


def sampled_clips(videos: list[Path], count: int, segments: int = 3) -> list[tuple[Path, list[int]]]:
    generator = np.random.default_rng(0)
    clips = []
    for number in range(count):
        video = videos[number % len(videos)]
        clips.append((video, random_positions(read_index(video).frames, segments, generator)))
    return clips


def plain_decode(clips, wanted, *, rgb: bool) -> Callable[[], None]:
    """Decode exactly the GOP prefixes the extraction of ``wanted`` decodes, extracting nothing."""
    plans = [(video, gop_prefixes(read_index(video), positions, wanted)) for video, positions in clips]

    def run() -> None:
        for video, gops in plans:
            with open_video(video) as container:
                decoder = GopDecoder(container, read_index(video))
                for start, last in gops:
                    for _, frame in decoder.frames(start, last):
                        if rgb:
                            frame.to_ndarray(format="rgb24", threads=1)

    return run


def full_rgb_tsn(clips) -> Callable[[], None]:
    """Plain PyAV: for each sampled frame, seek to its keyframe, decode up to it, convert it to RGB."""

    def run() -> None:
        for video, positions in clips:
            index = read_index(video)
            with av.open(str(video)) as container:
                stream = container.streams.video[0]
                stream.codec_context.thread_count = 1
                for position in sorted(positions):
                    target = index.pts[position]
                    container.seek(target, stream=stream, backward=True)
                    for frame in container.decode(stream):
                        if frame.pts >= target:
                            frame.to_ndarray(format="rgb24", threads=1)
                            break

    return run


def extraction(clips, wanted, jit: bool = True, reuse: bool = True) -> Callable[[], None]:
    """``read_representations`` of every clip, into reused buffers as the loader calls it.

    ``jit=False``: with the numpy kernels (``PKD_JIT=0``); ``reuse=False``: into new arrays; both to compare.
    """

    def run() -> None:
        saved = os.environ.get("PKD_JIT")
        os.environ["PKD_JIT"] = "1" if jit else "0"
        try:
            for video, positions in clips:
                read_representations(video, positions, wanted, reuse=reuse)
        finally:
            os.environ.pop("PKD_JIT") if saved is None else os.environ.update(PKD_JIT=saved)

    return run


def loader(videos: list[Path], wanted, count: int, workers: int, size: int = 224, cache: str = "none") -> Callable[[], None]:
    import torch
    from torch.utils.data import DataLoader

    from pkd_plugins.video.bad_videos import BadVideoLog
    from pkd_plugins.video.datasets import ClipDataset, VideoEntry

    settings = SyntheticActionsConfig(root=Path("."), size=size, cache=cache)
    entries = [VideoEntry(v.name, v, 0) for v in (videos * (count // len(videos) + 1))[:count]]
    dataset = ClipDataset(entries, wanted, settings, True, BadVideoLog(), memory={})
    torch.manual_seed(0)

    def run() -> None:
        for _ in DataLoader(dataset, batch_size=8, num_workers=workers, persistent_workers=False):
            pass

    return run


def best_rates(
    measurements: dict[str, tuple[Callable[[], None], int]], rounds: int, clock: Callable[[], float] = time.process_time
) -> dict[str, float]:
    """Items per second of each measurement, the best of ``rounds`` alternating rounds.

    The default clock is this process's CPU time: on a shared machine it does not
    count the time other jobs hold the CPU. Loaders with workers need the wall clock.
    """
    best = {name: 0.0 for name in measurements}
    for _ in range(rounds):
        for name, (run, items) in measurements.items():
            start = clock()
            run()
            best[name] = max(best[name], items / (clock() - start))
    return best


def cache_figures(work: Path, clips: int) -> dict[str, float]:
    """Clips per second at the quickstart's size (128x96), 0 workers: first epoch, then later epochs with and without the cache."""
    spec = SyntheticSpec.preset("small")
    spec = SyntheticSpec(spec.motions, spec.appearances, 2, spec.frames, spec.width, spec.height)
    generate(work / "small", spec, jobs=2)
    videos = sorted((work / "small" / "videos").rglob("*.avi"))
    wanted = {"iframe": Representation("iframe"), "mv": Representation("mv"), "residual": Representation("residual")}
    cached = loader(videos, wanted, clips, 0, size=96, cache="memory")
    start = time.process_time()
    cached()  # first epoch: decodes and keeps every video
    first = clips / (time.process_time() - start)
    rates = best_rates({"later epochs, cache: memory": (cached, clips), "every epoch, cache: none": (loader(videos, wanted, clips, 0, size=96), clips)}, 2)
    return {"first epoch, cache: memory": first, **rates}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--source", type=Path, help="videos to prepare and measure (default: synthetic actions at 340x256)")
    parser.add_argument("--clips", type=int, default=48, help="clips per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; each figure is its best round")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pkd-bench-") as folder:
        work = Path(folder)
        videos = videos_at_340x256(args.source, work)
        clips = sampled_clips(videos, args.clips)
        measurements = {f"extract {name}": (extraction(clips, wanted), args.clips) for name, wanted in MODALITIES.items()}
        measurements[f"extract {TARGET_KEY}, numpy kernels"] = (extraction(clips, MODALITIES[TARGET_KEY], jit=False), args.clips)
        measurements[f"extract {TARGET_KEY}, new arrays"] = (extraction(clips, MODALITIES[TARGET_KEY], reuse=False), args.clips)
        for name in ("iframe", TARGET_KEY, "mv + residual (per frame)"):
            measurements[f"plain decode of {name} frames"] = (plain_decode(clips, MODALITIES[name], rgb=False), args.clips)
            measurements[f"plain decode+rgb of {name} frames"] = (plain_decode(clips, MODALITIES[name], rgb=True), args.clips)
        measurements["full-RGB TSN decode"] = (full_rgb_tsn(clips), args.clips)
        rates = best_rates(measurements, args.rounds)
        loader_rates = {}
        for workers in (0, 2):
            loaders = {
                f"{name}, {workers} workers": (loader(videos, MODALITIES[name], args.clips, workers), args.clips)
                for name in ("iframe", "mv (accumulated)", "residual (accumulated)", "mv (per frame)", "residual (per frame)", "rgb")
            }
            clock = time.process_time if workers == 0 else time.perf_counter  # workers' CPU time is not ours
            loader_rates.update(best_rates(loaders, max(1, args.rounds - 1), clock))
        cache = cache_figures(work, args.clips)
    decode = rates[f"plain decode of {TARGET_KEY} frames"]
    decode_rgb = rates[f"plain decode+rgb of {TARGET_KEY} frames"]
    ratios = {
        "accumulated mv+residual / plain decode of its frames": rates[f"extract {TARGET_KEY}"] / decode,
        "accumulated mv+residual / plain decode+rgb of its frames": rates[f"extract {TARGET_KEY}"] / decode_rgb,
        "per-frame mv+residual / plain decode of its frames": rates["extract mv + residual (per frame)"]
        / rates["plain decode of mv + residual (per frame) frames"],
        "accumulated mv+residual, compiled kernels / numpy kernels": rates[f"extract {TARGET_KEY}"]
        / rates[f"extract {TARGET_KEY}, numpy kernels"],
        "accumulated mv+residual into new arrays / plain decode of its frames": rates[f"extract {TARGET_KEY}, new arrays"] / decode,
        "iframe clips / full-RGB TSN clips": rates["extract iframe"] / rates["full-RGB TSN decode"],
        "iframe loader (0 workers) / rgb loader (0 workers)": loader_rates["iframe, 0 workers"] / loader_rates["rgb, 0 workers"],
        "cache: memory later epochs / cache: none": cache["later epochs, cache: memory"] / cache["every epoch, cache: none"],
    }
    compiled = kernels("trace_kernels") is not None
    report = {
        "accumulated_mv_residual_vs_decode": round(ratios["accumulated mv+residual / plain decode of its frames"], 3),
        "iframe_vs_rgb": round(loader_rates["iframe, 0 workers"] / loader_rates["rgb, 0 workers"], 3),
        "iframe_vs_rgb_extraction": round(ratios["iframe clips / full-RGB TSN clips"], 3),
        "kernels": f"numba {version('numba')}" if compiled else "numpy",
        "videos": len(videos),
        "size": "340x256",
        "source": str(args.source) if args.source else "synthetic actions",
        "clips_per_second": {name: round(rate, 2) for name, rate in rates.items()},
        "loader_clips_per_second": {name: round(rate, 2) for name, rate in loader_rates.items()},
        "cache_128x96_clips_per_second": {name: round(rate, 2) for name, rate in cache.items()},
        "ratios": {name: round(value, 3) for name, value in ratios.items()},
    }
    report["targets"] = {"accumulated_mv_residual_vs_decode >= 0.5": report["accumulated_mv_residual_vs_decode"] >= 0.5,
                         "iframe_vs_rgb >= 3.0": report["iframe_vs_rgb"] >= 3.0}  # fmt: skip
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name in ("accumulated_mv_residual_vs_decode", "iframe_vs_rgb", "iframe_vs_rgb_extraction", "kernels"):
            print(f"{name}: {report[name]}")
        for section in ("clips_per_second", "loader_clips_per_second", "cache_128x96_clips_per_second", "ratios"):
            print(f"\n{section}")
            for name, value in report[section].items():
                print(f"  {value:10.3f}  {name}")
        print(f"\ntargets: {report['targets']}")
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
