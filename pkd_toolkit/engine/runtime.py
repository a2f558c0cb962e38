"""Where and how the run computes: device, seeds, determinism, mixed precision, torchrun processes.

Started by ``torchrun`` the run joins the process group (NCCL on GPUs, Gloo on
CPUs); each process then trains on its share of the batches, gradients are
averaged, and only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from pkd_toolkit.errors import UsageError
from pkd_toolkit.recipe.settings import TrainSettings


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1
    amp: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.float16)


def start_runtime(settings: TrainSettings) -> Runtime:
    """Pick the device, join torchrun's process group when started by it, set determinism."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _device(settings.device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    if settings.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return Runtime(device=device, rank=rank, world_size=world_size, amp=settings.amp and device.type == "cuda")


def share_from_main(runtime: Runtime, value: object) -> object:
    """``value`` as rank 0 has it, in every process (rank 0's own value when not distributed)."""
    if not runtime.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def stop_runtime(runtime: Runtime) -> None:
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()


def _device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"train.device is {name!r} but this machine has no CUDA device (use 'auto' or 'cpu')")
        return torch.device("cuda", local_rank if name == "cuda" else int(name.split(":")[1]))
    if name == "mps" and not torch.backends.mps.is_available():
        raise UsageError("train.device is 'mps' but MPS is not available here")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, stage_index: int, epoch: int) -> int:
    """A seed per (stage, epoch): a resumed run draws exactly the batches an uninterrupted one would."""
    return (seed * 1_000_003 + stage_index * 10_007 + epoch) % 2**31


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with fixed seeds (e.g. to initialise every schedule's exits identically)."""
    with torch.random.fork_rng(devices=[]):
        state_python, state_numpy = random.getstate(), np.random.get_state()
        seed_everything(seed)
        try:
            yield
        finally:
            random.setstate(state_python)
            np.random.set_state(state_numpy)


def worker_init(worker_id: int) -> None:
    """Seed numpy and random in a DataLoader worker from the seed torch gave it."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def average_gradients(parameters: list[torch.nn.Parameter], world_size: int) -> None:
    """Average the gradients of ``parameters`` over the processes, in one all-reduce."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch._utils._flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= world_size
    for grad, synced in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads), strict=True):
        grad.copy_(synced)
