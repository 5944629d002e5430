"""The prefix parser: quoting, key=value, positional filling, rest-of-line, attachments."""

from __future__ import annotations

import types

import pytest

from framework import hookimpl
from framework import sql as sa
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
from plugins.feedback import feedback_table

pytestmark = pytest.mark.backends("sqlite")  # parsing does not depend on the database


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


# --- natural typing: free text takes the rest of the line, named options anywhere, key:value

REVIEW = Command("train", "Add examples", _noop, [
    string("data", "Text", default=None, rest_of_line=True), boolean("positive", "Label", default=True),
    attachment("attachment", "A file", default=None), string("data_dir", "A folder", default=None, named_only=True),
    string("dataset", "Dataset", default=None, named_only=True), boolean("start", "Start", default=None,
                                                                        named_only=True)])
FEEDBACK = Command("feedback", "Feedback", _noop, [
    string("text", "Your feedback"), integer("rating", "1-5", default=None, named_only=True),
    string("message_id", "About", default=None, named_only=True)])
HI = Command("hi", "Hello", _noop, [string("name", "Who", default=None)])


@pytest.mark.parametrize("text, expected", [
    ("great movie", {"data": "great movie"}),
    ("this movie was dull and I was bored by it", {"data": "this movie was dull and I was bored by it"}),
    ('"good movie" false', {"data": "good movie", "positive": "false"}),  # quoted: positional options still work
    ("good movie positive=false", {"positive": "false", "data": "good movie"}),
    ("positive:false dataset:reviews good movie start:true",
     {"positive": "false", "dataset": "reviews", "start": "true", "data": "good movie"}),
    ("first line\nsecond line\ndataset=x\nthird", {"dataset": "x", "data": "first line\nsecond line\nthird"}),
])
def test_free_text_takes_the_rest_of_the_line_and_named_options_go_anywhere(text, expected) -> None:
    assert parse_arguments(REVIEW, text, [], "!") == expected


FILES = Command("files", "List", _noop, [string("path", "Folder", default=""),
                                         integer("page", "Page", default=1, min_value=1)])


@pytest.mark.parametrize("text, expected", [
    ("uploads 2", {"path": "uploads", "page": "2"}),  # a path, then a page: one word each
    ('"my uploads" 2', {"path": "my uploads", "page": "2"}),
    ("uploads", {"path": "uploads"}),
])
def test_a_string_with_positional_options_after_it_takes_one_word(text, expected) -> None:
    assert parse_arguments(FILES, text, [], "!") == expected


@pytest.mark.parametrize("text", ["great bot rating=5", "rating=5 great bot", "great rating:5 bot",
                                  "great bot rating:5"])
def test_feedback_text_around_a_named_rating(text) -> None:
    assert parse_arguments(FEEDBACK, text, [], "!") == {"rating": "5", "text": "great bot"}


def test_a_colon_counts_only_after_a_known_option_name() -> None:
    line = "see https://example.com/a:b at 12:30 note: fine"
    assert parse_arguments(FEEDBACK, line, [], "!") == {"text": line}
    assert parse_arguments(FEEDBACK, "message_id:https://discord.com/channels/1/2/3 ok", [], "!") == {
        "message_id": "https://discord.com/channels/1/2/3", "text": "ok"}


def test_unknown_options_are_named() -> None:
    with pytest.raises(BadArgument, match=r"^Unknown option `extra` \(options: `name`\)\. Usage: `!hi \[name\]`$"):
        parse_arguments(HI, "name=Bob extra=1", [], "!")
    with pytest.raises(BadArgument, match=r"^Unknown option `colour`"):
        parse_arguments(Command("ping", "Ping", _noop, [integer("n", "Count", default=1)]), "colour=red", [], "!")


def test_slash_usage_line() -> None:
    assert usage(TRAIN, slash=True) == "/train [data:…] [positive:true] [file:(a file)]"
    assert usage(SAY, slash=True) == "/say text:…"


async def test_natural_typing_through_the_bot(tb) -> None:
    """Through the real bot: free text with a named option after it, key:value, an unknown option named."""
    assert (await tb.say("!feedback great bot rating=5")).content.startswith("Thanks for your feedback")
    async with tb.app.storage.connect() as conn:
        row = (await conn.execute(sa.select(feedback_table))).one()
    assert (row.text, row.rating) == ("great bot", 5)
    assert (await tb.say("!hi name=Bob extra=1")).content.startswith("Unknown option `extra` (options: `name`).")
    done = await tb.say("!plugins disable feedback scope:server", user=tb.owner)
    assert done.content == "Plugin `feedback` is now disabled in this server."


async def test_help_shows_the_usage_of_its_surface(tb) -> None:
    slash = await tb.slash("help", {"command": "train"})
    assert "Usage: `/train [data:…] [positive:true]" in slash.content and "!train" not in slash.content
    prefix = await tb.say("!help train")
    assert "Usage: `!train [data] [positive=true]" in prefix.content


async def test_instruction_name_without_suffix_is_markdown_on_both_surfaces(tb) -> None:
    (tb.data_root / "instructions").mkdir(exist_ok=True)
    (tb.data_root / "instructions" / "guide.md").write_text("Be kind.", "utf-8")
    assert (await tb.slash("instruction", {"name": "guide"})).content == "Be kind."
    assert (await tb.say("!instruction guide")).content == "Be kind."


@pytest.mark.parametrize("text", ["start", "Start", "positive"])
def test_a_lone_word_naming_a_yes_no_option_is_not_taken_as_text(text) -> None:
    """``!train start`` most likely means the switch, not an example that reads "start"."""
    with pytest.raises(BadArgument, match=rf"^`{text.lower()}` is an option of `train`: type "
                                          rf"`!train {text.lower()}:true` to set it\. To mean the word itself, "
                                          rf'quote it: `"{text.lower()}"`\.$'):
        parse_arguments(REVIEW, text, [], "!")


@pytest.mark.parametrize("text, expected", [
    ('"start"', {"data": "start"}),  # quoted: the word itself
    ("start the film", {"data": "start the film"}),  # more than the one word: text
    ("start:true", {"start": "true"}),
])
def test_the_word_is_text_when_quoted_or_in_a_sentence(text, expected) -> None:
    assert parse_arguments(REVIEW, text, [], "!") == expected


def test_a_lone_word_for_a_yes_no_option_itself_is_its_value() -> None:
    """Where the word fills the yes/no option (not a text one), it is that option's value as before."""
    toggle = Command("listen", "Listen", _noop, [boolean("on", "On or off")])
    assert parse_arguments(toggle, "on", [], "!") == {"on": "on"}
