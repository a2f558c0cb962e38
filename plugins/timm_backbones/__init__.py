"""Built-in plugin ``timm_backbones``: the ``timm`` backbone component, any timm model with its stages as exit points.

``hooks`` registers it; ``config`` is its recipe section (light: timm is
imported by the model-name check only when a recipe names a timm model);
``backbone`` builds the model and runs it stage by stage, cutting
``forward_features`` as ``stages`` finds.
"""
