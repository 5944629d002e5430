"""The strict emulator's interaction rules, each checked with raw REST the way Discord answers it
(https://discord.com/developers/docs/interactions/receiving-and-responding): the 3-second
deadline, one initial response, the 15-minute token on every webhook route, no webhook before the
interaction is answered, the first follow-up after a deferral editing the original, ephemeral
messages out of reach of channel endpoints, and no channel-endpoint edit of a response in a DM;
then the real bot under these rules: a slow command deferred in time, long work in a DM."""

from __future__ import annotations

import asyncio
import json
import types
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from framework import hookimpl
from framework.commands import command
from framework.emulator import DiscordEmulator
from tests.test_training import TRAINING_TOML, _progress, labelled_jsonl

pytestmark = pytest.mark.backends("sqlite")  # Discord's interaction rules do not depend on the database

EPHEMERAL = 64


class Rest:
    """Raw REST as the bot's application, against the emulator."""

    def __init__(self, emu: DiscordEmulator, http: aiohttp.ClientSession) -> None:
        self.emu, self.http = emu, http

    async def __call__(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        async with self.http.request(method, self.emu.rest_url + path, json=body) as response:
            return response.status, (await response.json() if response.status != 204 else None)

    def webhook(self, inter: Any, tail: str = "") -> str:
        return f"/webhooks/{self.emu.application_id}/{inter.token}{tail}"


@pytest.fixture
async def rest(discord_emulator: DiscordEmulator) -> AsyncIterator[Rest]:
    emu = discord_emulator
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {emu.token}"}) as http:
        client = Rest(emu, http)
        status, _ = await client("PUT", f"/applications/{emu.application_id}/commands",
                                 [{"name": "ping", "description": "Ping", "type": 1}])  # type: ignore[arg-type]
        assert status == 200
        yield client


@pytest.fixture
def place(discord_emulator: DiscordEmulator) -> tuple[Any, Any]:
    emu = discord_emulator
    guild = emu.create_guild("g")
    user = emu.create_user("alice")
    emu.add_member(guild, user)
    return emu.create_channel(guild, "general"), user


async def test_an_initial_response_after_three_seconds_is_unknown_interaction(rest: Rest, place) -> None:
    emu = rest.emu
    inter = await emu.invoke_slash(*place, "ping")
    emu.advance_clock(3.5)
    status, body = await rest("POST", f"/interactions/{inter.id}/{inter.token}/callback",
                              {"type": 4, "data": {"content": "late"}})
    assert (status, body) == (404, {"message": "Unknown interaction", "code": 10062})
    assert [r.rule for r in emu.refusals] == ["interaction.deadline"]
    assert inter.responses == []


async def test_the_deadline_can_be_relaxed_and_a_second_response_is_refused(rest: Rest, place) -> None:
    emu = rest.emu
    emu.relax("interaction.deadline")
    inter = await emu.invoke_slash(*place, "ping")
    emu.advance_clock(10)
    callback = f"/interactions/{inter.id}/{inter.token}/callback"
    assert (await rest("POST", callback, {"type": 4, "data": {"content": "ok"}}))[0] == 204
    status, body = await rest("POST", callback, {"type": 4, "data": {"content": "again"}})
    assert (status, body["code"]) == (400, 40060)
    assert [r.rule for r in emu.refusals] == ["interaction.acknowledged"]


async def test_the_token_expires_after_15_minutes_on_every_webhook_route(rest: Rest, place) -> None:
    emu = rest.emu
    inter = await emu.invoke_slash(*place, "ping")
    assert (await rest("POST", f"/interactions/{inter.id}/{inter.token}/callback",
                       {"type": 4, "data": {"content": "ok"}}))[0] == 204
    status, followup = await rest("POST", rest.webhook(inter), {"content": "follow-up"})
    assert status == 200
    emu.advance_clock(14 * 60)
    assert (await rest("GET", rest.webhook(inter, "/messages/@original")))[0] == 200
    emu.advance_clock(61)
    answers = [await rest("POST", rest.webhook(inter), {"content": "too late"}),
               await rest("GET", rest.webhook(inter, "/messages/@original")),
               await rest("PATCH", rest.webhook(inter, "/messages/@original"), {"content": "edit"}),
               await rest("PATCH", rest.webhook(inter, f"/messages/{followup['id']}"), {"content": "edit"}),
               await rest("DELETE", rest.webhook(inter, f"/messages/{followup['id']}"))]
    assert answers == [(401, {"message": "Invalid Webhook Token", "code": 50027})] * 5
    assert {r.rule for r in emu.refusals} == {"interaction.token_expired"}
    assert [m.content for m in inter.responses] == ["ok", "follow-up"]


async def test_a_new_interaction_after_the_clock_moved_has_a_fresh_token(rest: Rest, place) -> None:
    emu = rest.emu
    emu.advance_clock(60 * 60)
    inter = await emu.invoke_slash(*place, "ping")
    assert (await rest("POST", f"/interactions/{inter.id}/{inter.token}/callback", {"type": 5}))[0] == 204
    assert (await rest("PATCH", rest.webhook(inter, "/messages/@original"), {"content": "done"}))[0] == 200
    assert emu.refusals == []


async def test_the_webhook_does_not_exist_before_the_interaction_is_answered(rest: Rest, place) -> None:
    emu = rest.emu
    inter = await emu.invoke_slash(*place, "ping")
    status, body = await rest("POST", rest.webhook(inter), {"content": "too early"})
    assert (status, body) == (404, {"message": "Unknown Webhook", "code": 10015})
    assert (await rest("PATCH", rest.webhook(inter, "/messages/@original"), {"content": "x"}))[0] == 404
    assert [r.rule for r in emu.refusals] == ["interaction.unacknowledged"] * 2


async def test_the_first_followup_after_a_deferral_edits_the_original_keeping_its_visibility(
        rest: Rest, place) -> None:
    emu = rest.emu
    inter = await emu.invoke_slash(*place, "ping")
    assert (await rest("POST", f"/interactions/{inter.id}/{inter.token}/callback?with_response=true",
                       {"type": 5, "data": {"flags": EPHEMERAL}}))[0] == 200
    original = inter.messages[0]
    status, first = await rest("POST", rest.webhook(inter), {"content": "the answer", "flags": 0})
    assert status == 200 and first["id"] == str(original.id)
    assert first["flags"] & EPHEMERAL and original.ephemeral and original.content == "the answer"
    status, second = await rest("POST", rest.webhook(inter), {"content": "more"})
    assert status == 200 and second["id"] != str(original.id) and not second["flags"] & EPHEMERAL
    assert [m.content for m in inter.responses] == ["the answer", "more"]
    assert emu.refusals == []


async def test_an_ephemeral_message_is_unknown_to_channel_endpoints(rest: Rest, place) -> None:
    emu = rest.emu
    channel, _ = place
    inter = await emu.invoke_slash(*place, "ping")
    status, answer = await rest("POST", f"/interactions/{inter.id}/{inter.token}/callback?with_response=true",
                                {"type": 4, "data": {"content": "secret", "flags": EPHEMERAL}})
    message_id = answer["resource"]["message"]["id"]
    path = f"/channels/{channel.id}/messages/{message_id}"
    answers = [await rest("GET", path), await rest("PATCH", path, {"content": "x"}), await rest("DELETE", path)]
    assert answers == [(404, {"message": "Unknown Message", "code": 10008})] * 3
    assert [r.rule for r in emu.refusals] == ["interaction.ephemeral_via_channel"] * 3
    status, _ = await rest("PATCH", rest.webhook(inter, "/messages/@original"), {"content": "edited"})
    assert status == 200 and inter.responses[0].content == "edited"


async def test_a_response_in_a_dm_is_not_edited_through_the_channel_endpoint(rest: Rest, place) -> None:
    emu = rest.emu
    guild_channel, user = place
    for channel, expected in ((guild_channel, 200), (emu.create_dm(user), 403)):
        inter = await emu.invoke_slash(channel, user, "ping")
        _, answer = await rest("POST", f"/interactions/{inter.id}/{inter.token}/callback?with_response=true",
                               {"type": 4, "data": {"content": "public"}})
        path = f"/channels/{channel.id}/messages/{answer['resource']['message']['id']}"
        status, body = await rest("PATCH", path, {"content": "edited"})
        assert status == expected, body
    assert body == {"message": "Missing Access", "code": 50001}
    assert [r.rule for r in emu.refusals] == ["interaction.channel_edit_outside_guild"]


BUTTONS = [{"type": 1, "components": [{"type": 2, "style": 1, "label": "Yes", "custom_id": "yes"}]}]


async def message_with_buttons(rest: Rest, channel) -> Any:
    status, sent = await rest("POST", f"/channels/{channel.id}/messages", {"content": "Sure?", "components": BUTTONS})
    assert status == 200 and sent["components"] == BUTTONS
    return rest.emu.messages[int(sent["id"])]


async def test_update_message_edits_the_message_the_button_was_on(rest: Rest, place) -> None:
    emu = rest.emu
    channel, user = place
    message = await message_with_buttons(rest, channel)
    inter = await emu.click_button(message, user, "yes")
    status, answer = await rest("POST", f"/interactions/{inter.id}/{inter.token}/callback?with_response=true",
                                {"type": 7, "data": {"content": "Done.", "embeds": [{"title": "ok"}],
                                                     "components": []}})
    assert status == 200 and answer["resource"]["type"] == 7
    assert answer["resource"]["message"]["id"] == str(message.id)
    assert (message.content, message.embeds, message.components) == ("Done.", [{"title": "ok"}], [])
    assert message.edited_at is not None and message.edits[0]["content"] == "Sure?"
    status, fetched = await rest("GET", f"/channels/{channel.id}/messages/{message.id}")
    assert status == 200 and fetched["content"] == "Done." and fetched["components"] == []
    assert fetched["edited_timestamp"] is not None
    assert inter.messages == [] and emu.refusals == []


async def test_update_message_keeps_what_the_body_leaves_out(rest: Rest, place) -> None:
    emu = rest.emu
    channel, user = place
    message = await message_with_buttons(rest, channel)
    inter = await emu.click_button(message, user, "yes")
    status, _ = await rest("POST", f"/interactions/{inter.id}/{inter.token}/callback", {"type": 7, "data": {}})
    assert status == 204 and (message.content, message.components) == ("Sure?", BUTTONS)


@pytest.mark.parametrize("kind", [6, 7])
async def test_update_message_without_a_component_message_is_unknown_message(rest: Rest, place, kind) -> None:
    emu = rest.emu
    inter = await emu.invoke_slash(*place, "ping")
    status, body = await rest("POST", f"/interactions/{inter.id}/{inter.token}/callback",
                              {"type": kind, "data": {"content": "edit what?"}})
    assert (status, body) == (404, {"message": "Unknown Message", "code": 10008})
    assert [r.rule for r in emu.refusals] == ["interaction.update_message"] and inter.callbacks == []


async def test_a_modal_opened_from_a_button_may_update_its_message_and_one_from_a_command_may_not(
        rest: Rest, place) -> None:
    emu = rest.emu
    channel, user = place
    modal = {"type": 9, "data": {"custom_id": "form", "title": "Why", "components": [
        {"type": 1, "components": [{"type": 4, "custom_id": "why", "label": "Why", "style": 1}]}]}}
    message = await message_with_buttons(rest, channel)
    for opener, allowed in ((await emu.click_button(message, user, "yes"), True),
                            (await emu.invoke_slash(channel, user, "ping"), False)):
        assert (await rest("POST", f"/interactions/{opener.id}/{opener.token}/callback", modal))[0] == 204
        submit = await emu.submit_modal(opener, {"why": "because"})
        status, _ = await rest("POST", f"/interactions/{submit.id}/{submit.token}/callback",
                               {"type": 7, "data": {"content": "Because."}})
        assert status == (204 if allowed else 404)
    assert message.content == "Because." and [r.rule for r in emu.refusals] == ["interaction.update_message"]


async def test_update_message_is_sent_to_the_bot_as_message_update(tb_factory) -> None:
    tb = await tb_factory()
    emu = tb.emu
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {emu.token}"}) as http:
        rest = Rest(emu, http)
        message = await message_with_buttons(rest, tb.channel)
        inter = await emu.click_button(message, tb.user, "yes")
        status, _ = await rest("POST", f"/interactions/{inter.id}/{inter.token}/callback",
                               {"type": 7, "data": {"content": "Done.", "components": []}})
    assert status == 204
    [session] = emu._gateway.sessions.values()
    [update] = [e["d"] for e in session.buffer if e["t"] == "MESSAGE_UPDATE"]
    assert (update["id"], update["content"], update["components"]) == (str(message.id), "Done.", [])
    assert update["edited_timestamp"] is not None and emu.refusals == []


# ----------------------------------------------------------------------------- the real bot under these rules


def slow_plugin() -> types.SimpleNamespace:
    @command("slow", "Answers after longer than Discord's three seconds")
    async def slow(ctx) -> None:
        await asyncio.sleep(3.5)
        await ctx.respond("finally")

    return types.SimpleNamespace(register_commands=hookimpl(lambda register: register(slow)))


async def test_the_bot_defers_a_slow_command_within_the_deadline(tb_factory) -> None:
    tb = await tb_factory(extra_plugins={"slow": slow_plugin()})
    inter = await tb.interaction("slow")
    answer = await inter.wait_response()
    assert answer.content == "finally"
    assert [c["type"] for c in inter.callbacks] == [5]
    assert tb.emu.refusals == []


async def test_long_work_answered_in_a_dm_is_never_edited_through_the_channel(tb_factory) -> None:
    """A `/test` run in a DM: its progress and report come through the interaction's token (a
    channel-endpoint edit of an interaction's answer is refused outside guilds)."""
    tb = await tb_factory(plugins_toml=TRAINING_TOML + "[bot]\nprogress_interval = 0.2\n")
    sent = await tb.send("!train", user=tb.owner, attachments=[tb.emu.file("r.jsonl", labelled_jsonl())])
    await _progress(tb, sent, "succeeded")
    dm = tb.emu.create_dm(tb.owner)
    assert (await tb.say("!model use local-1", user=tb.owner, channel=dm)).content.startswith("Active model")
    data = json.dumps({"positive": ["great film, loved it"], "negative": ["boring and far too long"]})
    inter = await tb.emu.invoke_slash(dm, tb.owner, "test", {"data": data})
    await tb.emu.wait_until(lambda: any("accuracy" in m.content for m in inter.responses), 60, what="the report")
    assert tb.emu.refusals == []
    assert tb.emu.rate_limited_requests == 0
