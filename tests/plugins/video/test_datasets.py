"""The dataset components: list formats, the Dataset protocol, recipes, and their error messages."""

from __future__ import annotations

import shutil
import textwrap

import pytest
import torch

from pkd_plugins.video.formats import read_hmdb51, read_ucf101
from pkd_toolkit.api import hookimpl
from pkd_toolkit.errors import PkdError, UsageError
from pkd_toolkit.plugin.manager import load_plugins
from pkd_toolkit.recipe.loading import load_recipe


@pytest.fixture(scope="module")
def registry():
    return load_plugins(autoload=False).registry


def build(registry, kind: str, name: str, **settings):
    component = registry.get(kind, name)
    return component.build(component.config(**settings))


def modalities(registry, *names: str) -> dict:
    return {name: build(registry, "modalities", name) for name in names}


def test_the_plugin_registers_the_contracted_components(registry):
    assert {"hmdb51", "ucf101", "folder", "synthetic_actions"} <= set(registry.names("datasets"))
    built = modalities(registry, "iframe", "mv", "residual", "rgb")
    assert {key: (m.name, m.channels) for key, m in built.items()} == {
        "iframe": ("iframe", 3), "mv": ("mv", 2), "residual": ("residual", 3), "rgb": ("rgb", 3)
    }  # fmt: skip
    default = built["mv"].representation
    assert default.accumulate and default.precision == "integer"  # CoViAR's


def test_hmdb51_split_files_with_awkward_names(tmp_path):
    (tmp_path / "golf_test_split1.txt").write_text("Golf_Tips_-_Hit_The_Driver_300+_Yards!!!_golf_f_nm_np1_fr_med_0.avi 1 \nb (2).avi 2\nc.avi 0\n")
    (tmp_path / "climb_test_split1.txt").write_text("(HQ)_Rock_Climbing climb.avi 2\n")
    (tmp_path / "climb_test_split2.txt").write_text("x.avi 1\n")
    listing = read_hmdb51(tmp_path, 1)
    assert listing.classes == ["climb", "golf"]
    assert [(s.video, s.label) for s in listing.splits["train"]] == [("golf/Golf_Tips_-_Hit_The_Driver_300+_Yards!!!_golf_f_nm_np1_fr_med_0.avi", 1)]
    assert [(s.video, s.label) for s in listing.splits["test"]] == [("climb/(HQ)_Rock_Climbing climb.avi", 0), ("golf/b (2).avi", 1)]


def test_a_bad_split_line_names_file_and_line(tmp_path):
    (tmp_path / "golf_test_split1.txt").write_text("a.avi 1\nb.avi seven\n")
    with pytest.raises(PkdError, match=r"golf_test_split1.txt:2: expected '<video> <tag>'"):
        read_hmdb51(tmp_path, 1)


def test_ucf101_lists_and_the_class_spelled_two_ways(tmp_path):
    (tmp_path / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 HandstandPushups\n")
    (tmp_path / "trainlist01.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nHandStandPushups/v_HandStandPushups_g08_c01.avi 2\n")
    (tmp_path / "testlist01.txt").write_text("HandStandPushups/v_HandStandPushups_g01_c01.avi\n")
    listing = read_ucf101(tmp_path, 1)
    assert listing.classes == ["ApplyEyeMakeup", "HandstandPushups"]
    assert [s.label for s in listing.splits["train"]] == [0, 1] and listing.splits["test"][0].label == 1
    (tmp_path / "testlist01.txt").write_text("Unknown/v.avi\n")
    with pytest.raises(PkdError, match=r"testlist01.txt:1: expected '<class>/<video>' with a known class"):
        read_ucf101(tmp_path, 1)


def test_hmdb51_component_reads_the_synthetic_data_set(registry, tiny_synthetic):
    dataset = build(registry, "datasets", "hmdb51", root=tiny_synthetic / "videos", splits=tiny_synthetic / "splits", size=32)
    assert dataset.num_classes == 4 and dataset.input_size == (32, 32)
    assert dataset.classes == ["bounce_checker", "bounce_stripes", "slide_checker", "slide_stripes"]
    train = dataset.split("train", modalities=modalities(registry, "iframe", "mv", "residual"), training=True)
    test_videos = dataset.videos("test")
    assert len(train) == 16 and len(test_videos) == 8 and all("(" in video and "+!" in video for video in test_videos)
    clip = train[3]
    assert clip["index"] == 3 and dataset.classes[clip["label"]] == dataset.videos("train")[3].split("/")[0]
    assert {key: tuple(t.shape) for key, t in clip["inputs"].items()} == {
        "iframe": (3, 3, 32, 32), "mv": (3, 2, 32, 32), "residual": (3, 3, 32, 32)
    }  # fmt: skip


def test_splits_follow_the_videos_order_and_test_clips_stack_every_view(registry, tiny_synthetic):
    dataset = build(
        registry, "datasets", "hmdb51", root=tiny_synthetic / "videos", splits=tiny_synthetic / "splits",
        size=32, test_segments=4, test_clips=2, test_crops=10,
    )  # fmt: skip
    test = dataset.split("test", modalities=modalities(registry, "mv"), training=False)
    clip = test[5]
    assert clip["inputs"]["mv"].shape == (4 * 2 * 10, 2, 32, 32)
    assert dataset.classes[clip["label"]] == dataset.videos("test")[5].split("/")[0]
    again = test[5]
    assert torch.equal(clip["inputs"]["mv"], again["inputs"]["mv"])  # test clips are deterministic
    opened = dataset.open_file(tiny_synthetic / "videos" / dataset.videos("test")[5], modalities=modalities(registry, "mv"))
    assert opened.segments == 4 * 2 * 10 and torch.equal(opened.load("mv"), clip["inputs"]["mv"])


def test_a_clip_keeps_its_values_when_the_next_clip_is_read(registry, tiny_synthetic):
    # no crop resize and no normalisation: the transforms' only copy is what keeps a clip from the reused decode buffers
    dataset = build(registry, "datasets", "hmdb51", root=tiny_synthetic / "videos", splits=tiny_synthetic / "splits",
                    size=48, test_resize=48, test_segments=3, normalization="none")  # fmt: skip
    test = dataset.split("test", modalities=modalities(registry, "mv", "iframe"), training=False)
    first = test[0]["inputs"]
    kept = {key: value.clone() for key, value in first.items()}
    second = test[1]["inputs"]
    assert not torch.equal(second["iframe"], kept["iframe"])
    for key, values in kept.items():
        assert torch.equal(first[key], values), key


def test_an_opened_file_decodes_only_the_rows_asked_and_what_those_frames_give(registry, tiny_synthetic, monkeypatch):
    from pkd_plugins.video import file_inputs

    dataset = build(
        registry, "datasets", "hmdb51", root=tiny_synthetic / "videos", splits=tiny_synthetic / "splits",
        size=32, test_segments=5, test_crops=10,
    )  # fmt: skip
    keys = modalities(registry, "iframe", "mv", "residual")
    path = tiny_synthetic / "videos" / dataset.videos("test")[2]
    whole = dataset.split("test", modalities=keys, training=False)[2]["inputs"]
    decoded = []
    original = file_inputs.read_representations
    monkeypatch.setattr(file_inputs, "read_representations", lambda p, positions, wanted, **k: decoded.append((sorted(wanted), list(positions))) or original(p, positions, wanted, **k))  # fmt: skip
    opened = dataset.open_file(path, modalities=keys)
    assert decoded == []  # opening decodes nothing
    rows = [6, 1, 11]  # segment 1 of crops 1, 0 and 2: one position
    assert torch.equal(opened.load("residual", rows), whole["residual"][rows])
    # one decode, of that position, which also gave the motion vectors of the same frames
    assert len(decoded) == 1 and decoded[0][1] == [opened.positions[1]] and {"mv", "residual"} <= set(decoded[0][0])
    assert torch.equal(opened.load("mv", [1, 3]), whole["mv"][[1, 3]])
    assert len(decoded) == 2 and decoded[1][1] == [opened.positions[3]]  # only the position not decoded yet
    for key in ("mv", "iframe", "residual"):
        assert torch.equal(opened.load(key), whole[key])
    assert sum(len(positions) for keys, positions in decoded if "mv" in keys) == len(opened.positions)  # each once
    with pytest.raises(PkdError, match="rows"):
        opened.load("mv", [50])


def test_synthetic_actions_generates_on_first_use_and_refuses_other_settings(registry, tmp_path):
    dataset = build(registry, "datasets", "synthetic_actions", root=tmp_path / "syn", preset="tiny", videos_per_class=3, size=32)
    assert dataset.num_classes == 4 and not (tmp_path / "syn").exists()  # cheap: nothing generated yet
    assert len(dataset.videos("train")) + len(dataset.videos("test")) == 12
    assert (tmp_path / "syn" / "synthetic.json").is_file()
    other = build(registry, "datasets", "synthetic_actions", root=tmp_path / "syn", preset="tiny", videos_per_class=4, seed=1)
    with pytest.raises(PkdError, match=r"other settings: videos_per_class 3 \(asked 4\), seed 0 \(asked 1\)"):
        other.videos("train")


def test_missing_data_says_where_and_which_recipe_key(registry, tmp_path):
    dataset = build(registry, "datasets", "hmdb51", root=tmp_path / "videos", splits=tmp_path / "splits")
    with pytest.raises(PkdError, match=r"splits: no such folder; expected the HMDB51 split files .* data\.splits"):
        dataset.classes
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "golf_test_split1.txt").write_text("a.avi 1\n")
    with pytest.raises(PkdError, match=r"videos: no such folder; expected the videos there as <class>/<video> .*data\.root"):
        dataset.split("train", modalities={}, training=True)
    ucf = build(registry, "datasets", "ucf101", root=tmp_path, splits=tmp_path / "nowhere")
    with pytest.raises(PkdError, match="nowhere: no such folder; expected the ucfTrainTestlist files"):
        ucf.classes
    # the class count the format fixes is known without the lists (pkd summary before a download)
    assert ucf.num_classes == 101
    assert build(registry, "datasets", "hmdb51", root=tmp_path, splits=tmp_path / "nowhere").num_classes == 51
    assert dataset.num_classes == 1  # lists present: they are counted (a subset, or synthetic data)


def test_listed_videos_that_are_missing_are_left_out_with_a_warning(registry, tiny_synthetic, tmp_path):
    videos = tmp_path / "videos"
    shutil.copytree(tiny_synthetic / "videos", videos)
    removed = sorted(videos.glob("slide_stripes/*.avi"))[0]
    removed.unlink()
    dataset = build(registry, "datasets", "hmdb51", root=videos, splits=tiny_synthetic / "splits")
    with pytest.warns(UserWarning, match="1 listed .* videos are missing and left out: slide_stripes/"):
        names = dataset.videos("train") + dataset.videos("test")
    assert len(names) == 23 and f"slide_stripes/{removed.name}" not in names


def test_a_prepared_tree_may_change_the_suffix(registry, tiny_synthetic, tmp_path):
    videos = tmp_path / "videos"
    shutil.copytree(tiny_synthetic / "videos", videos)
    for path in videos.glob("*/*.avi"):
        path.rename(path.with_suffix(".mp4"))  # as CoViAR's prepared HMDB51: listed .avi, stored .mp4
    dataset = build(registry, "datasets", "hmdb51", root=videos, splits=tiny_synthetic / "splits", size=32)
    data = dataset.split("test", modalities=modalities(registry, "iframe"), training=False)
    assert len(data) == 8 and data[0]["inputs"]["iframe"].shape[1:] == (3, 32, 32)


def test_folder_dataset_with_list_files(registry, tiny_synthetic, tmp_path):
    lists = {name: [v for v in build(registry, "datasets", "hmdb51", root=tiny_synthetic / "videos",
                                     splits=tiny_synthetic / "splits").videos(name)] for name in ("train", "test")}  # fmt: skip
    (tmp_path / "train.txt").write_text("\n".join(lists["train"]) + "\n")
    (tmp_path / "test.txt").write_text("\n".join(lists["test"]) + "\n")
    dataset = build(registry, "datasets", "folder", root=tiny_synthetic / "videos", train_list=tmp_path / "train.txt",
                    test_list=tmp_path / "test.txt", size=32)  # fmt: skip
    assert dataset.num_classes == 4 and dataset.videos("test") == lists["test"]
    assert dataset.split("train", modalities=modalities(registry, "residual"), training=True)[0]["inputs"]["residual"].shape == (3, 3, 32, 32)


def test_a_modality_no_video_dataset_produces_is_refused(registry, tiny_synthetic):
    dataset = build(registry, "datasets", "hmdb51", root=tiny_synthetic / "videos", splits=tiny_synthetic / "splits")

    class Depth:
        name, channels = "depth", 1

    with pytest.raises(UsageError, match=r"modalities.d: the video datasets produce iframe, mv, residual and rgb, not 'depth'"):
        dataset.split("train", modalities={"d": Depth()}, training=True)


class _StubBackbones:
    """A backbone component that validates without importing timm (this test is about the data sections)."""

    @staticmethod
    @hookimpl
    def pkd_add_backbones(registry):
        registry.add("stub", lambda config, **context: None, help="no network")


def test_the_documented_recipe_sections_validate(tmp_path):
    registry = load_plugins([("stub", _StubBackbones)], autoload=False).registry
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(textwrap.dedent("""
        name: hmdb51_pkd
        data:
          name: hmdb51
          root: data/hmdb51_mpeg4
          splits: data/testTrainMulti_7030_splits
          split: 1
          segments: 3
          test_segments: 25
          size: 224
        modalities:
          iframe: {name: iframe}
          mv: {name: mv, accumulate: true, precision: integer}
          residual: {name: residual, accumulate: true}
        networks:
          mv: {modality: mv, backbone: {name: stub}}
    """))
    resolved = load_recipe(recipe, registry)
    assert resolved.data.split == 1 and resolved.data.test_segments == 25 and resolved.modalities["mv"].precision == "integer"
    recipe.write_text(recipe.read_text().replace("size: 224", "size: 224\n  segmnets: 3"))
    with pytest.raises(UsageError, match=r"recipe.yaml:11: data.segmnets: unknown key 'segmnets' \(did you mean 'segments'"):
        load_recipe(recipe, registry)


def test_dataset_building_is_cheap(registry, tmp_path):
    dataset = build(registry, "datasets", "ucf101", root=tmp_path / "none", splits=tmp_path / "none")
    assert dataset.input_size == (224, 224)  # no disk access: the folders do not exist


def test_the_memory_cache_works_with_the_engines_kept_workers_each_keeping_its_own(tiny_synthetic, tmp_path, monkeypatch):
    """Each worker decodes a video at most once over all epochs; new workers every epoch would decode it every epoch."""
    from pathlib import Path

    from pkd_plugins.video.bad_videos import BadVideoLog
    from pkd_plugins.video.config import SyntheticActionsConfig
    from pkd_plugins.video.datasets import ClipDataset, VideoEntry
    from pkd_plugins.video.modalities import Representation
    from pkd_plugins.video.representations import DecodedVideo
    from pkd_toolkit.engine.loaders import TrainBatches
    from pkd_toolkit.engine.runtime import Runtime
    from pkd_toolkit.recipe.settings import TrainSettings

    log = tmp_path / "decoded.txt"
    decode = DecodedVideo.decode.__func__

    def counted(cls, path, wanted, index=None):
        with open(log, "a") as handle:  # the workers are other processes: count in a file
            handle.write(f"{Path(path).name}\n")
        return decode(cls, path, wanted, index)

    monkeypatch.setattr(DecodedVideo, "decode", classmethod(counted))
    videos = sorted((tiny_synthetic / "videos").rglob("*.avi"))[:6]
    settings = SyntheticActionsConfig(root=tiny_synthetic, size=32, segments=2, cache="memory")
    wanted = {"iframe": Representation("iframe"), "mv": Representation("mv")}
    split = ClipDataset([VideoEntry(v.name, v, 0) for v in videos], wanted, settings, True, BadVideoLog(), {})

    def decoded_in_three_epochs(keep: bool) -> int:
        log.write_text("")
        train = TrainSettings(batch_size=2, persistent_workers=keep)
        batches = TrainBatches(split, train, Runtime(torch.device("cpu")), workers=2)
        for epoch in range(3):
            assert sum(len(b["label"]) for b in batches.epoch(epoch)) == 6
        return len(log.read_text().splitlines())

    assert decoded_in_three_epochs(keep=True) <= 2 * 6  # at most once per worker and video
    assert decoded_in_three_epochs(keep=False) == 3 * 6  # every epoch's new workers start empty
