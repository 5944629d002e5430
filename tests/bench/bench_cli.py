"""Wall time of `trainerbot --help` as a fresh process (goal: under 0.3 s), median of a few runs,
with a bare `python -c pass` measured alike as the floor of any Python command.

Python's bytecode cache is on for these runs, as on a user's machine (an environment that sets
PYTHONDONTWRITEBYTECODE would otherwise compile the project's modules on every run)."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

RUNS = 7
TRAINERBOT = str(Path(sys.executable).with_name("trainerbot"))


async def _wall(*argv: str, cwd: str) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("TRAINERBOT_CONFIG", "PYTHONDONTWRITEBYTECODE")}
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env=env, stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {process.returncode}: {err.decode()[-500:]}")
    return elapsed


async def run() -> dict[str, float]:
    helps: list[float] = []
    floors: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:  # no plugins.toml: the default plugins
        await _wall(TRAINERBOT, "--help", cwd=tmp)  # warm the file cache once
        for _ in range(RUNS):  # interleaved, so drift of the machine hits both alike
            helps.append(await _wall(TRAINERBOT, "--help", cwd=tmp))
            floors.append(await _wall(sys.executable, "-c", "pass", cwd=tmp))
    return {"cli_help_s": statistics.median(helps), "python_startup_s": statistics.median(floors)}
