"""The one bounded parser for ids and row numbers users type: what it takes, and the message for
everything else (the commands using it are tested through the bot in test_training,
test_evaluation and test_corrections)."""

from __future__ import annotations

import pytest

from framework.dataroot import DataRoot
from framework.errors import (
    ECHO_LIMIT,
    MAX_ID,
    BadArgument,
    PathRefused,
    UserError,
    echo,
    parse_id,
    parse_message_id,
    parse_row_number,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("4", 4), ("#4", 4), (" 4 ", 4), ("004", 4), (str(MAX_ID), MAX_ID),
])
def test_row_numbers_are_understood(text: str, expected: int) -> None:
    assert parse_row_number(text, "job number", "jobs list") == expected


@pytest.mark.parametrize("text", [
    "", "abc", "0", "#0", "-4", "+4", "4.0", "4 5", "##4", str(MAX_ID + 1), "99999999999999999999",
    "9" * 5000,  # longer than int() converts: refused like any other number too large
    "https://discord.com/channels/1/2/3",  # links are message references, not row numbers
])
def test_anything_else_is_refused_naming_the_thing(text: str) -> None:
    with pytest.raises(BadArgument) as refused:
        parse_row_number(text, "job number", "jobs list")
    assert str(refused.value) == f"`{echo(text)}` is not a job number; `jobs list` shows them."
    assert isinstance(refused.value, UserError)


def test_a_smaller_bound_can_be_asked_for() -> None:
    assert parse_id("25", "page", maximum=25) == 25
    with pytest.raises(BadArgument, match=r"^`26` is not a page\.$"):
        parse_id("26", "page", maximum=25)


def test_message_references_take_links_and_stop_at_the_id_bound() -> None:
    assert parse_message_id("https://discord.com/channels/1/2/" + str(MAX_ID)) == MAX_ID
    for text in ["0", "https://discord.com/channels/1/2/" + str(MAX_ID + 1)]:
        with pytest.raises(BadArgument, match="is not a message id or link"):
            parse_message_id(text)


def test_echo_keeps_short_input_and_cuts_long_input_in_the_middle() -> None:
    assert echo("datasets/reviews") == "datasets/reviews"
    path = "a/" + "b" * 5000 + "/end.txt"
    shown = echo(path)
    assert len(shown) == ECHO_LIMIT and shown.startswith("a/bbb") and shown.endswith("b/end.txt") and "…" in shown


def test_echo_makes_invisible_characters_visible_and_keeps_the_code_span() -> None:
    assert echo("a\x00b\nc\u200fd`e") == "a\\x00b\\nc\\u200fdˋe"


def test_a_refusal_echoing_a_huge_path_fits_one_message(tmp_path) -> None:
    """Failure 2.4 of issue 14: a refusal repeated a 5,000-character path over three messages."""
    with pytest.raises(PathRefused) as refused:
        DataRoot(tmp_path).resolve("../" + "x" * 5000)
    assert len(str(refused.value)) < 300
