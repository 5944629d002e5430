"""What the emulated gateway sends a session, by the intents and ``large_threshold`` its IDENTIFY gave, as
Discord does: GUILD_CREATE lists every member only with GUILD_PRESENCES in a guild that is not large
(otherwise the bot and the members in voice), and an event tied to an intent reaches only a session that
asked for it. Raw gateway sockets, and the real bot (what hikari's cache holds after READY)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from framework.emulator import DiscordEmulator
from framework.emulator.intent_rules import required_intent

pytestmark = pytest.mark.backends("sqlite")  # what the gateway sends does not depend on the database

GUILDS, GUILD_MEMBERS, GUILD_VOICE_STATES, GUILD_PRESENCES = 1, 1 << 1, 1 << 7, 1 << 8
GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT = 1 << 9, 1 << 12, 1 << 15


async def identify(session: aiohttp.ClientSession, emu: DiscordEmulator, intents: int,
                   **extra: Any) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(emu.gateway_url)
    assert (await ws.receive_json())["op"] == 10
    await ws.send_json({"op": 2, "d": {"token": emu.token, "intents": intents, "properties": {}, **extra}})
    return ws


async def events_until(ws: aiohttp.ClientWebSocketResponse, name: str) -> list[tuple[str, dict[str, Any]]]:
    """Every dispatched event, in order, up to and including the first ``name``."""
    seen: list[tuple[str, dict[str, Any]]] = []
    while not seen or seen[-1][0] != name:
        frame = await ws.receive_json(timeout=5)
        if frame.get("op") == 0:
            seen.append((frame["t"], frame["d"]))
    return seen


async def guild_create(emu: DiscordEmulator, intents: int, **extra: Any) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        ws = await identify(session, emu, intents, **extra)
        data = (await events_until(ws, "GUILD_CREATE"))[-1][1]
        await ws.close()
        return data


def member_ids(data: dict[str, Any]) -> set[int]:
    return {int(m["user"]["id"]) for m in data["members"]}


@pytest.fixture
def crowd(discord_emulator: DiscordEmulator):
    """A guild of 60 members (the bot and 59 users), one of them in voice."""
    emu = discord_emulator
    guild = emu.create_guild("Crowd")
    voice = emu.create_channel(guild, "Voice", kind="voice")
    users = [emu.create_user(f"user{n}") for n in range(59)]
    for user in users:
        emu.add_member(guild, user)
    emu._voice_state(guild, users[7], voice, session_id="s")
    return emu, guild, users


async def test_without_presences_guild_create_carries_only_the_bot_and_voice_members(crowd) -> None:
    emu, guild, users = crowd
    data = await guild_create(emu, GUILDS | GUILD_VOICE_STATES, large_threshold=250)
    assert member_ids(data) == {emu.bot_user.id, users[7].id}
    assert (data["member_count"], data["large"]) == (60, False)
    assert [s["user_id"] for s in data["voice_states"]] == [str(users[7].id)]


async def test_with_presences_a_guild_over_large_threshold_is_large_and_sends_no_offline_members(crowd) -> None:
    emu, _, users = crowd
    default = await guild_create(emu, GUILDS | GUILD_PRESENCES)  # large_threshold defaults to 50
    assert (default["large"], member_ids(default)) == (True, {emu.bot_user.id, users[7].id})
    at_250 = await guild_create(emu, GUILDS | GUILD_PRESENCES, large_threshold=250)
    assert (at_250["large"], len(at_250["members"]), at_250["member_count"]) == (False, 60, 60)
    at_60 = await guild_create(emu, GUILDS | GUILD_PRESENCES, large_threshold=60)
    assert at_60["large"] is False, "large means more members than the threshold"
    at_59 = await guild_create(emu, GUILDS | GUILD_PRESENCES, large_threshold=59)
    assert at_59["large"] is True and member_ids(at_59) == {emu.bot_user.id, users[7].id}


async def test_with_presences_a_small_guild_sends_every_member(discord_emulator) -> None:
    emu = discord_emulator
    guild = emu.create_guild("Small")
    for n in range(9):
        emu.add_member(guild, emu.create_user(f"user{n}"))
    data = await guild_create(emu, GUILDS | GUILD_PRESENCES)
    assert (len(data["members"]), data["member_count"], data["large"]) == (10, 10, False)
    assert member_ids(data) == set(guild.members)


async def test_relaxed_guild_create_sends_every_member(crowd) -> None:
    emu, guild, _ = crowd
    emu.relax("intent.guild_create_members")
    data = await guild_create(emu, GUILDS)
    assert member_ids(data) == set(guild.members) and data["large"] is False


@pytest.mark.parametrize("threshold", [49, 251, "100", True])
async def test_a_large_threshold_out_of_range_closes_with_4001(discord_emulator, threshold) -> None:
    emu = discord_emulator
    emu.create_guild("Any")
    async with aiohttp.ClientSession() as session:
        ws = await identify(session, emu, GUILDS, large_threshold=threshold)
        closed = await ws.receive(timeout=5)
        assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 4001
        assert [(r.rule, r.path, r.code) for r in emu.refusals] == [("gateway.large_threshold", "IDENTIFY", 4001)]
        emu.relax("gateway.large_threshold")
        ws = await identify(session, emu, GUILDS, large_threshold=threshold)
        assert [name for name, _ in await events_until(ws, "GUILD_CREATE")] == ["READY", "GUILD_CREATE"]
        await ws.close()


async def test_guild_member_add_needs_the_guild_members_intent(crowd) -> None:
    emu, guild, _ = crowd
    channel = emu.create_channel(guild, "general")
    async with aiohttp.ClientSession() as session:
        without = await identify(session, emu, GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT)
        await events_until(without, "GUILD_CREATE")
        emu.add_member(guild, emu.create_user("newcomer"))
        await emu.send_message(channel, emu.application_owner, "after the join")
        assert [name for name, _ in await events_until(without, "MESSAGE_CREATE")] == ["MESSAGE_CREATE"]
        await without.close()
        with_ = await identify(session, emu, GUILDS | GUILD_MEMBERS | GUILD_MESSAGES)
        await events_until(with_, "GUILD_CREATE")
        late = emu.create_user("late")
        emu.add_member(guild, late)
        await emu.send_message(channel, emu.application_owner, "after the join")
        seen = await events_until(with_, "MESSAGE_CREATE")
        assert [name for name, _ in seen] == ["GUILD_MEMBER_ADD", "MESSAGE_CREATE"]
        assert seen[0][1]["user"]["id"] == str(late.id) and seen[0][1]["guild_id"] == str(guild.id)
        await with_.close()


async def test_messages_need_guild_messages_in_a_guild_and_direct_messages_in_a_dm(crowd) -> None:
    emu, guild, users = crowd
    channel = emu.create_channel(guild, "general")
    dm = emu.create_dm(users[0])
    async with aiohttp.ClientSession() as session:
        ws = await identify(session, emu, GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT)
        await events_until(ws, "GUILD_CREATE")
        await emu.send_message(dm, users[0], "private")
        await emu.send_message(channel, users[0], "public")
        assert [d["content"] for _, d in await events_until(ws, "MESSAGE_CREATE")] == ["public"]
        await ws.close()
        ws = await identify(session, emu, GUILDS | DIRECT_MESSAGES | MESSAGE_CONTENT)
        await events_until(ws, "GUILD_CREATE")
        await emu.send_message(channel, users[0], "public")
        await emu.send_message(dm, users[0], "private")
        assert [d["content"] for _, d in await events_until(ws, "MESSAGE_CREATE")] == ["private"]
        await ws.close()


async def test_relaxed_events_reach_a_session_without_their_intent(crowd) -> None:
    emu, guild, users = crowd
    emu.relax("intent.events")
    async with aiohttp.ClientSession() as session:
        ws = await identify(session, emu, GUILDS)
        await events_until(ws, "GUILD_CREATE")
        emu.add_member(guild, emu.create_user("newcomer"))
        await emu.send_message(emu.create_dm(users[0]), users[0], "private")
        assert [name for name, _ in await events_until(ws, "MESSAGE_CREATE")] == ["GUILD_MEMBER_ADD",
                                                                                 "MESSAGE_CREATE"]
        await ws.close()


async def test_the_bots_cache_after_ready_holds_itself_and_voice_members(tb_factory) -> None:
    emu = tb_factory.emu
    guild, _, voice, user, owner = tb_factory.world()
    crowd = [emu.create_user(f"user{n}") for n in range(55)]
    for member in crowd:
        emu.add_member(guild, member)
    emu._voice_state(guild, crowd[3], voice, session_id="s")
    assert len(guild.members) == 58
    tb = await tb_factory()
    cache = tb.app.bot.cache
    await emu.wait_until(lambda: cache.get_guild(guild.id), what="the guild in the bot's cache")
    assert set(cache.get_members_view_for_guild(guild.id)) == {emu.bot_user.id, crowd[3].id}
    assert cache.get_guild(guild.id).member_count == 58
    emu.add_member(guild, emu.create_user("newcomer"))  # not sent: the bot does not ask for GUILD_MEMBERS
    assert (await tb.say("!hi", user=user)).content.startswith("Hello, alice!"), "names come from the message"
    assert set(cache.get_members_view_for_guild(guild.id)) == {emu.bot_user.id, crowd[3].id}
    assert owner.id not in cache.get_members_view_for_guild(guild.id) and tb.emu.refusals == []


@pytest.mark.parametrize(("event", "where", "intent"), [
    ("GUILD_CREATE", "guild", GUILDS), ("CHANNEL_UPDATE", "guild", GUILDS), ("GUILD_ROLE_CREATE", "guild", GUILDS),
    ("GUILD_MEMBER_ADD", "guild", GUILD_MEMBERS), ("GUILD_MEMBER_REMOVE", "guild", GUILD_MEMBERS),
    ("PRESENCE_UPDATE", "guild", GUILD_PRESENCES), ("VOICE_STATE_UPDATE", "guild", GUILD_VOICE_STATES),
    ("MESSAGE_CREATE", "guild", GUILD_MESSAGES), ("MESSAGE_DELETE", "dm", DIRECT_MESSAGES),
    ("MESSAGE_REACTION_ADD", "guild", 1 << 10), ("MESSAGE_REACTION_REMOVE", "dm", 1 << 13),
    ("TYPING_START", "guild", 1 << 11), ("TYPING_START", "dm", 1 << 14), ("CHANNEL_PINS_UPDATE", "dm", DIRECT_MESSAGES),
    ("INTERACTION_CREATE", "guild", 0), ("READY", "dm", 0), ("RESUMED", "dm", 0), ("VOICE_SERVER_UPDATE", "guild", 0),
])
def test_each_event_needs_the_intent_discord_lists(event, where, intent) -> None:
    data = {"guild_id": "1"} if where == "guild" else {}
    assert required_intent(event, data, bot_id=5) == intent


async def test_the_bots_own_member_updates_need_no_guild_members_intent(crowd) -> None:
    """docs: events/gateway#caveats: GUILD_MEMBER_UPDATE is sent for the current user without GUILD_MEMBERS."""
    emu, guild, users = crowd
    async with aiohttp.ClientSession() as session:
        ws = await identify(session, emu, GUILDS)
        await events_until(ws, "GUILD_CREATE")
        for user in (users[0], emu.bot_user):
            update = {**guild.members[user.id].payload(), "guild_id": str(guild.id)}
            emu._gateway.dispatch("GUILD_MEMBER_UPDATE", update)
        seen = await events_until(ws, "GUILD_MEMBER_UPDATE")
        assert [(name, d["user"]["id"]) for name, d in seen] == [("GUILD_MEMBER_UPDATE", str(emu.bot_user.id))]
        await ws.close()


# --- the bot's own messages: Discord sends a bot MESSAGE_CREATE/UPDATE/DELETE for them too


async def test_the_bot_gets_events_for_its_own_messages_but_not_for_ephemeral_ones(discord_emulator) -> None:
    emu = discord_emulator
    emu.relax("ratelimit")  # raw REST here does not wait for buckets
    guild = emu.create_guild("Own")
    channel = emu.create_channel(guild, "general")
    headers = {"Authorization": f"Bot {emu.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        ws = await identify(session, emu, GUILDS | GUILD_MESSAGES)
        await events_until(ws, "GUILD_CREATE")
        base = f"{emu.rest_url}/channels/{channel.id}/messages"
        async with session.post(base, json={"content": "hello"}) as response:
            sent = await response.json()
        created = (await events_until(ws, "MESSAGE_CREATE"))[-1][1]
        assert (created["id"], created["content"], created["author"]["id"]) == (sent["id"], "hello",
                                                                                 str(emu.bot_user.id))
        async with session.patch(f"{base}/{sent['id']}", json={"content": "hello again"}):
            pass
        assert (await events_until(ws, "MESSAGE_UPDATE"))[-1][1]["content"] == "hello again"
        async with session.delete(f"{base}/{sent['id']}"):
            pass
        deleted = (await events_until(ws, "MESSAGE_DELETE"))[-1][1]
        assert deleted == {"id": sent["id"], "channel_id": str(channel.id), "guild_id": str(guild.id)}
        await ws.close()


async def test_an_ephemeral_answer_reaches_no_gateway_and_a_public_one_does(tb) -> None:
    seen: list[Any] = []
    tb.emu.dispatch = _recording(tb.emu.dispatch, seen)
    reply = await tb.slash("hi")
    assert not reply.ephemeral and [d["id"] for e, d in seen if e == "MESSAGE_CREATE"] == [str(reply.id)]
    seen.clear()
    await tb.slash("help")  # help answers privately (ephemeral)
    assert [e for e, _ in seen if e.startswith("MESSAGE_")] == []


def _recording(dispatch: Any, seen: list[Any]) -> Any:
    def record(event: str, data: dict[str, Any]) -> None:
        seen.append((event, data))
        dispatch(event, data)

    return record
