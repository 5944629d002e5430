"""Event-loop lag while a 200 MB directory is archived (goal: the loop stays responsive), against
the lag of an idle loop measured for the same time in the same run."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from framework.app import App
from framework.archive import archive_directory
from framework.config import load_config
from framework.emulator import make_token

TOTAL_MB = 200
FILES = 100
TICK = 0.005


async def _max_lag(stop: asyncio.Event) -> float:
    worst = 0.0
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(TICK)
        worst = max(worst, time.perf_counter() - started - TICK)
    return worst


def _make_tree(root: Path) -> None:
    size = TOTAL_MB * 1024 * 1024 // FILES
    text = (b"the quick brown fox jumps over the lazy dog " * 1000)[: size // 2]
    for i in range(FILES):
        folder = root / f"part{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file{i:03}.bin").write_bytes(text + os.urandom(size - len(text)))


async def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        app = App(load_config(Path(tmp) / "none.toml", overrides={"bot": {"data_root": tmp}}),
                  token=make_token(1234567890123), rest_url="http://127.0.0.1:9/api/v10")
        source = app.data_root.area("datasets") / "big"
        await app.run_blocking(_make_tree, source)
        stop = asyncio.Event()
        ticker = asyncio.create_task(_max_lag(stop))
        started = time.perf_counter()
        result = await archive_directory(app, source)
        elapsed = time.perf_counter() - started
        stop.set()
        lag = await ticker
        idle_stop = asyncio.Event()
        idle = asyncio.create_task(_max_lag(idle_stop))
        await asyncio.sleep(min(elapsed, 10))
        idle_stop.set()
        baseline = await idle
        app.executor.shutdown()
    return {
        "archive_loop_lag_max_ms": lag * 1000,
        "archive_loop_lag_idle_baseline_ms": baseline * 1000,
        "archive_loop_lag_ratio_vs_idle": lag / baseline if baseline else float("nan"),
        "archive_200mb_seconds": elapsed,
        "archive_files": float(result.file_count),
    }
