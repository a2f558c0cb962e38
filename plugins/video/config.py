"""Recipe sections of the video plugin's components: datasets and modalities.

Only pydantic here: the plugin module imports this at start-up, so it must stay
light (no torch, no av).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from pkd_toolkit.api import ComponentConfig, DatasetConfig

Scale = Annotated[float, Field(gt=0, le=1)]


class ClipSettings(DatasetConfig):
    """How clips are sampled and transformed: shared by every video dataset (and ``val``, every data set's)."""

    segments: int = Field(default=3, ge=1, description="TSN segments per training clip: one random frame in each")
    test_segments: int = Field(default=25, ge=1, description="segments at test time: the centre frame of each")
    test_clips: int = Field(
        default=1, ge=1, description="temporal clips at test time, each shifting every segment's frame; stacked on the segment axis"
    )
    test_crops: Literal[1, 10] = Field(
        default=1, description="1: centre crop; 10: four corners and centre, each also flipped (stacked on the segment axis)"
    )
    size: int = Field(default=224, ge=8, description="side of the square crop the networks receive")
    test_resize: int | None = Field(
        default=None, ge=8, description="shorter side before the centre crop at test time (default: size * 256 / 224)"
    )
    scales: list[Scale] = Field(
        default_factory=lambda: [1.0, 0.875, 0.75, 0.66],
        min_length=1,
        description="multi-scale crop sizes, as fractions of the shorter side (CoViAR uses 1, .875, .75 for MV and residual)",
    )
    flip: bool = Field(default=True, description="random horizontal flip in training (negates MV dx)")
    normalization: Literal["coviar", "none"] = Field(
        default="coviar",
        description="coviar: I-frame ImageNet mean/std, MV clip(mv*127.5/20+128)/255-0.5, residual ((r+128)/255-0.5)/std; "
        "none: raw values (RGB 0-255, MV in pixels, residual in RGB levels)",
    )
    cache: Literal["none", "memory"] = Field(
        default="none",
        description="memory: keep every decoded video in RAM after its first use, so later epochs do not decode again "
        "(for small data sets). Each process that loads keeps its own: with train.num_workers N, up to N copies of "
        "the decoded split (the training workers are kept across epochs: train.persistent_workers)",
    )
    on_error: Literal["skip", "raise"] = Field(
        default="skip",
        description="a video that cannot be read: skip (warn once, train on another video, evaluate it as zeros, "
        "and list it among the run report's skipped samples) or raise",
    )

    @property
    def resize_to(self) -> int:
        return self.test_resize or round(self.size * 256 / 224)


class Hmdb51Config(ClipSettings):
    """HMDB51: videos in ``<root>/<class>/<video>`` and the official split files."""

    root: Path = Field(description="videos, one folder per class (prepared with `pkd prepare`)")
    splits: Path = Field(description="folder of the split files <class>_test_split<N>.txt (testTrainMulti_7030_splits)")
    split: Literal[1, 2, 3] = Field(default=1, description="which official split")

    def preflight(self) -> Iterator[tuple[str, str]]:
        """The video folder and this split's list files are there (before a run folder is made)."""
        from pkd_plugins.video.formats import hmdb51_problems

        return hmdb51_problems(self.root, self.splits, self.split)


class Ucf101Config(ClipSettings):
    """UCF-101: videos in ``<root>/<Class>/<video>`` and the ``ucfTrainTestlist`` folder."""

    root: Path = Field(description="videos, one folder per class (prepared with `pkd prepare`)")
    splits: Path = Field(description="the ucfTrainTestlist folder: classInd.txt, trainlist0N.txt, testlist0N.txt")
    split: Literal[1, 2, 3] = Field(default=1, description="which official split")

    def preflight(self) -> Iterator[tuple[str, str]]:
        """The video folder and this split's list files are there (before a run folder is made)."""
        from pkd_plugins.video.formats import ucf101_problems

        return ucf101_problems(self.root, self.splits, self.split)


class FolderConfig(ClipSettings):
    """Any folder-per-class tree, with a list file per split."""

    root: Path = Field(description="videos in <root>/<class>/<video>; classes are the sub-folders, sorted")
    train_list: Path = Field(description="train videos, one path relative to root per line (relative paths: from root)")
    test_list: Path = Field(description="test videos, one path relative to root per line (relative paths: from root)")

    def preflight(self) -> Iterator[tuple[str, str]]:
        """The video folder and both list files are there (before a run folder is made)."""
        from pkd_plugins.video.formats import folder_problems

        return folder_problems(self.root, {"train": self.train_list, "test": self.test_list})


class SyntheticActionsConfig(ClipSettings):
    """Synthetic actions rendered into HMDB51's layout on first use, then read like HMDB51."""

    root: Path = Field(description="where the data set is generated (videos/, splits/, synthetic.json)")
    preset: Literal["tiny", "small", "benchmark"] = Field(default="small", description="size of the generated data set")
    seed: int = Field(default=0, description="the data set is a function of preset, overrides and seed")
    videos_per_class: int | None = Field(default=None, ge=2, description="override the preset's videos per class")
    frames: int | None = Field(default=None, ge=2, description="override the preset's frames per video")
    frame_size: tuple[int, int] | None = Field(default=None, description="override the preset's (width, height)")
    split: Literal[1, 2, 3] = Field(default=1, description="which of the three generated splits")

    @field_validator("frame_size")
    @classmethod
    def _even(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and (value[0] < 16 or value[1] < 16 or value[0] % 2 or value[1] % 2):
            raise ValueError(f"frame_size must be even and at least 16x16, got {value[0]}x{value[1]}")
        return value


class IframeConfig(ComponentConfig):
    """The RGB I-frame of each sampled position's GOP (3 channels)."""


class RgbConfig(ComponentConfig):
    """The decoded RGB frame at each sampled position (3 channels): a full-decode baseline."""


class MotionVectorConfig(ComponentConfig):
    """Motion vectors (dx, dy) in pixels (2 channels)."""

    accumulate: bool = Field(default=True, description="traced back to the GOP's I-frame (CoViAR) rather than per frame")
    precision: Literal["integer", "subpixel"] = Field(
        default="integer", description="integer: FFmpeg's truncated src/dst positions (CoViAR); subpixel: exact motion"
    )


class ResidualConfig(ComponentConfig):
    """Residuals: frame minus its motion-compensated prediction, in RGB (3 channels)."""

    accumulate: bool = Field(default=True, description="predicted from the GOP's I-frame (CoViAR) rather than the previous frame")
    precision: Literal["integer", "subpixel"] = Field(
        default="integer", description="motion used for the prediction: integer (CoViAR) or sub-pixel (bilinear)"
    )
