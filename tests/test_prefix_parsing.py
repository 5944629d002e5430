"""The prefix parser: quoting, key=value, positional filling, rest-of-line, attachments."""

from __future__ import annotations

import pytest

from framework.commands import BadArgument, Command, attachment, boolean, integer, string, usage
from framework.prefix import parse_arguments, tokenize


async def _noop(ctx, **kwargs) -> None:  # noqa: ANN001
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
