"""The documents stay true, as datasette's tests/test_docs.py keeps its documentation true.

docs/plugin_hooks.md has a section per hook of framework/hookspecs.py, and the signature written
there is the spec's (argument names, kinds and annotations, the return annotation, firstresult),
read from hookspecs.py when the test runs, so a changed spec fails here until its doc follows.
Every hook the doc names exists; every ``@hookimpl`` in the documents implements a real hook with
arguments that hook has; the hook examples load into the real bot and answer through Discord; and
every Python block compiles, every TOML block parses, and every relative link (and its #anchor) resolves.
Each hook also keeps a test of its own.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import sys
import tomllib
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from framework import hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOKS_DOC = ROOT / "docs" / "plugin_hooks.md"
DOCUMENTS = sorted([*ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md")])
SPECS = {name: fn for name, fn in vars(hookspecs).items()
         if callable(fn) and hasattr(fn, f"{hookspecs.PROJECT}_spec")}
HOOKS = sorted(SPECS)

FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[ \t]*\n(?P<code>.*?)^```[ \t]*$", re.M | re.S)
HEADING = re.compile(r"^#{1,6} +(?P<title>.+?) *$", re.M)
HOOK_TITLE = re.compile(r"(?P<name>[a-z_][a-z0-9_]*)\((?P<args>[^()]*)\)")
KINDS = {"posonlyargs": inspect.Parameter.POSITIONAL_ONLY, "args": inspect.Parameter.POSITIONAL_OR_KEYWORD,
         "kwonlyargs": inspect.Parameter.KEYWORD_ONLY}


@dataclasses.dataclass(frozen=True)
class Block:
    """A fenced code block: its language, its code, and the document line its code starts on."""

    path: Path
    lang: str
    code: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


@dataclasses.dataclass
class Section:
    """A hook's section of the hook reference: from its heading to the next heading."""

    name: str
    args: list[str]
    line: int
    blocks: list[Block] = dataclasses.field(default_factory=list)


def blocks_of(path: Path) -> list[Block]:
    text = path.read_text("utf-8")
    return [Block(path, m["lang"].lower(), m["code"], text.count("\n", 0, m.start("code")) + 1)
            for m in FENCE.finditer(text)]


def hook_sections(path: Path) -> list[Section]:
    """Headings titled ``name(args)`` outside code blocks, each with the code blocks under it."""
    text = path.read_text("utf-8")
    fences = [(m.start(), m.end()) for m in FENCE.finditer(text)]
    headings = [m for m in HEADING.finditer(text) if not any(a <= m.start() < b for a, b in fences)]
    sections: list[Section] = []
    for i, heading in enumerate(headings):
        title = HOOK_TITLE.fullmatch(heading["title"])
        if title is None:
            continue
        end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
        line = text.count("\n", 0, heading.start()) + 1
        section = Section(title["name"], [a.strip() for a in title["args"].split(",") if a.strip()], line)
        section.blocks = [b for b in blocks_of(path) if heading.end() <= _offset(text, b.line) < end]
        sections.append(section)
    return sections


def _offset(text: str, line: int) -> int:
    return sum(len(part) + 1 for part in text.split("\n")[: line - 1])


SECTIONS = {s.name: s for s in hook_sections(HOOKS_DOC)}


def section(hook: str) -> Section:
    assert hook in SECTIONS, f"docs/plugin_hooks.md has no heading `### {hook}(...)`"
    return SECTIONS[hook]


def python_blocks() -> Iterator[Block]:
    return (b for path in DOCUMENTS for b in blocks_of(path) if b.lang in ("python", "py"))


def _spec_text(annotation: Any) -> str | None:
    """An annotation as written: hookspecs.py's are strings (postponed evaluation), normalised."""
    if annotation is inspect.Parameter.empty:
        return None
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    return ast.unparse(ast.parse(text, mode="eval"))


def documented_spec(hook: str) -> tuple[ast.FunctionDef, bool]:
    """The signature block (the first code block of the section): one ``@hookspec`` stub."""
    blocks = section(hook).blocks
    assert blocks and blocks[0].lang == "python", f"{hook}: the first block under its heading is its signature"
    tree = ast.parse(blocks[0].code)
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.FunctionDef), \
        f"{blocks[0].where}: the signature block is one `def {hook}(...) -> ...: ...`"
    fn = tree.body[0]
    assert [ast.unparse(d) for d in fn.decorator_list] in (["hookspec"], ["hookspec(firstresult=True)"]), \
        f"{blocks[0].where}: decorate the signature with @hookspec or @hookspec(firstresult=True)"
    return fn, fn.decorator_list[0].__class__ is ast.Call


def impls_in(code: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Module-level functions marked ``@hookimpl`` or ``@hookimpl(...)``."""
    def marked(decorator: ast.expr) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        return ast.unparse(target) in ("hookimpl", "framework.hookimpl")

    return [node for node in ast.parse(code).body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and any(marked(d) for d in node.decorator_list)]


# ----------------------------------------------------------------------------- the hook reference


def test_hookspecs_are_found() -> None:
    assert "register_commands" in HOOKS and len(HOOKS) >= 10


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_are_documented(hook: str) -> None:
    documented = section(hook)
    spec_args = list(inspect.signature(SPECS[hook]).parameters)
    assert documented.args == spec_args, (f"docs/plugin_hooks.md:{documented.line}: heading "
                                          f"{hook}({', '.join(documented.args)}), spec {hook}({', '.join(spec_args)})")
    assert SPECS[hook].__doc__, f"hookspecs.{hook} has no docstring"


def _render(params: list[tuple[str, Any, str | None]], returns: str | None) -> str:
    shown = [f"{'*, ' if kind is inspect.Parameter.KEYWORD_ONLY else ''}{name}{f': {ann}' if ann else ''}"
             for name, kind, ann in params]
    return f"({', '.join(shown)}) -> {returns}"


@pytest.mark.parametrize("hook", HOOKS)
def test_documented_signature_is_the_specs(hook: str) -> None:
    fn, firstresult = documented_spec(hook)
    where = section(hook).blocks[0].where
    assert fn.name == hook, f"{where}: the signature under `{hook}` is of `{fn.name}`"
    assert fn.args.vararg is None and fn.args.kwarg is None and not fn.args.defaults and not fn.args.kw_defaults, \
        f"{where}: hooks take named arguments without defaults"
    spec = inspect.signature(SPECS[hook])
    expected = ([(p.name, p.kind, _spec_text(p.annotation)) for p in spec.parameters.values()],
                _spec_text(spec.return_annotation))
    written = ([(a.arg, kind, ast.unparse(a.annotation) if a.annotation else None)
                for field, kind in KINDS.items() for a in getattr(fn.args, field)],
               ast.unparse(fn.returns) if fn.returns else None)
    assert written == expected, \
        f"{where}: documented {hook}{_render(*written)}, hookspecs.py has {hook}{_render(*expected)}"
    spec_firstresult = bool(getattr(SPECS[hook], f"{hookspecs.PROJECT}_spec")["firstresult"])
    assert firstresult == spec_firstresult, f"{where}: hookspecs.py has firstresult={spec_firstresult}"


def test_every_documented_hook_is_a_spec() -> None:
    names = [s.name for s in hook_sections(HOOKS_DOC)]
    assert sorted(set(names) - set(SPECS)) == [], "docs/plugin_hooks.md documents hooks hookspecs.py lacks"
    assert len(names) == len(set(names)), "a hook is documented twice"


@pytest.mark.parametrize("hook", HOOKS)
def test_each_hook_has_an_example_implementing_it(hook: str) -> None:
    examples = [b for b in section(hook).blocks[1:] if b.lang == "python"]
    assert any(fn.name == hook for b in examples for fn in impls_in(b.code)), \
        f"docs/plugin_hooks.md:{section(hook).line}: no example with `@hookimpl def {hook}(...)`"


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_have_tests(hook: str) -> None:
    sources = "\n".join(p.read_text("utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    assert re.search(rf"def test_hook_{hook}\b", sources), f"no test named test_hook_{hook}"


# ----------------------------------------------------------------------------- every document's code


@pytest.mark.parametrize("block", list(python_blocks()), ids=lambda b: b.where)
def test_python_blocks_compile(block: Block) -> None:
    compile("\n" * (block.line - 1) + block.code, str(block.path), "exec")


@pytest.mark.parametrize("block", [b for path in DOCUMENTS for b in blocks_of(path) if b.lang == "toml"],
                         ids=lambda b: b.where)
def test_toml_blocks_parse(block: Block) -> None:
    tomllib.loads(block.code)


@pytest.mark.parametrize("block", [b for b in python_blocks() if impls_in(b.code)], ids=lambda b: b.where)
def test_hookimpls_in_the_docs_implement_real_hooks(block: Block) -> None:
    """pluggy's own rule: a hook of that name exists, and it has every argument the implementation takes."""
    for fn in impls_in(block.code):
        assert fn.name in SPECS, f"{block.where}: `{fn.name}` is not a hook"
        taken = [a.arg for a in fn.args.posonlyargs + fn.args.args]
        unknown = sorted(set(taken) - set(inspect.signature(SPECS[fn.name]).parameters))
        assert not unknown, f"{block.where}: {fn.name} takes {unknown}, which the hook does not pass"


# ----------------------------------------------------------------------------- the examples, running


@pytest.fixture
def examples() -> Iterator[dict[str, tuple[types.ModuleType, Block]]]:
    """Every example of the hook reference as a plugin module named ``example_<hook>[_<n>]``."""
    found: dict[str, tuple[types.ModuleType, Block]] = {}
    for hook in HOOKS:
        for n, block in enumerate(b for b in section(hook).blocks[1:] if b.lang == "python" and impls_in(b.code)):
            name = f"example_{hook}" + (f"_{n}" if n else "")
            module = types.ModuleType(f"docs_{name}")
            sys.modules[module.__name__] = module  # pydantic and dataclasses look their module up
            exec(compile("\n" * (block.line - 1) + block.code, str(block.path), "exec"), module.__dict__)
            found[name] = (module, block)
    try:
        yield found
    finally:
        for module, _ in found.values():
            sys.modules.pop(module.__name__, None)


@pytest.mark.backends("sqlite")  # the documents' examples: the database plays no part
async def test_the_examples_load_into_the_bot_and_answer(tb_factory, examples) -> None:
    tb = await tb_factory(extra_plugins={name: module for name, (module, _) in examples.items()})
    for name, (_, block) in examples.items():
        info = tb.app.plugins.infos[name]
        assert info.status == "enabled", f"{block.where}: {info.error}"
        assert set(info.hooks) == {fn.name for fn in impls_in(block.code)}, block.where
    for kind, name in (("providers", "majority"), ("stt", "loudness"), ("tts", "beeper"), ("voice", "log-only")):
        assert getattr(tb.app.engines, kind).owner(name), f"no {kind} engine {name!r}"

    assert 1 <= int((await tb.say("!roll 20")).content.removeprefix("🎲 ")) <= 20
    assert (await tb.say("!roll 1")).content == "Option `sides` must be between 2 and 100, got `1`."
    assert (await tb.say("!greet")).content == "Hello, alice!"
    assert (await tb.say("marco")).content == "polo"
    faq = await tb.say("When are you open?")
    assert faq.content == "Monday to Friday, 9:00 to 17:00."
    thanks = await tb.say("!feedback rating=5 clear answer", reference=faq)  # feedback asks bot_answer
    assert thanks.content == "Thanks for your feedback (#1)!"


LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def _slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    text = FENCE.sub("", path.read_text("utf-8"))
    broken = []
    for match in LINK.finditer(text):
        target, _, anchor = match["target"].partition("#")
        if re.match(r"[a-z]+:", target):
            continue  # a URL
        file = (path.parent / target).resolve() if target else path
        if not file.exists():
            broken.append(match["target"])
        elif anchor and file.suffix == ".md":
            titles = HEADING.findall(FENCE.sub("", file.read_text("utf-8")))
            if anchor not in {_slug(t) for t in titles}:
                broken.append(match["target"])
    assert not broken, f"{path.relative_to(ROOT)}: broken links {broken}"
