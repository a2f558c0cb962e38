"""``pkd inspect``: what a video looks like to the compressed-domain networks.

For chosen frames it writes one PNG panel each: the I-frame, the motion-vector
field (hue = direction, brightness = length, with a colour-wheel legend) and
the residual (mid-grey = zero). It reports the GOP structure (frame types,
GOP starts and lengths) and the value ranges, and says when the stream cannot
be represented (B-frames, several reference frames) and what to do about it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np

from pkd_plugins.video.container import open_video, read_index
from pkd_plugins.video.errors import VideoError
from pkd_plugins.video.modalities import Representation
from pkd_plugins.video.representations import read_representations

_TYPE_LETTERS = {1: "I", 2: "P", 3: "B", 4: "S", 5: "i", 6: "p", 7: "b"}


def frame_types(path: Path) -> str:
    """One letter per decoded frame (I, P, B, ...), in display order."""
    letters = []
    with open_video(path) as container:
        try:
            for frame in container.decode(container.streams.video[0]):
                kind = frame.pict_type
                letters.append(_TYPE_LETTERS.get(int(getattr(kind, "value", kind)), "?"))
        except av.FFmpegError as error:
            raise VideoError(path, f"corrupt video data after frame {len(letters)} ({error})") from None
    return "".join(letters)


def default_frames(keyframes: Sequence[int], frames: int) -> list[int]:
    """The last frame of the first GOP (the longest accumulation) and the middle of the video."""
    first_end = (keyframes[1] if len(keyframes) > 1 else frames) - 1
    return sorted({max(first_end, 0), frames // 2})


def _ranges(values: np.ndarray) -> dict[str, float]:
    return {"min": round(float(values.min()), 3), "max": round(float(values.max()), 3), "mean_abs": round(float(np.abs(values).mean()), 3)}


def inspect_video(
    path: Path,
    frames: Sequence[int] | None,
    out: Path | None,
    *,
    accumulate: bool = True,
    precision: str = "integer",
) -> dict:
    """Report on ``path``; with ``out``, also write a panel PNG per frame. Raises ``UnsupportedVideo`` after
    the structure is known when the stream cannot give motion vectors (the report is in ``error.report``)."""
    index = read_index(path)
    report = {
        "path": str(path),
        "codec": index.codec,
        "width": index.width,
        "height": index.height,
        "fps": round(index.fps, 3),
        "frames": index.frames,
        "duration": round(index.duration, 3),
        "frame_types": frame_types(path),
        "gop_starts": list(index.keyframes),
        "gop_lengths": index.gop_lengths,
        "reference_frames": index.reference_frames,
        "problem": index.motion_problem(),
    }
    if report["problem"] is not None:
        return report
    if frames and any(not 0 <= frame < index.frames for frame in frames):
        raise ValueError(f"frames {list(frames)} outside 0..{index.frames - 1}")  # the command says it to users
    chosen = sorted(set(frames)) if frames else default_frames(index.keyframes, index.frames)
    wanted = {
        "iframe": Representation("iframe"),
        "mv": Representation("mv", accumulate, precision),
        "residual": Representation("residual", accumulate, precision),
    }
    arrays = read_representations(path, chosen, wanted, index=index)
    report["pictures"] = []
    for slot, frame in enumerate(chosen):
        entry = {
            "frame": frame,
            "gop_start": index.gop_start(frame),
            "motion_frame": index.motion_frame(frame),
            "mv": {axis: _ranges(arrays["mv"][slot][..., channel]) for channel, axis in enumerate(("dx", "dy"))},
            "residual": _ranges(arrays["residual"][slot]),
        }
        if out is not None:
            panel = picture_panel(arrays["iframe"][slot], arrays["mv"][slot], arrays["residual"][slot])
            target = out / f"{path.stem}_frame{frame:05d}.png"
            _save_png(panel, target)
            entry["png"] = str(target)
        report["pictures"].append(entry)
    return report


def mv_colours(mv: np.ndarray, saturation: float | None = None) -> tuple[np.ndarray, float]:
    """``uint8 [H, W, 3]`` colour-wheel picture of a ``[H, W, 2]`` field, and the length shown at full brightness."""
    from matplotlib.colors import hsv_to_rgb

    dx, dy = mv[..., 0], mv[..., 1]
    length = np.hypot(dx, dy)
    if saturation is None:
        saturation = max(float(np.percentile(length, 99)), 1.0)
    hue = (np.arctan2(dy, dx) / (2 * np.pi)) % 1.0
    hsv = np.stack([hue, np.ones_like(hue), np.clip(length / saturation, 0, 1)], axis=-1)
    return (hsv_to_rgb(hsv) * 255).astype(np.uint8), saturation


def colour_wheel(side: int) -> np.ndarray:
    """The legend: the colour of each direction and length, lengths up to the rim."""
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32) - (side - 1) / 2
    picture, _ = mv_colours(np.stack([xs, ys], axis=-1), saturation=side / 2)
    picture[np.hypot(xs, ys) > side / 2] = 255
    return picture


def residual_picture(residual: np.ndarray) -> np.ndarray:
    return np.clip(residual + 128, 0, 255).astype(np.uint8)


def picture_panel(iframe: np.ndarray, mv: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """I-frame | MV | residual | legend, side by side with titles (small videos scaled up)."""
    from PIL import Image, ImageDraw

    mv_picture, saturation = mv_colours(mv)
    zoom = max(1, 256 // max(iframe.shape[0], 1))
    pictures = [iframe, mv_picture, residual_picture(residual)]
    images = [Image.fromarray(p).resize((p.shape[1] * zoom, p.shape[0] * zoom), Image.NEAREST) for p in pictures]
    images.append(Image.fromarray(colour_wheel(min(images[0].size))))
    names = ["I-frame", f"MV (full colour at {saturation:.1f} px)", "residual (grey = 0)", "MV directions"]
    title, gap = 16, 4
    canvas = Image.new("RGB", (sum(i.width + gap for i in images), images[0].height + title), "white")
    draw = ImageDraw.Draw(canvas)
    left = 0
    for name, image in zip(names, images, strict=True):
        canvas.paste(image, (left, title))
        draw.text((left + 2, 2), name, fill="black")
        left += image.width + gap
    return np.asarray(canvas)


def _save_png(picture: np.ndarray, path: Path) -> None:
    from PIL import Image

    from pkd_toolkit.api import atomic_path

    with atomic_path(path) as temporary:
        Image.fromarray(picture).save(temporary, format="PNG")
