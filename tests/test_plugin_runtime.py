"""Plugins managed from Discord: per-guild switches gate commands AND listeners, global switches
are saved to plugins.toml, reload swaps code atomically (submodules included)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

PACKAGE_INIT = '''
import hikari
from framework import hookimpl
from framework.commands import Context, command
from tb_parrot.words import WORD

@command("parrot", "Repeat the word")
async def parrot(ctx: Context) -> None:
    await ctx.respond(WORD)

async def overheard(event, app):
    if event.content == "polly?" and not event.is_bot:
        await app.bot.rest.create_message(event.channel_id, f"{WORD}!")

@hookimpl
def register_commands(register):
    register(parrot)

@hookimpl
def register_listeners(register):
    register(hikari.GuildMessageCreateEvent, overheard)
'''


@pytest.fixture
def parrot_package(tmp_path, monkeypatch) -> Path:
    site = tmp_path / "site"
    package = site / "tb_parrot"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PACKAGE_INIT, "utf-8")
    (package / "words.py").write_text('WORD = "squawk"\n', "utf-8")
    info = site / "tb_parrot-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tb-parrot\nVersion: 0.1\n", "utf-8")
    (info / "entry_points.txt").write_text("[trainerbot.plugins]\nparrot = tb_parrot\n", "utf-8")
    monkeypatch.syspath_prepend(str(site))
    yield package
    for name in [m for m in sys.modules if m == "tb_parrot" or m.startswith("tb_parrot.")]:
        del sys.modules[name]


async def test_per_guild_disable_gates_commands_and_listeners(tb_factory, parrot_package) -> None:
    tb = await tb_factory()
    emu = tb.emu
    other_guild = emu.create_guild("Other server")
    other = emu.create_channel(other_guild, "general")
    emu.add_member(other_guild, tb.user)
    emu.add_member(other_guild, tb.owner)
    assert (await tb.say("!parrot")).content == "squawk"

    refused = await tb.slash("plugins", {"name": "parrot"}, subcommand="disable", user=tb.user)
    assert refused.content == "`plugins disable` is limited to the bot's owners."
    done = await tb.slash("plugins", {"name": "parrot"}, subcommand="disable", user=tb.owner)
    assert done.content == "Plugin `parrot` is now disabled in this server."

    # Silent here: the command is gone from help and answers as disabled; the listener is quiet.
    assert (await tb.slash("parrot")).content == "`/parrot` is disabled in this server."
    quiet = await tb.send("polly?")
    probe = await tb.say("!hi")
    assert int(probe.id) > int(quiet.id) and all(
        m.content != "squawk!" for m in emu.sent_messages(channel=tb.channel))
    silent = await tb.send("!parrot")
    await tb.say("!ping")
    assert not [m for m in emu.sent_messages(channel=tb.channel) if int(m.id) > int(silent.id)
                and m.content == "squawk"], "a plugin disabled in this server stays silent"
    # ...and working in the other guild.
    assert (await tb.say("!parrot", channel=other)).content == "squawk"
    assert (await tb.say("polly?", channel=other)).content == "squawk!"

    # Persisted: a restarted bot keeps the switch.
    await tb.app.close()
    tb2 = await tb_factory()
    assert int(tb.guild.id) in tb2.app.plugins.infos["parrot"].disabled_guilds
    await tb2.slash("plugins", {"name": "parrot"}, subcommand="enable", user=tb.owner)
    assert (await tb2.say("!parrot")).content == "squawk"


@pytest.mark.backends("sqlite")  # swapping code does not depend on the database
async def test_reload_swaps_code_including_submodules(tb_factory, parrot_package) -> None:
    tb = await tb_factory()
    assert (await tb.say("!parrot")).content == "squawk"
    (parrot_package / "words.py").write_text('WORD = "pieces of eight"\n', "utf-8")
    done = await tb.slash("plugins", {"name": "parrot"}, subcommand="reload", user=tb.owner)
    assert done.content == "Plugin `parrot` reloaded."
    assert (await tb.say("!parrot")).content == "pieces of eight"
    assert (await tb.say("polly?")).content == "pieces of eight!"

    (parrot_package / "words.py").write_text("WORD = (\n", "utf-8")  # a syntax error
    failed = await tb.slash("plugins", {"name": "parrot"}, subcommand="reload", user=tb.owner)
    assert failed.content.startswith("Reload of `parrot` failed, the old version stays active: SyntaxError")
    assert (await tb.say("!parrot")).content == "pieces of eight"


async def test_global_disable_is_saved_and_enable_restores(tb_factory, parrot_package, tmp_path) -> None:
    tb = await tb_factory(plugins_toml="# my settings\n[bot]\nprefix = '!'\n")
    done = await tb.slash("plugins", {"name": "parrot", "scope": "everywhere"}, subcommand="disable",
                          user=tb.owner)
    assert done.content == "Plugin `parrot` is now disabled everywhere (saved in plugins.toml)."
    text = tb.app.config.path.read_text("utf-8")
    assert "# my settings" in text and "[plugins.parrot]" in text and "enabled = false" in text
    assert "parrot" not in {c["name"] for c in tb.emu.synced_commands()}
    assert (await tb.say("!parrot")).content.startswith("Unknown command `!parrot`")
    await tb.slash("plugins", {"name": "parrot", "scope": "everywhere"}, subcommand="enable", user=tb.owner)
    assert (await tb.say("!parrot")).content == "squawk"
    assert "parrot" in {c["name"] for c in tb.emu.synced_commands()}
