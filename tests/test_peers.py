"""The emulator is not hikari-only: it answers with Discord's exact headers, so discord.py's
``commands.Bot`` connects with only its REST base and gateway URL pointed at it; and it serves
HTTPS/WSS, where trainerbot connects trusting a certificate through ``SSL_CERT_FILE``."""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

import aiohttp
import pytest

from framework.emulator import DiscordEmulator
from framework.testing.harness import HarnessFactory
from tests.bench.tls import server_context

GREETING = "Hello, {name}! (discord.py)"


async def test_json_answers_carry_discords_exact_content_type(discord_emulator: DiscordEmulator) -> None:
    """Discord sends exactly ``application/json``; discord.py parses JSON only on that header."""
    emu = discord_emulator
    emu.inject_rest_fault(method="GET", path_pattern="/users/@me$", status=429, count=1)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {emu.token}"}) as http:
        answers = []
        for path in ("/users/@me", "/users/@me", "/gateway/bot", "/not/emulated"):
            async with http.get(emu.rest_url + path) as response:
                answers.append((response.status, response.headers["Content-Type"], await response.json()))
    assert [status for status, _, _ in answers] == [429, 200, 200, 404]
    assert {content_type for _, content_type, _ in answers} == {"application/json"}
    assert answers[0][2]["retry_after"] == pytest.approx(0.1)
    assert answers[1][2]["id"] == str(emu.bot_user.id)
    assert answers[2][2]["url"] == emu.gateway_url == f"ws://127.0.0.1:{emu.port}/ws"


@pytest.mark.skipif(importlib.util.find_spec("discord") is None,
                    reason="discord.py is not installed: it comes with the bench extra (pip install -e .[bench])")
async def test_discordpy_commands_bot_answers_hi(discord_emulator: DiscordEmulator,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import discord
    import yarl
    from discord.ext import commands

    emu = discord_emulator
    guild = emu.create_guild("Peers")
    channel = emu.create_channel(guild, "general")
    alice = emu.create_user("alice")
    emu.add_member(guild, alice)
    monkeypatch.setattr(discord.http.Route, "BASE", emu.rest_url)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(emu.gateway_url))
    intents = discord.Intents.default()
    intents.message_content = True
    bot = commands.Bot(command_prefix="!", intents=intents, help_command=None)

    @bot.command()
    async def hi(ctx: commands.Context[Any]) -> None:
        await ctx.reply(GREETING.format(name=ctx.author.display_name), mention_author=False)

    running = asyncio.get_running_loop().create_task(bot.start(emu.token))
    try:
        await asyncio.wait_for(bot.wait_until_ready(), 30)
        sent = await emu.send_message(channel, alice, "!hi")
        reply = await emu.wait_for_message(channel=channel, predicate=lambda m: m.reference == sent.id)
    finally:
        await bot.close()
        await running
    assert reply.content == "Hello, alice! (discord.py)"
    assert emu.unhandled_requests == []
    assert bot.user is not None and bot.user.id == emu.bot_user.id


async def test_trainerbot_connects_over_tls(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS and WSS, the certificate trusted only through ``SSL_CERT_FILE`` (as the TLS bench runs)."""
    context, ca = server_context(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    emu = DiscordEmulator()
    await emu.start(ssl_context=context)
    factory = HarnessFactory(emu, tmp_path)
    try:
        assert emu.rest_url.startswith("https://") and emu.gateway_url.startswith("wss://")
        tb = await factory()
        reply = await tb.say("!hi")
        assert reply.content.startswith("Hello, alice!")
        assert emu._gateway.identifies == 1
    finally:
        await factory.close()
        await emu.stop()
