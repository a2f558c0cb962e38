"""Following the motion fields of a GOP back to its I-frame: CoViAR's accumulated motion and residual.

:class:`IntegerTrace` and :class:`SubpixelTrace` follow the fields of a GOP,
``R_t(p) = R_{t-1}(p - mv_t(p))``: the accumulated motion is ``p - R_t(p)``
and the accumulated residual ``frame_t(p) - I(R_t(p))``. A source outside the
frame is clamped to its border, as the codec's edge extension does.

Speed: following a field copies one shifted window of the previous map per
moving cell, in place (see :class:`_PaddedTrace`); :class:`TracePool` keeps
the maps of finished traces for the next GOP. Where numba works, integer
traces are :mod:`.trace_kernels`' compiled ones; these numpy traces stay the
reference they are tested against.

Over 300 lines: the integer and sub-pixel traces share the padded maps, their
window views and edge handling, which read best in one place.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from pkd_plugins.video.jit import kernels
from pkd_plugins.video.modalities import Precision
from pkd_plugins.video.motion import MotionVectorField, pixel_axes


class _PaddedTrace:
    """Common shape of the traces: per-pixel maps kept with a border of ``MARGIN`` pixels repeating their edge.

    Reading a padded map at ``p - mv`` then equals reading the map at
    ``clamp(p - mv)``, the codec's edge extension. A field is constant over each
    cell, so following it copies, for every moving cell, one shifted
    ``cell x cell`` window of the previous map: block copies instead of a
    per-pixel gather, and nothing for cells that stand still (most of a video
    shot from a tripod). A window entirely outside the frame reads only repeated
    edge values, so clamping the window's position into the margin keeps this
    exact for vectors of any length (the margin is at least a cell and a tap
    wide). Maps are ``[..., H, W]``: planes first, so each window row is contiguous.
    """

    MARGIN = 32
    KIND: Precision = "integer"  # which starting maps (see _starting_maps)

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width
        self.padded = _starting_maps(self.KIND, height, width, self.MARGIN).copy()
        self._view_cache: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def reset(self) -> None:
        """Back to the I-frame: every pixel comes from itself."""
        np.copyto(self.padded, _starting_maps(self.KIND, self.height, self.width, self.MARGIN))

    @property
    def _map(self) -> np.ndarray:
        margin = self.MARGIN
        return self.padded[..., margin : margin + self.height, margin : margin + self.width]

    def _moving_cells(self, field: MotionVectorField) -> tuple[np.ndarray, np.ndarray]:
        return np.nonzero(np.logical_or(field.cells[..., 0], field.cells[..., 1]))

    def _views(self, field: MotionVectorField) -> tuple[np.ndarray, np.ndarray]:
        """Views of the padded maps: every ``cell x cell`` window, and the field's grid of cells over the frame.

        Made once per map buffer and cell grid (building views costs more than a few block copies).
        """
        cell, margin = field.cell, self.MARGIN
        key = (cell, *field.cells.shape[:2])
        views = self._view_cache.get(key)
        if views is not None and views[0] is self.padded:
            return views[1], views[2]
        padded = self.padded
        *lead, padded_h, padded_w = padded.shape
        *lead_strides, row_stride, column_stride = padded.strides
        windows = np.lib.stride_tricks.as_strided(
            padded,
            shape=(*lead, padded_h - cell + 1, padded_w - cell + 1, cell, cell),
            strides=(*lead_strides, row_stride, column_stride, row_stride, column_stride),
        )
        # the grid may pass the frame: into the margin, refreshed after the copy
        grid = np.lib.stride_tricks.as_strided(
            padded[..., margin:, margin:],
            shape=(*lead, key[1], key[2], cell, cell),
            strides=(*lead_strides, cell * row_stride, cell * column_stride, row_stride, column_stride),
        )
        self._view_cache[key] = (padded, windows, grid)
        return windows, grid

    def _shifted_blocks(self, field: MotionVectorField, rows, columns, shift_x, shift_y) -> np.ndarray:
        """For the given cells, the window of the padded maps at (cell corner - shift): ``[..., cells, cell, cell]``."""
        cell, margin = field.cell, self.MARGIN
        windows, _ = self._views(field)
        tops = np.minimum(np.maximum(rows * cell - shift_y + margin, 0), self.padded.shape[-2] - cell)
        lefts = np.minimum(np.maximum(columns * cell - shift_x + margin, 0), self.padded.shape[-1] - cell)
        return windows[..., tops, lefts, :, :]

    def _replace_cells(self, field: MotionVectorField, rows, columns, blocks: np.ndarray) -> None:
        """Replace the given cells (in row order) of the maps by ``blocks`` (read before: done in place), then the margins they touch."""
        _, grid = self._views(field)
        grid[..., rows, columns, :, :] = blocks
        grid_rows, grid_columns = field.cells.shape[:2]
        self._repeat_edges(
            self.padded,
            top=bool(rows[0] == 0),  # cells come in row order
            bottom=bool(rows[-1] == grid_rows - 1),
            left=bool(columns.min() == 0),
            right=bool(columns.max() == grid_columns - 1),
        )

    def _repeat_edges(self, padded: np.ndarray, top=True, bottom=True, left=True, right=True) -> None:
        """Fill the margin of ``padded`` (the given sides) with copies of the map's border rows and columns.

        The sides' cells hold the border pixels, and the cells past the frame
        (when its size is no multiple of the cell) lie in the bottom and right margins.
        """
        _repeat_edges(padded, self.MARGIN, self.height, self.width, top, bottom, left, right)

    def residual(self, frame: np.ndarray, reference: np.ndarray, out: np.ndarray) -> None:
        """``out = frame - reference read at each pixel's source``, float32; two uint8 images subtract in int16, faster."""
        prediction = self.sample(reference)  # type: ignore[attr-defined]
        if frame.dtype == np.uint8 and prediction.dtype == np.uint8:
            out[...] = np.subtract(frame, prediction, dtype=np.int16)
        else:
            np.subtract(frame, prediction, out=out, dtype=np.float32)


def _repeat_edges(padded: np.ndarray, margin: int, height: int, width: int, top=True, bottom=True, left=True, right=True) -> None:
    """Fill the margin of ``padded`` (the given sides) with copies of the map's border rows and columns."""
    inside = slice(margin, margin + height)
    if left:
        padded[..., inside, :margin] = padded[..., inside, margin : margin + 1]
    if right:
        padded[..., inside, margin + width :] = padded[..., inside, margin + width - 1 : margin + width]
    if top:  # whole rows: the corners too
        padded[..., :margin, :] = padded[..., margin : margin + 1, :]
    if bottom:
        padded[..., margin + height :, :] = padded[..., margin + height - 1 : margin + height, :]


@lru_cache(maxsize=16)
def _starting_maps(kind: Precision, height: int, width: int, margin: int) -> np.ndarray:
    """The padded maps of a trace at its I-frame (read-only): flat indices (integer) or (y, x) planes (sub-pixel)."""
    if kind == "integer":
        identity = np.arange(height * width, dtype=np.int32).reshape(height, width)
    else:
        ys, xs = pixel_axes(height, width)
        identity = np.stack(np.broadcast_arrays(ys, xs)).astype(np.float32)
    padded = np.empty((*identity.shape[:-2], height + 2 * margin, width + 2 * margin), dtype=identity.dtype)
    padded[..., margin : margin + height, margin : margin + width] = identity
    _repeat_edges(padded, margin, height, width)
    padded.flags.writeable = False
    return padded


class IntegerTrace(_PaddedTrace):
    """Where each pixel of the current frame comes from in the GOP's I-frame, in whole pixels (CoViAR)."""

    def __init__(self, height: int, width: int):
        super().__init__(height, width)
        self._flat: np.ndarray | None = None  # the sources as a contiguous intp array, until the next step

    def reset(self) -> None:
        super().reset()
        self._flat = None

    @property
    def source(self) -> np.ndarray:
        """Flat index into the I-frame of each pixel's source, ``int32 [H, W]``."""
        return self._map

    def follow(self, field: MotionVectorField) -> None:
        """Add one frame: ``R_t(p) = R_{t-1}(p - mv_t(p))``."""
        rows, columns = self._moving_cells(field)
        if len(rows):
            self._flat = None
            shift_x, shift_y = field.cells[rows, columns, 0], field.cells[rows, columns, 1]
            self._replace_cells(field, rows, columns, self._shifted_blocks(field, rows, columns, shift_x, shift_y))

    def _sources(self) -> np.ndarray:
        """The sources as a contiguous intp array (what ``take`` gathers with), made once per step."""
        if self._flat is None:
            self._flat = np.ascontiguousarray(self.source, dtype=np.intp)
        return self._flat

    def displacement(self, out: np.ndarray | None = None) -> np.ndarray:
        """Accumulated forward motion ``p - R_t(p)`` as ``float32 [H, W, 2]`` (dx, dy), written into ``out`` if given."""
        positions, grid = _position_table(self.height, self.width)
        shape = (self.height, self.width, 2)
        target = out if out is not None and out.flags.c_contiguous and out.dtype == np.float32 else np.empty(shape, np.float32)
        # each I-frame pixel's (x, y) as one 8-byte item: one gather gives both channels
        np.take(positions, self._sources(), out=target.view(np.int64).reshape(shape[:2]), mode="clip")
        np.subtract(grid, target, out=target)
        if out is not None and target is not out:
            out[...] = target
        return out if out is not None else target

    def sample(self, image: np.ndarray) -> np.ndarray:
        """``image`` (``[H, W, C]``) read at ``R_t(p)`` for every pixel p."""
        image = np.ascontiguousarray(image)
        channels = image.shape[-1]
        pixels = image.reshape(-1, channels).view(np.dtype((np.void, channels * image.itemsize))).reshape(-1)
        # one item per pixel: numpy copies whole items, faster than gathering rows of a 2-D array
        picked = np.take(pixels, self._sources(), mode="clip")
        return picked.view(image.dtype).reshape(self.height, self.width, channels)


@lru_cache(maxsize=32)
def _position_table(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's (x, y) as float32 pairs: the flat table viewed as int64 ``[H * W]``, and the ``[H, W, 2]`` grid."""
    ys, xs = pixel_axes(height, width)
    grid = np.empty((height, width, 2), dtype=np.float32)
    grid[..., 0], grid[..., 1] = xs, ys
    grid.flags.writeable = False
    return grid.view(np.int64).reshape(-1), grid


class SubpixelTrace(_PaddedTrace):
    """Like :class:`IntegerTrace` with fractional positions: the map and images are sampled bilinearly.

    Over a cell the motion's fraction is constant, so the bilinear read of the
    previous map is four shifted windows weighted per cell.
    """

    KIND: Precision = "subpixel"

    @property
    def position(self) -> np.ndarray:
        """(y, x) planes of each pixel's source in the I-frame, ``float32 [2, H, W]``."""
        return self._map

    def follow(self, field: MotionVectorField) -> None:
        rows, columns = self._moving_cells(field)
        if not len(rows):
            return
        motion_x, motion_y = field.cells[rows, columns, 0], field.cells[rows, columns, 1]
        whole_x, whole_y = np.floor(motion_x), np.floor(motion_y)
        part_x, part_y = motion_x - whole_x, motion_y - whole_y
        whole_x, whole_y = whole_x.astype(np.int64), whole_y.astype(np.int64)
        result = None
        # p - mv lies between p - whole and p - whole - 1 on each axis
        for step_y, weight_y in ((0, 1 - part_y), (1, part_y)):
            for step_x, weight_x in ((0, 1 - part_x), (1, part_x)):
                weight = (weight_y * weight_x).astype(np.float32)[:, None, None]
                blocks = self._shifted_blocks(field, rows, columns, whole_x + step_x, whole_y + step_y) * weight
                result = blocks if result is None else np.add(result, blocks, out=result)
        self._replace_cells(field, rows, columns, result)

    def displacement(self) -> np.ndarray:
        ys, xs = pixel_axes(self.height, self.width)
        source_y, source_x = self.position
        return np.stack([xs - source_x, ys - source_y], axis=-1).astype(np.float32)

    def sample(self, image: np.ndarray) -> np.ndarray:
        source_y, source_x = self.position
        return _bilinear(image.astype(np.float32), source_y, source_x)


def _bilinear(image: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``image`` (``[H, W, C]``) at fractional positions (``[H, W]`` each), clamped to the frame: ``float32 [H, W, C]``."""
    height, width, channels = image.shape
    y = np.clip(y, 0, height - 1, dtype=np.float32)
    x = np.clip(x, 0, width - 1, dtype=np.float32)
    top = np.minimum(y.astype(np.int32), max(height - 2, 0))
    left = np.minimum(x.astype(np.int32), max(width - 2, 0))
    down, right = np.subtract(y, top, dtype=np.float32), np.subtract(x, left, dtype=np.float32)  # not float64
    index = top * width + left
    planes = np.ascontiguousarray(image.transpose(2, 0, 1).reshape(channels, -1), dtype=np.float32)
    step_y, step_x = (width if height > 1 else 0), (1 if width > 1 else 0)
    corners = [np.take(planes, index + offset, axis=1) for offset in (0, step_x, step_y, step_y + step_x)]
    upper = corners[0] + (corners[1] - corners[0]) * right
    lower = corners[2] + (corners[3] - corners[2]) * right
    return (upper + (lower - upper) * down).transpose(1, 2, 0)


Trace = IntegerTrace | SubpixelTrace  # the compiled integer trace has IntegerTrace's interface


def trace_class(precision: Precision) -> type:
    """Sub-pixel: numpy's; integer: the compiled trace where numba works (see :mod:`.jit`), else numpy's."""
    if precision == "subpixel":
        return SubpixelTrace
    compiled = kernels("trace_kernels")
    return compiled.CompiledIntegerTrace if compiled is not None else IntegerTrace


class TracePool:
    """Traces kept for reuse by one thread: their maps and buffers are allocated once, not for every GOP.

    A trace's maps are megabytes: allocating them afresh for every GOP costs
    an allocation and page faults each time. ``take`` returns a trace at its
    I-frame; ``give`` hands it back when its GOP is done.
    """

    _local = threading.local()

    @classmethod
    def take(cls, height: int, width: int, precision: Precision) -> Trace:
        kind = trace_class(precision)
        free = cls._free().get((height, width, kind))
        if free:
            trace = free.pop()
            trace.reset()
            return trace
        return kind(height, width)

    @classmethod
    def give(cls, trace: Trace) -> None:
        free = cls._free()
        if sum(map(len, free.values())) < 8:  # a few frame sizes at most, a few MB each
            free.setdefault((trace.height, trace.width, type(trace)), []).append(trace)

    @classmethod
    def _free(cls) -> dict:
        if not hasattr(cls._local, "free"):
            cls._local.free = {}
        return cls._local.free
