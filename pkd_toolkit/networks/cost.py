"""What reaching each exit of a multi-exit network costs, per frame.

Multiply-accumulates are counted by torch's own ``FlopCounterMode`` (MACs =
FLOPs / 2: it counts convolutions, matrix products and attention, not
normalisation, activations or pooling, as the usual MAC counters do) at the
actual input size, on a copy of the network on the meta device: shapes only,
no arithmetic, whatever the network's size.

The cost of an exit is cumulative, as an early-exit cascade pays it: the
backbone up to the exit's stage plus the heads of this and every earlier exit
(the cascade ran them and found them not confident enough). The final exit
adds the backbone's own head. Parameters add up the same way.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from pkd_toolkit.networks import FINAL
from pkd_toolkit.networks.multi_exit import MultiExitNetwork


@dataclass(frozen=True)
class ExitCost:
    """Cost of reaching one exit, per frame; ``params`` and ``gmacs`` are cumulative."""

    name: str
    stage: str
    params: int  # backbone up to the stage + heads of this and earlier exits
    gmacs: float  # the same, in multiply-accumulates / 1e9
    head_params: int  # this exit's head alone
    head_gmacs: float


def exit_costs(network: MultiExitNetwork, input_size: tuple[int, int, int]) -> list[ExitCost]:
    """Cumulative cost per frame of each exit of ``network`` on inputs ``(channels, height, width)``, exit order."""
    meta = meta_copy(network).eval()
    backbone = meta.backbone
    frame = torch.zeros((1, *input_size), device="meta")
    stage_macs: dict[str, float] = {}
    outputs: dict[str, Tensor] = {}
    start = None
    for info in backbone.stages:  # one stage at a time, each resuming from the previous one's output
        macs, ran = _count(backbone.forward_stages, frame, upto=info.name, start=start)
        stage_macs[info.name], outputs[info.name] = macs, ran[info.name]
        start = (info.name, ran[info.name])

    costs, macs_so_far, params_so_far, stages_paid = [], 0.0, 0, 0
    for name in meta.exit_names:
        stage = meta.exit_stage(name)
        depth = backbone.depth(stage)
        for info in backbone.stages[stages_paid : depth + 1]:
            macs_so_far += stage_macs[info.name]
            params_so_far += _count_parameters(backbone.segment_parameters(info.name))
        stages_paid = max(stages_paid, depth + 1)
        final = name == FINAL
        head_macs, _ = _count(backbone.forward_head if final else meta.heads[name], outputs[stage])
        head_params = _count_parameters(backbone.head_parameters() if final else list(meta.heads[name].parameters()))
        macs_so_far += head_macs
        params_so_far += head_params
        costs.append(ExitCost(name, stage, params_so_far, macs_so_far / 1e9, head_params, head_macs / 1e9))
    return costs


def meta_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose parameters and buffers live on the meta device: shapes without data.

    Cheap whatever the module's size: the deep copy is handed a meta tensor for
    each parameter and buffer instead of copying its data.
    """
    memo: dict[int, object] = {id(b): torch.empty_like(b, device="meta") for b in module.buffers()}
    for parameter in module.parameters():
        memo[id(parameter)] = nn.Parameter(torch.empty_like(parameter, device="meta"), parameter.requires_grad)
    return copy.deepcopy(module, memo)


def _count(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    """Multiply-accumulates of ``function(*args, **kwargs)``, and its result."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        result = function(*args, **kwargs)
    return counter.get_total_flops() / 2, result


def _count_parameters(parameters: list[nn.Parameter]) -> int:
    return sum(p.numel() for p in parameters)
