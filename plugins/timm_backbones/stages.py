"""Cut a timm model's ``forward_features`` into stages that run one at a time.

timm's ``feature_info`` names the module that ends each stage, and
``forward_intermediates`` returns their outputs, but always from the image. An
early-exit cascade must resume from a saved stage output, so the modules that
``forward_features`` calls between stages are found once per model: one
forward pass on a copy of the model on the meta device (shapes only, no
arithmetic) records which modules run, in which order.

From the first stage on, the recorded calls must form a chain, each module
taking exactly the tensor the previous one returned; that holds when stages are
children of the model or items of ``nn.Sequential`` containers (ResNet, RegNet,
EfficientNet, MobileNet, ConvNeXt, the blocks of a ViT). Anything before the
first stage may be arbitrary code (a ViT's position embedding): the backbone
runs it through ``forward_features`` itself. A model that is not a chain is
refused with a message instead of being run wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from typing import Any

import torch
from torch import nn

from pkd_toolkit.api import UsageError, meta_copy


@dataclass(frozen=True)
class StagePlan:
    """Module paths of a timm model, grouped by the part of the network they compute."""

    stem: list[str]  # called before the first stage's module
    segments: list[list[str]]  # per stage: the modules after the previous stage, ending with the stage's own
    tail: list[str]  # called by forward_features after the last stage: part of the head
    unused: list[str]  # not called by forward_features: forward_head's modules
    loose_parameters: list[str]  # parameters outside every module above (a ViT's position embedding)
    tokens: bool  # stages output token sequences [N, L, C] (vision transformers) rather than maps


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    output: Any


def plan_stages(
    model: nn.Module, stage_modules: Sequence[str], input_size: tuple[int, int, int], *, architecture: str
) -> StagePlan:
    """Find how ``model.forward_features`` reaches each of ``stage_modules`` (shallow to deep)."""
    links = _link_candidates(model, stage_modules)
    calls, features = _record_calls(model, links, input_size, architecture)
    order = [call.name for call in calls]
    refuse = partial(_cannot_split, architecture)
    for name in stage_modules:
        if order.count(name) != 1:
            raise refuse(f"forward_features calls its stage module {name!r} {order.count(name)} times, not once")
    positions = [order.index(name) for name in stage_modules]
    if positions != sorted(positions):
        raise refuse("forward_features calls its stage modules in another order than feature_info lists them")
    chain = calls[positions[0] :]
    for previous, call in pairwise(chain):
        if call.kwargs or len(call.args) != 1 or call.args[0] is not previous.output:
            raise refuse(f"{call.name} does not simply take the output of {previous.name}")
    if features is not chain[-1].output:
        raise refuse(f"forward_features computes more after {chain[-1].name} than its modules")

    starts = [positions[0], *(p + 1 for p in positions[:-1])]
    outputs = [calls[p].output for p in positions]
    return StagePlan(
        stem=order[: positions[0]],
        segments=[order[start : end + 1] for start, end in zip(starts, positions, strict=True)],
        tail=order[positions[-1] + 1 :],
        unused=[name for name in links if name not in order],
        loose_parameters=[
            name for name, _ in model.named_parameters() if not any(name.startswith(f"{link}.") for link in links)
        ],
        tokens=_outputs_are_tokens(outputs, model, stage_modules, input_size, architecture),
    )


def _cannot_split(architecture: str, problem: str) -> UsageError:
    return UsageError(f"timm model {architecture} cannot run stage by stage: {problem}")


def _link_candidates(model: nn.Module, stage_modules: Sequence[str]) -> list[str]:
    """The model's children, with every container that holds a stage module opened up, recursively."""

    def expand(prefix: str, module: nn.Module) -> list[str]:
        found = []
        for name, child in module.named_children():
            path = f"{prefix}{name}"
            holds_stage = any(stage.startswith(f"{path}.") for stage in stage_modules)
            found += expand(f"{path}.", child) if holds_stage else [path]
        return found

    return expand("", model)


def _record_calls(
    model: nn.Module, links: list[str], input_size: tuple[int, int, int], architecture: str
) -> tuple[list[_Call], Any]:
    twin = meta_copy(model).eval()
    calls: list[_Call] = []

    def record(name: str, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        calls.append(_Call(name, args, kwargs, output))

    handles = [
        twin.get_submodule(name).register_forward_hook(partial(record, name), with_kwargs=True) for name in links
    ]
    try:
        with torch.no_grad():
            features = twin.forward_features(torch.zeros((1, *input_size), device="meta"))
    except Exception as error:  # the model's own code failed on shapes alone
        raise UsageError(
            f"timm model {architecture} cannot be traced on a {input_size[1]}x{input_size[2]} input: "
            f"{type(error).__name__}: {error}"
        ) from None
    finally:
        for handle in handles:
            handle.remove()
    return calls, features


def _outputs_are_tokens(
    outputs: list[Any],
    model: nn.Module,
    stage_modules: Sequence[str],
    input_size: tuple[int, int, int],
    architecture: str,
) -> bool:
    """True when stages give token sequences; they must then fill the feature grid exactly (no class token)."""
    refuse = partial(_cannot_split, architecture)
    if not all(isinstance(output, torch.Tensor) and output.ndim in (3, 4) for output in outputs):
        raise refuse("its stage modules do not all return [N, C, H, W] maps or [N, L, C] token sequences")
    ranks = {output.ndim for output in outputs}
    if ranks == {4}:
        return False
    if ranks != {3}:
        raise refuse("some stages return maps and others token sequences")
    reductions = {info["module"]: info["reduction"] for info in model.feature_info}
    for name, output in zip(stage_modules, outputs, strict=True):
        grid = (input_size[1] // reductions[name]) * (input_size[2] // reductions[name])
        if output.shape[1] != grid:
            raise refuse(
                f"stage {name} gives {output.shape[1]} tokens for a grid of {grid}: class or register tokens "
                "have no place in a feature map (use a model without them, e.g. "
                "model_kwargs: {class_token: false, global_pool: avg})"
            )
    return True
