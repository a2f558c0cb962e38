"""The plugin manager: built-ins and third-party plugins found alike, failures isolated."""

from __future__ import annotations

import json

import pkd_toolkit
from pkd_toolkit.plugin.manager import AUTOLOAD_ENV, BLOCK_ENV, load_plugins

BUILTINS = {"video", "timm_backbones", "exit_heads", "progressive_kd", "generative_kd", "wise"}

GOOD_PLUGIN = """
from pkd_toolkit.api import ComponentConfig, hookimpl

class Config(ComponentConfig):
    width: int = 1

@hookimpl
def pkd_add_ensemblers(registry):
    registry.add("vote", lambda config: config, config=Config, help="majority vote")
"""


def test_builtins_are_loaded_through_the_entry_point_group():
    plugins = load_plugins()
    builtins = {name: info for name, info in plugins.infos.items() if info.origin == "built-in"}
    assert set(builtins) == BUILTINS
    assert all(info.version == pkd_toolkit.__version__ and info.error is None for info in builtins.values())
    assert "timm" in plugins.registry.names("backbones")
    assert plugins.registry.get("schedules", "pkd").plugin == "progressive_kd"


def test_a_third_party_plugin_is_found_like_a_builtin(fake_distribution):
    fake_distribution("pkd-vote", {"pkd_vote": GOOD_PLUGIN}, {"vote": "pkd_vote"})
    plugins = load_plugins()
    info = plugins.infos["vote"]
    assert (info.origin, info.version, info.error) == ("pkd-vote", "1.2.3", None)
    assert info.components == {"ensemblers": ["vote"]}
    assert plugins.registry.get("ensemblers", "vote").help == "majority vote"


def test_a_plugin_that_fails_to_import_is_reported_and_the_others_work(fake_distribution):
    fake_distribution("pkd-broken", {"pkd_broken": "raise RuntimeError('no GPU driver')"}, {"broken": "pkd_broken"})
    plugins = load_plugins()
    assert "failed to import pkd_broken: RuntimeError: no GPU driver" in plugins.infos["broken"].error
    assert "timm" in plugins.registry.names("backbones")
    assert [info.name for info in plugins.broken()] == ["broken"]


def test_a_name_already_taken_is_refused_and_both_plugins_keep_their_other_components(fake_distribution):
    source = GOOD_PLUGIN + """
@hookimpl
def pkd_add_backbones(registry):
    registry.add("timm", lambda config, **context: None)
    registry.add("tiny", lambda config, **context: None)
"""
    fake_distribution("pkd-clash", {"pkd_clash": source}, {"clash": "pkd_clash"})
    plugins = load_plugins()
    assert "backbone 'timm' is already registered by plugin 'timm_backbones'" in plugins.infos["clash"].error
    assert plugins.registry.get("backbones", "timm").plugin == "timm_backbones"
    assert plugins.registry.get("backbones", "tiny").plugin == "clash"


def test_registration_follows_load_order_unless_tryfirst_or_trylast_say_otherwise():
    import types

    from pkd_toolkit.api import hookimpl

    def plugin(name: str, **options):
        module = types.SimpleNamespace()

        def register(registry):
            registry.add("shared", lambda config: name)  # the first registration of a name wins
            registry.add(name, lambda config: name)

        module.pkd_add_ensemblers = hookimpl(specname="pkd_add_ensemblers", **options)(register)
        return module

    plain = load_plugins([("a", plugin("a")), ("b", plugin("b"))], autoload=False)
    assert plain.registry.get("ensemblers", "shared").plugin == "a"
    eager = load_plugins([("a", plugin("a")), ("b", plugin("b", tryfirst=True))], autoload=False)
    assert eager.registry.get("ensemblers", "shared").plugin == "b"
    assert "already registered by plugin 'b'" in eager.infos["a"].error
    late = load_plugins([("a", plugin("a", trylast=True)), ("b", plugin("b"))], autoload=False)
    assert late.registry.get("ensemblers", "shared").plugin == "b"


def test_a_registration_hook_cannot_be_a_wrapper():
    import types

    from pkd_toolkit.api import hookimpl

    module = types.SimpleNamespace()
    module.pkd_add_ensemblers = hookimpl(specname="pkd_add_ensemblers", wrapper=True)(lambda registry: (yield))
    plugins = load_plugins([("wrapping", module)], autoload=False)
    assert "pkd_add_ensemblers cannot be a hook wrapper" in plugins.infos["wrapping"].error
    assert "ensemblers" not in plugins.infos["wrapping"].components


def test_a_misspelt_hook_is_reported(fake_distribution):
    source = "from pkd_toolkit import hookimpl\n\n@hookimpl\ndef pkd_add_backbone(registry):\n    pass\n"
    fake_distribution("pkd-typo", {"pkd_typo": source}, {"typo": "pkd_typo"})
    info = load_plugins().infos["typo"]
    assert "implements unknown hook pkd_add_backbone (did you mean pkd_add_backbones?)" in info.error


def test_a_registration_hook_that_raises_is_reported(fake_distribution):
    source = "from pkd_toolkit import hookimpl\n\n@hookimpl\ndef pkd_add_exits(registry):\n    raise KeyError('oops')\n"
    fake_distribution("pkd-raises", {"pkd_raises": source}, {"raises": "pkd_raises"})
    plugins = load_plugins()
    assert "pkd_add_exits raised KeyError: 'oops'" in plugins.infos["raises"].error
    assert "paper_ic" in plugins.registry.names("exits")


def test_autoload_can_be_turned_off_for_third_party_plugins(fake_distribution, monkeypatch):
    fake_distribution("pkd-vote", {"pkd_vote": GOOD_PLUGIN}, {"vote": "pkd_vote"})
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    plugins = load_plugins()
    assert "vote" not in plugins.infos
    assert set(plugins.infos) == BUILTINS


def test_one_plugin_can_be_blocked_by_name_even_a_builtin(fake_distribution, monkeypatch, cli):
    fake_distribution("pkd-vote", {"pkd_vote": GOOD_PLUGIN}, {"vote": "pkd_vote"})
    monkeypatch.setenv(BLOCK_ENV, "vote, video")
    plugins = load_plugins()
    assert set(plugins.infos) == BUILTINS - {"video"}
    # the core still lists what is left
    result = cli("list-plugins", "--json", plugins=plugins)
    assert result.code == 0
    assert {entry["name"] for entry in json.loads(result.out)} == BUILTINS - {"video"}


def test_list_plugins_json(cli, fake_distribution):
    fake_distribution("pkd-vote", {"pkd_vote": GOOD_PLUGIN}, {"vote": "pkd_vote"})
    fake_distribution("pkd-broken", {"pkd_broken": "import not_a_module"}, {"broken": "pkd_broken"})
    result = cli("list-plugins", "--json", plugins=load_plugins())
    entries = {entry["name"]: entry for entry in json.loads(result.out)}
    assert result.code == 0
    assert all({"name", "version", "origin", "components", "error"} <= set(e) for e in entries.values())
    assert entries["vote"]["components"] == {"ensemblers": ["vote"]}
    assert entries["progressive_kd"]["components"] == {"schedules": ["ce", "pkd"]}
    assert "No module named 'not_a_module'" in entries["broken"]["error"]


def test_list_plugins_table_shows_components_and_errors(cli, fake_distribution):
    fake_distribution("pkd-broken", {"pkd_broken": "import not_a_module"}, {"broken": "pkd_broken"})
    result = cli("list-plugins", plugins=load_plugins())
    assert result.code == 0
    assert "schedules: ce, pkd" in result.out
    assert "pkd-broken" in result.out and "not_a_module" in result.out


def test_other_commands_warn_once_about_a_broken_plugin(cli, fake_distribution, tmp_path):
    fake_distribution("pkd-broken", {"pkd_broken": "import not_a_module"}, {"broken": "pkd_broken"})
    result = cli("schema", plugins=load_plugins())
    assert result.code == 0
    assert result.err.count("plugin 'broken' (pkd-broken) is skipped") == 1
