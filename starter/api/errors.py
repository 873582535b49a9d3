"""One error shape for every failure: {"error": {"code", "message", "details"}}.

Bad input is a 422 that names the field, unknown ids are 404, illegal transitions 409, and
oversized bodies 413. Anything unexpected is logged and answered as a 500 in the same shape,
without internals; a client should never be able to cause one.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starter.errors import CadenceError

log = logging.getLogger("cadence.api")


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The error shape."""
    return {"error": {"code": code, "message": message, "details": details}}


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        out.append({"field": ".".join(loc) or "(body)", "message": str(err.get("msg", "")).removeprefix("Value error, ")})
    return out


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the same shape."""

    @app.exception_handler(CadenceError)
    async def cadence_error(request: Request, exc: CadenceError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = _field_errors(exc)
        first = fields[0] if fields else {"field": "(body)", "message": "invalid request"}
        message = f"{first['field']}: {first['message']}"
        return JSONResponse(error_body("validation_error", message, {"fields": fields}), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
            415: "unsupported_media_type",
        }
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        return JSONResponse(
            error_body(codes.get(exc.status_code, "http_error"), detail), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "an unexpected error occurred; it has been logged"), status_code=500)


class BodyLimit:
    """Refuse request bodies larger than `limit` bytes with a 413, whether or not the client
    declared a Content-Length (chunked uploads are counted as they arrive)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _too_large(send, self.limit)
                return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, tracking_send)
        except BodyTooLarge:
            if not started:
                await _too_large(send, self.limit)


class BodyTooLarge(Exception):
    """Raised while reading a request body past the limit."""


async def _too_large(send: Send, limit: int) -> None:
    import json

    body = json.dumps(error_body("too_large", f"the request body is larger than {limit} bytes", {"limit": limit})).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
