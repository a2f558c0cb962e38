"""The run in progress: what the engine and the lifecycle hooks get as ``run``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pkd_toolkit.plugin.manager import Plugins
from pkd_toolkit.recipe.settings import RecipeBase


@dataclass
class Run:
    """A run in progress: its folder, its recipe and the plugins it was started with."""

    dir: Path
    recipe: RecipeBase
    plugins: Plugins
    resume_from: Path | None = None
    started: float = field(default_factory=time.time)
    command: str = ""  # the command line that started it, for the report
    overrides: list[str] = field(default_factory=list)  # its --set overrides

    @property
    def hook(self) -> Any:
        """The plugins' hooks (``run.hook.pkd_epoch_end(...)``)."""
        return self.plugins.hook

    def path(self, *parts: str) -> Path:
        return self.dir.joinpath(*parts)
