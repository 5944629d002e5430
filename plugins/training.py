"""Datasets and training: collect labelled examples from Discord (text, attachments, folders of the
data root), start training jobs on the configured provider, follow them live (a message edited
as events arrive), resume polling after a restart, and choose the active model.

Changes are restricted to the ``training`` permission group; anyone may look.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import hikari
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from framework import hookimpl
from framework.archive import archive_directory, human_size
from framework.commands import Context, File, UserError, attachment, boolean, command, group, string
from framework.importers import SUPPORTED, ImportProblem, parse_file, parse_text, to_jsonl
from framework.providers import Example, ProviderError, TrainingRequest, set_active_model, trained_models
from framework.storage import Migration, add_missing_columns, as_record

log = logging.getLogger(__name__)

metadata = sa.MetaData()
datasets = sa.Table(
    "datasets", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("labels", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()),
)
examples = sa.Table(
    "examples", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("label", sa.String(100), nullable=False),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("author_id", sa.BigInteger),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()),
    sa.UniqueConstraint("dataset_id", "hash"),
)
jobs = sa.Table(
    "training_jobs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dataset", sa.String(100), nullable=False),
    sa.Column("provider", sa.String(50), nullable=False),
    sa.Column("provider_job_id", sa.String(200)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("snapshot", sa.Text, nullable=False),
    sa.Column("example_count", sa.Integer, nullable=False),
    sa.Column("model_id", sa.String(300)),
    sa.Column("error", sa.Text),
    sa.Column("events", sa.Text, nullable=False, server_default="[]"),
    sa.Column("channel_id", sa.BigInteger),
    sa.Column("message_id", sa.BigInteger),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()),
    sa.Column("instruction", sa.Text, nullable=False, server_default=""),  # what examples were framed with
)
TERMINAL = ("succeeded", "failed", "cancelled")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default_dataset: str = "default"
    labels: list[str] = ["positive", "negative"]
    instruction: str = "Classify the user's message. Answer with one label: {labels}."
    poll_interval: float = Field(15.0, gt=0)
    max_poll_interval: float = Field(300.0, gt=0)
    max_file_bytes: int = Field(5 * 1024 * 1024, gt=0)
    holdout: float = Field(0.2, ge=0, lt=1)
    """Share of a dataset held out for testing (``test dataset:NAME``), never trained on."""


@hookimpl
def settings_model() -> type[BaseModel]:
    return Settings


@hookimpl
def register_migrations(register) -> None:  # noqa: ANN001
    register(Migration(1, "datasets, examples, training jobs", metadata.create_all))
    register(Migration(2, "the instruction a job trained with", lambda c: add_missing_columns(c, jobs)))


def _hash(text: str, label: str) -> str:
    return hashlib.sha256(f"{label}\x00{' '.join(text.split())}".encode()).hexdigest()


# ----------------------------------------------------------------------------- dataset storage


async def _dataset(conn: Any, name: str, *, create_with: list[str] | None = None) -> Any:
    row = (await conn.execute(sa.select(datasets).where(datasets.c.name == name))).first()
    if row is None and create_with is not None:
        await conn.execute(datasets.insert().values(name=name, labels=json.dumps(create_with)))
        row = (await conn.execute(sa.select(datasets).where(datasets.c.name == name))).first()
    if row is None:
        raise UserError(f"No dataset `{name}`. `dataset list` shows them.")
    return row


async def add_examples(app: Any, name: str, items: Iterable[tuple[str, str, str]], author: int | None,
                       labels: list[str]) -> tuple[int, int]:
    """Add (text, label, source) items in one transaction; returns (added, duplicates)."""
    added = duplicates = 0
    async with app.storage.begin() as conn:
        ds = await _dataset(conn, name, create_with=labels)
        allowed = json.loads(ds.labels)
        existing = {r.hash for r in await conn.execute(sa.select(examples.c.hash).where(examples.c.dataset_id == ds.id))}
        for text, label, source in items:
            if label not in allowed:
                raise UserError(f"Label `{label}` is not one of dataset `{name}`'s labels: {', '.join(allowed)}.")
            digest = _hash(text, label)
            if digest in existing:
                duplicates += 1
                continue
            existing.add(digest)
            await conn.execute(examples.insert().values(dataset_id=ds.id, text=text, label=label, source=source,
                                                        author_id=author, hash=digest))
            added += 1
    return added, duplicates


async def dataset_rows(app: Any, name: str) -> tuple[Any, list[Any]]:
    async with app.storage.connect() as conn:
        ds = await _dataset(conn, name)
        rows = (await conn.execute(sa.select(examples).where(examples.c.dataset_id == ds.id)
                                   .order_by(examples.c.id))).all()
    return ds, rows


def split_rows(rows: list[Any], holdout: float) -> tuple[list[Any], list[Any]]:
    """(train, held out): an example is held out when its hash falls below ``holdout``, so the
    split is stable as the dataset grows. Only applied when both parts keep every label; a
    dataset too small for that trains on everything and has no held-out part."""
    if holdout <= 0:
        return list(rows), []
    train, test = [], []
    for row in rows:
        (test if int(row.hash[:8], 16) / 0x1_0000_0000 < holdout else train).append(row)
    labels = {r.label for r in rows}
    if {r.label for r in train} != labels or {r.label for r in test} != labels:
        return list(rows), []
    return train, test


@hookimpl
async def dataset_examples(app, name: str, split: str) -> list[Example] | None:  # noqa: ANN001
    if split not in ("train", "test", "all"):
        raise UserError(f"Unknown split `{split}`: `train`, `test` (held out) or `all`.")
    async with app.storage.connect() as conn:
        if (await conn.execute(sa.select(datasets.c.id).where(datasets.c.name == name))).first() is None:
            return None  # not ours: another plugin may keep it
    _, rows = await dataset_rows(app, name)
    train, test = split_rows(rows, app.settings("training").holdout)
    return [Example(r.text, r.label) for r in {"train": train, "test": test, "all": rows}[split]]


# ----------------------------------------------------------------------------- collecting data


def _items_from(name: str, data: bytes, default_label: str, source: str) -> list[tuple[str, str, str]]:
    return [(t.strip(), label or default_label, source) for t, label in parse_file(name, data) if t.strip()]


def _read_directory(folder: Path, root: Path, default_label: str, max_bytes: int) -> tuple[list[tuple[str, str, str]], list[str]]:
    items: list[tuple[str, str, str]] = []
    problems: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        if path.suffix.lower() not in SUPPORTED:
            problems.append(f"`{rel}`: unsupported file type")
            continue
        if path.stat().st_size > max_bytes:
            problems.append(f"`{rel}`: larger than {human_size(max_bytes)}")
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
            problems.append(f"`{upload.filename}`: larger than {human_size(settings.max_file_bytes)}")
        else:
            try:
                items += _items_from(upload.filename, await upload.read(), label, "attachment")
            except ImportProblem as exc:
                problems.append(str(exc))
    if data_dir:
        folder = ctx.app.data_root.resolve(data_dir, kind="dir")
        found, bad = await ctx.run_blocking(_read_directory, folder, ctx.app.data_root.root, label,
                                            settings.max_file_bytes)
        items += found
        problems += bad
    return items, problems, folder


# ----------------------------------------------------------------------------- jobs


def _provider(app: Any, name: str | None) -> tuple[str, Any]:
    chosen = name or app.config.provider
    return chosen, app.engines.providers.get(chosen)


def validate_for_training(rows: list[Any], provider: Any, provider_name: str) -> Counter[str]:
    counts = Counter(r.label for r in rows)
    if any(not r.text.strip() for r in rows):
        raise UserError("The dataset contains empty examples; remove them before training.")
    if len(rows) < provider.min_examples:
        raise UserError(f"Not training yet: the `{provider_name}` provider needs at least {provider.min_examples} "
                        f"examples, the dataset has {len(rows)}.")
    if len(counts) < 2:
        raise UserError(f"Not training yet: examples of at least two labels are needed (have only "
                        f"{', '.join(counts) or 'none'}).")
    return counts


async def start_job(ctx: Context, dataset: str, provider_name: str | None) -> None:
    app = ctx.app
    settings: Settings = ctx.settings
    name, provider = _provider(app, provider_name)
    ds, rows = await dataset_rows(app, dataset)
    rows, held_out = split_rows(rows, settings.holdout)
    try:
        counts = validate_for_training(rows, provider, name)
    except UserError as exc:
        if held_out:
            raise UserError(f"{exc} ({len(held_out)} more are held out for testing: `[plugins.training] holdout`.)") from None
        raise
    labels = json.loads(ds.labels)
    instruction = settings.instruction.format(labels=", ".join(labels))
    # before the job exists: a plugin refusing here leaves no job stuck at "starting"
    found = await app.plugins.call("training_corrections", scope=ctx.guild_id, app=app, dataset=dataset)
    corrections = tuple(c for _, some in found for c in some or ())
    folder = app.data_root.area("datasets") / "snapshots"
    folder.mkdir(exist_ok=True)
    async with app.storage.begin() as conn:
        result = await conn.execute(jobs.insert().values(dataset=dataset, provider=name, status="starting",
                                                         snapshot="", example_count=len(rows),
                                                         instruction=instruction))
        job_id = result.inserted_primary_key[0]
        snapshot = folder / f"job-{job_id}.jsonl"  # recorded before it is written, so mydata delete finds it
        await conn.execute(jobs.update().where(jobs.c.id == job_id).values(snapshot=str(snapshot)))
    data = await ctx.run_blocking(to_jsonl, [{"text": r.text, "label": r.label} for r in rows])
    await ctx.run_blocking(snapshot.write_bytes, data)
    shown = ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))
    shown += f"; {len(held_out)} held out for testing" if held_out else ""
    shown += f"; {len(corrections)} correction(s)" if corrections else ""
    status = await ctx.respond(f"🏋️ Training job #{job_id} on `{dataset}` ({shown}) with `{name}`: starting…")
    request = TrainingRequest(job_id, snapshot, tuple(labels), instruction, corrections=corrections)
    try:
        provider_job_id = await provider.start(request)
    except (ProviderError, OSError) as exc:
        if isinstance(exc, OSError):  # file paths and errno text are for the log, not for users
            log.exception("training job %s could not start", job_id)
            reason = f"the training files could not be read or written ({type(exc).__name__}); the error was logged"
        else:
            reason = str(exc)
        async with app.storage.begin() as conn:
            await conn.execute(jobs.update().where(jobs.c.id == job_id).values(status="failed", error=reason,
                                                                                  snapshot=str(snapshot)))
        await status.edit(f"❌ Training job #{job_id} could not start: {reason}")
        return
    channel_id, message_id = ctx.channel_id, status.message_id
    if message_id is None and getattr(ctx, "interaction", None) is not None:
        message_id = (await ctx.app.bot.rest.fetch_interaction_response(ctx.interaction.application_id,
                                                                        ctx.interaction.token)).id
    async with app.storage.begin() as conn:
        await conn.execute(jobs.update().where(jobs.c.id == job_id).values(
            provider_job_id=provider_job_id, status="queued", snapshot=str(snapshot),
            channel_id=int(channel_id), message_id=int(message_id) if message_id else None))
    watch(app, job_id)


def watch(app: Any, job_id: int) -> None:
    tasks: dict[int, asyncio.Task[None]] = app.__dict__.setdefault("_training_watchers", {})
    if job_id not in tasks or tasks[job_id].done():
        tasks[job_id] = asyncio.get_running_loop().create_task(_poll(app, job_id))


def _render(job: Any, events: list[str]) -> str:
    icon = {"succeeded": "✅", "failed": "❌", "cancelled": "⏹️"}.get(job.status, "⏳")
    text = f"{icon} Training job #{job.id} on `{job.dataset}` ({job.example_count} examples) with `{job.provider}`: **{job.status}**"
    if job.model_id:
        text += f"\nModel: `{job.model_id}` — activate it with `model use {job.model_id}`"
    if job.error:
        text += f"\nError: {job.error}"
    if events:
        text += "\n" + "\n".join(f"• {e}" for e in events[-5:])
    return text


async def _poll(app: Any, job_id: int) -> None:
    settings: Settings = app.settings("training")
    delay = settings.poll_interval
    while True:
        async with app.storage.connect() as conn:
            job = (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).first()
        if job is None or job.status in TERMINAL:
            return
        try:
            provider = app.engines.providers.get(job.provider)
            state = await provider.poll(job.provider_job_id)
        except (ProviderError, UserError) as exc:
            log.warning("polling training job %s failed: %s", job_id, exc)
            delay = min(delay * 2, settings.max_poll_interval)
            await asyncio.sleep(delay)
            continue
        delay = settings.poll_interval
        events = json.loads(job.events) + list(state.events)
        async with app.storage.begin() as conn:
            await conn.execute(jobs.update().where(jobs.c.id == job_id).values(
                status=state.status, model_id=state.model_id, error=state.error, events=json.dumps(events),
                **({"provider_job_id": state.provider_job_id} if state.provider_job_id else {})))
            if state.status == "succeeded" and state.model_id:
                labels = (await conn.execute(sa.select(datasets.c.labels).where(datasets.c.name == job.dataset))).scalar()
                exists = (await conn.execute(sa.select(trained_models.c.id).where(
                    trained_models.c.model_id == state.model_id))).first()
                if not exists:
                    await conn.execute(trained_models.insert().values(
                        provider=job.provider, model_id=state.model_id, job_id=job_id, dataset=job.dataset,
                        labels=labels or "[]", instruction=job.instruction))
            job = (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).first()
        if job.channel_id and job.message_id and (state.events or state.finished):
            try:
                await app.bot.rest.edit_message(job.channel_id, job.message_id, _render(job, events))
            except hikari.HikariError:
                log.warning("could not edit the progress message of job %s", job_id, exc_info=True)
        if state.finished:
            return
        await asyncio.sleep(delay)


@hookimpl
async def startup(app) -> None:  # noqa: ANN001
    async with app.storage.connect() as conn:
        pending = [r.id for r in await conn.execute(sa.select(jobs.c.id).where(
            jobs.c.status.not_in([*TERMINAL, "starting"])))]
    for job_id in pending:
        log.info("resuming polling of training job %s", job_id)
        watch(app, job_id)


@hookimpl
def shutdown(app) -> None:  # noqa: ANN001
    for task in app.__dict__.get("_training_watchers", {}).values():
        task.cancel()


# ----------------------------------------------------------------------------- commands


def _summary(added: int, duplicates: int, dataset: str, problems: list[str]) -> str:
    text = f"Added {added} example(s) to `{dataset}`"
    text += f" ({duplicates} already there)." if duplicates else "."
    if problems:
        text += "\nSkipped:\n" + "\n".join(f"• {p}" for p in problems[:10])
        if len(problems) > 10:
            text += f"\n• …and {len(problems) - 10} more"
    return text


@command("train", "Add labelled data and start a training job", permission="training", options=[
    string("data", "Example text (paragraphs or lines are separate examples)", default=None),
    string("data_dir", "A folder inside the data folder to import", default=None),
    boolean("positive", "Label the new data positive (true) or negative (false)", default=True),
    attachment("attachment", "A .txt/.md/.json/.jsonl/.csv/.html file of examples", default=None),
    string("dataset", "Dataset name (default: the configured one)", default=None, max_length=100),
    string("provider", "Model provider (default: the configured one)", default=None),
])
async def train(ctx: Context, data: str | None, data_dir: str | None, positive: bool,
                attachment: hikari.Attachment | None, dataset: str | None, provider: str | None) -> None:
    dataset = dataset or ctx.settings.default_dataset
    _provider(ctx.app, provider)  # an unknown provider is refused before anything is stored
    await ctx.defer()
    items, problems, _ = await collect(ctx, data, data_dir, positive, attachment)
    if not items and (data or attachment or data_dir):
        raise UserError("Nothing to add: " + ("; ".join(problems) if problems else "the data contains no text."))
    added, duplicates = await add_examples(ctx.app, dataset, items, ctx.author.id, ctx.settings.labels) if items else (0, 0)
    if items:
        await ctx.respond(_summary(added, duplicates, dataset, problems))
    await start_job(ctx, dataset, provider)


@command("select_dataset", "Import a folder of the data folder as examples, and archive it", permission="training",
         options=[string("data_dir", "Folder inside the data folder"),
                  boolean("positive", "Label positive (true) or negative (false)", default=True),
                  string("dataset", "Dataset name", default=None, max_length=100)])
async def select_dataset(ctx: Context, data_dir: str, positive: bool, dataset: str | None) -> None:
    dataset = dataset or ctx.settings.default_dataset
    await ctx.defer()
    items, problems, folder = await collect(ctx, None, data_dir, positive, None)
    if not items:
        raise UserError(f"No examples found in `{data_dir}`" + (": " + "; ".join(problems[:5]) if problems else "."))
    added, duplicates = await add_examples(ctx.app, dataset, items, ctx.author.id, ctx.settings.labels)
    assert folder is not None
    archived = await archive_directory(ctx.app, folder)
    await ctx.respond(_summary(added, duplicates, dataset, problems)
                      + f"\nArchived the folder as `{ctx.app.data_root.display(archived.path)}` "
                        f"({archived.file_count} files, {human_size(archived.size)}).")


dataset_group = group("dataset", "Datasets of labelled examples")


@dataset_group.command("list", "List datasets")
async def dataset_list(ctx: Context) -> None:
    async with ctx.app.storage.connect() as conn:
        rows = (await conn.execute(sa.select(datasets.c.name, sa.func.count(examples.c.id))
                                   .select_from(datasets.outerjoin(examples)).group_by(datasets.c.id))).all()
    if not rows:
        await ctx.respond(f"No datasets yet. Add examples with `{ctx.mention_command('train')}`.")
        return
    await ctx.respond("\n".join(f"• `{name}` — {count} examples" for name, count in rows))


@dataset_group.command("show", "Show a dataset's counts and latest examples",
                       options=[string("name", "Dataset name", default=None)])
async def dataset_show(ctx: Context, name: str | None) -> None:
    name = name or ctx.settings.default_dataset
    ds, rows = await dataset_rows(ctx.app, name)
    counts = Counter(r.label for r in rows)
    lines = [f"**{name}** — {len(rows)} examples; labels: " + ", ".join(
        f"{label} {counts.get(label, 0)}" for label in json.loads(ds.labels))]
    held_out = split_rows(rows, ctx.settings.holdout)[1]
    if held_out:
        lines[0] += f"; {len(held_out)} held out for `test dataset:{name}`"
    lines += [f"• [{r.label}] {r.text[:80]}" for r in rows[-5:]]
    await ctx.respond("\n".join(lines))


@dataset_group.command("export", "Export a dataset as JSONL", options=[string("name", "Dataset name", default=None)])
async def dataset_export(ctx: Context, name: str | None) -> None:
    name = name or ctx.settings.default_dataset
    _, rows = await dataset_rows(ctx.app, name)
    data = await ctx.run_blocking(to_jsonl, [{"text": r.text, "label": r.label, "source": r.source} for r in rows])
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = ctx.app.data_root.area("exports") / f"{name}-{stamp}.jsonl"
    await ctx.run_blocking(path.write_bytes, data)
    shown = ctx.app.data_root.display(path)
    if len(data) <= ctx.app.config.bot.max_upload_bytes:
        await ctx.respond(f"`{name}`: {len(rows)} examples, saved as `{shown}`.", attachments=[File(path.name, data=data)])
    else:
        await ctx.respond(f"`{name}`: {len(rows)} examples, saved as `{shown}` ({human_size(len(data))}, too large to attach).")


@dataset_group.command("remove", "Delete a dataset and its examples", permission="training",
                       options=[string("name", "Dataset name")])
async def dataset_remove(ctx: Context, name: str) -> None:
    async with ctx.app.storage.begin() as conn:
        ds = await _dataset(conn, name)
        removed = (await conn.execute(examples.delete().where(examples.c.dataset_id == ds.id))).rowcount
        await conn.execute(datasets.delete().where(datasets.c.id == ds.id))
    await ctx.respond(f"Removed dataset `{name}` and its {removed} examples.")


jobs_group = group("jobs", "Training jobs")


@jobs_group.command("list", "Recent training jobs")
async def jobs_list(ctx: Context) -> None:
    async with ctx.app.storage.connect() as conn:
        rows = (await conn.execute(sa.select(jobs).order_by(jobs.c.id.desc()).limit(10))).all()
    if not rows:
        await ctx.respond("No training jobs yet.")
        return
    await ctx.respond("\n".join(f"#{r.id} `{r.dataset}` via `{r.provider}` — {r.status}"
                                + (f" → `{r.model_id}`" if r.model_id else "") for r in rows))


async def _job(ctx: Context, job_id: int) -> Any:
    async with ctx.app.storage.connect() as conn:
        row = (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).first()
    if row is None:
        raise UserError(f"No training job #{job_id}.")
    return row


@jobs_group.command("status", "One job in detail", options=[string("job", "Job number, e.g. 3")])
async def jobs_status(ctx: Context, job: str) -> None:
    row = await _job(ctx, _job_number(job))
    await ctx.respond(_render(row, json.loads(row.events)))


def _job_number(text: str) -> int:
    try:
        return int(text.strip().lstrip("#"))
    except ValueError:
        raise UserError(f"`{text}` is not a job number; `jobs list` shows them.") from None


@jobs_group.command("cancel", "Cancel a running job", permission="training",
                    options=[string("job", "Job number, e.g. 3")])
async def jobs_cancel(ctx: Context, job: str) -> None:
    row = await _job(ctx, _job_number(job))
    if row.status in TERMINAL:
        raise UserError(f"Job #{row.id} already {row.status}.")
    try:
        await ctx.app.engines.providers.get(row.provider).cancel(row.provider_job_id)
    except ProviderError as exc:
        raise UserError(str(exc)) from None
    async with ctx.app.storage.begin() as conn:
        await conn.execute(jobs.update().where(jobs.c.id == row.id).values(status="cancelled"))
    await ctx.respond(f"Cancelled training job #{row.id}.")


model_group = group("model", "Trained models")


@model_group.command("list", "Trained models and which is active")
async def model_list(ctx: Context) -> None:
    async with ctx.app.storage.connect() as conn:
        rows = (await conn.execute(sa.select(trained_models).order_by(trained_models.c.id))).all()
    if not rows:
        await ctx.respond("No trained models yet.")
        return
    await ctx.respond("\n".join(f"{'⭐' if r.active else '•'} `{r.model_id}` ({r.provider}, dataset `{r.dataset}`)"
                                for r in rows))


@model_group.command("use", "Make a trained model the active one", permission="training",
                     options=[string("model_id", "Model id from `model list`")])
async def model_use(ctx: Context, model_id: str) -> None:
    chosen = await set_active_model(ctx.app, model_id.strip())
    await ctx.respond(f"Active model: `{chosen.model_id}` ({chosen.provider}).")


@hookimpl
def register_commands(register) -> None:  # noqa: ANN001
    for target in (train, select_dataset, dataset_group, jobs_group, model_group):
        register(target)



@hookimpl
async def export_user_data(app, user_id) -> dict[str, list[dict[str, Any]]]:  # noqa: ANN001
    """Examples the user added (by `train`, `select_dataset`), with their dataset's name."""
    async with app.storage.connect() as conn:
        rows = (await conn.execute(sa.select(datasets.c.name.label("dataset"), examples.c.id, examples.c.text,
                                             examples.c.label, examples.c.source, examples.c.created_at)
                                   .select_from(examples.join(datasets))
                                   .where(examples.c.author_id == int(user_id)).order_by(examples.c.id))).all()
    return {"examples": [as_record(r) for r in rows]}


@hookimpl
async def delete_user_data(app, user_id) -> int:  # noqa: ANN001
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
    kept = [line for line, row in zip(lines, rows) if (row["text"], row["label"]) not in gone]
    if len(kept) != len(lines):
        partial = path.with_suffix(".scrubbing")
        partial.write_text("".join(kept), "utf-8")
        partial.replace(path)
