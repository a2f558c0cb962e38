"""Data: what the engine expects of dataset and modality components (``protocol``).

The core knows clips, labels and modalities, nothing about video: dataset
components (the ``video`` plugin's, or a third party's) fulfil the protocol.

May import: the foundation modules (and torch, for types).
"""
