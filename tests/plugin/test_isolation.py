"""Plugin isolation, completely: whatever a plugin does wrong, it is named, skipped whole or stops a run with one
message, and every other plugin and command keeps working."""

from __future__ import annotations

import types

import pytest

from pkd_toolkit.api import hookimpl
from pkd_toolkit.plugin import failures
from pkd_toolkit.plugin.manager import AUTOLOAD_ENV, BLOCK_ENV, load_plugins

BUILTINS = {"video", "timm_backbones", "exit_heads", "progressive_kd", "generative_kd", "wise"}
GOOD_PLUGIN = """
from pkd_toolkit.api import ComponentConfig, hookimpl

@hookimpl
def pkd_add_ensemblers(registry):
    registry.add("vote", lambda config: config, config=ComponentConfig, help="majority vote")
"""


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
        ("class Stop(BaseException):\n    pass\n\nraise Stop('bye')\n", "Stop: bye"),
    ],
)
def test_a_plugin_that_exits_while_importing_is_skipped_and_pkd_keeps_working(cli, fake_distribution, source, shown):
    fake_distribution("pkd-exits", {"pkd_exits": source}, {"exits": "pkd_exits"})
    plugins = load_plugins()
    assert f"failed to import pkd_exits: {shown}" in plugins.infos["exits"].error
    assert plugins.infos["exits"].skipped and set(plugins.infos) == BUILTINS | {"exits"}
    for args in (["--help"], ["--version"], ["list-plugins"]):
        result = cli(*args, plugins=plugins)
        assert result.code == 0, (args, result.err)
    assert shown in cli("list-plugins", "--json", plugins=plugins).out


def test_keyboard_interrupt_while_importing_is_not_swallowed(fake_distribution):
    fake_distribution("pkd-slow", {"pkd_slow": "raise KeyboardInterrupt\n"}, {"slow": "pkd_slow"})
    with pytest.raises(KeyboardInterrupt):
        load_plugins()


class HalfBroken:
    """Registers an ensembler and a command, then fails in another registration hook; also has a lifecycle hook."""

    def __init__(self):
        self.started = []

    @hookimpl
    def pkd_add_datasets(self, registry):
        registry.add("half_dataset", lambda config: None)

    @hookimpl
    def pkd_add_exits(self, registry):
        raise RuntimeError("exits are not ready")

    @hookimpl
    def pkd_add_ensemblers(self, registry):
        registry.add("half_ensembler", lambda config: None)

    @hookimpl
    def pkd_add_commands(self, cli):
        @cli.command("half-command")
        def half():
            """Should not exist."""

    @hookimpl
    def pkd_run_start(self, run):
        self.started.append(run)


def test_a_skipped_plugin_has_none_of_its_hooks_called(cli):
    broken = HalfBroken()
    plugins = load_plugins([("half", broken)], autoload=False)
    info = plugins.infos["half"]
    assert info.skipped and "pkd_add_exits raised RuntimeError: exits are not ready" in info.error
    assert "half_dataset" not in plugins.registry.names("datasets")  # registered before the failure: withdrawn
    assert "half_ensembler" not in plugins.registry.names("ensemblers")  # after it: never called
    assert info.components == {} and plugins.manager.get_plugin("half") is None
    plugins.hook.pkd_run_start(run=None)
    assert broken.started == []
    assert cli("half-command", plugins=plugins).code == 2  # "No such command"
    warned = cli("schema", plugins=plugins).err
    assert "plugin 'half' (in-process) is skipped: pkd_add_exits raised RuntimeError: exits are not ready" in warned


def test_a_command_hook_that_fails_half_way_adds_no_command(cli):
    plugin = types.SimpleNamespace()

    def add(cli):
        @cli.command()
        def first():
            """Added before the failure."""

        raise ValueError("second command broken")

    plugin.pkd_add_commands = hookimpl(specname="pkd_add_commands")(add)
    plugins = load_plugins([("commands", plugin)], autoload=False)
    assert cli("first", plugins=plugins).code == 2  # "No such command"
    assert "pkd_add_commands raised ValueError: second command broken" in plugins.infos["commands"].error
    assert cli("--help", plugins=plugins).code == 0


def test_a_name_clash_is_a_warning_and_keeps_the_plugins_other_components(fake_distribution):
    source = GOOD_PLUGIN + "\n@hookimpl\ndef pkd_add_backbones(registry):\n    registry.add('timm', lambda config, **context: None)\n"
    fake_distribution("pkd-clash", {"pkd_clash": source}, {"clash": "pkd_clash"})
    info = load_plugins().infos["clash"]
    assert not info.skipped and info.components == {"ensemblers": ["vote"]}
    assert "backbone 'timm' is already registered by plugin 'timm_backbones'" in info.error


def test_only_the_toolkits_own_distribution_counts_as_built_in(fake_distribution, monkeypatch):
    fake_distribution("pkd-toolkit", {"pkd_stray": GOOD_PLUGIN}, {"stray": "pkd_stray"}, version="9.9")
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    plugins = load_plugins()
    assert "stray" not in plugins.infos and "vote" not in plugins.registry.names("ensemblers")
    assert set(plugins.infos) == BUILTINS  # the real built-ins are still found beside the stray metadata
    monkeypatch.delenv(AUTOLOAD_ENV)
    assert load_plugins().infos["stray"].origin == "pkd-toolkit 9.9 (not the installed toolkit)"


def test_an_entry_point_name_clash_names_the_plugin_actually_skipped(cli, fake_distribution):
    fake_distribution("pkd-vote", {"pkd_vote": GOOD_PLUGIN}, {"vote": "pkd_vote"})
    fake_distribution("pkd-vote-two", {"pkd_vote_two": GOOD_PLUGIN}, {"vote": "pkd_vote_two"})
    plugins = load_plugins()
    loaded = plugins.infos["vote"]
    skipped = "pkd-vote-two" if loaded.origin == "pkd-vote" else "pkd-vote"
    assert loaded.error is None and not loaded.skipped
    result = cli("schema", plugins=plugins)
    assert f"entry point 'vote' of {skipped}" in result.err and "is skipped: a plugin named 'vote' is already loaded" in result.err
    assert f"plugin 'vote' ({loaded.origin}) is skipped" not in result.err


def test_blocking_a_name_that_no_plugin_has_warns(cli, monkeypatch):
    monkeypatch.setenv(BLOCK_ENV, "vidoe, wise")
    plugins = load_plugins()
    assert "wise" not in plugins.infos and "video" in plugins.infos
    result = cli("schema", plugins=plugins)
    assert result.code == 0
    assert "PKD_BLOCK_PLUGINS names 'vidoe', which is no installed plugin: did you mean 'video'?" in result.err
    assert "'wise'" not in result.err


# -- lifecycle hooks ------------------------------------------------------------------------


class Logger:
    def __init__(self, fail_at_epoch: int | None = None):
        self.fail_at_epoch = fail_at_epoch

    @hookimpl
    def pkd_epoch_end(self, run, stage, epoch, metrics):
        if epoch == self.fail_at_epoch:
            raise ConnectionError("the tracking server is down")


def test_a_raising_lifecycle_hook_is_named_with_its_plugin():
    plugins = load_plugins([("quiet", Logger()), ("logger", Logger(fail_at_epoch=2)), ("other", Logger())], autoload=False)
    plugins.guarded_hook.pkd_epoch_end(run=None, stage=None, epoch=1, metrics={})  # fine
    with pytest.raises(failures.HookFailed) as failure:
        plugins.guarded_hook.pkd_epoch_end(run=None, stage=None, epoch=2, metrics={})
    assert str(failure.value) == (
        "plugin 'logger' failed in pkd_epoch_end: ConnectionError: the tracking server is down"
    )
    assert failure.value.exit_code == 1 and isinstance(failure.value.__cause__, ConnectionError)


@pytest.mark.slow
def test_a_raising_lifecycle_hook_stops_the_run_with_one_message_and_keeps_the_checkpoint(
    cli, tiny_recipe, toy_plugins_with, tmp_path, monkeypatch
):
    import torch

    recipe = tiny_recipe(backbone_epochs=3, exit_epochs=1)
    run_dir = tmp_path / "run"
    result = cli("run", recipe, "--run-dir", run_dir, plugins=toy_plugins_with(("logger", Logger(fail_at_epoch=2))))
    assert result.code == 1
    lines = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "plugin 'logger' failed in pkd_epoch_end: ConnectionError: the tracking server is down" in lines[0]
    assert f"--resume {run_dir}" in lines[0] and "Traceback" not in result.err
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert state["position"]["epoch"] == 2  # written before the hook ran, and whole
    monkeypatch.setenv("PKD_DEBUG", "1")
    again = cli("run", recipe, "--resume", run_dir, plugins=toy_plugins_with(("logger", Logger(fail_at_epoch=3))))
    assert again.code == 1 and "Traceback" in again.err and "ConnectionError: the tracking server is down" in again.err
