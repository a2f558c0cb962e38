"""Where and how the run computes: device, seeds, determinism, mixed precision, torchrun processes.

Started by ``torchrun`` (or any launcher that sets ``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` and ``MASTER_PORT``) the run joins the process group (NCCL on
GPUs, Gloo on CPUs) within ``train.process_group_timeout`` seconds, else stops
with a message naming the address it waited at. Each process then trains on its
share of the batches (``trainer`` wraps the trained modules in
DistributedDataParallel) and only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from pkd_toolkit.errors import PkdError, UsageError
from pkd_toolkit.recipe.settings import TrainSettings


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1
    amp: bool = False
    local_world_size: int = 1  # processes of the run on this machine (they share its CPUs)

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
        if device.type == "cuda":
            torch.cuda.set_device(device)
        _join_process_group("nccl" if device.type == "cuda" else "gloo", rank, world_size, settings.process_group_timeout)
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
    if settings.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return Runtime(
        device=device,
        rank=rank,
        world_size=world_size,
        amp=settings.amp and device.type == "cuda",
        local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size))),
    )


def _join_process_group(backend: str, rank: int, world_size: int, timeout: int) -> None:
    """``init_process_group`` with a deadline: a peer that never comes is a message naming where we waited."""
    address = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    try:
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout))
    except (RuntimeError, ValueError) as error:  # DistStoreError, DistNetworkError, a missing variable
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise PkdError(
            f"process {rank} of {world_size} could not form the process group at {address} "
            f"(MASTER_ADDR:MASTER_PORT) within {timeout} s (train.process_group_timeout): {first}",
            hint="Start every process of the run (torchrun --nnodes and --nproc_per_node must match what runs), "
            "and check that this address is reachable from every node.",
        ) from None


class Stopped(PkdError):
    """This process stops because the run cannot go on: another process failed, or the launcher stopped it."""

    exit_code = 143  # 128 + SIGTERM: what a process ended by the signal returns


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # torchrun sends SIGTERM to every process when one fails (SIGKILL 30 s later). An exception rather
    # than death: a checkpoint being written is abandoned cleanly and the last one stays whole.
    rank, world_size = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    absent = absent_processes(rank, world_size)
    why = absent or "every process of the run was still running: the launcher or the job scheduler ended the run"
    raise Stopped(f"process {rank} was stopped (SIGTERM): {why}")


def is_communication_error(error: BaseException, runtime: Runtime) -> bool:
    """Did a collective fail (Gloo or NCCL), rather than the computation?"""
    text = str(error)
    return runtime.distributed and (
        isinstance(error, dist.DistError) or any(mark in text for mark in ("gloo", "Gloo", "NCCL", "by peer"))
    )


ROLL_CALL_SECONDS = 5.0


def absent_processes(rank: int, world_size: int) -> str | None:
    """Which processes of the run are gone, by a roll call through the rendezvous store; None when all answer.

    Used when a collective failed or the launcher stopped this process: every survivor answers
    within ``ROLL_CALL_SECONDS``, so whoever does not is the process that stopped (crashed,
    killed, or stuck where it cannot answer).
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the process stops after this anyway: finish the roll call
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")  # torchrun restarts reuse its store
    keys = [f"pkd/roll-call/{attempt}/{r}" for r in range(world_size)]
    try:
        store = dist.TCPStore(
            os.environ["MASTER_ADDR"],
            int(os.environ["MASTER_PORT"]),
            is_master=False,
            timeout=datetime.timedelta(seconds=ROLL_CALL_SECONDS),
            wait_for_workers=False,
        )
        store.set(keys[rank], "here")
        deadline = time.monotonic() + ROLL_CALL_SECONDS
        while not store.check(keys) and time.monotonic() < deadline:
            time.sleep(0.1)
        absent = [r for r, key in enumerate(keys) if not store.check([key])]
    except (KeyError, ValueError, RuntimeError):  # no store to ask: the process that hosted it (rank 0) is gone
        address = f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}"
        return f"the run's store at {address} is gone (rank 0 hosts it when torchrun does not)"
    if not absent:
        return None
    ranks = ", ".join(map(str, absent))
    plural = "es" if len(absent) > 1 else ""
    return f"process{plural} {ranks} of the run stopped (no answer within {ROLL_CALL_SECONDS:.0f} s)"


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
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


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
