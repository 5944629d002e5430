"""Chat through the real bot: mentions answered with memory, channels switched on, errors short,
answers recorded with their prompts; the local provider and the openai SDK on the test server."""

from __future__ import annotations

import asyncio
import types

import hikari
import pytest

from framework import hookimpl
from framework import sql as sa
from plugins.chat import answers
from tests.test_training import TRAINING_TOML, _progress, labelled_jsonl

OPENAI_TOML = '[engines]\nprovider = "openai"\n'


def replies_seen() -> tuple[types.SimpleNamespace, asyncio.Queue[str]]:
    """A plugin observing ``reply_sent``, which chat calls after recording an answer."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    return types.SimpleNamespace(reply_sent=hookimpl(lambda app, message, text: queue.put_nowait(text))), queue


async def test_mention_is_answered_with_memory_and_recorded(tb_factory, openai_server) -> None:
    observer, replies = replies_seen()
    tb = await tb_factory(plugins_toml=OPENAI_TOML, extra_plugins={"observer": observer})
    me = tb.emu.bot_user.id
    first = await tb.say(f"<@{me}> my name is Ann")
    assert first.content == "Hello from the test model."
    openai_server.chat_reply = "Your name is Ann."
    second = await tb.say(f"<@{me}> what is my name?")
    assert second.content == "Your name is Ann."
    sent = openai_server.chat_requests[-1]["messages"]
    assert sent[0]["role"] == "system" and "trainerbot" in sent[0]["content"]
    assert [m["content"] for m in sent[1:]] == ["my name is Ann", "Hello from the test model.", "what is my name?"]
    assert openai_server.chat_requests[-1]["model"] == "gpt-4o-mini"
    assert [await replies.get(), await replies.get()] == ["Hello from the test model.", "Your name is Ann."]
    async with tb.app.storage.connect() as conn:
        row = (await conn.execute(sa.select(answers).where(answers.c.message_id == second.id))).one()
    assert (row.prompt, row.answer, row.user_id) == ("what is my name?", "Your name is Ann.", tb.user.id)


async def test_plain_messages_are_ignored_until_the_channel_is_switched_on(tb_factory, openai_server) -> None:
    handled: list[int] = []

    async def after_chat(event: hikari.MessageCreateEvent, app) -> None:
        handled.append(int(event.message.id))  # a message's listeners run in order: chat's has finished

    observer = types.SimpleNamespace(register_listeners=hookimpl(
        lambda register: register(hikari.MessageCreateEvent, after_chat, bots=False)))
    tb = await tb_factory(plugins_toml=OPENAI_TOML, extra_plugins={"observer": observer})
    entries = tb.app.listeners[hikari.MessageCreateEvent]  # the observer goes last: after chat's listener
    entries.append(entries.pop([p for p, _ in entries].index("observer")))
    quiet = await tb.send("hello everyone")
    await tb.emu.wait_until(lambda: int(quiet.id) in handled, what="chat to have seen the message")
    assert not [m for m in tb.emu.sent_messages() if m.reference == quiet.id]
    assert (await tb.say("!chat here on")).content.startswith("You don't have permission")
    assert (await tb.say("!chat here on", user=tb.owner)).content == "I'll answer every message in this channel."
    assert (await tb.say("hello everyone")).content == "Hello from the test model."
    updated = await tb.say('!chat instruction "Answer like a pirate."', user=tb.owner)
    assert updated.content == "System instruction updated."
    await tb.say("ahoy")
    assert openai_server.chat_requests[-1]["messages"][0]["content"] == "Answer like a pirate."


@pytest.mark.backends("sqlite")  # message lengths and errors: not the database
async def test_long_answers_are_split_and_errors_are_short(tb_factory, openai_server) -> None:
    tb = await tb_factory(plugins_toml=OPENAI_TOML)
    openai_server.chat_reply = "word " * 900
    sent = await tb.send(f"<@{tb.emu.bot_user.id}> talk a lot")
    parts = [await tb.reply_to(sent), await tb.reply_to(sent, skip=1), await tb.reply_to(sent, skip=2)]
    assert all(0 < len(p.content) <= 2000 for p in parts)
    openai_server.fail_next(500, count=5)
    failed = await tb.say(f"<@{tb.emu.bot_user.id}> again")
    assert failed.content == "Sorry, I can't answer right now: OpenAI refused to answer: injected 500"
    assert "Traceback" not in failed.content


async def test_dm_is_answered_by_the_active_local_model(tb_factory) -> None:
    tb = await tb_factory(plugins_toml=TRAINING_TOML)
    no_model = await tb.say("good film?", channel=tb.emu.create_dm(tb.user))
    assert no_model.content.startswith("Sorry, I can't answer right now: No local model is active yet")
    sent = await tb.send("!train", user=tb.owner, attachments=[tb.emu.file("r.jsonl", labelled_jsonl())])
    await _progress(tb, sent, "succeeded")
    await tb.say("!model use local-1", user=tb.owner)
    dm = tb.emu.create_dm(tb.user)
    assert (await tb.say("a wonderful, moving story", channel=dm)).content.startswith("positive (")
    assert (await tb.say("boring and awful", channel=dm)).content.startswith("negative (")


@pytest.mark.backends("sqlite")  # mentions in what is sent: not the database
async def test_a_model_answer_that_names_everyone_pings_no_one(tb_factory, openai_server) -> None:
    """The answer is the model's text, which a user can steer: it must not ping @everyone, a role or a user
    (the strict emulator records mentions as ``allowed_mentions`` lets them through, as Discord does)."""
    tb = await tb_factory(plugins_toml=OPENAI_TOML)
    role = tb.emu.create_role(tb.guild, "mods")
    openai_server.chat_reply = f"@everyone look, <@&{role.id}> and <@{tb.owner.id}>!"
    answer = await tb.say(f"<@{tb.emu.bot_user.id}> say something loud")
    assert answer.content == openai_server.chat_reply
    assert (answer.mention_users, answer.mention_roles, answer.mention_everyone) == ([], [], False)

