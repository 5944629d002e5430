"""The conformance session of tests/conformance.py (every built-in command, both surfaces, success
and error paths, long work) through the strict emulator, every rule on: ``emulator_refusals`` is
how many requests a rule refused and ``rate_limited_requests`` how many 429s the emulator's rate
limiter sent. Both must be 0; any refusal is listed on stderr."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from framework.emulator import DiscordEmulator
from framework.testing.harness import HarnessFactory
from tests.conformance import SESSION_TOML, prepare, run_session


async def run() -> dict[str, float]:
    emu = DiscordEmulator()
    await emu.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            factory = HarnessFactory(emu, Path(tmp))
            try:
                prepare(Path(tmp) / "data")
                tb = await factory(plugins_toml=SESSION_TOML)
                started = time.perf_counter()
                steps = await run_session(tb)
                took = time.perf_counter() - started
            finally:
                await factory.close()
    finally:
        await emu.stop()
    for refusal in emu.refusals:
        print(f"# refused: {refusal}", file=sys.stderr)
    return {"emulator_refusals": len(emu.refusals), "rate_limited_requests": emu.rate_limited_requests,
            "conformance_steps": len(steps), "conformance_session_s": took}
