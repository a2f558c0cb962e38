"""Rendering the synthetic actions: a textured disc that moves in a class's pattern, in a busy scene.

A class is a (motion, appearance) pair. All actors are discs, so the shape
says nothing; the appearance is a texture kind (its colours are random per
video), so a still frame tells the appearance but not the motion; the motion
is a pattern of movement over time, which motion vectors see whatever the
texture. Neither a still image nor motion alone identifies the class.

What makes it harder than that: a textured background seen through a camera
that pans and shakes (motion everywhere, not only on the actor), static and
drifting distractor discs with the same texture kinds, random size, speed,
phase and direction per video, and sensor noise on every frame. Horizontal
directions are random, so a horizontal flip keeps the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

MOTIONS = ("slide", "bounce", "orbit", "pulse")
APPEARANCES = ("stripes", "checker", "rings")


@dataclass(frozen=True)
class SceneSettings:
    width: int
    height: int
    frames: int
    noise: float = 4.0  # standard deviation of the sensor noise, in 8-bit levels
    distractors: int = 3  # small discs besides the actor: all but one stand still
    camera: float = 0.6  # pixels per frame of the camera's pan (plus a little shake)


def _smooth_noise(generator: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """A smooth random RGB image: coarse random colours upsampled bilinearly."""
    coarse = generator.uniform(40, 215, size=(cells + 1, cells + 1, 3))
    ys, xs = np.linspace(0, cells, height), np.linspace(0, cells, width)
    y0, x0 = np.minimum(ys.astype(int), cells - 1), np.minimum(xs.astype(int), cells - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x0 + 1] * fx
    bottom = coarse[y0 + 1][:, x0] * (1 - fx) + coarse[y0 + 1][:, x0 + 1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def texture(kind: str, radius: int, generator: np.random.Generator) -> np.ndarray:
    """An RGB texture of ``kind`` on a ``2r x 2r`` patch, in two random colours."""
    side = 2 * radius
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32) - radius + 0.5
    period = generator.uniform(0.35, 0.6) * radius
    if kind == "stripes":
        angle = generator.uniform(0, np.pi)
        pattern = np.sin((xs * np.cos(angle) + ys * np.sin(angle)) * (2 * np.pi / period)) > 0
    elif kind == "checker":
        angle = generator.uniform(0, np.pi / 2)
        u, v = xs * np.cos(angle) + ys * np.sin(angle), -xs * np.sin(angle) + ys * np.cos(angle)
        pattern = (np.floor(u / (period / 2)) + np.floor(v / (period / 2))) % 2 == 0
    elif kind == "rings":
        pattern = np.sin(np.hypot(ys, xs) * (2 * np.pi / period)) > 0
    else:
        raise ValueError(f"unknown appearance {kind!r}")
    first, second = generator.uniform(20, 235, size=(2, 3))
    while np.abs(first - second).sum() < 150:  # two colours far enough apart to show the texture
        first, second = generator.uniform(20, 235, size=(2, 3))
    return np.where(pattern[..., None], first, second).astype(np.float32)


class Disc:
    """A textured disc; ``path(t)`` gives its centre (x, y) and scale at frame t."""

    def __init__(self, patch: np.ndarray, path):
        self.patch, self.path = patch, path
        self.radius = patch.shape[0] // 2

    def draw(self, canvas: np.ndarray, t: int, camera: np.ndarray) -> None:
        """Draw at frame ``t`` on a canvas whose view has moved by ``camera`` (x, y) pixels since frame 0."""
        x, y, scale = self.path(t)
        x, y = x - camera[0], y - camera[1]
        radius = max(2, int(round(self.radius * scale)))
        top, left = int(round(y)) - radius, int(round(x)) - radius
        inside = _disc_mask(radius)
        if radius == self.radius:
            pixels = self.patch
        else:  # nearest-neighbour resampling of the patch to the current size
            source = np.minimum(((np.arange(2 * radius) + 0.5) * (self.radius / radius)).astype(int), 2 * self.radius - 1)
            pixels = self.patch[source[:, None], source[None, :]]
        canvas_h, canvas_w = canvas.shape[:2]
        y0, y1 = max(top, 0), min(top + 2 * radius, canvas_h)
        x0, x1 = max(left, 0), min(left + 2 * radius, canvas_w)
        if y0 >= y1 or x0 >= x1:
            return
        region = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
        mask = inside[region]
        canvas[y0:y1, x0:x1][mask] = pixels[region][mask]


@lru_cache(maxsize=256)
def _disc_mask(radius: int) -> np.ndarray:
    ys, xs = np.mgrid[0 : 2 * radius, 0 : 2 * radius]
    return (ys - radius + 0.5) ** 2 + (xs - radius + 0.5) ** 2 <= radius**2


def actor_path(motion: str, settings: SceneSettings, radius: int, generator: np.random.Generator):
    """The actor's trajectory for a motion pattern, with random speed, phase, direction and place."""
    width, height, frames = settings.width, settings.height, settings.frames
    margin = radius + 2
    cx = generator.uniform(margin + 0.2 * width, width - margin - 0.2 * width) if width > 2 * margin + 0.4 * width else width / 2
    cy = generator.uniform(margin, height - margin) if height > 2 * margin else height / 2
    sign = generator.choice([-1.0, 1.0])
    phase = generator.uniform(0, 2 * np.pi)
    if motion == "slide":  # constant horizontal speed, bouncing off the sides
        speed = generator.uniform(1.5, 3.0) * sign
        span = max(width - 2 * margin, 1)
        start = generator.uniform(0, span)

        def path(t: int):
            travelled = (start + speed * t) % (2 * span)
            return margin + (travelled if travelled < span else 2 * span - travelled), cy, 1.0

    elif motion == "bounce":  # vertical oscillation
        amplitude = min(0.3 * height, max(height / 2 - margin, 1))
        period = generator.uniform(10, 18)
        centre_y = height / 2

        def path(t: int):
            return cx, centre_y + amplitude * np.sin(2 * np.pi * t / period + phase), 1.0

    elif motion == "orbit":  # circle, either way round
        orbit = min(0.25 * height, max(height / 2 - margin, 1))
        period = generator.uniform(14, 24)
        centre_x, centre_y = width / 2 + generator.uniform(-0.1, 0.1) * width, height / 2

        def path(t: int):
            angle = sign * 2 * np.pi * t / period + phase
            return centre_x + orbit * np.cos(angle), centre_y + orbit * np.sin(angle), 1.0

    elif motion == "pulse":  # growing and shrinking in place
        period = generator.uniform(8, 14)

        def path(t: int):
            return cx, cy, 1.0 + 0.4 * np.sin(2 * np.pi * t / period + phase)

    else:
        raise ValueError(f"unknown motion {motion!r}")
    return path


def render(motion: str, appearance: str, settings: SceneSettings, generator: np.random.Generator) -> list[np.ndarray]:
    """The frames (``uint8 [H, W, 3]``) of one video of class (motion, appearance)."""
    width, height, frames = settings.width, settings.height, settings.frames
    # The camera looks at a window of a larger world and pans across it, with a little shake.
    pan = generator.uniform(-1, 1, size=2) * settings.camera
    room = (np.abs(pan) * frames + 8).astype(int)
    world = _smooth_noise(generator, height + room[1], width + room[0], cells=6)
    start = np.array([room[0] / 2, room[1] / 2]) - pan * frames / 2
    shake = generator.normal(0, 0.3 * settings.camera, size=(frames, 2))
    actor_radius = max(4, int(min(width, height) * generator.uniform(0.14, 0.2)))
    actor = Disc(texture(appearance, actor_radius, generator), actor_path(motion, settings, actor_radius, generator))
    extras = []
    for number in range(settings.distractors):
        radius = max(2, int(min(width, height) * generator.uniform(0.05, 0.09)))
        kind = APPEARANCES[generator.integers(len(APPEARANCES))]
        x, y = generator.uniform(0, width), generator.uniform(0, height)
        drift = generator.uniform(-1, 1, size=2) if number == 0 else np.zeros(2)
        extras.append(Disc(texture(kind, radius, generator), lambda t, x=x, y=y, d=drift: (x + d[0] * t, y + d[1] * t, 1.0)))
    video = []
    offsets = np.clip(np.round(start + pan * np.arange(frames)[:, None] + shake).astype(int), 0, room)
    for t, offset in enumerate(offsets):
        canvas = world[offset[1] : offset[1] + height, offset[0] : offset[0] + width].copy()
        for disc in (*extras, actor):  # the scene's objects live in the world: the camera moves them too
            disc.draw(canvas, t, offset - offsets[0])
        canvas += generator.standard_normal(canvas.shape, dtype=np.float32) * settings.noise
        video.append(np.clip(canvas, 0, 255).astype(np.uint8))
    return video
