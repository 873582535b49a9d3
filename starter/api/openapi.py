"""The OpenAPI document lists every status an operation can answer, not only its success:
clients (and the generated ones) can then handle each, and a fuzzer can tell a documented
refusal from a surprise. Every error has the same body (`ErrorBody`), except the contact's
own pages (/u, /p) and the tracking links (/t), which answer an invalid link with an HTML page. Every free-text string
says it may not hold a NUL character (the API refuses one anywhere: see `no_nul`)."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

ERRORS = {
    400: "The request could not be read (a malformed form or body)",
    401: "No API key, or one that is not valid",
    403: "The key's role may not do this (or a webhook's signature is wrong)",
    404: "An id that names nothing",
    409: "Valid, but the current state forbids it (an illegal transition, a duplicate)",
    413: "The body is larger than MAX_BODY_BYTES",
    422: "Bad input; `details` names the field (or CSV row)",
    429: "Too many requests; Retry-After says when to try again",
    503: "Postgres, Temporal or the worker did not answer; nothing was changed; Retry-After says when to try again",
}
_HEADER = {"Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}}


class ErrorDetail(BaseModel):
    """What went wrong: a stable code, a sentence, and details such as the field."""

    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


def statuses(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses an operation can answer."""
    codes = [422, 429, 503]
    if path.startswith("/v1/"):
        codes += [401, 403]
    if path.startswith("/webhooks/"):
        codes += [400, 403]
    if "{" in path or method in ("post", "delete") or path.startswith("/v1/"):
        codes.append(404)  # an id in the path, the body or a filter that names nothing
    if method in ("post", "delete"):
        codes.append(409)
    if "requestBody" in operation or path.startswith(("/webhooks/", "/u/", "/p/")):
        codes += [400, 413]
    return sorted(set(codes))


def install(app: FastAPI, models: tuple[type[BaseModel], ...] = ()) -> None:
    """Make `app.openapi()` include the error responses of every operation, and `models`
    (bodies a route reads itself, such as a signed webhook's) among its schemas."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        shown_models: tuple[type[BaseModel], ...] = (ErrorBody, *models)
        for model in shown_models:
            shown = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(shown.pop("$defs", {}))
            schemas[model.__name__] = shown
        ref = {"$ref": "#/components/schemas/ErrorBody"}
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                for status in statuses(path, method, operation):
                    existing = responses.get(str(status))
                    content: dict[str, Any] = {"application/json": {"schema": ref}}
                    if status == 404 and path.startswith(("/u/", "/p/", "/t/")):
                        content = {"text/html": {"schema": {"type": "string"}}}
                    response: dict[str, Any] = {"description": ERRORS[status], "content": content}
                    if status in (429, 503):
                        response["headers"] = _HEADER
                    if existing is None or status == 422:
                        responses[str(status)] = response  # FastAPI's 422 shape is not ours
        schemas["FieldValue"] = copy.deepcopy(FIELD_VALUE)
        _no_nul(document)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


NO_NUL = "^[^\\u0000]*$"
_ANY = {"$ref": "#/components/schemas/FieldValue"}
# A custom field's value: any JSON without a NUL character, at any depth.
FIELD_VALUE: dict[str, Any] = {
    "description": "Any JSON value; no text in it (keys included) may hold a NUL character",
    "anyOf": [
        {"type": "string"},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": _ANY},
        {"type": "object", "additionalProperties": _ANY},
    ],
}


def _no_nul(node: Any) -> None:
    """Add the no-NUL pattern to every plain string schema (not to formats, enums, or
    strings that already have a pattern)."""
    if isinstance(node, dict):
        if node.get("type") == "string" and not {"pattern", "format", "enum", "const"} & node.keys():
            node["pattern"] = NO_NUL
        if node.get("type") == "object" and node.get("additionalProperties", True) is not False:
            if "propertyNames" not in node:
                node["propertyNames"] = {"pattern": NO_NUL}  # keys of open mappings (fields, dates)
            if node.get("additionalProperties", True) is True:
                # Fields a model ignores (a provider's extras) are still read, NUL-free.
                node["additionalProperties"] = dict(_ANY)
        for value in node.values():
            _no_nul(value)
    elif isinstance(node, list):
        for item in node:
            _no_nul(item)
