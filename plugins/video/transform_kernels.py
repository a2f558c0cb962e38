"""The lookup-table normalisation of 8-bit images as a numba kernel: numpy's results, bit for bit, about four times as fast.

Imported only through :func:`pkd_plugins.video.jit.kernels` (it needs numba).
:func:`~pkd_plugins.video.transforms.apply_view` normalises an I-frame or RGB
clip by looking each byte up in a per-channel table; numpy does it one
channel at a time, gathering from a strided plane. This kernel reads the
region once, in any layout (a crop or a horizontal flip of the decoded frames
is a view: no copy is made first), and writes the channel-first float32 clip.
It takes the same tables, so the values are the same floats.
"""

from __future__ import annotations

from numba import njit, uint64


# Unsigned indices: numba's wrap-around test for negative signed ones keeps the loops from vectorising.
@njit("void(uint8[:, :, :, :], float32[:, ::1], float32[:, :, :, ::1])", cache=True, nogil=True)
def normalise_8bit(region, tables, out):
    """``out[t, c, y, x] = tables[c, region[t, y, x, c]]``."""
    count, height, width, channels = region.shape
    for frame in range(uint64(count)):
        for channel in range(uint64(channels)):
            for y in range(uint64(height)):
                for x in range(uint64(width)):
                    out[frame, channel, y, x] = tables[channel, region[frame, y, x, channel]]
