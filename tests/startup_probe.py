"""Start the whole bot, every default plugin enabled, against the Discord emulator in this fresh
process; wait for READY and answer one `!hi`; then print one JSON line: which engine libraries are
loaded, how many modules, and the resident memory.

Run as ``python -m tests.startup_probe`` (by tests/test_lazy_engines.py and `make bench`): in a
process of its own, because pytest and other tests import those libraries themselves.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ENGINE_LIBRARIES = ("numpy", "openai", "cryptography", "nacl", "davey", "vosk", "pyttsx3", "PIL", "pydub",
                    "pydantic", "pydantic_core")
"""Imported only when an engine is first used (a training job, a provider call, a voice connection,
a recognition, a synthesis, a report image), never by start-up. pydantic comes with the openai SDK
on the first provider call: settings are checked with ``framework.settings``, not pydantic."""

UNUSED_LIBRARIES = ("sqlalchemy", "aiosqlite", "greenlet")
"""Never imported by the bot at all: storage is framework.sql over sqlite3 and asyncpg (SQLAlchemy,
which it replaced, cost about 12 MiB of a bot's memory)."""


def rss_kib() -> int | None:
    """Resident memory of this process now (Linux), or None where /proc is not available."""
    try:
        status = Path("/proc/self/status").read_text("ascii")
    except OSError:
        return None
    line = next((row for row in status.splitlines() if row.startswith("VmRSS:")), None)
    return int(line.split()[1]) if line else None


async def probe() -> dict[str, Any]:
    import hikari

    from framework.app import App
    from framework.config import load_config
    from framework.emulator import DiscordEmulator

    emu = DiscordEmulator()
    await emu.start()
    guild = emu.create_guild("Probe")
    channel = emu.create_channel(guild, "general")
    user = emu.create_user("probe")
    emu.add_member(guild, user)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = load_config(Path(tmp) / "none.toml", overrides={"bot": {"data_root": tmp}})
            app = App(config, token=emu.token, rest_url=emu.rest_url)
            ready = asyncio.Event()

            async def on_ready(_event: hikari.ShardReadyEvent) -> None:
                ready.set()

            app.bot.subscribe(hikari.ShardReadyEvent, on_ready)
            await app.start()
            try:
                await asyncio.wait_for(ready.wait(), timeout=60)
                sent = await emu.send_message(channel, user, "!hi")
                reply = await emu.wait_for_message(channel=channel, predicate=lambda m: int(m.id) > int(sent.id),
                                                   timeout=60)
                return {"engine_libraries": sorted(m for m in ENGINE_LIBRARIES if m in sys.modules),
                        "unused_libraries": sorted(m for m in UNUSED_LIBRARIES if m in sys.modules),
                        "modules": len(sys.modules), "rss_kib": rss_kib(), "reply": reply.content}
            finally:
                await app.close()
    finally:
        await emu.stop()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(probe())), flush=True)
