"""The ensembler contract and the order of exits it works in.

An ensembler takes the exits of every network in an *order*; stage k is the
k-th exit of that order, and the ensemble of stage k combines the raw
(segment-consensus) logits of the first k exits, so a video can stop at any
stage with everything computed so far. Exits are named by keys
``"network/exit"`` (``"residual/ic1"``, ``"iframe/final"``). The helpers below
are what ensembler components use to choose and read that order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from pkd_toolkit.errors import UsageError
from pkd_toolkit.plugin.registry import unknown_name_message
from pkd_toolkit.scores.files import ExitScores, ScoreSet


class Ensembler(Protocol):
    """What an ensembler component's factory returns.

    A component's config may have a ``label`` field naming the ensemble in
    reports (default: the component name).
    """

    order: list[str]
    """Exit keys in stage order; set by :meth:`fit` or :meth:`load_state_dict`."""

    def fit(self, scores: ScoreSet) -> None:
        """Choose the order among the exits ``scores`` holds; learn from their logits and labels (train split)."""

    def stage_logits(self, exit_logits: np.ndarray) -> np.ndarray:
        """The ensemble logits of every stage.

        ``exit_logits`` ``[m, videos, classes]`` holds the consensus logits of
        the first ``m`` exits of :attr:`order` (``m`` may be less than all of
        them); the result has the same shape, and its row k depends on exits
        ``0..k`` only.
        """

    def state_dict(self) -> dict[str, Any]:
        """Everything :meth:`fit` learned, as JSON-able data (the order included)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; raise ``ValueError`` when ``state`` does not fit."""


def exits_by_network(scores: ScoreSet) -> dict[str, list[ExitScores]]:
    """Each network's exits, shallowest (cheapest) first; networks in score-file order."""
    grouped: dict[str, list[ExitScores]] = {network: [] for network in scores.networks}
    for exit_scores in scores.exits:
        grouped[exit_scores.network].append(exit_scores)
    return {network: sorted(exits, key=lambda e: e.gmacs) for network, exits in grouped.items()}


def default_order(scores: ScoreSet, networks: Sequence[str] = (), *, deepest_only: bool = False) -> list[str]:
    """Every exit of every network, each network's shallowest first, networks one after the other.

    The networks come in the order ``networks`` when it names exactly the score
    set's networks, else by increasing cost of their deepest exit (ties in
    score-file order). ``deepest_only`` keeps only each network's deepest exit.
    """
    by_network = exits_by_network(scores)
    if sorted(networks) == sorted(by_network):
        ordered = list(networks)
    else:
        ordered = sorted(by_network, key=lambda network: by_network[network][-1].gmacs)
    return [e.key for network in ordered for e in (by_network[network][-1:] if deepest_only else by_network[network])]


def resolve_order(entries: Sequence[str], scores: ScoreSet) -> list[str]:
    """Expand an order written in a recipe: ``"network/exit"`` keys, or a network name for all its exits.

    Raises :class:`UsageError` for an unknown network or exit and for an exit listed twice.
    """
    by_network = exits_by_network(scores)
    order: list[str] = []
    for entry in entries:
        network, slash, exit_name = entry.partition("/")
        if network not in by_network:
            raise UsageError(f"order: {unknown_name_message('network', network, list(by_network))}")
        exits = [e.exit for e in by_network[network]]
        if slash and exit_name not in exits:
            raise UsageError(f"order: {unknown_name_message(f'exit of network {network!r}', exit_name, exits)}")
        for name in [exit_name] if slash else exits:
            key = f"{network}/{name}"
            if key in order:
                raise UsageError(f"order: exit {key} is listed twice")
            order.append(key)
    return order


def member_logits(scores: ScoreSet, order: Sequence[str], segments: dict[str, int] | None = None) -> np.ndarray:
    """Consensus logits of the exits of ``order``, ``[exits, videos, classes]``.

    ``segments`` maps networks to how many of their segments to average (all when left out).
    """
    segments = segments or {}
    logits = []
    for key in order:
        network, _, exit_name = key.partition("/")
        logits.append(scores.get(network, exit_name).consensus(segments.get(network)))
    return np.stack(logits)


def available_segments(scores: ScoreSet, order: Iterable[str]) -> dict[str, int]:
    """How many segments the score files hold for each network of ``order``."""
    available = {}
    for key in order:
        network, _, exit_name = key.partition("/")
        available[network] = scores.get(network, exit_name).logits.shape[1]
    return available


def network_of(key: str) -> str:
    """``"mv"`` of the exit key ``"mv/ic2"``."""
    return key.partition("/")[0]
