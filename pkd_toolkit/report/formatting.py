"""How numbers and settings read in every rendering of the report (Markdown, terminal, plots)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def pct(fraction: float) -> str:
    """``0.9277`` -> ``"92.77"``: accuracies are stored as fractions and shown as percentages."""
    return f"{100 * fraction:.2f}"


def segments_label(segments: Mapping[str, int]) -> str:
    """``"3 segments"`` when every network sees the same number, else ``"iframe 3, mv 1"``."""
    counts = set(segments.values())
    if len(counts) == 1:
        count = counts.pop()
        return f"{count} segment{'s' if count != 1 else ''}"
    return ", ".join(f"{network} {count}" for network, count in segments.items())


def format_threshold(threshold: float) -> str:
    """Thresholds as written in recipes: ``0.99999995``, not ``1.000``."""
    return f"{threshold:.10g}"


def exits_summary(exits: Mapping[str, int], separator: str = ", ") -> str:
    """``"mv/ic1 12, iframe/final 3"``: the exits some video stopped at, in order."""
    return separator.join(f"{key} {count}" for key, count in exits.items() if count)


def summary_line(summary: dict[str, Any]) -> str:
    """``cheapest within 1 point(s) of the full ensemble (90.00 at 40.00 GMACs): ...``."""
    head = (
        f"{summary['schedule']}, {summary['ensembler']}: cheapest within {summary['tolerance']:g} point(s) of the "
        f"full ensemble ({pct(summary['full_top1'])} at {summary['full_gmacs_per_video']:.2f} GMACs): "
    )
    best = summary["cheapest_within"]
    chosen = summary.get("chosen_on", "test")
    if best is None:
        return head + f"none on the {chosen} split"
    how = "chosen on the test split itself, so optimistic" if chosen == "test" else f"chosen on the {chosen} split"
    return head + (
        f"{pct(best['top1'])} at {best['gmacs_per_video']:.2f} GMACs ({100 * best['gmacs_fraction']:.0f}%), "
        f"threshold {format_threshold(best['threshold'])}, {segments_label(best['segments'])} ({how})"
    )


def mean_sd(stats: dict[str, float], *, signed: bool = False) -> str:
    """``"45.6 ± 4.5"``: a spread of accuracies (fractions) over seeds, in percentage points."""
    sign = "+" if signed else ""
    return f"{100 * stats['mean']:{sign}.1f} ± {100 * stats['sd']:.1f}"
