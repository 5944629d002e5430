"""The training plugin's part of a user's data: the examples they added, exported or deleted —
deletion also rewrites the snapshots past jobs trained on, so the user's lines leave them too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import hookimpl
from framework import sql as sa
from framework.storage import as_record
from plugins.training.schema import datasets, examples, jobs

if TYPE_CHECKING:  # pragma: no cover
    from framework.host import Host


@hookimpl
async def export_user_data(app: Host, user_id: int) -> dict[str, list[dict[str, Any]]]:
    """Examples the user added (by `train`, `select_dataset`), with their dataset's name."""
    async with app.storage.connect() as conn:
        rows = (await conn.execute(sa.select(datasets.c.name.label("dataset"), examples.c.id, examples.c.text,
                                             examples.c.label, examples.c.source, examples.c.created_at)
                                   .select_from(examples.join(datasets))
                                   .where(examples.c.author_id == int(user_id)).order_by(examples.c.id))).all()
    return {"examples": [as_record(r) for r in rows]}


@hookimpl
async def delete_user_data(app: Host, user_id: int) -> int:
    """The user's examples leave their datasets, and the snapshots of past jobs on those datasets
    (the exact files a provider trained on) lose those lines too. Returns the examples removed."""
    async with app.storage.begin() as conn:
        mine = (await conn.execute(sa.select(datasets.c.name, examples.c.text, examples.c.label)
                                   .select_from(examples.join(datasets))
                                   .where(examples.c.author_id == int(user_id)))).all()
        removed = (await conn.execute(examples.delete().where(examples.c.author_id == int(user_id)))).rowcount
        gone: dict[str, set[tuple[str, str]]] = {}
        for row in mine:
            gone.setdefault(row.name, set()).add((row.text, row.label))
        snapshots = (await conn.execute(sa.select(jobs.c.dataset, jobs.c.snapshot)
                                        .where(jobs.c.dataset.in_(list(gone)), jobs.c.snapshot != ""))).all()
    root = app.data_root.root.resolve()
    for job in snapshots:
        path = Path(job.snapshot)
        if path.resolve().is_relative_to(root):  # only files the bot wrote under its data root
            await app.run_blocking(_scrub_snapshot, path, gone[job.dataset])
    return removed


def _scrub_snapshot(path: Path, gone: set[tuple[str, str]]) -> None:
    """Rewrite a job snapshot without the given (text, label) lines; atomically (temp + rename)."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text("utf-8").splitlines(keepends=True) if line.strip()]
    rows = [json.loads(line) for line in lines]
    kept = [line for line, row in zip(lines, rows, strict=True) if (row["text"], row["label"]) not in gone]
    if len(kept) != len(lines):
        partial = path.with_suffix(".scrubbing")
        partial.write_text("".join(kept), "utf-8")
        partial.replace(path)
