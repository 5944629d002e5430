"""The gateway intents through the real bot: it asks for Message Content (prefix commands and chat
read messages); where the application has not enabled it, Discord closes the connection with 4014
and the bot stops with an error that names the intent and the setting, not a bare close code."""

from __future__ import annotations

import logging

import pytest

from framework.intents import DisallowedIntents

pytestmark = pytest.mark.backends("sqlite")  # gateway intents do not depend on the database

MESSAGE_CONTENT = 1 << 15


async def test_without_the_message_content_intent_enabled_the_bot_says_what_to_enable(tb_factory, caplog) -> None:
    caplog.set_level(logging.ERROR, logger="framework.intents")
    tb_factory.emu.privileged_intents &= ~MESSAGE_CONTENT
    with pytest.raises(DisallowedIntents) as refused:
        await tb_factory()
    assert str(refused.value) == (
        "Discord refused the gateway connection (4014, disallowed intents): the bot asks for the Message Content "
        "Intent, which this application does not have enabled (prefix commands, chat and voice messages read what "
        "users write). Enable it in the Discord Developer Portal: Applications → this bot → Bot → Privileged "
        "Gateway Intents, then start again.")
    assert [r.getMessage() for r in caplog.records if r.name == "framework.intents"] == [str(refused.value)]
    assert [(r.rule, r.code) for r in tb_factory.emu.refusals] == [("intent.privileged", 4014)]


async def test_with_the_intent_enabled_prefix_commands_read_the_content(tb) -> None:
    assert all(session.intents & MESSAGE_CONTENT for session in tb.emu._gateway.sessions.values())
    assert (await tb.say("!hi")).content.startswith("Hello, alice!")
    assert tb.emu.refusals == []
