"""Progress of a loop over batches: a live bar on a terminal, plain lines a log file can show otherwise.

A cluster job's output file or ``pkd run ... | tee`` is no terminal: there a
line is written every :data:`DEFAULT_EVERY_SECONDS` seconds (or every N
batches, or M seconds, with ``PKD_PROGRESS_EVERY=N`` / ``PKD_PROGRESS_EVERY=Ms``)
with the batch, the loss, the throughput and the time left. Either way the
tracker measures the clips per second and the time spent waiting for data,
which the trainer records in metrics.jsonl.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from pkd_toolkit import console
from pkd_toolkit.errors import UsageError

T = TypeVar("T")

EVERY_ENV = "PKD_PROGRESS_EVERY"
DEFAULT_EVERY_SECONDS = 30.0


@dataclass(frozen=True)
class Cadence:
    """When a plain progress line is due: every ``batches`` batches, or ``seconds`` after the last line."""

    batches: int | None = None
    seconds: float | None = DEFAULT_EVERY_SECONDS

    @classmethod
    def from_env(cls) -> Cadence:
        """``PKD_PROGRESS_EVERY``: ``50`` (batches) or ``30s`` (seconds); unset: every 30 seconds."""
        text = os.environ.get(EVERY_ENV, "").strip().lower()
        if not text:
            return cls()
        try:
            return cls(seconds=float(text[:-1])) if text.endswith("s") else cls(batches=int(text), seconds=None)
        except ValueError:
            raise UsageError(f"{EVERY_ENV}={text}: expected a number of batches (50) or of seconds (30s)") from None

    def due(self, batches: int, since_line: float) -> bool:
        return bool(self.batches and batches % self.batches == 0) or (
            self.seconds is not None and since_line >= self.seconds
        )


class Tracker(Generic[T]):
    """Iterate ``items`` (batches); call :meth:`advance` after each batch's work with its clips (and loss)."""

    def __init__(
        self,
        items: Iterable[T],
        total: int,
        description: str,
        *,
        log: Callable[[str], None],
        live: bool,
        cadence: Cadence,
        summary: Callable[[str], None] | None = None,
    ):
        """``log`` gets the progress lines (none when ``live``: a bar shows instead), ``summary`` one line at
        the end (clips, time, throughput)."""
        self.items, self.total, self.description = items, total, description
        self._log, self._live, self._cadence, self._summary = log, live, cadence, summary
        self.batches = 0
        self.clips = 0
        self.data_wait = 0.0
        self.loss: float | None = None
        self._started = self._last_line = time.monotonic()
        self._ended: float | None = None  # the loop's end: throughput stops counting there
        self._bar: Progress | None = None
        self._task = None

    def __iter__(self) -> Iterator[T]:
        self._started = self._last_line = time.monotonic()
        with self._live_bar():
            iterator = iter(self.items)
            while True:
                asked = time.monotonic()
                try:
                    item = next(iterator)
                except StopIteration:
                    break
                self.data_wait += time.monotonic() - asked
                yield item
        self._ended = time.monotonic()
        if self._summary is not None and self.batches:
            self._summary(
                f"{self.description}: {self.clips} clips in {self.elapsed:.1f} s ({self.clips_per_second:.1f} clips/s)"
            )

    def advance(self, clips: int, loss: float | None = None) -> None:
        """One batch done: ``clips`` clips (this process's), and its loss when training."""
        self.batches += 1
        self.clips += clips
        self.loss = loss if loss is not None else self.loss
        now = time.monotonic()
        if self._bar is not None:
            self._bar.update(self._task, advance=1, status=self._status())
        elif self._cadence.due(self.batches, now - self._last_line) and self.batches < self.total:
            self._last_line = now
            self._log(self.line())

    @property
    def elapsed(self) -> float:
        """Seconds from the first request of a batch to the end of the loop (or now, while it runs)."""
        return (self._ended or time.monotonic()) - self._started

    @property
    def clips_per_second(self) -> float:
        return self.clips / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        """``exits epoch 3/20: batch 40/120 (33%), loss 1.234, 52.3 clips/s, data wait 12%, 1 min 32 s left``."""
        share = f" ({100 * self.batches / self.total:.0f}%)" if self.total else ""
        left = (self.total - self.batches) * self.elapsed / self.batches if self.batches else 0.0
        return f"{self.description}: batch {self.batches}/{self.total}{share}, {self._status()}, {_duration(left)} left"

    def _status(self) -> str:
        loss = f"loss {self.loss:.4g}, " if self.loss is not None else ""
        waiting = 100 * self.data_wait / self.elapsed if self.elapsed > 0 else 0.0
        return f"{loss}{self.clips_per_second:.1f} clips/s, data wait {waiting:.0f}%"

    def _live_bar(self) -> contextlib.AbstractContextManager:
        if not self._live:
            return contextlib.nullcontext()
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
        )
        self._bar = Progress(*columns, console=console.err, transient=True)
        self._task = self._bar.add_task(self.description, total=self.total, status="")
        return self._bar


def _duration(seconds: float) -> str:
    """``1 h 02 min``, ``3 min 05 s``, ``42 s``."""
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"
