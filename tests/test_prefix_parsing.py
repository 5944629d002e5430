"""The prefix parser: quoting, key=value, positional filling, rest-of-line, attachments."""

from __future__ import annotations

import types

import pytest

from framework import hookimpl
from framework.commands import (
    BadArgument,
    Command,
    attachment,
    boolean,
    command,
    integer,
    parse_message_id,
    string,
    usage,
)
from framework.prefix import parse_arguments, tokenize


async def _noop(ctx, **kwargs) -> None:
    pass


TRAIN = Command("train", "Add data and train", _noop, [
    string("data", "Text", default=None), boolean("positive", "Label", default=True),
    attachment("file", "A file", default=None)])
SAY = Command("say", "Say something", _noop, [string("text", "What to say")])


def test_tokenize_quotes_and_escapes() -> None:
    assert [t for t, _ in tokenize('a "b c" key="x y" don\'t \\"q\\"')] == ["a", "b c", "key=x y", "don't", '"q"']


def test_unclosed_quote_is_a_clear_error() -> None:
    with pytest.raises(BadArgument, match="Unclosed \" quote"):
        tokenize('"abc')


def test_positional_and_keyword_mix() -> None:
    raw = parse_arguments(TRAIN, '"good movie" positive=false', [], "!")
    assert raw == {"data": "good movie", "positive": "false"}


def test_last_string_option_takes_the_rest_of_the_line() -> None:
    assert parse_arguments(SAY, "hello   there, friend", [], "!") == {"text": "hello   there, friend"}


def test_too_many_arguments_shows_usage() -> None:
    cmd = Command("ping", "Ping", _noop, [integer("n", "Count", default=1)])
    with pytest.raises(BadArgument, match=r"Too many arguments\. Usage: `!ping \[n=1\]`"):
        parse_arguments(cmd, "1 2", [], "!")


def test_duplicate_keyword_is_refused() -> None:
    with pytest.raises(BadArgument, match="given twice"):
        parse_arguments(TRAIN, "data=a data=b", [], "!")


def test_attachments_fill_attachment_options() -> None:
    marker = object()
    raw = parse_arguments(TRAIN, "", [marker], "!")  # type: ignore[list-item]
    assert raw == {"file": marker}


def test_usage_line() -> None:
    assert usage(TRAIN, "!") == "!train [data] [positive=true] [<file: attach a file>]"


@pytest.mark.parametrize("text, expected", [
    ("1234567890123", 1234567890123),
    (" https://discord.com/channels/111/222/333 ", 333),
    ("https://discord.com/channels/@me/222/444", 444),
])
def test_message_ids_and_links_are_understood(text: str, expected: int) -> None:
    assert parse_message_id(text) == expected


@pytest.mark.parametrize("text", ["abc", "https://discord.com/channels/me/1/2", "12 34", ""])
def test_anything_else_is_not_a_message_reference(text: str) -> None:
    with pytest.raises(BadArgument, match="is not a message id or link"):
        parse_message_id(text)


def test_a_lone_apostrophe_is_text_not_an_unclosed_quote() -> None:
    assert [t for t, _ in tokenize("'tis fine")] == ["'tis", "fine"]
    assert [t for t, _ in tokenize("say 'two words' now")] == ["say", "two words", "now"]
    assert [t for t, _ in tokenize('[{"x":"the \'best film"}]')] == ['[{"x":"the', "'best", 'film"}]']


async def test_prefix_json_with_an_apostrophe_reaches_the_command(tb_factory) -> None:
    @command("echo", "Echo the text", options=[string("text", "Anything")])
    async def echo(ctx, text: str) -> None:
        await ctx.respond(text)

    plugin = types.SimpleNamespace(register_commands=hookimpl(lambda register: register(echo)))
    tb = await tb_factory(extra_plugins={"e": plugin})
    assert (await tb.say('!echo [{"text":"the \'best film", "label": "positive"}]')).content == \
        '[{"text":"the \'best film", "label": "positive"}]'
