"""Testing the active model: ``test`` runs it on labelled examples and answers with accuracy,
per-label precision/recall/F1, a confusion-matrix image and the first misclassified examples.

Test data comes inline as JSON (``!test [{"text": "…", "label": "…"}]`` or
``{"label": [texts]}``), as an attached .json/.jsonl/.csv file, or from a dataset's held-out part
(``test dataset:NAME``) through the ``dataset_examples`` hook, so this plugin never reads
another plugin's tables. Every run is stored, so ``tests history`` compares runs on the same
data; misclassified examples are kept as review items (``tests review``, ``tests resolve``).

``test`` is a command (not a group) so the short ``!test <json>`` form works; the other
actions live in the ``tests`` group, as ``feedback`` / ``feedbacks`` do. Anyone may run and
read tests; resolving review items needs the ``training`` permission group.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import hikari

from framework import hookimpl
from framework import sql as sa
from framework.archive import human_size
from framework.commands import (
    DISCORD_MESSAGE_LIMIT,
    Context,
    File,
    UserError,
    attachment,
    boolean,
    group,
    integer,
    string,
)
from framework.commands import command as declare
from framework.errors import BadArgument, ImportProblem, ProviderError, echo, parse_row_number
from framework.importers import parse_file, parse_json
from framework.progress import ProgressMessage
from framework.providers import ActiveModel, Example, active_model
from framework.report import Metrics, compute_metrics, metrics_table, render_confusion_png
from framework.settings import Field
from framework.settings import Settings as SettingsModel
from framework.storage import Migration, as_record, inserted_id
from framework.uploads import read_upload

if TYPE_CHECKING:  # pragma: no cover
    from framework.hookspecs import RegisterCommand, RegisterMigration
    from framework.host import Host

log = logging.getLogger(__name__)

FORMATS = (".json", ".jsonl", ".csv")
IMAGE_LABELS = 30
"""Most labels drawn as a confusion matrix: the image grows with the square of the count (a
model without labels takes them from the test data, up to one per example)."""

metadata = sa.MetaData()
runs = sa.Table(
    "evaluation_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("guild_id", sa.BigInteger),
    sa.Column("channel_id", sa.BigInteger),
    sa.Column("source_kind", sa.String(20), nullable=False),  # inline, attachment or dataset
    sa.Column("source", sa.String(200), nullable=False),  # what the user sees: a file or dataset name
    sa.Column("data_hash", sa.String(64), nullable=False, index=True),  # runs on the same examples compare
    sa.Column("provider", sa.String(50), nullable=False),
    sa.Column("model_id", sa.String(300), nullable=False),
    sa.Column("example_count", sa.Integer, nullable=False),
    sa.Column("accuracy", sa.Float, nullable=False),
    sa.Column("macro_f1", sa.Float, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),  # framework.report.Metrics.to_dict()
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()),
    sqlite_autoincrement=True,
)
review_items = sa.Table(
    "evaluation_review_items", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("evaluation_runs.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("expected", sa.String(100), nullable=False),
    sa.Column("predicted", sa.Text, nullable=False),
    sa.Column("status", sa.String(10), nullable=False, server_default="open"),  # open or resolved
    sa.Column("resolved_by", sa.BigInteger),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sqlite_autoincrement=True,
)


class Settings(SettingsModel):
    max_examples: int = Field(1000, ge=1, le=100_000)
    """Most examples one test run predicts (each is a model call for chat models)."""
    batch_size: int = Field(25, ge=1, le=1000)
    """Examples predicted per step; larger sets show progress after each step."""
    show_misclassified: int = Field(5, ge=0, le=25)
    history: int = Field(10, ge=1, le=50)
    """Runs ``tests history`` shows by default."""
    max_file_bytes: int = Field(5 * 1024 * 1024, gt=0)


@hookimpl
def settings_model() -> type[SettingsModel]:
    return Settings


@hookimpl
def register_migrations(register: RegisterMigration) -> None:
    register(Migration(1, "test runs and review items", metadata.create_all))


# ----------------------------------------------------------------------------- test data

_FENCE = re.compile(r"\A```[a-zA-Z]*\s*\n?(.*?)\n?\s*```\Z", re.S)


def _labelled(source: str, items: Sequence[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """Every example needs text and a label; the message names the first that lacks one."""
    found = []
    for number, (text, label) in enumerate(items, 1):
        if not text.strip():
            raise UserError(f"{source}: example {number} has no text.")
        if label is None:
            raise UserError(f"{source}: example {number} ({_quote(text, 40)}) has no label; every test "
                            "example needs one.")
        found.append((text.strip(), label))
    return found


def parse_inline(text: str) -> list[tuple[str, str]]:
    """Inline test data: JSON, optionally in a ``` code block."""
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        return _labelled("The test data", list(parse_json("the test data", text)))
    except ImportProblem as exc:
        message = str(exc).replace("`the test data`", "the test data")
        raise UserError(message[0].upper() + message[1:]) from None


async def _from_attachment(ctx: Context, upload: hikari.Attachment) -> list[tuple[str, str]]:
    settings: Settings = ctx.settings
    if not upload.filename.lower().endswith(FORMATS):
        raise UserError(f"`{echo(upload.filename)}`: test data must be {', '.join(FORMATS)} "
                        "(with a label per example).")
    if upload.size > settings.max_file_bytes:
        raise UserError(f"`{echo(upload.filename)}` is larger than {human_size(settings.max_file_bytes)}.")
    try:
        data = await read_upload(upload, settings.max_file_bytes)
        items = await ctx.run_blocking(parse_file, upload.filename, data)
    except ImportProblem as exc:
        raise UserError(str(exc)) from None
    return _labelled(f"`{echo(upload.filename)}`", items)


async def _from_dataset(ctx: Context, name: str, split: str) -> list[tuple[str, str]]:
    """A dataset's examples through the ``dataset_examples`` hook: the first plugin that keeps it
    answers (a plugin's UserError reaches the user)."""
    found = await ctx.app.plugins.call("dataset_examples", scope=ctx.guild_id, app=ctx.app, name=name, split=split)
    if found is None:
        raise UserError(f"No dataset `{echo(name)}`. `dataset list` shows them.")
    if not found and split == "test":
        raise UserError(f"Dataset `{echo(name)}` has no held-out examples yet: a part is held out once both parts keep "
                        f"every label. Add examples, or test on `split{':' if ctx.surface == 'slash' else '='}all`.")
    return [(e.text, e.label) for e in found]


def data_hash(items: Sequence[tuple[str, str]]) -> str:
    """The same examples in any order give the same hash, so their runs compare."""
    return hashlib.sha256(json.dumps(sorted(items), ensure_ascii=False).encode()).hexdigest()


# ----------------------------------------------------------------------------- running


def _quote(text: str, limit: int = 90) -> str:
    """An example as inline code: one line, no mentions or markdown, cut to ``limit``."""
    flat = " ".join(text.split()).replace("`", "'")
    return f"`{flat if len(flat) <= limit else flat[: limit - 1] + '…'}`"


def _answer(predicted: str) -> str:
    """A model's answer for bold text in a list."""
    if not predicted.strip():
        return "(an empty answer)"
    return re.sub(r"([*_~|>\\])", r"\\\1", _quote(predicted, 40)[1:-1]).replace("@", "@\u200b")


def _normalise(answer: str, labels: Sequence[str]) -> str:
    """A label in any case counts as that label; other answers stay as given (counted wrong)."""
    by_lower = {label.lower(): label for label in labels}
    return by_lower.get(answer.strip().lower(), answer.strip())


async def _predict(ctx: Context, model: ActiveModel, texts: list[str]) -> list[str]:
    settings: Settings = ctx.settings
    provider = ctx.app.engines.providers.get(model.provider)
    step = settings.batch_size
    progress = None
    if len(texts) > step:
        progress = await ProgressMessage.start(ctx, f"🧪 Testing `{model.model_id}` on {len(texts)} examples… "
                                                    f"0/{len(texts)}")
    predicted: list[str] = []
    for start in range(0, len(texts), step):
        batch = texts[start:start + step]
        try:
            answers = list(await provider.predict(model.model_id, batch, model.labels, instruction=model.instruction))
            if len(answers) != len(batch):  # a provider's bug: answers would pair with the wrong examples
                log.error("provider %s answered %d of %d texts", model.provider, len(answers), len(batch))
                raise ProviderError(f"The `{model.provider}` provider gave {len(answers)} answers for {len(batch)} "
                                    "examples, so they cannot be matched; nothing was stored.")
        except ProviderError as exc:
            if progress is not None:
                await progress.finish(f"❌ Testing `{model.model_id}` stopped at {len(predicted)}/{len(texts)}.")
            raise UserError(f"The model could not answer: {exc}") from None
        predicted += [_normalise(str(a), model.labels) for a in answers]
        if progress is not None and len(predicted) < len(texts):
            progress.update(f"🧪 Testing `{model.model_id}` on {len(texts)} examples… {len(predicted)}/{len(texts)}")
    if progress is not None:
        await progress.finish(f"✅ Tested `{model.model_id}` on {len(texts)} examples… {len(predicted)}/{len(texts)}")
    return predicted


def _pack(blocks: list[str], limit: int = DISCORD_MESSAGE_LIMIT) -> list[str]:
    """Join blocks into messages under the limit without cutting one (a code block stays whole)."""
    messages: list[str] = []
    for block in blocks:
        if messages and len(messages[-1]) + 1 + len(block) <= limit:
            messages[-1] += "\n" + block
        else:
            messages.append(block[:limit])
    return messages


def _table_blocks(metrics: Metrics) -> list[str]:
    lines = metrics_table(metrics).splitlines()
    blocks: list[str] = []
    chunk: list[str] = []
    for line in lines:
        if sum(len(x) + 1 for x in chunk) + len(line) > DISCORD_MESSAGE_LIMIT - 20:
            blocks.append("```\n" + "\n".join(chunk) + "\n```")
            chunk = []
        chunk.append(line)
    blocks.append("```\n" + "\n".join(chunk) + "\n```")
    return blocks


def _delta(now: float, before: float | None, points: bool) -> str:
    if before is None:
        return ""
    change = (now - before) * (100 if points else 1)
    return f" ({change:+.1f})" if points else f" ({change:+.2f})"


async def _previous(app: Host, run: Any) -> Any:
    """The latest earlier run on the same examples, to compare with."""
    async with app.storage.connect() as conn:
        return (await conn.execute(sa.select(runs).where(runs.c.data_hash == run.data_hash, runs.c.id < run.id)
                                   .order_by(runs.c.id.desc()).limit(1))).first()


async def report(ctx: Context, run: Any, misses: list[Any], *, total_misses: int) -> None:
    """The run's answer: headline, metrics table, first misses, and the confusion matrix image."""
    metrics = Metrics.from_dict(json.loads(run.metrics))
    previous = await _previous(ctx.app, run)
    headline = (f"🧪 **Test run #{run.id}**: `{run.model_id}` ({run.provider}) on {run.source} — accuracy "
                f"**{metrics.accuracy:.1%}** ({metrics.correct}/{metrics.total}), macro F1 **{metrics.macro_f1:.2f}**")
    if previous is not None:
        headline += (f"\nAgainst run #{previous.id} on the same data (`{previous.model_id}`): accuracy "
                     f"{(run.accuracy - previous.accuracy) * 100:+.1f} points, macro F1 "
                     f"{run.macro_f1 - previous.macro_f1:+.2f}")
    blocks = [headline, *_table_blocks(metrics)]
    if total_misses:
        shown = f"first {len(misses)} of {total_misses}" if len(misses) < total_misses else str(total_misses)
        blocks.append(f"**Misclassified** ({shown}; `{ctx.mention_command('tests review')}` lists them):")
        blocks += [f"review #{m.id}: expected **{_answer(m.expected)}**, got **{_answer(m.predicted)}**: "
                   f"{_quote(m.text)}" for m in misses]
    elif metrics.total:
        blocks.append("No misclassified examples.")
    image = None
    if await ctx.bot_missing(hikari.Permissions.ATTACH_FILES):
        blocks.append("(No confusion-matrix image: I may not attach files in this channel, which needs the "
                      "Attach Files permission.)")
    elif len(metrics.labels) <= IMAGE_LABELS:
        image = await ctx.run_blocking(render_confusion_png, metrics, f"Test run #{run.id} - {run.model_id}")
    else:
        blocks.append(f"(No confusion-matrix image: {len(metrics.labels)} labels are more than the {IMAGE_LABELS} "
                      "one can show.)")
    messages = _pack(blocks)
    for index, text in enumerate(messages):
        files = [File(f"confusion-run-{run.id}.png", data=image)] if index == 0 and image else ()
        await ctx.respond(text, attachments=files)


async def _store(ctx: Context, model: ActiveModel, kind: str, source: str, items: list[tuple[str, str]],
                 predicted: list[str], metrics: Metrics) -> tuple[Any, list[Any], int]:
    """The run and its review items, in one transaction."""
    values = {"user_id": int(ctx.author.id), "guild_id": int(ctx.guild_id) if ctx.guild_id else None,
              "channel_id": int(ctx.channel_id), "source_kind": kind, "source": source[:200],
              "data_hash": data_hash(items), "provider": model.provider, "model_id": model.model_id,
              "example_count": len(items), "accuracy": metrics.accuracy, "macro_f1": metrics.macro_f1,
              "metrics": json.dumps(metrics.to_dict())}
    wrong = [(text, want, got[:500]) for (text, want), got in zip(items, predicted, strict=True) if want != got]
    limit = ctx.settings.show_misclassified
    async with ctx.app.storage.begin() as conn:
        run_id = inserted_id(await conn.execute(runs.insert().values(**values)))
        if wrong:
            await conn.execute(review_items.insert(), [{"run_id": run_id, "text": t, "expected": e, "predicted": p}
                                                       for t, e, p in wrong])
        run = (await conn.execute(sa.select(runs).where(runs.c.id == run_id))).one()
        misses = (await conn.execute(sa.select(review_items).where(review_items.c.run_id == run_id)
                                     .order_by(review_items.c.id).limit(limit))).all() if limit else []
    log.info("test run %s: %s on %s (%d examples), accuracy %.3f", run_id, model.model_id, source, len(items),
             metrics.accuracy)
    return run, list(misses), len(wrong)


def _check_size(items: list[tuple[str, str]], source: str, settings: Settings) -> None:
    source = source[0].upper() + source[1:]
    if not items:
        raise UserError(f"{source} contains no examples.")
    if len(items) > settings.max_examples:
        raise UserError(f"{source} has {len(items)} examples; at most {settings.max_examples} are tested at once "
                        "(`[plugins.evaluation] max_examples`).")


def _check_labels(items: list[tuple[str, str]], model: ActiveModel) -> None:
    unknown = sorted({label for _, label in items} - set(model.labels)) if model.labels else []
    if unknown:
        raise UserError(f"Label{'s' if len(unknown) > 1 else ''} {', '.join(f'`{u}`' for u in unknown)} "
                        f"{'are' if len(unknown) > 1 else 'is'} unknown to model `{model.model_id}`, which answers "
                        f"with: {', '.join(model.labels)}.")


@declare("test", "Test the active model on labelled examples: accuracy, F1, confusion matrix", options=[
    string("data", 'Examples as JSON: [{"text": "…", "label": "…"}] or {"label": ["text", …]}', default=None),
    attachment("attachment", "A .json, .jsonl or .csv file of labelled examples", default=None),
    string("dataset", "Test on this dataset's held-out examples instead", default=None, max_length=100,
           named_only=True),
    string("split", "Which part of the dataset: test (held out), train or all", default="test",
           choices=["test", "train", "all"], named_only=True),
])
async def run_test(ctx: Context, data: str | None, attachment: hikari.Attachment | None, dataset: str | None,
               split: str) -> None:
    sources = [s for s in (data and data.strip(), attachment, dataset and dataset.strip()) if s]
    if not sources:
        raise UserError(f"Give test data: JSON (`{ctx.mention_command('test')} "
                        '[{"text": "great film", "label": "positive"}]`), an attached .json/.jsonl/.csv file, '
                        "or `dataset:NAME` for a dataset's held-out examples.")
    if len(sources) > 1:
        raise UserError("Give one source of test data at a time: JSON, an attachment or a dataset.")
    if split != "test" and not dataset:
        raise UserError("`split` chooses a part of a dataset: give `dataset` too.")
    await ctx.defer()
    if attachment is not None:
        kind, source, items = "attachment", f"`{echo(attachment.filename)}`", await _from_attachment(ctx, attachment)
    elif dataset:
        name = dataset.strip()
        shown = {"test": "held-out examples", "train": "training examples", "all": "examples"}[split]
        kind, source, items = "dataset", f"the {shown} of `{echo(name)}`", await _from_dataset(ctx, name, split)
    else:
        kind, source, items = "inline", "inline data", parse_inline(data or "")
    _check_size(items, "the test data" if kind == "inline" else source, ctx.settings)
    model = await active_model(ctx.app)
    if model is None:
        raise UserError(f"No active model to test: train one with `{ctx.mention_command('train')}`, then choose it "
                        f"with `{ctx.mention_command('model use')}`.")
    _check_labels(items, model)
    predicted = await _predict(ctx, model, [text for text, _ in items])
    labels = list(model.labels) or sorted({label for _, label in items})
    metrics = await ctx.run_blocking(compute_metrics, [label for _, label in items], predicted, labels)
    run, misses, total = await _store(ctx, model, kind, source, items, predicted, metrics)
    await report(ctx, run, misses, total_misses=total)


# ----------------------------------------------------------------------------- history and review

tests_group = group("tests", "Past test runs and their misclassified examples")


def _run_number(text: str) -> int:
    return parse_row_number(text, "test run number", "tests history")


@tests_group.command("history", "Recent test runs compared: accuracy and macro F1 against earlier runs",
                     options=[integer("count", "How many runs (default 10)", default=None, min_value=1, max_value=50)])
async def tests_history(ctx: Context, count: int | None) -> None:
    async with ctx.app.storage.connect() as conn:
        rows = (await conn.execute(sa.select(runs).order_by(runs.c.id.desc())
                                   .limit(count or ctx.settings.history))).all()
    if not rows:
        await ctx.respond(f"No test runs yet. Run one with `{ctx.mention_command('test')}`.")
        return
    lines = [f"{'run':<5} {'when (UTC)':<11} {'model':<18} {'data':<18} {'n':>5}  {'accuracy':<15} macro F1"]
    for row in reversed(rows):
        before = await _previous(ctx.app, row)
        when = row.created_at.strftime("%m-%d %H:%M") if row.created_at else "?"
        model = row.model_id if len(row.model_id) <= 18 else "…" + row.model_id[-17:]
        data = row.source.replace("`", "")
        data = data if len(data) <= 18 else data[:17] + "…"
        accuracy = f"{row.accuracy:.1%}" + _delta(row.accuracy, before.accuracy if before else None, True)
        f1 = f"{row.macro_f1:.2f}" + _delta(row.macro_f1, before.macro_f1 if before else None, False)
        lines.append(f"#{row.id:<4} {when:<11} {model:<18} {data:<18} {row.example_count:>5}  {accuracy:<15} {f1}")
    await ctx.respond("**Test runs** (changes in brackets: against the previous run on the same data)\n"
                      "```\n" + "\n".join(lines) + "\n```")


@tests_group.command("show", "One test run's full report again", options=[string("run", "Run number, e.g. 3")])
async def tests_show(ctx: Context, run: str) -> None:
    number = _run_number(run)
    limit = ctx.settings.show_misclassified
    async with ctx.app.storage.connect() as conn:
        row = (await conn.execute(sa.select(runs).where(runs.c.id == number))).first()
        if row is None:
            raise UserError(f"No test run #{number}; `tests history` shows them.")
        total = (await conn.execute(sa.select(sa.func.count()).where(review_items.c.run_id == number))).scalar()
        misses = (await conn.execute(sa.select(review_items).where(review_items.c.run_id == number)
                                     .order_by(review_items.c.id).limit(limit))).all() if limit else []
    await report(ctx, row, list(misses), total_misses=int(total or 0))


@tests_group.command("review", "Misclassified examples kept for review (open ones by default)", options=[
    string("run", "Only this test run's", default=None),
    string("status", "open, resolved or all", default="open", choices=["open", "resolved", "all"], named_only=True),
])
async def tests_review(ctx: Context, run: str | None, status: str) -> None:
    query = sa.select(review_items, runs.c.model_id).select_from(review_items.join(runs))
    if run:
        query = query.where(review_items.c.run_id == _run_number(run))
    if status != "all":
        query = query.where(review_items.c.status == status)
    async with ctx.app.storage.connect() as conn:
        total = (await conn.execute(sa.select(sa.func.count()).select_from(query.subquery()))).scalar() or 0
        rows = (await conn.execute(query.order_by(review_items.c.id.desc()).limit(15))).all()
    if not rows:
        await ctx.respond(f"No {'' if status == 'all' else status + ' '}review items"
                          + (f" for run #{_run_number(run)}." if run else "."))
        return
    lines = [f"**Review items** ({status}, {len(rows)} of {total}, newest first; resolve with "
             f"`{ctx.mention_command('tests resolve')}`):"]
    for r in rows:
        mark = "✅ " if r.status == "resolved" else ""
        lines.append(f"{mark}review #{r.id}, run #{r.run_id} (`{r.model_id}`): expected **{_answer(r.expected)}**, got "
                     f"**{_answer(r.predicted)}**: {_quote(r.text)}")
    await ctx.respond("\n".join(lines))


def _numbers(numbers: Sequence[int], shown: int = 20) -> str:
    """``#4, #5, #6`` — the first ``shown`` of them and a count of the rest, so a message stays one message."""
    text = ", ".join(f"#{n}" for n in numbers[:shown])
    return text + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")


@tests_group.command("resolve", "Mark review items as dealt with, e.g. 4 or 4,5,6", permission="training",
                     options=[string("items", "Review item numbers (tests review shows them)"),
                              boolean("add", "Also add each example, with its right label, to a dataset",
                                      default=False, named_only=True),
                              string("dataset", "The dataset to add them to (default: the configured one)",
                                     default=None, max_length=100, named_only=True)])
async def tests_resolve(ctx: Context, items: str, add: bool, dataset: str | None) -> None:
    try:
        wanted = sorted({parse_row_number(p, "review item number", "tests review")
                         for p in re.split(r"[\s,]+", items.strip()) if p})
    except BadArgument:
        raise UserError(f"`{echo(items)}`: give review item numbers, e.g. `4` or `4,5,6`.") from None
    if not wanted:
        raise UserError("Give review item numbers, e.g. `4` or `4,5,6`.")
    async with ctx.app.storage.begin() as conn:
        found = {r.id: r.status for r in await conn.execute(
            sa.select(review_items.c.id, review_items.c.status).where(review_items.c.id.in_(wanted))
            .with_for_update())}
        missing = [n for n in wanted if n not in found]
        if missing:
            raise UserError(f"No review item {_numbers(missing)}; `tests review` shows them.")
        todo = [n for n in wanted if found[n] == "open"]
        if todo:
            await conn.execute(review_items.update().where(review_items.c.id.in_(todo)).values(
                status="resolved", resolved_by=int(ctx.author.id),
                resolved_at=datetime.datetime.now(datetime.UTC)))
    text = f"Resolved {_numbers(todo)}." if todo else ("Nothing to resolve." if add else "Nothing to do.")
    already = [n for n in wanted if n not in todo]
    if already:
        text += f" Already resolved: {_numbers(already)}."
    if add:
        text += " " + await _add_to_dataset(ctx, wanted, dataset)
    await ctx.respond(text)


async def _add_to_dataset(ctx: Context, wanted: list[int], dataset: str | None) -> str:
    """Add the review items' examples with their right (expected) labels through ``add_dataset_examples``."""
    async with ctx.app.storage.connect() as conn:
        rows = (await conn.execute(sa.select(review_items.c.text, review_items.c.expected)
                                   .where(review_items.c.id.in_(wanted)).order_by(review_items.c.id))).all()
    found = await ctx.app.plugins.call("add_dataset_examples", scope=ctx.guild_id, app=ctx.app, name=dataset,
                                       examples=[Example(r.text, r.expected) for r in rows],
                                       author_id=int(ctx.author.id))
    if found is None:
        raise UserError(f"No plugin keeps a dataset `{echo(dataset or 'default')}` to add the examples to.")
    name, added, duplicates = found
    return f"Added {added} example(s) with their right labels to `{name}`" + (
        f" ({duplicates} already there)." if duplicates else ".")


@hookimpl
def register_commands(register: RegisterCommand) -> None:
    register(run_test)
    register(tests_group)


# ----------------------------------------------------------------------------- users' data


@hookimpl
async def export_user_data(app: Host, user_id: int) -> dict[str, list[dict[str, Any]]]:
    """The test runs the user started, with the misclassified examples kept from them."""
    async with app.storage.connect() as conn:
        started = (await conn.execute(sa.select(runs).where(runs.c.user_id == int(user_id))
                                      .order_by(runs.c.id))).all()
        items = (await conn.execute(sa.select(review_items).where(review_items.c.run_id.in_([r.id for r in started]))
                                    .order_by(review_items.c.id))).all() if started else []
    return {"test_runs": [as_record(r) for r in started], "test_review_items": [as_record(r) for r in items]}


@hookimpl
async def delete_user_data(app: Host, user_id: int) -> int:
    """The user's test runs go, with their review items (the examples were the user's data)."""
    async with app.storage.begin() as conn:
        ids = [r.id for r in await conn.execute(sa.select(runs.c.id).where(runs.c.user_id == int(user_id)))]
        if not ids:
            return 0
        removed = (await conn.execute(review_items.delete().where(review_items.c.run_id.in_(ids)))).rowcount
        removed += (await conn.execute(runs.delete().where(runs.c.id.in_(ids)))).rowcount
    return removed
