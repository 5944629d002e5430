"""The sandbox page's HTTP server (aiohttp, 127.0.0.1 only): the static page, a small JSON API that
acts as the chosen user in the emulator, the attachments' bytes and the live socket (``live.py``).

    GET  /                       the page (static/index.html, app.js, style.css)
    GET  /api/state              server, channels, members, the bot, commands, messages, voice members
    GET  /api/commands           the commands the bot synced (they change when a plugin is switched)
    POST /api/send               multipart: user, channel, content, reply_to, voice, files → message or slash
    POST /api/autocomplete       {user, channel, line, option} → the bot's choices for the focused option
    POST /api/react              {user, message, emoji} → add (or take back) a reaction
    POST /api/menu               {user, message, name} → run a message command; its form, if it opened one
    POST /api/modal              {user, interaction, values} → submit the form
    POST /api/voice              {user, join} → join or leave the voice channel
    GET  /attachments/{id}/{n}   an attachment's bytes
    GET  /ws                     live events

Only the page itself may call it: another Host (DNS rebinding) or a cross-site Origin gets 403.
"""

from __future__ import annotations

import logging
import mimetypes
from importlib import resources
from typing import Any

from aiohttp import web

from framework.emulator import FileSpec
from framework.sandbox_input import Control, Menu, Problem, React, Say, Slash, parse
from framework.sandbox_session import SandboxError
from framework.sandbox_web import slash
from framework.sandbox_web.live import Live
from framework.sandbox_web.views import commands_view, message_view, modal_view

log = logging.getLogger(__name__)

VOICE_MESSAGE = 1 << 13
STATIC = {"index.html": "text/html", "app.js": "text/javascript", "suggest.js": "text/javascript",
          "voice.js": "text/javascript", "style.css": "text/css"}
MAX_UPLOAD = 64 * 1024 * 1024


def _static(name: str) -> bytes:
    return resources.files("framework.sandbox_web").joinpath("static", name).read_bytes()


class SandboxWeb:
    """The page's server for one running :class:`framework.sandbox_session.SandboxSession`."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.emu = session.emu
        self.live = Live(session)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def start(self, port: int = 0) -> None:
        app = web.Application(client_max_size=MAX_UPLOAD, middlewares=[self._errors])
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._file)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/commands", self._commands)
        app.router.add_post("/api/send", self._send)
        app.router.add_post("/api/autocomplete", self._autocomplete)
        app.router.add_post("/api/react", self._react)
        app.router.add_post("/api/menu", self._menu)
        app.router.add_post("/api/modal", self._modal)
        app.router.add_post("/api/voice", self._voice)
        app.router.add_get("/attachments/{id}/{name}", self._attachment)
        app.router.add_get("/ws", self.live.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.live.start()

    async def stop(self) -> None:
        await self.live.stop()
        if self._runner is not None:
            await self._runner.cleanup()

    def _same_origin(self, request: web.Request) -> bool:
        """Only this page may use the API: the Host is ours (no DNS rebinding) and a cross-site
        Origin is refused (another site open in the browser cannot act as you)."""
        ours = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        if request.host not in ours:
            return False
        origin = request.headers.get("Origin")
        return origin is None or origin.removeprefix("http://") in ours

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """A user's mistake is ``{"error": "…"}`` with 400, for the page to show; the rest is logged."""
        if not self._same_origin(request):
            return web.json_response({"error": "only the sandbox's own page may use it"}, status=403)
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except web.HTTPException:
            raise
        except (ValueError, KeyError) as exc:
            text = str(exc) if isinstance(exc, ValueError) else f"unknown {exc}"
            return web.json_response({"error": text}, status=400)
        except AssertionError as exc:  # the emulator refuses what Discord would
            log.info("sandbox page: %s", exc)
            return web.json_response({"error": str(exc).split(";")[0]}, status=400)

    # -- the page
    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(body=_static("index.html"), content_type="text/html", charset="utf-8")

    async def _file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return web.Response(body=_static(name), content_type=STATIC[name], charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    async def _attachment(self, request: web.Request) -> web.Response:
        att = self.emu.attachments.get(int(request.match_info["id"])) if request.match_info["id"].isdigit() else None
        if att is None or att.filename != request.match_info["name"]:
            raise web.HTTPNotFound()
        kind = att.content_type or mimetypes.guess_type(att.filename)[0] or "application/octet-stream"
        disposition = "inline" if kind.startswith(("image/", "audio/")) else "attachment"
        return web.Response(body=att.data, headers={  # the type as the bot gave it (it may carry a charset)
            "Content-Type": kind, "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'{disposition}; filename="{att.filename.replace(chr(34), "")}"'})

    async def _state(self, request: web.Request) -> web.Response:
        s = self.session
        owners = s.app.permissions.owner_ids | {self.emu.application_owner.id}
        members = [{"id": str(u.id), "name": u.username, "bot": u.bot, "owner": u.id in owners,
                    "you": u.id in {x.id for x in s.users.values()}}
                   for u in (m.user for m in s.guild.members.values())]
        channels = {c.id for c in s.guild.channels}
        messages = [message_view(self.emu, m) for m in list(self.emu.messages.values())
                    if m.channel_id in channels and not m.deleted]
        return web.json_response({
            "guild": {"id": str(s.guild.id), "name": s.guild.name},
            "channels": [{"id": str(c.id), "name": c.name, "kind": c.kind} for c in s.guild.channels],
            "text": str(s.text.id), "voice": str(s.voice.id), "me": str(s.me.id),
            "bot": {"id": str(self.emu.bot_user.id), "name": self.emu.bot_user.username},
            "members": members, "commands": commands_view(self.emu, s.guild), "messages": messages,
            "voice_members": self.live.voice_members(),
        })

    async def _commands(self, request: web.Request) -> web.Response:
        return web.json_response(commands_view(self.emu, self.session.guild))

    # -- acting as a user
    def _user(self, value: Any) -> Any:
        user = self.emu.users.get(int(value)) if str(value).isdigit() else None
        if user is None or user.bot or user.id not in self.session.guild.members:
            raise ValueError("choose one of the server's members")
        return user

    def _channel(self, value: Any) -> Any:
        channel = self.emu.channels.get(int(value)) if str(value).isdigit() else None
        if channel is None or channel.kind != "text" or channel.guild_id != self.session.guild.id:
            raise ValueError("choose a text channel of the server")
        return channel

    def _message(self, value: Any) -> Any:
        message = self.emu.messages.get(int(value)) if str(value).isdigit() else None
        if message is None or message.deleted:
            raise ValueError(f"no message {value}")
        return message

    async def _send(self, request: web.Request) -> web.Response:
        """A line typed in the page, read by the shared parser (``sandbox_input``), with the files
        dropped on the page; or a recorded voice message."""
        form = await request.post()
        user, channel = self._user(form.get("user")), self._channel(form.get("channel"))
        content = str(form.get("content") or "").strip()
        voice = str(form.get("voice") or "") == "1"
        files = [FileSpec(f.filename, f.file.read(), f.content_type or mimetypes.guess_type(f.filename)[0],
                          float(str(form.get("duration") or 1)) if voice else None)
                 for f in form.getall("files", []) if isinstance(f, web.FileField)]
        reply_to = str(form.get("reply_to") or "")
        catalog = self.session.catalog()
        if voice or (files and not content):
            action: Any = Say(content, [], None)
        elif content.startswith("/"):
            action = parse(slash.with_uploads(catalog, content, len(files)), catalog)
        else:
            action = parse(content, catalog)
        if isinstance(action, Problem):
            raise ValueError(action.text)
        if isinstance(action, Say):
            if action.files:
                raise ValueError("drop files on the page (or use +) to attach them")
            ref = reply_to or action.reply_to
            reference = self.session.resolve(ref) if ref else None
            sent = await self.emu.send_message(channel, user, action.text, attachments=files, reference=reference,
                                               flags=VOICE_MESSAGE if voice else 0)
            self.live.touch()
            return web.json_response({"message": str(sent.id)})
        if isinstance(action, Slash):
            options = slash.resolve_uploads(action, files)
            used = sum(1 for v in options.values() if isinstance(v, FileSpec))
            if used < len(files):
                raise ValueError(f"/{' '.join(action.path)} takes {used or 'no'} file{'' if used == 1 else 's'}")
            inter = await self.emu.invoke_slash(channel, user, action.path, options=options)
            self.live.touch()
            return web.json_response({"interaction": str(inter.id)})
        if isinstance(action, Control):
            return await self._control(action)
        return await self._perform(action, user)

    async def _control(self, action: Control) -> web.Response:
        if action.verb == "as":
            user = self.session.users.get(action.arg.strip().lstrip("@"))
            if user is None:
                raise ValueError(f"no user {action.arg!r}; there are: {', '.join(self.session.users)}")
            return web.json_response({"as": str(user.id)})
        if action.verb == "users":
            return web.json_response({"note": "users: " + ", ".join(self.session.users)})
        raise ValueError(f"/{action.verb} belongs to the terminal sandbox: here, use the page (close the tab "
                         "to leave; Ctrl-C where `trainerbot sandbox` runs stops it)")

    async def _perform(self, action: Any, user: Any) -> web.Response:
        """A reaction or a message-menu command, done by the session as ``user``; a menu's form, if any."""
        try:
            outcome = await self.session.perform(action, user)
        except SandboxError as exc:
            raise ValueError(str(exc)) from None
        self.live.touch()
        if outcome.interaction is None:
            return web.json_response({"note": outcome.note})
        callback = await outcome.interaction.wait_callback(timeout=15)
        if callback.get("type") == 9:
            return web.json_response({"modal": modal_view(outcome.interaction.id, callback)})
        return web.json_response({"interaction": str(outcome.interaction.id)})

    async def _autocomplete(self, request: web.Request) -> web.Response:
        body = await request.json()
        user, channel = self._user(body.get("user")), self._channel(body.get("channel"))
        path, raw, declared = slash.walk(self.session.catalog(), str(body.get("line", "")))
        focused = str(body.get("option", ""))
        if not any(o["name"] == focused and o.get("autocomplete") for o in declared):
            return web.json_response({"choices": []})
        value = raw.pop(focused, "")
        typed = {k: v for k, v in raw.items() if any(o["name"] == k for o in declared)}
        inter = await self.emu.invoke_autocomplete(channel, user, path, focused, value, options=typed)
        callback = await inter.wait_callback(timeout=5)
        return web.json_response({"choices": (callback.get("data") or {}).get("choices", [])})

    async def _react(self, request: web.Request) -> web.Response:
        body = await request.json()
        user, message = self._user(body.get("user")), self._message(body.get("message"))
        emoji = str(body.get("emoji", ""))
        if not emoji or len(emoji) > 16:
            raise ValueError("pick an emoji")
        return await self._perform(React(str(message.id), emoji, remove=(user.id, emoji) in message.reactions), user)

    async def _menu(self, request: web.Request) -> web.Response:
        body = await request.json()
        user, message = self._user(body.get("user")), self._message(body.get("message"))
        return await self._perform(Menu(str(body.get("name", "")), str(message.id)), user)

    async def _modal(self, request: web.Request) -> web.Response:
        body = await request.json()
        user = self._user(body.get("user"))
        inter = self.emu.interactions.get(int(body.get("interaction", 0)))
        if inter is None or inter.user is not user:
            raise ValueError("that form is not open for this user")
        values = {str(k): str(v) for k, v in dict(body.get("values") or {}).items()}
        done = await self.emu.submit_modal(inter, values)
        self.live.touch()
        return web.json_response({"interaction": str(done.id)})

    async def _voice(self, request: web.Request) -> web.Response:
        body = await request.json()
        user = self._user(body.get("user"))
        await self.emu.set_voice_state(self.session.guild, user, self.session.voice if body.get("join") else None)
        self.live.touch()
        return web.json_response({"members": self.live.voice_members()})

