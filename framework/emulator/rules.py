"""The strict emulator's rule book: every rule Discord enforces that the emulator enforces too,
by name, so a test can relax exactly one (``emu.relax("message.content_length")``), and the one
way a refusal is answered, the way Discord answers it (status, JSON ``code`` and ``message``, and
for 50035 the nested ``errors`` tree).

Every refusal is counted in :attr:`Rules.refusals`, so a conformance run can assert the bot was
refused nothing. Each rule's checking code names the documentation page it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from framework.emulator.wire import reply


@dataclass
class Refusal:
    """One request the emulator refused because a rule said so."""

    rule: str
    method: str
    path: str
    status: int
    code: int
    message: str


@dataclass
class Rules:
    """Which rules are relaxed, and what was refused. All rules are on unless relaxed."""

    relaxed: set[str] = field(default_factory=set)
    refusals: list[Refusal] = field(default_factory=list)
    rate_limited: int = 0
    """How many 429s the emulator's own rate limiter sent (injected faults are not counted)."""

    def on(self, rule: str) -> bool:
        """Whether ``rule`` (or its family: ``"message"`` covers ``"message.content_length"``) is enforced."""
        parts = rule.split(".")
        return not any(".".join(parts[:i]) in self.relaxed for i in range(1, len(parts) + 1))

    def relax(self, rule: str) -> None:
        """Stop enforcing ``rule`` (a name or a family prefix) for the rest of this emulator's life."""
        self.relaxed.add(rule)

    def refuse(self, request: web.Request | None, rule: str, status: int, code: int, message: str,
               errors: dict[str, Any] | None = None) -> web.Response:
        """Record the refusal and answer it as Discord does."""
        method = request.method if request is not None else "?"
        path = request.path if request is not None else "?"
        self.refusals.append(Refusal(rule, method, path, status, code, message))
        body: dict[str, Any] = {"message": message, "code": code}
        if errors is not None:
            body["errors"] = errors
        return reply(body, status=status)


def field_error(code: str, message: str) -> dict[str, Any]:
    """One leaf of a 50035 ``errors`` tree: ``{"_errors": [{"code": ..., "message": ...}]}``."""
    return {"_errors": [{"code": code, "message": message}]}


def nest(path: list[str | int], leaf: dict[str, Any]) -> dict[str, Any]:
    """Wrap ``leaf`` in the nested keys of ``path`` (``["embeds", 0, "title"]``), as Discord's tree does."""
    tree = leaf
    for key in reversed(path):
        tree = {str(key): tree}
    return tree


def invalid_form(request: web.Request | None, rules: Rules, rule: str, errors: dict[str, Any]) -> web.Response:
    """50035 Invalid Form Body with its ``errors`` tree (the status Discord gives it: 400)."""
    return rules.refuse(request, rule, 400, 50035, "Invalid Form Body", errors)


def missing_permissions(request: web.Request | None, rules: Rules, rule: str) -> web.Response:
    """50013 Missing Permissions (403)."""
    return rules.refuse(request, rule, 403, 50013, "Missing Permissions")
