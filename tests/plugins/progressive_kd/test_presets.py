"""PKD's two readings: the released code's teachers (MV, residual, then each network's own head) and the paper
text's (MV, residual, I-frame), checked on the loss each exit set gets at each epoch; and what is refused."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import default_collate

from pkd_plugins.progressive_kd.schedules import distillation_loss
from pkd_toolkit.engine.assembly import assemble
from pkd_toolkit.engine.stages import StepContext
from pkd_toolkit.recipe.loading import load_recipe
from pkd_toolkit.recipe.problems import RecipeError

SCHEDULE = "schedules=[{{name: pkd, epochs: 6, preset: {preset}}}]"  # published shares of 6 epochs: switches at 1, 2


def planned(tiny_recipe, toy_plugins, preset: str):
    recipe = load_recipe(tiny_recipe(), toy_plugins.registry, [SCHEDULE.format(preset=preset)])
    assembly = assemble(recipe, toy_plugins.registry, num_classes=3)
    assembly.model.eval()
    dataset = toy_plugins.registry.build("datasets", recipe.data)
    clips = dataset.split("train", modalities=assembly.used_modalities(), training=False)
    batch = default_collate([clips[index] for index in range(4)])
    return assembly, batch


def loss_at(assembly, batch, network: str, epoch: int) -> float:
    (stage,) = assembly.plans["pkd"].stages
    objective = next(o for o in stage.objectives if o.name == f"pkd/{network}")
    step = StepContext(batch, epoch, {name: assembly.modality_of(name) for name in assembly.networks}, torch.device("cpu"))
    with torch.no_grad():
        return float(objective.loss(step))


def distilled_from(assembly, batch, network: str, teacher: str, epoch: int) -> float:
    """The loss of ``network``'s exits with ``teacher``'s final head as target (the trained network's own: itself)."""
    student = assembly.plans["pkd"].networks[network]
    step = StepContext(batch, epoch, {name: assembly.modality_of(name) for name in assembly.networks}, torch.device("cpu"))
    with torch.no_grad():
        exits = step.outputs(network, student).consensus()
        target = step.outputs(teacher, assembly.networks[teacher]).consensus()["final"]
        return float(sum(distillation_loss(exits[name], target) for name in student.heads))


def test_the_published_code_preset_ends_each_network_with_its_own_head(tiny_recipe, toy_plugins):
    assembly, batch = planned(tiny_recipe, toy_plugins, "published_code")
    expected = {"mv": ["mv", "residual", "mv"], "residual": ["mv", "residual", "residual"], "iframe": ["mv", "residual", "iframe"]}
    for network, teachers in expected.items():
        for epoch, teacher in enumerate(teachers):
            assert loss_at(assembly, batch, network, epoch) == pytest.approx(
                distilled_from(assembly, batch, network, teacher, epoch), rel=1e-5
            ), (network, epoch, teacher)
    # the MV exits end with the MV head, not the I-frame head the paper's text names
    last_mv = loss_at(assembly, batch, "mv", 5)
    assert last_mv != pytest.approx(distilled_from(assembly, batch, "mv", "iframe", 5), rel=1e-3)


def test_the_paper_text_preset_ends_every_network_with_the_iframe_head(tiny_recipe, toy_plugins):
    assembly, batch = planned(tiny_recipe, toy_plugins, "paper_text")
    for network in ("mv", "residual", "iframe"):
        assert loss_at(assembly, batch, network, 2) == pytest.approx(
            distilled_from(assembly, batch, network, "iframe", 2), rel=1e-5
        )
        assert loss_at(assembly, batch, network, 0) == pytest.approx(distilled_from(assembly, batch, network, "mv", 0), rel=1e-5)


def test_a_preset_writes_out_what_it_means(tiny_recipe, toy_plugins):
    recipe = load_recipe(tiny_recipe(), toy_plugins.registry, [SCHEDULE.format(preset="published_code")])
    (pkd,) = recipe.schedules
    assert (pkd.teachers, pkd.shares) == (["mv", "residual", "self"], "published")


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("{name: pkd, teachers: [mv, self, self]}", "teachers lists 'self' more than once"),
        ("{name: pkd, teachers: [mv, residual], shares: published}", "shares 'published' are the released code's 1/6, 1/6, 2/3 of three teachers"),
        ("{name: pkd, teachers: [mv, residual], shares: [1, 2, 3]}", "shares lists 3 weight(s) for 2 teacher(s)"),
        ("{name: pkd, teachers: auto, switch_epochs: [1]}", "with teachers: auto the number of teachers is the recipe's networks"),
        ("{name: pkd, teachers: [mv, rgb]}", "'rgb' is not one of the recipe's networks"),
    ],
)
def test_teacher_lists_that_make_no_sense_are_refused(tiny_recipe, toy_plugins, schedule, message):
    with pytest.raises(RecipeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_recipe(tiny_recipe(), toy_plugins.registry, [f"schedules=[{schedule}]"])


def test_teachers_auto_needs_networks_to_order(tiny_recipe, toy_plugins):
    overrides = ["networks={mv: {modality: mv, backbone: {name: timm, model: test_resnet}, exits: [{name: light, at: 1}]}}",
                 "schedules=[{name: pkd, teachers: auto}]"]  # fmt: skip
    with pytest.raises(RecipeError, match=r"teachers: auto orders the recipe's networks .* and it has 1 \(mv\)"):
        load_recipe(tiny_recipe(), toy_plugins.registry, overrides)


def test_a_network_named_self_cannot_be_told_from_the_self_teacher(tiny_recipe, toy_plugins):
    recipe = tiny_recipe().read_text().replace("  iframe:\n    modality: iframe", "  self:\n    modality: iframe")
    path = tiny_recipe(name="self.yaml")
    path.write_text(recipe)
    with pytest.raises(RecipeError, match="a network is named 'self'"):
        load_recipe(path, toy_plugins.registry, ["schedules=[{name: pkd, teachers: [mv, residual, self]}]"])


def test_a_network_asked_for_by_name_must_have_exits(tiny_recipe, toy_plugins):
    from pkd_toolkit.errors import UsageError

    recipe = load_recipe(
        tiny_recipe(), toy_plugins.registry,
        ["networks.iframe.exits=[]", "schedules=[{name: pkd, networks: [iframe], teachers: [mv, self]}]"],
    )  # fmt: skip
    with pytest.raises(UsageError, match="schedule 'pkd': network 'iframe' has no exits to train"):
        assemble(recipe, toy_plugins.registry, num_classes=3)
