"""Run by tests/engine/test_parallel.py under ``torchrun --nproc_per_node 2``: predictions of a split, one file per rank.

    torchrun --standalone --nproc_per_node 2 two_process_predictions.py OUTPUT_FOLDER
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from pkd_toolkit.engine.loaders import eval_loader
from pkd_toolkit.engine.monitor import Monitor
from pkd_toolkit.engine.predictions import predict
from pkd_toolkit.engine.runtime import Runtime, start_runtime
from pkd_toolkit.recipe.settings import TrainSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from toy_plugin import ToyClips, ToyDatasetConfig, ToyModality  # noqa: E402

SAMPLES, BATCH = 11, 3


def network_and_split():
    """The same network and split in every process (and in the test that compares)."""
    from pkd_plugins.timm_backbones.backbone import build_timm_backbone
    from pkd_plugins.timm_backbones.config import TimmBackboneConfig
    from pkd_toolkit.networks.multi_exit import MultiExitNetwork

    torch.manual_seed(0)
    backbone = build_timm_backbone(TimmBackboneConfig(model="test_resnet"), in_chans=2, num_classes=3)
    split = ToyClips(ToyDatasetConfig(size=16), SAMPLES, {"toy": ToyModality("toy", 2)}, False, salt=1)
    return MultiExitNetwork(backbone, []).eval(), split


def run(runtime: Runtime, folder: Path):
    network, split = network_and_split()
    loader = eval_loader(split, TrainSettings(batch_size=BATCH), runtime, workers=0)
    return predict({"net": ("toy", network)}, loader, runtime, {"toy": "toy"}, Monitor(folder, enabled=False), "test")


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    runtime = start_runtime(TrainSettings(device="cpu"))
    result = run(runtime, folder)
    saved = None if result is None else {"indices": result.indices, "labels": result.labels, "logits": result.logits}
    torch.save({"world_size": runtime.world_size, "result": saved}, folder / f"rank{runtime.rank}.pt")
    dist.destroy_process_group()
