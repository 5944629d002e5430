"""One progress message for long work — training, testing, archiving, importing, exporting — that
Discord never refuses and that always ends with the result.

    progress = await ProgressMessage.start(ctx, "Archiving…")
    progress.update("Archiving… 40%")            # returns at once; shown at the next turn
    await progress.finish("Archived.", attachments=[File(...)])

    progress = ProgressMessage.later(ctx)       # no message until the work has run for one interval:
    ...                                          # quick work answers with its result alone

- **Throttled:** at most one edit per ``[bot] progress_interval`` seconds per message (3 by default),
  counted from the end of the previous edit, so hikari's waits on Discord's rate-limit buckets slow
  it down too. A newer text replaces one not shown yet; nothing queues up.
- **Within the token:** an answer to a slash command is edited through the interaction's webhook
  while its token is valid (15 minutes). After that, or when Discord refuses the edit, the work goes
  on in a new channel message (a direct message when the answer was private), edited from then on.
- **Bounded:** every text is cut to Discord's 2,000 characters.
- **Final:** :meth:`finish` waits its turn, then edits, and falls back to a new message, then to a
  direct message, so the result arrives even when the progress message cannot be edited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import hikari

from framework.commands import DISCORD_MESSAGE_LIMIT, Context, File, Response
from framework.commands.context import channel_message

if TYPE_CHECKING:  # pragma: no cover
    from framework.host import Host

log = logging.getLogger(__name__)
_GONE = (hikari.UnauthorizedError, hikari.NotFoundError, hikari.ForbiddenError)
"""The message cannot be edited any more: the token ended, the message was deleted, or the bot may not."""


def bounded(text: str, limit: int = DISCORD_MESSAGE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ProgressMessage:
    """A message that shows the progress of one piece of long work, then its result."""

    def __init__(self, app: Host, *, channel_id: hikari.Snowflakeish, user_id: hikari.Snowflakeish | None,
                 response: Response | None, private: bool = False, interval: float | None = None) -> None:
        self.app = app
        self.channel_id = channel_id
        self.user_id = user_id
        self.response = response
        self.private = private
        self.interval = app.config.bot.progress_interval if interval is None else interval
        self.edits = 0
        """Edits made so far (a new message counts as one)."""
        self.finished = False
        self._pending: str | None = None
        self._last = float("-inf")
        self._not_before = float("-inf")
        self._ctx: Context | None = None
        """Set while the message is still to be sent as the command's answer (:meth:`later`)."""
        self._pump: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._ending = asyncio.Event()
        """Set by :meth:`finish` and :meth:`stop`: an update waiting for its turn is not shown."""

    @classmethod
    async def start(cls, ctx: Context, text: str, *, interval: float | None = None) -> ProgressMessage:
        """Answer the command with ``text`` and return the message that will show the progress."""
        response = await ctx.respond(bounded(text))
        return cls(ctx.app, channel_id=ctx.channel_id, user_id=ctx.author.id, response=response,
                   private=response.private, interval=interval)

    @classmethod
    def later(cls, ctx: Context, *, interval: float | None = None) -> ProgressMessage:
        """A progress message that appears only if the work outlasts one interval, as the command's
        answer; if the work ends sooner, :meth:`finish` answers with the result alone."""
        progress = cls(ctx.app, channel_id=ctx.channel_id, user_id=ctx.author.id, response=None,
                       private=ctx.private, interval=interval)
        progress._ctx = ctx
        progress._not_before = asyncio.get_running_loop().time() + progress.interval
        return progress

    @classmethod
    def resume(cls, app: Host, channel_id: hikari.Snowflakeish, message_id: hikari.Snowflakeish | None,
               user_id: hikari.Snowflakeish | None = None) -> ProgressMessage:
        """Go on with a progress message after a restart: the channel message ``message_id``, or (None,
        when it was an interaction's answer, whose token is gone) a new message at the next update."""
        response = channel_message(app, channel_id, hikari.Snowflake(message_id)) if message_id else None
        return cls(app, channel_id=channel_id, user_id=user_id, response=response)

    @property
    def channel_message_id(self) -> hikari.Snowflake | None:
        """The message's id when it is a channel message, which a restart can go on editing."""
        response = self.response
        if response is None or response.expires_at is not None or response.channel_id is None:
            return None
        return response.message_id

    def update(self, text: str) -> None:
        """Show ``text`` at the next turn (returns at once; a newer text replaces one not shown yet)."""
        if self.finished:
            return
        self._pending = text
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._run())

    async def finish(self, text: str, *, attachments: Sequence[File] | None = None) -> None:
        """Show the result: after the last edit's turn, and whatever it takes to deliver it."""
        self.finished = True
        self._pending = None
        self._ending.set()
        if self._pump is not None:
            await self._pump  # an edit under way completes; one still waiting for its turn is dropped
        await self._turn(first=False)
        await self._deliver(text, attachments, final=True)

    def stop(self) -> None:
        """The work failed: show nothing more (its error is answered on its own)."""
        self.finished = True
        self._pending = None
        self._ending.set()

    async def _run(self) -> None:
        while self._pending is not None and not self.finished:
            await self._turn(interruptible=True)
            text, self._pending = self._pending, None
            if text is None or self.finished:
                return
            await self._deliver(text, None, final=False)

    async def _turn(self, *, first: bool = True, interruptible: bool = False) -> None:
        """Wait until one interval after the last edit (and, for :meth:`later`, before a first message);
        an update's wait ends early when the work ends."""
        due = max(self._last + self.interval, self._not_before if first else float("-inf"))
        delay = due - asyncio.get_running_loop().time()
        if delay <= 0:
            return
        if interruptible:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ending.wait(), delay)
        else:
            await asyncio.sleep(delay)

    async def _deliver(self, text: str, attachments: Sequence[File] | None, *, final: bool) -> None:
        async with self._lock:
            try:
                await self._show(bounded(text), attachments, final=final)
                self.edits += 1
            except hikari.HikariError as exc:
                if final:
                    raise
                log.warning("a progress update could not be shown: %s", type(exc).__name__, exc_info=True)
            finally:
                loop_time = asyncio.get_running_loop().time()
                self._last = max(self._last, loop_time)

    async def _show(self, text: str, attachments: Sequence[File] | None, *, final: bool) -> None:
        if self._ctx is not None:  # the first message is the command's answer (a reply, or the deferred one)
            ctx, self._ctx = self._ctx, None
            self.response = await ctx.respond(text, attachments=attachments or ())
            return
        if self.response is not None and self.response.editable:
            try:
                await self.response.edit(text, attachments=attachments)
                return
            except _GONE as exc:
                log.info("a progress message can no longer be edited (%s); going on in a new message",
                         type(exc).__name__)
        self.response = await self._post(text, attachments, final=final)

    async def _post(self, text: str, attachments: Sequence[File] | None, *, final: bool) -> Response:
        """A new message: in the channel, or, for a private answer (or a final result the channel
        refuses), in a direct message to the user."""
        rest = self.app.bot.rest
        files = [f.to_resource() for f in attachments or ()] or hikari.UNDEFINED
        if not self.private:
            try:
                sent = await rest.create_message(self.channel_id, text, attachments=files, user_mentions=False,
                                                 role_mentions=False, mentions_everyone=False)
                return channel_message(self.app, self.channel_id, sent.id)
            except hikari.ForbiddenError:
                if not final or self.user_id is None:
                    raise
                log.warning("the channel refused a final result; sending it as a direct message instead")
        assert self.user_id is not None, "a private answer comes from a command, which has a user"
        dm = await rest.create_dm_channel(self.user_id)
        sent = await rest.create_message(dm.id, text, attachments=files, user_mentions=False, role_mentions=False,
                                         mentions_everyone=False)
        return channel_message(self.app, dm.id, sent.id, private=True)
