"""Engine registries: speech-to-text, text-to-speech, model providers and voice backends.

Plugins fill them through the ``register_*`` hooks; plugins.toml ``[engines]`` picks one of each
by name. Consumers ask the registry (``app.engines.tts.active()``, or for speech-to-text by language
``app.engines.stt.for_language("en")``), never another plugin, so swapping Vosk for Whisper is:
install a plugin, change one line.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from framework.commands import UserError

T = TypeVar("T")


class EngineUnavailable(UserError):
    """The configured engine is not registered (its plugin is missing, disabled or failed)."""


class Registry(Generic[T]):
    def __init__(self, kind: str, setting: str) -> None:
        self.kind = kind
        self.setting = setting
        self.selected: str | None = None
        self._engines: dict[str, T] = {}
        self._owners: dict[str, str] = {}

    def register(self, plugin: str, name: str, engine: T) -> None:
        if name in self._engines:
            raise ValueError(f"{self.kind} {name!r} is already registered by plugin {self._owners[name]!r}")
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
                f"The {self.kind} `{name}` is not available (registered: {known}). "
                f"Check `[engines] {self.setting}` in plugins.toml and that its plugin is installed and enabled."
            ) from None

    def active(self) -> T:
        if self.selected is None:
            raise EngineUnavailable(f"No {self.kind} is configured (`[engines] {self.setting}`).")
        return self.get(self.selected)

    def __contains__(self, name: object) -> bool:
        return name in self._engines


class Engines:
    def __init__(self) -> None:
        from framework.speech_routing import SpeechRegistry  # it builds on Registry, defined above

        self.stt = SpeechRegistry("speech-to-text engine", "stt")
        self.tts: Registry[Any] = Registry("text-to-speech engine", "tts")
        self.providers: Registry[Any] = Registry("model provider", "provider")
        self.voice: Registry[Any] = Registry("voice backend", "voice")

    def by_hook(self) -> dict[str, Registry[Any]]:
        return {
            "register_speech_to_text": self.stt,
            "register_text_to_speech": self.tts,
            "register_model_providers": self.providers,
            "register_voice_backends": self.voice,
        }

    def drop_plugin(self, plugin: str) -> None:
        for registry in self.by_hook().values():
            registry.drop_plugin(plugin)
