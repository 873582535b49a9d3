"""Live edits and bulk operations in the console: a cadence's draft (edit, see the diff,
publish, discard), rolling back to an earlier version, following published versions, and
the migrate flow (preview table first, then the apply button); the enrollment list's bulk
bar (pause, resume or stop everything the current filter shows); and the operation pages
that show a preview and then its progress, item by item.

Admins edit, publish and migrate; CS leads pause, resume and stop in bulk; everyone else
reads plans and results.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request, Response

from models.keys import Role
from starter.console.enrollments import parse_until
from starter.console.pages import ConsoleError, backend_of, console_router, redirect, render
from starter.console.session import Action, Posted, Viewer
from starter.errors import CadenceError
from starter.service import operations, overviews, publishing
from starter.service.operations import OperationFilter, OperationRequest

router = console_router()
ITEMS_PER_PAGE = 50


def _admin(form: Posted) -> None:
    if form.user.role != Role.admin:
        raise ConsoleError(403, "Editing, publishing and migrating cadences need an admin key.")


def _number(form: Posted, name: str, label: str) -> int | None:
    value = form.text(name, label=label, max_length=9)
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ConsoleError(422, f"{label} must be a version number.")
    return int(value)


# --- the draft, publishing and following ---------------------------------------------------------


@router.post("/cadences/{cadence_ref}/draft")
async def save_draft(request: Request, cadence_ref: str, form: Action) -> Response:
    """Save the edited definition as the draft (validated; nothing runs from it)."""
    _admin(form)
    text = form.text("definition", label="The definition", required=True, max_length=200_000)
    assert text is not None
    try:
        await publishing.save_draft(backend_of(request), cadence_ref, text, actor=form.user.actor)
    except CadenceError as err:
        raise ConsoleError(err.status, err.message) from None
    return redirect(f"/console/cadences/{cadence_ref}?done=draft#draft")


@router.post("/cadences/{cadence_ref}/draft/discard")
async def discard_draft(request: Request, cadence_ref: str, form: Action) -> Response:
    """Throw the draft away."""
    _admin(form)
    await publishing.discard_draft(backend_of(request), cadence_ref, actor=form.user.actor)
    return redirect(f"/console/cadences/{cadence_ref}?done=discarded")


@router.post("/cadences/{cadence_ref}/publish")
async def publish(request: Request, cadence_ref: str, form: Action) -> Response:
    """Publish the draft, or (with a version) an earlier version again: a rollback."""
    _admin(form)
    version = _number(form, "version", "The version")
    reason = form.text("reason", label="A reason")
    done = await publishing.publish(backend_of(request), cadence_ref, actor=form.user.actor, version=version, reason=reason)
    if done.follow_operation_id:
        return redirect(f"/console/operations/{done.follow_operation_id}")
    return redirect(f"/console/cadences/{cadence_ref}?done=published")


@router.post("/cadences/{cadence_ref}/follow")
async def follow(request: Request, cadence_ref: str, form: Action) -> Response:
    """Whether running enrollments follow each published version."""
    _admin(form)
    on = form.text("follow", label="Follow") == "on"
    await publishing.set_follow(backend_of(request), cadence_ref, on, actor=form.user.actor)
    return redirect(f"/console/cadences/{cadence_ref}?done={'following' if on else 'pinned'}")


@router.post("/cadences/{cadence_ref}/migrations")
async def migrate(request: Request, cadence_ref: str, form: Action) -> Response:
    """Preview a migration of the cadence's running enrollments (applied from its page)."""
    _admin(form)
    reason = form.text("reason", label="A reason", required=True)
    to_version = _number(form, "to_version", "The target version")
    from_version = _number(form, "from_version", "The version to move from")
    filters = OperationFilter(cadence_id=cadence_ref, versions=[from_version] if from_version else None)
    return await _preview(request, form, {"action": "migrate", "filter": filters, "reason": reason, "to_version": to_version})


# --- the enrollment list's bulk bar -----------------------------------------------------------------


@router.post("/operations")
async def bulk(request: Request, form: Action) -> Response:
    """Preview a pause, resume or stop of every open enrollment the list's filter shows."""
    action = form.text("action", label="The action", required=True)
    if action not in ("pause", "resume", "stop"):
        raise ConsoleError(422, "The action must be pause, resume or stop.")
    reason = form.text("reason", label="A reason", required=True)
    until = parse_until(form.text("until", label="Until", max_length=40), form.text("until_zone", label="Time zone", max_length=64))
    backend = backend_of(request)
    account = form.text("account", label="Account", max_length=200)
    fields: dict[str, Any] = {
        "cadence_id": form.text("cadence", label="Cadence", max_length=200),
        "owner": form.text("owner", label="Owner", max_length=100),
        "account_id": await overviews.account_id(backend, account) if account else None,
    }
    status = form.text("status", label="Status", max_length=30)
    if status in ("active", "paused"):
        fields["status"] = status
    elif status:
        raise ConsoleError(422, f"Only active or paused enrollments can be changed in bulk, not {status}.")
    if not any(fields.values()):
        raise ConsoleError(422, "Filter the list first (by cadence, owner, account or status): a bulk change never means every enrollment.")
    filters = OperationFilter.model_validate({k: v for k, v in fields.items() if v})
    return await _preview(request, form, {"action": action, "filter": filters, "reason": reason, "until": until})


async def _preview(request: Request, form: Posted, fields: dict[str, Any]) -> Response:
    try:
        request_body = OperationRequest.model_validate(fields)
    except ValueError as err:
        raise ConsoleError(422, str(err).splitlines()[-1]) from None
    try:
        planned = await operations.preview(backend_of(request), request_body, actor=form.user.actor)
    except CadenceError as err:
        raise ConsoleError(err.status, err.message) from None
    return redirect(f"/console/operations/{planned.id}")


# --- operation pages ------------------------------------------------------------------------------


@router.get("/operations")
async def operation_list(request: Request, user: Viewer) -> Response:
    """Bulk operations, newest first."""
    return render(request, "operations.html", section="operations", operations=await operations.list_operations(backend_of(request)))


@router.get("/operations/{operation_id}")
async def operation_page(
    request: Request,
    user: Viewer,
    operation_id: str,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    outcome: Annotated[str | None, Query(max_length=12)] = None,
    status: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """An operation: what its preview said (counts by outcome, every item, paged), the
    apply button while it is a preview, and its progress while it runs."""
    backend = backend_of(request)
    found = await operations.get_operation(backend, operation_id)
    chosen_status = status if status in operations.ITEM_STATUSES else None
    items = await operations.list_items(
        backend, operation_id, status=chosen_status, outcome=outcome or None, limit=ITEMS_PER_PAGE, offset=(page - 1) * ITEMS_PER_PAGE
    )
    pages = max(1, -(-items.total // ITEMS_PER_PAGE))
    query = {k: v for k, v in {"outcome": outcome, "status": chosen_status}.items() if v}
    may_apply = user.role == Role.admin or (user.role == Role.cs_lead and found.action != "migrate")
    return render(
        request,
        "operation.html",
        section="operations",
        op=found,
        items=items,
        page=page,
        pages=pages,
        may_apply=may_apply and found.status == "previewed",
        refresh=found.status == "applying",
        prev_url=f"?{urlencode({**query, 'page': page - 1})}" if page > 1 else None,
        next_url=f"?{urlencode({**query, 'page': page + 1})}" if page < pages else None,
    )


@router.post("/operations/{operation_id}/apply")
async def apply(request: Request, operation_id: str, form: Action) -> Response:
    """Apply the previewed operation; its page then shows the progress."""
    backend = backend_of(request)
    found = await operations.get_operation(backend, operation_id)
    if found.action == "migrate":
        _admin(form)
    await operations.apply(backend, operation_id, actor=form.user.actor)
    return redirect(f"/console/operations/{operation_id}")
