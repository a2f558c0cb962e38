"""Loaders: an epoch's batches depend on its seed alone (not on workers, kept or new), processes share them exactly."""

from __future__ import annotations

import time

import pytest
import torch
from toy_plugin import ToyClips, ToyDatasetConfig, ToyModality

from pkd_toolkit.engine.loaders import ShardedOrder, TrainBatches, WaitClock, eval_loader, resolve_workers
from pkd_toolkit.engine.runtime import Runtime
from pkd_toolkit.recipe.settings import TrainSettings

CPU = torch.device("cpu")


def toy_split(count=20, training=True):
    """Clips whose training augmentation is noise from torch's global generator, as a video plugin's crops are."""
    return ToyClips(ToyDatasetConfig(size=4), count, {"toy": ToyModality("toy", 2)}, training, salt=0)


def batches(loader):
    return [(batch["index"].tolist(), batch["inputs"]["toy"]) for batch in loader]


def assert_same_batches(left, right):
    assert [indices for indices, _ in left] == [indices for indices, _ in right]
    for (_, a), (_, b) in zip(left, right, strict=True):
        assert torch.equal(a, b)


def test_an_epoch_is_the_same_with_workers_kept_new_or_none():
    settings = TrainSettings(batch_size=4, num_workers=2)
    kept = TrainBatches(toy_split(), settings, Runtime(CPU), workers=2)
    assert kept.loader.persistent_workers
    first, second = batches(kept.epoch(11)), batches(kept.epoch(12))
    assert [i for i, _ in first] != [i for i, _ in second]  # another seed, another order
    in_process = TrainBatches(toy_split(), settings, Runtime(CPU), workers=0)
    assert_same_batches(batches(in_process.epoch(11)), first)
    # What a resumed run does: start at the second epoch with new workers.
    assert_same_batches(batches(TrainBatches(toy_split(), settings, Runtime(CPU), workers=2).epoch(12)), second)
    assert_same_batches(batches(kept.epoch(11)), first)  # and again, from the kept workers


def test_reading_samples_leaves_the_training_process_generators_alone():
    loader = TrainBatches(toy_split(), TrainSettings(batch_size=4), Runtime(CPU), workers=0)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    batches(loader.epoch(1))
    assert torch.equal(torch.rand(3), expected)  # dropout and the like draw the same with 0 or 16 workers


def test_two_processes_read_together_exactly_the_batches_of_one_process_with_twice_the_batch():
    single = batches(TrainBatches(toy_split(22), TrainSettings(batch_size=8), Runtime(CPU), workers=0).epoch(5))
    ranks = [
        batches(TrainBatches(toy_split(22), TrainSettings(batch_size=4), Runtime(CPU, rank, 2), workers=0).epoch(5))
        for rank in (0, 1)
    ]
    assert len(single) == len(ranks[0]) == len(ranks[1]) == 2  # 22 clips: two whole batches of 8, the rest dropped
    for step, (indices, inputs) in enumerate(single):
        shared = {i: x for rank in ranks for i, x in zip(rank[step][0], rank[step][1], strict=True)}
        assert sorted(shared) == sorted(indices)
        for index, clip in zip(indices, inputs, strict=True):
            assert torch.equal(shared[index], clip)  # the same augmentation, whichever process read it


def test_the_evaluation_order_gives_every_process_as_many_samples_and_covers_the_split():
    shares = [list(ShardedOrder(10, Runtime(CPU, rank, 3), shuffle=False)) for rank in range(3)]
    assert [len(share) for share in shares] == [4, 4, 4]
    indices = [index for share in shares for index, _ in share]
    assert sorted(set(indices)) == list(range(10)) and sorted(indices) == [0, 0, 1, 1, *range(2, 10)]
    loader = eval_loader(toy_split(10, training=False), TrainSettings(batch_size=3), Runtime(CPU, 2, 3), workers=0)
    assert [len(b["label"]) for b in loader] == [3, 1]


@pytest.mark.parametrize(
    ("setting", "cpus", "processes", "count"),
    [("auto", 16, 1, 15), ("auto", 16, 2, 7), ("auto", 2, 1, 1), ("auto", 2, 2, 0), (4, 16, 1, 4)],
)
def test_workers_auto_shares_the_cpus_among_the_processes(setting, cpus, processes, count):
    workers = resolve_workers(setting, Runtime(CPU, world_size=processes, local_world_size=processes), cpus=cpus)
    assert workers.count == count
    assert (workers.note is None) == (setting != "auto")


def test_more_workers_than_cpus_is_a_warning_with_the_number_used():
    workers = resolve_workers(64, Runtime(CPU), cpus=16)
    assert workers.count == 16
    assert workers.note == "warning: train.num_workers is 64, more than the 16 CPUs this process may use; using 16 workers"


def test_the_wait_clock_counts_waiting_for_items_not_the_work_done_with_them():
    def slow_items():
        for item in range(3):
            time.sleep(0.05)
            yield item

    clock = WaitClock(slow_items())
    for _ in clock:
        time.sleep(0.1)  # the training step: not waiting
    assert 0.15 <= clock.waited < 0.3
