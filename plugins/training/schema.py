"""The training plugin's tables (datasets, their examples, training jobs), their migrations and
the plugin's settings. The job states that end a job are the provider interface's ``TERMINAL``,
imported rather than repeated, so the poller and the providers agree on when a job is over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from framework import hookimpl
from framework.providers import TERMINAL
from framework.storage import Migration, add_missing_columns

if TYPE_CHECKING:  # pragma: no cover
    from framework.hookspecs import RegisterMigration

__all__ = ["metadata", "datasets", "examples", "jobs", "TERMINAL", "Settings", "settings_model", "register_migrations"]

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
    # the start's steps (plugins/training/jobs.py): the job's name at the provider, the files
    # uploaded there (role → id, JSON), and the provider's ids of the events already stored (JSON)
    sa.Column("start_key", sa.String(100)),
    sa.Column("files", sa.Text, nullable=False, server_default="{}"),
    sa.Column("event_ids", sa.Text, nullable=False, server_default="[]"),
)


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
def register_migrations(register: RegisterMigration) -> None:
    register(Migration(1, "datasets, examples, training jobs", metadata.create_all))
    register(Migration(2, "the instruction a job trained with", lambda c: add_missing_columns(c, jobs)))
    register(Migration(3, "a job's start steps and stored event ids", lambda c: add_missing_columns(c, jobs)))
