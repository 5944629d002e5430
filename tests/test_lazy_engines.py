"""Engines load their libraries on first use: start-up with every default plugin imports none of
them, and the first use imports off the event loop, logged once."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from framework.lazy import import_engine, load_engine

pytestmark = pytest.mark.backends("sqlite")  # which libraries load when does not depend on the database

ROOT = Path(__file__).resolve().parent.parent


def test_start_up_imports_no_engine_library() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TRAINERBOT_CONFIG", "OPENAI_API_KEY")}
    done = subprocess.run([sys.executable, "-m", "tests.startup_probe"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["reply"].startswith("Hello, probe!"), "the bot answered after READY"
    assert found["engine_libraries"] == [], f"start-up imported {found['engine_libraries']}"
    assert found["unused_libraries"] == [], f"the bot imported {found['unused_libraries']}"


@pytest.fixture
def fresh_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A real module, never imported before, that records the thread importing it."""
    name = f"tb_fake_engine_{os.getpid()}_{tmp_path.name}".replace("-", "_")
    (tmp_path / f"{name}.py").write_text("import threading\nIMPORTED_IN = threading.current_thread().name\n", "utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


async def test_first_use_imports_in_the_thread_pool_and_logs_once(tb, fresh_library: str, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="framework.lazy"):
        first = await load_engine(tb.app, fresh_library, "fake")
        again = await load_engine(tb.app, fresh_library, "fake")
        assert import_engine(fresh_library, "fake") is first is again
    assert first.IMPORTED_IN.startswith("trainerbot-blocking"), first.IMPORTED_IN
    assert first.IMPORTED_IN != threading.current_thread().name
    loading = [r.getMessage() for r in caplog.records if r.name == "framework.lazy"]
    assert loading == [f"loading fake engine ({fresh_library})…"]
