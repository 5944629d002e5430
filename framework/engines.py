"""Engine registries: speech-to-text, text-to-speech, model providers and voice backends.

Plugins fill them through the ``register_*`` hooks; plugins.toml ``[engines]`` picks one of each
by name. Consumers ask the registry (``app.engines.tts.active()``, or for speech-to-text by language
``app.engines.stt.for_language("en")``, see ``framework.speech_routing``), never another plugin, so
swapping Vosk for Whisper is: install a plugin, change one line.

Every kind of engine is one row of :data:`KINDS`: its registry attribute, its registration hook,
its ``[engines]`` setting and the protocol an engine must follow. An engine is checked against
its protocol when it registers, so a mismatch disables its plugin with the reason at start-up
instead of failing (or being silently skipped) at the first call.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from framework.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from framework.config import Config
    from framework.speech_routing import SpeechRegistry

T = TypeVar("T")


class EngineUnavailable(UserError):
    """The configured engine is not registered (its plugin is missing, disabled or failed)."""


class EngineMismatch(TypeError):
    """An engine does not follow its kind's protocol; the message names what is missing."""


@dataclasses.dataclass(frozen=True)
class EngineKind:
    attr: str
    """Attribute of :class:`Engines` (``app.engines.stt``)."""
    hook: str
    """The registration hook in ``framework/hookspecs.py``."""
    noun: str
    """How messages name it."""
    setting: str
    """The key in ``[engines]`` that picks the active one."""
    protocol: str
    """``module:Class`` of the protocol (imported when first checked, to keep start-up light)."""


KINDS: tuple[EngineKind, ...] = (
    EngineKind("stt", "register_speech_to_text", "speech-to-text engine", "stt", "framework.speech:SpeechToText"),
    EngineKind("tts", "register_text_to_speech", "text-to-speech engine", "tts", "framework.speech:TextToSpeech"),
    EngineKind("providers", "register_model_providers", "model provider", "provider",
               "framework.providers:ModelProvider"),
    EngineKind("voice", "register_voice_backends", "voice backend", "voice", "framework.voice:VoiceBackend"),
)


def _protocol(kind: EngineKind) -> type:
    module, _, name = kind.protocol.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def protocol_members(protocol: type) -> tuple[dict[str, inspect.Signature], list[str]]:
    """The protocol's methods with their signatures, and its data attributes."""
    methods: dict[str, inspect.Signature] = {}
    for name, value in vars(protocol).items():
        if not name.startswith("_") and inspect.isfunction(value):
            methods[name] = inspect.signature(value)
    attributes = [a for a in getattr(protocol, "__annotations__", {}) if not a.startswith("_") and a not in methods]
    return methods, attributes


def _accepts(expected: inspect.Signature, actual: inspect.Signature) -> str | None:
    """Why a method with signature ``actual`` cannot be called as ``expected`` is, or None."""
    wanted = [p for p in expected.parameters.values() if p.name != "self"]
    have = list(actual.parameters.values())
    var_kw = any(p.kind is p.VAR_KEYWORD for p in have)
    var_pos = any(p.kind is p.VAR_POSITIONAL for p in have)
    positional = [p for p in have if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    by_name = {p.name: p for p in have if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    used: set[str] = set()
    index = 0
    for param in wanted:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            if index < len(positional):
                used.add(positional[index].name)
                index += 1
                continue
            if not var_pos:
                return f"takes too few positional arguments (no place for `{param.name}`)"
            continue
        if param.name in by_name:
            used.add(param.name)
        elif not var_kw:
            return f"does not accept the keyword argument `{param.name}`"
    missing = [p.name for p in have if p.name not in used and p.default is p.empty
               and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if missing:
        return f"requires `{missing[0]}`, which callers do not pass"
    return None


def check_engine(kind: EngineKind, engine: Any) -> None:
    """Raise :class:`EngineMismatch` if ``engine`` does not follow ``kind``'s protocol."""
    protocol = _protocol(kind)
    methods, attributes = protocol_members(protocol)
    where = f"{kind.noun} {type(engine).__name__} does not follow {protocol.__name__}"
    for attribute in attributes:
        if not hasattr(engine, attribute) and not hasattr(protocol, attribute):  # one with a default is optional
            raise EngineMismatch(f"{where}: it has no `{attribute}`")
    for name, expected in methods.items():
        method = getattr(engine, name, None)
        if not callable(method):
            raise EngineMismatch(f"{where}: it has no method `{name}`")
        try:
            actual = inspect.signature(method)
        except (TypeError, ValueError):  # a builtin without a signature: nothing to check
            continue
        why = _accepts(expected, actual)
        if why:
            raise EngineMismatch(f"{where}: `{name}` {why}")


class Registry(Generic[T]):
    def __init__(self, kind: EngineKind) -> None:
        self.kind = kind
        self.selected: str | None = None
        self._engines: dict[str, T] = {}
        self._owners: dict[str, str] = {}

    def register(self, plugin: str, name: str, engine: T) -> None:
        if name in self._engines:
            raise ValueError(f"{self.kind.noun} {name!r} is already registered by plugin {self._owners[name]!r}")
        self._engines[name] = engine
        self._owners[name] = plugin

    def drop_plugin(self, plugin: str) -> None:
        for name in [n for n, p in self._owners.items() if p == plugin]:
            del self._engines[name], self._owners[name]

    def names(self) -> list[str]:
        return sorted(self._engines)

    def owner(self, name: str) -> str | None:
        return self._owners.get(name)

    def get(self, name: str) -> T:
        try:
            return self._engines[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise EngineUnavailable(
                f"The {self.kind.noun} `{name}` is not available (registered: {known}). "
                f"Check `[engines] {self.kind.setting}` in plugins.toml and that its plugin is installed and enabled."
            ) from None

    def active(self) -> T:
        if self.selected is None:
            raise EngineUnavailable(f"No {self.kind.noun} is configured (`[engines] {self.kind.setting}`).")
        return self.get(self.selected)

    def __contains__(self, name: object) -> bool:
        return name in self._engines


class Engines:
    """One registry per row of :data:`KINDS`, as attributes (``stt``, ``tts``, ``providers``, ``voice``)."""

    stt: SpeechRegistry
    tts: Registry[Any]
    providers: Registry[Any]
    voice: Registry[Any]

    def __init__(self) -> None:
        from framework.speech_routing import SpeechRegistry  # it builds on Registry, defined above

        for kind in KINDS:
            setattr(self, kind.attr, (SpeechRegistry if kind.attr == "stt" else Registry)(kind))

    def by_hook(self) -> dict[str, Registry[Any]]:
        return {kind.hook: getattr(self, kind.attr) for kind in KINDS}

    def select(self, config: Config) -> None:
        """Pick each kind's active engine from ``[engines]`` in plugins.toml."""
        for kind in KINDS:
            getattr(self, kind.attr).selected = config.engine(kind.setting)

    def drop_plugin(self, plugin: str) -> None:
        for registry in self.by_hook().values():
            registry.drop_plugin(plugin)
