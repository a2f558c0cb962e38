"""The run in progress: what the engine and the lifecycle hooks get as ``run``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pkd_toolkit.plugin.manager import Plugins
from pkd_toolkit.recipe.settings import RecipeBase
from pkd_toolkit.run_folder.lock import RunLock


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
    lock: RunLock | None = None  # the folder's lock, held by the process that writes into it (rank 0)

    @property
    def hook(self) -> Any:
        """The plugins' lifecycle hooks (``run.hook.pkd_epoch_end(...)``); one that raises stops the run with a
        :class:`~pkd_toolkit.plugin.manager.HookFailed` naming the plugin."""
        return self.plugins.guarded_hook

    def path(self, *parts: str) -> Path:
        return self.dir.joinpath(*parts)

    def close(self) -> None:
        """The run has ended, however: release the folder's lock."""
        if self.lock is not None:
            self.lock.release()
