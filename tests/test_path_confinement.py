"""Issue 14, part 1: no command creates anything outside the data root, whatever name it is given.

Every registered command, on both surfaces, is run by the owner (who passes every permission
check, so each command gets as far as it can) with each of its string options filled, in turn,
with each hostile name of :data:`tests.fuzzing.HOSTILE_NAMES` (the other options harmless); all
of that twice, so a name one command stores (a dataset `train` creates) meets the commands that
use it later (`dataset export`, which comes first in the alphabet). The
file tree outside the data root is listed before and after: the test's own folders completely,
and /tmp, the working directory, the home directory and every folder above the data root for an
entry named after the hostile names' token.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from framework.commands import MessageCommand, OptionType
from tests.fuzzing import HOSTILE_NAMES, TOKEN, Case, Fuzzer, commands_of, summary

pytestmark = pytest.mark.backends("sqlite")  # where files land does not depend on the database

REACH = {"train": {"data": "great film"}, "select_dataset": {"data_dir": "datasets/fuzz"}}
"""Values that take a command past its first refusal to where it uses the hostile name (`train`
stores examples under a dataset name only when there is data to store)."""


def _tree(top: Path, leave_out: Path) -> set[Path]:
    """Every path under ``top`` except those under ``leave_out``."""
    found = {top}
    for folder, dirs, names in os.walk(top):
        here = Path(folder)
        dirs[:] = [d for d in dirs if here / d != leave_out]
        found.update(here / d for d in dirs)
        found.update(here / n for n in names)
    return found


def _token_entries(folders: list[Path]) -> set[Path]:
    found = set()
    for folder in folders:
        try:
            found.update(p for p in folder.iterdir() if TOKEN in p.name)
        except OSError:  # a folder we may not list is one the bot could not write to either
            continue
    return found


async def test_no_command_creates_anything_outside_the_data_root(tb_factory, tmp_path) -> None:
    tb = await tb_factory()
    # Hundreds of commands answered in one channel as fast as the bot answers: the per-channel message
    # bucket (5 per 5 s) would pace them past the test's timeout. This test checks where files land;
    # tests/test_rate_limits.py and the conformance test check the bot keeps to the rate limits.
    tb.emu.relax("ratelimit")
    root = tb.data_root
    (root / "datasets" / "fuzz").mkdir()
    (root / "datasets" / "fuzz" / "examples.txt").write_text("great film\n\nawful film\n", "utf-8")
    watched = [*root.parents, Path("/tmp"), Path.cwd(), Path.home()]
    own = tmp_path.parent  # this test's folder and its siblings: pytest's area for this session
    before, tokens_before = _tree(own, root), _token_entries(watched)
    expected = 0
    with Fuzzer(tb, hello_after_each=False) as fuzzer:
        for command in commands_of(tb) * 2:
            if isinstance(command, MessageCommand):
                continue
            for option in [o for o in command.options if o.type is OptionType.STRING]:
                for name in HOSTILE_NAMES:
                    for surface in ("slash", "prefix"):
                        values, uploads = fuzzer.benign(command, surface)
                        values.update(REACH.get(command.qualified_name, {}))
                        values[option.name] = name
                        await fuzzer.run(Case(command, surface, values, uploads))
                        expected += 1
        late = await fuzzer.final_check()
    created = _tree(own, root) - before
    assert not created, f"created outside the data root: {sorted(created)[:20]}"
    assert _token_entries(watched) == tokens_before
    assert fuzzer.totals.cases == expected > 500
    assert not fuzzer.totals.problems + late, summary(fuzzer.totals.problems + late)
