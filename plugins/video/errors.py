"""Why a video cannot be used: one message that names the file and says what to do."""

from __future__ import annotations

from pathlib import Path

from pkd_toolkit.api import PkdError

PREPARE_HINT = (
    "re-encode the videos into the training format with `pkd prepare SRC DST` "
    "(MPEG-4 Part 2, GOP 12, no B-frames)"
)


class VideoError(PkdError):
    """A video file that cannot be read: missing, empty, corrupt, not a video."""

    def __init__(self, path: Path | str, problem: str, *, hint: str | None = None):
        super().__init__(f"{path}: {problem}", hint=hint)
        self.path = Path(path)
        self.problem = problem


class UnsupportedVideo(VideoError):
    """A readable video whose stream the compressed-domain method cannot represent (B-frames, several references)."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(path, problem, hint=PREPARE_HINT)
