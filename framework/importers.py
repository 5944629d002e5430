"""Labelled text from files: plain text, .txt/.md, .json/.jsonl, .csv and text extracted from .html.

Each importer yields ``(text, label_or_None)``; a file that cannot be read raises
:class:`ImportProblem` with a message that points at the line or position.
"""

from __future__ import annotations

import csv
import html.parser
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath

from framework.errors import ImportProblem

SUPPORTED = (".txt", ".md", ".json", ".jsonl", ".csv", ".html", ".htm")



def to_jsonl(records: Iterable[dict[str, object]]) -> bytes:
    """JSON Lines (UTF-8, one object a line): what exports write and ``parse_jsonl`` reads back.
    Values JSON does not know (dates) are written as text. Large: call it through ``run_blocking``."""
    return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records).encode()


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportProblem(f"`{name}` is not UTF-8 text (undecodable byte at position {exc.start}).") from None


def _label(value: object, name: str, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "positive" if value else "negative"
    if not isinstance(value, str) or not value.strip():
        raise ImportProblem(f"`{name}` {where}: `label` must be a non-empty string.")
    return value.strip().lower()


def _from_object(obj: object, name: str, where: str) -> Iterator[tuple[str, str | None]]:
    if isinstance(obj, str):
        yield obj, None
    elif isinstance(obj, dict) and "text" in obj:
        if not isinstance(obj["text"], str):
            raise ImportProblem(f"`{name}` {where}: `text` must be a string.")
        yield obj["text"], _label(obj.get("label"), name, where)
    elif isinstance(obj, dict) and obj and all(isinstance(v, list) for v in obj.values()):
        for label, texts in obj.items():  # {"positive": [...], "negative": [...]}
            for index, text in enumerate(texts):
                if not isinstance(text, str):
                    raise ImportProblem(f"`{name}` {where}: item {index} of `{label}` is not a string.")
                yield text, _label(label, name, where)
    else:
        raise ImportProblem(f"`{name}` {where}: expected a string, an object with `text` (and `label`), "
                            'or {"label": [texts]}.')


def parse_json(name: str, text: str) -> Iterator[tuple[str, str | None]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportProblem(
            f"`{name}` is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from None
    items = data if isinstance(data, list) else [data]
    for index, item in enumerate(items):
        yield from _from_object(item, name, f"item {index}")


def parse_jsonl(name: str, text: str) -> Iterator[tuple[str, str | None]]:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ImportProblem(
                    f"`{name}` line {number} is not valid JSON: {exc.msg} at column {exc.colno}.") from None
            yield from _from_object(item, name, f"line {number}")


def parse_csv(name: str, text: str) -> Iterator[tuple[str, str | None]]:
    reader = csv.reader(io.StringIO(text))
    numbered: list[tuple[int, list[str]]] = []  # (first line of the row, row): quoted fields may span lines
    start = 1
    try:
        for row in reader:
            numbered.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ImportProblem(f"`{name}` is not valid CSV at line {start}: {exc}.") from None
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
            raise ImportProblem(f"`{name}` line {number}: expected {max(t, lab or 0) + 1} columns, found {len(row)}.")
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
        raise ImportProblem(f"`{name}`: unsupported file type (supported: {', '.join(SUPPORTED)}).")
    return list(parser(name, _decode(name, data)))
