"""The one bounded parser for ids and row numbers users type: what it takes, and the message for
everything else (the commands using it are tested through the bot in test_training,
test_evaluation and test_corrections)."""

from __future__ import annotations

import pytest

from framework.errors import MAX_ID, BadArgument, UserError, parse_id, parse_message_id, parse_row_number


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
    assert str(refused.value) == f"`{text}` is not a job number; `jobs list` shows them."
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
