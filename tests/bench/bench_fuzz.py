"""The command fuzz of tests/test_command_fuzz.py, longer and with new cases each run: Hypothesis
generates ``TRAINERBOT_FUZZ_EXAMPLES`` cases (default 60) per command and surface, and voice
messages, against the whole bot on the emulator. Prints how many cases ran and how many ended in
the generic "failed unexpectedly" (or a logged error): that figure must be 0. Any problem found is
listed on stderr with the smallest case Hypothesis found for it."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from framework.emulator import DiscordEmulator
from framework.testing.harness import HarnessFactory
from tests.fuzzing import Fuzzer, fuzz_all, summary

EXAMPLES = int(os.environ.get("TRAINERBOT_FUZZ_EXAMPLES", "60"))


async def run() -> dict[str, float]:
    emu = DiscordEmulator()
    # Measures the bot's own cost: the per-channel bucket (5 messages per 5 s) would pace the replies
    # to Discord's rate instead (real Discord queues them the same way), so the rate limits are off here.
    emu.relax("ratelimit")
    await emu.start()
    factory = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            factory = HarnessFactory(emu, Path(tmp))
            tb = await factory(plugins_toml="[plugins.training]\npoll_interval = 0.05\n")
            with Fuzzer(tb) as fuzzer:
                failures = await asyncio.to_thread(fuzz_all, fuzzer, asyncio.get_running_loop(), EXAMPLES,
                                                   derandomize=False)
                failures += await fuzzer.final_check()
            await factory.close()
            factory = None
    finally:
        if factory is not None:
            await factory.close()
        await emu.stop()
    if failures:
        print(summary(failures), file=sys.stderr)
    return {"fuzz_cases_run": fuzzer.totals.cases, "fuzz_generic_failures": fuzzer.totals.generic_failures,
            "fuzz_other_problems": len(fuzzer.totals.problems) - fuzzer.totals.generic_failures}
