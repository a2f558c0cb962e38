"""Score files: the per-exit logits of one split, what ensemblers fit on and are evaluated with.

One file per (schedule, split) in the run folder (``run_folder.layout.score_path``),
written by the engine after a schedule's training and read by ``pkd eval``.
Logits are kept per segment (``[videos, segments, classes]``) so that
ensemblers can evaluate fewer segments than were computed; the segment
consensus is their mean.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pkd_toolkit.atomic import atomic_path
from pkd_toolkit.errors import PkdError

FORMAT_VERSION = 1


@dataclass
class ExitScores:
    """Logits of one exit of one network, and what reaching it costs."""

    network: str
    exit: str
    stage: str
    logits: np.ndarray  # float32 [videos, segments, classes]
    gmacs: float  # cumulative per frame: backbone up to the stage plus the heads of this and earlier exits

    @property
    def key(self) -> str:
        return f"{self.network}/{self.exit}"

    def consensus(self, segments: int | None = None) -> np.ndarray:
        """Mean logits over ``segments`` evenly spaced segments (all when None): ``[videos, classes]``."""
        return self.logits[:, segment_subset(self.logits.shape[1], segments)].mean(axis=1)


@dataclass
class ScoreSet:
    """Every exit's logits for one split, with labels and class names."""

    schedule: str
    split: str
    classes: list[str]
    videos: list[str]
    labels: np.ndarray  # int64 [videos]
    exits: list[ExitScores] = field(default_factory=list)

    def get(self, network: str, exit: str) -> ExitScores:
        for scores in self.exits:
            if scores.network == network and scores.exit == exit:
                return scores
        available = ", ".join(s.key for s in self.exits)
        raise PkdError(f"no scores for exit {network}/{exit} (available: {available})")

    @property
    def networks(self) -> list[str]:
        return list(dict.fromkeys(s.network for s in self.exits))

    def save(self, path: Path) -> None:
        meta = {
            "format": FORMAT_VERSION,
            "schedule": self.schedule,
            "split": self.split,
            "exits": [{"network": s.network, "exit": s.exit, "stage": s.stage, "gmacs": s.gmacs} for s in self.exits],
        }
        arrays = {f"logits/{s.key}": s.logits.astype(np.float32) for s in self.exits}
        with atomic_path(path, durable=True) as temporary:  # what every report is rebuilt from
            with open(temporary, "wb") as handle:
                np.savez(
                    handle,
                    meta=np.array(json.dumps(meta)),
                    classes=np.array(self.classes, dtype=str),
                    videos=np.array(self.videos, dtype=str),
                    labels=self.labels.astype(np.int64),
                    **arrays,
                )

    @classmethod
    def load(cls, path: Path) -> ScoreSet:
        try:
            with np.load(path, allow_pickle=False) as archive:
                meta = json.loads(str(archive["meta"]))
                if meta.get("format") != FORMAT_VERSION:
                    raise PkdError(f"{path}: score file format {meta.get('format')} is not {FORMAT_VERSION}")
                exits = [
                    ExitScores(e["network"], e["exit"], e["stage"], archive[f"logits/{e['network']}/{e['exit']}"], e["gmacs"])
                    for e in meta["exits"]
                ]
                return cls(
                    schedule=meta["schedule"],
                    split=meta["split"],
                    classes=[str(c) for c in archive["classes"]],
                    videos=[str(v) for v in archive["videos"]],
                    labels=archive["labels"],
                    exits=exits,
                )
        except FileNotFoundError:
            raise PkdError(f"{path}: no such score file") from None
        except (OSError, ValueError, KeyError) as error:
            raise PkdError(f"{path}: not a readable score file ({error})") from None


def segment_subset(available: int, wanted: int | None) -> np.ndarray:
    """Indices of ``wanted`` evenly spaced segments out of ``available`` (TSN's test sampling)."""
    if wanted is None or wanted >= available:
        return np.arange(available)
    if wanted < 1:
        raise ValueError(f"at least one segment is needed, not {wanted}")
    return np.floor((np.arange(wanted) + 0.5) * available / wanted).astype(int)
