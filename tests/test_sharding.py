"""Sharding on the emulator, as on Discord: GET /gateway/bot recommends N shards, IDENTIFY carries
[shard_id, shard_count] and is rate-limited per max_concurrency bucket, each guild's events reach only
shard (guild_id >> 22) % shard_count and DMs only shard 0. Two bots on one database, each running half
of the shards, answer every `!hi` and `/hi` exactly once; `trainerbot run` and `cluster` take the
shard options."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from framework.cluster import ShardSpecError, check_shards, parse_count, parse_shards, split

SHARDS = 4


def guilds_on_every_shard(emu, per_shard: int = 2) -> list:
    """Guilds spread over every shard, each with a channel and alice as a member."""
    alice = emu.create_user("alice")
    made = []
    for shard in range(SHARDS):
        for n in range(per_shard):
            guild = emu.create_guild(f"shard {shard} guild {n}", shard=(shard, SHARDS))
            assert (guild.id >> 22) % SHARDS == shard
            channel = emu.create_channel(guild, "general")
            emu.add_member(guild, alice)
            emu.add_member(guild, emu.application_owner)
            made.append((guild, channel))
    return [(g, c, alice) for g, c in made]


async def test_two_bots_with_half_the_shards_each_answer_every_guild_once(tb_factory) -> None:
    emu = tb_factory.emu
    emu.shard_gateway(SHARDS, max_concurrency=SHARDS)
    everywhere = guilds_on_every_shard(emu)
    first = await tb_factory(shards=[0, 1], shard_count=SHARDS)
    await tb_factory(shards=[2, 3], shard_count=SHARDS)
    assert sorted(emu.identified) == [(s, SHARDS) for s in range(SHARDS)]
    assert emu.gateway_shards == dict.fromkeys(range(SHARDS), SHARDS)

    sent = []
    for _guild, channel, alice in everywhere:
        sent.append((channel, await emu.send_message(channel, alice, "!hi")))
        inter = await emu.invoke_slash(channel, alice, "hi")
        assert (await inter.wait_response()).content.startswith("Hello, alice")
    for channel, message in sent:
        reply = await first.reply_to(message, channel=channel)
        assert reply.content.startswith("Hello, alice")
    for channel, _message in sent:  # a probe answered after it: any second answer would be there by now
        await first.say("!ping", channel=channel, user=everywhere[0][2])
        answers = [m for m in emu.sent_messages(channel=channel) if m.content.startswith("Hello, alice")]
        assert len(answers) == 2, [m.content for m in answers]  # the !hi and the /hi, once each
    for interaction in emu.interactions.values():
        assert len(interaction.responses) == 1


@pytest.mark.backends("sqlite")  # one bot: the database plays no part
async def test_shard_count_auto_takes_discords_recommendation(tb_factory) -> None:
    tb_factory.emu.shard_gateway(3, max_concurrency=3)
    tb = await tb_factory()
    assert sorted(tb.emu.identified) == [(0, 3), (1, 3), (2, 3)]
    assert tb.app.bot.shard_count == 3


async def _identify(url: str, shard: list[int], token: str) -> dict:
    """One raw gateway connection: HELLO, IDENTIFY; the first answer."""
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        hello = json.loads((await ws.receive()).data)
        assert hello["op"] == 10
        await ws.send_str(json.dumps({"op": 2, "d": {"token": token, "intents": 0, "shard": shard,
                                                     "properties": {}}}))
        return json.loads((await ws.receive()).data)


async def test_identify_is_rate_limited_per_bucket_and_events_go_to_their_shard(discord_emulator) -> None:
    emu = discord_emulator
    emu.shard_gateway(4, max_concurrency=2, identify_window=5.0)
    url = f"ws://127.0.0.1:{emu.port}/ws"
    ready = await _identify(url, [0, 4], emu.token)
    assert ready["t"] == "READY" and ready["d"]["shard"] == [0, 4]
    assert (await _identify(url, [1, 4], emu.token))["t"] == "READY", "another bucket: at once"
    refused = await _identify(url, [2, 4], emu.token)  # bucket 0 again within 5 s
    assert refused["op"] == 9 and refused["d"] is False
    assert emu.identified == [(0, 4), (1, 4)]


CONTENT = (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15)
"""GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES and MESSAGE_CONTENT: without the last, Discord (and the strict
emulator) sends guild messages without their content."""


async def test_guild_events_reach_their_shard_and_dms_shard_zero(discord_emulator) -> None:
    emu = discord_emulator
    emu.shard_gateway(2, max_concurrency=2)
    received: dict[int, list[dict]] = {0: [], 1: []}
    url = f"ws://127.0.0.1:{emu.port}/ws"
    async with aiohttp.ClientSession() as session:
        sockets = []
        for shard in (0, 1):
            ws = await session.ws_connect(url)
            await ws.receive()
            await ws.send_str(json.dumps({"op": 2, "d": {"token": emu.token, "intents": CONTENT,
                                                         "shard": [shard, 2], "properties": {}}}))
            sockets.append(ws)

        async def read(shard: int, ws) -> None:
            async for msg in ws:
                received[shard].append(json.loads(msg.data))

        readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(sockets)]
        await emu.wait_until(lambda: len(emu.identified) == 2, 5, what="both shards identified")
        alice = emu.create_user("alice")
        guilds = [emu.create_guild(f"g{s}", shard=(s, 2)) for s in (0, 1)]
        channels = [emu.create_channel(g, "general") for g in guilds]
        for channel in channels:
            await emu.send_message(channel, emu.application_owner, "hello")
        await emu.send_message(emu.create_dm(alice), alice, "a DM")

        def messages(shard: int) -> list[str]:
            return [e["d"]["content"] for e in received[shard] if e.get("t") == "MESSAGE_CREATE"]

        await emu.wait_until(lambda: len(messages(0)) == 2 and len(messages(1)) == 1, 5, what="the messages")
        for ws in sockets:
            await ws.close()
        await asyncio.gather(*readers)
    assert messages(0) == ["hello", "a DM"] and messages(1) == ["hello"]
    creates = {s: [e["d"]["id"] for e in received[s] if e.get("t") == "GUILD_CREATE"] for s in (0, 1)}
    assert creates == {0: [str(guilds[0].id)], 1: [str(guilds[1].id)]}


def test_shard_options_parse_and_split() -> None:
    assert parse_shards("0-3") == [0, 1, 2, 3] and parse_shards("0,2,5-6") == [0, 2, 5, 6]
    assert parse_count("auto") is None and parse_count("8") == 8
    assert split(8, 3) == [[0, 1], [2, 3, 4], [5, 6, 7]] and split(4, 2) == [[0, 1], [2, 3]]
    for bad in ("", "a-b", "3-1", "1,1"):
        with pytest.raises(ShardSpecError):
            parse_shards(bad)
    with pytest.raises(ShardSpecError, match="needs a fixed --shard-count"):
        check_shards([0, 1], None)
    with pytest.raises(ShardSpecError, match="from 0 to 7"):
        check_shards([8], 8)
    with pytest.raises(ShardSpecError, match="at least 3 shards"):
        split(2, 3)
