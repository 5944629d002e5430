"""The training plugin's commands: ``train``, ``select_dataset`` and the ``dataset``, ``jobs`` and
``model`` groups. Changes need the ``training`` permission group, and so does ``dataset export``
(it writes a file, like the other file features); anyone may look.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter
from typing import TYPE_CHECKING, Any

import hikari

from framework import hookimpl
from framework import sql as sa
from framework.archive import archive_directory, human_size
from framework.commands import Context, File, Option, UserError, attachment, boolean, command, group, string
from framework.dataroot import NAME_MAX, DataRoot
from framework.errors import echo, parse_row_number
from framework.importers import to_jsonl
from framework.progress import ProgressMessage
from framework.providers import set_active_model, trained_models, trains_for_free
from framework.uploads import upload_limit
from plugins.training.datasets import add_examples, collect, dataset_name, dataset_rows, find_dataset, split_rows
from plugins.training.jobs import cancel_job, render_job, resolve_provider, start_job
from plugins.training.schema import datasets, examples, jobs

if TYPE_CHECKING:  # pragma: no cover
    from framework.hookspecs import RegisterCommand


def _dataset(name: str, description: str, **kwargs: Any) -> Option:
    """A dataset-name option: the name's form is checked on both surfaces before the command runs."""
    return string(name, description, max_length=NAME_MAX, validate=dataset_name, **kwargs)


def _summary(added: int, duplicates: int, dataset: str, problems: list[str]) -> str:
    text = f"Added {added} example(s) to `{dataset}`"
    text += f" ({duplicates} already there)." if duplicates else "."
    if problems:
        text += "\nSkipped:\n" + "\n".join(f"• {p}" for p in problems[:10])
        if len(problems) > 10:
            text += f"\n• …and {len(problems) - 10} more"
    return text


@command("train", "Add labelled examples; start a training job with start:true", permission="training", options=[
    string("data", "Example text (paragraphs or lines are separate examples)", default=None, rest_of_line=True),
    boolean("positive", "Label the new data positive (true) or negative (false)", default=True),
    attachment("attachment", "A .txt/.md/.json/.jsonl/.csv/.html file of examples", default=None),
    string("data_dir", "A folder inside the data folder to import", default=None, named_only=True),
    _dataset("dataset", "Dataset name (default: the configured one)", default=None, named_only=True),
    string("provider", "Model provider (default: the configured one)", default=None, max_length=50, named_only=True),
    boolean("start", "Start a training job (default: only where training is free, as with the local provider)",
            default=None, named_only=True),
])
async def train(ctx: Context, data: str | None, positive: bool, attachment: hikari.Attachment | None,
                data_dir: str | None, dataset: str | None, provider: str | None, start: bool | None) -> None:
    """Adding examples and starting a job are distinct: a job starts when asked (``start:true``), or
    by itself only with a provider whose training costs nothing (``free_training``), never a paid one."""
    dataset = dataset or ctx.settings.default_dataset
    name, chosen = resolve_provider(ctx.app, provider)  # an unknown provider is refused before anything is stored
    asked = start is not None
    if start is None:
        start = trains_for_free(chosen)
    await ctx.defer()
    items, problems, _ = await collect(ctx, data, data_dir, positive, attachment)
    if not items and (data or attachment or data_dir):
        raise UserError("Nothing to add: " + ("; ".join(problems) if problems else "the data contains no text."))
    added, duplicates = (await add_examples(ctx.app, dataset, items, ctx.author.id, ctx.settings.labels)
                         if items else (0, 0))
    if start:
        if items:
            await ctx.respond(_summary(added, duplicates, dataset, problems))
        await start_job(ctx, dataset, provider)
        return
    how = f"`{ctx.mention_command('train')} start:true" + (
        "`" if dataset == ctx.settings.default_dataset else f" dataset:{dataset}`")
    why = "" if asked else f" (the `{name}` provider's training is not free, so I start it only when asked)"
    if items:
        await ctx.respond(_summary(added, duplicates, dataset, problems) + f"\nNo training job started{why}: "
                          f"{how} starts one.")
    else:
        await ctx.respond(f"Nothing to add, and no training job started{why}. {how} starts one on `{dataset}`.")


@command("select_dataset", "Import a folder of the data folder as examples, and archive it", permission="training",
         options=[string("data_dir", "Folder inside the data folder"),
                  boolean("positive", "Label positive (true) or negative (false)", default=True),
                  _dataset("dataset", "Dataset name", default=None)])
async def select_dataset(ctx: Context, data_dir: str, positive: bool, dataset: str | None) -> None:
    dataset = dataset or ctx.settings.default_dataset
    await ctx.defer()
    progress = ProgressMessage.later(ctx)  # shown only for a folder that takes a while
    progress.update(f"Importing `{data_dir}`…")
    try:
        items, problems, folder = await collect(ctx, None, data_dir, positive, None)
        if not items:
            raise UserError(f"No examples found in `{echo(data_dir)}`"
                            + (": " + "; ".join(problems[:5]) if problems else "."))
        added, duplicates = await add_examples(ctx.app, dataset, items, ctx.author.id, ctx.settings.labels)
        assert folder is not None
        archived = await archive_directory(ctx.app, folder, progress=lambda state: progress.update(
            f"Imported {added} example(s); archiving `{data_dir}`… {state.files}/{state.total_files} files"))
    except BaseException:
        progress.stop()
        raise
    await progress.finish(_summary(added, duplicates, dataset, problems)
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
                       options=[_dataset("name", "Dataset name", default=None)])
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


@dataset_group.command("export", "Export a dataset as JSONL into exports/", permission="training",
                       options=[_dataset("name", "Dataset name", default=None)])
async def dataset_export(ctx: Context, name: str | None) -> None:
    name = dataset_name(name or ctx.settings.default_dataset)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    path = ctx.app.data_root.name_path("exports", name, f"-{stamp}.jsonl", what="dataset name")
    _, rows = await dataset_rows(ctx.app, name)
    data = await ctx.run_blocking(to_jsonl, [{"text": r.text, "label": r.label, "source": r.source} for r in rows])
    await ctx.run_blocking(DataRoot.write_file, path, data)
    shown = ctx.app.data_root.display(path)
    if await ctx.bot_missing(hikari.Permissions.ATTACH_FILES):
        await ctx.respond(f"`{name}`: {len(rows)} examples, saved as `{shown}` (I may not attach files in this "
                          "channel: Attach Files permission).")
    elif len(data) <= upload_limit(ctx):
        await ctx.respond(f"`{name}`: {len(rows)} examples, saved as `{shown}`.",
                          attachments=[File(path.name, data=data)])
    else:
        await ctx.respond(f"`{name}`: {len(rows)} examples, saved as `{shown}` "
                          f"({human_size(len(data))}, too large to attach).")


@dataset_group.command("remove", "Delete a dataset and its examples", permission="training",
                       options=[_dataset("name", "Dataset name")])
async def dataset_remove(ctx: Context, name: str) -> None:
    async with ctx.app.storage.begin() as conn:
        ds = await find_dataset(conn, name)
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


async def _job(ctx: Context, number: str) -> Any:
    """The job a user named (``3`` or ``#3``)."""
    job_id = parse_row_number(number, "job number", "jobs list")
    async with ctx.app.storage.connect() as conn:
        row = (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).first()
    if row is None:
        raise UserError(f"No training job #{job_id}.")
    return row


@jobs_group.command("status", "One job in detail", options=[string("job", "Job number, e.g. 3")])
async def jobs_status(ctx: Context, job: str) -> None:
    row = await _job(ctx, job)
    await ctx.respond(render_job(row, json.loads(row.events)))


@jobs_group.command("cancel", "Cancel a running job", permission="training",
                    options=[string("job", "Job number, e.g. 3")])
async def jobs_cancel(ctx: Context, job: str) -> None:
    row = await cancel_job(ctx.app, (await _job(ctx, job)).id)  # any state: see plugins/training/jobs.py
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
                     options=[string("model_id", "Model id from `model list`", max_length=300)])
async def model_use(ctx: Context, model_id: str) -> None:
    chosen = await set_active_model(ctx.app, model_id.strip())
    await ctx.respond(f"Active model: `{chosen.model_id}` ({chosen.provider}).")


@hookimpl
def register_commands(register: RegisterCommand) -> None:
    for target in (train, select_dataset, dataset_group, jobs_group, model_group):
        register(target)
