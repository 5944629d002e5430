"""Files in both directions, within Discord's size limits.

Out: files the bot attaches stay under Discord's upload limit: as they are, gzipped, or refused
with the sizes named, never a request Discord would answer with "Request entity too large". The
limit is the smaller of ``[bot] max_upload_bytes`` and, on the slash surface, the limit Discord
states in the interaction (``attachment_size_limit``, higher in boosted servers).

In: what users attach is never read past a limit, and a download that fails is a message. Discord
says how large an attachment is, and callers refuse one over their limit before reading it; the
bytes are then read as a stream that stops at the limit too, so a server sending more than it
announced cannot make the bot hold more. An attachment that cannot be downloaded (deleted
meanwhile, an expired link, a network error) raises :class:`~framework.errors.UploadProblem`
naming the file, instead of failing the command or leaving a voice message unanswered.
"""

from __future__ import annotations

import gzip
import logging

import aiohttp
import hikari

from framework.archive import human_size
from framework.commands import Context, File, UserError
from framework.errors import UploadProblem, echo

log = logging.getLogger(__name__)


def upload_limit(ctx: Context) -> int:
    limit = ctx.app.config.bot.max_upload_bytes
    stated = getattr(getattr(ctx, "interaction", None), "attachment_size_limit", None)
    return min(limit, stated) if isinstance(stated, int) and stated > 0 else limit


async def fitted(ctx: Context, filename: str, data: bytes, *, what: str = "The file") -> File:
    """``data`` as an attachment within the upload limit: as it is, else gzipped (``NAME.gz``), else
    a :class:`UserError` that says how large it is and what the limit is."""
    limit = upload_limit(ctx)
    if len(data) > limit:  # text compresses well: JSON lines often to a tenth
        data, filename = await ctx.run_blocking(gzip.compress, data), filename + ".gz"
    if len(data) > limit:
        raise UserError(f"{what} is {human_size(len(data))} even compressed, more than I may attach "
                        f"({human_size(limit)}).")
    return File(filename, data=data)


async def read_upload(attachment: hikari.Attachment, max_bytes: int) -> bytes:
    """The attachment's bytes, at most ``max_bytes`` of them; :class:`UploadProblem` otherwise."""
    shown = echo(attachment.filename)
    data = bytearray()
    try:
        async with attachment.stream() as reader:
            async for chunk in reader:
                data += chunk
                if len(data) > max_bytes:
                    raise UploadProblem(f"`{shown}` is larger than it said, and than the {max_bytes} bytes "
                                        "I accept.")
    except (hikari.HTTPError, aiohttp.ClientError, TimeoutError) as exc:
        log.info("downloading attachment %r (%s) failed: %r", attachment.filename, attachment.url, exc)
        status = getattr(exc, "status", None)
        reason = f"HTTP {int(status)}" if isinstance(status, int) else type(exc).__name__
        raise UploadProblem(f"I couldn't download `{shown}` from Discord ({reason}); please send it again.") from None
    return bytes(data)
