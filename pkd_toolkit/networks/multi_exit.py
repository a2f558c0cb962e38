"""Multi-exit networks: a backbone cut into named stages, early exits on those stages, the backbone's head last.

A backbone component builds a :class:`Backbone`: stages that run one after
another (so a forward can stop after any of them, or resume from a saved stage
output) and the backbone's own classifier on the last stage. Exit components
build heads that map one stage's feature map to logits. A
:class:`MultiExitNetwork` joins one backbone and any number of heads; the
backbone's own head is always its last exit, ``"final"``.

Inputs are clips ``[batch, segments, channels, height, width]``: every segment
is a frame through the same network, and the segment consensus is the mean of
the logits. The core knows stages and exits, not timm: the ``timm`` backbone is a
plugin (``pkd_plugins.timm_backbones``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from torch import Tensor, nn

from pkd_toolkit.errors import UsageError
from pkd_toolkit.networks import FINAL


@dataclass(frozen=True)
class StageInfo:
    """One stage of a backbone: where exits can attach."""

    name: str  # the stage's module, e.g. "layer1" (timm feature_info names)
    channels: int
    reduction: int  # input size / feature-map size


class Backbone(nn.Module):
    """What a backbone component builds: stages run in order, then the backbone's own head.

    Subclasses set :attr:`stages`, :attr:`num_classes` and :attr:`architecture`
    and implement :meth:`forward_stages`, :meth:`forward_head`,
    :meth:`segment_modules` and :meth:`head_modules`. The *segment* of a stage
    is what computes it from the previous stage's output; the first segment
    includes everything before the first stage (input normalisation, stem).
    """

    stages: list[StageInfo]  # shallow -> deep
    num_classes: int
    architecture: str  # what the backbone is, for tables: "resnet18"

    def __init__(self) -> None:
        super().__init__()
        self._frozen_modules: list[nn.Module] = []

    # -- what subclasses implement ------------------------------------------------

    def forward_stages(
        self, x: Tensor, *, upto: str | None = None, start: tuple[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        """Run the stem and stages in order, from ``x`` ``[N, C, H, W]``, or from ``start``.

        ``start`` is ``(stage name, that stage's saved output)``: the stages
        after it run and ``x`` is ignored. Runs up to and including ``upto``
        (the last stage when None) and computes nothing beyond it. Returns the
        output of every stage run, ``[N, channels, h, w]``, by name.
        """
        raise NotImplementedError

    def forward_head(self, last: Tensor) -> Tensor:
        """The backbone's own classifier on the last stage's output -> logits ``[N, num_classes]``."""
        raise NotImplementedError

    def segment_modules(self, stage: str) -> list[nn.Module]:
        """The modules that compute ``stage`` from the previous stage's output (the first: also the stem)."""
        raise NotImplementedError

    def head_modules(self) -> list[nn.Module]:
        """The modules of :meth:`forward_head`."""
        raise NotImplementedError

    # -- provided ---------------------------------------------------------------------

    def forward(self, x: Tensor) -> Tensor:
        """Plain classification: every stage, then the backbone's head."""
        return self.forward_head(self.forward_stages(x)[self.stages[-1].name])

    def stage(self, at: str | int) -> StageInfo:
        """The stage named ``at``, or the ``at``-th stage (1-based); UsageError listing the stages otherwise."""
        for number, info in enumerate(self.stages, start=1):
            if at in (info.name, number) and not isinstance(at, bool):
                return info
        listed = ", ".join(f"{number}: {info.name}" for number, info in enumerate(self.stages, start=1))
        raise UsageError(f"{self.architecture} has no stage {at!r}; its stages are {listed}")

    def depth(self, stage: str | int) -> int:
        """Position of ``stage`` (a name or 1-based number) in :attr:`stages`: 0 for the first."""
        return self.stages.index(self.stage(stage))

    def segment_parameters(self, stage: str) -> list[nn.Parameter]:
        """Parameters of the segment of ``stage`` (see :meth:`segment_modules`)."""
        return _unique_parameters(self.segment_modules(stage))

    def head_parameters(self) -> list[nn.Parameter]:
        return _unique_parameters(self.head_modules())

    def freeze(self, upto: str | int | None = None) -> None:
        """Freeze the stem and stages up to ``upto`` (a stage name or number), or everything when None.

        Frozen parameters get ``requires_grad = False`` and frozen modules stay
        in eval mode even when the backbone is put in training mode, so their
        BatchNorm statistics do not move either.
        """
        last = len(self.stages) - 1 if upto is None else self.depth(upto)
        modules = [m for info in self.stages[: last + 1] for m in self.segment_modules(info.name)]
        parameters = [p for info in self.stages[: last + 1] for p in self.segment_parameters(info.name)]
        if upto is None:
            modules += self.head_modules()
            parameters += self.head_parameters()
        for parameter in parameters:
            parameter.requires_grad_(False)
        self._frozen_modules.extend(m for m in modules if all(m is not f for f in self._frozen_modules))
        self.train(self.training)

    def train(self, mode: bool = True) -> Backbone:
        super().train(mode)
        for module in self._frozen_modules:
            module.eval()
        return self


def _unique_parameters(modules: Sequence[nn.Module]) -> list[nn.Parameter]:
    seen: dict[int, nn.Parameter] = {}
    for module in modules:
        for parameter in module.parameters():
            seen.setdefault(id(parameter), parameter)
    return list(seen.values())


@dataclass(frozen=True)
class ExitHead:
    """One early exit: a head reading one stage's output."""

    name: str  # "ic1", "ic2", ... in depth order
    stage: str
    module: nn.Module  # [N, C, H, W] -> [N, num_classes]


@dataclass
class ExitOutputs:
    """What a forward of a :class:`MultiExitNetwork` returns."""

    logits: dict[str, Tensor]  # exit name -> per-segment logits [B, S, K], depth order, "final" last
    features: dict[str, Tensor]  # stage name -> stage output [B*S, C, H, W]

    def consensus(self) -> dict[str, Tensor]:
        """Each exit's segment consensus: the mean of its logits over segments, ``[B, K]``."""
        return {name: logits.mean(dim=1) for name, logits in self.logits.items()}


class MultiExitNetwork(nn.Module):
    """A backbone and its exits; the backbone's own head is the exit ``"final"``, always last.

    Heads do not belong to the backbone: several networks may share one
    backbone object, each with its own heads (e.g. heads trained with cross
    entropy and heads trained with distillation on one frozen backbone).
    """

    def __init__(self, backbone: Backbone, exits: Sequence[ExitHead]):
        super().__init__()
        names = [head.name for head in exits]
        if len(set(names)) != len(names) or FINAL in names:
            raise ValueError(f"exit names must be unique and not {FINAL!r}: {names}")
        ordered = sorted(exits, key=lambda head: backbone.depth(head.stage))  # stable: ties keep their order
        self.backbone = backbone
        self.heads = nn.ModuleDict({head.name: head.module for head in ordered})
        self.exit_names: list[str] = [head.name for head in ordered] + [FINAL]
        self._stages = {head.name: backbone.stage(head.stage).name for head in ordered}
        self._stages[FINAL] = backbone.stages[-1].name

    def exit_stage(self, name: str) -> str:
        """The stage exit ``name`` reads (the last stage for ``"final"``)."""
        if name not in self._stages:
            raise KeyError(f"no exit {name!r}; exits: {', '.join(self.exit_names)}")
        return self._stages[name]

    def forward(self, x: Tensor, *, upto: str | None = None, features: dict[str, Tensor] | None = None) -> ExitOutputs:
        """Every exit up to and including ``upto`` (all when None) for clips ``x`` ``[B, S, C, H, W]``.

        Nothing beyond ``upto``'s stage is computed. ``features`` are stage
        outputs computed before for the same ``x`` (by a network sharing this
        backbone): stages found there are not computed again.
        """
        batch, segments = x.shape[:2]
        if upto is not None:
            self.exit_stage(upto)  # an unknown exit raises, naming the exits
        names = self.exit_names[: self.exit_names.index(upto) + 1] if upto is not None else self.exit_names
        needed = list(dict.fromkeys(self._stages[name] for name in names))
        outputs = self._stage_outputs(x.flatten(0, 1), needed, features or {})
        logits = {name: self._exit_logits(name, outputs).unflatten(0, (batch, segments)) for name in names}
        return ExitOutputs(logits, outputs)

    def cascade(self, x: Tensor) -> Iterator[tuple[str, Tensor]]:
        """Early-exit inference: yields ``(exit name, consensus logits [B, K])`` one exit at a time.

        Each backbone stage runs once, and only when the caller asks for an
        exit that needs it: stop iterating and nothing deeper is computed.
        """
        batch, segments = x.shape[:2]
        frames = x.flatten(0, 1)
        last: tuple[str, Tensor] | None = None
        for name in self.exit_names:
            stage = self._stages[name]
            if last is None or last[0] != stage:
                last = (stage, self.backbone.forward_stages(frames, upto=stage, start=last)[stage])
            yield name, self._exit_logits(name, {stage: last[1]}).unflatten(0, (batch, segments)).mean(dim=1)

    def _stage_outputs(self, frames: Tensor, needed: list[str], given: dict[str, Tensor]) -> dict[str, Tensor]:
        """``given`` plus the ``needed`` stages it lacks, resuming from the deepest given stage that helps."""
        missing = [stage for stage in needed if stage not in given]
        if not missing:
            return dict(given)
        depth = self.backbone.depth
        usable = [stage for stage in given if depth(stage) < depth(missing[0])]
        start = max(usable, key=depth, default=None)
        computed = self.backbone.forward_stages(
            frames, upto=missing[-1], start=(start, given[start]) if start is not None else None
        )
        return {**given, **computed}

    def _exit_logits(self, name: str, outputs: dict[str, Tensor]) -> Tensor:
        stage = outputs[self._stages[name]]
        return self.backbone.forward_head(stage) if name == FINAL else self.heads[name](stage)
