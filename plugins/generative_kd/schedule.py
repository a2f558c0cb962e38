"""The ``gkd`` schedule's plan: two stages for the engine, for one teacher and one student network.

``<label>-teacher`` (phase 1, ``teacher_epochs``): the teacher network stays
frozen. Its attention head learns to re-weight the teacher's feature for
classification (cross entropy on the logits of the A-weighted feature, through
the frozen rest of the teacher); its CVAE learns the feature given the
attention. Both update every step.

``<label>-student`` (phase 2): a copy of the base student, taken before any
training, learns. Each of the ``epochs`` GKD epochs is two engine epochs: first
one of the student's CVAE (the student network frozen), then one of the
student network with its attention head and adapter (the CVAEs frozen).
Objectives switch through ``Objective.active``; docs/gkd.md says why.

Just over 300 lines: the plan's two stages, their objectives and the step
functions share the parts built for one teacher/student pair.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pkd_plugins.generative_kd.modules import (
    AttendedBackbone,
    AttendedNetwork,
    AttentionHead,
    ConditionalVAE,
    WidthAdapter,
    attention_distillation_loss,
    cvae_loss,
    frozen,
    generative_weight,
)
from pkd_toolkit.api import (
    Backbone,
    MultiExitNetwork,
    Objective,
    OptimizerSettings,
    PkdError,
    ScheduleContext,
    SchedulePlan,
    SchedulerSettings,
    Stage,
    StepContext,
    UsageError,
    seeded,
)

# Phase 2 runs two engine epochs per GKD epoch: the student CVAE's, then the student network's.
ENGINE_EPOCHS_PER_EPOCH = 2
# Offsets the recipe's seed for GKD's new modules, so that they start the same whatever else the recipe holds.
SEED_OFFSET = 104_729


def gkd_epoch(engine_epoch: int) -> int:
    """The 1-based GKD epoch of phase 2's 0-based engine epoch (the epoch ``w_e`` ramps with)."""
    return engine_epoch // ENGINE_EPOCHS_PER_EPOCH + 1


def is_cvae_epoch(engine_epoch: int) -> bool:
    """Phase 2's even engine epochs (the first of every GKD epoch) fit the student's CVAE."""
    return engine_epoch % ENGINE_EPOCHS_PER_EPOCH == 0


def is_network_epoch(engine_epoch: int) -> bool:
    """Phase 2's odd engine epochs train the student network."""
    return not is_cvae_epoch(engine_epoch)


def in_engine_epochs(scheduler: SchedulerSettings) -> SchedulerSettings:
    """Phase 2's learning-rate schedule counted in engine epochs (the recipe counts GKD epochs)."""
    return scheduler.model_copy(
        update={
            "milestones": [m * ENGINE_EPOCHS_PER_EPOCH for m in scheduler.milestones],
            "warmup_epochs": scheduler.warmup_epochs * ENGINE_EPOCHS_PER_EPOCH,
        }
    )


@dataclass
class GkdParts:
    """What GKD builds for one teacher/student pair."""

    teacher_name: str
    student_name: str
    teacher_network: MultiExitNetwork  # the run's frozen teacher: read, never trained
    attended_teacher: AttendedNetwork  # the teacher with its attention head (phase 1's classifier and evaluation)
    student: AttendedNetwork  # the copy of the base student, with its attention head: what GKD trains and scores
    adapter: WidthAdapter
    teacher_cvae: ConditionalVAE
    student_cvae: ConditionalVAE

    def modules(self) -> nn.ModuleDict:
        """Everything GKD trains (the teacher network is the run's, so it is not here)."""
        return nn.ModuleDict(
            {
                "student": self.student,
                "teacher_attention": self.attended_teacher.backbone.attention,
                "teacher_cvae": self.teacher_cvae,
                "student_cvae": self.student_cvae,
                "adapter": self.adapter,
            }
        )


def build_parts(config, context: ScheduleContext) -> GkdParts:
    """The attention heads, CVAEs, adapter and student copy, sized from the two backbones' layer."""
    teacher_network, student_network = context.networks[config.teacher], context.networks[config.student]
    teacher_layer = _layer(config.layer, context.label, config.teacher, teacher_network.backbone)
    student_layer = _layer(config.layer, context.label, config.student, student_network.backbone)
    width = teacher_network.backbone.stage(teacher_layer).channels
    student_width = student_network.backbone.stage(student_layer).channels
    student_backbone = copy.deepcopy(student_network.backbone)  # before stage (a): the baseline's initial weights

    def attention_head(channels: int) -> AttentionHead:
        return AttentionHead(channels, hidden=config.attention_hidden, temporal_kernel=config.temporal_kernel)

    def cvae() -> ConditionalVAE:
        return ConditionalVAE(width, hidden=config.cvae_hidden, template_size=config.template_size)

    with seeded(context.recipe.seed + SEED_OFFSET):
        teacher_attention, student_attention = attention_head(width), attention_head(student_width)
        adapter, teacher_cvae, student_cvae = WidthAdapter(student_width, width), cvae(), cvae()
    return GkdParts(
        teacher_name=config.teacher,
        student_name=config.student,
        teacher_network=teacher_network,
        attended_teacher=attended(teacher_network.backbone, teacher_layer, teacher_attention),
        student=attended(student_backbone, student_layer, student_attention),
        adapter=adapter,
        teacher_cvae=teacher_cvae,
        student_cvae=student_cvae,
    )


def attended(backbone: Backbone, layer: str, attention: AttentionHead) -> AttendedNetwork:
    """``backbone`` with ``attention`` at ``layer``, as a network without early exits."""
    return AttendedNetwork(AttendedBackbone(backbone, layer, attention), [])


def _layer(layer: str | int | None, label: str, network: str, backbone: Backbone) -> str:
    """The stage name ``layer`` means in ``backbone`` (its last stage when None); UsageError listing its stages."""
    if layer is None:
        return backbone.stages[-1].name
    try:
        return backbone.stage(layer).name
    except UsageError as error:
        raise UsageError(f"schedule {label!r}: layer: network {network!r}: {error}") from None


class GkdLosses:
    """The four objectives' losses; each records its terms under ``<label>/...``."""

    def __init__(self, config, parts: GkdParts, label: str):
        self.config, self.parts, self.label = config, parts, label

    # -- phase 1 ----------------------------------------------------------------------------

    def teacher_attention(self, step: StepContext) -> Tensor:
        """Cross entropy of the teacher's frozen classifier on its A-weighted feature."""
        feature, segments = self._teacher_feature(step)
        backbone = self.parts.attended_teacher.backbone
        logits = backbone.classify(backbone.attend(feature, segments)[1], segments).mean(dim=1)
        self._record_top1(step, self.parts.teacher_name, logits)
        return F.cross_entropy(logits, step.labels)

    def teacher_cvae(self, step: StepContext) -> Tensor:
        """``L_cvae`` of the teacher's CVAE on the teacher's feature and (fixed) attention."""
        feature, segments = self._teacher_feature(step)
        with torch.no_grad():
            attention = self.parts.attended_teacher.backbone.attention(feature, segments)
        output = self.parts.teacher_cvae(feature, attention)
        loss = cvae_loss(feature, output, attention, kl_weight=self.config.kl_weight)
        step.record(f"{self.label}/teacher_cvae", loss)
        return loss

    # -- phase 2 ----------------------------------------------------------------------------

    def student_cvae(self, step: StepContext) -> Tensor:
        """``L_cvae(student) + w * MSE(F_hat_student, F_hat_teacher)``, F_hat_teacher from the student's inputs."""
        parts = self.parts
        with torch.no_grad():  # the student network and the teacher's CVAE are frozen in this step
            feature, segments = self._student_feature(step)
            adapted, attention = parts.adapter(feature, parts.student.backbone.attention.logits(feature, segments))
            teacher_reconstruction = parts.teacher_cvae(adapted, attention).reconstruction
        output = parts.student_cvae(adapted, attention)
        fit = cvae_loss(adapted, output, attention, kl_weight=self.config.kl_weight)
        distillation = F.mse_loss(output.reconstruction.float(), teacher_reconstruction.float())
        step.record(f"{self.label}/student_cvae", fit)
        step.record(f"{self.label}/cvae_distillation", distillation)
        return fit + self.config.cvae_distillation_weight * distillation

    def student(self, step: StepContext) -> Tensor:
        """``CE(A-weighted logits) + w_e * MSE(decode(z ~ N(A_s, I), A_s), F_s) + attention_weight * MSE(A_s, A_t)``."""
        parts, config = self.parts, self.config
        feature, segments = self._student_feature(step)
        backbone = parts.student.backbone
        attention_logits, reweighted = backbone.attend(feature, segments)
        logits = backbone.classify(reweighted, segments).mean(dim=1)
        cross_entropy = F.cross_entropy(logits, step.labels)
        adapted, attention = parts.adapter(feature, attention_logits)
        with frozen(parts.student_cvae):
            generated = parts.student_cvae.generate(attention, adapted.shape[-2:])
        generative = F.mse_loss(generated.float(), adapted.float())
        distillation = attention_distillation_loss(attention, self._teacher_attention(step, attention))
        weight = generative_weight(gkd_epoch(step.epoch), config.generative_weight, config.generative_ramp_epochs)
        self._record_top1(step, parts.student_name, logits)
        for name, value in (("ce", cross_entropy), ("generative", generative), ("attention", distillation)):
            step.record(f"{self.label}/{name}", value)
        step.record(f"{self.label}/generative_weight", weight)
        return cross_entropy + weight * generative + config.attention_weight * distillation

    # -- shared -------------------------------------------------------------------------------

    def _teacher_feature(self, step: StepContext) -> tuple[Tensor, int]:
        """The frozen teacher's feature at the layer (from the step's shared teacher pass), and the segments."""
        parts = self.parts
        outputs = step.outputs(parts.teacher_name, parts.teacher_network)
        return outputs.features[parts.attended_teacher.backbone.layer], step.inputs(parts.teacher_name).shape[1]

    def _teacher_attention(self, step: StepContext, student_attention: Tensor) -> Tensor:
        feature, segments = self._teacher_feature(step)
        with torch.no_grad():
            attention = self.parts.attended_teacher.backbone.attention(feature, segments)
        if attention.shape != student_attention.shape:
            raise PkdError(
                f"schedule {self.label!r}: the teacher {self.parts.teacher_name!r} and the student "
                f"{self.parts.student_name!r} see clips of {attention.shape[1]} and {student_attention.shape[1]} "
                "segments; GKD compares their attention segment by segment"
            )
        return attention

    def _student_feature(self, step: StepContext) -> tuple[Tensor, int]:
        clips = step.inputs(self.parts.student_name)
        backbone = self.parts.student.backbone
        return backbone.inner.forward_stages(clips.flatten(0, 1), upto=backbone.layer)[backbone.layer], clips.shape[1]

    def _record_top1(self, step: StepContext, network: str, logits: Tensor) -> None:
        step.record(f"{self.label}/{network}/top1", (logits.argmax(dim=1) == step.labels).float().mean())


def _objective(
    name: str,
    parameters: Iterable[nn.Parameter],
    loss: Callable[[StepContext], Tensor],
    *,
    optimizer: OptimizerSettings,
    scheduler: SchedulerSettings,
    network: str,
    active: Callable[[int], bool] | None = None,
) -> Objective:
    extra = {"active": active} if active is not None else {}
    lr = optimizer.lr_per_network.get(network, optimizer.lr)
    return Objective(name, list(parameters), loss, optimizer, scheduler, lr, **extra)


class GenerativeSchedule:
    """The ``gkd`` schedule component."""

    def __init__(self, config):
        self.config = config

    def plan(self, context: ScheduleContext) -> SchedulePlan:
        parts = build_parts(self.config, context)
        losses = GkdLosses(self.config, parts, context.label)
        stages = [self._teacher_stage(parts, losses, context.label), self._student_stage(parts, losses, context.label)]
        return SchedulePlan(stages, {parts.student_name: parts.student}, parts.modules())

    def _teacher_stage(self, parts: GkdParts, losses: GkdLosses, label: str) -> Stage:
        config, teacher = self.config, parts.teacher_name
        attention = parts.attended_teacher.backbone.attention
        attention_optimizer = config.teacher_optimizer or config.optimizer
        return Stage(
            name=f"{label}-teacher",
            epochs=config.teacher_epochs,
            objectives=[
                _objective("teacher-attention", attention.parameters(), losses.teacher_attention,
                           optimizer=attention_optimizer, scheduler=config.scheduler, network=teacher),
                _objective("teacher-cvae", parts.teacher_cvae.parameters(), losses.teacher_cvae,
                           optimizer=config.cvae_optimizer, scheduler=config.scheduler, network=teacher),
            ],  # fmt: skip
            train_modules=[attention, parts.teacher_cvae],
            evaluate={teacher: parts.attended_teacher},
        )

    def _student_stage(self, parts: GkdParts, losses: GkdLosses, label: str) -> Stage:
        config, student = self.config, parts.student_name
        # The user's freezing of the student's backbone holds for its copy: frozen parameters stay out.
        network_parameters = [p for p in parts.student.parameters() if p.requires_grad]
        network_parameters += list(parts.adapter.parameters())
        scheduler = in_engine_epochs(config.scheduler)
        return Stage(
            name=f"{label}-student",
            epochs=config.epochs * ENGINE_EPOCHS_PER_EPOCH,
            objectives=[
                _objective("student-cvae", parts.student_cvae.parameters(), losses.student_cvae,
                           optimizer=config.cvae_optimizer, scheduler=scheduler, network=student, active=is_cvae_epoch),
                _objective("student", network_parameters, losses.student,
                           optimizer=config.optimizer, scheduler=scheduler, network=student, active=is_network_epoch),
            ],  # fmt: skip
            train_modules=[parts.student, parts.student_cvae, parts.adapter],
            evaluate={student: parts.student},
        )
