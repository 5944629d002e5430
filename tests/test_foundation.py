"""The foundation through the real bot on the emulator: both surfaces, shared validation,
plugin discovery and failure isolation, gateway drops and rate limits."""

from __future__ import annotations

import types

import pytest

from framework import hookimpl
from framework.commands import Context, attachment, boolean, command, group, integer, string

pytestmark = pytest.mark.backends("sqlite")  # surfaces, validation, gateway drops, REST retries: not the database


def echo_plugin() -> types.SimpleNamespace:
    """A throwaway plugin with typed options and an attachment."""

    @command("echo", "Echo typed options", options=[
        integer("count", "How many times", min_value=1, max_value=5),
        boolean("shout", "Upper-case it", default=False),
        string("word", "The word", default="hey", choices=["hey", "ho"]),
        attachment("file", "A text file", default=None),
    ])
    async def echo(ctx: Context, count: int, shout: bool, word: str, file) -> None:
        text = " ".join([word.upper() if shout else word] * count)
        if file is not None:
            text += f" | {file.filename}: {(await file.read()).decode()}"
        await ctx.respond(text)

    grp = group("things", "Things")

    @grp.command("count", "Count things", options=[integer("n", "How many")])
    async def count(ctx: Context, n: int) -> None:
        await ctx.respond(f"{n} things")

    @hookimpl
    def register_commands(register) -> None:
        register(echo)
        register(grp)

    return types.SimpleNamespace(register_commands=register_commands)


async def test_hi_answers_on_both_surfaces(tb) -> None:
    reply = await tb.say("!hi")
    assert reply.content.startswith("Hello, alice!")
    assert "`!help`" in reply.content
    resp = await tb.slash("hi", {"name": "Bob"})
    assert resp.content.startswith("Hello, Bob!")
    assert "`/help`" in resp.content
    assert not resp.ephemeral
    assert tb.emu.unhandled_requests == []


async def test_typed_options_and_attachment_on_both_surfaces(tb_factory) -> None:
    tb = await tb_factory(extra_plugins={"echo": echo_plugin()})
    reply = await tb.say("!echo 2 shout=yes", attachments=[tb.emu.file("a.txt", b"payload", "text/plain")])
    assert reply.content == "HEY HEY | a.txt: payload"
    upload = tb.emu.file("b.txt", b"slash payload", "text/plain")
    resp = await tb.slash("echo", {"count": 3, "word": "ho", "file": upload})
    assert resp.content == "ho ho ho | b.txt: slash payload"
    assert (await tb.say("!things count 4")).content == "4 things"
    assert (await tb.slash("things", {"n": 4}, subcommand="count")).content == "4 things"


@pytest.mark.parametrize(("prefix_args", "slash_options", "message"), [
    ("9", {"count": 9}, "Option `count` must be between 1 and 5, got `9`."),
    ("1 word=hi", {"count": 1, "word": "hi"}, "Option `word` must be one of `hey`, `ho`, got `hi`."),
    ("", {}, "Option `count` is required."),
])
async def test_validation_errors_are_identical_on_both_surfaces(tb_factory, prefix_args, slash_options,
                                                                message) -> None:
    tb = await tb_factory(extra_plugins={"echo": echo_plugin()})
    reply = await tb.say(f"!echo {prefix_args}".strip())
    resp = await tb.slash("echo", slash_options)
    assert reply.content == message
    assert resp.content == message
    assert resp.ephemeral, "slash errors are ephemeral"


async def test_prefix_only_conversion_errors(tb_factory) -> None:
    tb = await tb_factory(extra_plugins={"echo": echo_plugin()})
    assert (await tb.say("!echo two")).content == "Option `count` must be a whole number, got `two`."
    assert (await tb.say("!echo 1 shout=maybe")).content == "Option `shout` must be true or false, got `maybe`."
    assert (await tb.say('!echo "1')).content == 'Unclosed " quote in the arguments.'
    assert (await tb.say("!ehco 1")).content == (
        "Unknown command `!ehco`. Did you mean `!echo`? Type `!help` for the list.")
    assert (await tb.say("!things")).content.startswith("`!things` takes one of: `count`")


async def test_help_lists_commands_of_all_enabled_plugins(tb_factory) -> None:
    tb = await tb_factory(extra_plugins={"echo": echo_plugin()})
    listing = await tb.slash("help")
    assert listing.ephemeral
    assert len(listing.content) <= 2000, "the overview is one message, however many plugins are enabled"
    for entry in ("`/hi`", "`/ping`", "`/echo`", "`/things` (count", "`/plugins` (list, info"):
        assert entry in listing.content
    assert "**echo** · " in listing.content and "**training** · " in listing.content
    detail = await tb.say("!help echo")
    assert "Usage: `!echo <count> [shout=false] [word=hey] [<file: attach a file>]`" in detail.content
    plugin = await tb.say("!help core")
    assert plugin.content.startswith("**core**\n") and "`!ping` — Show the bot's gateway latency" in plugin.content
    assert (await tb.say("!help nothing")).content == "No command or plugin `nothing`. Use `!help` for the list."


async def test_gateway_drop_is_survived(tb) -> None:
    assert (await tb.say("!hi")).content.startswith("Hello")
    await tb.emu.drop_gateway()
    await tb.emu.wait_resumed()
    assert (await tb.say("!hi")).content.startswith("Hello")


async def test_rate_limit_429_is_respected(tb) -> None:
    tb.emu.inject_rest_fault(method="POST", path_pattern=r"/channels/\d+/messages", status=429,
                             retry_after=0.3, count=1)
    reply = await tb.say("!hi")
    assert reply.content.startswith("Hello")
    posts = [r for r in tb.emu.requests if r.method == "POST" and r.path.endswith("/messages")
             and "/channels/" in r.path]
    statuses = [r.status for r in posts][-2:]
    assert statuses == [429, 200]
    assert posts[-1].timestamp - posts[-2].timestamp >= 0.3, "hikari waited for retry_after before retrying"


async def test_ping_and_plugins(tb) -> None:
    assert (await tb.say("!ping")).content.startswith("Pong! Gateway latency:")
    listing = await tb.slash("plugins", subcommand="list")
    assert "**core**" in listing.content and "enabled" in listing.content


async def test_instruction_is_split_at_discords_limit_and_missing_is_clear(tb) -> None:
    missing = await tb.say("!instruction")
    assert missing.content.startswith("No instruction file `instruction.md` yet. An admin can create "
                                      "`instructions/instruction.md`")
    text = "\n".join(f"Line {i}: " + "x" * 90 for i in range(45))  # ~4,400 characters
    (tb.data_root / "instructions" / "instruction.md").write_text(text, "utf-8")
    sent = await tb.send("!instruction")
    parts = [await tb.reply_to(sent, skip=i) for i in range(3)]
    assert all(len(p.content) <= 2000 for p in parts)
    assert "\n".join(p.content for p in parts) == text
    assert (await tb.say("!instruction ../secret.md")).content == (
        "`../secret.md` leaves the data folder (`..` is not allowed).")


async def test_server_error_500_is_retried(tb) -> None:
    tb.emu.inject_rest_fault(method="POST", path_pattern=r"/channels/\d+/messages", status=500, count=1)
    reply = await tb.say("!hi")
    assert reply.content.startswith("Hello")
    posts = [r.status for r in tb.emu.requests if r.method == "POST" and "/messages" in r.path]
    assert posts[-2:] == [500, 200]
