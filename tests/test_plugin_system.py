"""Plugin discovery (built-in, entry point, directory), settings validation, failure isolation."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from framework.config import ConfigError, load_config
from framework.plugins import API_VERSION, PluginHost

pytestmark = pytest.mark.backends("sqlite")  # plugin discovery does not depend on the database

THIRD_PARTY = '''
from framework import hookimpl
from framework.commands import Context, command, string

@command("wave", "Wave at someone", options=[string("who", "Who")])
async def wave(ctx: Context, who: str) -> None:
    await ctx.respond(f"*waves at {who}*")

@hookimpl
def register_commands(register):
    register(wave)
'''

BROKEN = '''
raise RuntimeError("this plugin is broken on purpose")
'''


def install_distribution(site: Path, dist: str, module: str, source: str, ep_name: str) -> None:
    """A real installed distribution: a module plus a .dist-info with an entry point."""
    (site / f"{module}.py").write_text(source, "utf-8")
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n", "utf-8")
    (info / "entry_points.txt").write_text(f"[trainerbot.plugins]\n{ep_name} = {module}\n", "utf-8")
    (info / "RECORD").write_text("", "utf-8")


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in ("tb_wave", "tb_broken"):
        sys.modules.pop(name, None)


async def test_entry_point_plugin_contributes_a_command(tb_factory, site) -> None:
    install_distribution(site, "trainerbot-wave", "tb_wave", THIRD_PARTY, "wave")
    tb = await tb_factory()
    info = tb.app.plugins.infos["wave"]
    assert (info.status, info.version, info.source) == ("enabled", "1.2.3", "entry point (trainerbot-wave)")
    assert (await tb.say("!wave Bob")).content == "*waves at Bob*"
    assert (await tb.slash("wave", {"who": "Ann"})).content == "*waves at Ann*"
    assert "wave" in {c["name"] for c in tb.emu.synced_commands()}


async def test_disabling_a_plugin_in_plugins_toml_removes_its_commands(tb_factory, site) -> None:
    install_distribution(site, "trainerbot-wave", "tb_wave", THIRD_PARTY, "wave")
    tb = await tb_factory(plugins_toml="[plugins.wave]\nenabled = false\n")
    assert tb.app.plugins.infos["wave"].status == "disabled"
    assert (await tb.say("!wave Bob")).content.startswith("Unknown command `!wave`")
    assert "wave" not in {c["name"] for c in tb.emu.synced_commands()}


async def test_a_plugin_that_raises_on_load_is_reported_and_the_rest_works(tb_factory, site) -> None:
    install_distribution(site, "trainerbot-broken", "tb_broken", BROKEN, "broken")
    install_distribution(site, "trainerbot-wave", "tb_wave", THIRD_PARTY, "wave")
    tb = await tb_factory()
    info = tb.app.plugins.infos["broken"]
    assert info.status == "failed"
    assert "RuntimeError: this plugin is broken on purpose" in info.error
    inter = await tb.interaction("plugins", subcommand="list")  # a long list comes in several messages
    listing = await tb.emu.wait_until(
        lambda: "\n".join(m.content for m in inter.responses) if any("**broken**" in m.content for m in inter.responses)
        else None, what="the failed plugin in the list")
    assert "❌ **broken** 1.2.3 — failed" in listing and "✅ **wave** 1.2.3 — enabled" in listing
    assert "this plugin is broken on purpose" in listing
    assert tb.app.plugins.infos["wave"].status == "enabled", tb.app.plugins.infos
    assert (await tb.say("!wave Bob")).content == "*waves at Bob*"
    assert (await tb.say("!hi")).content.startswith("Hello")


async def test_local_plugins_directory(tb_factory, tmp_path) -> None:
    folder = tmp_path / "local_plugins"
    folder.mkdir()
    (folder / "waver.py").write_text(THIRD_PARTY, "utf-8")
    tb = await tb_factory(config_overrides={"bot": {"plugins_dir": str(folder)}})
    assert tb.app.plugins.infos["waver"].source.startswith("directory")
    assert (await tb.say("!wave you")).content == "*waves at you*"


def test_settings_errors_name_the_plugin_and_key(tmp_path) -> None:
    path = tmp_path / "plugins.toml"
    path.write_text("[plugins.core]\ngreting = 'typo'\n", "utf-8")
    with pytest.raises(ConfigError, match=r"\[plugins.core\]: unknown key `greting`"):
        PluginHost(load_config(path)).load_all()
    path.write_text("[plugins.core]\ngreeting = 42\n", "utf-8")
    with pytest.raises(ConfigError, match=r"\[plugins.core\]: key `greeting`: Input should be a valid string"):
        PluginHost(load_config(path)).load_all()
    path.write_text("[bot]\nprefix = 3\n", "utf-8")
    with pytest.raises(ConfigError, match=r"key `bot.prefix`"):
        load_config(path)
    path.write_text("[bot]\nprefixx = '!'\n", "utf-8")
    with pytest.raises(ConfigError, match=r"unknown key `bot.prefixx`"):
        load_config(path)


def test_load_plugins_escape_hatch(tmp_path, monkeypatch, site) -> None:
    install_distribution(site, "trainerbot-broken", "tb_broken", BROKEN, "broken")
    monkeypatch.setenv("TRAINERBOT_LOAD_PLUGINS", "core")
    host = PluginHost(load_config(tmp_path / "none.toml"))
    host.load_all()
    assert host.infos["core"].status == "enabled"
    assert host.infos["broken"].status == "disabled"
    assert "TRAINERBOT_LOAD_PLUGINS" in host.infos["broken"].error


def test_incompatible_plugin_is_refused_naming_both_versions(tmp_path) -> None:
    module = type(sys)("future_plugin")
    module.TRAINERBOT_API = ">=99,<100"
    host = PluginHost(load_config(tmp_path / "none.toml"))
    host.load_all({"future": module})
    info = host.infos["future"]
    assert info.status == "failed"
    assert "requires trainerbot API >=99,<100" in info.error and f"provides API {API_VERSION}" in info.error

