"""The whole bot in a process of its own, against a Discord emulator and an OpenAI test server that
run in the test's process, until it is killed: for tests that SIGKILL the bot at a chosen moment
and start it again on the same data root.

    python -m tests.bot_process CONFIG DATA_ROOT REST_URL

The bot's token comes from ``TRAINERBOT_TEST_TOKEN``; ``OPENAI_API_KEY``/``OPENAI_BASE_URL`` from
the environment, as for the real bot. Logs go to stderr; once the bot is started (connected, its
``startup`` hooks run) it prints ``READY`` on stdout. SIGTERM closes it cleanly. It runs on the event
loop ``[bot] event_loop`` names, as ``trainerbot run`` does (uvloop by default where installed).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from framework.config import Config

READY = "READY"


async def run(config: Config, rest_url: str) -> None:
    from framework.app import App

    app = App(config, token=os.environ["TRAINERBOT_TEST_TOKEN"], rest_url=rest_url)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await app.start()
    print(READY, flush=True)
    try:
        await stop.wait()
    finally:
        await app.close()


def main(config_path: str, data_root: str, rest_url: str) -> None:
    from framework.config import load_config
    from framework.logs import setup_logging
    from framework.runtime import run as run_on_loop

    setup_logging("INFO")
    config = load_config(Path(config_path), overrides={"bot": {"data_root": data_root}})
    run_on_loop(run(config, rest_url), config.bot.event_loop)


if __name__ == "__main__":
    main(*sys.argv[1:4])
