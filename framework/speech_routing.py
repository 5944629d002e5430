"""Which speech-to-text engine hears which language.

``[engines] stt`` is either one engine name (``"vosk"``: that engine hears every language) or a table
from language to engine (``{ en = "whisper", ko = "vosk" }``). With a table, a user's or server's
language picks its engine: the one the table names for it, else the first engine — in the order the
table lists them, then the other registered ones by name — that has a model for that language. So
a language whose model an admin adds later (a Vosk model, a multilingual Whisper) works without
another setting, and a table entry pins a language to one engine when several could hear it.
"""

from __future__ import annotations

from typing import Any

from framework.engines import EngineKind, Registry
from framework.errors import MissingModel


class SpeechRegistry(Registry[Any]):
    """The speech-to-text registry, with routing by language on top of the plain one."""

    def __init__(self, kind: EngineKind) -> None:
        self.routes: dict[str, str] = {}
        """Language -> engine name, from the table form of ``[engines] stt``."""
        self._preferred: str | None = None
        super().__init__(kind)

    @property
    def selected(self) -> str | None:
        """The engine :meth:`active` returns: the one named by the string form of the setting, or
        the first one of the table. Assigning the setting's value (a string or a table) sets the routes."""
        return self._preferred

    @selected.setter
    def selected(self, value: str | dict[str, str] | None) -> None:
        if isinstance(value, dict):
            self.routes = {language.strip().lower(): engine for language, engine in value.items()}
            self._preferred = next(iter(self.routes.values()), None)
        else:
            self.routes = {}
            self._preferred = value

    def preference(self) -> list[str]:
        """Registered engine names in the order they are asked for a language the table does not name."""
        ordered = list(dict.fromkeys(self.routes.values()))
        return [n for n in ordered if n in self] + [n for n in self.names() if n not in ordered]

    def for_language(self, language: str) -> Any:
        """The engine that hears ``language``. The one engine configured, or the engine the table names
        for it, is returned even without a model (its own :class:`MissingModel` says how to get one)."""
        language = language.strip().lower()
        if not self.routes:
            return self.active()
        if language in self.routes:
            return self.get(self.routes[language])
        for name in self.preference():
            if language in self._languages_of(name):
                return self.get(name)
        installed = ", ".join(self.languages()) or "none"
        raise MissingModel(f"No speech model for language `{language}`. Installed: {installed}. "
                           "An admin can add one (see `trainerbot models list`, or the README's speech section).")

    def languages(self) -> list[str]:
        """Every language some engine hears under the current setting."""
        if not self.routes:
            preferred = self._preferred
            return sorted(self._languages_of(preferred)) if preferred is not None and preferred in self else []
        found: set[str] = set()
        for name in self.names():
            for language in self._languages_of(name):
                if self.routes.get(language, name) == name:
                    found.add(language)
        return sorted(found)

    def engine_name(self, language: str) -> str | None:
        """The name of the engine that hears ``language`` (for messages and logs), or ``None``."""
        try:
            engine = self.for_language(language)
        except MissingModel:
            return None
        return next((n for n in self.names() if self.get(n) is engine), None)

    def _languages_of(self, name: str) -> list[str]:
        languages = getattr(self.get(name), "languages", None)
        return [lang.lower() for lang in languages()] if callable(languages) else []
