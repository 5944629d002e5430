"""The whole extension surface of trainerbot, one hook a paragraph.

A plugin is a module (or object) with functions marked ``@hookimpl`` whose names match the
specs below; it implements only the hooks it needs, taking only the arguments it needs.
Built-in features in ``plugins/`` use exactly these hooks. Registration hooks hand the
plugin a ``register`` callback (as llm does), so plugins never touch host registries, and the
host knows which plugin registered what. Any hook may return an awaitable; the host awaits it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pydantic import BaseModel

    from framework.commands import Command, Context, Group
    from framework.config import Config
    from framework.host import Host
    from framework.models import ModelCatalog
    from framework.providers import Correction, Example
    from framework.settings import Settings
    from framework.storage import Migration

PROJECT = "trainerbot"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

RegisterCommand = Callable[["Command | Group"], None]
"""``register(command)`` in ``register_commands``."""


class RegisterListener(Protocol):
    """``register(hikari_event_type, async_callback)`` in ``register_listeners``; for
    ``hikari.MessageCreateEvent`` also ``register(..., bots=False)`` (API 2.0): no message written by a bot."""

    def __call__(self, event_type: type, callback: Callable[..., Any], /, *, bots: bool = True) -> None: ...


RegisterMigration = Callable[["Migration"], None]
"""``register(Migration(...))`` in ``register_migrations``."""
RegisterEngine = Callable[[str, Any], None]
"""``register(name, engine)`` in the engine hooks."""
RegisterCli = Callable[..., None]
"""``register(name, help, configure, run)`` in ``register_cli_commands``."""
RegisterCatalog = Callable[["ModelCatalog"], None]
"""``register(catalog)`` in ``register_model_catalogs``."""


@hookspec
def settings_model() -> type[Settings] | type[BaseModel]:  # type: ignore[empty-body]
    """Return the model of this plugin's ``[plugins.NAME]`` table in plugins.toml: a
    ``framework.settings.Settings`` subclass (light, preferred) or a pydantic ``BaseModel`` subclass
    (pydantic is then imported, about 7 MiB more memory).

    Unknown keys and wrong types are start-up errors naming the plugin and the key. The validated
    settings reach the plugin as ``app.settings(NAME)`` and ``ctx.settings``.
    """


@hookspec
def register_commands(register: RegisterCommand) -> None:
    """Register commands (``framework.commands.Command`` or ``Group``).

    Each is exposed once as a slash command and once as a prefix command, with the same
    options, converters, checks and error messages.
    """


@hookspec
def register_listeners(register: RegisterListener) -> None:
    """Register ``register(hikari_event_type, async_callback)`` gateway event listeners.

    The host routes events to them, skipping plugins that are disabled in the event's guild.
    The callback receives ``(event, app)``.

    A ``hikari.MessageCreateEvent`` listener gets every message, the bot's own replies and other
    bots' messages among them, unless registered with ``register(..., bots=False)`` (API 2.0): then
    no message written by a bot reaches it. When every such listener says so, the host drops bots'
    messages before hikari builds their event, which saves the bot work on each of its own replies.
    """


@hookspec
def register_migrations(register: RegisterMigration) -> None:
    """Register ``framework.storage.Migration`` steps that create and evolve this plugin's tables.

    Steps run once each, in order of their ``version``, inside a transaction, at start-up: each
    step's ``up`` is awaited with the transaction's connection (a ``framework.sql.Connection``).
    """


@hookspec
def register_model_providers(register: RegisterEngine, app: Host) -> None:
    """Register model providers by name (``register("openai", provider)``).

    Engine hooks also receive the ``app`` (settings, data root, thread pool) to build engines with.

    ``[engines] provider`` in plugins.toml chooses the active one (see ``framework.engines``).
    """


@hookspec
def register_speech_to_text(register: RegisterEngine, app: Host) -> None:
    """Register speech-to-text engines by name; ``[engines] stt`` chooses one."""


@hookspec
def register_text_to_speech(register: RegisterEngine, app: Host) -> None:
    """Register text-to-speech engines by name; ``[engines] tts`` chooses one."""


@hookspec
def register_voice_backends(register: RegisterEngine, app: Host) -> None:
    """Register voice-channel backends by name; ``[engines] voice`` chooses one."""


@hookspec
def register_cli_commands(register: RegisterCli, config: Config) -> None:
    """Add ``trainerbot`` subcommands: ``register(name, help, configure, run)``.

    ``configure(parser: argparse.ArgumentParser)`` adds arguments; ``run(args) -> int`` runs it.
    ``config`` is the loaded plugins.toml (``--config``), so a command never reads it again.
    Every ``trainerbot`` call, ``--help`` included, imports the plugins whose source mentions this
    hook (and only those): keep such a module's top-level imports light (import engines in ``run``).
    """


@hookspec
def register_model_catalogs(register: RegisterCatalog, config: Config) -> None:
    """Register a ``framework.models.ModelCatalog`` for each engine that uses model files.

    A catalog says which models are installed (language, size, path, package or data root),
    which can be downloaded, and fetches one (verified and atomic, inside the data root, through
    ``framework.download``). ``trainerbot models list|download`` is one command over every
    catalog. Like ``register_cli_commands`` it runs in the CLI, without a bot: ``config`` is the
    loaded plugins.toml. Keep it light: the catalog imports engines only when it must.
    """


@hookspec
def startup(app: Host) -> None:
    """Called once the bot is connected and storage is ready (e.g. resume background jobs)."""


@hookspec
def shutdown(app: Host) -> None:
    """Called before the bot disconnects; release engines, threads and files."""


@hookspec
def check(ctx: Context, command: Command) -> bool | None:
    """Veto a command invocation: return ``False`` or raise ``CheckFailure(message)``.

    Runs on both surfaces after the command's own checks; ``None`` means no opinion.
    """


@hookspec(firstresult=True)
def handle_error(ctx: Context, error: BaseException) -> str | None:
    """Turn an unexpected command error into a user-facing message; first non-None wins.

    The host has already logged the error with its traceback; never put secrets in the message.
    """


@hookspec(firstresult=True)
def answer_text(app: Host, message: Any, text: str) -> str | None:
    """Answer a user's text as the bot's conversation would; first answer wins.

    ``message`` is the hikari message the text came from (or was transcribed from); for speech
    heard in a voice call, an object with the same attributes (``id``, ``channel_id``,
    ``guild_id``, ``author``, ``content``). Used by
    features that produce text from other media, such as voice messages, so they reach the chat
    model without knowing which plugin provides it. Returns the answer text or ``None``.
    """


@hookspec
def reply_sent(app: Host, message: Any, text: str) -> None:
    """Observe a conversational answer the bot sent (e.g. to also speak it in voice).

    Called once the sender is done with the answer (``chat`` records it first), so it may run well
    after the answer went out, and what it reads (who is in a voice call) may be newer than the
    answer. A sender notes what must be judged at sending time before it sends: for spoken replies,
    ``framework.voice.note_listening(app, message)``, from which the voice plugin decides, however
    late this hook runs; for a sender that noted nothing, it decides when the hook runs.
    """


@hookspec(firstresult=True)
def bot_answer(app: Host, message_id: int) -> dict[str, Any] | None:
    """The conversational answer the bot sent as message ``message_id``, or ``None`` if it is not one.

    First answer wins. A dict with ``prompt`` (the user's text), ``answer`` (the bot's whole
    answer), ``instruction`` (the system instruction in force), ``user_id`` (who asked),
    ``channel_id`` and ``guild_id`` (``None`` in a DM): the place decides who may act on the answer
    and see its text (``framework.visibility``; an answer without a place is not scoped). Lets
    corrections and feedback refer to answers without knowing which plugin produced them.
    """


@hookspec(firstresult=True)
def dataset_examples(app: Host, name: str, split: str) -> list[Example] | None:
    """The examples of dataset ``name``; ``split`` is ``"train"``, ``"test"`` (held out) or ``"all"``.

    First answer wins; ``None`` means "not mine" (a dataset the plugin does not keep), so several
    plugins may keep datasets. Lets testing and other features read datasets without knowing
    which plugin keeps them.
    """


@hookspec(firstresult=True)
def add_dataset_examples(app: Host, name: str | None, examples: list[Example],
                         author_id: int | None) -> tuple[str, int, int] | None:
    """Add labelled ``examples`` to dataset ``name`` (``None``: the keeper's default dataset).

    First answer wins: ``(dataset name, added, already there)``, or ``None`` for a dataset the
    plugin does not keep. A label the dataset does not have is a ``UserError``. Lets features
    outside training (``tests resolve add:true``) grow a dataset without knowing who keeps it.
    """


@hookspec
def training_corrections(app: Host, dataset: str) -> list[Correction] | None:
    """Corrected answers to add to the next training job on ``dataset`` (all plugins' are joined).

    Each ``framework.providers.Correction`` is a prompt, the bot's original answer and the
    corrected one: providers train on it supervised, and as a preference pair where supported.
    """


@hookspec
def export_user_data(app: Host, user_id: int) -> dict[str, list[dict[str, Any]]] | None:
    """Everything this plugin stores about a user, as ``{"table or kind": [row dicts]}``.

    ``mydata export`` joins every plugin's answer, so a user can see what the bot keeps about them.
    """


@hookspec
def delete_user_data(app: Host, user_id: int) -> int | None:
    """Delete everything this plugin stores about a user; return how many records were removed."""

