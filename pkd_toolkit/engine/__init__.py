"""The training engine: stages, the training loop, checkpoints, torchrun processes, evaluation.

Imported only by ``pkd run`` and friends: it imports torch.
"""
