"""Scaling out, measured in one run:

- ``events_per_s_1proc``: MESSAGE_CREATE events handled per second by one ``trainerbot run`` process
  (both shards of two), counting commands answered (`!hi` replies the emulator received), not
  events received, with at most ``WINDOW`` commands unanswered at a time;
- ``events_per_s_2proc_ratio``: the same load on two processes of one shard each, against one, with
  ``cores=`` beside it: the emulator and this load generator run in this process and need a core
  of their own, so the goal of >= 1.8 holds from 3 cores on; with 2 the bot processes share one
  core with the emulator and the ratio says little more than that;
- ``pg_vs_sqlite_command_ratio``: the median round trip of a write-heavy command (`!feedback`, an
  insert) on PostgreSQL against SQLite, the bot in this process.

PostgreSQL comes from ``TRAINERBOT_TEST_DATABASE_URL`` or, if a server answers there,
127.0.0.1:5432 (user postgres, database test); without one the processes share a SQLite file and
the PostgreSQL figure is left out (said on stderr).
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from framework.emulator import DiscordEmulator
from framework.testing import databases

ROOT = Path(__file__).resolve().parents[2]
SHARDS = 2
GUILDS_PER_SHARD = 4
COMMANDS = 1500
WINDOW = 64
WARMUP = 40
ROUNDTRIPS = 150


def _postgres_url() -> str | None:
    url = databases.server_url()
    if url:
        return url
    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex(("127.0.0.1", 5432)) == 0:
            return "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    return None


async def _start(emu: DiscordEmulator, tmp: Path, slices: list[str], env: dict[str, str]) -> list[Any]:
    config = tmp / "plugins.toml"
    config.write_text(f'[bot]\ndata_root = "{tmp / "data"}"\nlog_level = "WARNING"\n', "utf-8")
    before = len(emu.identified)
    processes = []
    for shards in slices:
        processes.append(await asyncio.create_subprocess_exec(
            sys.executable, "-m", "framework.cli", "--config", str(config), "run", "--shards", shards,
            "--shard-count", str(SHARDS), cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL))
    await emu.wait_until(lambda: len(emu.identified) >= before + SHARDS, 120, what="the bot's shards")
    return processes


async def _throughput(emu: DiscordEmulator, channels: list[Any], user: Any) -> float:
    """Commands answered per second, ``WINDOW`` at most in flight, round-robin over the channels."""
    def answered() -> int:
        return sum(1 for m in emu.sent_messages() if m.content.startswith("Hello, bench"))

    async def drive(count: int) -> None:
        base = answered()
        for n in range(count):
            await emu.wait_until(lambda n=n: answered() - base >= n - WINDOW, 60, what="answers to keep up")
            await emu.send_message(channels[n % len(channels)], user, "!hi")
        await emu.wait_until(lambda: answered() - base >= count, 120, what="every command answered")

    await drive(WARMUP)
    started = time.perf_counter()
    await drive(COMMANDS)
    return COMMANDS / (time.perf_counter() - started)


async def _processes_figures(pg_url: str | None) -> dict[str, Any]:
    emu = DiscordEmulator()
    # Measures the bot's own cost: the per-channel bucket (5 messages per 5 s) would pace the replies
    # to Discord's rate instead (real Discord queues them the same way), so the rate limits are off here.
    emu.relax("ratelimit")
    await emu.start()
    emu.shard_gateway(SHARDS, max_concurrency=SHARDS, identify_window=0.0)
    user = emu.create_user("bench")
    channels = []
    for shard in range(SHARDS):
        for n in range(GUILDS_PER_SHARD):
            guild = emu.create_guild(f"bench {shard}-{n}", shard=(shard, SHARDS))
            channels.append(emu.create_channel(guild, "bench"))
            emu.add_member(guild, user)
    rates = {}
    try:
        for label, slices in (("1proc", ["0-1"]), ("2proc", ["0", "1"])):
            with tempfile.TemporaryDirectory() as tmp:
                env = {**os.environ, "DISCORD_TOKEN": emu.token, "TRAINERBOT_REST_URL": emu.rest_url,
                       "PYTHONPATH": str(ROOT)}
                env.pop("DATABASE_URL", None)
                schema = None
                if pg_url:
                    schema = await databases.create_schema(pg_url)
                    env.update(DATABASE_URL=pg_url, TRAINERBOT_DATABASE_SCHEMA=schema)
                processes = await _start(emu, Path(tmp), slices, env)
                try:
                    rates[label] = await _throughput(emu, channels, user)
                finally:
                    for process in processes:
                        process.terminate()
                    await asyncio.gather(*(p.wait() for p in processes))
                    if pg_url and schema:
                        await databases.drop_schema(pg_url, schema)
    finally:
        await emu.stop()
    return {"events_per_s_1proc": rates["1proc"], "events_per_s_2proc": rates["2proc"],
            "events_per_s_2proc_ratio": rates["2proc"] / rates["1proc"], "cores": os.cpu_count() or 0}


async def _roundtrips(url: str | None, schema: str | None) -> list[float]:
    from framework.app import App
    from framework.config import load_config

    emu = DiscordEmulator()
    # Measures the bot's own cost: the per-channel bucket (5 messages per 5 s) would pace the replies
    # to Discord's rate instead (real Discord queues them the same way), so the rate limits are off here.
    emu.relax("ratelimit")
    await emu.start()
    guild = emu.create_guild("Bench")
    channel = emu.create_channel(guild, "bench")
    user = emu.create_user("bench")
    emu.add_member(guild, user)
    with tempfile.TemporaryDirectory() as tmp:
        overrides: dict[str, Any] = {"bot": {"data_root": tmp}}
        if url:
            overrides["storage"] = {"url": url, "schema": schema}
        app = App(load_config(Path(tmp) / "none.toml", overrides=overrides), token=emu.token, rest_url=emu.rest_url)
        await app.start()
        times = []
        try:
            for n in range(WARMUP + ROUNDTRIPS):
                started = time.perf_counter()
                sent = await emu.send_message(channel, user, f"!feedback bench note {n}")
                await emu.wait_for_message(channel=channel, predicate=lambda m, s=sent: int(m.id) > int(s.id),
                                           timeout=10)
                times.append(time.perf_counter() - started)
        finally:
            await app.close()
            await emu.stop()
    return times[WARMUP:]


async def run() -> dict[str, Any]:
    pg_url = _postgres_url()
    if pg_url is None:
        print("# bench_scale: no PostgreSQL (TRAINERBOT_TEST_DATABASE_URL, 127.0.0.1:5432): the processes share "
              "SQLite and pg_vs_sqlite_command_ratio is left out", file=sys.stderr)
    figures = await _processes_figures(pg_url)
    if (figures["cores"] or 0) < 3:
        print(f"# bench_scale: {figures['cores']} cores: the emulator and the load generator share them with the "
              "bot processes, so two processes cannot go much faster than one here (the goal of >= 1.8 is for "
              ">= 3 cores)", file=sys.stderr)
    del figures["events_per_s_2proc"]
    if pg_url:
        sqlite = statistics.median(await _roundtrips(None, None))
        schema = await databases.create_schema(pg_url)
        try:
            postgres = statistics.median(await _roundtrips(pg_url, schema))
        finally:
            await databases.drop_schema(pg_url, schema)
        figures.update(pg_vs_sqlite_command_ratio=postgres / sqlite, pg_command_roundtrip_p50_ms=postgres * 1000,
                       sqlite_command_roundtrip_p50_ms=sqlite * 1000)
    return figures
