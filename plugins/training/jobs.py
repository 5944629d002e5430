"""Training jobs: start one on the configured provider from a snapshot of a dataset, follow it
(a watcher per job polls the provider and shows the events in the job's progress message, a
:class:`~framework.progress.ProgressMessage`), resume the watchers after a restart and stop them at shutdown.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from framework import hookimpl
from framework.commands import Context, UserError
from framework.errors import ProviderError
from framework.importers import to_jsonl
from framework.progress import ProgressMessage, bounded
from framework.providers import TrainingRequest, trained_models
from plugins.training.datasets import dataset_rows, split_rows
from plugins.training.schema import TERMINAL, Settings, datasets, jobs

if TYPE_CHECKING:  # pragma: no cover
    from framework.host import Host

log = logging.getLogger(__name__)


def resolve_provider(app: Host, name: str | None) -> tuple[str, Any]:
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
    name, provider = resolve_provider(app, provider_name)
    ds, rows = await dataset_rows(app, dataset)
    rows, held_out = split_rows(rows, settings.holdout)
    try:
        counts = validate_for_training(rows, provider, name)
    except UserError as exc:
        if held_out:
            raise UserError(f"{exc} ({len(held_out)} more are held out for testing: "
                            "`[plugins.training] holdout`.)") from None
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
    status = await ProgressMessage.start(ctx, f"🏋️ Training job #{job_id} on `{dataset}` ({shown}) with `{name}`: "
                                              "starting…")
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
        await status.finish(f"❌ Training job #{job_id} could not start: {reason}")
        return
    # Only a channel message can be edited after a restart (an interaction's token is gone by then).
    message_id = status.channel_message_id
    async with app.storage.begin() as conn:
        await conn.execute(jobs.update().where(jobs.c.id == job_id).values(
            provider_job_id=provider_job_id, status="queued", snapshot=str(snapshot),
            channel_id=int(ctx.channel_id), message_id=int(message_id) if message_id else None))
    watch(app, job_id, status)


def watch(app: Host, job_id: int, progress: ProgressMessage | None = None) -> None:
    tasks: dict[int, asyncio.Task[None]] = app.state("training", dict)
    if job_id not in tasks or tasks[job_id].done():
        tasks[job_id] = asyncio.get_running_loop().create_task(_poll(app, job_id, progress))


def render_job(job: Any, events: list[str]) -> str:
    icon = {"succeeded": "✅", "failed": "❌", "cancelled": "⏹️"}.get(job.status, "⏳")
    text = (f"{icon} Training job #{job.id} on `{job.dataset}` ({job.example_count} examples) with `{job.provider}`: "
            f"**{job.status}**")
    if job.model_id:
        text += f"\nModel: `{job.model_id}` — activate it with `model use {job.model_id}`"
    if job.error:
        text += f"\nError: {bounded(str(job.error), 500)}"
    if events:
        text += "\n" + "\n".join(f"• {bounded(str(e), 200)}" for e in events[-5:])
    return bounded(text)


async def _poll(app: Host, job_id: int, progress: ProgressMessage | None) -> None:
    try:
        await _follow(app, job_id, progress)
    except asyncio.CancelledError:
        raise
    except Exception:  # a watcher's bug must not vanish with its task: the job stays pollable after a restart
        log.exception("following training job %s failed", job_id)


async def _follow(app: Host, job_id: int, progress: ProgressMessage | None) -> None:
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
                labels = (await conn.execute(
                    sa.select(datasets.c.labels).where(datasets.c.name == job.dataset))).scalar()
                exists = (await conn.execute(sa.select(trained_models.c.id).where(
                    trained_models.c.model_id == state.model_id))).first()
                if not exists:
                    await conn.execute(trained_models.insert().values(
                        provider=job.provider, model_id=state.model_id, job_id=job_id, dataset=job.dataset,
                        labels=labels or "[]", instruction=job.instruction))
            job = (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).first()
        if progress is None and job.channel_id:
            progress = ProgressMessage.resume(app, job.channel_id, job.message_id)
        if progress is not None and state.finished:
            await progress.finish(render_job(job, events))
        elif progress is not None and state.events:
            progress.update(render_job(job, events))
        if progress is not None and progress.channel_message_id not in (None, job.message_id):
            async with app.storage.begin() as conn:  # moved to a channel message: a restart edits that one
                await conn.execute(jobs.update().where(jobs.c.id == job_id).values(
                    message_id=int(progress.channel_message_id)))  # type: ignore[arg-type]
        if state.finished:
            return
        await asyncio.sleep(delay)


@hookimpl
async def startup(app: Host) -> None:
    async with app.storage.connect() as conn:
        pending = [r.id for r in await conn.execute(sa.select(jobs.c.id).where(
            jobs.c.status.not_in([*TERMINAL, "starting"])))]
    for job_id in pending:
        log.info("resuming polling of training job %s", job_id)
        watch(app, job_id)


@hookimpl
def shutdown(app: Host) -> None:
    for task in (app.drop_state("training") or {}).values():
        task.cancel()
