"""Each bad input the issue lists: a correct result or one clear message naming the file; never a crashed loader."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pkd_plugins.video.bad_videos import BadVideoLog, BadVideoWarning
from pkd_plugins.video.config import Hmdb51Config
from pkd_plugins.video.datasets import ClipDataset, VideoEntry, clip_inputs
from pkd_plugins.video.errors import UnsupportedVideo, VideoError
from pkd_plugins.video.modalities import Representation

WANTED = {"iframe": Representation("iframe"), "mv": Representation("mv"), "residual": Representation("residual")}
SETTINGS = Hmdb51Config(root=".", splits=".", size=32, segments=2, test_segments=3)

EXPECTED_PROBLEMS = {
    "missing": "no such file",
    "empty": "empty (0 bytes)",
    "text": "not a readable video file",
    "truncated_mp4": "not a readable video file",
    "audio_only": "has no video stream",
    "b_frames": "B-frames",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED_PROBLEMS))
def test_unusable_files_raise_one_message_naming_the_file(bad_inputs, kind):
    with pytest.raises(VideoError) as raised:
        clip_inputs(bad_inputs[kind], WANTED, SETTINGS, training=False)
    message = str(raised.value)
    assert message.startswith(f"{bad_inputs[kind]}: ") and EXPECTED_PROBLEMS[kind] in message
    assert "\n" not in raised.value.message  # one line; a hint may follow


def test_b_frames_are_refused_with_the_prepare_hint(bad_inputs):
    with pytest.raises(UnsupportedVideo) as raised:
        clip_inputs(bad_inputs["b_frames"], {"iframe": WANTED["iframe"]}, SETTINGS, training=True)
    assert "pkd prepare" in str(raised.value)


@pytest.mark.parametrize("kind", ["truncated", "single_frame", "tiny_16x16", "awkward_name"])
def test_readable_oddities_give_correct_clips(bad_inputs, kind):
    inputs = clip_inputs(bad_inputs[kind], WANTED, SETTINGS, training=True)
    assert inputs["iframe"].shape == (2, 3, 32, 32) and inputs["mv"].shape == (2, 2, 32, 32)
    assert all(torch.isfinite(tensor).all() for tensor in inputs.values())


def test_a_video_without_p_frames_has_zero_motion_and_residual(bad_inputs):
    from pkd_plugins.video.representations import read_representations

    out = read_representations(bad_inputs["single_frame"], [0, 0], WANTED)
    assert not out["mv"].any() and not out["residual"].any() and out["iframe"].any()


def _dataset(bad_inputs, training: bool, log: BadVideoLog) -> ClipDataset:
    kinds = ["awkward_name", "missing", "text", "b_frames", "truncated_mp4", "tiny_16x16"]
    entries = [VideoEntry(kind, bad_inputs[kind], label) for label, kind in enumerate(kinds)]
    return ClipDataset(entries, WANTED, SETTINGS, training, log, memory={})


def test_a_loader_with_bad_videos_trains_on_the_good_ones_and_records_the_bad(bad_inputs):
    log = BadVideoLog()
    data = _dataset(bad_inputs, training=True, log=log)
    torch.manual_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = [data[index]["label"] for index in range(len(data)) for _ in range(3)]
    assert set(labels) <= {0, 5}  # only the readable videos' labels (the others were replaced)
    assert {entry["sample"] for entry in log.entries()} == {"missing", "text", "b_frames", "truncated_mp4"}
    messages = [str(w.message) for w in caught if issubclass(w.category, BadVideoWarning)]
    assert len(messages) == 4 and all("another video is used in its place" in m for m in messages)  # once per file


def test_evaluation_keeps_every_row_and_scores_bad_videos_as_zeros_across_workers(bad_inputs):
    log = BadVideoLog()
    data = _dataset(bad_inputs, training=False, log=log)
    batches = list(DataLoader(data, batch_size=2, num_workers=2))
    indices = torch.cat([batch["index"] for batch in batches]).tolist()
    assert indices == list(range(6)) and torch.cat([b["label"] for b in batches]).tolist() == list(range(6))
    iframes = torch.cat([batch["inputs"]["iframe"] for batch in batches])
    assert iframes.shape == (6, 3, 3, 32, 32)
    zero = [index for index in range(6) if not iframes[index].any()]
    assert zero == [1, 2, 3, 4]
    recorded = {entry["sample"]: entry["problem"] for entry in log.entries()}  # written by the worker processes
    assert set(recorded) == {"missing", "text", "b_frames", "truncated_mp4"} and recorded["missing"] == "no such file"


def test_on_error_raise_stops_at_the_first_bad_video(bad_inputs):
    settings = SETTINGS.model_copy(update={"on_error": "raise"})
    data = ClipDataset([VideoEntry("text", bad_inputs["text"], 0)], WANTED, settings, True, BadVideoLog(), {})
    with pytest.raises(VideoError, match="not a readable video"):
        data[0]


def test_a_data_set_of_only_bad_videos_stops_with_a_message(bad_inputs):
    entries = [VideoEntry("text", bad_inputs["text"], 0)]
    data = ClipDataset(entries, WANTED, SETTINGS, True, BadVideoLog(), {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadVideoWarning)
        with pytest.raises(Exception, match="videos in a row could not be read"):
            data[0]


def test_memory_cache_serves_the_same_test_clips(bad_inputs):
    settings = SETTINGS.model_copy(update={"cache": "memory"})
    memory: dict = {}
    entries = [VideoEntry("awkward", bad_inputs["awkward_name"], 0)]
    cached = ClipDataset(entries, WANTED, settings, False, BadVideoLog(), memory)
    direct = ClipDataset(entries, WANTED, SETTINGS, False, BadVideoLog(), {})
    first, again = cached[0], cached[0]
    assert len(memory) == 1
    for key in WANTED:
        np.testing.assert_array_equal(first["inputs"][key], direct[0]["inputs"][key])
        np.testing.assert_array_equal(again["inputs"][key], first["inputs"][key])
