"""What a run tells: a log file, metrics as JSON lines and TensorBoard scalars, progress.

On a terminal the batches of an epoch show as a rich progress bar; otherwise
(CI, a cluster job's log file, ``| tee``) plain progress lines appear every
30 seconds (:mod:`pkd_toolkit.engine.progress`), and every epoch ends with one
line. Progress lines always go to run.log. Only rank 0 writes files or prints.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from pkd_toolkit import console
from pkd_toolkit.atomic import write_json, write_text
from pkd_toolkit.engine.progress import Cadence, Tracker
from pkd_toolkit.run_folder.layout import LOG_FILE, METRICS_FILE, NOTES_FILE, TENSORBOARD_DIR

T = TypeVar("T")


class Monitor:
    def __init__(self, run_dir: Path, *, enabled: bool = True, tensorboard: bool = True):
        self.enabled = enabled
        self.run_dir = run_dir
        self.logger = logging.getLogger(f"pkd_toolkit.run.{run_dir}")
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self._writer = None
        self.cadence = Cadence.from_env()
        if enabled:
            handler = logging.FileHandler(run_dir / LOG_FILE, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
            self.logger.addHandler(handler)
            self._writer = _tensorboard_writer(run_dir) if tensorboard else None

    def info(self, message: str) -> None:
        if self.enabled:
            self.logger.info(message)
            console.err.print(message, markup=False, highlight=False, soft_wrap=True)

    def note(self, key: str, value: Any, message: str) -> None:
        """Log a decision taken while training and keep it in notes.json (``key``: value) for the report."""
        self.info(message)
        if not self.enabled:
            return
        path = self.run_dir / NOTES_FILE
        notes = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        write_json(path, {**notes, key: value})

    def record(self, record: dict[str, Any], step: int | None = None) -> None:
        """Append one JSON line to metrics.jsonl (and scalars to TensorBoard)."""
        if not self.enabled:
            return
        record = {"time": round(time.time(), 3), **record}
        with open(self.run_dir / METRICS_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, allow_nan=True) + "\n")
        if self._writer is not None and step is not None:
            prefix = record.get("stage", "run")
            for key, value in record.items():
                if isinstance(value, float | int) and key not in ("time", "epoch", "stage_index"):
                    self._writer.add_scalar(f"{prefix}/{key}", value, step)

    def resume_at(self, stage_index: int, epoch: int, last_record: dict[str, Any] | None) -> None:
        """Make metrics.jsonl end with the checkpoint's epoch: drop lines of epochs after it (they will
        run again) and restore its own line if the run was killed before writing it."""
        path = self.run_dir / METRICS_FILE
        if not self.enabled:
            return
        kept = []
        last = None
        for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            position = (record.get("stage_index", -1), record.get("epoch", -1))
            if position <= (stage_index, epoch):
                kept.append(line)
                last = position
        if last_record is not None and last != (stage_index, epoch):
            kept.append(json.dumps(last_record, allow_nan=True))
        write_text(path, "".join(f"{line}\n" for line in kept))

    def track(self, items: Iterable[T], total: int, description: str, *, summary: bool = False) -> Tracker[T]:
        """Iterate ``items`` showing progress (call ``advance`` after each); ``summary``: end with one line
        of clips, time and throughput."""
        return Tracker(
            items,
            total,
            description,
            log=self._progress_line,
            live=self.enabled and console.err.is_terminal,
            cadence=self.cadence,
            summary=self.info if summary else None,
        )

    def _progress_line(self, message: str) -> None:
        """A progress line: into run.log, and on stderr when no live bar shows it."""
        if self.enabled:
            self.logger.info(message)
            console.err.print(message, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        for handler in list(self.logger.handlers):
            handler.close()
            self.logger.removeHandler(handler)
        if self._writer is not None:
            self._writer.close()


def _tensorboard_writer(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # a dependency, but an environment may lack it: the run goes on without
        console.warning("TensorBoard is not installed (pip install tensorboard): the run writes no TensorBoard scalars")
        return None
    return SummaryWriter(log_dir=str(run_dir / TENSORBOARD_DIR))


def epoch_summary(metrics: dict[str, float]) -> str:
    """One line for the console: losses per objective, the periodic evaluation (its split and what it averages),
    time and throughput (metrics.jsonl has the rest)."""
    parts = [f"{key.removeprefix('loss/')} {value:.4g}" for key, value in metrics.items() if key.startswith("loss/")]
    for split in ("val", "test"):
        if f"{split}_top1" in metrics:
            exits = metrics.get(f"{split}_exits", 0)
            parts.append(f"{split} top-1, mean of {exits:.0f} exits {100 * metrics[f'{split}_top1']:.2f}")
    if "seconds" in metrics:
        parts.append(f"{metrics['seconds']:.1f} s")
    if "clips_per_second" in metrics:
        parts.append(f"{metrics['clips_per_second']:.1f} clips/s")
    return "  ".join(parts)
