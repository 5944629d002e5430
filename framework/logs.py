"""Logging set-up. Secrets (the Discord token, API keys) are redacted from every record, so a
traceback or a library's debug line can never leak them."""

from __future__ import annotations

import logging
import os

SECRET_ENV = ("DISCORD_TOKEN", "OPENAI_API_KEY")


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 8]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        redacted = message
        for secret in self.secrets:
            redacted = redacted.replace(secret, "[redacted]")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "[redacted]")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact(text: str, extra: list[str] | None = None) -> str:
    """Remove known secrets from a text that is about to be shown to a user."""
    for secret in [*(os.environ.get(name, "") for name in SECRET_ENV), *(extra or [])]:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "[redacted]")
    return text


def setup_logging(level: str = "INFO", extra_secrets: list[str] | None = None) -> None:
    secrets = [os.environ.get(name, "") for name in SECRET_ENV] + list(extra_secrets or [])
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
