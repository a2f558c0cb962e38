"""Motion vectors as FFmpeg exports them, and the per-pixel fields CoViAR builds from them.

FFmpeg (``flags2=+export_mvs``) exports one record per predicted block:
``source`` (-1: the past reference), block size ``w x h``, the block's centre
in the current frame ``dst_x, dst_y``, where it comes from ``src_x, src_y``
(``dst + motion / motion_scale``, truncated to integers), and the exact motion
``motion_x / motion_scale``. Intra blocks have no record.

:class:`MotionVectorField` holds the forward motion ``(dx, dy) = dst - src`` of
every pixel: integer (CoViAR, from ``src``/``dst``) or sub-pixel (from
``motion_x / motion_scale``). Following the fields of a GOP back to its
I-frame is :mod:`pkd_plugins.video.tracing`'s.

Speed: a field is kept on a grid of cells as large as its blocks allow (16, 8
or 4 pixels), and the fields of a whole GOP are painted together
(:func:`motion_fields`). Nothing loops over blocks or pixels in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
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
def pixel_axes(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers ``[H, 1]`` and column numbers ``[1, W]``, int32."""
    return np.arange(height, dtype=np.int32)[:, None], np.arange(width, dtype=np.int32)[None, :]
