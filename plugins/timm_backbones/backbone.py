"""The ``timm`` backbone component: any timm model as a :class:`~pkd_toolkit.exits.Backbone`.

Imported by the factory only (it imports torch and timm). The model comes
from ``timm.create_model`` with the modality's channels; pretrained weights
come from a local file through timm's own loader (``pretrained_cfg_overlay``),
which adapts the input conv to those channels and drops a classifier of
another class count. Stages are timm's ``feature_info`` levels; how
``forward_features`` reaches them is found by :mod:`pkd_plugins.timm_backbones.stages`.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from pkd_plugins.timm_backbones.stages import StagePlan, plan_stages
from pkd_toolkit.api import Backbone, PkdError, StageInfo, UsageError, WeightSources, import_timm


def stage_names(config: Any) -> list[str] | None:
    """The names of the stages :func:`build_timm_backbone` would give ``config``'s model, without building it:
    the model is made on the meta device (no memory, no arithmetic, no weights file read)."""
    import torch

    timm = import_timm()
    try:
        with torch.device("meta"):
            model = timm.create_model(config.model, pretrained=False, **config.model_kwargs)
    except Exception:  # cannot tell: building the backbone for the run says what is wrong
        return None
    info = getattr(model, "feature_info", None) or []
    return [level["module"] for level in info if level["reduction"] >= config.min_reduction] or None


def build_timm_backbone(
    config: Any,
    *,
    in_chans: int,
    num_classes: int,
    load_pretrained: bool = True,
    weight_sources: WeightSources | None = None,
) -> TimmBackbone:
    """Build the backbone a validated ``timm`` component section describes (see ``TimmBackboneConfig``).

    ``load_pretrained=False`` builds the architecture only, ignoring ``pretrained`` (e.g. to count its cost);
    ``weight_sources`` resolves a ``pretrained`` that names a weight source.
    """
    model = _create_model(
        config, in_chans=in_chans, num_classes=num_classes, load_pretrained=load_pretrained, sources=weight_sources
    )
    if not getattr(model, "feature_info", None):
        raise UsageError(f"timm model {config.model} has no feature_info: its stages are unknown")
    stages = [
        StageInfo(info["module"], info["num_chs"], info["reduction"])
        for info in model.feature_info
        if info["reduction"] >= config.min_reduction
    ]
    if not stages:
        raise UsageError(f"timm model {config.model} has no stage with a reduction of {config.min_reduction} or more")
    plan = plan_stages(model, [s.name for s in stages], (in_chans, *_probe_size(model)), architecture=config.model)
    input_norm = nn.BatchNorm2d(in_chans) if config.input_norm else nn.Identity()
    backbone = TimmBackbone(model, stages, plan, input_norm=input_norm, architecture=config.model)
    if config.freeze is not False:
        try:
            backbone.freeze(None if config.freeze is True else config.freeze)
        except UsageError as error:
            raise UsageError(f"backbone.freeze: {error}") from None
    return backbone


class TimmBackbone(Backbone):
    """A timm model run stage by stage: ``input_norm``, stem, the stages of ``plan``, then its head."""

    def __init__(
        self, model: nn.Module, stages: list[StageInfo], plan: StagePlan, *, input_norm: nn.Module, architecture: str
    ):
        super().__init__()
        self.model = model
        self.input_norm = input_norm
        self.stages = stages
        self.num_classes = model.num_classes
        self.architecture = architecture
        self._plan = plan

    def forward_stages(
        self, x: Tensor, *, upto: str | None = None, start: tuple[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        end = self.depth(upto) if upto is not None else len(self.stages) - 1
        if start is None:
            begin, hidden = 0, self._stem(self.input_norm(x))
            reduction = self.stages[0].reduction
            grid = (x.shape[-2] // reduction, x.shape[-1] // reduction)
        else:
            begin, hidden, grid = self.depth(start[0]) + 1, self._from_map(start[1]), tuple(start[1].shape[-2:])
            if begin > end + 1:
                raise ValueError(f"cannot run from stage {start[0]!r} up to the shallower {upto!r}")
        outputs = {}
        for depth in range(begin, end + 1):
            hidden = self._run(self._plan.segments[depth], hidden)
            outputs[self.stages[depth].name] = self._to_map(hidden, grid)
        return outputs

    def forward_head(self, last: Tensor) -> Tensor:
        return self.model.forward_head(self._run(self._plan.tail, self._from_map(last)))

    def segment_modules(self, stage: str) -> list[nn.Module]:
        depth = self.depth(stage)
        modules = [self.model.get_submodule(path) for path in self._plan.segments[depth]]
        if depth == 0:
            modules = [self.input_norm, *(self.model.get_submodule(path) for path in self._plan.stem), *modules]
        return modules

    def segment_parameters(self, stage: str) -> list[nn.Parameter]:
        parameters = super().segment_parameters(stage)
        if self.depth(stage) == 0:  # position embeddings, class tokens: used by the stem
            parameters += [self.model.get_parameter(name) for name in self._plan.loose_parameters]
        return parameters

    def head_modules(self) -> list[nn.Module]:
        return [self.model.get_submodule(path) for path in (*self._plan.tail, *self._plan.unused)]

    def _stem(self, x: Tensor) -> Tensor:
        """Whatever ``forward_features`` does before the first stage: run it, stopping at that stage's input."""
        first = self.model.get_submodule(self._plan.segments[0][0])
        handle = first.register_forward_pre_hook(_stop_with_input)
        try:
            self.model.forward_features(x)
        except _StemDone as done:
            return done.input
        finally:
            handle.remove()
        raise RuntimeError(f"{self.architecture}: forward_features did not reach its first stage")

    def _run(self, paths: list[str], hidden: Tensor) -> Tensor:
        for path in paths:
            hidden = self.model.get_submodule(path)(hidden)
        return hidden

    def _to_map(self, hidden: Tensor, grid: tuple[int, int]) -> Tensor:
        """Stage outputs as feature maps: a vision transformer's tokens [N, L, C] become [N, C, h, w]."""
        return hidden.transpose(1, 2).unflatten(2, grid) if self._plan.tokens else hidden

    def _from_map(self, stage_output: Tensor) -> Tensor:
        return stage_output.flatten(2).transpose(1, 2) if self._plan.tokens else stage_output


class _StemDone(Exception):
    """Raised by a pre-hook on the first stage to stop ``forward_features`` once the stem has run."""

    def __init__(self, input: Tensor):
        super().__init__("stem done")
        self.input = input


def _stop_with_input(module: nn.Module, args: tuple[Tensor, ...]) -> None:
    raise _StemDone(args[0])


def _probe_size(model: nn.Module) -> tuple[int, int]:
    """An input size the model accepts: a ViT's own image size, else its pretrained config's."""
    size = getattr(getattr(model, "patch_embed", None), "img_size", None)
    return tuple(size) if size else tuple(model.pretrained_cfg.get("input_size", (3, 224, 224))[1:])


# -- the model and its weights --------------------------------------------------------


def unknown_model_message(name: str) -> str | None:
    """None when timm has the model ``name`` (and its pretrained tag, if any); else a message with the closest names."""
    timm = import_timm()
    architecture, _, tag = name.partition(".")
    if tag:
        tagged = timm.list_pretrained(f"{architecture}.*")
        if name in tagged:
            return None
        known = ", ".join(tagged) or "none"
        return f"timm model {architecture!r} has no pretrained tag {tag!r} (tags: {known})"
    if timm.is_model(name):
        return None
    names = timm.list_models()
    close = [n for n in names if n.startswith(name)][:6] or difflib.get_close_matches(name, names, n=5, cutoff=0.6)
    guess = f"did you mean {', '.join(close)}?" if close else "timm.list_models() lists them"
    return f"timm has no model {name!r}: {guess}"


def _create_model(
    config: Any, *, in_chans: int, num_classes: int, load_pretrained: bool, sources: WeightSources | None
) -> nn.Module:
    timm = import_timm()
    kwargs = {**config.model_kwargs, "in_chans": in_chans, "num_classes": num_classes}
    if config.pretrained is None or not load_pretrained:
        return timm.create_model(config.model, pretrained=False, **kwargs)
    if sources is not None and config.pretrained in sources:
        what = f"weight source {config.pretrained!r}"
        # A state dict handed to timm's own loader, which adapts the input conv and drops another classifier.
        overlay = {"state_dict": sources.state_dict(config.pretrained, config.model), "source": ""}
    else:
        path = Path(config.pretrained)
        if not path.is_file():
            raise PkdError(f"{path}: pretrained weights for {config.model} not found (backbone.pretrained)")
        what = str(path)
        # The file and nothing else: an empty source keeps timm from preferring the Hugging Face hub.
        overlay = {"file": str(path), "source": ""}
    with _timm_load_messages() as messages:
        try:
            model = timm.create_model(config.model, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)
        except Exception as error:  # whatever the loader raises, the weights are what does not fit
            raise PkdError(f"{what}: cannot load it as {config.model} weights: {_first_problem(error)}") from None
    problems = _unloaded_keys(messages, model.pretrained_cfg.get("classifier"))
    if problems:
        raise PkdError(f"{what}: does not fit {config.model}: {problems}")
    return model


def _first_problem(error: Exception) -> str:
    """``KeyError: 'fc.weight'``; for torch's list of state-dict errors, its heading and first item."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    shown = f"{lines[0]} {lines[1]}" if len(lines) > 1 and lines[0].endswith(":") else lines[0]
    more = len(lines) - 2 if shown != lines[0] else len(lines) - 1
    return f"{type(error).__name__}: {shown}" + (f" (and {more} more)" if more > 0 else "")


# timm loads leniently when it replaces the classifier; it reports what did not load in these log lines.
_KEYS_MESSAGE = re.compile(r"^(Missing|Unexpected) keys \((.*)\) (?:discovered|found) while loading")


def _unloaded_keys(messages: list[str], classifier: str | tuple[str, ...] | None) -> str:
    """What the weights file lacked or had in excess, except the classifier timm replaced on purpose."""
    classifiers = (classifier,) if isinstance(classifier, str) else tuple(classifier or ())
    expected = {f"{name}.{kind}" for name in classifiers for kind in ("weight", "bias")}
    problems = []
    for message in messages:
        match = _KEYS_MESSAGE.match(message)
        if match:
            keys = [key for key in match.group(2).split(", ") if key not in expected]
            if keys:
                shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
                problems.append(f"{match.group(1).lower()} keys {shown}")
    return "; ".join(problems)


@contextmanager
def _timm_load_messages() -> Iterator[list[str]]:
    """Collect what timm's model builder logs (its report of missing and unexpected keys), silently."""
    logger = logging.getLogger("timm.models._builder")
    messages: list[str] = []
    handler = _ListHandler(messages)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


class _ListHandler(logging.Handler):
    def __init__(self, messages: list[str]):
        super().__init__(logging.INFO)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
