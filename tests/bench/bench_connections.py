"""TCP connections the bot opens to the REST API for 100 `!hi` round trips (counted by the emulator
as the connections it accepted), with keep-alive (the default) and, as the baseline of the same
run, with `[bot] http_keepalive = false` (hikari's own default: one connection per request)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from framework.app import App
from framework.config import load_config
from framework.emulator import DiscordEmulator

TRIPS = 100


async def _connections(emu: DiscordEmulator, channel: Any, user: Any, tmp: str, keepalive: bool) -> int:
    config = load_config(Path(tmp) / "none.toml", overrides={"bot": {"data_root": tmp, "http_keepalive": keepalive}})
    app = App(config, token=emu.token, rest_url=emu.rest_url)
    await app.start()
    try:
        before = set(emu.rest_connections)
        for _ in range(TRIPS):
            sent = await emu.send_message(channel, user, "!hi")
            await emu.wait_for_message(channel=channel, predicate=lambda m, s=sent: int(m.id) > int(s.id),
                                       timeout=10)
        return len(emu.rest_connections - before)
    finally:
        await app.close()


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
    try:
        with tempfile.TemporaryDirectory() as tmp:
            kept = await _connections(emu, channel, user, tmp, keepalive=True)
            closed = await _connections(emu, channel, user, tmp, keepalive=False)
    finally:
        await emu.stop()
    return {"rest_connections_per_100_trips": kept, "rest_connections_per_100_trips_without_keepalive": closed}
