"""Who may run restricted commands.

A command names a permission group (``permission="files"``). Owners — the application's owner
or team members, plus ``[permissions] owners`` — always pass. Others pass when they hold a role
(by name or id) or are listed as a user in ``[permissions.groups.NAME]``. A group that
plugins.toml does not define is owner-only: restricted features are closed by default.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import hikari

from framework.errors import CheckFailure

if TYPE_CHECKING:  # pragma: no cover
    from framework.commands import Context
    from framework.config import PermissionSettings

log = logging.getLogger(__name__)


class Permissions:
    def __init__(self, settings: PermissionSettings) -> None:
        self.settings = settings
        self.owner_ids: set[int] = set(settings.owners)

    async def load_owners(self, rest: hikari.api.RESTClient) -> None:
        """Add the application's owner (or team members) to the owners."""
        try:
            application = await rest.fetch_application()
        except hikari.HikariError:
            log.warning("could not fetch the application to learn its owner", exc_info=True)
            return
        if application.team is not None:
            self.owner_ids.update(int(m) for m in application.team.members)
        elif application.owner is not None:
            self.owner_ids.add(int(application.owner.id))

    def is_owner(self, user_id: int) -> bool:
        return int(user_id) in self.owner_ids

    def allows(self, group: str, user_id: int, roles: list[hikari.Role]) -> bool:
        if self.is_owner(user_id):
            return True
        spec = self.settings.groups.get(group)
        if spec is None:
            return False
        if int(user_id) in spec.users:
            return True
        wanted = {str(r).lower() for r in spec.roles}
        return any(str(r.id) in wanted or r.name.lower() in wanted for r in roles)

    async def holds(self, ctx: Context, group: str) -> bool:
        """Whether the caller belongs to a permission group (for features that show more to
        members, such as everyone's corrections); :meth:`require` is the refusing form."""
        roles: list[hikari.Role] = []
        if ctx.member is not None:
            roles = list(ctx.member.get_roles()) if hasattr(ctx.member, "get_roles") else []
            if not roles and ctx.member.role_ids and ctx.guild_id is not None:
                fetched = {r.id: r for r in await ctx.app.bot.rest.fetch_roles(ctx.guild_id)}
                roles = [fetched[r] for r in ctx.member.role_ids if r in fetched]
        return self.allows(group, ctx.author.id, roles)

    async def require(self, ctx: Context, group: str) -> None:
        if not await self.holds(ctx, group):
            log.warning("permission %r refused to user %s for %s", group, ctx.author.id, ctx.command.qualified_name)
            spec = self.settings.groups.get(group)
            who = ", ".join(str(r) for r in spec.roles) if spec and spec.roles else None
            raise CheckFailure(
                f"You don't have permission to use `{ctx.command.qualified_name}`"
                + (f": it needs one of the roles {who}." if who else ": it is limited to the bot's owners."))

    def require_owner(self, ctx: Context) -> None:
        if not self.is_owner(ctx.author.id):
            log.warning("owner-only %s refused to user %s", ctx.command.qualified_name, ctx.author.id)
            raise CheckFailure(f"`{ctx.command.qualified_name}` is limited to the bot's owners.")
