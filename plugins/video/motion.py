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
or 4 pixels) and expanded to pixels with one gather; the integer trace moves
flat pixel indices with one gather per frame, clamping only the cells whose
source leaves the frame. Nothing loops over blocks or pixels in Python.
"""

from __future__ import annotations

from functools import lru_cache
import numpy as np

from pkd_plugins.video.modalities import Precision

# Columns of a raw motion-vector table, FFmpeg's AVMotionVector without ``flags``.
MV_COLUMNS = ("source", "w", "h", "src_x", "src_y", "dst_x", "dst_y", "motion_x", "motion_y", "motion_scale")
_SOURCE, _W, _H, _SRC_X, _SRC_Y, _DST_X, _DST_Y, _MOTION_X, _MOTION_Y, _SCALE = range(len(MV_COLUMNS))


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
        """Paint each block's vector over its pixels (blocks reaching past the frame are cut at its border)."""
        if len(table) and table[:, _SOURCE].max() >= 0:
            table = table[table[:, _SOURCE] < 0]  # past references only; B-frame streams are refused before this
        if precision == "integer":
            values = table[:, [_DST_X, _DST_Y]] - table[:, [_SRC_X, _SRC_Y]]
        else:
            scale = np.maximum(table[:, _SCALE], 1).astype(np.float32)[:, None]
            values = (-table[:, [_MOTION_X, _MOTION_Y]] / scale).astype(np.float32)
        moving = values.any(axis=1)
        if not moving.any():
            return cls.zeros(height, width, precision)
        if not moving.all():
            table, values = table[moving], values[moving]
        cells, cell = _paint_cells(table, values, height, width)
        return cls(cells, cell, height, width, precision)

    @property
    def is_zero(self) -> bool:
        return not self.cells.any()

    def dense(self) -> np.ndarray:
        """``[H, W, 2]`` (dx, dy) of every pixel, float32."""
        pixels = np.repeat(np.repeat(self.cells, self.cell, axis=0), self.cell, axis=1)
        return pixels[: self.height, : self.width].astype(np.float32)

    def cell_offsets(self, row_stride: int) -> np.ndarray:
        """Integer fields: ``-(dy * row_stride + dx)`` per cell, the flat step from a pixel to its source."""
        return -(self.cells[..., 1] * row_stride + self.cells[..., 0])


def _expand(cells: np.ndarray, cell: int, height: int, width: int) -> np.ndarray:
    """Per-cell values ``[rows, columns]`` as per-pixel values ``[H, W]``."""
    rows, columns = cells.shape
    spread = np.broadcast_to(cells[:, None, :, None], (rows, cell, columns, cell))
    return spread.reshape(rows * cell, columns * cell)[:height, :width]


def _paint_cells(table: np.ndarray, values: np.ndarray, height: int, width: int) -> tuple[np.ndarray, int]:
    """The blocks' values on a grid of square cells as large as the blocks' common divisor."""
    sizes = table[:, [_W, _H]]
    corners = table[:, [_DST_X, _DST_Y]] - sizes // 2  # (left, top)
    if corners.min() < 0:  # FFmpeg's blocks start inside the frame; anything else is ignored
        inside = corners.min(axis=1) >= 0
        sizes, corners, values = sizes[inside], corners[inside], values[inside]
    cell = max(int(np.gcd.reduce(np.gcd(sizes, corners), axis=None)), 1)
    rows, columns = -(-height // cell), -(-width // cell)
    cells = np.zeros((rows, columns, 2), dtype=values.dtype)
    spans = sizes // cell
    starts = corners // cell
    if spans.max() == 1:  # the usual case: one cell per block
        keep = (starts[:, 1] < rows) & (starts[:, 0] < columns)
        cells[starts[keep, 1], starts[keep, 0]] = values[keep]
        return cells, cell
    keys = spans[:, 0] * 4096 + spans[:, 1]
    for key in np.unique(keys):  # a handful of block sizes per frame
        same = keys == key
        span_w, span_h = (int(v) for v in spans[same][0])
        ys = starts[same, 1][:, None, None] + np.arange(span_h)[None, :, None]
        xs = starts[same, 0][:, None, None] + np.arange(span_w)[None, None, :]
        keep = (ys < rows) & (xs < columns)  # blocks reaching past the frame (e.g. width 340 in 16-pixel blocks)
        ys, xs = np.broadcast_arrays(ys, xs)
        cells[ys[keep], xs[keep]] = np.broadcast_to(values[same][:, None, None, :], (*keep.shape, 2))[keep]
    return cells, cell


@lru_cache(maxsize=32)
def _identity(height: int, width: int) -> np.ndarray:
    identity = np.arange(height * width, dtype=np.int32).reshape(height, width)
    identity.flags.writeable = False
    return identity


@lru_cache(maxsize=32)
def _pixel_axes(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers ``[H, 1]`` and column numbers ``[1, W]``, int32."""
    return np.arange(height, dtype=np.int32)[:, None], np.arange(width, dtype=np.int32)[None, :]


def _pixels_of_cells(flat_cells: np.ndarray, cell: int, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, column and owning cell of every pixel of the given cells (of the cell grid, which may pass the frame)."""
    rows_of, columns_of = np.divmod(flat_cells, columns)
    ys = (rows_of * cell)[:, None, None] + np.arange(cell)[None, :, None]
    xs = (columns_of * cell)[:, None, None] + np.arange(cell)[None, None, :]
    ys, xs, owner = np.broadcast_arrays(ys, xs, flat_cells[:, None, None])
    return ys.reshape(-1), xs.reshape(-1), owner.reshape(-1)


class IntegerTrace:
    """Where each pixel of the current frame comes from in the GOP's I-frame, in whole pixels (CoViAR).

    The map is kept with a margin of ``MARGIN`` pixels that repeats its border:
    reading it at ``p - mv`` then equals reading it at ``clamp(p - mv)``, so only
    the rare vectors longer than the margin need explicit clamping.
    """

    MARGIN = 32

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width
        self.padded = _padded_identity(height, width, self.MARGIN).copy()  # flat I-frame index, [H + 2M, W + 2M]
        # Buffers reused from frame to frame: fresh arrays of this size cost page faults on every frame.
        self._spare = np.empty_like(self.padded)
        self._index: np.ndarray | None = None
        self._gathered: np.ndarray | None = None

    @property
    def source(self) -> np.ndarray:
        """Flat index into the I-frame of each pixel's source, ``int32 [H, W]``."""
        margin = self.MARGIN
        return self.padded[margin : margin + self.height, margin : margin + self.width]

    def follow(self, field: MotionVectorField) -> None:
        """Add one frame: ``R_t(p) = R_{t-1}(p - mv_t(p))``."""
        if field.is_zero:
            return
        height, width, margin, cell = self.height, self.width, self.MARGIN, field.cell
        stride = width + 2 * margin
        rows, columns = field.cells.shape[:2]
        # one pass: each pixel's position in the padded map plus its cell's offset, laid out cell by cell
        positions = _padded_positions(height, width, margin, cell, rows, columns)
        if self._index is None or self._index.shape != positions.shape:
            self._index = np.empty(positions.shape, dtype=np.intp)
            self._gathered = np.empty(positions.shape, dtype=self.padded.dtype)
        np.add(positions, field.cell_offsets(stride)[:, None, :, None], out=self._index)
        index = self._index.reshape(rows * cell, columns * cell)
        far = np.flatnonzero(np.abs(field.cells).max(axis=-1) > margin)
        if len(far):  # vectors reaching past the margin: clamp those cells' sources explicitly
            ys, xs, owner = _pixels_of_cells(far, cell, columns)
            motion = field.cells.reshape(-1, 2)[owner]
            source_y = np.clip(np.minimum(ys, height - 1) - motion[:, 1], 0, height - 1) + margin
            source_x = np.clip(np.minimum(xs, width - 1) - motion[:, 0], 0, width - 1) + margin
            index[ys, xs] = source_y * stride + source_x
        np.take(self.padded, self._index, out=self._gathered)
        gathered = self._gathered.reshape(rows * cell, columns * cell)[:height, :width]
        self.padded, self._spare = _pad_edges(gathered, margin, out=self._spare), self.padded

    def displacement(self) -> np.ndarray:
        """Accumulated forward motion ``p - R_t(p)`` as ``float32 [H, W, 2]`` (dx, dy)."""
        source = self.source
        source_y = source // self.width  # int32 division by a scalar: fast in numpy
        source_x = source - source_y * self.width
        ys, xs = _pixel_axes(self.height, self.width)
        return np.stack([xs - source_x, ys - source_y], axis=-1).astype(np.float32)

    def sample(self, image: np.ndarray) -> np.ndarray:
        """``image`` (``[H, W, C]``) read at ``R_t(p)`` for every pixel p."""
        return np.take(image.reshape(-1, image.shape[-1]), self.source, axis=0)


@lru_cache(maxsize=16)
def _padded_identity(height: int, width: int, margin: int) -> np.ndarray:
    identity = _pad_edges(np.arange(height * width, dtype=np.int32).reshape(height, width), margin)
    identity.flags.writeable = False
    return identity


@lru_cache(maxsize=64)
def _padded_positions(height: int, width: int, margin: int, cell: int, rows: int, columns: int) -> np.ndarray:
    """Flat index in the padded map of every pixel of a ``rows x columns`` cell grid, ``[rows, cell, columns, cell]``.

    Pixels of the grid beyond the frame take the border's position: they are computed and dropped.
    """
    ys = np.minimum(np.arange(rows * cell), height - 1) + margin
    xs = np.minimum(np.arange(columns * cell), width - 1) + margin
    positions = (ys[:, None] * (width + 2 * margin) + xs[None, :]).reshape(rows, cell, columns, cell)
    positions.flags.writeable = False
    return positions


def _pad_edges(values: np.ndarray, margin: int, out: np.ndarray | None = None) -> np.ndarray:
    """``values`` with ``margin`` rows and columns repeating its border on every side."""
    height, width = values.shape
    padded = np.empty((height + 2 * margin, width + 2 * margin), dtype=values.dtype) if out is None else out
    padded[margin : margin + height, margin : margin + width] = values
    padded[margin : margin + height, :margin] = values[:, :1]
    padded[margin : margin + height, margin + width :] = values[:, -1:]
    padded[:margin] = padded[margin]
    padded[margin + height :] = padded[margin + height - 1]
    return padded


class SubpixelTrace:
    """Like :class:`IntegerTrace` with fractional positions: fields and images are sampled bilinearly."""

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width
        identity_y, identity_x = np.divmod(_identity(height, width), width)
        self._identity = np.stack([identity_y, identity_x], axis=-1).astype(np.float32)
        self.position = self._identity  # (y, x) of each pixel's source in the I-frame, [H, W, 2]

    def follow(self, field: MotionVectorField) -> None:
        if field.is_zero:
            return
        motion = field.dense()
        self.position = _bilinear(self.position, self._identity[..., 0] - motion[..., 1], self._identity[..., 1] - motion[..., 0])

    def displacement(self) -> np.ndarray:
        moved = self._identity - self.position
        return np.ascontiguousarray(moved[..., ::-1])

    def sample(self, image: np.ndarray) -> np.ndarray:
        return _bilinear(image.astype(np.float32), self.position[..., 0], self.position[..., 1])


def _bilinear(image: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``image`` (``[H, W, C]``) at fractional positions, clamped to the frame."""
    height, width, channels = image.shape
    y = np.clip(y, 0, height - 1)
    x = np.clip(x, 0, width - 1)
    y0 = np.minimum(y.astype(np.int32), max(height - 2, 0))
    x0 = np.minimum(x.astype(np.int32), max(width - 2, 0))
    fy, fx = (y - y0)[..., None], (x - x0)[..., None]
    flat = image.reshape(-1, channels)
    index = y0 * width + x0
    step_y, step_x = (width if height > 1 else 0), (1 if width > 1 else 0)
    top = np.take(flat, index, axis=0) * (1 - fx) + np.take(flat, index + step_x, axis=0) * fx
    bottom = np.take(flat, index + step_y, axis=0) * (1 - fx) + np.take(flat, index + step_y + step_x, axis=0) * fx
    return top * (1 - fy) + bottom * fy


Trace = IntegerTrace | SubpixelTrace


def new_trace(height: int, width: int, precision: Precision) -> Trace:
    return IntegerTrace(height, width) if precision == "integer" else SubpixelTrace(height, width)
