"""The hook surface stays documented and tested (as datasette's test_plugin_hooks_* do)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from framework import hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOKS = sorted(name for name, fn in vars(hookspecs).items()
               if callable(fn) and hasattr(fn, f"{hookspecs.PROJECT}_spec"))


def test_hookspecs_are_found() -> None:
    assert "register_commands" in HOOKS and len(HOOKS) >= 10


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_are_documented(hook: str) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    reference = readme.split("## Hook reference", 1)[1]
    assert re.search(rf"^### {hook}\(", reference, re.M), f"README's hook reference lacks `### {hook}(...)`"
    assert getattr(hookspecs, hook).__doc__, f"hookspecs.{hook} has no docstring"


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_have_tests(hook: str) -> None:
    sources = "\n".join(p.read_text("utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    assert re.search(rf"def test_hook_{hook}\b", sources), f"no test named test_hook_{hook}"
