"""The training engine: where the run computes (``runtime``), what schedules give it (``stages``), the run's
networks and plans (``run_model``, ``assembly``, ``backbone_stage``), data loaders (``loaders``), the training
loop (``trainer``), training across torchrun processes (``parallel``: DDP, SyncBatchNorm), checkpoints (``checkpoint``), optimisers (``optim``), logs and metrics (``monitor``),
predictions over a split (``predictions``) and the score files (``scoring``).

May import: ``networks``, ``scores``, ``data``, ``recipe``, ``plugin``,
``run_folder`` and the foundation modules. Imports torch.

timm is a dependency of the core, not only of the ``timm_backbones`` plugin:
``optim`` builds every optimiser and learning-rate schedule with timm's
factories (``create_optimizer_v2``, ``create_scheduler_v2``), which give the
recipes a wide, well-tested choice (Adam, LAMB, Lion, cosine with warm-up ...)
for one small module. Making optimisers a plugin component would add a kind
of component nobody has asked to replace; if that changes, ``optim`` is the
only place to cut.
"""
