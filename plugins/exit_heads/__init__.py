"""Built-in plugin ``exit_heads``: exit components, the heads of early exits (``config``, ``heads``; ``hooks`` registers them).

``paper_ic``, the internal classifier of the PKD paper: conv -> BatchNorm ->
adaptive average pool to 4x4 -> flatten -> linear, no activation. Sized from
the stage it reads; its published convs are expressible per exit::

    # ResNet-18: 7x7 (padding 1) 64->64, then 3x3 128->128 and 3x3 256->256
    - {name: paper_ic, at: layer1, kernel_size: 7, padding: 1}
    - {name: paper_ic, at: layer2}
    - {name: paper_ic, at: layer3}
    # ResNet-50: 3x3 256->64, 3x3 512->256, 3x3 1024->1024
    - {name: paper_ic, at: layer1, out_channels: 64}
    - {name: paper_ic, at: layer2, out_channels: 256}
    - {name: paper_ic, at: layer3}

``light``: timm's classifier head (global pool, dropout, linear), the
cheapest exit. Torch and timm are imported by the factories, not here.
"""
