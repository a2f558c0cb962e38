"""The integer trace of :mod:`pkd_plugins.video.tracing` as numba kernels: same results, bit for bit, several times faster.

Imported only through :func:`pkd_plugins.video.jit.kernels` (it needs numba).
:class:`CompiledIntegerTrace` keeps where each pixel comes from in the GOP's
I-frame as one int32 per pixel, ``y << 16 | x``, and computes by plain loops
what the numpy :class:`~pkd_plugins.video.tracing.IntegerTrace` does with
window copies and gathers: following a field touches only its moving cells
(clamping each source to the frame, the codec's edge extension); the
accumulated motion and the accumulated residual are each one pass over the
frame that writes the float32 output directly.

Kernels have explicit signatures: they compile (or load from numba's cache)
when this module is imported, so a machine where compiling fails falls back to
numpy at once rather than in the middle of a clip.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit, uint64

_PACK = 16  # a source is (y << 16) | x: frames up to 65535 pixels a side


# Indices are unsigned (``uint64``) on purpose: numba wraps negative signed
# indices around, a test per access that keeps LLVM from vectorising the loops
# (the signed versions of these kernels ran 2-8 times slower). Every index
# here is computed from clamped, non-negative coordinates.


@njit("void(int32[:, ::1], int32[:, ::1], int32[:, :, ::1], int64)", cache=True, nogil=True)
def _follow(source, scratch, cells, cell):
    """``R_t(p) = R_{t-1}(clamp(p - mv_t(p)))`` for the pixels of moving cells; ``scratch`` holds the new values first.

    A cell moves as one block: each of its rows is a copy of a shifted row,
    clamped pixel by pixel only where it reaches past the frame.
    """
    height, width = source.shape
    rows, columns = cells.shape[0], cells.shape[1]
    old, new = source.reshape(-1), scratch.reshape(-1)
    moved = False
    for row in range(rows):
        top, bottom = row * cell, min(row * cell + cell, height)
        for column in range(columns):
            dx, dy = cells[row, column, 0], cells[row, column, 1]
            if dx == 0 and dy == 0:
                continue
            moved = True
            left, right = column * cell, min(column * cell + cell, width)
            inside = left - dx >= 0 and right - dx <= width
            for y in range(top, bottom):
                write = uint64(y * width)
                read = uint64(min(max(y - dy, 0), height - 1) * width)
                if inside:
                    for x in range(uint64(left), uint64(right)):
                        new[write + x] = old[read + x - uint64(dx)]  # x - dx >= 0: unsigned wrap-around cancels
                else:
                    for x in range(left, right):
                        new[write + uint64(x)] = old[read + uint64(min(max(x - dx, 0), width - 1))]
    if not moved:
        return
    for row in range(rows):  # every new value was read from the old map: now replace
        top, bottom = row * cell, min(row * cell + cell, height)
        for column in range(columns):
            if cells[row, column, 0] == 0 and cells[row, column, 1] == 0:
                continue
            left, right = uint64(column * cell), uint64(min(column * cell + cell, width))
            for y in range(top, bottom):
                for x in range(uint64(y * width) + left, uint64(y * width) + right):
                    old[x] = new[x]


@njit("void(int32[:, ::1], float32[:, :, ::1])", cache=True, nogil=True)
def _displacement(source, out):
    """``out[y, x] = (x - source x, y - source y)``."""
    height, width = source.shape
    sources, flat = source.reshape(-1), out.reshape(-1)
    for y in range(height):
        row = uint64(y * width)
        for x in range(uint64(width)):
            packed = sources[row + x]
            flat[(row + x) * uint64(2)] = np.float32(np.int64(x) - (packed & 0xFFFF))
            flat[(row + x) * uint64(2) + uint64(1)] = np.float32(y - (packed >> 16))


@njit("void(int32[:, ::1], uint8[:, :, ::1], uint8[:, :, ::1], float32[:, :, ::1])", cache=True, nogil=True)
def _residual(source, frame, reference, out):
    """``out[y, x] = frame[y, x] - reference[source of (y, x)]`` for RGB images, over flat indices (twice as fast as 3-d ones)."""
    height, width = source.shape
    pixels, references, flat, sources = frame.reshape(-1), reference.reshape(-1), out.reshape(-1), source.reshape(-1)
    for pixel in range(uint64(height * width)):
        packed = sources[pixel]
        read = uint64(((packed >> 16) * width + (packed & 0xFFFF)) * 3)
        write = pixel * uint64(3)
        for channel in range(uint64(3)):
            flat[write + channel] = np.float32(np.int32(pixels[write + channel]) - np.int32(references[read + channel]))


@lru_cache(maxsize=16)
def _identity(height: int, width: int) -> np.ndarray:
    ys, xs = np.meshgrid(np.arange(height, dtype=np.int32), np.arange(width, dtype=np.int32), indexing="ij")
    identity = (ys << _PACK) | xs
    identity.flags.writeable = False
    return identity


class CompiledIntegerTrace:
    """:class:`~pkd_plugins.video.tracing.IntegerTrace`'s interface and results, computed by the kernels above."""

    def __init__(self, height: int, width: int):
        if max(height, width) >= 1 << _PACK:
            raise ValueError(f"{width}x{height}: frames up to {(1 << _PACK) - 1} pixels a side")
        self.height, self.width = height, width
        self.packed = _identity(height, width).copy()
        self._scratch = np.empty_like(self.packed)

    def reset(self) -> None:
        np.copyto(self.packed, _identity(self.height, self.width))

    @property
    def source(self) -> np.ndarray:
        """Flat index into the I-frame of each pixel's source, ``int32 [H, W]`` (as the numpy trace gives it)."""
        return (self.packed >> _PACK) * np.int32(self.width) + (self.packed & 0xFFFF)

    def follow(self, field) -> None:
        cells = field.cells
        if cells.dtype != np.int32 or not cells.flags.c_contiguous:
            cells = np.ascontiguousarray(cells, dtype=np.int32)
        _follow(self.packed, self._scratch, cells, field.cell)

    def displacement(self, out: np.ndarray | None = None) -> np.ndarray:
        target = out if _writable_into(out, np.float32) else np.empty((self.height, self.width, 2), np.float32)
        _displacement(self.packed, target)
        if out is not None and target is not out:
            out[...] = target
        return out if out is not None else target

    def sample(self, image: np.ndarray) -> np.ndarray:
        image = np.ascontiguousarray(image)
        return image.reshape(-1, image.shape[-1])[self.source.reshape(-1)].reshape(self.height, self.width, -1)

    def residual(self, frame: np.ndarray, reference: np.ndarray, out: np.ndarray) -> None:
        """``out = frame - reference read at each pixel's source``, float32; RGB images in one compiled pass."""
        rgb = frame.dtype == np.uint8 and reference.dtype == np.uint8 and frame.shape[-1] == 3 and reference.shape == frame.shape
        if not rgb or not _writable_into(out, np.float32):
            np.subtract(frame, self.sample(reference), out=out, dtype=np.float32)
            return
        _residual(self.packed, np.ascontiguousarray(frame), np.ascontiguousarray(reference), out)


def _writable_into(out: np.ndarray | None, dtype) -> bool:
    return out is not None and out.dtype == dtype and out.flags.c_contiguous and out.flags.writeable
