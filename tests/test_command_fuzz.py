"""Issue 14, part 2: a property test over the command model. For every registered command on both
surfaces (and for voice messages), Hypothesis generates arguments — hostile strings, numbers at and
past every bound, values of the wrong type, missing and surplus options, attachments that are empty,
huge, truncated, mislabelled or deeply nested — and the real bot answers them through the emulator.

The property: no answer is the generic "failed unexpectedly" (and the bot logs no error), every
refusal fits one message, and the bot still answers `!hi` after each case.

``TRAINERBOT_FUZZ_EXAMPLES`` sets the cases per command and surface (default 10, which keeps this
test to about half a minute); set, it also lets Hypothesis choose new cases each run instead of the
same ones (``make bench`` runs a longer round: tests/bench/bench_fuzz.py).
"""

from __future__ import annotations

import asyncio
import os

from tests.fuzzing import Fuzzer, fuzz_all, summary, targets

EXAMPLES = int(os.environ.get("TRAINERBOT_FUZZ_EXAMPLES", "10"))
TRAINING = "[plugins.training]\npoll_interval = 0.05\n"


# On both backends: hostile and over-long values reach storage, and PostgreSQL refuses what SQLite takes
# (a string longer than its column, an integer past 64 bits).
async def test_no_generated_input_makes_a_command_fail_unexpectedly(tb_factory) -> None:
    tb = await tb_factory(plugins_toml=TRAINING)
    # Hundreds of commands, each answered in one channel, as fast as the bot answers: the per-channel
    # message bucket (5 per 5 s) would pace them to one a second, and the load passes Discord's global
    # 50 requests a second (hikari then backs off, logging a warning the fuzz would count). The fuzz
    # checks what the bot answers; tests/test_rate_limits.py and the conformance test check that it
    # keeps to the rate limits. Every other rule stays on.
    tb.emu.relax("ratelimit")
    loop = asyncio.get_running_loop()
    with Fuzzer(tb) as fuzzer:
        failures = await asyncio.to_thread(fuzz_all, fuzzer, loop, EXAMPLES,
                                           derandomize="TRAINERBOT_FUZZ_EXAMPLES" not in os.environ)
        late = await fuzzer.final_check()
    ran = fuzzer.totals.per_target
    assert {f"{surface} {command.qualified_name if command else 'voice message'}" for command, surface in targets(tb)} \
        == set(ran), "every command ran on both surfaces"
    assert fuzzer.totals.cases >= EXAMPLES * len(ran) // 2  # commands without options have few distinct cases
    assert not failures + late, summary(failures + late)
    assert fuzzer.totals.generic_failures == 0
