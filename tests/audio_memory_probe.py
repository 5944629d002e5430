"""Start the whole bot against the Discord emulator in this fresh process, answer one `!hi`, then
send a voice message that is a small file but long audio (a WAV of 100 Hz, 8-bit samples: 3.6 MB
holds ten hours, 1.2 GB once decoded to 16 kHz PCM) and wait for the refusal. Print one JSON line:
the resident memory when idle, the peak while refusing, and the reply.

Run as ``python -m tests.audio_memory_probe [hours]`` (by tests/test_limits.py): in a process of its
own, so the peak is this bot's and not pytest's. The peak is the kernel's high-water mark (VmHWM),
reset after the idle measurement where Linux allows it (``/proc/self/clear_refs``).
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import tempfile
import wave
from pathlib import Path
from typing import Any

RATE = 100


def long_wav(hours: float) -> bytes:
    """``hours`` of a quiet 100 Hz tone, 8-bit mono: one byte a sample."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(RATE)
        out.writeframes(bytes([128, 136]) * int(RATE * 3600 * hours / 2))
    return buffer.getvalue()


def status_kib(field: str) -> int:
    for row in Path("/proc/self/status").read_text("ascii").splitlines():
        if row.startswith(f"{field}:"):
            return int(row.split()[1])
    raise LookupError(field)


def reset_peak() -> bool:
    """Start the high-water mark again from the current resident memory (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5", "ascii")
    except OSError:
        return False
    return True


async def probe(hours: float) -> dict[str, Any]:
    from framework.app import App
    from framework.config import load_config
    from framework.emulator import DiscordEmulator

    wav = long_wav(hours)
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
            await app.start()
            try:
                hello = await emu.send_message(channel, user, "!hi")
                await emu.wait_for_message(channel=channel, predicate=lambda m: m.reference == hello.id, timeout=60)
                idle = status_kib("VmRSS")
                was_reset = reset_peak()
                sent = await emu.send_message(channel, user, "", attachments=[emu.file("long.wav", wav, "audio/wav")])
                reply = await emu.wait_for_message(channel=channel, predicate=lambda m: m.reference == sent.id,
                                                   timeout=300)
                return {"wav_bytes": len(wav), "idle_kib": idle, "peak_kib": status_kib("VmHWM"),
                        "peak_reset": was_reset, "reply": reply.content}
            finally:
                await app.close()
    finally:
        await emu.stop()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(probe(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0))), flush=True)
