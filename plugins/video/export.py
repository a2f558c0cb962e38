"""FFmpeg's raw motion vectors of a video, for users who want them as FFmpeg exports them."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from pkd_plugins.video.container import motion_vector_records, open_video
from pkd_plugins.video.errors import VideoError
from pkd_plugins.video.motion import MV_COLUMNS, empty_table, vector_table

__all__ = ["MV_COLUMNS", "export_motion_vectors"]


def export_motion_vectors(path: Path | str, *, limit: int | None = None) -> list[np.ndarray]:
    """One ``int32 [N, 10]`` array per decoded frame (columns :data:`MV_COLUMNS`), in output order.

    Exactly the records FFmpeg exports with ``flags2=+export_mvs``, row for row;
    frames without vectors (I-frames) give ``N = 0``. ``limit`` stops after that
    many frames. Works on any stream FFmpeg exports vectors for, B-frames included
    (their records have ``source`` +1 for the future reference).
    """
    path = Path(path)
    tables: list[np.ndarray] = []
    with open_video(path, export_motion_vectors=True) as container:
        try:
            for frame in container.decode(container.streams.video[0]):
                records = motion_vector_records(frame)
                tables.append(empty_table() if records is None else vector_table(records))
                if limit is not None and len(tables) >= limit:
                    break
        except av.FFmpegError as error:
            raise VideoError(path, f"corrupt video data after frame {len(tables)} ({error})") from None
    return tables
