"""The web sandbox as a newcomer meets it.

``sandbox_page_ready_ms``: from starting ``trainerbot sandbox`` (no token, a free port, a fresh
folder) to its page answering HTTP 200 (the page is served once the bot is connected).
``sandbox_command_roundtrip_ms``: in Chromium on that page, the median of 5 from pressing Enter on
``/hi`` to the bot's answer rendered (timed in the page with ``performance.now``). Needs
/usr/bin/chromium and the ``playwright`` package; without them only the first figure is printed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

CHROMIUM = Path("/usr/bin/chromium")
TRAINERBOT = str(Path(sys.executable).with_name("trainerbot"))
ROUNDS = 5

ROUNDTRIP_JS = """async () => {
    const seen = new Set([...document.querySelectorAll(".msg")].map((m) => m.dataset.id));
    const input = document.getElementById("input");
    input.value = "/hi";
    const answered = new Promise((resolve) => {
        const observer = new MutationObserver(() => {
            const fresh = [...document.querySelectorAll(".msg[data-author=trainerbot]")]
                .find((m) => !seen.has(m.dataset.id) && m.textContent.includes("Hello"));
            if (fresh) { observer.disconnect(); resolve(performance.now()); }
        });
        observer.observe(document.getElementById("messages"), {childList: true, subtree: true, characterData: true});
    });
    const started = performance.now();
    document.getElementById("composer").requestSubmit();
    return (await answered) - started;
}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _wait_page(url: str, process: asyncio.subprocess.Process, timeout: float = 180) -> None:
    deadline = time.perf_counter() + timeout
    async with aiohttp.ClientSession() as http:
        while time.perf_counter() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"trainerbot sandbox exited with {process.returncode}")
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.02)
    raise RuntimeError(f"the page did not answer within {timeout} s")


async def _roundtrips(url: str) -> list[float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = await browser.new_page()
            await page.goto(url)
            await page.locator("body[data-ready='1']").wait_for(timeout=60_000)
            return [float(await page.evaluate(ROUNDTRIP_JS)) for _ in range(ROUNDS)]
        finally:
            await browser.close()


async def run() -> dict[str, float]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "TRAINERBOT_CONFIG", "OPENAI_API_KEY")}
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            TRAINERBOT, "sandbox", "--port", str(port), cwd=folder, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            await _wait_page(url, process)
            figures["sandbox_page_ready_ms"] = (time.perf_counter() - started) * 1000
            try:
                import playwright  # noqa: F401
            except ImportError:
                print("# sandbox_command_roundtrip_ms: the playwright package is not installed", file=sys.stderr)
            else:
                if CHROMIUM.exists():
                    figures["sandbox_command_roundtrip_ms"] = statistics.median(await _roundtrips(url))
                else:
                    print("# sandbox_command_roundtrip_ms: no /usr/bin/chromium (.ci/browser)", file=sys.stderr)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except TimeoutError:
                    process.kill()
                    await process.wait()
    return figures
