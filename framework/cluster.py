"""Sharding: which shards a process runs, and ``trainerbot cluster``, which runs several processes
on this machine, each with its slice of the shards.

Discord requires sharding from 2,500 guilds on; each shard receives the events of the guilds with
``(guild_id >> 22) % shard_count == shard_id`` (DMs on shard 0). hikari runs the shards a process
is given (``shard_ids``, ``shard_count``) and paces their IDENTIFYs by Discord's ``max_concurrency``
buckets. Processes share state through the database (PostgreSQL) and files through the data root:
see the README's "Scaling out".

The cluster supervisor starts ``trainerbot run --shards A-B --shard-count N`` per process, restarts
one that exits (waiting longer after each quick crash, up to a minute), and on SIGINT/SIGTERM stops
them all with SIGTERM (SIGKILL after a grace period).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

log = logging.getLogger(__name__)

DISCORD_REST = "https://discord.com/api/v10"
REST_URL_VARIABLE = "TRAINERBOT_REST_URL"
"""Where Discord's REST API is (its gateway URL comes from ``GET /gateway/bot``): Discord by default;
the local emulator or a proxy otherwise."""


class ShardSpecError(ValueError):
    """A ``--shards`` or ``--shard-count`` value that does not describe shards; the message says why."""


def parse_shards(spec: str) -> list[int]:
    """``0-3`` → [0, 1, 2, 3]; ``0,2,5-6`` → [0, 2, 5, 6]."""
    found: list[int] = []
    for part in spec.replace(" ", "").split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ShardSpecError(f"`{spec}` is not a list of shards (e.g. 0-3 or 0,2,4-5)")
        first, last = int(low), int(high or low)
        if last < first:
            raise ShardSpecError(f"`{part}`: a range goes up (e.g. 0-3)")
        found.extend(range(first, last + 1))
    if len(set(found)) != len(found):
        raise ShardSpecError(f"`{spec}` names a shard twice")
    return found


def parse_count(value: str | None) -> int | None:
    """``auto`` (or nothing): ``None``, Discord's recommendation; else a positive number."""
    if value is None or value == "auto":
        return None
    if not value.isdigit() or int(value) < 1:
        raise ShardSpecError(f"--shard-count: `{value}` is neither `auto` nor a positive number")
    return int(value)


def check_shards(shards: Sequence[int] | None, count: int | None) -> None:
    if shards is not None and count is None:
        raise ShardSpecError("--shards needs a fixed --shard-count (every process must agree on it)")
    if shards is not None and count is not None and any(s >= count for s in shards):
        raise ShardSpecError(f"shard ids go from 0 to {count - 1} with --shard-count {count}")


def format_shards(shards: Sequence[int]) -> str:
    return f"{shards[0]}-{shards[-1]}" if list(shards) == list(range(shards[0], shards[-1] + 1)) else \
        ",".join(map(str, shards))


def split(count: int, processes: int) -> list[list[int]]:
    """Shards 0..count-1 in ``processes`` contiguous slices as even as can be."""
    if processes > count:
        raise ShardSpecError(f"{processes} processes need at least {processes} shards (--shard-count)")
    return [list(range(i * count // processes, (i + 1) * count // processes)) for i in range(processes)]


async def recommended_shards(token: str, rest_url: str) -> tuple[int, int]:
    """Discord's ``GET /gateway/bot``: the recommended shard count and ``max_concurrency``."""
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(
            f"{rest_url.rstrip('/')}/gateway/bot", headers={"Authorization": f"Bot {token}"}) as response:
        if response.status != 200:
            raise ShardSpecError(f"GET /gateway/bot answered {response.status}: is DISCORD_TOKEN right?")
        data = await response.json()
    return int(data["shards"]), int(data["session_start_limit"]["max_concurrency"])


class Supervisor:
    """Runs one ``trainerbot run`` per slice of shards until stopped; restarts a process that exits."""

    def __init__(self, slices: list[list[int]], count: int, config: str | None, grace: float = 30.0) -> None:
        self.slices = slices
        self.count = count
        self.config = config
        self.grace = grace
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self.restarts = 0
        self._stop = asyncio.Event()

    def command(self, shards: list[int]) -> list[str]:
        config = ["--config", self.config] if self.config else []
        return [sys.executable, "-m", "framework.cli", *config, "run", "--shards", format_shards(shards),
                "--shard-count", str(self.count)]

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop.set)
        keepers = [asyncio.create_task(self._keep(i, shards)) for i, shards in enumerate(self.slices)]
        await self._stop.wait()
        log.info("cluster: stopping %d processes", len(self.processes))
        for task in keepers:
            task.cancel()
        await asyncio.gather(*keepers, return_exceptions=True)
        await self._stop_all()
        return 0

    async def _keep(self, index: int, shards: list[int]) -> None:
        """Run the process of one slice; start it again when it exits, later after each quick crash."""
        delay = 1.0
        while True:
            started = asyncio.get_running_loop().time()
            process = await asyncio.create_subprocess_exec(*self.command(shards), env=os.environ.copy())
            self.processes[index] = process
            log.info("cluster: process %d (shards %s) started, pid %d", index, format_shards(shards), process.pid)
            code = await process.wait()
            if self._stop.is_set():
                return
            self.restarts += 1
            ran = asyncio.get_running_loop().time() - started
            delay = 1.0 if ran > 60 else min(delay * 2, 60.0)
            log.warning("cluster: process %d (shards %s) exited with %s after %.0f s; restarting in %.0f s",
                        index, format_shards(shards), code, ran, delay)
            await asyncio.sleep(delay)

    async def _stop_all(self) -> None:
        alive = [p for p in self.processes.values() if p.returncode is None]
        for process in alive:
            process.terminate()
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in alive)), self.grace)
        except TimeoutError:
            for process in alive:
                if process.returncode is None:
                    log.warning("cluster: pid %d did not stop in %.0f s; killing it", process.pid, self.grace)
                    process.kill()
            await asyncio.gather(*(p.wait() for p in alive))
