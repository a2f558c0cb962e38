"""Progress a log file can show: plain lines off a terminal (every N batches or M seconds), none under a live
bar, and the throughput and the time waiting for data measured either way."""

from __future__ import annotations

import time

import pytest

from pkd_toolkit.engine.progress import EVERY_ENV, Cadence, Tracker
from pkd_toolkit.errors import UsageError


def slow_batches(count: int, wait: float):
    for index in range(count):
        time.sleep(wait)  # the loader's work: counted as waiting for data
        yield index


def run(tracker: Tracker, clips: int = 4, work: float = 0.0) -> None:
    for batch in tracker:
        time.sleep(work)
        tracker.advance(clips, loss=1.0 / (batch + 1))


def test_every_n_batches_a_line_with_batch_loss_throughput_and_time_left():
    lines: list[str] = []
    tracker = Tracker(
        range(10), 10, "exits epoch 3/20", log=lines.append, live=False, cadence=Cadence(batches=4, seconds=None)
    )
    run(tracker)
    assert len(lines) == 2  # after batches 4 and 8; the last batch is the epoch's own line
    assert lines[0].startswith("exits epoch 3/20: batch 4/10 (40%), loss 0.25, ")
    assert "clips/s, data wait" in lines[0] and lines[0].endswith(" s left")
    assert tracker.clips == 40 and tracker.batches == 10


def test_every_m_seconds_a_line_even_when_batches_are_few():
    lines: list[str] = []
    tracker = Tracker(
        range(5), 5, "score files, test split", log=lines.append, live=False, cadence=Cadence(seconds=0.0)
    )
    run(tracker)
    assert [line.split(":")[1].split(",")[0] for line in lines] == [
        " batch 1/5 (20%)",
        " batch 2/5 (40%)",
        " batch 3/5 (60%)",
        " batch 4/5 (80%)",
    ]


def test_a_live_bar_replaces_the_lines_and_a_summary_ends_the_loop():
    lines: list[str] = []
    summaries: list[str] = []
    tracker = Tracker(
        range(3), 3, "scores", log=lines.append, live=True, cadence=Cadence(seconds=0.0), summary=summaries.append
    )
    run(tracker, clips=5)
    assert lines == []
    assert len(summaries) == 1 and summaries[0].startswith("scores: 15 clips in ") and summaries[0].endswith("clips/s)")


def test_the_wait_for_data_is_told_apart_from_the_work():
    tracker = Tracker(slow_batches(4, 0.05), 4, "x", log=lambda line: None, live=False, cadence=Cadence())
    run(tracker, work=0.01)
    assert 0.18 <= tracker.data_wait <= tracker.elapsed - 0.03
    assert tracker.clips_per_second == 16 / tracker.elapsed  # the loop has ended: the time is fixed


@pytest.mark.parametrize(
    ("value", "cadence"), [("", Cadence()), ("50", Cadence(batches=50, seconds=None)), ("10s", Cadence(seconds=10.0))]
)
def test_the_cadence_comes_from_the_environment(monkeypatch, value, cadence):
    monkeypatch.setenv(EVERY_ENV, value)
    assert Cadence.from_env() == cadence


def test_a_bad_cadence_is_a_usage_error(monkeypatch):
    monkeypatch.setenv(EVERY_ENV, "often")
    with pytest.raises(UsageError, match="PKD_PROGRESS_EVERY=often: expected a number of batches"):
        Cadence.from_env()
