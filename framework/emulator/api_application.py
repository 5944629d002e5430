"""REST resources about the bot itself: the gateway URL, users and DMs, the application and its
application commands (global and per guild), as the bot's startup and command sync use them.
"""

from __future__ import annotations

from typing import Any, cast

from aiohttp import web

from framework.emulator.command_rules import Problem, bulk_problems
from framework.emulator.rules import field_error, invalid_form
from framework.emulator.wire import DIGITS, Route, empty, not_found, read_body, reply
from framework.emulator.world import World, application_flags


def _errors(problems: list[Problem]) -> dict[str, Any]:
    """The 50035 ``errors`` tree of ``problems``: each where it is, several at one place together."""
    tree: dict[str, Any] = {}
    for problem in problems:
        node = tree
        for key in problem.path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).extend(field_error(problem.code, problem.message)["_errors"])
    return tree


class ApplicationApi:
    """``/gateway``, ``/users``, ``/applications`` (commands included)."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        d = DIGITS
        return [
            ("GET", "/gateway/bot", self._get_gateway),
            ("GET", "/gateway", self._get_gateway),
            ("GET", "/users/@me", lambda r: reply(self.world.bot_user.payload())),
            ("GET", f"/users/{d}", self._get_user),
            ("POST", "/users/@me/channels", self._create_dm),
            ("GET", "/oauth2/applications/@me", self._get_application),
            ("GET", "/applications/@me", self._get_application),
            ("GET", f"/applications/{d}/commands", lambda r, a: self._list_commands(None)),
            ("PUT", f"/applications/{d}/commands", lambda r, a: self._put_commands(r, None)),
            ("POST", f"/applications/{d}/commands", lambda r, a: self._post_command(r, None)),
            ("GET", f"/applications/{d}/guilds/{d}/commands", lambda r, a, g: self._list_commands(int(g))),
            ("PUT", f"/applications/{d}/guilds/{d}/commands", lambda r, a, g: self._put_commands(r, int(g))),
            ("POST", f"/applications/{d}/guilds/{d}/commands", lambda r, a, g: self._post_command(r, int(g))),
            ("DELETE", f"/applications/{d}/commands/{d}", lambda r, a, c: self._delete_command(None, int(c))),
            ("DELETE", f"/applications/{d}/guilds/{d}/commands/{d}",
             lambda r, a, g, c: self._delete_command(int(g), int(c))),
        ]

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return reply({"url": self.world.gateway_url, "shards": self.world.recommended_shards,
                      "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0,
                                              "max_concurrency": self.world.max_concurrency}})

    async def _get_user(self, request: web.Request, uid: str) -> web.Response:
        user = self.world.users.get(int(uid))
        return reply(user.payload()) if user else not_found("User")

    async def _create_dm(self, request: web.Request) -> web.Response:
        body, _ = await read_body(request)
        user = self.world.users.get(int(body["recipient_id"]))
        return reply(self.world.create_dm(user).payload()) if user else not_found("User")

    async def _get_application(self, request: web.Request) -> web.Response:
        """The application as Discord describes it (docs: resources/application#application-object): a bot
        installed to servers (``integration_types_config`` {"0": …}, so lightbulb sends its commands'
        ``integration_types`` as ``[0]``, never ``[]``), with its enabled privileged intents in ``flags``."""
        world = self.world
        flags = application_flags(world.privileged_intents)
        install = {"scopes": ["applications.commands", "bot"], "permissions": "0"}
        return reply({
            "id": str(world.application_id), "name": world.bot_user.username, "icon": None, "description": "",
            "rpc_origins": [], "bot_public": True, "bot_require_code_grant": False, "verify_key": "0" * 64,
            "owner": world.application_owner.payload(), "team": None, "flags": flags, "summary": "",
            "approximate_guild_count": len(world.guilds), "approximate_user_install_count": 0,
            "install_params": install, "integration_types_config": {"0": {"oauth2_install_params": install}},
            "redirect_uris": [], "interactions_endpoint_url": None, "tags": [], "bot": world.bot_user.payload()})

    def _refused(self, request: web.Request, problems: list[Problem]) -> web.Response | None:
        """50035 with the errors tree of the problems whose rule is on (``command_rules.py``), or None."""
        enforced = [p for p in problems if self.world.rules.on(p.rule)]
        if not enforced:
            return None
        return invalid_form(request, self.world.rules, enforced[0].rule, _errors(enforced))

    # -- application commands: ``guild`` None is the global scope
    def _list_commands(self, guild: int | None) -> web.Response:
        return reply(self.world.commands.get(guild, []))

    def _command(self, data: dict[str, Any], guild: int | None, existing: dict[str, Any] | None) -> dict[str, Any]:
        """A command as Discord stores it; an overwritten command keeps its id, with a new version."""
        world = self.world
        cmd = {"type": 1, "description": "", "options": [], "default_member_permissions": None, "nsfw": False,
               **data, "id": existing["id"] if existing else str(world._snowflake()),
               "application_id": str(world.application_id), "version": str(world._snowflake())}
        if guild is not None:
            cmd["guild_id"] = str(guild)
        return cmd

    async def _put_commands(self, request: web.Request, guild: int | None) -> web.Response:
        body, _ = await read_body(request)
        wanted = cast(list[dict[str, Any]], body)  # a bulk overwrite sends the whole list of commands
        # docs: interactions/application-commands#bulk-overwrite-global-application-commands: the list
        # replaces every command; one invalid command fails the request, and nothing is registered
        if refused := self._refused(request, bulk_problems(wanted)):
            return refused
        commands = self.world.commands
        old = {(c["name"], c.get("type", 1)): c for c in commands.get(guild, [])}
        commands[guild] = [self._command(c, guild, old.get((c["name"], c.get("type", 1)))) for c in wanted]
        return reply(commands[guild])

    async def _post_command(self, request: web.Request, guild: int | None) -> web.Response:
        body, _ = await read_body(request)
        commands = self.world.commands
        if refused := self._refused(request, bulk_problems([body], commands.get(guild, []))):
            return refused
        key = (body["name"], body.get("type", 1))
        existing = [c for c in commands.get(guild, []) if (c["name"], c.get("type", 1)) != key]
        cmd = self._command(body, guild, None)
        commands[guild] = [*existing, cmd]
        return reply(cmd, 201)

    def _delete_command(self, guild: int | None, cid: int) -> web.Response:
        commands = self.world.commands
        commands[guild] = [c for c in commands.get(guild, []) if int(c["id"]) != cid]
        return empty()
