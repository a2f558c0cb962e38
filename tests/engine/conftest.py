"""A tiny recipe that exercises the whole pipeline on the toy test plugin in seconds."""

from __future__ import annotations

import pytest

TINY_RECIPE = """\
name: tiny
seed: 3
output_dir: {output_dir}
data: {{name: toy, classes: 3, train_size: 24, test_size: 12, size: 16, segments: 2}}
modalities:
  mv: {{name: toy, channels: 2}}
  residual: {{name: toy}}
  iframe: {{name: toy}}
networks:
  mv:
    modality: mv
    backbone: {{name: timm, model: test_resnet}}
    exits: [{{name: paper_ic, at: 1}}, {{name: paper_ic, at: 2}}]
  residual:
    modality: residual
    backbone: {{name: timm, model: test_resnet}}
    exits: [{{name: light, at: 1}}, {{name: light, at: 2}}]
  iframe:
    modality: iframe
    backbone: {{name: timm, model: test_resnet}}
    exits: [{{name: light, at: 2}}]
train: {{batch_size: 8, eval_every: 1}}
backbones: {{epochs: {backbone_epochs}, optimizer: {{name: adam, lr: 0.003}}}}
schedules:
  - {{name: ce, epochs: {exit_epochs}, optimizer: {{name: adam, lr: 0.003}}}}
  - {{name: pkd, epochs: {exit_epochs}, optimizer: {{name: adam, lr: 0.003}}, switch_epochs: {switches}}}
"""


@pytest.fixture
def tiny_recipe(write, tmp_path):
    """Write the tiny recipe; keyword arguments change its epochs."""

    def make(backbone_epochs: int = 2, exit_epochs: int = 3, name: str = "tiny.yaml", extra: str = "") -> object:
        switches = [1, 2] if exit_epochs >= 3 else None
        text = TINY_RECIPE.format(
            output_dir=tmp_path / "runs",
            backbone_epochs=backbone_epochs,
            exit_epochs=exit_epochs,
            switches="null" if switches is None else switches,
        )
        return write(name, text + extra)

    return make


def run_in_process(recipe, run_dir, plugins=None) -> None:
    """``pkd run RECIPE --run-dir RUN_DIR`` in this process, with ``plugins`` loaded (None: the installed ones)."""
    import pkd_toolkit.plugins as plugin_module
    from pkd_toolkit.cli import main

    saved = plugin_module._loaded
    plugin_module._loaded = plugins
    try:
        main(["run", str(recipe), "--run-dir", str(run_dir)])
    except SystemExit as exit:
        assert exit.code in (0, None)
    finally:
        plugin_module._loaded = saved
