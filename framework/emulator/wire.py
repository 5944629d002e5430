"""What every REST resource of the emulator shares: reading a request body (JSON or multipart
with ``payload_json`` and files) and answering the way Discord does (JSON, 204, "Unknown X").

Kept apart so the resources (``api_*.py``) and the router (``rest.py``) import it without
importing each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import BodyPartReader, web

from framework.emulator.state import FileSpec

JSON_KEY = web.RequestKey("tb_json", object)
"""Where a handler leaves the request's JSON body, for the recorded request."""

Route = tuple[str, str, Callable[..., Any]]
"""``(method, path regex below /api/v10, handler)``; the handler gets the request and the regex's groups."""

DIGITS = r"(\d+)"
"""An id in a route pattern."""


def reply(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def empty() -> web.Response:
    return web.Response(status=204)


def not_found(what: str) -> web.Response:
    return web.json_response({"message": f"Unknown {what}", "code": 10003}, status=404)


async def read_body(request: web.Request) -> tuple[dict[str, Any], list[FileSpec]]:
    """The JSON body and the attached files (multipart requests carry the JSON as ``payload_json``)."""
    if request.content_type.startswith("multipart/"):
        payload: dict[str, Any] = {}
        files: list[FileSpec] = []
        reader = await request.multipart()
        async for part in reader:
            assert isinstance(part, BodyPartReader), "nested multipart bodies are not emulated"
            if part.name == "payload_json":
                payload = json.loads(await part.text())
            else:
                files.append(FileSpec(part.filename or "file", bytes(await part.read()),
                                      part.headers.get("Content-Type")))
        request[JSON_KEY] = payload
        return payload, files
    if request.can_read_body:
        body = await request.json()
        request[JSON_KEY] = body
        return body, []
    return {}, []
