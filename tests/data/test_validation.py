"""The validation split carved out of the training videos: whole groups, every class kept, refusals with numbers."""

from __future__ import annotations

import pytest

from pkd_toolkit.data.validation import Reindexed, WithValidation, carve_validation
from pkd_toolkit.errors import UsageError
from pkd_toolkit.recipe.selection import ValidationSettings


def actors(count: int = 6, classes: int = 4) -> tuple[list[str], list[int]]:
    """Weizmann-like names: every actor performs every class, an original and a mirrored copy each."""
    ids, labels = [], []
    for actor in range(count):
        for label in range(classes):
            for copy in ("orig", "mirror"):
                ids.append(f"class{label}/p{actor:02d}_{copy}_class{label}.avi")
                labels.append(label)
    return ids, labels


def test_whole_groups_go_to_the_validation_split():
    ids, labels = actors()
    carving = carve_validation(ids, labels, None, ValidationSettings(size=0.2, group=r"/(p\d+)_"))
    val_actors = {ids[i].split("/")[1][:3] for i in carving.val}
    train_actors = {ids[i].split("/")[1][:3] for i in carving.train}
    assert val_actors and not val_actors & train_actors  # an actor is on one side only, mirrors included
    assert len(carving.val) == 8 * len(val_actors) and len(carving.val) >= round(0.2 * len(ids))
    assert sorted(carving.train + carving.val) == list(range(len(ids)))
    assert carving.grouped_by.startswith("the recipe's pattern")


def test_the_draw_is_seeded():
    ids, labels = actors()
    settings = {"size": 0.3, "group": r"(p\d+)_"}
    first = carve_validation(ids, labels, None, ValidationSettings(**settings, seed=1))
    assert carve_validation(ids, labels, None, ValidationSettings(**settings, seed=1)) == first
    assert any(carve_validation(ids, labels, None, ValidationSettings(**settings, seed=s)).val != first.val for s in range(2, 6))


def test_the_data_sets_own_groups_are_used_without_a_pattern():
    ids, labels = actors(count=5)
    groups = [name.split("/")[1][:3] for name in ids]
    carving = carve_validation(ids, labels, groups, ValidationSettings(size=8))
    assert {groups[i] for i in carving.val}.isdisjoint(groups[i] for i in carving.train)
    assert carving.grouped_by == "the data set's groups"


def test_without_groups_each_video_is_its_own_and_the_run_is_told():
    ids, labels = actors(count=3)
    carving = carve_validation(ids, labels, None, ValidationSettings(size=5))
    assert len(carving.val) == 5
    assert "the data set has no groups: give data.val.group" in carving.grouped_by


@pytest.mark.parametrize("size", [48, 0.999])
def test_a_validation_split_as_large_as_the_training_videos_is_refused(size):
    ids, labels = actors()
    with pytest.raises(UsageError, match=r"data\.val: size .* asks for 48 of the 48 training videos"):
        carve_validation(ids, labels, None, ValidationSettings(size=size))


def test_a_class_left_without_training_videos_is_refused_with_the_numbers():
    ids = [f"session{s}/clip{i}.avi" for s in range(4) for i in range(3)]
    labels = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2]  # class 0 lives in session 0 only, class 1 in session 1 only
    with pytest.raises(UsageError, match=r"leaves no training video for class \d \(3 video\(s\), all in validation\)"):
        carve_validation(ids, labels, None, ValidationSettings(size=0.5, group=r"^(session\d)"))


def test_a_pattern_that_matches_nothing_is_refused():
    ids, labels = actors(count=2)
    with pytest.raises(UsageError, match=r"data\.val\.group: the pattern 'serial_\\\\d\+' matches none"):
        carve_validation(ids, labels, None, ValidationSettings(group=r"serial_\d+"))


def test_the_validation_split_reads_training_videos_with_test_views_and_numbers_them_from_zero(toy_plugins):
    component = toy_plugins.registry.get("datasets", "toy")
    base = component.build(component.config(train_size=12, test_size=6, group_size=3))
    carving = carve_validation(base.videos("train"), base.labels("train"), base.groups("train"), ValidationSettings(size=3))
    dataset = WithValidation(base, carving)
    toy = toy_plugins.registry.get("modalities", "toy")
    modalities = {"rgb": toy.build(toy.config())}
    val = dataset.split("val", modalities=modalities, training=False)
    assert isinstance(val, Reindexed) and len(val) == 3
    assert [val[i]["index"] for i in range(3)] == [0, 1, 2]
    assert [val[i]["label"] for i in range(3)] == dataset.labels("val")
    assert dataset.videos("val") == [base.videos("train")[i] for i in carving.val]
    assert len(dataset.split("train", modalities=modalities, training=True)) == 9
    assert dataset.videos("test") == base.videos("test")


def test_a_recipe_asking_for_a_validation_split_of_data_that_cannot_spare_one_is_refused_before_a_run_folder(
    cli, tiny_recipe, toy_plugins, tmp_path
):
    result = cli("run", tiny_recipe(), "--set", "data.val={size: 24}", plugins=toy_plugins)
    assert result.code == 2 and "data.val: size 24 asks for 24 of the 24 training videos" in result.err
    assert not (tmp_path / "runs").exists()
