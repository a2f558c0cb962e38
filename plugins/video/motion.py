"""Motion vectors as FFmpeg exports them, and what CoViAR builds from them.

FFmpeg (``flags2=+export_mvs``) exports one record per predicted block:
``source`` (-1: the past reference), block size ``w x h``, the block's centre
in the current frame ``dst_x, dst_y``, where it comes from ``src_x, src_y``
(``dst + motion / motion_scale``, truncated to integers), and the exact motion
``motion_x / motion_scale``. Intra blocks have no record.

:class:`MotionVectorField` holds the forward motion ``(dx, dy) = dst - src`` of
every pixel: integer (CoViAR, from ``src``/``dst``) or sub-pixel (from
``motion_x / motion_scale``). :class:`IntegerTrace` and :class:`SubpixelTrace`
follow the fields of a GOP back to its I-frame, ``R_t(p) = R_{t-1}(p - mv_t(p))``:
the accumulated motion is ``p - R_t(p)`` and the accumulated residual
``frame_t(p) - I(R_t(p))``. A source outside the frame is clamped to its
border, as the codec's edge extension does.

Speed: a field is kept on a grid of cells as large as its blocks allow (16, 8
or 4 pixels), and the fields of a whole GOP are painted together
(:func:`motion_fields`). Following a field copies one shifted window of the
previous map per moving cell, in place (see :class:`_PaddedTrace`). Nothing
loops over blocks or pixels in Python.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

from pkd_plugins.video.modalities import Precision

# Columns of a raw motion-vector table, FFmpeg's AVMotionVector without ``flags``.
MV_COLUMNS = ("source", "w", "h", "src_x", "src_y", "dst_x", "dst_y", "motion_x", "motion_y", "motion_scale")


def vector_table(records: np.ndarray) -> np.ndarray:
    """FFmpeg's structured motion-vector records as an ``int32 [N, 10]`` table in :data:`MV_COLUMNS` order."""
    table = np.empty((len(records), len(MV_COLUMNS)), dtype=np.int32)
    for column, name in enumerate(MV_COLUMNS):
        table[:, column] = records[name]
    return table


def empty_table() -> np.ndarray:
    return np.zeros((0, len(MV_COLUMNS)), dtype=np.int32)


class MotionVectorField:
    """Forward motion ``(dx, dy)`` of every pixel of one ``height x width`` frame, zero where no vector was exported.

    Stored per cell: ``cells[row, column]`` is the motion of the ``cell x cell``
    pixels at ``(row * cell, column * cell)``.
    """

    def __init__(self, cells: np.ndarray, cell: int, height: int, width: int, precision: Precision):
        self.cells, self.cell, self.height, self.width, self.precision = cells, cell, height, width, precision

    @classmethod
    def zeros(cls, height: int, width: int, precision: Precision = "integer") -> MotionVectorField:
        dtype = np.int32 if precision == "integer" else np.float32
        return cls(np.zeros((1, 1, 2), dtype), max(height, width, 1), height, width, precision)

    @classmethod
    def from_table(cls, table: np.ndarray, height: int, width: int, precision: Precision = "integer") -> MotionVectorField:
        """From a raw ``[N, 10]`` table (:data:`MV_COLUMNS`); see :meth:`from_records`."""
        return cls.from_records({name: table[:, column] for column, name in enumerate(MV_COLUMNS)}, height, width, precision)

    @classmethod
    def from_records(cls, records, height: int, width: int, precision: Precision = "integer") -> MotionVectorField:
        """Paint each block's vector over its pixels (blocks reaching past the frame are cut at its border).

        ``records``: FFmpeg's structured motion-vector array, or any mapping of
        :data:`MV_COLUMNS` names to arrays. For the frames of a GOP,
        :func:`motion_fields` does the same with fewer numpy calls.
        """
        return motion_fields([records], height, width, precision)[0]

    @property
    def is_zero(self) -> bool:
        return not self.cells.any()

    def dense(self) -> np.ndarray:
        """``[H, W, 2]`` (dx, dy) of every pixel, float32."""
        pixels = np.repeat(np.repeat(self.cells, self.cell, axis=0), self.cell, axis=1)
        return pixels[: self.height, : self.width].astype(np.float32)


def motion_fields(tables: Sequence, height: int, width: int, precision: Precision = "integer") -> list[MotionVectorField]:
    """The field of each frame's records (``None``: no vectors), painted together: a few numpy calls for a whole GOP.

    Each block's vector is painted over its pixels (blocks reaching past the
    frame are cut at its border); zero vectors, future references (B-frame
    streams are refused before this) and blocks starting outside the frame
    paint nothing. A frame's cells are as large as the common divisor of its
    painted blocks' sizes and positions; blocks are painted in the order of
    their size in cells, then in record order.
    """
    counts = [0 if table is None else len(table["source"]) for table in tables]
    fields = [MotionVectorField.zeros(height, width, precision) for _ in tables]
    if not any(counts):
        return fields
    records = _concatenated([table for table in tables if table is not None and len(table["source"])])
    frame = np.repeat(np.arange(len(tables), dtype=np.intp), counts)
    dst_x, dst_y = records["dst_x"], records["dst_y"]
    if precision == "integer":
        dx = np.subtract(dst_x, records["src_x"], dtype=np.int32)
        dy = np.subtract(dst_y, records["src_y"], dtype=np.int32)
    else:
        scale = np.maximum(records["motion_scale"], 1).astype(np.float32)
        dx, dy = -records["motion_x"] / scale, -records["motion_y"] / scale
    used = np.logical_or(dx, dy)  # a zero vector paints what is there already
    source = records["source"]
    if source.max() >= 0:
        used &= source < 0  # past references only
    block_w, block_h = records["w"].astype(np.int32), records["h"].astype(np.int32)
    left, top = dst_x - (block_w >> 1), dst_y - (block_h >> 1)
    if min(left.min(), top.min()) < 0:  # FFmpeg's blocks start inside the frame; anything else is ignored
        used &= (left >= 0) & (top >= 0)
    if not used.all():
        kept = np.flatnonzero(used)
        if not len(kept):
            return fields
        frame, block_w, block_h, left, top, dx, dy = (a[kept] for a in (frame, block_w, block_h, left, top, dx, dy))
    cells_of = _cell_sizes(frame, len(tables), block_w, block_h, left, top)
    for cell in sorted(set(cells_of.values())):
        frames = [number for number, size in cells_of.items() if size == cell]
        group = (frame, block_w, block_h, left, top, dx, dy)
        if len(frames) < len(cells_of):
            chosen = np.isin(frame, frames)
            group = tuple(a[chosen] for a in group)
        local = group[0]
        if frames != list(range(len(frames))):  # number the group's frames 0, 1, ...
            renumber = np.zeros(len(tables), dtype=np.intp)
            renumber[frames] = np.arange(len(frames))
            local = renumber[local]
        painted = _paint_cells(local, len(frames), *group[1:], cell=cell, height=height, width=width)
        for slot, number in enumerate(frames):
            fields[number] = MotionVectorField(painted[slot], cell, height, width, precision)
    return fields


def _concatenated(tables: list):
    """The records of several frames as one: a structured array, or a mapping of :data:`MV_COLUMNS` to arrays."""
    if all(isinstance(table, np.ndarray) for table in tables) and len({table.dtype for table in tables}) == 1:
        if len(tables) == 1:
            return tables[0]
        # as raw bytes: numpy copies structured arrays field by field, far slower
        return np.concatenate([np.ascontiguousarray(table).view(np.uint8) for table in tables]).view(tables[0].dtype)
    return {name: np.concatenate([np.asarray(table[name]) for table in tables]) for name in MV_COLUMNS}


def _cell_sizes(frame: np.ndarray, frames: int, block_w, block_h, left, top) -> dict[int, int]:
    """The cell of every frame with painted blocks: the common divisor of its blocks' sizes and positions.

    Every value is a multiple of the lowest bit set in any of them; when the
    smallest block side is that power of two (block sizes are powers of two in
    every codec read here), it is the divisor, found without Euclid's algorithm.
    """
    per_frame = np.bincount(frame, minlength=frames)
    present = np.flatnonzero(per_frame)
    starts = (np.cumsum(per_frame) - per_frame)[present]
    bits = np.bitwise_or.reduceat(block_w | block_h | left | top, starts)
    smallest = np.minimum.reduceat(np.minimum(block_w, block_h), starts)
    cells = {}
    for number, start, value, side in zip(present.tolist(), starts.tolist(), bits.tolist(), smallest.tolist(), strict=True):
        lowest = value & -value
        if lowest and side == lowest:
            cells[number] = lowest
        else:
            end = start + int(per_frame[number])
            values = np.concatenate([a[start:end] for a in (block_w, block_h, left, top)])
            cells[number] = max(int(np.gcd.reduce(values)), 1)
    return cells


def _paint_cells(frame, frames: int, block_w, block_h, left, top, dx, dy, *, cell: int, height: int, width: int) -> np.ndarray:
    """The blocks' vectors on ``frames`` grids of square ``cell``-pixel cells: ``[frames, rows, columns, 2]``."""
    rows, columns = -(-height // cell), -(-width // cell)
    cells = np.zeros((frames * rows * columns, 2), dtype=dx.dtype)
    row, column = top // cell, left // cell
    if block_w.max() == cell and block_h.max() == cell:  # the usual case: one cell per block
        flat = (frame * rows + row) * columns + column
        if row.max() >= rows or column.max() >= columns:
            keep = (row < rows) & (column < columns)
            flat, dx, dy = flat[keep], dx[keep], dy[keep]
        cells[flat, 0] = dx
        cells[flat, 1] = dy
        return cells.reshape(frames, rows, columns, 2)
    span_w, span_h = block_w // cell, block_h // cell
    # a frame whose blocks are all one cell paints each block's corner cell (whatever its span), as above
    starts = np.searchsorted(frame, np.arange(frames))
    single = (np.maximum.reduceat(span_w, starts) == 1) & (np.maximum.reduceat(span_h, starts) == 1)
    if single.any():
        span_w, span_h = np.where(single[frame], 1, span_w), np.where(single[frame], 1, span_h)
    order = np.argsort(frame * (1 << 40) + span_w * (1 << 20) + span_h, kind="stable")
    frame, span_w, span_h, row, column, dx, dy = (a[order] for a in (frame, span_w, span_h, row, column, dx, dy))
    counts = span_w * span_h  # every block covers span_h x span_w cells: one entry per covered cell
    block = np.repeat(np.arange(len(counts)), counts)
    within = np.arange(len(block)) - np.repeat(np.cumsum(counts) - counts, counts)
    span = span_w[block]
    ys, xs = row[block] + within // span, column[block] + within % span
    keep = (ys < rows) & (xs < columns)  # blocks reaching past the frame (e.g. width 340 in 16-pixel blocks)
    flat = ((frame[block] * rows + ys) * columns + xs)[keep]
    block = block[keep]
    cells[flat, 0] = dx[block]
    cells[flat, 1] = dy[block]
    return cells.reshape(frames, rows, columns, 2)


@lru_cache(maxsize=32)
def _pixel_axes(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers ``[H, 1]`` and column numbers ``[1, W]``, int32."""
    return np.arange(height, dtype=np.int32)[:, None], np.arange(width, dtype=np.int32)[None, :]


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
        ys, xs = _pixel_axes(height, width)
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
    ys, xs = _pixel_axes(height, width)
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
        ys, xs = _pixel_axes(self.height, self.width)
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


Trace = IntegerTrace | SubpixelTrace


def new_trace(height: int, width: int, precision: Precision) -> Trace:
    return IntegerTrace(height, width) if precision == "integer" else SubpixelTrace(height, width)


class TracePool:
    """Traces kept for reuse by one thread: their maps and buffers are allocated once, not for every GOP.

    A trace's maps are megabytes: allocating them afresh for every GOP costs
    an allocation and page faults each time. ``take`` returns a trace at its
    I-frame; ``give`` hands it back when its GOP is done.
    """

    _local = threading.local()

    @classmethod
    def take(cls, height: int, width: int, precision: Precision) -> Trace:
        free = cls._free().get((height, width, precision))
        if free:
            trace = free.pop()
            trace.reset()
            return trace
        return new_trace(height, width, precision)

    @classmethod
    def give(cls, trace: Trace) -> None:
        precision: Precision = "integer" if isinstance(trace, IntegerTrace) else "subpixel"
        free = cls._free()
        if sum(map(len, free.values())) < 8:  # a few frame sizes at most, a few MB each
            free.setdefault((trace.height, trace.width, precision), []).append(trace)

    @classmethod
    def _free(cls) -> dict:
        if not hasattr(cls._local, "free"):
            cls._local.free = {}
        return cls._local.free
