"""Memory and modules of a bot with every default plugin, after READY and one `!hi` (engines are
imported on first use, so none is loaded yet): `python -m tests.startup_probe` in a fresh process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def run() -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("TRAINERBOT_CONFIG", "OPENAI_API_KEY")}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.startup_probe", cwd=ROOT, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the startup probe exited with {process.returncode}: {err.decode()[-500:]}")
    found = json.loads(out.decode().strip().splitlines()[-1])
    figures: dict[str, float] = {"startup_modules": found["modules"],
                                 "startup_engine_libraries": len(found["engine_libraries"])}
    if found["rss_kib"] is not None:
        figures["startup_rss_mib"] = found["rss_kib"] / 1024
    return figures
