"""Built-in plugin ``progressive_kd``: the exit schedules of the PKD paper (``config``, ``schedules``; ``hooks``
registers them).

``ce``  every exit learns the labels with cross entropy (the baseline);
``pkd`` every exit learns from a sequence of frozen teachers' final heads,
        switching teacher by epoch: by default the motion-vector network, then
        the residual network, then the I-frame network.

Both train the exits of frozen backbones and run in lockstep when a recipe
uses both, so they see the same batches and share the backbones' passes.
"""
