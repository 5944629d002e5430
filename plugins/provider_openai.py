"""The ``openai`` model provider, on the real ``openai`` SDK: the snapshot becomes chat-format
JSONL (system instruction, example as the user turn, label as the assistant answer), is uploaded
(purpose fine-tune) and fine-tuned on the configured base model; jobs are polled with events.

Corrections (``TrainingRequest.corrections``) join the supervised file as prompt → corrected answer,
and become preference pairs (chosen: the correction, rejected: the original answer) for a second,
DPO stage on the supervised model, started when the first succeeds. One OpenAI job has one method,
so while that stage is pending the job token the host keeps is ``SFT_JOB_ID+dpo:FILE_ID``.

Starting is resumable (``StartProgress``): the files are uploaded under the job's key and recorded
before the job is launched; called again with them recorded, ``start`` launches from them, or
adopts the job it launched from them before the bot was killed (found by its training file), and
the DPO stage is adopted the same way. Events carry OpenAI's ids, so the host stores each once.
``discard`` deletes the files of a job that will not run, also those never recorded (by name).
``OPENAI_API_KEY`` comes from the environment only; ``OPENAI_BASE_URL`` or ``base_url`` points it
at any OpenAI-compatible service.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import hookimpl
from framework.errors import ProviderError
from framework.lazy import load_engine
from framework.logs import redact
from framework.providers import Correction, JobEvent, JobStatus, StartProgress, TrainingRequest
from framework.settings import Field
from framework.settings import Settings as SettingsModel

if TYPE_CHECKING:  # pragma: no cover
    from framework.hookspecs import RegisterEngine
    from framework.host import Host

if TYPE_CHECKING:  # pragma: no cover - typing only; the SDK is imported on the first call to OpenAI
    import openai

STATUS = {"validating_files": "queued", "queued": "queued", "running": "running", "succeeded": "succeeded",
          "failed": "failed", "cancelled": "cancelled"}


class Settings(SettingsModel):
    base_model: str = "gpt-4o-mini-2024-07-18"
    chat_model: str = "gpt-4o-mini"
    """Model used for chat when no fine-tuned model is active."""
    base_url: str | None = None
    timeout: float = Field(60.0, gt=0)
    max_retries: int = Field(3, ge=0, le=10)
    dpo_min_pairs: int = Field(10, ge=1)
    """Fewest preference pairs (corrections) worth a DPO stage; OpenAI wants at least 10 lines."""
    dpo_beta: float = Field(0.1, gt=0, le=2)


@hookimpl
def settings_model() -> type[SettingsModel]:
    return Settings


def chat_jsonl(snapshot: Path, instruction: str) -> bytes:
    """One chat-format training line per example."""
    lines = []
    for raw in snapshot.read_text("utf-8").splitlines():
        if raw.strip():
            row = json.loads(raw)
            lines.append(json.dumps({"messages": [{"role": "system", "content": instruction},
                                                  {"role": "user", "content": row["text"]},
                                                  {"role": "assistant", "content": row["label"]}]},
                                    ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode()


def _context(correction: Correction) -> list[dict[str, str]]:
    system = [{"role": "system", "content": correction.instruction}] if correction.instruction else []
    return [*system, {"role": "user", "content": correction.prompt}]


def correction_jsonl(corrections: Sequence[Correction]) -> bytes:
    """Supervised lines: the prompt answered with the correction (OpenAI's chat format)."""
    return "".join(json.dumps({"messages": [*_context(c), {"role": "assistant", "content": c.correction}]},
                              ensure_ascii=False) + "\n" for c in corrections).encode()


def preference_jsonl(corrections: Sequence[Correction]) -> bytes:
    """DPO lines as OpenAI documents them: input messages, preferred and non-preferred output."""
    return "".join(json.dumps({"input": {"messages": _context(c)},
                               "preferred_output": [{"role": "assistant", "content": c.correction}],
                               "non_preferred_output": [{"role": "assistant", "content": c.answer}]},
                              ensure_ascii=False) + "\n" for c in corrections if c.answer != c.correction).encode()


DPO_MARK = "+dpo:"
LOOKBACK = 200
"""How many of the latest jobs or files are searched for one a killed start made but did not record."""


def training_files(request: TrainingRequest) -> tuple[bytes, bytes]:
    """(supervised file, preference pairs): reads the snapshot and encodes every line, so it runs
    in the thread pool."""
    data = chat_jsonl(request.snapshot, request.instruction) + correction_jsonl(request.corrections)
    if request.extra is not None and request.extra.exists():
        data += request.extra.read_bytes()
    return data, preference_jsonl(request.corrections)


class OpenAIProvider:
    name = "openai"
    min_examples = 10
    free_training = False
    """Fine-tuning is paid: ``train`` starts a job only when asked."""

    def learns_from(self, correction: Correction, labels: Sequence[str]) -> bool:
        """Every correction: a supervised example, and a preference pair (DPO)."""
        return True

    def __init__(self, settings: Settings, app: Host) -> None:
        self.settings = settings
        self.app = app
        self._client: openai.AsyncOpenAI | None = None

    async def client(self) -> openai.AsyncOpenAI:
        """The SDK's client, made on first use (the SDK is imported then, in the thread pool)."""
        if self._client is None:
            if not os.environ.get("OPENAI_API_KEY"):
                raise ProviderError("The openai provider needs OPENAI_API_KEY in the bot's environment.")
            sdk = await load_engine(self.app, "openai", "openai provider")
        if self._client is None:  # checked again: another call may have made it while the SDK loaded
            self._client = sdk.AsyncOpenAI(base_url=self.settings.base_url or os.environ.get("OPENAI_BASE_URL"),
                                           timeout=self.settings.timeout, max_retries=self.settings.max_retries)
        return self._client

    async def _call(self, what: str, request: Callable[[openai.AsyncOpenAI], Awaitable[Any]]) -> Any:
        """``request(client)``, with the SDK's errors turned into user-facing ``ProviderError``s."""
        client = await self.client()
        import openai  # loaded by client() above: a lookup, not an import

        try:
            return await request(client)
        except openai.APIStatusError as exc:
            message = exc.body.get("message") if isinstance(exc.body, dict) else None
            raise ProviderError(f"OpenAI refused to {what}: {redact(str(message or exc.message))}") from None
        except openai.APIConnectionError as exc:
            raise ProviderError(f"Could not reach OpenAI to {what}: {type(exc).__name__}") from None

    async def start(self, request: TrainingRequest) -> str:
        progress = request.progress or StartProgress(f"trainerbot-job-{request.job_id}")
        files = dict(progress.files)
        resumed = progress.resumed
        if "training" not in files:
            data, pairs = await self.app.run_blocking(training_files, request)
            if pairs.count(b"\n") >= self.settings.dpo_min_pairs:
                files["dpo"] = (await self._call("upload the preference pairs", lambda c: c.files.create(
                    file=(f"{progress.key}-dpo.jsonl", pairs), purpose="fine-tune"))).id
            files["training"] = (await self._call("upload the training file", lambda c: c.files.create(
                file=(f"{progress.key}.jsonl", data), purpose="fine-tune"))).id
            await progress.uploaded(files)  # durable before the job exists: a restart goes on from here
        job_id = await self._launched_from(files["training"]) if resumed else None
        if job_id is None:
            job_id = (await self._call("start fine-tuning", lambda c: c.fine_tuning.jobs.create(
                model=self.settings.base_model, training_file=files["training"], suffix="trainerbot",
                method={"type": "supervised"}))).id
        return f"{job_id}{DPO_MARK}{files['dpo']}" if "dpo" in files else job_id

    async def _launched_from(self, file_id: str) -> str | None:
        """The id of a job already launched from ``file_id`` (by a start the bot was killed in before
        it recorded the id), among the most recent jobs; ``None`` if there is none."""
        async def find(client: openai.AsyncOpenAI) -> str | None:
            seen = 0
            async for job in client.fine_tuning.jobs.list(limit=50):
                if job.training_file == file_id:
                    return job.id
                seen += 1
                if seen >= LOOKBACK:
                    break
            return None

        return await self._call("list fine-tuning jobs", find)  # type: ignore[no-any-return]

    async def _preference_stage(self, job: Any, dpo_file: str, events: tuple[JobEvent, ...]) -> JobStatus:
        """The supervised stage succeeded: tune its model on the preference pairs (DPO), or adopt the
        DPO job already started from them (a poll the bot was killed in before recording it)."""
        started = JobEvent(f"{job.id}:dpo-started", f"Supervised stage done ({job.fine_tuned_model}); "
                                                    f"preference stage (DPO) started")
        try:
            dpo_id = await self._launched_from(dpo_file)
            if dpo_id is None:
                dpo_id = (await self._call("start the preference stage", lambda c: c.fine_tuning.jobs.create(
                    model=job.fine_tuned_model, training_file=dpo_file, suffix="trainerbot",
                    method={"type": "dpo", "dpo": {"hyperparameters": {"beta": self.settings.dpo_beta}}}))).id
        except ProviderError as exc:
            skipped = JobEvent(f"{job.id}:dpo-skipped", f"Preference stage skipped: {exc}")
            return JobStatus("succeeded", (*events, skipped), model_id=job.fine_tuned_model)
        return JobStatus("running", (*events, started), provider_job_id=dpo_id)

    async def poll(self, provider_job_id: str) -> JobStatus:
        """The job now, with its latest events (oldest first) under OpenAI's ids: the host keeps the
        ids it stored, so events returned again (after a restart) are not stored twice."""
        provider_job_id, _, dpo_file = provider_job_id.partition(DPO_MARK)
        job = await self._call("report the job", lambda c: c.fine_tuning.jobs.retrieve(provider_job_id))
        listed = await self._call("list job events",
                                  lambda c: c.fine_tuning.jobs.list_events(provider_job_id, limit=50))
        events = tuple(JobEvent(e.id, e.message) for e in reversed(list(listed.data)))
        error = None
        if job.error is not None and getattr(job.error, "message", None):
            error = redact(job.error.message)
        status = STATUS.get(job.status, job.status)
        if dpo_file and status == "succeeded":
            return await self._preference_stage(job, dpo_file, events)
        return JobStatus(status, events, model_id=job.fine_tuned_model, error=error)

    async def discard(self, progress: StartProgress) -> None:
        """Delete the job's recorded files, and any file named with its key (uploaded by a start the
        bot was killed in before it recorded them); files already gone are skipped."""
        await self.client()  # imports the SDK off the event loop on first use
        import openai  # loaded by client(): a lookup, not an import

        async def named(client: openai.AsyncOpenAI) -> list[str]:
            found, seen = [], 0
            async for file in client.files.list(purpose="fine-tune"):
                if file.filename.startswith(progress.key):
                    found.append(file.id)
                seen += 1
                if seen >= LOOKBACK:
                    break
            return found

        async def delete(client: openai.AsyncOpenAI, file_id: str) -> bool:
            try:
                await client.files.delete(file_id)
            except openai.NotFoundError:
                return False  # gone already (deleted by a cancel racing this start)
            return True

        leftovers = set(progress.files.values())
        if progress.key:  # rows from before keys existed have none: only their recorded files
            leftovers.update(await self._call("list uploaded files", named))
        for file_id in sorted(leftovers):
            await self._call("delete an uploaded file", functools.partial(delete, file_id=file_id))

    async def cancel(self, provider_job_id: str) -> None:
        job_id = provider_job_id.partition(DPO_MARK)[0]
        await self._call("cancel the job", lambda c: c.fine_tuning.jobs.cancel(job_id))

    async def chat(self, model_id: str | None, messages: Sequence[dict[str, str]]) -> str:
        reply = await self._call("answer", lambda c: c.chat.completions.create(
            model=model_id or self.settings.chat_model, messages=list(messages)))  # type: ignore[arg-type]
        return reply.choices[0].message.content or ""

    async def predict(self, model_id: str, texts: Sequence[str], labels: Sequence[str] = (), *,
                      instruction: str = "") -> list[str]:
        """Each text asked as in training: the same system instruction, then the text."""
        framing = [{"role": "system", "content": instruction}] if instruction else []
        answers = []
        for text in texts:
            answer = (await self.chat(model_id, [*framing, {"role": "user", "content": text}])).strip()
            answers.append(next((label for label in labels if label.lower() == answer.lower()), answer))
        return answers


@hookimpl
def register_model_providers(register: RegisterEngine, app: Host) -> None:
    register("openai", OpenAIProvider(app.settings("provider_openai") or Settings(), app))
