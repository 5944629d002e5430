"""Datasets of labelled examples: storing them (deduplicated by a hash of text and label), the
stable train/held-out split, the ``dataset_examples`` hook other plugins read them through, and
collecting new examples from message text, an attachment or a folder of the data root.

A dataset's name becomes a file name (``dataset export`` writes ``exports/NAME-DATE.jsonl``), so
it has the form :func:`framework.dataroot.check_name` allows, checked when a dataset is created
and when one is looked up; names stored before that rule were renamed by the schema's migration 4.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hikari

from framework import hookimpl
from framework import sql as sa
from framework.archive import human_size
from framework.commands import Context, UserError
from framework.dataroot import check_name
from framework.errors import ImportProblem, PathRefused, UploadProblem, echo
from framework.importers import SUPPORTED, parse_file, parse_text
from framework.providers import Example
from framework.storage import lock
from framework.uploads import read_upload
from plugins.training.schema import Settings, datasets, examples

if TYPE_CHECKING:  # pragma: no cover
    from framework.host import Host


def dataset_name(text: str) -> str:
    """A dataset name as users type it, in the one allowed form (an option validator, so both
    surfaces refuse ``../x`` or ``/tmp/x`` with the same message before anything is stored)."""
    return check_name(text, "dataset name")


def _hash(text: str, label: str) -> str:
    return hashlib.sha256(f"{label}\x00{' '.join(text.split())}".encode()).hexdigest()


async def find_dataset(conn: Any, name: str, *, create_with: list[str] | None = None) -> Any:
    name = dataset_name(name)
    row = (await conn.execute(sa.select(datasets).where(datasets.c.name == name))).first()
    if row is None and create_with is not None:
        await conn.execute(datasets.insert().values(name=name, labels=json.dumps(create_with)))
        row = (await conn.execute(sa.select(datasets).where(datasets.c.name == name))).first()
    if row is None:
        raise UserError(f"No dataset `{name}`. `dataset list` shows them.")
    return row


async def add_examples(app: Host, name: str, items: Iterable[tuple[str, str, str]], author: int | None,
                       labels: list[str]) -> tuple[int, int]:
    """Add (text, label, source) items in one transaction; returns (added, duplicates)."""
    added = duplicates = 0
    async with app.storage.begin() as conn:
        await lock(conn, f"dataset:{name}")  # PostgreSQL: one writer of a dataset's examples at a time
        ds = await find_dataset(conn, name, create_with=labels)
        allowed = json.loads(ds.labels)
        existing = {r.hash for r in await conn.execute(
            sa.select(examples.c.hash).where(examples.c.dataset_id == ds.id))}
        for text, label, source in items:
            if label not in allowed:
                raise UserError(f"Label `{echo(label)}` is not one of dataset `{name}`'s labels: {', '.join(allowed)}.")
            digest = _hash(text, label)
            if digest in existing:
                duplicates += 1
                continue
            existing.add(digest)
            await conn.execute(examples.insert().values(dataset_id=ds.id, text=text, label=label, source=source,
                                                        author_id=author, hash=digest))
            added += 1
    return added, duplicates


async def dataset_rows(app: Host, name: str) -> tuple[Any, list[Any]]:
    async with app.storage.connect() as conn:
        ds = await find_dataset(conn, name)
        rows = (await conn.execute(sa.select(examples).where(examples.c.dataset_id == ds.id)
                                   .order_by(examples.c.id))).all()
    return ds, list(rows)


def split_rows(rows: list[Any], holdout: float) -> tuple[list[Any], list[Any]]:
    """(train, held out): an example is held out when its hash falls below ``holdout``, so the
    split is stable as the dataset grows. Only applied when both parts keep every label; a
    dataset too small for that trains on everything and has no held-out part."""
    if holdout <= 0:
        return list(rows), []
    train: list[Any] = []
    test: list[Any] = []
    for row in rows:
        (test if int(row.hash[:8], 16) / 0x1_0000_0000 < holdout else train).append(row)
    labels = {r.label for r in rows}
    if {r.label for r in train} != labels or {r.label for r in test} != labels:
        return list(rows), []
    return train, test


@hookimpl
async def dataset_examples(app: Host, name: str, split: str) -> list[Example] | None:
    if split not in ("train", "test", "all"):
        raise UserError(f"Unknown split `{echo(split)}`: `train`, `test` (held out) or `all`.")
    try:
        name = dataset_name(name)
    except PathRefused:
        return None  # no dataset of ours has such a name; another plugin may keep it
    async with app.storage.connect() as conn:
        if (await conn.execute(sa.select(datasets.c.id).where(datasets.c.name == name))).first() is None:
            return None  # not ours: another plugin may keep it
    _, rows = await dataset_rows(app, name)
    train, test = split_rows(rows, app.settings("training").holdout)
    return [Example(r.text, r.label) for r in {"train": train, "test": test, "all": rows}[split]]


def _items_from(name: str, data: bytes, default_label: str, source: str) -> list[tuple[str, str, str]]:
    return [(t.strip(), label or default_label, source) for t, label in parse_file(name, data) if t.strip()]


def _read_directory(folder: Path, root: Path, default_label: str,
                    max_bytes: int) -> tuple[list[tuple[str, str, str]], list[str]]:
    items: list[tuple[str, str, str]] = []
    problems: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        if path.suffix.lower() not in SUPPORTED:
            problems.append(f"`{echo(rel)}`: unsupported file type")
            continue
        if path.stat().st_size > max_bytes:
            problems.append(f"`{echo(rel)}`: larger than {human_size(max_bytes)}")
            continue
        try:
            items += _items_from(rel, path.read_bytes(), default_label, "directory")
        except ImportProblem as exc:
            problems.append(str(exc))
    return items, problems


async def collect(ctx: Context, data: str | None, data_dir: str | None, positive: bool,
                  upload: hikari.Attachment | None) -> tuple[list[tuple[str, str, str]], list[str], Path | None]:
    settings: Settings = ctx.settings
    label = settings.labels[0] if positive else settings.labels[1]
    items: list[tuple[str, str, str]] = []
    problems: list[str] = []
    folder = None
    if data and data.strip():
        items += [(t, label, "message") for t, _ in parse_text("message", data)]
    if upload is not None:
        if upload.size > settings.max_file_bytes:
            problems.append(f"`{echo(upload.filename)}`: larger than {human_size(settings.max_file_bytes)}")
        else:
            try:
                raw = await read_upload(upload, settings.max_file_bytes)
                items += await ctx.run_blocking(_items_from, upload.filename, raw, label, "attachment")
            except (ImportProblem, UploadProblem) as exc:
                problems.append(str(exc))
    if data_dir:
        folder = ctx.app.data_root.resolve(data_dir, kind="dir")
        found, bad = await ctx.run_blocking(_read_directory, folder, ctx.app.data_root.root, label,
                                            settings.max_file_bytes)
        items += found
        problems += bad
    return items, problems, folder


@hookimpl
async def add_dataset_examples(app: Host, name: str | None, examples: list[Example],
                               author_id: int | None) -> tuple[str, int, int] | None:
    """Examples other features add (a resolved review item with its right label): stored like ``train``'s."""
    settings = app.settings("training")
    try:
        name = dataset_name(name or settings.default_dataset)
    except PathRefused:
        return None  # no dataset of ours can have such a name; another plugin may keep it
    added, duplicates = await add_examples(app, name, [(e.text, e.label, "review") for e in examples], author_id,
                                           settings.labels)
    return name, added, duplicates
