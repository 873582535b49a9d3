"""No NUL characters, anywhere in a request: Postgres text cannot hold them (and nothing a
person types contains one), so a request with one in its path, query or body is refused
with a 422 that names the field, before any route sees it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starter.api.errors import error_body

# Bodies are already capped by the body limit; this one reads them whole to look inside.
_NUL_BYTES = (b"\x00", b"\\u0000", b"%00")


class RefuseNul:
    """ASGI middleware: a 422 naming the field for a NUL character in the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = _in_target(scope)
        if where is not None:
            await _refuse(send, where)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if any(marker in body for marker in _NUL_BYTES):
            where = _in_body(body, _content_type(scope))
            if where is not None:
                await _refuse(send, where)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _in_target(scope: Scope) -> str | None:
    if "\x00" in scope.get("path", "") or "%00" in scope.get("raw_path", b"").decode("latin-1"):
        return "(path)"
    for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "(query)"
    return None


def _content_type(scope: Scope) -> str:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"content-type":
            return value.decode("latin-1").split(";")[0].strip().lower()
    return ""


def _in_body(body: bytes, content_type: str) -> str | None:
    """The field holding a NUL (a JSON path, a form field), or "(body)"."""
    if b"\x00" in body:
        return "(body)"
    if content_type == "application/x-www-form-urlencoded":
        for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return unquote(name).replace("\x00", "") or "(body)"
        return None
    try:
        return _walk(json.loads(body), "")
    except ValueError:
        return None  # not JSON: an escape sequence in other text is only text


def _walk(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return (path or "(body)") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return here.replace("\x00", "")
            found = _walk(item, here)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _walk(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


async def _refuse(send: Send, field: str) -> None:
    message = f"{field}: must not contain a NUL character"
    body = json.dumps(
        error_body("validation_error", message, {"fields": [{"field": field, "message": "must not contain a NUL character"}]})
    )
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})
