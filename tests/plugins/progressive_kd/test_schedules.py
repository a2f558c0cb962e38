"""The PKD schedule's parts: the teacher of each epoch and the distillation loss, against their definitions."""

from __future__ import annotations

import numpy as np
import torch

from pkd_plugins.progressive_kd.schedules import distillation_loss, switch_epochs, teacher_at


def test_pkd_switches_teachers_by_epoch():
    teachers = ["mv", "residual", "iframe"]
    assert [teacher_at(e, teachers, [50, 100]) for e in (0, 49, 50, 99, 100, 299)] == [
        "mv", "mv", "residual", "residual", "iframe", "iframe"]  # fmt: skip
    assert [teacher_at(e, teachers, switch_epochs(3, 6)) for e in range(6)] == [
        "mv", "mv", "residual", "residual", "iframe", "iframe"]  # fmt: skip
    assert teacher_at(5, ["iframe"], switch_epochs(1, 6)) == "iframe"


def test_shares_place_the_switches():
    assert switch_epochs(3, 300, "published") == [50, 100]  # the released code: 50 and 100 of 300
    assert switch_epochs(3, 30, "published") == [5, 10]
    assert switch_epochs(3, 20, "equal") == [7, 13]
    assert switch_epochs(2, 10, [1, 4]) == [2]


def test_distillation_loss_golden_values():
    student = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    teacher = torch.tensor([[2.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    for temperature in (1.0, 2.0):
        p = np.exp(teacher.numpy() / temperature)
        p /= p.sum(1, keepdims=True)
        q = np.exp(student.numpy() / temperature)
        q /= q.sum(1, keepdims=True)
        expected = (p * (np.log(p) - np.log(q))).sum(1).mean()
        assert abs(float(distillation_loss(student, teacher, temperature)) - expected) < 1e-6
    assert abs(float(distillation_loss(teacher, teacher))) < 1e-6
