"""The account page: a customer's contacts and their open enrollments, and pausing or
resuming the whole customer at once (a CS lead during a renewal negotiation, say)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Query, Request, Response
from sqlmodel import Session, select

from models.enrollments import OPEN
from models.tables import AuditEntry, Cadence, Contact, Enrollment
from starter.api.routes.accounts import find_account, for_each_enrollment
from starter.console.enrollments import audit_count, contact_label, parse_until, until_recorded
from starter.console.pages import ConsoleError, client_of, console_router, db, redirect, render
from starter.console.session import Action, Posted, Viewer
from starter.errors import CadenceError, NotFound

router = console_router()


def _load(session: Session, ref: str) -> dict[str, Any]:
    account = find_account(session, ref)
    if account is None:
        raise NotFound(f"No account {ref!r}: use an account's id or external id.")
    contacts = session.exec(select(Contact).where(Contact.account_id == account.id).order_by(Contact.external_id)).all()
    rows = session.exec(
        select(Enrollment, Cadence.key).join(Cadence, Cadence.id == Enrollment.cadence_id)  # type: ignore[arg-type]
        .where(Enrollment.account_id == account.id, Enrollment.status.in_(OPEN))  # type: ignore[attr-defined]
        .order_by(Enrollment.created_at)  # type: ignore[arg-type]
    ).all()
    labels = {c.id: contact_label(c) for c in contacts}
    enrollments = [{"row": e, "cadence": key, "contact": labels.get(e.contact_id, str(e.contact_id))} for e, key in rows]
    return {"account": account, "contacts": contacts, "enrollments": enrollments}


async def account_page(request: Request, ref: str, *, status: int = 200, error: str | None = None, notice: str | None = None) -> Response:
    """Render the account (an unknown one is the 404 page)."""
    data = await db(request, lambda s: _load(s, ref))
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
        notice = f"{done.capitalize()} {changed or 0} enrollment(s)" + (f"; {unchanged} could not be changed." if unchanged else ".")
    return await account_page(request, account_ref, notice=notice)


async def _command(request: Request, ref: str, form: Posted, action: str, done: str, statuses: tuple[str, ...], command: Any) -> Response:
    account = await db(request, lambda s: find_account(s, ref))
    if account is None:
        raise NotFound(f"No account {ref!r}: use an account's id or external id.")
    mine = (AuditEntry.enrollment_id.in_(select(Enrollment.id).where(Enrollment.account_id == account.id)),  # type: ignore[union-attr]
            AuditEntry.action == action, AuditEntry.actor == form.user.actor)
    before = await audit_count(request, *mine)
    try:
        result = await for_each_enrollment(client_of(request), str(account.id), statuses, command)
    except (ConsoleError, CadenceError) as err:
        return await account_page(request, ref, status=err.status, error=err.message)
    await until_recorded(request, before + result.changed, *mine)
    return redirect(f"/console/accounts/{quote(result.account_id, safe='')}?done={done}&changed={result.changed}&unchanged={result.unchanged}")


@router.post("/accounts/{account_ref}/pause")
async def pause(request: Request, account_ref: str, form: Action) -> Response:
    """Pause every active enrollment of the account's contacts, with a reason (and optional until, UTC)."""
    try:
        reason = form.text("reason", label="A reason", required=True)
        until = parse_until(form.text("until", label="Until", max_length=40), "UTC")
    except ConsoleError as err:
        return await account_page(request, account_ref, status=err.status, error=err.message)
    client, actor = client_of(request), form.user.actor
    text = f"account paused: {reason}"  # the same wording as the API's account pause
    return await _command(request, account_ref, form, "paused", "paused", ("active",), lambda eid: client.pause(eid, actor=actor, reason=text, until=until))


@router.post("/accounts/{account_ref}/resume")
async def resume(request: Request, account_ref: str, form: Action) -> Response:
    """Resume every paused enrollment of the account's contacts."""
    try:
        note = form.text("reason", label="A note") or "account resumed"
    except ConsoleError as err:
        return await account_page(request, account_ref, status=err.status, error=err.message)
    client, actor = client_of(request), form.user.actor
    return await _command(request, account_ref, form, "resumed", "resumed", ("paused",), lambda eid: client.resume(eid, actor=actor, reason=note))
