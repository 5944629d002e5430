"""Plugins' ``MessageCreateEvent`` listeners and bots' messages: every message reaches a listener,
the bot's own replies and other bots' messages among them, unless it was registered with
``bots=False``; when every listener says so, the prefix router takes raw payloads and drops bots'
messages before hikari builds their event (``PrefixRouter.follow``)."""

from __future__ import annotations

import asyncio
import types

import hikari
import pytest

from framework import hookimpl

pytestmark = pytest.mark.backends("sqlite")  # which messages reach listeners does not depend on the database


def plugin(**hooks) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


class Ears:
    """A listener that records the content of each message it gets, and says when it got ``until``."""

    def __init__(self, until: str) -> None:
        self.heard: list[str] = []
        self.until = until
        self.done = asyncio.Event()

    async def __call__(self, event: hikari.MessageCreateEvent, app) -> None:
        self.heard.append(event.message.content or "")
        if event.message.content == self.until:
            self.done.set()

    def plugin(self, **register_options) -> types.SimpleNamespace:
        return plugin(register_listeners=lambda register: register(hikari.MessageCreateEvent, self,
                                                                    **register_options))


def via_payloads(app) -> bool:
    """Whether the prefix router takes raw payloads (True) or hikari's ``MessageCreateEvent`` (False)."""
    raw = app.prefix.on_payload in app.bot.get_listeners(hikari.ShardPayloadEvent)
    built = app.prefix.on_message in app.bot.get_listeners(hikari.MessageCreateEvent)
    assert raw != built, "the router is subscribed exactly one way"
    return raw


def robot(tb) -> object:
    user = tb.emu.create_user("robot", bot=True)
    tb.emu.add_member(tb.guild, user)
    return user


async def test_bots_messages_reach_a_listener_by_default(tb_factory) -> None:
    """The bot's own reply and another bot's message reach a listener registered as before (API 1.0)."""
    ears = Ears(until="last words")
    tb = await tb_factory(extra_plugins={"ears": ears.plugin()})
    assert not via_payloads(tb.app)
    await tb.send("beep", user=robot(tb))
    reply = await tb.say("!hi")
    await tb.send("last words")
    await asyncio.wait_for(ears.done.wait(), 15)
    assert ears.heard == ["beep", "!hi", reply.content, "last words"]


async def test_a_listener_without_bots(tb_factory) -> None:
    """``bots=False``: only messages people write; the built-in listeners (chat, voice messages) register
    so too, so bots' messages are dropped before hikari builds their event, and commands still answer."""
    ears = Ears(until="last words")
    tb = await tb_factory(extra_plugins={"ears": ears.plugin(bots=False)})
    assert {owner for owner, _ in tb.app.listeners[hikari.MessageCreateEvent]} >= {"chat", "voice_messages", "ears"}
    assert via_payloads(tb.app)
    await tb.send("beep", user=robot(tb))
    reply = await tb.say("!hi")
    assert reply.content.startswith("Hello, alice!")
    await tb.send("last words")
    await asyncio.wait_for(ears.done.wait(), 15)
    assert ears.heard == ["!hi", "last words"]


async def test_the_subscription_follows_the_listeners(tb_factory) -> None:
    """A plugin that wants bots' messages switches the router to hikari's events while it is enabled."""
    wants = Ears(until="")
    tb = await tb_factory(extra_plugins={"wants": wants.plugin()})
    assert not via_payloads(tb.app)
    await tb.app.set_enabled("wants", False)
    assert via_payloads(tb.app)
    assert (await tb.say("!hi")).content.startswith("Hello, alice!")
    await tb.app.set_enabled("wants", True)
    assert not via_payloads(tb.app)
    assert (await tb.say("!hi")).content.startswith("Hello, alice!")


async def test_without_bots_when_hikari_caches_messages(tb_factory) -> None:
    """With hikari's message cache on, hikari builds every message's event anyway: the router takes those,
    and a ``bots=False`` listener still gets no bot's message."""
    ears = Ears(until="last words")
    tb = await tb_factory(extra_plugins={"ears": ears.plugin(bots=False)},
                          config_overrides={"bot": {"message_cache": 5}})
    assert not via_payloads(tb.app)
    await tb.send("beep", user=robot(tb))
    await tb.say("!hi")
    await tb.send("last words")
    await asyncio.wait_for(ears.done.wait(), 15)
    assert ears.heard == ["!hi", "last words"]


async def test_bots_false_is_for_message_create_only(tb_factory) -> None:
    """Other events have no author to tell by: the plugin fails to load, saying why; the others run."""
    async def on_reaction(event: hikari.ReactionAddEvent, app) -> None:
        pass

    bad = plugin(register_listeners=lambda register: register(hikari.ReactionAddEvent, on_reaction, bots=False))
    tb = await tb_factory(extra_plugins={"bad": bad})
    info = tb.app.plugins.infos["bad"]
    assert info.status == "failed"
    assert "bots=False applies to hikari.MessageCreateEvent listeners only, not ReactionAddEvent" in (info.error or "")
    assert (await tb.say("!hi")).content.startswith("Hello, alice!")


async def test_a_listener_of_guild_messages_keeps_hikaris_events(tb_factory) -> None:
    """A listener of a narrower message event needs hikari to build every guild message's event anyway:
    the router takes those too (no message is built twice), and the listener hears the bot's own reply."""
    heard: list[str] = []

    async def on_guild_message(event: hikari.GuildMessageCreateEvent, app) -> None:
        heard.append(event.message.content or "")

    p = plugin(register_listeners=lambda register: register(hikari.GuildMessageCreateEvent, on_guild_message))
    tb = await tb_factory(extra_plugins={"guilds": p})
    assert not via_payloads(tb.app)
    reply = await tb.say("!hi")
    await tb.emu.wait_until(lambda: reply.content in heard, 15, what="the listener to hear the reply")
    assert heard[:2] == ["!hi", reply.content]
