"""Built-in plugin ``wise``: the ensemblers ``sum`` (no scaling), ``fusion`` (fixed weights per network) and ``wise``.

Each combines the exits of every network, taken in an order, into one
prediction per stage: the ensemble of stage k sums the raw (segment-consensus)
logits of the first k exits, each scaled by a weight. ``sum`` uses weight 1,
``fusion`` a fixed weight per network (CoViAR's late fusion), and ``wise``
(Weighted Inference with Scaled Ensemble) learns one weight per (stage, earlier
exit) on the train split's score files. See docs/ensembles.md.

``config`` declares their settings and ``hooks`` registers them; the
implementations (``ensemblers``, ``fitting``) are imported when a component is
built, so that listing plugins loads neither numpy nor torch.
"""
