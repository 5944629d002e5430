"""The model-provider interface: how training, testing and chat reach a model, whoever hosts it.

A provider plugin registers one object per name (``register_model_providers``); ``[engines]
provider`` picks the default. A training job goes: ``start`` (upload/launch, returns the
provider's job id) → ``poll`` until a terminal status (the host persists every step, so polling
resumes after a restart) → the resulting model id can be made active for ``predict``/``chat``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import sqlalchemy as sa

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


@dataclasses.dataclass(frozen=True)
class JobStatus:
    status: str
    """``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled`` (provider words map to these)."""
    events: tuple[str, ...] = ()
    """New human-readable events since the last poll."""
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
