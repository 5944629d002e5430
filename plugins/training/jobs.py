"""Training jobs as a state machine whose every transition is recorded in the job's row before the
next side effect, so a bot killed at any moment finds, at its next start, what to do:

    starting ─(provider uploaded)→ uploaded ─(provider launched)→ created ─(poll)→ queued/running → TERMINAL

- ``starting``: the row, its snapshot and the job's name at the provider (``start_key``) exist; the
  data may or may not have reached the provider. Not resumable: failed with the reason after a
  restart, and what the provider has named with the key is discarded.
- ``uploaded``: the provider's files are recorded. A restart launches from them (the provider
  adopts a job it had launched from them whose id was never recorded).
- ``created`` and later: the provider's job id is recorded; a restart polls it.

Every transition is a compare-and-set on the status (:mod:`.states`), so a cancel racing a start
(or a restart) wins cleanly: the start notices at its next step, and cancels or discards what it
made meanwhile. Launched jobs are followed by :mod:`.polling`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import secrets
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import hookimpl
from framework import sql as sa
from framework.commands import Context, UserError
from framework.errors import ProviderError
from framework.importers import to_jsonl
from framework.progress import ProgressMessage
from framework.providers import JobAborted, TrainingRequest
from framework.storage import inserted_id
from plugins.training.datasets import dataset_rows, split_rows
from plugins.training.polling import follow, poll_job
from plugins.training.schema import TERMINAL, Settings, datasets, jobs
from plugins.training.states import (
    BEFORE_LAUNCH,
    CREATED,
    STARTING,
    STOPPED_WHILE_STARTING,
    UPLOADED,
    discard,
    load_job,
    progress_messages,
    render_job,
    show,
    start_progress,
    starts_in_flight,
    transition,
)

if TYPE_CHECKING:  # pragma: no cover
    from framework.host import Host

__all__ = ["render_job", "resolve_provider", "start_job", "cancel_job", "startup", "shutdown"]

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


async def launch(app: Host, job_id: int, provider: Any, request: TrainingRequest) -> str | None:
    """``provider.start`` with each outcome recorded: ``created`` with the provider's job id, or
    ``failed`` with the reason (returned, for the caller to show); a job cancelled meanwhile gets
    its provider job cancelled and its files discarded. Returns ``None`` unless it failed."""
    starts = starts_in_flight(app)
    starts.add(job_id)
    try:
        provider_job_id = await provider.start(request)
    except JobAborted:
        await discard(app, job_id, provider, request.progress)
        return None
    except (ProviderError, OSError) as exc:
        if isinstance(exc, OSError):  # file paths and errno text are for the log, not for users
            log.exception("training job %s could not start", job_id)
            reason = f"the training files could not be read or written ({type(exc).__name__}); the error was logged"
        else:
            reason = str(exc)
        await discard(app, job_id, provider, request.progress)
        await transition(app, job_id, BEFORE_LAUNCH, status="failed", error=reason)
        return reason
    except Exception:
        log.exception("training job %s failed while starting", job_id)
        await transition(app, job_id, BEFORE_LAUNCH, status="failed", error="an internal error; it was logged")
        raise
    finally:
        starts.discard(job_id)
    if not await transition(app, job_id, BEFORE_LAUNCH, status=CREATED, provider_job_id=provider_job_id):
        log.info("training job %s was cancelled while starting: cancelling its provider job", job_id)
        try:
            await provider.cancel(provider_job_id)
        except ProviderError as exc:
            log.warning("could not cancel the provider job of cancelled training job %s: %s", job_id, exc)
        await discard(app, job_id, provider, request.progress)
    return None


def _write_snapshot(path: Path, data: bytes) -> None:
    """Whole or not at all (temp file, then rename): a start killed mid-write leaves no half file."""
    partial = path.with_suffix(".partial")
    with open(partial, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    partial.replace(path)


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
        result = await conn.execute(jobs.insert().values(dataset=dataset, provider=name, status=STARTING,
                                                         snapshot="", example_count=len(rows),
                                                         instruction=instruction))
        job_id = inserted_id(result)
        snapshot = folder / f"job-{job_id}.jsonl"  # recorded before it is written, so mydata delete finds it
        await conn.execute(jobs.update().where(jobs.c.id == job_id).values(
            snapshot=str(snapshot), start_key=f"trainerbot-job-{job_id}-{secrets.token_hex(4)}"))
    starts_in_flight(app).add(job_id)  # from here on this process owns the start (launch lets go)
    prepared: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    follow(app, job_id, _first_run_starts(app, job_id, provider, prepared))  # holds the job from here on
    try:
        data = await ctx.run_blocking(to_jsonl, [{"text": r.text, "label": r.label} for r in rows])
        await ctx.run_blocking(_write_snapshot, snapshot, data)
        shown = ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))
        shown += f"; {len(held_out)} held out for testing" if held_out else ""
        shown += f"; {len(corrections)} correction(s)" if corrections else ""
        status = await ProgressMessage.start(ctx, f"🏋️ Training job #{job_id} on `{dataset}` ({shown}) with "
                                                  f"`{name}`: starting…")
        progress_messages(app)[job_id] = status
        # where the job is shown, recorded before the provider is asked: a restart can show the outcome there
        # (a channel message is edited again; an interaction's answer, whose token is gone by then, is not)
        message_id = status.channel_message_id
        await transition(app, job_id, None, channel_id=int(ctx.channel_id),
                         message_id=int(message_id) if message_id else None)
        job = await load_job(app, job_id)
    except BaseException as exc:
        prepared.set_result(None)
        starts_in_flight(app).discard(job_id)
        if isinstance(exc, Exception):  # not a shutdown: this start is over, and says so
            await transition(app, job_id, BEFORE_LAUNCH, status="failed", error="an internal error; it was logged")
        raise
    request = TrainingRequest(job_id, snapshot, tuple(labels), instruction, corrections=corrections,
                              progress=start_progress(app, job))
    prepared.set_result((request, status))


def _first_run_starts(app: Host, job_id: int, provider: Any, prepared: asyncio.Future[Any]) -> Any:
    """The job's singleton work: its first run launches the start the command prepared, then polls;
    a later run (this process lost the job's lease and took it again) goes on from the row."""
    runs = 0

    async def work() -> None:
        nonlocal runs
        runs += 1
        if runs > 1:
            await resume(app, job_id)
            return
        got = await prepared
        if got is None:
            return
        request, status = got
        reason = await launch(app, job_id, provider, request)
        if reason is not None:
            progress_messages(app).pop(job_id, None)
            await status.finish(f"❌ Training job #{job_id} could not start: {reason}")
            return
        await poll_job(app, job_id)

    return work


async def cancel_job(app: Host, job_id: int) -> Any:
    """Cancel a job in any state; returns its row afterwards. A launched job is cancelled at its
    provider first (a refusal is shown, the job unchanged); one still starting is cancelled here and
    its start, in flight or interrupted, stops at its next step with its leftovers discarded."""
    for _ in range(3):  # a start may launch between reading the row and cancelling it: then again
        job = await load_job(app, job_id)
        if job is None:
            raise UserError(f"No training job #{job_id}.")
        if job.status in TERMINAL:
            raise UserError(f"Job #{job.id} already {job.status}.")
        if job.provider_job_id:
            try:
                await app.engines.providers.get(job.provider).cancel(job.provider_job_id)
            except ProviderError as exc:
                raise UserError(str(exc)) from None
            if await transition(app, job.id, None, status="cancelled"):
                break
        elif await transition(app, job.id, BEFORE_LAUNCH, status="cancelled"):
            try:
                provider = app.engines.providers.get(job.provider)
            except UserError:
                log.warning("training job %s cancelled; its provider %s is gone, nothing to clean up", job.id,
                            job.provider)
            else:
                if job.id not in starts_in_flight(app):  # a start in flight cleans up after itself
                    await discard(app, job.id, provider, start_progress(app, job))
            break
    else:
        raise UserError(f"Job #{job_id} kept changing while it was being cancelled; try again.")
    row = await load_job(app, job_id)
    await show(app, row)
    return row


async def abandon(app: Host, job: Any, reason: str) -> None:
    """Fail a job that cannot go on (a start a restart interrupted), its leftovers discarded first:
    once the row says failed, the provider holds nothing of it (or the log says why)."""
    try:
        provider = app.engines.providers.get(job.provider)
    except UserError:
        provider = None
    await discard(app, job.id, provider, start_progress(app, job))
    if await transition(app, job.id, [job.status], status="failed", error=reason):
        log.warning("training job %s failed: %s", job.id, reason)
        await show(app, await load_job(app, job.id))


async def resume_start(app: Host, job: Any) -> None:
    """Go on with a start that reached ``uploaded`` before a restart: launch from its files, then poll."""
    try:
        provider = app.engines.providers.get(job.provider)
    except UserError as exc:
        await abandon(app, job, f"its provider is not available: {exc}")
        return
    async with app.storage.connect() as conn:
        labels = (await conn.execute(sa.select(datasets.c.labels).where(datasets.c.name == job.dataset))).scalar()
    request = TrainingRequest(job.id, Path(job.snapshot), tuple(json.loads(labels or "[]")), job.instruction,
                              progress=start_progress(app, job))
    if await launch(app, job.id, provider, request) is not None:
        await show(app, await load_job(app, job.id))
        return
    await poll_job(app, job.id)


async def resume(app: Host, job_id: int) -> None:
    """Go on with a job from its last recorded step (see the module's docstring): the work of a job
    whose process stopped or died, once this process holds the job."""
    job = await load_job(app, job_id)
    if job is None or job.status in TERMINAL or job.id in starts_in_flight(app):
        return  # over, or being started by this process (the plugin was reloaded, not the bot restarted)
    if job.provider_job_id:
        log.info("resuming polling of training job %s", job.id)
        await poll_job(app, job.id)
    elif job.status == UPLOADED:
        log.info("resuming the start of training job %s from its uploaded files", job.id)
        await resume_start(app, job)
    else:
        await abandon(app, job, STOPPED_WHILE_STARTING)


SCAN_INTERVAL = 1.0
"""How often each process looks for unfinished jobs that no process of its own follows."""


async def scan(app: Host) -> None:
    """Follow every unfinished job, in exactly one process of all: each process asks for the job's
    singleton, the one holding it works on it, the others wait to take over if it dies. A job is
    asked for once it was unfinished at two scans in a row, so a job another process has just made
    is its starter's before anyone else asks."""
    seen: set[int] = set()
    while True:
        try:
            async with app.storage.connect() as conn:
                pending = {r.id for r in await conn.execute(
                    sa.select(jobs.c.id).where(jobs.c.status.not_in(list(TERMINAL))))}
        except (sa.exc.SQLError, OSError) as exc:
            log.warning("looking for unfinished training jobs failed: %s", exc)
            pending = set()
        for job_id in sorted(pending & seen):
            if job_id not in starts_in_flight(app):
                follow(app, job_id, functools.partial(resume, app, job_id))
        seen = pending
        await asyncio.sleep(SCAN_INTERVAL)


@hookimpl
async def startup(app: Host) -> None:
    """Look for unfinished jobs (each goes on from its last recorded step, in one process of all)."""
    tasks: dict[Any, Any] = app.state("training", dict)
    tasks["scan"] = asyncio.get_running_loop().create_task(scan(app))


@hookimpl
def shutdown(app: Host) -> None:
    for task in (app.drop_state("training") or {}).values():
        task.cancel()
