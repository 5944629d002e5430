"""trainerbot against its peers: a bare hikari + lightbulb bot and discord.py's ``commands.Bot``
(tests/bench/peers.py), and trainerbot once more on asyncio's own event loop, each its own process,
against one emulator (this process), in alternating blocks of one run each. Every bot answers
``!hi`` with the same reply.

Per block: warm-up, resident memory (RSS, from /proc) after warm-up, sequential round trips
(user message dispatched -> the bot's reply recorded), a burst of 1,000 users each sending
``!hi`` at once (replies per second until the last reply), RSS after the burst, and the CPU time
the bot process spent per reply (from /proc: unlike wall-clock figures, not moved by other work
on the machine, so it shows what each bot costs when the latencies are within the noise). Once over plain
HTTP/WS and once over TLS (HTTPS/WSS with a certificate made now, trusted through
``SSL_CERT_FILE``), where each new connection costs a handshake as it does on Discord.

Ratios are trainerbot / peer, so a round-trip or memory ratio below 1 and a replies/s ratio
above 1 favour trainerbot. discord.py comes from the ``bench`` extra; without it the discord.py
ratios are left out and the reason is printed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from framework.emulator import DiscordEmulator
from tests.bench.tls import server_context

ROOT = Path(__file__).resolve().parents[2]
RUNS = 6
WARMUP = 30
ROUNDS = 100
BURST = 1000
START_TIMEOUT = 120.0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text("ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text("ascii")
    line = next(row for row in status.splitlines() if row.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


class Stage:
    """One emulator (plain or TLS) with one guild, one channel and ``BURST`` member users."""

    def __init__(self, tls_folder: Path | None) -> None:
        self.tls_folder = tls_folder
        self.emu = DiscordEmulator()
        # The burst is 1,000 replies in one channel: on Discord the per-channel bucket (5 messages per
        # 5 s) would queue them for 1,000 s, and that is the same for every bot compared here. This
        # bench measures what each bot costs, so Discord's rate limits are off (the conformance bench
        # and tests/test_rate_limits.py check the bot honours them).
        self.emu.relax("ratelimit")
        self.ca: Path | None = None

    async def __aenter__(self) -> Stage:
        context = None
        if self.tls_folder is not None:
            context, self.ca = server_context(self.tls_folder)
        await self.emu.start(ssl_context=context)
        emu = self.emu
        guild = emu.create_guild("Bench")
        self.channel = emu.create_channel(guild, "bench")
        self.users = [emu.create_user(f"user{i}") for i in range(BURST)]
        for user in self.users:
            emu.add_member(guild, user)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.emu.stop()

    def env(self, data_root: str, greeting: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("TRAINERBOT_CONFIG", "OPENAI_API_KEY",
                                                                 "TRAINERBOT_LOAD_PLUGINS")}
        env.update(PEER_TOKEN=self.emu.token, PEER_REST_URL=self.emu.rest_url, PEER_GATEWAY_URL=self.emu.gateway_url,
                   PEER_DATA_ROOT=data_root, PEER_GREETING=greeting,
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        if self.ca is not None:
            env["SSL_CERT_FILE"] = str(self.ca)
        return env

    def _last_reply_to(self, sent_id: int) -> bool:
        """Whether the newest message is the bot's reply to ``sent_id`` (O(1): checked on every change)."""
        messages = self.emu.messages
        if not messages:
            return False
        last = next(reversed(messages.values()))
        return last.from_bot and last.reference == sent_id

    async def roundtrip(self, user: Any, timeout: float = 10.0) -> float:
        started = time.perf_counter()
        sent = await self.emu.send_message(self.channel, user, "!hi")
        await self.emu.wait_until(lambda: self._last_reply_to(sent.id), timeout, what="the reply to !hi")
        return time.perf_counter() - started

    async def burst(self, greeting: str) -> float:
        """Every user sends ``!hi`` at once; replies per second until the last one, each reply checked."""
        emu = self.emu
        emu.messages.clear()
        started = time.perf_counter()
        sent = {(await emu.send_message(self.channel, user, "!hi")).id: user for user in self.users}
        await emu.wait_until(lambda: len(emu.messages) >= 2 * BURST, 120, what=f"{BURST} replies")
        elapsed = time.perf_counter() - started
        replies = {m.reference: m for m in emu.messages.values() if m.from_bot}
        wrong = [uid for uid, user in sent.items() if getattr(replies.get(uid), "content", None)
                 != greeting.format(name=user.username, help="!help")]
        if wrong:
            raise AssertionError(f"{len(wrong)} of {BURST} burst messages got no or a wrong reply")
        return BURST / elapsed


async def _block(stage: Stage, kind: str, greeting: str, log_folder: Path) -> dict[str, Any]:
    """One run of one bot: start its process, measure, stop it."""
    emu = stage.emu
    await emu.wait_until(lambda: emu._gateway.connection is None, 30, what="the previous bot to disconnect")
    emu.messages.clear()
    emu.requests.clear()
    with tempfile.TemporaryDirectory() as data, open(log_folder / f"{kind}.log", "ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.bench.peers", kind, cwd=ROOT, env=stage.env(data, greeting),
            stdout=log, stderr=log)
        try:
            user = stage.users[0]
            # Connected (IDENTIFY seen: later events reach it), then the first answer: the bot is up.
            await emu.wait_until(lambda: process.returncode is not None or emu._gateway.connection is not None,
                                 START_TIMEOUT, what=f"the {kind} bot to connect")
            await stage.roundtrip(user, timeout=START_TIMEOUT)
            for _ in range(WARMUP - 1):
                await stage.roundtrip(user)
            rss_idle = _rss_mib(process.pid)
            cpu = _cpu_s(process.pid)
            times = [await stage.roundtrip(user) for _ in range(ROUNDS)]
            replies_per_s = await stage.burst(greeting)
            cpu_ms = (_cpu_s(process.pid) - cpu) * 1000 / (ROUNDS + BURST)
            rss_burst = _rss_mib(process.pid)
        except BaseException:
            if process.returncode is not None:
                raise RuntimeError(f"the {kind} bot exited with {process.returncode}; see {log_folder}") from None
            raise
        finally:
            if process.returncode is None:
                process.terminate()
            await process.wait()
    return {"times": times, "replies_per_s": replies_per_s, "rss_idle": rss_idle, "rss_burst": rss_burst,
            "cpu_ms": cpu_ms}


async def _stage(tls_folder: Path | None, kinds: list[str], greeting: str, log_folder: Path) -> dict[str, Any]:
    found: dict[str, dict[str, list[Any]]] = {k: defaultdict(list) for k in kinds}
    async with Stage(tls_folder) as stage:
        for run in range(RUNS):
            for kind in kinds[run % len(kinds):] + kinds[:run % len(kinds)]:  # no bot always goes first
                block = await _block(stage, kind, greeting, log_folder)
                for key, value in block.items():
                    found[kind][key].append(value)
    return {kind: {"p50_ms": statistics.median([t for ts in f["times"] for t in ts]) * 1000,
                   "replies_per_s": statistics.median(f["replies_per_s"]),
                   "rss_idle": statistics.median(f["rss_idle"]), "rss_burst": statistics.median(f["rss_burst"]),
                   "cpu_ms": statistics.median(f["cpu_ms"])}
            for kind, f in found.items()}


async def run() -> dict[str, float]:
    from plugins.core import Settings

    greeting = Settings().greeting
    kinds = ["trainerbot", "trainerbot_asyncio", "hikari"]
    if importlib.util.find_spec("discord") is not None:
        kinds.append("discordpy")
    else:
        print("# bench_peers: discord.py is not installed (pip install -e .[bench]); no discord.py ratios",
              file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            plain = await _stage(None, kinds, greeting, folder)
            tls = await _stage(folder, kinds, greeting, folder)
        except BaseException:
            for log in folder.glob("*.log"):
                print(f"# {log.name}: {log.read_text(errors='replace')[-2000:]}", file=sys.stderr)
            raise
    tb = plain["trainerbot"]
    figures: dict[str, float] = {
        "peer_rss_idle_mib": tb["rss_idle"], "peer_rss_burst_mib": tb["rss_burst"],
        "peer_roundtrip_p50_ms": tb["p50_ms"], "peer_roundtrip_p50_ms_tls": tls["trainerbot"]["p50_ms"],
        "peer_replies_per_s": tb["replies_per_s"], "peer_replies_per_s_tls": tls["trainerbot"]["replies_per_s"],
        "peer_cpu_ms_per_reply": tb["cpu_ms"], "peer_cpu_ms_per_reply_tls": tls["trainerbot"]["cpu_ms"],
    }
    for peer in kinds[2:]:
        name = peer
        figures.update({
            f"peer_roundtrip_p50_vs_{name}": tb["p50_ms"] / plain[peer]["p50_ms"],
            f"peer_roundtrip_p50_vs_{name}_tls": tls["trainerbot"]["p50_ms"] / tls[peer]["p50_ms"],
            f"peer_replies_per_s_vs_{name}": tb["replies_per_s"] / plain[peer]["replies_per_s"],
            f"peer_replies_per_s_vs_{name}_tls": tls["trainerbot"]["replies_per_s"] / tls[peer]["replies_per_s"],
            f"peer_rss_idle_vs_{name}": tb["rss_idle"] / plain[peer]["rss_idle"],
            f"peer_rss_burst_vs_{name}": tb["rss_burst"] / plain[peer]["rss_burst"],
            f"peer_cpu_per_reply_vs_{name}": tb["cpu_ms"] / plain[peer]["cpu_ms"],
            f"peer_cpu_per_reply_vs_{name}_tls": tls["trainerbot"]["cpu_ms"] / tls[peer]["cpu_ms"],
            f"peer_{name}_roundtrip_p50_ms": plain[peer]["p50_ms"],
            f"peer_{name}_roundtrip_p50_ms_tls": tls[peer]["p50_ms"],
            f"peer_{name}_replies_per_s": plain[peer]["replies_per_s"],
            f"peer_{name}_rss_idle_mib": plain[peer]["rss_idle"],
        })
    # trainerbot on asyncio's own loop against the peers (which run on it): what the framework does without uvloop
    aio, aio_tls = plain["trainerbot_asyncio"], tls["trainerbot_asyncio"]
    figures.update({"peer_asyncio_loop_roundtrip_p50_ms": aio["p50_ms"],
                    "peer_asyncio_loop_rss_idle_mib": aio["rss_idle"]})
    for peer in kinds[2:]:
        figures.update({
            f"peer_asyncio_loop_roundtrip_p50_vs_{peer}": aio["p50_ms"] / plain[peer]["p50_ms"],
            f"peer_asyncio_loop_roundtrip_p50_vs_{peer}_tls": aio_tls["p50_ms"] / tls[peer]["p50_ms"],
            f"peer_asyncio_loop_replies_per_s_vs_{peer}": aio["replies_per_s"] / plain[peer]["replies_per_s"],
            f"peer_asyncio_loop_cpu_per_reply_vs_{peer}": aio["cpu_ms"] / plain[peer]["cpu_ms"],
        })
    return figures
