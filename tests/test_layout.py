"""The house in order: runtime code never depends on the test kit, and framework modules stay short.

Runtime code is every module under ``framework/`` and ``plugins/`` outside ``framework/testing/``
(the pytest plugin, harness and fake OpenAI server): the bot and the sandbox must run without it.
A module of ``framework/`` longer than 400 lines says why in its docstring, with the words
"longer than 400 lines because". Both checks read the sources with ``ast``; they import nothing
they check.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_KIT = "framework.testing"
MAX_LINES = 400
EXCUSE = "longer than 400 lines because"


def runtime_modules() -> list[Path]:
    """Every module of ``framework/`` and ``plugins/``, less the test kit."""
    kit = ROOT / "framework" / "testing"
    found = [p for top in ("framework", "plugins") for p in sorted((ROOT / top).rglob("*.py"))]
    return [p for p in found if kit not in p.parents]


def package_of(relative: Path) -> list[str]:
    """The package a module's relative imports start from (a package's ``__init__`` is its own)."""
    parts = list(relative.with_suffix("").parts)
    return parts[:-1]


def imported_names(source: str, relative: Path) -> Iterator[tuple[int, str]]:
    """``(line, dotted name)`` for every module or attribute an import in ``source`` may bind, relative
    imports resolved against ``relative`` (the file's path from the project root); also the literal
    names given to ``importlib.import_module`` and ``__import__``."""
    package = package_of(relative)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                up = node.level - 1
                base_parts = package[:len(package) - up] if up <= len(package) else []
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if base else alias.name
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield node.lineno, first.value


def _is_dynamic_import(func: ast.expr) -> bool:
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in ("import_module", "__import__")


def kit_imports(source: str, relative: Path) -> list[str]:
    """The lines of ``source`` that import the test kit, as ``path:line: name`` (one per line)."""
    hits: dict[int, str] = {}
    for line, name in imported_names(source, relative):
        if name == TEST_KIT or name.startswith(TEST_KIT + "."):
            hits.setdefault(line, f"{relative}:{line}: {name}")
    return list(hits.values())


def overlong(source: str, relative: Path) -> str | None:
    """``path: N lines`` when the module is over the limit and its docstring does not say why."""
    lines = len(source.splitlines())
    if lines <= MAX_LINES:
        return None
    doc = " ".join((ast.get_docstring(ast.parse(source)) or "").split()).lower()
    return None if EXCUSE in doc else f"{relative}: {lines} lines"


# -- the project as it is


def test_runtime_modules_are_found() -> None:
    found = {p.relative_to(ROOT).as_posix() for p in runtime_modules()}
    assert {"framework/sandbox.py", "framework/emulator/emulator.py", "framework/emulator/voice_server.py",
            "plugins/core.py"} <= found
    assert not any(p.startswith("framework/testing/") for p in found)


def test_no_runtime_module_imports_the_test_kit() -> None:
    offenders = [hit for path in runtime_modules()
                 for hit in kit_imports(path.read_text("utf-8"), path.relative_to(ROOT))]
    assert not offenders, "runtime code imports framework.testing (move what it needs out of the test kit):\n" + \
        "\n".join(offenders)


def test_framework_modules_are_at_most_400_lines() -> None:
    modules = sorted((ROOT / "framework").rglob("*.py"))
    assert modules
    offenders = [hit for path in modules if (hit := overlong(path.read_text("utf-8"), path.relative_to(ROOT)))]
    assert not offenders, (f"modules over {MAX_LINES} lines whose docstring does not say "
                           f"\"{EXCUSE} …\": split them, or say why:\n" + "\n".join(offenders))


# -- the checks themselves catch what they are meant to


@pytest.mark.parametrize(("where", "source"), [
    ("framework/x.py", "import framework.testing"),
    ("framework/x.py", "import framework.testing.harness as h"),
    ("framework/x.py", "from framework.testing import harness"),
    ("framework/x.py", "from framework.testing.harness import BotHarness"),
    ("framework/x.py", "from framework import app, testing"),
    ("framework/x.py", "from . import testing"),
    ("framework/x.py", "from .testing.harness import BotHarness"),
    ("framework/voice_native/x.py", "from ..testing import harness"),
    ("framework/voice_native/x.py", "from .. import testing"),
    ("framework/emulator/__init__.py", "from ..testing.openai_server import OpenAIServer"),
    ("plugins/x.py", "from framework.testing.harness import BotHarness"),
    ("plugins/x.py", "def later():\n    from framework import testing\n    return testing"),
    ("framework/x.py", "import importlib\nkit = importlib.import_module('framework.testing.harness')"),
    ("framework/x.py", "kit = __import__('framework.testing')"),
])
def test_the_import_check_sees_every_form(where: str, source: str) -> None:
    assert kit_imports(source, Path(where)), f"{source!r} in {where} was not flagged"


@pytest.mark.parametrize(("where", "source"), [
    ("framework/x.py", "from framework import emulator"),
    ("framework/x.py", "import framework.testing_notes"),
    ("framework/emulator/x.py", "from .testing import helper"),
    ("framework/x.py", "from .emulator import testing"),
    ("plugins/x.py", "from . import testing"),
    ("framework/x.py", "'''framework.testing is the test kit.'''\nimport json"),
])
def test_the_import_check_leaves_other_imports_alone(where: str, source: str) -> None:
    assert kit_imports(source, Path(where)) == []


def test_the_length_check_wants_a_reason_in_the_docstring() -> None:
    body = "\n".join(f"x{i} = {i}" for i in range(MAX_LINES))
    short = '"""Short."""\n' + "\n".join(f"x{i} = {i}" for i in range(MAX_LINES - 1))
    silent = '"""A long module."""\n' + body
    excused = '"""A long module: it is longer than 400\nlines because one table must stay whole."""\n' + body
    in_a_comment = '"""A long module."""\n# longer than 400 lines because reasons\n' + body
    where = Path("framework/x.py")
    assert overlong(short, where) is None
    assert overlong(silent, where) == f"framework/x.py: {MAX_LINES + 1} lines"
    assert overlong(excused, where) is None
    assert overlong(in_a_comment, where) == f"framework/x.py: {MAX_LINES + 2} lines"
