"""The account page: a customer's contacts and their open enrollments, and pausing or
resuming the whole customer at once (a CS lead during a renewal negotiation, say)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Query, Request, Response

from starter.console.enrollments import parse_until, until_recorded
from starter.console.pages import ConsoleError, backend_of, console_router, redirect, render
from starter.console.session import Action, Posted, Viewer
from starter.errors import CadenceError
from starter.service import commands, overviews
from starter.service.commands import AccountCommandResult

router = console_router()


async def account_page(request: Request, ref: str, *, status: int = 200, error: str | None = None, notice: str | None = None) -> Response:
    """Render the account (an unknown one is the 404 page)."""
    data = await overviews.customer(backend_of(request), ref)
    return render(request, "account.html", status=status, section="enrollments", error=error, notice=notice, **data)


@router.get("/accounts/{account_ref}")
async def account(
    request: Request,
    user: Viewer,
    account_ref: str,
    done: Annotated[str | None, Query(max_length=20)] = None,
    changed: Annotated[int | None, Query(ge=0)] = None,
    unchanged: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """One customer (by id or external id): contacts, open enrollments, account pause/resume."""
    notice = None
    if done in ("paused", "resumed"):
        notice = f"{done.capitalize()} {changed or 0} enrollment(s)" + (
            f"; {unchanged} left as they were (paused for another reason, or already paused)." if unchanged else "."
        )
    return await account_page(request, account_ref, notice=notice)


async def _command(
    request: Request, ref: str, form: Posted, action: str, done: str, command: Callable[[str], Awaitable[AccountCommandResult]]
) -> Response:
    backend = backend_of(request)
    account_id = await overviews.account_id(backend, ref)

    async def recorded() -> int:
        return await overviews.audit_count(backend, action=action, actor=form.user.actor, account_id=account_id)

    before = await recorded()
    try:
        result = await command(account_id)
    except (ConsoleError, CadenceError) as err:
        return await account_page(request, ref, status=err.status, error=err.message)
    await until_recorded(recorded, before + result.changed)
    return redirect(
        f"/console/accounts/{quote(result.account_id, safe='')}?done={done}&changed={result.changed}&unchanged={result.unchanged}"
    )


@router.post("/accounts/{account_ref}/pause")
async def pause(request: Request, account_ref: str, form: Action) -> Response:
    """Pause every active enrollment of the account's contacts, with a reason (and optional until, UTC)."""
    try:
        reason = form.text("reason", label="A reason", required=True)
        until = parse_until(form.text("until", label="Until", max_length=40), "UTC")
    except ConsoleError as err:
        return await account_page(request, account_ref, status=err.status, error=err.message)
    assert reason is not None
    backend, actor = backend_of(request), form.user.actor
    return await _command(
        request,
        account_ref,
        form,
        "paused",
        "paused",
        lambda aid: commands.pause_account(backend, aid, actor=actor, reason=reason, until=until),
    )


@router.post("/accounts/{account_ref}/resume")
async def resume(request: Request, account_ref: str, form: Action) -> Response:
    """Resume every paused enrollment of the account's contacts."""
    try:
        note = form.text("reason", label="A note")
    except ConsoleError as err:
        return await account_page(request, account_ref, status=err.status, error=err.message)
    backend, actor = backend_of(request), form.user.actor
    return await _command(
        request, account_ref, form, "resumed", "resumed", lambda aid: commands.resume_account(backend, aid, actor=actor, reason=note)
    )
