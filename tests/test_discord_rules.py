"""Discord's application-command rules: the validator on its own, the host refusing a plugin whose
commands break them (everyone else's commands still register), Discord's count limits, and
``trainerbot plugins list`` showing the same refusal without connecting anywhere."""

from __future__ import annotations

import types

import pytest

from framework import hookimpl
from framework.commands import Command, Group, MessageCommand, command, group, integer, string
from framework.commands import discord_rules as rules
from tests.test_cli import run

pytestmark = pytest.mark.backends("sqlite")  # Discord's application-command rules do not depend on the database


async def _noop(ctx, **kwargs) -> None:
    await ctx.respond("ok")


def plugin(*targets: object) -> types.SimpleNamespace:
    def register_commands(register) -> None:
        for target in targets:
            register(target)

    return types.SimpleNamespace(register_commands=hookimpl(register_commands))


def bad_reports() -> Command:
    """The issue's example: a capitalised name, a 150-character description and 26 options."""
    return Command("Reports", "d" * 150, _noop, [string(f"field{i}", "A field", default=None) for i in range(26)])


# ----------------------------------------------------------------------------- the rules alone


@pytest.mark.parametrize("name", ["hi", "select_dataset", "a-b", "x" * 32, "데이터", "नमस्ते", "สวัสดี", "ü2"])
def test_names_discord_accepts(name: str) -> None:
    assert rules.chat_input_name_problems(name, "command") == []


@pytest.mark.parametrize(("name", "why"), [
    ("Reports", "the command name `Reports` must be lowercase"),
    ("", "the command name `` is 0 characters (Discord allows 1 to 32)"),
    ("x" * 33, f"the command name `{'x' * 33}` is 33 characters (Discord allows 1 to 32)"),
    ("two words", "the command name `two words` contains ' ' (Discord allows letters, digits, - and _)"),
    ("a.b!", "the command name `a.b!` contains '!', '.' (Discord allows letters, digits, - and _)"),
    ("।", "the command name `।` contains '।' (Discord allows letters, digits, - and _)"),  # danda: no script
])
def test_names_discord_refuses(name: str, why: str) -> None:
    assert why in rules.chat_input_name_problems(name, "command")


def test_every_broken_rule_is_named_at_once() -> None:
    assert rules.reasons(bad_reports()) == [
        "command `Reports` breaks Discord's rules: the command name `Reports` must be lowercase; the command "
        "description is 150 characters (Discord allows 1 to 100); the command has 26 options (Discord allows at "
        "most 25)"]


async def _complete(app, partial: str) -> list[str]:
    return []


@pytest.mark.parametrize(("options", "why"), [
    ([string("a", "A", default=None), string("b", "B")],
     "the command: the required option `b` follows the optional `a` (Discord wants required options first)"),
    ([string("a", "A"), string("a", "Again")], "the command has more than one option named `a`"),
    ([string("a", "A", choices=[str(n) for n in range(26)])], "option `a` has 26 choices (Discord allows at most 25)"),
    ([string("a", "A", choices=["x", "y"], autocomplete=_complete)],
     "option `a` has both autocomplete and choices (Discord allows one of them)"),
    ([string("a", "A", choices=["x" * 101])], "option `a` has a choice of 101 characters (Discord allows 1 to 100)"),
    ([integer("a", "A", max_value=2**60)], "option `a` has the bound 1152921504606846976, beyond Discord's ±2^53"),
    ([string("a", "A", max_length=7000)], "option `a` has max_length 7000 (Discord allows 1 to 6000)"),
    ([string("a", "")], "the option `a` description is 0 characters (Discord allows 1 to 100)"),
    ([string("Loud", "A")], "the option `Loud` name `Loud` must be lowercase"),
])
def test_option_rules(options, why: str) -> None:
    [reason] = rules.reasons(Command("cmd", "A command", _noop, options))
    assert why in reason


def test_the_4000_character_total_counts_names_descriptions_and_choices() -> None:
    options = [string(f"o{i}", "d" * 100, choices=[f"{i}-{c}" * 10 for c in range(20)]) for i in range(2)]
    cmd = Command("big", "A big one", _noop, options)
    assert rules.total_characters(cmd) == 3 + 9 + 2 * (2 + 100) + 2 * 2 * sum(len(f"0-{c}" * 10) for c in range(20))
    grp = Group("box", "A group")
    for n in range(3):
        grp.add(Command(f"sub{n}", "s" * 100, _noop, [string(f"o{i}", "d" * 100) for i in range(10)]))
    assert rules.total_characters(grp) == 3 + 7 + 3 * (4 + 100 + 10 * (2 + 100)) == 3382
    assert rules.reasons(grp) == []
    grp.add(Command("sub3", "s" * 100, _noop, [string(f"o{i}", "d" * 100) for i in range(10)]))
    [reason] = rules.reasons(grp)
    assert reason == ("command `box` breaks Discord's rules: its names, descriptions and choices come to 4506 "
                      "characters (Discord allows 4000 per command)")


def test_groups_nest_no_deeper_and_hold_at_most_25_subcommands() -> None:
    outer = group("outer", "Outer")
    outer.subcommands["inner"] = group("inner", "Inner")  # type: ignore[assignment]
    for n in range(25):
        outer.add(Command(f"s{n}", "Sub", _noop))
    [reason] = rules.reasons(outer)
    assert "the group has 26 subcommands (Discord allows at most 25)" in reason
    assert "subcommand `inner` must be a plain command: Discord nests a group's subcommands no deeper" in reason


def test_count_limits() -> None:
    many = [Command(f"c{n}", "C", _noop) for n in range(100)]
    assert rules.over_limit(many[:99], many[99:]) is None
    assert rules.over_limit(many, [Command("one_more", "C", _noop)]) == (
        "registering 1 command(s) would make 101 chat input commands (Discord allows 100)")
    menus = [MessageCommand(f"Menu {n}", "M", _noop) for n in range(6)]
    assert rules.over_limit([], menus) == "registering 6 command(s) would make 6 message commands (Discord allows 5)"


# ----------------------------------------------------------------------------- the host refuses


async def test_a_plugin_with_an_invalid_command_is_refused_and_hi_still_works(tb_factory) -> None:
    tb = await tb_factory(extra_plugins={"reports": plugin(bad_reports(), Command("fine", "A fine one", _noop))})
    info = tb.app.plugins.infos["reports"]
    assert info.status == "failed"
    assert info.error == ("registering commands: CommandRefused: " + rules.reasons(bad_reports())[0])
    synced = {c["name"] for c in tb.emu.synced_commands()}
    assert "hi" in synced and not {"Reports", "fine"} & synced, "the refused plugin registers nothing, not even `fine`"
    assert tb.emu.refusals == [], "the host never sent what the strict emulator (as Discord) would refuse"
    assert (await tb.slash("hi")).content.startswith("Hello, alice!")
    assert (await tb.say("!fine")).content.startswith("Unknown command `!fine`")
    listing = await tb.interaction("plugins", subcommand="list")  # long: it comes in parts

    def shown() -> str | None:
        text = "\n".join(m.content for m in listing.responses)
        return text if "reason:" in text.split("❌ **reports**")[-1] else None

    text = await tb.emu.wait_until(shown, what="the plugin listing with the refusal")
    assert "❌ **reports** local — failed" in text and rules.reasons(bad_reports())[0] in text


async def test_a_plugin_that_would_pass_discords_command_count_is_refused_the_first_ones_stay(tb_factory) -> None:
    def chat_input(tb) -> list:
        return [c for c in tb.emu.synced_commands() if c.get("type", 1) == 1]

    built_in = len(chat_input(await tb_factory()))
    await tb_factory.close()
    room = rules.MAX_CHAT_INPUT_COMMANDS - built_in
    fits = plugin(*[command(f"extra{n}", "Extra")(_noop) for n in range(room)])
    overflows = plugin(command("one_too_many", "Extra")(_noop))
    tb = await tb_factory(extra_plugins={"fits": fits, "overflows": overflows})
    assert tb.app.plugins.infos["fits"].status == "enabled"
    assert tb.app.plugins.infos["overflows"].error == (
        "registering commands: CommandRefused: registering 1 command(s) would make 101 chat input commands "
        "(Discord allows 100)")
    assert len(chat_input(tb)) == rules.MAX_CHAT_INPUT_COMMANDS
    assert (await tb.slash("extra0")).content == "ok"


async def test_a_reload_that_breaks_the_rules_keeps_the_old_version(tb_factory, tmp_path) -> None:
    folder = tmp_path / "local"
    folder.mkdir()
    source = ('from framework import hookimpl\nfrom framework.commands import command\n'
              '@command({name!r}, "Wave")\nasync def wave(ctx):\n    await ctx.respond("👋")\n'
              '@hookimpl\ndef register_commands(register):\n    register(wave)\n')
    (folder / "waver.py").write_text(source.format(name="wave"), "utf-8")
    tb = await tb_factory(plugins_toml=f"[bot]\nplugins_dir = '{folder}'\n")
    (folder / "waver.py").write_text(source.format(name="Wave"), "utf-8")
    refused = await tb.slash("plugins", {"name": "waver"}, subcommand="reload", user=tb.owner)
    assert refused.content.startswith("Reload of `waver` failed, the old version stays active: CommandRefused: command "
                                      "`Wave` breaks Discord's rules: the command name `Wave` must be lowercase")
    assert (await tb.say("!wave")).content == "👋"


def test_plugins_list_shows_the_refusal(tmp_path) -> None:
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "bad_reports.py").write_text(
        "from framework import hookimpl\nfrom framework.commands import command, string\n"
        "@command('Reports', 'd' * 150, options=[string(f'field{i}', 'A field', default=None) for i in range(26)])\n"
        "async def reports(ctx, **fields):\n    pass\n"
        "@hookimpl\ndef register_commands(register):\n    register(reports)\n", "utf-8")
    (tmp_path / "plugins.toml").write_text(f"[bot]\nplugins_dir = '{folder}'\n", "utf-8")
    listing = run("plugins", "list", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    row = next(line.split() for line in listing.stdout.splitlines() if line.startswith("bad_reports "))
    assert row[2] == "failed"
    assert f"bad_reports: registering commands: CommandRefused: {rules.reasons(bad_reports())[0]}" in listing.stdout
    core = next(line.split() for line in listing.stdout.splitlines() if line.startswith("core "))
    assert core[2] == "enabled"
