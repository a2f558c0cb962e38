"""The ``gkd`` plan on tiny backbones: its stages, who owns which parameters, where gradients go."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from pkd_plugins.generative_kd.schedule import GenerativeSchedule
from pkd_toolkit.engine.stages import Objective, SchedulePlan
from pkd_toolkit.errors import PkdError, UsageError
from pkd_toolkit.networks.multi_exit import MultiExitNetwork

from .tiny import assert_close, step_context


@dataclass
class Planned:
    """A plan and the run's two networks it was made for."""

    plan: SchedulePlan
    teacher: MultiExitNetwork
    base_student: MultiExitNetwork

    @property
    def modules(self):
        return self.plan.modules

    def objectives(self) -> dict[str, Objective]:
        return {objective.name: objective for stage in self.plan.stages for objective in stage.objectives}

    def gradients_from(self, name: str, step) -> set[str]:
        """Back-propagate one objective's loss as the engine does; name the modules whose parameters got gradients.

        As in the engine, the parameters of the objectives active at this step require gradients and nothing else does.
        """
        stage = next(s for s in self.plan.stages if any(o.name == name for o in s.objectives))
        owners = {
            **{id(p): "teacher-network" for p in self.teacher.parameters()},
            **{id(p): "base-student" for p in self.base_student.parameters()},
            **{id(p): key for key, module in self.modules.items() for p in module.parameters()},
            **{id(p): "student-attention" for p in self.modules["student"].backbone.attention.parameters()},
        }
        everything = [*self.teacher.parameters(), *self.base_student.parameters(), *self.modules.parameters()]
        for parameter in everything:
            parameter.grad = None
            parameter.requires_grad_(False)
        for parameter in (p for o in stage.objectives if o.active(step.epoch) for p in o.parameters):
            parameter.requires_grad_(True)
        self.objectives()[name].loss(step).backward()
        return {owners[id(p)] for p in everything if p.grad is not None and p.grad.abs().sum() > 0}


@pytest.fixture
def planned(schedule_context, gkd_config):
    """``planned(**gkd_settings, teacher_widths=..., student_widths=...)``: the gkd plan on tiny networks."""

    def make(**settings) -> Planned:
        widths = {key: settings.pop(key) for key in ("teacher_widths", "student_widths") if key in settings}
        context = schedule_context(**widths)
        plan = GenerativeSchedule(gkd_config(**settings)).plan(context)
        return Planned(plan, context.networks["teacher"], context.networks["student"])

    return make


def test_the_plan_has_a_teacher_phase_then_a_student_phase_of_two_engine_epochs_per_epoch(planned):
    gkd = planned(teacher_epochs=3, epochs=4)
    assert [(stage.name, stage.epochs) for stage in gkd.plan.stages] == [("gkd-teacher", 3), ("gkd-student", 8)]
    teacher, student = gkd.plan.stages
    assert [o.name for o in teacher.objectives] == ["teacher-attention", "teacher-cvae"]
    assert all(o.active(epoch) for o in teacher.objectives for epoch in range(3))
    cvae, network = student.objectives
    assert (cvae.name, network.name) == ("student-cvae", "student")
    assert [cvae.active(e) for e in range(4)] == [True, False, True, False]
    assert [network.active(e) for e in range(4)] == [False, True, False, True]
    assert list(gkd.plan.networks) == ["student"] and gkd.plan.networks["student"] is gkd.modules["student"]
    assert set(student.evaluate) == {"student"} and set(teacher.evaluate) == {"teacher"}


def test_the_published_optimizers_are_the_defaults(planned):
    objectives = planned().objectives()
    network, cvae = objectives["student"], objectives["student-cvae"]
    assert (network.optimizer.name, network.lr, network.optimizer.momentum, network.optimizer.weight_decay) == (
        "sgd", 1e-3, 0.9, 5e-4)  # fmt: skip
    assert (cvae.optimizer.name, cvae.lr) == ("adam", 1e-4)
    assert objectives["teacher-cvae"].optimizer == cvae.optimizer
    assert objectives["teacher-attention"].optimizer == network.optimizer  # teacher_optimizer defaults to it


def test_objectives_own_disjoint_parameters_and_never_the_run_networks(planned):
    gkd = planned()
    owned = [id(p) for objective in gkd.objectives().values() for p in objective.parameters]
    assert len(owned) == len(set(owned))
    run_networks = {id(p) for p in [*gkd.teacher.parameters(), *gkd.base_student.parameters()]}
    assert not run_networks & set(owned)
    # everything trained is in the plan's modules (checkpoints cover it); the teacher network is not
    in_modules = {id(p) for p in gkd.modules.parameters()}
    assert set(owned) <= in_modules and not run_networks & in_modules


def test_the_student_copy_starts_from_the_base_students_weights_as_separate_tensors(planned):
    gkd = planned()
    base = gkd.base_student.backbone.state_dict()
    copy = gkd.modules["student"].backbone.inner.state_dict()
    assert base.keys() == copy.keys()
    for key in base:
        assert_close(copy[key], base[key])
        assert copy[key].data_ptr() != base[key].data_ptr()


def test_an_adapter_appears_only_when_the_widths_differ(planned):
    narrower = planned(teacher_widths=(4, 8), student_widths=(4, 6))
    adapter_parameters = {id(p) for p in narrower.modules["adapter"].parameters()}
    assert adapter_parameters and adapter_parameters <= {id(p) for p in narrower.objectives()["student"].parameters}
    assert narrower.modules["student_cvae"].channels == narrower.modules["teacher_cvae"].channels == 8
    same = planned(teacher_widths=(4, 6), student_widths=(4, 6))
    assert not list(same.modules["adapter"].parameters())


def test_phase_one_trains_the_teachers_attention_and_cvae_and_nothing_else(planned):
    gkd = planned()
    assert gkd.gradients_from("teacher-attention", step_context()) == {"teacher_attention"}
    assert gkd.gradients_from("teacher-cvae", step_context()) == {"teacher_cvae"}


def test_phase_two_steps_touch_only_their_own_side(planned):
    gkd = planned()
    # (a) the student's CVAE, the student network frozen
    assert gkd.gradients_from("student-cvae", step_context(epoch=0)) == {"student_cvae"}
    # (b) the student network with its attention head and adapter, the CVAEs frozen
    assert gkd.gradients_from("student", step_context(epoch=1)) == {"student", "student-attention", "adapter"}


def loss_and_terms(gkd: Planned, objective: str, epoch: int) -> tuple[float, dict[str, float]]:
    """One objective's loss on a batch of engine epoch ``epoch``, and the terms it recorded."""
    step = step_context(epoch=epoch)
    return float(gkd.objectives()[objective].loss(step).detach()), step.metrics


def test_the_student_loss_weights_its_terms_as_published(planned):
    gkd = planned(epochs=30)
    for epoch, ramp in ((1, 1 / 20), (21, 11 / 20), (59, 1.0)):  # engine epochs 1, 21, 59: GKD epochs 1, 11, 30
        total, terms = loss_and_terms(gkd, "student", epoch)
        assert terms["gkd/generative_weight"] == pytest.approx(0.5 * ramp)
        expected = terms["gkd/ce"] + 0.5 * ramp * terms["gkd/generative"] + 0.1 * terms["gkd/attention"]
        assert total == pytest.approx(expected, rel=1e-5)
    total, terms = loss_and_terms(gkd, "student-cvae", 0)
    assert total == pytest.approx(terms["gkd/student_cvae"] + 0.01 * terms["gkd/cvae_distillation"], rel=1e-5)


def test_every_weight_comes_from_the_recipe(planned):
    gkd = planned(generative_weight=2.0, generative_ramp_epochs=0, attention_weight=3.0, cvae_distillation_weight=0.5)
    total, terms = loss_and_terms(gkd, "student", 1)
    assert total == pytest.approx(
        terms["gkd/ce"] + 2.0 * terms["gkd/generative"] + 3.0 * terms["gkd/attention"], rel=1e-5
    )
    total, terms = loss_and_terms(gkd, "student-cvae", 0)
    assert total == pytest.approx(terms["gkd/student_cvae"] + 0.5 * terms["gkd/cvae_distillation"], rel=1e-5)


def test_the_layer_defaults_to_the_last_stage_and_may_be_a_stage_number(planned):
    assert planned(layer=None).modules["student"].backbone.layer == "block2"
    gkd = planned(layer=1)
    assert gkd.modules["student"].backbone.layer == "block1"
    assert gkd.modules["teacher_cvae"].channels == 4


def test_a_layer_that_a_backbone_lacks_is_refused_with_its_stages(planned):
    with pytest.raises(UsageError) as error:
        planned(layer="layer4")
    message = str(error.value)
    assert "schedule 'gkd': layer: network 'teacher'" in message
    assert "has no stage 'layer4'" in message and "1: block1, 2: block2" in message
    with pytest.raises(UsageError, match="has no stage 3"):
        planned(layer=3)


def test_teacher_and_student_clips_must_have_as_many_segments(planned):
    gkd = planned()
    with pytest.raises(PkdError, match="clips of 2 and 3 segments"):
        gkd.objectives()["student"].loss(step_context(epoch=1, student_segments=3))


def test_planning_again_builds_the_same_modules_whatever_the_random_state(schedule_context, gkd_config):
    # a resumed run plans again and loads its checkpoint into the result: same names, same shapes, and here
    # even the same initial values, so two runs of one recipe start GKD alike
    states = []
    for seed in (1, 2):
        context = schedule_context()
        torch.manual_seed(seed)
        states.append(GenerativeSchedule(gkd_config()).plan(context).modules.state_dict())
    first, second = states
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)


def test_every_loss_runs_under_mixed_precision(planned):
    # the engine's AMP is CUDA's float16; CPU bfloat16 autocast checks the same dtype mixing here
    gkd = planned()
    for name, objective in gkd.objectives().items():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = objective.loss(step_context(epoch=1))
        assert loss.dtype == torch.float32 and torch.isfinite(loss), name
        loss.backward()
