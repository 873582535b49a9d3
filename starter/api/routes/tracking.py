"""Tracking links in emails: the open pixel and the click redirect (see `cadence.tracking`).

Public like the unsubscribe page (a mail client fetches them), no cookies. The engagement is
committed before either answers. A forged, altered or garbled token records nothing: the
pixel answers 404 and the click gets the invalid-link page (404), never a redirect, so these
routes cannot be used to send anyone anywhere Cadence did not write into one of its emails.
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from starter.api.deps import BackendDep, DeliveryDep, SettingsDep
from starter.api.routes.links import invalid_link
from starter.service import engagement

router = APIRouter(tags=["tracking"])

# A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}


@router.get(
    "/t/o/{token}.gif",
    summary="Open-tracking pixel",
    response_class=Response,
    responses={200: {"content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}}, "description": "A 1x1 GIF"}},
)
async def pixel(token: str, request: Request, backend: BackendDep, settings: SettingsDep, delivery: DeliveryDep) -> Response:
    """Record the email's open (a person's, or flagged as a machine's) and answer a 1x1 GIF."""
    tracked = await engagement.opened(
        backend, settings, token, user_agent=request.headers.get("user-agent"), client_ip=request.client.host if request.client else None
    )
    if tracked is None:
        return invalid_link(request, settings, _NO_STORE)
    if delivery is not None:
        delivery.notify_all(tracked.follow_ups)
    return Response(PIXEL, media_type="image/gif", headers=_NO_STORE)


@router.get(
    "/t/c/{token}",
    summary="Click redirect",
    response_class=RedirectResponse,
    status_code=302,
    responses={302: {"description": "To the link's own URL, signed into the token"}},
)
async def click(token: str, request: Request, backend: BackendDep, settings: SettingsDep, delivery: DeliveryDep) -> Response:
    """Record the click and forward to the URL the email linked to."""
    forward = await engagement.clicked(
        backend, settings, token, user_agent=request.headers.get("user-agent"), client_ip=request.client.host if request.client else None
    )
    if forward is None:
        return invalid_link(request, settings, _NO_STORE)
    url, tracked = forward
    if delivery is not None:
        delivery.notify_all(tracked.follow_ups)
    return RedirectResponse(url, status_code=302, headers=_NO_STORE)
