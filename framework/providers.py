"""The model-provider interface: how training, testing and chat reach a model, whoever hosts it.

A provider plugin registers one object per name (``register_model_providers``); ``[engines]
provider`` picks the default. A training job goes: ``start`` (upload/launch, returns the
provider's job id) → ``poll`` until a terminal status (the host persists every step, so polling
resumes after a restart) → the resulting model id can be made active for ``predict``/``chat``.

The host records each step of a start before and after its side effect: ``starting`` (the job row
and its snapshot) → ``uploaded`` (the provider-side files, through :class:`StartProgress`) →
``created`` (the provider's job id) → polling. A bot killed in between resumes from the last
recorded step, or fails the job with the reason and has the provider :class:`Discards` what it left.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from framework import sql as sa
from framework.storage import metadata as host_metadata

if TYPE_CHECKING:  # pragma: no cover
    from framework.host import Host

TERMINAL = {"succeeded", "failed", "cancelled"}


@dataclasses.dataclass(frozen=True)
class Example:
    text: str
    label: str


@dataclasses.dataclass(frozen=True)
class Correction:
    """A corrected bot answer: what the user asked, what the bot said, and what it should have said."""

    prompt: str
    answer: str
    """The bot's original answer (the rejected side of a preference pair)."""
    correction: str
    """The answer it should have given (the chosen side; the supervised target)."""
    instruction: str = ""
    """The system instruction in force when the answer was produced (may be empty)."""


class JobAborted(Exception):
    """The job was cancelled (or failed) while the provider was starting it: the provider stops, and
    the host cleans up what was made (:class:`Discards`)."""


@dataclasses.dataclass
class StartProgress:
    """What a provider's ``start`` made on its side so far, recorded by the host as it goes.

    A provider that uploads before it launches calls :meth:`uploaded` once every file is there, and
    before launching. The host then knows the job can go on after a restart: it calls ``start``
    again with ``files`` filled in, and the provider launches from those files without uploading
    again (and adopts a job it had launched from them but whose id was never recorded). A start
    killed before ``uploaded`` is failed with the reason, and its leftovers discarded.
    """

    key: str
    """This job's unique name at the provider (use it in file names), so leftovers of a start
    killed before they were recorded can still be found and deleted."""
    files: dict[str, str] = dataclasses.field(default_factory=dict)
    """Provider-side files recorded so far (role → id); filled in when a start is resumed."""
    save: Callable[[Mapping[str, str]], Awaitable[None]] | None = dataclasses.field(default=None, repr=False)
    """The host's recorder; ``None`` when nothing records (a provider used on its own)."""

    @property
    def resumed(self) -> bool:
        """Whether an earlier attempt got as far as uploading (this call goes on from there)."""
        return bool(self.files)

    async def uploaded(self, files: Mapping[str, str]) -> None:
        """Record the provider-side files; returns once they are durable. Raises :class:`JobAborted`
        when the job was cancelled meanwhile (the host then deletes the files)."""
        self.files = dict(files)
        if self.save is not None:
            await self.save(self.files)


@dataclasses.dataclass(frozen=True)
class TrainingRequest:
    job_id: int
    """The host's job id (stable across restarts)."""
    snapshot: Path
    """The exact examples used, as JSONL (``{"text", "label"}`` per line) under the data root."""
    labels: tuple[str, ...]
    instruction: str
    """The system instruction examples are framed with (chat providers)."""
    extra: Path | None = None
    """Optional extra training data in the provider's own format."""
    corrections: tuple[Correction, ...] = ()
    """Corrected answers from the ``training_corrections`` hook: supervised examples, and
    preference pairs for providers that support preference fine-tuning (OpenAI DPO)."""
    progress: StartProgress | None = None
    """Where the host records the steps of this start (always given by the host; see :class:`StartProgress`)."""


@dataclasses.dataclass(frozen=True)
class JobEvent:
    """An event with the provider's id for it: the host stores each id once, so a poll may return
    events it returned before (after a restart, or a list of the latest ones) without duplicates."""

    id: str
    message: str


@dataclasses.dataclass(frozen=True)
class JobStatus:
    status: str
    """``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled`` (provider words map to these)."""
    events: tuple[str | JobEvent, ...] = ()
    """Human-readable events: plain text is new since the last poll; a :class:`JobEvent` is stored
    once per id, whenever it is returned."""
    model_id: str | None = None
    error: str | None = None
    provider_job_id: str | None = None
    """Set when training moved on to another provider job (a later stage, e.g. preference tuning
    after supervised): the host stores it and polls that id from then on, also after a restart."""

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


@runtime_checkable
class ModelProvider(Protocol):
    name: str
    min_examples: int
    """Fewest examples a training job needs (OpenAI fine-tuning: 10)."""
    free_training: bool = False
    """Whether a training job costs nothing (the offline ``local`` provider). ``train`` starts a
    job by itself only then; with a paid provider only when asked (``train start:true``).
    Optional: a provider without it is taken as paid."""

    async def start(self, request: TrainingRequest) -> str:
        """Launch training; return the provider's job id."""
        ...

    async def poll(self, provider_job_id: str) -> JobStatus:
        """The job's status now, with events that are new since the previous poll."""
        ...

    async def cancel(self, provider_job_id: str) -> None:
        ...

    async def predict(self, model_id: str, texts: Sequence[str], labels: Sequence[str], *,
                      instruction: str = "") -> list[str]:
        """Classify texts into one of ``labels`` each. ``instruction`` is the system instruction the
        model was trained with (``TrainingRequest.instruction``): chat models need the same framing."""
        ...

    async def chat(self, model_id: str | None, messages: Sequence[dict[str, str]]) -> str:
        """Answer a conversation (OpenAI chat message dicts)."""
        ...


@runtime_checkable
class Discards(Protocol):
    """Optional for a provider: delete what a start left on its side when the job will not run
    (it failed or was cancelled before launching, or the bot was killed while starting it)."""

    async def discard(self, progress: StartProgress) -> None:
        """Delete ``progress.files`` and anything else named with ``progress.key``; files already
        gone are not an error. Failures are ``ProviderError``s (the host logs them)."""
        ...


@runtime_checkable
class LearnsCorrections(Protocol):
    """Optional for a provider: whether a training job can learn from one correction, so ``correct``
    tells the user the truth (a classifier learns only a correction that is one of its labels)."""

    def learns_from(self, correction: Correction, labels: Sequence[str]) -> bool:
        """Whether a job training on a dataset with ``labels`` learns from ``correction``."""
        ...


def trains_for_free(provider: object) -> bool:
    """The provider's :attr:`ModelProvider.free_training` (``False`` when it does not say)."""
    return bool(getattr(provider, "free_training", False))


def learns_from(provider: object, correction: Correction, labels: Sequence[str]) -> bool | None:
    """Whether ``provider`` learns from ``correction`` (:class:`LearnsCorrections`), ``None`` when it does not say."""
    if isinstance(provider, LearnsCorrections):
        return bool(provider.learns_from(correction, labels))
    return None


trained_models = sa.Table(
    "trained_models", host_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("provider", sa.String(50), nullable=False),
    sa.Column("model_id", sa.String(300), nullable=False, unique=True),
    sa.Column("job_id", sa.Integer),
    sa.Column("dataset", sa.String(100)),
    sa.Column("labels", sa.Text, nullable=False, server_default="[]"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()),
    sa.Column("instruction", sa.Text, nullable=False, server_default=""),
)
"""Models that training produced; one may be active. A host table, so every feature (training,
testing, chat) reads the same answer to "which model do we use?"."""


@dataclasses.dataclass(frozen=True)
class ActiveModel:
    provider: str
    model_id: str
    labels: tuple[str, ...]
    instruction: str = ""
    """The system instruction the model was trained with; pass it to ``predict``."""


async def active_model(app: Host) -> ActiveModel | None:
    import json

    async with app.storage.connect() as conn:
        row = (await conn.execute(sa.select(trained_models).where(trained_models.c.active))).first()
    return ActiveModel(row.provider, row.model_id, tuple(json.loads(row.labels)), row.instruction) if row else None


async def set_active_model(app: Host, model_id: str) -> ActiveModel:
    import json

    async with app.storage.begin() as conn:
        row = (await conn.execute(sa.select(trained_models).where(trained_models.c.model_id == model_id))).first()
        if row is None:
            from framework.errors import UserError

            raise UserError(f"No trained model `{model_id}`. `model list` shows them.")
        await conn.execute(trained_models.update().values(active=False))
        await conn.execute(trained_models.update().where(trained_models.c.id == row.id).values(active=True))
    return ActiveModel(row.provider, row.model_id, tuple(json.loads(row.labels)), row.instruction)
