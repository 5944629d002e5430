"""What users do in the emulated Discord, as the bot sees it through the gateway: post messages,
react, join voice, run slash, autocomplete and message commands, submit modals.

Slash options are typed from the command definition the bot synced, so a test names options as
a user would and gets an ``AssertionError`` for a command or option the bot never declared.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from framework.emulator.gateway import Gateway
from framework.emulator.permissions_calc import channel_permissions
from framework.emulator.state import ALL_PERMISSIONS, Channel, FileSpec, Guild, Interaction, Message, Role, User
from framework.emulator.world import World


class UserActions(World):
    """The driving API for users' actions (a base of :class:`DiscordEmulator`, which sets ``_gateway``)."""

    _gateway: Gateway

    def file(self, filename: str, data: bytes, content_type: str | None = None, *,
             duration_secs: float | None = None) -> FileSpec:
        return FileSpec(filename, data, content_type, duration_secs)

    # -- messages and reactions
    async def send_message(self, channel: Channel, author: User, content: str, *,
                           attachments: Sequence[FileSpec] = (), reference: Message | int | None = None,
                           flags: int = 0) -> Message:
        """A user posts a message: the bot receives MESSAGE_CREATE."""
        ref = reference.id if isinstance(reference, Message) else reference
        message = Message(self._snowflake(), channel.id, channel.guild_id, author, content,
                          [self._store_attachment(a) for a in attachments], flags=flags, reference=ref)
        self.messages[message.id] = message
        self._gateway.dispatch("MESSAGE_CREATE", self.message_payload(message))
        return message

    async def add_reaction(self, message: Message, user: User, emoji: str) -> None:
        message.reactions.append((user.id, emoji))
        data: dict[str, Any] = {"user_id": str(user.id), "channel_id": str(message.channel_id),
                                "message_id": str(message.id), "emoji": {"id": None, "name": emoji},
                                "message_author_id": str(message.author.id), "burst": False, "type": 0}
        if message.guild_id:
            data["guild_id"] = str(message.guild_id)
            data["member"] = self.guilds[message.guild_id].members[user.id].payload()
        self._gateway.dispatch("MESSAGE_REACTION_ADD", data)

    async def remove_reaction(self, message: Message, user: User, emoji: str) -> None:
        """A user takes a reaction back: the bot receives MESSAGE_REACTION_REMOVE."""
        if (user.id, emoji) in message.reactions:
            message.reactions.remove((user.id, emoji))
        data: dict[str, Any] = {"user_id": str(user.id), "channel_id": str(message.channel_id),
                                "message_id": str(message.id), "emoji": {"id": None, "name": emoji},
                                "burst": False, "type": 0}
        if message.guild_id:
            data["guild_id"] = str(message.guild_id)
        self._gateway.dispatch("MESSAGE_REACTION_REMOVE", data)

    # -- voice
    async def set_voice_state(self, guild: Guild, user: User, channel: Channel | None) -> None:
        state = self._voice_state(guild, user, channel, session_id=secrets.token_hex(16))
        self._gateway.dispatch("VOICE_STATE_UPDATE", state)

    async def move_voice_server(self, guild: Guild, endpoint: str) -> None:
        """Discord moves the bot's call to another voice server: VOICE_SERVER_UPDATE with a new token."""
        self._gateway.dispatch("VOICE_SERVER_UPDATE", {"token": secrets.token_hex(8), "guild_id": str(guild.id),
                                                      "endpoint": endpoint})

    # -- interactions
    def _resolve_option(self, value: Any, kind: int, resolved: dict[str, dict[str, Any]],
                        channel: Channel) -> Any:
        """An option's wire value; users, channels, roles and attachments also go into ``resolved``."""
        if kind == 11:
            spec = value if isinstance(value, FileSpec) else FileSpec(*value)
            att = self._store_attachment(spec)
            resolved.setdefault("attachments", {})[str(att.id)] = att.payload()
            return str(att.id)
        if kind == 6:
            user = value if isinstance(value, User) else self.users[int(value)]
            resolved.setdefault("users", {})[str(user.id)] = user.payload()
            guild = self._guild_of(channel)
            if guild and user.id in guild.members:
                resolved.setdefault("members", {})[str(user.id)] = {
                    **guild.members[user.id].payload(with_user=False), "permissions": ALL_PERMISSIONS}
            return str(user.id)
        if kind == 7:
            ch = value if isinstance(value, Channel) else self.channels[int(value)]
            resolved.setdefault("channels", {})[str(ch.id)] = {**ch.payload(), "permissions": ALL_PERMISSIONS}
            return str(ch.id)
        if kind == 8:
            role = value if isinstance(value, Role) else next(
                r for g in self.guilds.values() for r in g.roles if r.id == int(value))
            resolved.setdefault("roles", {})[str(role.id)] = role.payload()
            return str(role.id)
        return value

    def _find_command(self, channel: Channel, name: str, kind: int = 1) -> dict[str, Any]:
        for scope in (channel.guild_id, None):
            for cmd in self.commands.get(scope, []):
                if cmd["name"] == name and cmd.get("type", 1) == kind:
                    return cmd
        known = sorted({c["name"] for cmds in self.commands.values() for c in cmds})
        raise AssertionError(f"no synced command {name!r}; synced: {known}")

    def _interaction(self, channel: Channel, user: User, kind: int, data: dict[str, Any],
                     message: Message | None = None) -> Interaction:
        """Record an interaction and send INTERACTION_CREATE (from a guild member or, in a DM, a user)."""
        inter = Interaction(self._snowflake(), secrets.token_urlsafe(24), channel, user, kind, data, emulator=self,
                            created_at=self.now(), message=message)
        self.interactions[inter.id] = inter
        payload: dict[str, Any] = {
            "id": str(inter.id), "application_id": str(self.application_id), "type": kind, "data": data,
            "channel_id": str(channel.id), "channel": {**channel.payload(), "permissions": ALL_PERMISSIONS},
            "token": inter.token, "version": 1, "app_permissions": ALL_PERMISSIONS, "locale": "en-US",
            "entitlements": [], "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:  # docs: interactions/receiving-and-responding#interaction-object: "message:
            # for components or modals triggered by components, the message they were attached to"
            payload["message"] = self.message_payload(message)
        guild = self._guild_of(channel)
        if guild is not None:  # docs: interactions/receiving-and-responding#interaction-object: the app's
            # permissions in the channel, and the upload limit of the guild (boosts raise it)
            app_permissions = str(channel_permissions(guild, self.bot_user.id, channel))
            payload.update(app_permissions=app_permissions, attachment_size_limit=guild.upload_limit)
        if guild is not None:
            payload.update(guild_id=str(guild.id), guild_locale="en-US", context=0,
                           authorizing_integration_owners={"0": str(guild.id)},
                           member={**guild.members[user.id].payload(), "permissions": ALL_PERMISSIONS})
        else:
            payload.update(user=user.payload(), context=1, authorizing_integration_owners={"1": str(user.id)})
        self._gateway.dispatch("INTERACTION_CREATE", payload)
        return inter

    async def invoke_slash(self, channel: Channel, user: User, name: str | tuple[str, ...],
                           options: dict[str, Any] | None = None) -> Interaction:
        """A user runs a slash command; ``name`` may be ``("group", "sub")``. Option types come from
        the synced definition; attachments are ``emu.file(...)`` objects."""
        path = (name,) if isinstance(name, str) else tuple(p for p in name if p)
        cmd = self._find_command(channel, path[0])
        declared = cmd.get("options", [])
        for part in path[1:]:
            sub = next((o for o in declared if o["name"] == part and o["type"] in (1, 2)), None)
            if sub is None:
                raise AssertionError(f"command {path[0]!r} has no subcommand {part!r}")
            declared = sub.get("options", [])
        resolved: dict[str, dict[str, Any]] = {}
        opts = []
        for key, value in (options or {}).items():
            spec = next((o for o in declared if o["name"] == key), None)
            if spec is None:
                raise AssertionError(f"/{' '.join(path)} has no option {key!r}")
            opts.append({"name": key, "type": spec["type"],
                         "value": self._resolve_option(value, spec["type"], resolved, channel)})
        for part in reversed(path[1:]):
            opts = [{"name": part, "type": 1, "options": opts}]
        data: dict[str, Any] = {"id": cmd["id"], "name": path[0], "type": 1, "options": opts}
        if resolved:
            data["resolved"] = resolved
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return self._interaction(channel, user, 2, data)

    async def invoke_autocomplete(self, channel: Channel, user: User, name: str | tuple[str, ...], focused: str,
                                  value: str, options: dict[str, Any] | None = None) -> Interaction:
        path = (name,) if isinstance(name, str) else tuple(name)
        cmd = self._find_command(channel, path[0])
        declared = cmd.get("options", [])
        for part in path[1:]:
            declared = next(o for o in declared if o["name"] == part).get("options", [])
        opts = [{"name": k, "type": next(o["type"] for o in declared if o["name"] == k), "value": v}
                for k, v in (options or {}).items()]
        opts.append({"name": focused, "type": next(o["type"] for o in declared if o["name"] == focused),
                     "value": value, "focused": True})
        for part in reversed(path[1:]):
            opts = [{"name": part, "type": 1, "options": opts}]
        return self._interaction(channel, user, 4, {"id": cmd["id"], "name": path[0], "type": 1, "options": opts})

    async def invoke_message_command(self, channel: Channel, user: User, name: str, target: Message) -> Interaction:
        cmd = self._find_command(channel, name, kind=3)
        data = {"id": cmd["id"], "name": name, "type": 3, "target_id": str(target.id),
                "resolved": {"messages": {str(target.id): self.message_payload(target)}}}
        return self._interaction(channel, user, 2, data)

    async def submit_modal(self, inter: Interaction, values: dict[str, str],
                           custom_id: str | None = None) -> Interaction:
        modal = next((c for c in inter.callbacks if c.get("type") == 9), None)
        if modal is None:
            raise AssertionError("the bot answered that interaction without a modal")
        # Discord numbers every component of the form (rows and inputs): hikari requires the ids.
        rows = [{"type": 1, "id": 2 * i + 1, "components": [{"type": 4, "id": 2 * i + 2, "custom_id": k, "value": v}]}
                for i, (k, v) in enumerate(values.items())]
        data = {"custom_id": custom_id or modal["data"]["custom_id"], "components": rows}
        return self._interaction(inter.channel, inter.user, 5, data, message=inter.message)

    async def click_button(self, message: Message, user: User, custom_id: str) -> Interaction:
        """A user presses the button ``custom_id`` of a message (a MESSAGE_COMPONENT interaction, type 3)."""
        buttons = [c["custom_id"] for row in message.components for c in row.get("components") or []
                   if c.get("type") == 2 and c.get("custom_id")]
        if custom_id not in buttons:
            raise AssertionError(f"no button {custom_id!r} on that message; buttons: {buttons}")
        channel = self.channels[message.channel_id]
        return self._interaction(channel, user, 3, {"custom_id": custom_id, "component_type": 2}, message=message)
