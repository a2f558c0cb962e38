"""A tiny two-stage backbone and engine-like steps for the GKD tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from pkd_toolkit.engine.stages import StepContext
from pkd_toolkit.networks.multi_exit import Backbone, MultiExitNetwork, StageInfo


class TinyBackbone(Backbone):
    """Two conv stages ("block1" at 1/2, "block2" at 1/4 of the input) and a linear head on their mean."""

    def __init__(self, widths: tuple[int, int] = (4, 6), *, in_chans: int = 3, num_classes: int = 3):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(in_chans, widths[0], 3, stride=2, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(widths[0], widths[1], 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Linear(widths[1], num_classes)
        self.stages = [StageInfo("block1", widths[0], 2), StageInfo("block2", widths[1], 4)]
        self.num_classes = num_classes
        self.architecture = f"tiny{widths[0]}x{widths[1]}"

    def forward_stages(
        self, x: Tensor, *, upto: str | None = None, start: tuple[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        blocks = {"block1": self.block1, "block2": self.block2}
        names = list(blocks)
        end = names.index(upto) if upto is not None else len(names) - 1
        begin, hidden = (0, x) if start is None else (names.index(start[0]) + 1, start[1])
        outputs = {}
        for name in names[begin : end + 1]:
            hidden = outputs[name] = blocks[name](hidden)
        return outputs

    def forward_head(self, last: Tensor) -> Tensor:
        return self.head(last.mean(dim=(2, 3)))

    def segment_modules(self, stage: str) -> list[nn.Module]:
        return [{"block1": self.block1, "block2": self.block2}[self.stage(stage).name]]

    def head_modules(self) -> list[nn.Module]:
        return [self.head]


def tiny_network(widths: tuple[int, int] = (4, 6), seed: int = 0) -> MultiExitNetwork:
    torch.manual_seed(seed)
    return MultiExitNetwork(TinyBackbone(widths), [])


def clip_batch(batch: int = 4, segments: int = 2, size: int = 8, *, student_segments: int | None = None) -> dict:
    """A batch as the engine's loaders give it: clips of both networks' modalities and labels."""
    generator = torch.Generator().manual_seed(5)
    return {
        "inputs": {
            "teacher_view": torch.randn(batch, segments, 3, size, size, generator=generator),
            "student_view": torch.randn(batch, student_segments or segments, 3, size, size, generator=generator),
        },
        "label": torch.arange(batch) % 3,
    }


def step_context(epoch: int = 0, **batch: Any) -> StepContext:
    modalities = {"teacher": "teacher_view", "student": "student_view"}
    return StepContext(clip_batch(**batch), epoch, modalities, torch.device("cpu"))


def assert_close(actual: Tensor, expected: Tensor, *, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """numpy's comparison of two tensors (torch.testing's first call costs a second and a half of imports)."""
    np.testing.assert_allclose(_array(actual), _array(expected), rtol=rtol, atol=atol)


def _array(tensor: Tensor) -> np.ndarray:
    return torch.as_tensor(tensor).detach().float().numpy()
