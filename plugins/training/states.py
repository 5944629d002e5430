"""The training job state machine's primitives: the states, the one way a job row changes state
(:func:`transition`, a compare-and-set on the status), the recorder a provider's start reports
to, cleanup at the provider, and how a job is shown. :mod:`.jobs` drives the machine (start,
cancel, restart); :mod:`.polling` follows launched jobs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import hikari

from framework import sql as sa
from framework.errors import ProviderError
from framework.progress import ProgressMessage, bounded
from framework.providers import Discards, JobAborted, StartProgress
from plugins.training.schema import TERMINAL, jobs

if TYPE_CHECKING:  # pragma: no cover
    from framework.host import Host

log = logging.getLogger(__name__)

STARTING, UPLOADED, CREATED = "starting", "uploaded", "created"
BEFORE_LAUNCH = (STARTING, UPLOADED)
"""States in which the provider has no job yet: cancelling needs no provider call, only cleanup."""

STOPPED_WHILE_STARTING = ("the bot stopped while the job was starting, before its data was safely with the "
                          "provider; start it again with `train`")


async def transition(app: Host, job_id: int, sources: Iterable[str] | None, **values: Any) -> bool:
    """Set ``values`` on the job if its status is one of ``sources`` (``None``: any but a terminal
    one), in one statement; returns whether it did. How job rows change state, except a poll's
    outcome (:func:`.polling.record_poll` checks the same inside its own transaction)."""
    allowed = jobs.c.status.in_(list(sources)) if sources is not None else jobs.c.status.not_in(list(TERMINAL))
    async with app.storage.begin() as conn:
        result = await conn.execute(jobs.update().where((jobs.c.id == job_id) & allowed).values(**values))
    return bool(result.rowcount == 1)


async def load_job(app: Host, job_id: int) -> Any:
    async with app.storage.connect() as conn:
        return (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).first()


def start_progress(app: Host, job: Any) -> StartProgress:
    """The recorder a provider's ``start`` reports its uploads to: ``starting``/``uploaded`` →
    ``uploaded`` with the files, or :class:`JobAborted` if the job was cancelled meanwhile."""
    async def save(files: Mapping[str, str]) -> None:
        if not await transition(app, job.id, BEFORE_LAUNCH, status=UPLOADED, files=json.dumps(dict(files))):
            raise JobAborted(f"training job {job.id} was cancelled while it was starting")

    return StartProgress(job.start_key or "", json.loads(job.files or "{}"), save)


def starts_in_flight(app: Host) -> set[int]:
    """Jobs this process is starting right now. Kept under a key of its own, which a reload of the
    plugin does not drop: a start in flight during a reload is not one a restart interrupted."""
    return app.state("training:starts", set)


async def discard(app: Host, job_id: int, provider: Any, progress: StartProgress | None) -> None:
    """Have the provider delete what the start of a job that will not run left on its side."""
    if progress is None or not isinstance(provider, Discards):
        return
    try:
        await provider.discard(progress)
    except (ProviderError, OSError) as exc:
        log.warning("could not delete what training job %s left at its provider: %s", job_id, exc)
    else:
        log.info("deleted what training job %s left at its provider", job_id)


def render_job(job: Any, events: list[str]) -> str:
    """The job's status, bounded to one message however long the provider's error and events are."""
    icon = {"succeeded": "✅", "failed": "❌", "cancelled": "⏹️"}.get(job.status, "⏳")
    text = (f"{icon} Training job #{job.id} on `{job.dataset}` ({job.example_count} examples) with `{job.provider}`: "
            f"**{job.status}**")
    if job.model_id and getattr(job, "activation", None):
        text += f"\nModel: `{job.model_id}`. {job.activation}"
    elif job.model_id:
        text += f"\nModel: `{job.model_id}` — activate it with `model use {job.model_id}`"
    if job.error:
        text += f"\nError: {bounded(str(job.error), 500)}"
    if events:
        text += "\n" + "\n".join(f"• {bounded(str(e), 200)}" for e in events[-5:])
    return bounded(text)


def progress_messages(app: Host) -> dict[int, ProgressMessage]:
    """Each shown job's progress message (throttled; through the interaction while its token lasts).
    Kept under a key of its own, which a reload of the plugin does not drop."""
    return app.state("training:progress", dict)


async def show(app: Host, job: Any) -> None:
    """Show the job's state now in its progress message (best effort: the row is what counts): at
    most one edit per ``[bot] progress_interval``, the final state always. After a restart, a job
    started by a slash command goes on in a new channel message (its interaction's token is gone)."""
    if job is None or not job.channel_id:
        return
    messages = progress_messages(app)
    progress = messages.get(job.id) or ProgressMessage.resume(app, job.channel_id, job.message_id)
    messages[job.id] = progress
    text = render_job(job, json.loads(job.events))
    if job.status not in TERMINAL:
        progress.update(text)
    else:
        messages.pop(job.id, None)
        try:
            await progress.finish(text)
        except hikari.HikariError:
            log.warning("could not show the outcome of job %s", job.id, exc_info=True)
    moved = progress.channel_message_id
    if moved is not None and moved != job.message_id:  # a restart edits the channel message it went on in
        async with app.storage.begin() as conn:
            await conn.execute(jobs.update().where(jobs.c.id == job.id).values(message_id=int(moved)))
