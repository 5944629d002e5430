"""Files the bot attaches stay under Discord's upload limit: as they are, gzipped, or refused with
the sizes named, never a request Discord would answer with "Request entity too large".

The limit is the smaller of ``[bot] max_upload_bytes`` and, on the slash surface, the limit Discord
states in the interaction (``attachment_size_limit``, higher in boosted servers).
"""

from __future__ import annotations

import gzip

from framework.archive import human_size
from framework.commands import Context, File, UserError


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
