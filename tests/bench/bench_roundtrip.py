"""Command round trip (user message injected -> bot reply received by the emulator) of trainerbot
answering `!hi`, against a bare hikari + lightbulb bot answering the same command the same way
(a reply with the same text), on the same emulator, in alternating blocks of one run."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import hikari
import lightbulb

from framework.app import App
from framework.config import load_config
from framework.emulator import DiscordEmulator

ROUNDS = 400
WARMUP = 20
BLOCKS = 4


async def _roundtrip(emu: DiscordEmulator, channel, user, content: str) -> float:
    started = time.perf_counter()
    sent = await emu.send_message(channel, user, content)
    await emu.wait_for_message(channel=channel, predicate=lambda m: int(m.id) > int(sent.id), timeout=10)
    return time.perf_counter() - started


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _trainerbot_block(emu: DiscordEmulator, channel, user, tmp: str) -> list[float]:
    app = App(load_config(Path(tmp) / "none.toml", overrides={"bot": {"data_root": tmp}}),
              token=emu.token, rest_url=emu.rest_url)
    await app.start()
    try:
        return [await _roundtrip(emu, channel, user, "!hi") for _ in range(WARMUP + ROUNDS // BLOCKS)][WARMUP:]
    finally:
        await app.close()


async def _bare_block(emu: DiscordEmulator, channel, user, greeting: str) -> list[float]:
    bot = hikari.GatewayBot(emu.token, rest_url=emu.rest_url, logs=None, banner=None,
                            suppress_optimization_warning=True,
                            intents=hikari.Intents.ALL_UNPRIVILEGED | hikari.Intents.MESSAGE_CONTENT)
    client = lightbulb.client_from_app(bot)
    bot.subscribe(hikari.StartingEvent, client.start)

    async def on_message(event: hikari.GuildMessageCreateEvent) -> None:
        if event.content == "!hi" and not event.is_bot:
            await bot.rest.create_message(event.channel_id, greeting, reply=event.message,
                                          user_mentions=False, role_mentions=False, mentions_everyone=False)

    bot.subscribe(hikari.GuildMessageCreateEvent, on_message)
    await bot.start()
    try:
        return [await _roundtrip(emu, channel, user, "!hi") for _ in range(WARMUP + ROUNDS // BLOCKS)][WARMUP:]
    finally:
        await bot.close()


async def run() -> dict[str, float]:
    emu = DiscordEmulator()
    # Measures the bot's own cost: the per-channel bucket (5 messages per 5 s) would pace the replies
    # to Discord's rate instead (real Discord queues them the same way), so the rate limits are off here.
    emu.relax("ratelimit")
    await emu.start()
    guild = emu.create_guild("Bench")
    channel = emu.create_channel(guild, "bench")
    user = emu.create_user("bench")
    emu.add_member(guild, user)
    tb_times: list[float] = []
    bare_times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        from plugins.core import Settings

        greeting = Settings().greeting.format(name=user.username, help="!help")
        for _ in range(BLOCKS):  # alternate blocks so drift of the machine hits both alike
            tb_times += await _trainerbot_block(emu, channel, user, tmp)
            bare_times += await _bare_block(emu, channel, user, greeting)
    await emu.stop()
    tb_p50, bare_p50 = statistics.median(tb_times), statistics.median(bare_times)
    tb_p99, bare_p99 = _percentile(tb_times, 0.99), _percentile(bare_times, 0.99)
    return {
        "command_roundtrip_p50_ratio": tb_p50 / bare_p50,
        "command_roundtrip_p99_ratio": tb_p99 / bare_p99,
        "command_roundtrip_p50_ms": tb_p50 * 1000,
        "command_roundtrip_p99_ms": tb_p99 * 1000,
        "baseline_roundtrip_p50_ms": bare_p50 * 1000,
        "baseline_roundtrip_p99_ms": bare_p99 * 1000,
    }
