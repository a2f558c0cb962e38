"""The video plugin's commands: ``pkd prepare``, ``pkd inspect``, ``pkd make-synthetic``.

Only typer at import time; each command imports what it needs when it runs.
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path

import typer


# The choices of the options below, as enums: typer shows them in --help and refuses anything else.
class Codec(str, Enum):
    mpeg4 = "mpeg4"
    h264 = "h264"


class Precision(str, Enum):
    integer = "integer"
    subpixel = "subpixel"


class Preset(str, Enum):
    tiny = "tiny"
    small = "small"
    benchmark = "benchmark"


def _size(text: str) -> tuple[int, int]:
    from pkd_toolkit.api import UsageError

    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit()) or int(width) < 16 or int(height) < 16 or int(width) % 2 or int(height) % 2:
        raise UsageError(f"--size {text}: expected WIDTHxHEIGHT, even and at least 16x16, for example 340x256")
    return int(width), int(height)


def _progress_bar():
    """A rich progress bar on stderr with a ``failed`` field."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from pkd_toolkit.api import console

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console.err,
    )


def prepare(
    source: Path = typer.Argument(
        ..., help="Folder of videos (any format FFmpeg reads), e.g. hmdb51_org.", show_default=False, metavar="SOURCE"
    ),
    destination: Path = typer.Argument(
        ..., help="Where the re-encoded tree goes; same layout and names.", show_default=False, metavar="DST"
    ),
    codec: Codec = typer.Option(Codec.mpeg4, help="mpeg4 (MPEG-4 Part 2, CoViAR) or h264 (one reference frame)."),
    size: str = typer.Option("340x256", help="Output WIDTHxHEIGHT."),
    qscale: int = typer.Option(1, min=1, max=31, help="MPEG-4 quantiser scale (1 = best)."),
    crf: int = typer.Option(18, min=0, max=51, help="H.264 constant rate factor."),
    gop: int = typer.Option(12, min=1, help="Frames per GOP (an I-frame, then P-frames)."),
    jobs: int = typer.Option(os.cpu_count() or 1, min=1, help="Videos encoded at once (processes)."),
    shard: str = typer.Option("1/1", help="Do part I of N of the videos, e.g. 3/8 (array jobs); run once more without it to merge manifests."),
) -> None:
    """Re-encode a tree of videos into the training format (MPEG-4 Part 2, 340x256, GOP 12, no B-frames); resumable."""
    from pkd_plugins.video.encoding import EncoderSettings
    from pkd_plugins.video.prepare import REPORT, Shard, plural
    from pkd_plugins.video.prepare import prepare as run_prepare
    from pkd_toolkit.api import Interrupted, PkdError, console

    width, height = _size(size)
    settings = EncoderSettings(
        codec=codec.value,  # type: ignore[arg-type]
        width=width,
        height=height,
        gop=gop,
        qscale=qscale,
        crf=crf,
    )
    part = Shard.parse(shard)
    with _progress_bar() as bar:
        task = bar.add_task("prepare", total=None, failed="")

        def progress(done: int, total: int, failed: int) -> None:
            bar.update(task, completed=done, total=total, failed=f"{failed} failed" if failed else "")

        try:
            manifest = run_prepare(source, destination, settings, jobs=jobs, shard=part, progress=progress)
        except KeyboardInterrupt:
            raise Interrupted(
                "interrupted; the videos finished so far are kept: run the same command again to go on"
            ) from None
    console.info(
        f"{plural(manifest.encoded, 'video')} prepared, {manifest.kept} already prepared (kept), in {destination} "
        f"(manifest: {manifest.path.name})"
    )
    if manifest.failed:
        raise PkdError(f"{plural(len(manifest.failed), 'video')} could not be prepared (listed in {destination / REPORT})")


def inspect(
    video: Path = typer.Argument(..., help="A video file.", show_default=False, metavar="VIDEO"),
    frames: str = typer.Option("", help="Comma-separated frame numbers (default: the end of the first GOP and the middle)."),
    out: Path = typer.Option(Path("inspect"), help="Folder for the PNG pictures."),
    per_frame: bool = typer.Option(False, "--per-frame", help="Per-frame MV and residual instead of accumulated."),
    precision: Precision = typer.Option(Precision.integer, help="MV precision: integer (CoViAR) or subpixel."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Show a video as the networks see it: I-frame, MV and residual pictures, GOP structure, value ranges."""
    import json

    from pkd_plugins.video.container import read_index
    from pkd_plugins.video.errors import UnsupportedVideo
    from pkd_plugins.video.inspection import inspect_video
    from pkd_toolkit.api import UsageError, console, writable_folder

    try:
        chosen = [int(text) for text in frames.split(",") if text.strip()]
    except ValueError:
        raise UsageError(f"--frames {frames}: expected comma-separated frame numbers, for example 5,17") from None
    count = read_index(video).frames if chosen else 0
    if any(not 0 <= frame < count for frame in chosen):
        raise UsageError(f"--frames {frames}: this video's frames are numbered 0 to {count - 1} ({count} frames)")
    writable_folder(out, "--out")
    report = inspect_video(video, chosen or None, out, accumulate=not per_frame, precision=precision.value)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_report(report, console)
    if report["problem"] is not None:
        raise UnsupportedVideo(video, f"{report['problem']}: no motion vectors or residuals can be shown")


def _print_report(report: dict, console) -> None:
    def line(text: str) -> None:  # whole lines, never wrapped at 80 columns when piped; paths are not markup
        console.out.print(text, soft_wrap=True, markup=False, highlight=False)

    line(f"{report['path']}: {report['codec']} {report['width']}x{report['height']}, {report['fps']} fps, "
         f"{report['frames']} frames ({report['duration']} s), reference frames: {report['reference_frames']}")  # fmt: skip
    types = report["frame_types"]
    line(f"frame types: {types[:120]}{' ...' if len(types) > 120 else ''}")
    lengths = report["gop_lengths"]
    line(f"GOPs: {len(lengths)}, lengths {min(lengths)}-{max(lengths)}; starts: {report['gop_starts'][:20]}"
         f"{' ...' if len(lengths) > 20 else ''}")  # fmt: skip
    for picture in report.get("pictures", []):
        mv, residual = picture["mv"], picture["residual"]
        line(
            f"frame {picture['frame']} (GOP from {picture['gop_start']}, motion of frame {picture['motion_frame']}): "
            f"dx {mv['dx']['min']}..{mv['dx']['max']}, dy {mv['dy']['min']}..{mv['dy']['max']}, "
            f"residual {residual['min']}..{residual['max']} (mean |r| {residual['mean_abs']})"
            + (f" -> {picture['png']}" if "png" in picture else "")
        )


def make_synthetic(
    destination: Path = typer.Argument(
        ..., help="Folder for the data set (videos/, splits/, synthetic.json).", show_default=False, metavar="DST"
    ),
    preset: Preset = typer.Option(Preset.small, help="tiny (tests), small (quickstart) or benchmark."),
    seed: int = typer.Option(0, help="The data set is a function of the settings and this seed."),
    videos_per_class: int = typer.Option(0, min=0, help="Override the preset's videos per class (0: keep)."),
    frames: int = typer.Option(0, min=0, help="Override the preset's frames per video (0: keep)."),
    size: str = typer.Option("", help="Override the preset's WIDTHxHEIGHT."),
    jobs: int = typer.Option(os.cpu_count() or 1, min=1, help="Videos rendered at once (processes)."),
) -> None:
    """Generate the synthetic actions data set (HMDB51 layout and split files), resumable."""
    from pydantic import ValidationError

    from pkd_plugins.video.config import SyntheticActionsConfig
    from pkd_plugins.video.synthetic import SyntheticSpec, ensure_generated
    from pkd_toolkit.api import UsageError, console

    try:
        config = SyntheticActionsConfig(
            root=destination,
            preset=preset.value,  # type: ignore[arg-type]
            seed=seed,
            videos_per_class=videos_per_class or None,
            frames=frames or None,
            frame_size=_size(size) if size else None,
        )
    except ValidationError as error:  # a value the data set cannot be made with: name the option
        problem = error.errors()[0]
        field = str(problem["loc"][0]) if problem["loc"] else ""
        option = "size" if field == "frame_size" else field.replace("_", "-")
        raise UsageError(f"--{option}: {problem['msg']}") from None
    spec = SyntheticSpec.from_config(config)
    with _progress_bar() as bar:
        task = bar.add_task("render", total=None, failed="")
        ensure_generated(destination, spec, jobs=jobs, progress=lambda done, total: bar.update(task, completed=done, total=total))
    written = destination.resolve()
    videos = len(spec.class_names) * spec.videos_per_class
    console.info(f"{videos} videos of {len(spec.class_names)} classes in {written}")
    section = f"data: {{name: hmdb51, root: {written / 'videos'}, splits: {written / 'splits'}}}"
    console.info(f"read it with the recipe section  {section}")


def register(cli: typer.Typer) -> None:
    cli.command()(prepare)
    cli.command()(inspect)
    cli.command("make-synthetic")(make_synthetic)
