"""Reading what users attach: never more than a limit, and a download that fails is a message.

Discord says how large an attachment is, and callers refuse one over their limit before reading
it; the bytes are then read as a stream that stops at the limit too, so a server sending more
than it announced cannot make the bot hold more. An attachment that cannot be downloaded (deleted
meanwhile, an expired link, a network error) raises :class:`~framework.errors.UploadProblem`
naming the file, instead of failing the command or leaving a voice message unanswered.
"""

from __future__ import annotations

import logging

import aiohttp
import hikari

from framework.errors import UploadProblem, echo

log = logging.getLogger(__name__)


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
