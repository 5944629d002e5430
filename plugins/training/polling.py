"""Following training jobs: each unfinished job is one singleton task (``app.singleton_task``,
named ``training:job:ID``), so exactly one process works on it however many share the database:
the process that starts a job holds it through the start and the polling; when that process dies,
another takes the job over once the lease lapses (see :func:`.jobs.scan`). Polling stores each
outcome with its new events (each provider event id once) in one transaction, and edits the job's
progress message as events arrive, until the job ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from framework import sql as sa
from framework.commands import UserError
from framework.errors import ProviderError
from framework.providers import JobEvent, JobStatus, trained_models
from plugins.training.activation import Verdict, judge
from plugins.training.schema import TERMINAL, Settings, datasets, jobs
from plugins.training.states import load_job, show

if TYPE_CHECKING:  # pragma: no cover
    from framework.host import Host

log = logging.getLogger(__name__)


def follow(app: Host, job_id: int, work: Callable[[], Coroutine[Any, Any, None]]) -> Any:
    """Run ``work()`` as the job's one task in all processes (kept in the plugin's state: cancelled
    at shutdown), unless this process already has one for the job; returns its handle."""
    handles: dict[int, Any] = app.state("training", dict)
    current = handles.get(job_id)
    if current is not None and not current.done():
        return current
    handles[job_id] = app.singleton_task(f"training:job:{job_id}", work)
    return handles[job_id]


async def record_poll(app: Host, job_id: int, state: JobStatus,
                      verdict: Verdict | None = None) -> tuple[Any, list[str]] | None:
    """Store a poll's outcome with its new events (each provider event id once), in one
    transaction; ``None`` if the job ended meanwhile (cancelled). Returns the row and new events.
    A succeeded job's model is recorded, and made the active one if ``verdict`` says so."""
    async with app.storage.begin() as conn:
        job = (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id).with_for_update())).first()
        if job is None or job.status in TERMINAL:
            return None
        seen = json.loads(job.event_ids)
        known, fresh = set(seen), []
        for event in state.events:
            if isinstance(event, JobEvent):
                if event.id in known:
                    continue
                known.add(event.id)
                seen.append(event.id)
                fresh.append(event.message)
            else:
                fresh.append(event)
        await conn.execute(jobs.update().where(jobs.c.id == job_id).values(
            status=state.status, model_id=state.model_id, error=state.error,
            events=json.dumps(json.loads(job.events) + fresh), event_ids=json.dumps(seen),
            **({"provider_job_id": state.provider_job_id} if state.provider_job_id else {}),
            **({"accuracy": verdict.accuracy, "baseline_accuracy": verdict.baseline, "activation": verdict.message}
               if verdict is not None else {})))
        if state.status == "succeeded" and state.model_id:
            labels = (await conn.execute(
                sa.select(datasets.c.labels).where(datasets.c.name == job.dataset))).scalar()
            exists = (await conn.execute(sa.select(trained_models.c.id).where(
                trained_models.c.model_id == state.model_id))).first()
            if not exists:
                await conn.execute(trained_models.insert().values(
                    provider=job.provider, model_id=state.model_id, job_id=job_id, dataset=job.dataset,
                    labels=labels or "[]", instruction=job.instruction))
            if verdict is not None and verdict.activate:
                await conn.execute(trained_models.update().values(
                    active=trained_models.c.model_id == state.model_id))
        return (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).first(), fresh


async def poll_job(app: Host, job_id: int) -> None:
    settings: Settings = app.settings("training")
    delay = settings.poll_interval
    while True:
        job = await load_job(app, job_id)
        if job is None or job.status in TERMINAL or not job.provider_job_id:
            return
        try:
            provider = app.engines.providers.get(job.provider)
            state = await provider.poll(job.provider_job_id)
            # judged before the success is stored: a bot stopped meanwhile polls and judges again
            verdict = await judge(app, job, state.model_id) if state.status == "succeeded" and state.model_id else None
            recorded = await record_poll(app, job_id, state, verdict)
        except (ProviderError, UserError) as exc:  # UserError: the provider is gone, or the database refuses
            log.warning("polling training job %s failed: %s", job_id, exc)
            delay = min(delay * 2, settings.max_poll_interval)
            await asyncio.sleep(delay)
            continue
        if recorded is None:
            return
        job, fresh = recorded
        delay = settings.poll_interval
        if fresh or state.finished:
            await show(app, job)
        if state.finished:
            return
        await asyncio.sleep(delay)
