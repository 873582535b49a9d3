"""One error shape for every failure: {"error": {"code", "message", "details"}}.

Bad input is a 422 that names the field, unknown ids are 404, illegal transitions 409, and
oversized bodies 413. A dependency that is down (Postgres, Temporal) is a 503 with Retry-After:
nothing was changed and the same request can be sent again. Anything unexpected is logged and
answered as a 500 in the same shape, without internals; a client should never be able to cause
one. Neither a 503 nor a 500 closes the client's keep-alive connection.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.schemas import NOT_BLANK
from starter.errors import CadenceError, Unavailable, outage, refusal

log = logging.getLogger("cadence.api")


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The error shape."""
    return {"error": {"code": code, "message": message, "details": details}}


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            # FastAPI puts the character offset where the field would be.
            reason = (err.get("ctx") or {}).get("error", "JSON decode error")
            out.append({"field": "(body)", "message": f"the body is not valid JSON: {reason} at character {err['loc'][-1]}"})
            continue
        # "[key]" marks a mapping's key as what was refused; the key is already in the path.
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header", "[key]")]
        out.append({"field": ".".join(loc) or "(body)", "message": _message(err)})
    return out


def _message(err: Any) -> str:
    if err.get("type") == "string_pattern_mismatch" and (err.get("ctx") or {}).get("pattern") == NOT_BLANK:
        return "must not be blank"
    return str(err.get("msg", "")).removeprefix("Value error, ")


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the same shape."""

    @app.exception_handler(CadenceError)
    async def cadence_error(request: Request, exc: CadenceError) -> JSONResponse:
        return error_response(exc)

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
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405 and (documented := allowed_methods(request)):
            # Starlette names only the methods of the first route that matched the path.
            headers["Allow"] = ", ".join(documented)
        return JSONResponse(error_body(codes.get(exc.status_code, "http_error"), detail), status_code=exc.status_code, headers=headers)

    # Not an `Exception` handler: Starlette runs that one in its outermost middleware, which
    # re-raises after answering, and the server then drops the keep-alive connection.
    app.add_middleware(LastResort)


def allowed_methods(request: Request) -> list[str]:
    """Every method the API documents at this request's path (from the OpenAPI document,
    which knows every route, however the routers were included). A path written out in
    full (`/v1/contacts/import`) is its own resource, not an id of the template beside it."""
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    path = request.url.path
    if path in paths:
        return sorted(method.upper() for method in paths[path])
    methods: set[str] = set()
    for template, operations in paths.items():
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            methods |= {method.upper() for method in operations}
    return sorted(methods)


def error_response(exc: CadenceError) -> JSONResponse:
    """The response for a service-layer error (a 503 says when to retry)."""
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Unavailable) else None
    return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers)


class LastResort:
    """Answers what no handler did: an outage of Postgres or Temporal as a 503 with
    Retry-After, anything else as a logged 500. Installed innermost of the middlewares, so
    the request ends here and the connection stays usable."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except BodyTooLarge:
            raise  # the body limit (outside) answers 413
        except Exception as exc:
            if started:
                raise  # too late for another answer; the server closes the connection
            unavailable, refused = outage(exc), refusal(exc)
            if unavailable is not None:
                log.warning("%s %s: %s (%s)", scope["method"], scope["path"], unavailable.message, type(exc).__name__)
                response = error_response(unavailable)
            elif refused is not None:
                response = error_response(refused)
            else:
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                response = JSONResponse(error_body("internal_error", "an unexpected error occurred; it has been logged"), status_code=500)
            await response(scope, receive, send)


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
                    raise BodyTooLarge(self.limit)
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


class BodyTooLarge(StarletteHTTPException):
    """Raised while reading a request body past the limit. An HTTP 413 so that FastAPI's
    body parsing passes it on instead of calling it a malformed body (400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


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
