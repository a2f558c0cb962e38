"""Names that become file or folder names (labels, component names, stage names, network names, run names) are
checked by the core, whoever defines them: nothing is ever written outside the run folder."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from pydantic import Field

from pkd_toolkit.api import ComponentConfig, hookimpl
from pkd_toolkit.errors import PkdError, UsageError
from pkd_toolkit.plugin.manager import load_plugins
from pkd_toolkit.run_folder import layout

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pkd-example-plugin" / "src"
ESCAPE = "../../../../escape"


@pytest.fixture
def example_plugins(toy_plugins_with):
    """The toy plugins plus the example third-party plugin (its ensembler has a free-text ``label``)."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        import pkd_example_plugin
    finally:
        sys.path.remove(str(EXAMPLE))
    return toy_plugins_with(("example", pkd_example_plugin))


def files_under(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*")}


def test_a_third_party_label_that_climbs_out_is_refused_and_nothing_is_written(cli, tiny_recipe, example_plugins, tmp_path):
    recipe = tiny_recipe(extra="ensembles: [{name: max_confidence}]\n")
    before = files_under(tmp_path)
    result = cli("run", recipe, "--set", f"ensembles.0.label={ESCAPE}", plugins=example_plugins)
    assert result.code == 2
    assert f"--set ensembles.0.label={ESCAPE}: ensembles[0].label: {ESCAPE!r} cannot name a file" in result.err
    assert files_under(tmp_path) == before  # no run folder, nothing outside it
    assert not list(tmp_path.parent.rglob("escape"))


def test_eval_refuses_it_too_and_leaves_the_run_folder_alone(cli, make_run, example_plugins, tmp_path):
    run_dir = make_run()
    before = files_under(tmp_path)
    result = cli("eval", run_dir, "--set", f"ensembles.0.label={ESCAPE}", plugins=example_plugins)
    assert result.code == 2 and "cannot name a file" in result.err
    assert files_under(tmp_path) == before


class LooseScheduleConfig(ComponentConfig):
    """A third-party schedule whose label has no pattern of its own."""

    label: str | None = Field(default=None)


loose_plugin = types.SimpleNamespace(
    pkd_add_schedules=hookimpl(lambda registry: registry.add("loose", lambda config: config, config=LooseScheduleConfig))
)


@pytest.mark.parametrize("label", ["../up", "a/b", ".hidden", "", "x" * 101, "tab\there"])
def test_any_label_field_is_checked_whoever_defines_it(cli, tiny_recipe, toy_plugins_with, label):
    plugins = toy_plugins_with(("loose", loose_plugin))
    result = cli("validate", tiny_recipe(), "--set", f"schedules.0={{name: loose, label: {label!r}}}", plugins=plugins)
    assert result.code == 2 and "schedules[0].label" in result.err and "cannot name a file" in result.err


def test_good_labels_pass(cli, tiny_recipe, toy_plugins_with):
    plugins = toy_plugins_with(("loose", loose_plugin))
    result = cli("validate", tiny_recipe(), "--set", "schedules.0={name: loose, label: ce_v2.1-b}", plugins=plugins)
    assert result.code == 0, result.err


def test_a_component_name_that_cannot_name_a_file_is_refused_at_registration():
    plugin = types.SimpleNamespace(
        pkd_add_ensemblers=hookimpl(lambda registry: registry.add("../evil", lambda config: config))
    )
    info = load_plugins([("evil", plugin)], autoload=False).infos["evil"]
    assert info.skipped and "'../evil' cannot name a file" in info.error


@pytest.mark.parametrize(
    "call",
    [
        lambda run: layout.score_path(run, "..", "test"),
        lambda run: layout.score_path(run, "pkd", "../../test"),
        lambda run: layout.best_checkpoint(run, "../stage"),
        lambda run: layout.fitted_path(run, "pkd", "../../../x"),
        lambda run: layout.confusion_stem(run, "pkd", "mv", "/etc/passwd"),
        lambda run: layout.ensembles_dir(run, "a/b"),
    ],
)
def test_run_folder_paths_refuse_a_name_that_would_leave_the_folder(call, tmp_path):
    with pytest.raises(PkdError, match="cannot name a file"):
        call(tmp_path)


def test_a_schedule_whose_stage_name_cannot_name_a_file_is_refused_before_training(tiny_recipe, toy_plugins_with):
    from pkd_toolkit.engine.assembly import assemble
    from pkd_toolkit.engine.stages import SchedulePlan, Stage
    from pkd_toolkit.recipe.loading import load_recipe

    class Sneaky:
        def __init__(self, config):
            pass

        def plan(self, context):
            network = context.new_exits("mv")
            return SchedulePlan([Stage("../../sneaky", 1, [], [network.heads], {})], {"mv": network}, network.heads)

    plugin = types.SimpleNamespace(pkd_add_schedules=hookimpl(lambda registry: registry.add("sneaky", Sneaky)))
    plugins = toy_plugins_with(("sneaky", plugin))
    recipe = load_recipe(tiny_recipe(), plugins.registry, ["schedules=[{name: sneaky}]"])
    with pytest.raises(UsageError, match=r"schedules\[0\] \(sneaky\): its stage '\.\./\.\./sneaky' cannot name a file"):
        assemble(recipe, plugins.registry, 3).stages()
