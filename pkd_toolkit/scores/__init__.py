"""Score files: every exit's logits for a split (``files``), and what logits are worth (``metrics``).

The engine writes score files once training is done; ensembles are fitted and
evaluated on them and the report is built from them, so ``pkd eval`` can
rebuild everything without a network.

May import: ``run_folder`` (paths) and the foundation modules. Needs numpy, not torch.
"""
