"""Drive every command a running bot registered, on both surfaces, with hostile input, and say what
went wrong. Used by tests/test_path_confinement.py (every string option filled with hostile names),
tests/test_command_fuzz.py (Hypothesis-generated arguments) and tests/bench/bench_fuzz.py (a longer run).

A *case* is one invocation: a command, a surface, raw option values as that surface carries them,
attachments, who sends it and where. :meth:`Fuzzer.run` sends it through the Discord emulator like
a user would, waits for the bot's answer and for a `!hi` sent afterwards, and returns the problems:

- an answer (or an edit of one) saying "failed unexpectedly", or an error logged by the bot;
- a refusal (a :class:`~framework.errors.UserError` the pipeline reported) over one message;
- a message over Discord's 2,000 characters (Discord would refuse to send it);
- no answer to the case, or none to the `!hi` after it.

Nothing of hikari, lightbulb or the bot is replaced: the checks read what the emulator received and
what the bot logged.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import io
import json
import logging
import operator
import wave
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.commands import DISCORD_MESSAGE_LIMIT, Command, Group, MessageCommand, Option, OptionType
from framework.testing.harness import BotHarness

GENERIC = "failed unexpectedly"
TOKEN = "tb-escape-7c1e"
"""Part of every hostile name that points somewhere, so what it might create can be looked for anywhere."""

HOSTILE_NAMES: tuple[str, ...] = (
    f"../../../{TOKEN}", f"/tmp/{TOKEN}", f"sub/dir/{TOKEN}", f"~/{TOKEN}", f"..\\..\\{TOKEN}", f"C:/{TOKEN}",
    f"exports/../../{TOKEN}", f"./../{TOKEN}", f"{TOKEN}\x00.txt", f"//{TOKEN}", "x" * 5000, ".", "..", "",
)
"""Names and paths that must never reach the file system outside the data root."""

SPECIAL_TEXT: tuple[str, ...] = (
    "@everyone", "@here", "<@1>", "<@&1>", "<#1>", "\u202egnp.exe", "\u200b", "\r\n", "```", "`", "||x||",
    "'; DROP TABLE datasets; --", "%s%n%x", "${jndi:ldap://127.0.0.1/x}", "\\", "\"", "'", "=", "key=value",
    "true", "false", "nan", "inf", "-inf", "1e999", "-0", "0x10", "#0", "#-1", "0" * 30 + "1", str(2**63),
    str(-(2**63) - 1), "9" * 5000, "[" * 5000, '{"text": "x", "label": ' * 50,
)
"""Text that has broken bots before: mentions, bidirectional overrides, quotes, numbers at the edges."""

KNOWN_TEXT: tuple[str, ...] = (
    "1", "2", "#1", "default", "local-1", "local", "openai", "datasets", "exports", "archives", "instructions",
    "instruction.md", "core", "ko", "en", "positive", "negative", "on", "off", "all", "test", "train",
)
"""Names of things the bot has (the default dataset, the first job and the model it trains, the data
root's folders), so generated cases also get past the lookups into the work behind them."""

ERROR_LOGGERS = ("framework", "plugins", "hikari", "lightbulb")
_REFUSAL_LOGGER = "framework.commands.invoke"


def wav_bytes(seconds: float, rate: int = 16_000, width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(b"\x80" * int(rate * seconds) * width)
    return buffer.getvalue()


SAMPLE_FILES: dict[str, bytes] = {
    "data.json": json.dumps([{"text": "great film", "label": "positive"},
                             {"text": "awful film", "label": "negative"}]).encode(),
    "data.jsonl": b'{"text": "great", "label": "positive"}\n{"text": "awful", "label": "negative"}\n',
    "data.csv": b"text,label\ngreat,positive\nawful,negative\n",
    "notes.txt": b"first example\n\nsecond example\n",
    "page.html": b"<html><body><p>hello</p><script>x()</script></body></html>",
    "voice.wav": wav_bytes(0.5),
}
"""Small valid files of each kind the bot reads: the seeds of truncated and mislabelled attachments."""


@dataclasses.dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes
    content_type: str | None = None

    def __repr__(self) -> str:  # Hypothesis prints falsifying examples: keep megabytes out of them
        head = self.data[:40]
        return f"Upload({self.filename!r}, {len(self.data)} bytes {head!r}…, {self.content_type!r})"


VOICE_MESSAGE_FLAG = 1 << 13


@dataclasses.dataclass
class Case:
    """One invocation. ``values`` are raw option values as the surface carries them: typed for slash
    (an int, a bool, a user, an :class:`Upload`), text for prefix (``extra`` are surplus words).
    Surface ``"message"`` (no command) is a voice message: a plain message carrying ``uploads``."""

    command: Command | None
    surface: str
    values: dict[str, Any]
    uploads: list[Upload] = dataclasses.field(default_factory=list)
    extra: list[str] = dataclasses.field(default_factory=list)
    as_owner: bool = True
    in_dm: bool = False
    form_text: str = ""
    """For a message command: what the user types into each field of the form it shows."""

    @property
    def name(self) -> str:
        return self.command.qualified_name if self.command else "voice message"

    def describe(self) -> str:
        shown = {k: (v if not isinstance(v, str) or len(v) < 60 else f"{v[:40]!r}…({len(v)} chars)")
                 for k, v in self.values.items()}
        return (f"{self.surface} {self.name} {shown} uploads={self.uploads} extra={_short(self.extra)} "
                f"form={_short(self.form_text)} {'owner' if self.as_owner else 'user'}{' in DM' if self.in_dm else ''}")


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) < 80 else f"{shown[:60]}…({len(shown)} chars)"


def commands_of(tb: BotHarness) -> list[Command]:
    """Every command the bot registered (subcommands of groups, message commands too), by name."""
    found: list[Command] = []
    for target in tb.app.commands.all():
        found += list(target.subcommands.values()) if isinstance(target, Group) else [target]
    return sorted(found, key=lambda c: c.qualified_name)


def quote(text: str) -> str:
    """A prefix-command argument holding ``text`` exactly: double quotes, backslash escapes."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclasses.dataclass(frozen=True)
class _Logged:
    level: int
    logger: str
    message: str
    refusal: str | None
    """For a refusal the pipeline reported: its text (what the user was shown)."""


class _Records(logging.Handler):
    """Keeps what each record says, not the record: its arguments may hold an exception, whose
    traceback would keep every local of the failing call (megabytes of attachment) alive."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[_Logged] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()[:300]
        if record.exc_info and record.exc_info[1] is not None:
            text += f": {record.exc_info[1]!r}"[:300]
        refusal = None
        if record.name == _REFUSAL_LOGGER and record.levelno < logging.WARNING and isinstance(record.args, tuple) \
                and record.args:
            refusal = str(record.args[-1])
        self.records.append(_Logged(record.levelno, record.name, text, refusal))


@dataclasses.dataclass
class Totals:
    cases: int = 0
    generic_failures: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)
    per_target: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    """Cases run per ``"surface name"``."""


class Fuzzer:
    """Runs cases against one bot; a context manager, for the log capture it installs."""

    def __init__(self, tb: BotHarness, *, answer_timeout: float = 60.0, hello_after_each: bool = True) -> None:
        self.tb = tb
        self.hello_after_each = hello_after_each
        """Send `!hi` after every case (else only in :meth:`final_check`)."""
        self.emu = tb.emu
        self.answer_timeout = answer_timeout
        self.role = tb.emu.create_role(tb.guild, "Fuzzers")
        self.dms = {tb.owner.id: tb.emu.create_dm(tb.owner), tb.user.id: tb.emu.create_dm(tb.user)}
        self.totals = Totals()
        self._handler = _Records()
        self._levels: dict[str, int] = {}
        self._last_message = 0
        self._last_attachment = 0

    def __enter__(self) -> Fuzzer:
        for name in (*ERROR_LOGGERS, _REFUSAL_LOGGER):
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.addHandler(self._handler)
        logging.getLogger(_REFUSAL_LOGGER).setLevel(logging.INFO)  # refusals are logged at info
        self._last_message = next(reversed(self.emu.messages), 0)
        self._last_attachment = next(reversed(self.emu.attachments), 0)
        return self

    def __exit__(self, *exc: object) -> None:
        for name, level in self._levels.items():
            logger = logging.getLogger(name)
            logger.removeHandler(self._handler)
            logger.setLevel(level)

    # ------------------------------------------------------------------ values for options
    def benign(self, command: Command, surface: str) -> tuple[dict[str, Any], list[Upload]]:
        """Harmless values for the command's required options (a choice's first value, 1, true…)."""
        values: dict[str, Any] = {}
        uploads: list[Upload] = []
        for opt in command.options:
            if not opt.required:
                continue
            if opt.choices:
                value: Any = opt.choices[0]
            elif opt.type is OptionType.ATTACHMENT:
                upload = Upload("notes.txt", SAMPLE_FILES["notes.txt"], "text/plain")
                if surface == "slash":
                    values[opt.name] = upload
                else:
                    uploads.append(upload)
                continue
            else:
                value = {OptionType.STRING: "fuzz", OptionType.INTEGER: 1, OptionType.NUMBER: 1.0,
                         OptionType.BOOLEAN: True, OptionType.USER: self.tb.owner, OptionType.CHANNEL: self.tb.channel,
                         OptionType.ROLE: self.role}[opt.type]
            values[opt.name] = value if surface == "slash" else self.as_text(value)
        return values, uploads

    def as_text(self, value: Any) -> str:
        """How a user types a value on the prefix surface (a mention for a user, channel or role)."""
        if value is self.tb.owner or value is self.tb.user:
            return f"<@{value.id}>"
        if value is self.tb.channel:
            return f"<#{value.id}>"
        if value is self.role:
            return f"<@&{value.id}>"
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    # ------------------------------------------------------------------ running a case
    async def run(self, case: Case) -> list[str]:
        """Send the case, wait for its answer and for `!hi` after it; the problems found (empty: fine)."""
        tb = self.tb
        user = tb.owner if case.as_owner else tb.user
        channel = self.dms[user.id] if case.in_dm else tb.channel
        first_log = len(self._handler.records)
        problems: list[str] = []
        try:
            await self._invoke(case, user, channel)
        except AssertionError as exc:  # the emulator's wait timed out
            problems.append(f"no answer ({str(exc)[:200]})")
        if self.hello_after_each:
            hello = await tb.emu.send_message(tb.channel, tb.user, "!hi")
            try:
                await tb.emu.wait_for_message(channel=tb.channel, predicate=lambda m: m.reference == hello.id,
                                              timeout=self.answer_timeout)
            except AssertionError:
                problems.append("the bot did not answer `!hi` afterwards")
        problems += self._check_messages() + self._check_logs(first_log)
        for stored in self._new(self.emu.attachments, "_last_attachment"):
            stored.data = b""  # answered: drop the bytes, so a long run's memory stays flat
        self.totals.cases += 1
        self.totals.per_target[f"{case.surface} {case.name}"] += 1
        if any(GENERIC in p or p.startswith("logged") for p in problems):
            self.totals.generic_failures += 1
        if problems:
            self.totals.problems.append(f"{case.describe()}: {'; '.join(problems)}")
        return problems

    async def _invoke(self, case: Case, user: Any, channel: Any) -> None:
        emu, cmd = self.emu, case.command
        files = [emu.file(u.filename, u.data, u.content_type) for u in case.uploads]
        if cmd is None:  # a voice message: answered by the voice_messages plugin's listener
            sent = await emu.send_message(channel, user, "", attachments=files, flags=VOICE_MESSAGE_FLAG)
            await emu.wait_for_message(channel=channel, predicate=lambda m: m.reference == sent.id,
                                       timeout=self.answer_timeout)
            return
        if case.surface == "slash":
            if isinstance(cmd, MessageCommand):
                await self._message_command(case, user, channel)
                return
            path = (cmd.parent.name, cmd.name) if cmd.parent else cmd.name
            options = {k: (emu.file(v.filename, v.data, v.content_type) if isinstance(v, Upload) else v)
                       for k, v in case.values.items()}
            inter = await emu.invoke_slash(channel, user, path, options=options)
            await inter.wait_response(timeout=self.answer_timeout)
            return
        words = [f"{self.tb.app.config.bot.prefix}{cmd.qualified_name}"]
        words += [f"{name}={quote(value)}" for name, value in case.values.items()]
        words += [quote(word) for word in case.extra]
        sent = await emu.send_message(channel, user, " ".join(words), attachments=files)
        await emu.wait_for_message(channel=channel, predicate=lambda m: m.reference == sent.id,
                                   timeout=self.answer_timeout)

    async def _message_command(self, case: Case, user: Any, channel: Any) -> None:
        """Right-click a message (the bot's answer to `!hi`) → the command; fill its form if it shows one."""
        assert case.command is not None
        hello = await self.emu.send_message(channel, user, "!hi")
        target = await self.emu.wait_for_message(channel=channel, predicate=lambda m: m.reference == hello.id,
                                                 timeout=self.answer_timeout)
        inter = await self.emu.invoke_message_command(channel, user, case.command.name, target)
        callback = await inter.wait_callback(timeout=self.answer_timeout)
        if callback.get("type") != 9:  # answered without a form
            return
        fields = [c["custom_id"] for row in callback["data"]["components"] for c in row["components"]]
        submitted = await self.emu.submit_modal(inter, {name: case.form_text for name in fields})
        await submitted.wait_response(timeout=self.answer_timeout)

    def _new(self, items: dict[int, Any], mark: str) -> list[Any]:
        """The entries added to one of the emulator's dicts since the last call (newest last); read
        from the end, so each case costs what it added, not what the run has gathered."""
        last = getattr(self, mark)
        found = []
        for key in reversed(items):
            if key == last:
                break
            found.append(items[key])
        if found:
            setattr(self, mark, next(reversed(items)))
        return found[::-1]

    def _check_messages(self) -> list[str]:
        """The bot's messages since the last case; edits of earlier ones are read by :meth:`final_check`."""
        problems = []
        for message in self._new(self.emu.messages, "_last_message"):
            if not message.from_bot:
                continue
            for text in [message.content, *(e.get("content") or "" for e in message.edits)]:
                if GENERIC in text:
                    problems.append(f"answered {text!r}")
                if len(text) > DISCORD_MESSAGE_LIMIT:
                    problems.append(f"sent a message of {len(text)} characters (Discord refuses over "
                                    f"{DISCORD_MESSAGE_LIMIT})")
        return problems

    def _check_logs(self, first: int) -> list[str]:
        problems = []
        checked = self._handler.records[first:]
        for record in checked:
            if record.level >= logging.ERROR:
                problems.append(f"logged {record.logger}: {record.message}")
            elif record.refusal is not None and len(record.refusal) > DISCORD_MESSAGE_LIMIT:
                problems.append(f"a refusal of {len(record.refusal)} characters: {record.refusal[:100]!r}…")
        del self._handler.records[first:first + len(checked)]  # checked: a long run keeps none
        return problems

    async def final_check(self) -> list[str]:
        """After the last case: `!hi` still answered, and no message (or edit) anywhere is generic."""
        hello = await self.emu.send_message(self.tb.channel, self.tb.user, "!hi")
        await self.emu.wait_for_message(channel=self.tb.channel, predicate=lambda m: m.reference == hello.id,
                                        timeout=self.answer_timeout)
        late = [m.content for m in self.emu.messages.values() if m.from_bot
                and any(GENERIC in t for t in [m.content, *(e.get("content") or "" for e in m.edits)])]
        return [f"answered {text!r}" for text in late]


def run_in_loop(loop: asyncio.AbstractEventLoop, coro: Any, timeout: float = 600) -> Any:
    """Run a coroutine on the bot's event loop from another thread (Hypothesis drives cases from a
    worker thread, so the loop keeps serving the bot while a case is generated)."""
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


def summary(problems: Sequence[str], limit: int = 30) -> str:
    shown = "\n".join(f"- {p}" for p in problems[:limit])
    return shown + (f"\n- …and {len(problems) - limit} more" if len(problems) > limit else "")


# ---------------------------------------------------------------------------------------------- strategies
# What Hypothesis draws: hostile text, numbers at and past every bound, values of the wrong type,
# missing and surplus options, and attachments that are empty, huge, truncated, mislabelled or nested.

REPEATED = ("x", "[", '{"a":', "é", "\u202e", "\x00", "`", "@everyone ", "<@1>", "\n", "../", "한", "\\")
BIG = b"x" * (5 * 1024 * 1024 + 1)
"""Just over the 5 MB the training and evaluation plugins accept."""


def long_wav(hours: float) -> bytes:
    """A small file holding long audio: 100 Hz, 8-bit samples (3.6 MB for ten hours)."""
    return wav_bytes(hours * 3600, rate=100, width=1)


TEN_HOURS = long_wav(10)


def texts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(HOSTILE_NAMES + SPECIAL_TEXT),
        st.sampled_from(KNOWN_TEXT),
        st.text(max_size=40),
        st.text(st.sampled_from('[]{}":,0123456789-.eE \\ntruefalsn'), max_size=300),
        st.builds(operator.mul, st.sampled_from(REPEATED), st.integers(50, 3000)),
        st.integers(-(2**80), 2**80).map(str),
        st.lists(st.sampled_from(SPECIAL_TEXT + HOSTILE_NAMES[:8]), min_size=2, max_size=5).map(" ".join),
    )


def uploads() -> st.SearchStrategy[Upload]:
    samples = list(SAMPLE_FILES.values())
    data = st.one_of(
        st.sampled_from(samples),
        st.just(b""),
        st.binary(max_size=512),
        st.tuples(st.sampled_from(samples), st.floats(0, 1)).map(lambda t: t[0][: int(len(t[0]) * t[1])]),
        st.integers(33, 1 << 20).map(lambda n: b"[" * n),
        st.integers(1, 200).map(lambda n: b'{"text": "x", "label": "positive", "n": ' * n),
        st.sampled_from([BIG, TEN_HOURS]),
    )
    names = st.one_of(st.sampled_from([*SAMPLE_FILES, "voice.ogg", "archive.zip", "noext", "DATA.JSON", "a.b.csv"]),
                      st.from_regex(r"[A-Za-z0-9_.-]{1,60}", fullmatch=True))
    kinds = st.sampled_from([None, "application/json", "text/plain", "text/csv", "audio/ogg", "audio/wav",
                             "application/octet-stream", "image/png"])
    return st.builds(Upload, names, data, kinds)


def _slash_value(fuzzer: Fuzzer, opt: Option) -> st.SearchStrategy[Any]:
    tb = fuzzer.tb
    if opt.type is OptionType.STRING:
        return st.one_of(st.sampled_from(list(opt.choices)), texts()) if opt.choices else texts()
    if opt.type is OptionType.INTEGER:
        return st.one_of(st.integers(-3, 60), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=10),
                         st.booleans())
    if opt.type is OptionType.NUMBER:
        return st.one_of(st.floats(), st.integers(-(2**70), 2**70), st.text(max_size=10))
    if opt.type is OptionType.BOOLEAN:
        return st.one_of(st.booleans(), st.integers(-1, 2), st.text(max_size=5))
    if opt.type is OptionType.USER:  # the emulator resolves users, channels and roles it knows
        return st.sampled_from([tb.owner, tb.user])
    if opt.type is OptionType.CHANNEL:
        return st.sampled_from([tb.channel, tb.voice_channel])
    if opt.type is OptionType.ROLE:
        return st.just(fuzzer.role)
    return uploads()


def _prefix_value(fuzzer: Fuzzer, opt: Option) -> st.SearchStrategy[str]:
    tb = fuzzer.tb
    mentions = [f"<@{tb.owner.id}>", f"<@!{tb.user.id}>", f"<#{tb.channel.id}>", f"<@&{fuzzer.role.id}>",
                str(tb.owner.id), "<@1>", f"<@{2**64}>", "<@" + "9" * 30 + ">"]
    common = [texts()]
    if opt.choices:
        common.append(st.sampled_from([str(c) for c in opt.choices]))
    if opt.type in (OptionType.INTEGER, OptionType.NUMBER):
        common += [st.integers(-(2**70), 2**70).map(str), st.floats().map(str)]
    elif opt.type is OptionType.BOOLEAN:
        common.append(st.sampled_from(["true", "false", "yes", "no", "maybe", "2"]))
    elif opt.type in (OptionType.USER, OptionType.CHANNEL, OptionType.ROLE):
        common.append(st.sampled_from(mentions))
    return st.one_of(*common)


def case_strategy(fuzzer: Fuzzer, command: Command | None, surface: str) -> st.SearchStrategy[Case]:
    """Cases for one command on one surface: each option given or left out (a required one
    usually given), values of its type or not, surplus words and files on the prefix surface."""

    @st.composite
    def build(draw: Callable[[st.SearchStrategy[Any]], Any]) -> Case:
        values: dict[str, Any] = {}
        files: list[Upload] = []
        for opt in command.options if command else ():
            roll = draw(st.integers(0, 7))
            if roll == 0 or (not opt.required and roll < 4):  # left out: a required one 1 time in 8
                continue
            if surface == "slash":
                values[opt.name] = draw(_slash_value(fuzzer, opt))
            elif opt.type is OptionType.ATTACHMENT:
                files.append(draw(uploads()))
            else:
                values[opt.name] = draw(_prefix_value(fuzzer, opt))
        if command is None:
            files = draw(st.lists(uploads(), min_size=1, max_size=2))
        extra = draw(st.lists(texts(), max_size=2)) if surface == "prefix" else []
        if surface == "prefix" and draw(st.integers(0, 5)) == 0:
            files.append(draw(uploads()))  # a file the command does not take
        form = draw(texts()) if isinstance(command, MessageCommand) else ""
        return Case(command, surface, values, files, extra, as_owner=draw(st.integers(0, 3)) > 0,
                    in_dm=draw(st.integers(0, 5)) == 0 and surface != "message", form_text=form)

    return build()


def targets(tb: BotHarness) -> list[tuple[Command | None, str]]:
    """(command, surface) pairs: every command on both surfaces (message commands on the interaction
    surface only), and voice messages."""
    found: list[tuple[Command | None, str]] = []
    for command in commands_of(tb):
        surfaces = ("slash",) if isinstance(command, MessageCommand) else ("slash", "prefix")
        found += [(command, surface) for surface in surfaces]
    return [*found, (None, "message")]


def fuzz_all(fuzzer: Fuzzer, loop: asyncio.AbstractEventLoop, examples: int, *, derandomize: bool) -> list[str]:
    """Hypothesis over every target, ``examples`` cases each (more while shrinking a failure); runs
    in a worker thread, the cases on ``loop``. Returns one report per target that failed, with the
    smallest failing case Hypothesis found."""
    failures: list[str] = []
    for command, surface in targets(fuzzer.tb):

        @settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
                  suppress_health_check=list(HealthCheck), print_blob=False)
        @given(case_strategy(fuzzer, command, surface))
        def check(case: Case) -> None:
            problems = run_in_loop(loop, fuzzer.run(case))
            assert not problems, f"{case.describe()}: {'; '.join(problems)}"

        try:
            check()
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0][:2000])
    return failures
