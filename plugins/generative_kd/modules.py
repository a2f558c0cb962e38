"""The parts of generative-model-based feature distillation (GKD) and its losses.

Layouts: a stage's feature is ``[B*S, C, H, W]`` (the frames of B clips of S
segments, as backbones see them); an attention, a latent code and a pooled
feature are ``[B, S, C]``: one value per clip, segment and channel. The
segments are GKD's time axis, so with ``S = 1`` the attention is per channel.

- :class:`AttentionHead`: spatial pooling, a temporal convolution across
  segments, a sigmoid: ``A`` in (0, 1).
- :class:`ConditionalVAE`: the feature's distribution given ``A``; the prior
  of its latent code is ``N(A, I)``.
- :class:`WidthAdapter`: 1x1 maps of a student's feature and attention to the
  teacher's width (parameter-free when the widths agree).
- :class:`AttendedBackbone` / :class:`AttendedNetwork`: a backbone whose feature
  at one stage is re-weighted by its attention before the later stages run:
  what GKD trains the student's classifier on, and what it scores.
- Losses: :func:`cvae_loss`, :func:`attention_distillation_loss`,
  :func:`mass_preserving_reweight`, :func:`generative_weight`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pkd_toolkit.api import Backbone, ExitOutputs, MultiExitNetwork

# A clip's attention-weighted mass below this counts as zero (an all-zero feature; see mass_preserving_reweight).
MASS_EPS = 1e-6


def pool_segments(feature: Tensor, segments: int) -> Tensor:
    """Spatial mean of ``[B*S, C, H, W]`` frames -> ``[B, S, C]``."""
    return feature.mean(dim=(2, 3)).unflatten(0, (-1, segments))


# -- the modules ---------------------------------------------------------------------------


class AttentionHead(nn.Module):
    """Attention per segment and channel: spatial pooling, temporal conv, ReLU, 1x1 conv, sigmoid.

    ``temporal_kernel`` must be odd (the output keeps the clip's segments); the
    temporal convolution zero-pads, so with one segment only its centre tap
    sees data and the attention depends on that frame alone.
    """

    def __init__(self, channels: int, *, hidden: int | None = None, temporal_kernel: int = 3):
        super().__init__()
        if temporal_kernel % 2 == 0:
            raise ValueError(f"temporal_kernel must be odd, got {temporal_kernel}")
        hidden = hidden or max(channels // 2, 1)
        self.channels = channels
        self.temporal = nn.Conv1d(channels, hidden, temporal_kernel, padding=temporal_kernel // 2)
        self.project = nn.Conv1d(hidden, channels, 1)

    def logits(self, feature: Tensor, segments: int) -> Tensor:
        """The attention before its sigmoid, ``[B, S, C]``, for frames ``[B*S, C, H, W]``."""
        pooled = pool_segments(feature, segments).transpose(1, 2)  # [B, C, S]: Conv1d runs along the segments
        return self.project(F.relu(self.temporal(pooled))).transpose(1, 2)

    def forward(self, feature: Tensor, segments: int) -> Tensor:
        return torch.sigmoid(self.logits(feature, segments))


class WidthAdapter(nn.Module):
    """Brings a student's feature and attention to the teacher's width.

    Features go through a 1x1 convolution; attention logits through a 1x1 map
    over channels followed by the sigmoid, so the result stays in (0, 1). When
    the widths agree both are the identity and the adapter has no parameters.
    """

    def __init__(self, student_channels: int, teacher_channels: int):
        super().__init__()
        same = student_channels == teacher_channels
        self.feature = nn.Identity() if same else nn.Conv2d(student_channels, teacher_channels, 1)
        self.attention_logits = nn.Identity() if same else nn.Linear(student_channels, teacher_channels)

    def forward(self, feature: Tensor, attention_logits: Tensor) -> tuple[Tensor, Tensor]:
        """``(feature [B*S, C_t, H, W], attention [B, S, C_t])`` from the student's feature and attention logits."""
        return self.feature(feature), torch.sigmoid(self.attention_logits(attention_logits))


@dataclass
class CvaeOutput:
    mean: Tensor  # [B, S, C]
    log_var: Tensor  # [B, S, C]
    reconstruction: Tensor  # [B*S, C, H, W]


class ConditionalVAE(nn.Module):
    """A feature's distribution given its attention: encoder, decoder, and the prior ``N(A, I)``.

    The latent code has one value per segment and channel, like the attention
    that is its prior's mean. The encoder maps (pooled feature, attention) to
    the code's mean and log variance; the decoder maps (code, attention) to a
    per-channel value that scales a learned spatial template per channel,
    resized to the feature's height and width, so one CVAE serves any input
    resolution. ``hidden`` is the width of the encoder's and decoder's MLPs
    (default: ``channels``, as published).
    """

    def __init__(self, channels: int, *, hidden: int | None = None, template_size: int = 7):
        super().__init__()
        hidden = hidden or channels
        self.channels = channels
        self.encoder = _mlp(2 * channels, hidden, 2 * channels)
        self.decoder = _mlp(2 * channels, hidden, channels)
        # groups=channels: each channel's value scales that channel's own template (plus a bias)
        self.templates = nn.ConvTranspose2d(channels, channels, template_size, groups=channels)

    def encode(self, feature: Tensor, attention: Tensor) -> tuple[Tensor, Tensor]:
        """``(mean, log variance)`` of the code, ``[B, S, C]`` each."""
        pooled = pool_segments(feature, attention.shape[1])
        return self.encoder(torch.cat([pooled, attention], dim=-1)).chunk(2, dim=-1)

    def decode(self, code: Tensor, attention: Tensor, size: tuple[int, int]) -> Tensor:
        """The feature ``[B*S, C, *size]`` for codes and attentions ``[B, S, C]``."""
        values = self.decoder(torch.cat([code, attention], dim=-1)).flatten(0, 1)
        maps = self.templates(values[:, :, None, None])
        if tuple(maps.shape[-2:]) != tuple(size):
            maps = F.interpolate(maps, size=tuple(size), mode="bilinear", align_corners=False)
        return maps

    def forward(self, feature: Tensor, attention: Tensor) -> CvaeOutput:
        """Encode, sample the code (reparameterised) and decode: what :func:`cvae_loss` scores."""
        mean, log_var = self.encode(feature, attention)
        code = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        return CvaeOutput(mean, log_var, self.decode(code, attention, feature.shape[-2:]))

    def generate(self, attention: Tensor, size: tuple[int, int]) -> Tensor:
        """A feature decoded from a code drawn from the prior ``N(attention, I)``."""
        return self.decode(attention + torch.randn_like(attention), attention, size)


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, outputs)
    )


@contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Run ``module`` without gradients to its parameters (gradients still reach its inputs)."""
    flags = [(parameter, parameter.requires_grad) for parameter in module.parameters()]
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield module
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)


# -- the losses -------------------------------------------------------------------------------


def cvae_loss(feature: Tensor, output: CvaeOutput, attention: Tensor, *, kl_weight: float = 0.1) -> Tensor:
    """``MSE(F, F_hat) + kl_weight * KL(N(mean, var) || N(A, I))``, both as means over elements."""
    reconstruction = F.mse_loss(output.reconstruction.float(), feature.float())
    mean, log_var = output.mean.float(), output.log_var.float()
    kl = -0.5 * (1 + log_var - (mean - attention.float()).pow(2) - log_var.exp())
    return reconstruction + kl_weight * kl.mean()


def attention_distillation_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """``MSE(A_s, A_t)``, the mean over clips, segments and channels; the teacher's side gets no gradient."""
    if student.shape != teacher.shape:
        raise ValueError(f"attentions differ: student {tuple(student.shape)}, teacher {tuple(teacher.shape)}")
    return F.mse_loss(student.float(), teacher.detach().float())


def mass_preserving_reweight(feature: Tensor, attention: Tensor) -> Tensor:
    """``F * A * sum|F| / sum|F * A|`` per clip: attention re-weights channels, the clip keeps its mass.

    ``feature`` is ``[B*S, C, H, W]``, ``attention`` ``[B, S, C]``; sums run over
    each clip's segments, channels and positions, in float32 (half-precision
    sums of a whole clip overflow). On features after a ReLU (the paper's I3D)
    this is the published ``F * A * sum(F) / sum(F * A)``. On signed features
    (most timm stages end in a batch norm: about half of an EfficientNet
    stage's values are negative) the published sums cancel to nearly zero, so
    their ratio erases the feature or flips its sign; absolute values keep
    the factor positive and at most ``1 / min(A)``.
    """
    clips = feature.unflatten(0, attention.shape[:2])  # [B, S, C, H, W]
    weighted = clips * attention[..., None, None].to(clips.dtype)
    dims = (1, 2, 3, 4)
    mass = clips.float().abs().sum(dims, keepdim=True)
    weighted_mass = weighted.float().abs().sum(dims, keepdim=True).clamp_min(MASS_EPS)
    return (weighted * (mass / weighted_mass)).flatten(0, 1)


def generative_weight(epoch: int, weight: float = 0.5, ramp_epochs: int = 20) -> float:
    """``w_e = weight * min(epoch, ramp_epochs) / ramp_epochs`` for the 1-based ``epoch``; ``weight`` when no ramp."""
    if ramp_epochs == 0:
        return weight
    return weight * min(epoch, ramp_epochs) / ramp_epochs


# -- a backbone with attention at one stage ------------------------------------------------------


class AttendedBackbone(Backbone):
    """``inner`` with its output at ``layer`` re-weighted by ``attention`` (mass preserving).

    Every stage after ``layer``, and the head, see the re-weighted feature, and
    so does anything reading ``layer``'s output (early exits, cascades). The
    attention runs across a clip's segments, which a backbone's frames
    ``[B*S, ...]`` do not tell: :meth:`clips_of` sets the count for a forward
    (:class:`AttendedNetwork` does it); outside one, every frame is a clip.
    """

    def __init__(self, inner: Backbone, layer: str, attention: AttentionHead):
        super().__init__()
        self.inner = inner
        self.layer = inner.stage(layer).name
        self.attention = attention
        self.stages = inner.stages
        self.num_classes = inner.num_classes
        self.architecture = f"{inner.architecture}+gkd-attention"
        self._segments = 1

    @contextmanager
    def clips_of(self, segments: int) -> Iterator[None]:
        """Within the block, frames come in clips of ``segments``."""
        previous, self._segments = self._segments, segments
        try:
            yield
        finally:
            self._segments = previous

    def attend(self, feature: Tensor, segments: int) -> tuple[Tensor, Tensor]:
        """``(attention logits [B, S, C], re-weighted feature)`` for ``layer``'s output."""
        logits = self.attention.logits(feature, segments)
        return logits, mass_preserving_reweight(feature, torch.sigmoid(logits))

    def classify(self, reweighted: Tensor, segments: int) -> Tensor:
        """Logits ``[B, S, K]``: the stages after ``layer`` and the head, from the re-weighted feature."""
        last = self.stages[-1].name
        if last != self.layer:
            reweighted = self.inner.forward_stages(reweighted, upto=last, start=(self.layer, reweighted))[last]
        return self.inner.forward_head(reweighted).unflatten(0, (-1, segments))

    def forward_stages(
        self, x: Tensor, *, upto: str | None = None, start: tuple[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        upto = upto or self.stages[-1].name
        depth, layer = self.inner.depth, self.inner.depth(self.layer)
        if depth(upto) < layer or (start is not None and depth(start[0]) >= layer):
            return self.inner.forward_stages(x, upto=upto, start=start)  # the attention is not on the way
        outputs = self.inner.forward_stages(x, upto=self.layer, start=start)
        outputs[self.layer] = self.attend(outputs[self.layer], self._segments)[1]
        if upto != self.layer:
            outputs.update(self.inner.forward_stages(x, upto=upto, start=(self.layer, outputs[self.layer])))
        return outputs

    def forward_head(self, last: Tensor) -> Tensor:
        return self.inner.forward_head(last)

    def segment_modules(self, stage: str) -> list[nn.Module]:
        extra = [self.attention] if self.inner.stage(stage).name == self.layer else []
        return [*self.inner.segment_modules(stage), *extra]

    def head_modules(self) -> list[nn.Module]:
        return self.inner.head_modules()


class AttendedNetwork(MultiExitNetwork):
    """A multi-exit network on an :class:`AttendedBackbone` that tells it the clips' segment count."""

    backbone: AttendedBackbone

    def forward(self, x: Tensor, *, upto: str | None = None, features: dict[str, Tensor] | None = None) -> ExitOutputs:
        with self.backbone.clips_of(x.shape[1]):
            return super().forward(x, upto=upto, features=features)

    def cascade(self, x: Tensor) -> Iterator[tuple[str, Tensor]]:
        exits = super().cascade(x)
        while True:
            with self.backbone.clips_of(x.shape[1]):  # only while the backbone runs: the caller may stop anytime
                item = next(exits, None)
            if item is None:
                return
            yield item
