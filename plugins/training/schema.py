"""The training plugin's tables (datasets, their examples, training jobs), their migrations and
the plugin's settings. The job states that end a job are the provider interface's ``TERMINAL``,
imported rather than repeated, so the poller and the providers agree on when a job is over.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from framework import hookimpl
from framework import sql as sa
from framework.dataroot import check_name, slugify
from framework.errors import PathRefused
from framework.providers import TERMINAL, trained_models
from framework.settings import Field
from framework.settings import Settings as SettingsModel
from framework.storage import Migration, add_missing_columns

if TYPE_CHECKING:  # pragma: no cover
    from framework.hookspecs import RegisterMigration

__all__ = ["metadata", "datasets", "examples", "jobs", "TERMINAL", "Settings", "settings_model", "register_migrations",
           "rename_bad_dataset_names"]

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
    # the start's steps (plugins/training/jobs.py): the job's name at the provider, the files
    # uploaded there (role → id, JSON), and the provider's ids of the events already stored (JSON)
    sa.Column("start_key", sa.String(100)),
    sa.Column("files", sa.Text, nullable=False, server_default="{}"),
    sa.Column("event_ids", sa.Text, nullable=False, server_default="[]"),
    # how its model was judged (plugins/training/activation.py): accuracies on the held-out split
    # of the new model and of the model active then, and the sentence saying what was activated and why
    sa.Column("accuracy", sa.Float),
    sa.Column("baseline_accuracy", sa.Float),
    sa.Column("activation", sa.Text),
)


class Settings(SettingsModel):
    default_dataset: str = "default"
    labels: list[str] = ["positive", "negative"]
    instruction: str = "Classify the user's message. Answer with one label: {labels}."
    poll_interval: float = Field(15.0, gt=0)
    max_poll_interval: float = Field(300.0, gt=0)
    max_file_bytes: int = Field(5 * 1024 * 1024, gt=0)
    holdout: float = Field(0.2, ge=0, lt=1)
    """Share of a dataset held out for testing (``test dataset:NAME``), never trained on."""
    activate: Literal["if-better", "always", "never"] = "if-better"
    """Which finished model becomes the active one: ``if-better`` (the first model, then one scoring at
    least as well as the active model on the held-out split), ``always``, or ``never`` (``model use``)."""


@hookimpl
def settings_model() -> type[SettingsModel]:
    return Settings


async def rename_bad_dataset_names(connection: sa.Connection) -> dict[str, str]:
    """Give every dataset stored before names had a form (``../../escape``, ``/tmp/x``, ``a b``)
    the slug of its name, unique among the datasets, in its jobs and trained models too; returns
    {old: new}. Each rename is logged, so an admin can tell users their dataset's new name."""
    names = [row.name for row in await connection.execute(sa.select(datasets.c.name))]
    taken = set(names)
    renamed: dict[str, str] = {}
    for old in names:
        try:
            if check_name(old, "dataset name") == old:
                continue
        except PathRefused:
            pass
        base = slugify(old, fallback="dataset", max_length=56)
        new, number = base, 1
        while new in taken:
            number += 1
            new = f"{base}-{number}"
        taken.add(new)
        renamed[old] = new
        await connection.execute(datasets.update().where(datasets.c.name == old).values(name=new))
        await connection.execute(jobs.update().where(jobs.c.dataset == old).values(dataset=new))
        await connection.execute(trained_models.update().where(trained_models.c.dataset == old).values(dataset=new))
        log.warning("dataset %r renamed to %r: dataset names are now letters, digits, -, _ and .", old, new)
    return renamed


@hookimpl
def register_migrations(register: RegisterMigration) -> None:
    register(Migration(1, "datasets, examples, training jobs", metadata.create_all))
    register(Migration(2, "the instruction a job trained with", lambda c: add_missing_columns(c, jobs)))
    register(Migration(3, "a job's start steps and stored event ids", lambda c: add_missing_columns(c, jobs)))
    register(Migration(4, "dataset names that can be file names", rename_bad_dataset_names))
    register(Migration(5, "a job's held-out scores and what was activated", lambda c: add_missing_columns(c, jobs)))
