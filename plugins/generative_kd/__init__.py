"""Built-in plugin ``generative_kd``: the ``gkd`` schedule, generative-model-based feature distillation (Wang et al., AAAI 2024).

A copy of a student network learns from a frozen teacher network at one
feature layer: phase 1 fits the teacher's attention head and conditional VAE;
phase 2 alternates epochs of the student's CVAE and epochs of the student
network. The base student, trained with cross entropy alone, stays the
baseline. Every weight and optimizer setting is in the recipe with the
published values as defaults; docs/gkd.md describes the method and the choices.

``config`` is its recipe section, ``schedule`` its plan for the engine,
``modules`` the attention heads, CVAEs and losses; ``hooks`` registers it
(light at import: the plan and the modules import torch when it is built).
"""
