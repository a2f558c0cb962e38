"""``pkd recipes``: the packaged recipes listed, copied out (never over a file unless asked), run by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pkd_toolkit.recipe.packaged import packaged_recipes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """A working directory outside the repository, as after `pip install`."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_packaged_recipes_are_the_repository_recipes():
    assert set(packaged_recipes()) == {path.stem for path in (ROOT / "recipes").glob("*.yaml")} >= {"quickstart"}


def test_pkd_recipes_lists_them_with_their_description(cli):
    listed = cli("recipes")
    assert listed.code == 0, listed.err
    assert "quickstart" in listed.out and "synthetic compressed-video actions" in listed.out
    entries = json.loads(cli("recipes", "--json").out)
    assert {entry["name"] for entry in entries} == set(packaged_recipes())
    assert all(Path(entry["path"]).is_file() for entry in entries)


def test_copy_writes_the_recipe_with_its_comments(cli, elsewhere):
    result = cli("recipes", "copy", "quickstart")
    assert result.code == 0, result.err
    assert (elsewhere / "quickstart.yaml").read_text() == packaged_recipes()["quickstart"].read_text()
    (elsewhere / "mine").mkdir()
    assert cli("recipes", "copy", "hmdb51_pkd", "mine").code == 0
    assert (elsewhere / "mine" / "hmdb51_pkd.yaml").read_text().startswith("# PKD and WISE on HMDB51")


def test_copy_onto_an_existing_file_is_refused_unless_forced(cli, elsewhere):
    target = elsewhere / "edited.yaml"
    target.write_text("name: my_own_work\n")
    refused = cli("recipes", "copy", "quickstart", target)
    assert refused.code == 2
    assert f"{target}: already exists; choose another destination, or overwrite it with --force" in " ".join(
        refused.err.split()
    )
    assert refused.err.count("error:") == 1 and target.read_text() == "name: my_own_work\n"
    assert cli("recipes", "copy", "quickstart", target, "--force").code == 0
    assert target.read_text() == packaged_recipes()["quickstart"].read_text()


def test_an_unknown_name_is_refused_with_the_choices(cli, elsewhere):
    for args in (("recipes", "copy", "quickstrat"), ("validate", "quickstrat")):
        result = cli(*args)
        assert result.code == 2 and "quickstrat" in result.err
        assert "hmdb51_pkd, quickstart" in " ".join(result.err.split())
    assert not list(elsewhere.iterdir())


def test_a_bare_name_runs_the_packaged_recipe_and_a_file_of_that_name_wins(cli, elsewhere):
    result = cli("validate", "quickstart")
    assert result.code == 0, result.err
    assert "valid recipe 'quickstart'" in result.out
    assert cli("recipes", "copy", "quickstart").code == 0
    (elsewhere / "quickstart.yaml").write_text(packaged_recipes()["quickstart"].read_text().replace("seed: 0", "seed: 5"))
    edited = cli("validate", "quickstart", "--print")  # the edited copy here is what the user means
    assert edited.code == 0 and "seed: 5" in edited.out
    (elsewhere / "quickstart").write_text("name: [not, valid]\n")  # and a file named exactly so, first
    assert cli("validate", "quickstart").code == 2
