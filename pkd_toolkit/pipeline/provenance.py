"""What a running pipeline knows of its own provenance: device, processes, plugins, the data set's size.

:func:`pkd_toolkit.report.provenance.provenance` assembles the block; this
fills in what only the running process can tell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from pkd_toolkit.data.protocol import Dataset
from pkd_toolkit.data.validation import has_validation
from pkd_toolkit.engine.runtime import Runtime
from pkd_toolkit.report.provenance import describe_data, provenance
from pkd_toolkit.run_folder.run import Run


def run_provenance(
    run: Run, runtime: Runtime, dataset: Dataset, skipped: Sequence[Mapping[str, Any]], wall_time: Mapping[str, Any]
) -> dict[str, Any]:
    """The provenance block of ``run``'s report."""
    splits = ("train", "val", "test") if has_validation(dataset) else ("train", "test")
    videos = {split: len(dataset.videos(split)) for split in splits}
    return provenance(
        run.recipe,
        plugins={name: info.version for name, info in run.plugins.infos.items() if not info.errors},
        device=device_text(runtime),
        world_size=runtime.world_size,
        command=run.command,
        overrides=run.overrides,
        data=describe_data(run.recipe, videos, len(dataset.classes), skipped),
        wall_time=wall_time,
    )


def device_text(runtime: Runtime) -> str:
    """``cpu``, or ``cuda:0 (NVIDIA H200), mixed precision``."""
    text = str(runtime.device)
    if runtime.device.type == "cuda":
        text += f" ({torch.cuda.get_device_name(runtime.device)})"
    return text + (", mixed precision" if runtime.amp else "")
