"""Built-in plugin ``wise``: the ensemblers ``sum`` and ``mean`` (no scaling), ``fusion`` (fixed weights per
network) and ``wise``.

Each combines the exits of every network, taken in an order, into one
prediction per stage: the ensemble of stage k sums the raw (segment-consensus)
logits of the first k exits, each scaled by a weight. ``sum`` uses weight 1,
``mean`` 1/k (the released code's "no scaling" baseline, whose last stage
averages the final heads), ``fusion`` a fixed weight per network (CoViAR's late
fusion), and ``wise`` (Weighted Inference with Scaled Ensemble) learns one
weight per (stage, earlier exit) on held-out score files (the train split's
when there is no validation split). See docs/ensembles.md and docs/fidelity.md.

``config`` declares their settings and ``hooks`` registers them; the
implementations (``ensemblers``, ``fitting``) are imported when a component is
built, so that listing plugins loads neither numpy nor torch.
"""
