"""`make bench`: run every tests/bench/bench_*.py module and print one `name=value` line per figure.

Each module defines ``async def run() -> dict[str, float]``; ratios are computed inside a module
against a baseline measured in the same run. Run one with `python -m tests.bench NAME`.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sys
import time

import tests.bench as package


def main(selected: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("bench_"))
    if selected:
        names = [n for n in names if any(s in n for s in selected)]
    failed = 0
    for name in names:
        module = importlib.import_module(f"tests.bench.{name}")
        started = time.perf_counter()
        try:
            figures = asyncio.run(module.run())
        except Exception as exc:
            print(f"# {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed += 1
            continue
        for key, value in figures.items():
            print(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}", flush=True)
        print(f"# {name} took {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
