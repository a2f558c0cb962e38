"""Data: what the engine expects of dataset and modality components (``protocol``), and the validation split the
core carves out of any data set's training videos (``validation``).

The core knows clips, labels and modalities, nothing about video: dataset
components (the ``video`` plugin's, or a third party's) fulfil the protocol.

May import: ``recipe``, ``plugin`` and the foundation modules (and torch, for types).
"""
