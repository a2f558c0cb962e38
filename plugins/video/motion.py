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
or 4 pixels); following it copies one shifted window of the previous map per
cell (see :class:`_PaddedTrace`). Nothing loops over blocks or pixels in Python.
"""

from __future__ import annotations

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
        :data:`MV_COLUMNS` names to arrays. Run once per decoded P-frame: few numpy calls.
        """
        source = records["source"]
        if len(source) == 0:
            return cls.zeros(height, width, precision)
        if precision == "integer":
            dx = records["dst_x"].astype(np.int32) - records["src_x"]
            dy = records["dst_y"].astype(np.int32) - records["src_y"]
        else:
            scale = np.maximum(records["motion_scale"], 1).astype(np.float32)
            dx, dy = -records["motion_x"] / scale, -records["motion_y"] / scale
        used = (dx != 0) | (dy != 0)
        if source.max() >= 0:
            used &= source < 0  # past references only; B-frame streams are refused before this
        if not used.any():
            return cls.zeros(height, width, precision)
        columns = [records["w"], records["h"], records["dst_x"], records["dst_y"], dx, dy]
        if not used.all():
            columns = [column[used] for column in columns]
        cells, cell = _paint_cells(*columns, height=height, width=width)
        return cls(cells, cell, height, width, precision)

    @property
    def is_zero(self) -> bool:
        return not self.cells.any()

    def dense(self) -> np.ndarray:
        """``[H, W, 2]`` (dx, dy) of every pixel, float32."""
        pixels = np.repeat(np.repeat(self.cells, self.cell, axis=0), self.cell, axis=1)
        return pixels[: self.height, : self.width].astype(np.float32)


def _paint_cells(block_w, block_h, centre_x, centre_y, dx, dy, *, height: int, width: int) -> tuple[np.ndarray, int]:
    """The blocks' vectors on a grid of square cells as large as the blocks' common divisor."""
    block_w, block_h = block_w.astype(np.int32), block_h.astype(np.int32)
    left, top = centre_x - block_w // 2, centre_y - block_h // 2
    if min(left.min(), top.min()) < 0:  # FFmpeg's blocks start inside the frame; anything else is ignored
        inside = (left >= 0) & (top >= 0)
        block_w, block_h, left, top, dx, dy = (a[inside] for a in (block_w, block_h, left, top, dx, dy))
    cell = max(int(np.gcd.reduce(np.concatenate([block_w, block_h, left, top]))), 1)
    rows, columns = -(-height // cell), -(-width // cell)
    cells = np.zeros((rows, columns, 2), dtype=dx.dtype)
    span_w, span_h, row, column = block_w // cell, block_h // cell, top // cell, left // cell
    if span_w.max() == 1 and span_h.max() == 1:  # the usual case: one cell per block
        keep = (row < rows) & (column < columns)
        cells[row[keep], column[keep], 0] = dx[keep]
        cells[row[keep], column[keep], 1] = dy[keep]
        return cells, cell
    sizes = span_w * 4096 + span_h
    for size in np.unique(sizes):  # a handful of block sizes per frame
        same = sizes == size
        ys = row[same][:, None, None] + np.arange(size % 4096)[None, :, None]
        xs = column[same][:, None, None] + np.arange(size // 4096)[None, None, :]
        keep = (ys < rows) & (xs < columns)  # blocks reaching past the frame (e.g. width 340 in 16-pixel blocks)
        ys, xs = np.broadcast_arrays(ys, xs)
        for channel, values in enumerate((dx, dy)):
            cells[ys[keep], xs[keep], channel] = np.broadcast_to(values[same][:, None, None], keep.shape)[keep]
    return cells, cell


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

    def __init__(self, height: int, width: int, identity: np.ndarray):
        self.height, self.width = height, width
        margin = self.MARGIN
        self.padded = np.empty((*identity.shape[:-2], height + 2 * margin, width + 2 * margin), dtype=identity.dtype)
        self.padded[..., margin : margin + height, margin : margin + width] = identity
        self._repeat_edges(self.padded)

    @property
    def _map(self) -> np.ndarray:
        margin = self.MARGIN
        return self.padded[..., margin : margin + self.height, margin : margin + self.width]

    def _moving_cells(self, field: MotionVectorField) -> tuple[np.ndarray, np.ndarray]:
        return np.nonzero(np.any(field.cells != 0, axis=-1))

    def _shifted_blocks(self, field: MotionVectorField, rows, columns, shift_x, shift_y) -> np.ndarray:
        """For the given cells, the window of the padded maps at (cell corner - shift): ``[..., cells, cell, cell]``."""
        cell, margin = field.cell, self.MARGIN
        windows = np.lib.stride_tricks.sliding_window_view(self.padded, (cell, cell), axis=(-2, -1))
        tops = np.clip(rows * cell - shift_y + margin, 0, self.padded.shape[-2] - cell)
        lefts = np.clip(columns * cell - shift_x + margin, 0, self.padded.shape[-1] - cell)
        return windows[..., tops, lefts, :, :]

    def _replace_cells(self, field: MotionVectorField, rows, columns, blocks: np.ndarray) -> None:
        """The new maps: the old ones with the given cells replaced by ``blocks``."""
        updated = self.padded.copy()
        cell, margin = field.cell, self.MARGIN
        interior = updated[..., margin:, margin:]
        *lead_strides, row_stride, column_stride = interior.strides
        grid_rows, grid_columns = field.cells.shape[:2]  # the grid may pass the frame: into the margin, refreshed below
        grid = np.lib.stride_tricks.as_strided(
            interior,
            shape=(*interior.shape[:-2], grid_rows, grid_columns, cell, cell),
            strides=(*lead_strides, cell * row_stride, cell * column_stride, row_stride, column_stride),
        )
        grid[..., rows, columns, :, :] = blocks
        self._repeat_edges(updated)
        self.padded = updated

    def _repeat_edges(self, padded: np.ndarray) -> None:
        """Fill the margin of ``padded`` with copies of the map's border rows and columns."""
        margin, height, width = self.MARGIN, self.height, self.width
        inside = slice(margin, margin + height)
        padded[..., inside, :margin] = padded[..., inside, margin : margin + 1]
        padded[..., inside, margin + width :] = padded[..., inside, margin + width - 1 : margin + width]
        padded[..., :margin, :] = padded[..., margin : margin + 1, :]
        padded[..., margin + height :, :] = padded[..., margin + height - 1 : margin + height, :]


class IntegerTrace(_PaddedTrace):
    """Where each pixel of the current frame comes from in the GOP's I-frame, in whole pixels (CoViAR)."""

    def __init__(self, height: int, width: int):
        super().__init__(height, width, np.arange(height * width, dtype=np.int32).reshape(height, width))

    @property
    def source(self) -> np.ndarray:
        """Flat index into the I-frame of each pixel's source, ``int32 [H, W]``."""
        return self._map

    def follow(self, field: MotionVectorField) -> None:
        """Add one frame: ``R_t(p) = R_{t-1}(p - mv_t(p))``."""
        rows, columns = self._moving_cells(field)
        if len(rows):
            shift_x, shift_y = field.cells[rows, columns, 0], field.cells[rows, columns, 1]
            self._replace_cells(field, rows, columns, self._shifted_blocks(field, rows, columns, shift_x, shift_y))

    def displacement(self) -> np.ndarray:
        """Accumulated forward motion ``p - R_t(p)`` as ``float32 [H, W, 2]`` (dx, dy)."""
        source = self.source
        source_y = source // self.width  # int32 division by a scalar: fast in numpy
        ys, xs = _pixel_axes(self.height, self.width)
        moved = np.empty((self.height, self.width, 2), dtype=np.float32)
        np.subtract(xs, source - source_y * self.width, out=moved[..., 0], casting="unsafe")
        np.subtract(ys, source_y, out=moved[..., 1], casting="unsafe")
        return moved

    def sample(self, image: np.ndarray) -> np.ndarray:
        """``image`` (``[H, W, C]``) read at ``R_t(p)`` for every pixel p."""
        return np.take(image.reshape(-1, image.shape[-1]), self.source, axis=0)


class SubpixelTrace(_PaddedTrace):
    """Like :class:`IntegerTrace` with fractional positions: the map and images are sampled bilinearly.

    Over a cell the motion's fraction is constant, so the bilinear read of the
    previous map is four shifted windows weighted per cell.
    """

    def __init__(self, height: int, width: int):
        ys, xs = _pixel_axes(height, width)
        super().__init__(height, width, np.stack(np.broadcast_arrays(ys, xs)).astype(np.float32))

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
