"""Labelled text from files: plain text, .txt/.md, .json/.jsonl, .csv and text extracted from .html.

Each importer yields ``(text, label_or_None)``; a file that cannot be read raises
:class:`ImportProblem` with a message that points at the line or position. Limits hold before the
work: a text over :data:`MAX_TEXT_CHARS` is refused unread, and JSON nested deeper than
:data:`MAX_JSON_DEPTH` is refused by a scan before the decoder (whose recursion would otherwise end
in ``RecursionError`` on a megabyte of ``[``).
"""

from __future__ import annotations

import csv
import html.parser
import io
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath

from framework.errors import ImportProblem, echo

SUPPORTED = (".txt", ".md", ".json", ".jsonl", ".csv", ".html", ".htm")
MAX_TEXT_CHARS = 16 * 1024 * 1024
"""Most characters one text (a file, a message) may have; callers' byte limits are usually lower."""
MAX_JSON_DEPTH = 32
"""Deepest nesting of JSON arrays and objects read; labelled examples need three levels."""

_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')



def to_jsonl(records: Iterable[dict[str, object]]) -> bytes:
    """JSON Lines (UTF-8, one object a line): what exports write and ``parse_jsonl`` reads back.
    Values JSON does not know (dates) are written as text. Large: call it through ``run_blocking``."""
    return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records).encode()


def _decode(name: str, data: bytes) -> str:
    if len(data) > 4 * MAX_TEXT_CHARS:
        raise ImportProblem(f"`{echo(name)}` is too large to read ({len(data)} bytes).")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportProblem(f"`{echo(name)}` is not UTF-8 text (undecodable byte at position {exc.start}).") from None


def _label(value: object, name: str, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "positive" if value else "negative"
    if not isinstance(value, str) or not value.strip():
        raise ImportProblem(f"`{echo(name)}` {where}: `label` must be a non-empty string.")
    return value.strip().lower()


def _from_object(obj: object, name: str, where: str) -> Iterator[tuple[str, str | None]]:
    if isinstance(obj, str):
        yield obj, None
    elif isinstance(obj, dict) and "text" in obj:
        if not isinstance(obj["text"], str):
            raise ImportProblem(f"`{echo(name)}` {where}: `text` must be a string.")
        yield obj["text"], _label(obj.get("label"), name, where)
    elif isinstance(obj, dict) and obj and all(isinstance(v, list) for v in obj.values()):
        for label, texts in obj.items():  # {"positive": [...], "negative": [...]}
            for index, text in enumerate(texts):
                if not isinstance(text, str):
                    raise ImportProblem(f"`{echo(name)}` {where}: item {index} of `{echo(label)}` is not a string.")
                yield text, _label(label, name, where)
    else:
        raise ImportProblem(f"`{echo(name)}` {where}: expected a string, an object with `text` (and `label`), "
                            'or {"label": [texts]}.')


def json_depth(text: str, limit: int = MAX_JSON_DEPTH) -> tuple[int, int]:
    """(deepest nesting up to ``limit + 1``, offset where it got there): a scan over strings and
    brackets only, stopping as soon as the limit is passed, so it costs no more than the text."""
    depth = deepest = where = 0
    for token in _JSON_TOKENS.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > deepest:
                deepest, where = depth, token.start()
                if deepest > limit:
                    break
        elif bracket in "]}":
            depth -= 1
    return deepest, where


def load_json(name: str, text: str, where: str = "") -> object:
    """``json.loads`` within the limits: size, nesting depth, and numbers Python can hold; each
    refusal is an :class:`ImportProblem` naming the file (and ``where``, e.g. "line 3")."""
    place = f"`{echo(name)}`" + (f" {where}" if where else "")
    if len(text) > MAX_TEXT_CHARS:
        raise ImportProblem(f"{place} is too large to read ({len(text)} characters).")
    deepest, offset = json_depth(text)
    if deepest > MAX_JSON_DEPTH:
        line = text.count("\n", 0, offset) + 1
        raise ImportProblem(f"{place} is nested deeper than {MAX_JSON_DEPTH} levels (at line {line}); "
                            "labelled examples need at most three.")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        column = f"at line {exc.lineno}, column {exc.colno}" if not where else f"at column {exc.colno}"
        raise ImportProblem(f"{place} is not valid JSON: {exc.msg} {column}.") from None
    except ValueError:  # json.loads hands over digits to int(), which refuses more than 4,300
        raise ImportProblem(f"{place} holds a number too long to read.") from None
    except RecursionError:  # nesting the scan did not see (it is a scan, not a parser)
        raise ImportProblem(f"{place} is nested too deeply to read.") from None


def parse_json(name: str, text: str) -> Iterator[tuple[str, str | None]]:
    data = load_json(name, text)
    items = data if isinstance(data, list) else [data]
    for index, item in enumerate(items):
        yield from _from_object(item, name, f"item {index}")


def parse_jsonl(name: str, text: str) -> Iterator[tuple[str, str | None]]:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield from _from_object(load_json(name, line, f"line {number}"), name, f"line {number}")


def parse_csv(name: str, text: str) -> Iterator[tuple[str, str | None]]:
    reader = csv.reader(io.StringIO(text))
    numbered: list[tuple[int, list[str]]] = []  # (first line of the row, row): quoted fields may span lines
    start = 1
    try:
        for row in reader:
            numbered.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ImportProblem(f"`{echo(name)}` is not valid CSV at line {start}: {exc}.") from None
    if not numbered:
        return
    header = [h.strip().lower() for h in numbered[0][1]]
    if "text" in header:
        t, lab = header.index("text"), header.index("label") if "label" in header else None
        body = numbered[1:]
    else:
        t, lab, body = 0, 1 if len(header) > 1 else None, numbered
    for number, row in body:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= t or (lab is not None and len(row) <= lab):
            raise ImportProblem(f"`{echo(name)}` line {number}: expected {max(t, lab or 0) + 1} columns, "
                                f"found {len(row)}.")
        yield row[t], _label(row[lab], name, f"line {number}") if lab is not None else None


class _HTMLText(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag in ("p", "div", "li", "br", "h1", "h2", "h3", "tr"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def parse_html(name: str, text: str) -> Iterator[tuple[str, str | None]]:
    extractor = _HTMLText()
    extractor.feed(text)
    body = " ".join(" ".join(extractor.parts).split())
    if body:
        yield body, None


def parse_text(name: str, text: str) -> Iterator[tuple[str, str | None]]:
    """One example per paragraph (blank-line separated) — or per line when there are no blank lines."""
    blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n")]
    if len(blocks) == 1:
        blocks = [line.strip() for line in text.splitlines()]
    for block in blocks:
        if block:
            yield block, None


PARSERS = {".json": parse_json, ".jsonl": parse_jsonl, ".csv": parse_csv, ".html": parse_html, ".htm": parse_html,
           ".txt": parse_text, ".md": parse_text}


def parse_file(name: str, data: bytes) -> list[tuple[str, str | None]]:
    suffix = PurePosixPath(name.lower()).suffix
    parser = PARSERS.get(suffix)
    if parser is None:
        raise ImportProblem(f"`{echo(name)}`: unsupported file type (supported: {', '.join(SUPPORTED)}).")
    return list(parser(name, _decode(name, data)))
