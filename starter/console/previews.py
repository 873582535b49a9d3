"""Preview pages: "what would this contact receive, and when?" in any version of a cadence,
for a sample contact (a form of the contact's time zone, country, consents and segment) or
a stored one (by id or external id: its real time zone, consents, caps and other open
enrollments), with the version, the start and one what-if reply; and "what happens next" in
a running enrollment.

Both draw the preview (`starter.service.previews`) as an inline SVG timeline laid out by
`starter.console.timeline_svg` (no script) over a table of every item with its local and UTC
time and the gate's reason. Anyone signed in may look: a preview writes nothing.

The preview of a stored contact is also the console's enroll form ("preview first"): under
it, roles that may enroll (as in the API: service, admin) may enroll that contact from the
same start in the published version; a preview of the draft or another version says so and
offers no button.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Annotated, Any, get_args

from fastapi import Query, Request, Response
from pydantic import ValidationError
from sqlmodel import Session

from cadence.contact_policy import SegmentMatch
from cadence.definition import ReplyIntent
from models.contacts import find_contact
from models.enrollments import open_enrollment_of
from models.keys import Role
from starter.console.pages import ConsoleError, backend_of, console_router, redirect, render
from starter.console.session import ConsoleUser, Form, Viewer
from starter.console.timeline_svg import LANE_LABELS, SHAPES, Timeline, layout, shape_path
from starter.errors import CadenceError, Conflict, Invalid, NotFound, Unavailable
from starter.service import cadences as cadence_service
from starter.service import overviews, reads
from starter.service import previews as preview_service
from starter.service.backend import Backend
from starter.service.cadences import CadenceView
from starter.service.enroll import enroll_contact
from starter.service.overviews import contact_label
from starter.service.previews import (
    DEFAULT_HORIZON_DAYS,
    MAX_HORIZON_DAYS,
    OPEN,
    InlineContact,
    PreviewOut,
    PreviewRequest,
    ReplyWhatIf,
    WhatIfs,
)

router = console_router()

DEFAULT_ZONE = "America/Chicago"
DEFAULT_COUNTRY = "US"
PERSONAS: tuple[str, ...] = tuple(a for a in get_args(SegmentMatch.model_fields["persona"].annotation) if isinstance(a, str))
TIERS: tuple[str, ...] = tuple(a for a in get_args(SegmentMatch.model_fields["tier"].annotation) if isinstance(a, str))
INTENTS = tuple(intent.value for intent in ReplyIntent)
VERSION_PATTERN = r"^(published|draft|[1-9][0-9]{0,8})$"
WHO_PATTERN = r"^(sample|stored)$"
# Who may enroll from the preview: the roles the API lets POST /v1/enrollments (service;
# admin may do everything).
ENROLLING = (Role.service, Role.admin)
SAMPLE_DEFAULTS: dict[str, Any] = {
    "timezone": DEFAULT_ZONE,
    "country": DEFAULT_COUNTRY,
    "region": "",
    "consent_sms": False,
    "consent_call": False,
    "has_email": True,
    "has_phone": True,
    "persona": "",
    "industry": "",
    "tier": "",
    "reply_step": "",
    "reply_intent": "",
    "reply_after": 1.0,
}
LEGEND = [(name, LANE_LABELS[name], shape_path(SHAPES[name], 0, 0)) for name in ("email", "sms", "call", "linkedin", "task")]
COUNT_LABELS = {"touch": "touches", "task": "tasks", "crm_update": "CRM updates", "deferred": "deferred", "skipped": "skipped"}


def count_label(name: str, value: int) -> str:
    """ "3 touches", "1 touch", "2 deferred"."""
    plural = COUNT_LABELS.get(name, name.replace("_", " "))
    return name.replace("_", " ") if value == 1 and name in ("touch", "task") else plural


def _message(err: ValidationError) -> str:
    problems = []
    for problem in err.errors():
        field = ".".join(str(p) for p in problem.get("loc", ()))
        problems.append(f"{field or 'the request'}: {str(problem.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return "; ".join(problems) or "the request is not valid"


def _start(value: str | None, zone_name: str) -> dt.datetime | None:
    """A datetime-local value read in the sample contact's time zone (None: now)."""
    if not value:
        return None
    try:
        naive = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConsoleError(422, "The start must be a date and time, like 2030-01-31T09:00.") from None
    try:
        zone = zoneinfo.ZoneInfo(zone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return (naive.replace(tzinfo=zone) if naive.tzinfo is None else naive).astimezone(dt.UTC)


def _replies(step: str | None, intent: str | None, after: float) -> list[ReplyWhatIf]:
    if not step or not intent:
        return []
    if intent not in INTENTS:
        raise ConsoleError(422, f"The reply's intent must be one of {', '.join(INTENTS)}.")
    return [ReplyWhatIf(step_id=step, intent=ReplyIntent(intent), after_hours=after)]


def picture(out: PreviewOut) -> Timeline:
    """The timeline of a preview, its axis from the preview's start."""
    return layout(out.items, out.start_at, out.timezone)


def _shown(out: PreviewOut | None) -> dict[str, Any]:
    if out is None:
        return {"out": None, "timeline": None}
    return {"out": out, "timeline": picture(out), "legend": LEGEND, "count_label": count_label}


@dataclass(frozen=True)
class StoredContact:
    """A stored contact as the preview page names it, with its open enrollment in the cadence."""

    id: str
    label: str
    timezone: str
    open_enrollment: str | None


async def _stored(backend: Backend, ref: str, cadence_id: str) -> StoredContact:
    """The contact (by id or external id) and its open enrollment in the cadence; NotFound."""

    def load(session: Session) -> StoredContact:
        person = find_contact(session, ref)
        if person is None:
            raise NotFound(f"contact {ref!r} not found", {"field": "contact_id"})
        row = open_enrollment_of(session, uuid.UUID(cadence_id), person.id)
        return StoredContact(str(person.id), contact_label(person), person.timezone or "UTC", str(row.id) if row else None)

    return await backend.db(load)


def may_enroll(user: ConsoleUser) -> bool:
    """Whether the signed-in role may enroll (the API's POST /v1/enrollments: service, admin)."""
    return user.role in ENROLLING


def _enroll_start(value: str, zone_name: str) -> dt.datetime | None:
    """When an enrollment from the preview starts: the preview's start, or now (None) when
    none was given or it has passed, as the preview itself reads it."""
    start = _start(value, zone_name)
    return start if start is not None and start > dt.datetime.now(dt.UTC) else None


def _enrolling(user: ConsoleUser, view: CadenceView, out: PreviewOut | None, stored: StoredContact | None) -> dict[str, Any] | None:
    """Whether the enroll form is offered under a stored contact's preview, or why not."""
    if out is None or stored is None:
        return None
    published = view.cadence.published_version
    if not may_enroll(user):
        return {"offer": False, "why": "role"}
    if published is None:
        return {"offer": False, "why": "unpublished"}
    if out.version != f"v{published.version}":
        return {"offer": False, "why": "version", "published": f"v{published.version}"}
    if stored.open_enrollment is not None:
        return {"offer": False, "why": "open"}
    return {"offer": True, "why": None, "published": f"v{published.version}"}


async def _cadence_page(
    request: Request,
    user: ConsoleUser,
    cadence_ref: str,
    form: dict[str, Any],
    *,
    submitted: bool,
    enroll_error: CadenceError | ConsoleError | None = None,
) -> Response:
    """The cadence preview page for the form's contact (sample or stored), with the enroll
    form under a stored contact's preview; `enroll_error`: why an enrollment was refused."""
    backend = backend_of(request)
    version = form["version"]
    view = await cadence_service.get_cadence(backend, cadence_ref, version=int(version) if version.isdigit() else None)
    out: PreviewOut | None = None
    stored: StoredContact | None = None
    error: str | None = None
    code = 200
    try:
        if form["who"] == "stored":
            if submitted and not form["contact"]:
                raise ConsoleError(422, "Enter the contact's id or external id.")
            if form["contact"]:
                stored = await _stored(backend, form["contact"], view.cadence.id)
                body = PreviewRequest(
                    cadence=view.cadence.key,
                    version=int(version) if version.isdigit() else version,
                    contact_id=stored.id,
                    start_at=_start(form["start"], stored.timezone),
                    replies=_replies(form["reply_step"], form["reply_intent"], form["reply_after"]),
                    horizon_days=form["horizon"],
                )
                out = await preview_service.preview(backend, body)
        else:
            contact = InlineContact(
                timezone=form["timezone"],
                country=form["country"] or None,
                region=form["region"] or None,
                persona=form["persona"] or None,
                industry=form["industry"] or None,
                tier=form["tier"] or None,
                has_email=form["has_email"],
                has_phone=form["has_phone"],
                consent={"sms": form["consent_sms"], "call": form["consent_call"]},
            )
            body = PreviewRequest(
                cadence=view.cadence.key,
                version=int(version) if version.isdigit() else version,
                contact=contact,
                start_at=_start(form["start"], form["timezone"]),
                replies=_replies(form["reply_step"], form["reply_intent"], form["reply_after"]),
                horizon_days=form["horizon"],
            )
            out = await preview_service.preview(backend, body)
    except ValidationError as err:
        error, code = _message(err), 422
    except ConsoleError as err:
        error, code = err.message, err.status
    except CadenceError as err:
        error, code = err.message, err.status
    if enroll_error is not None:
        refused = enroll_error.message[:1].upper() + enroll_error.message[1:]
        error = refused if error is None else f"{refused} (and no preview: {error})"
        code = enroll_error.status
    enroll_start = _enroll_start(form["start"], stored.timezone) if stored is not None and out is not None else None
    steps = [s.id for s in view.parsed.steps] if view.parsed else []
    return render(
        request,
        "preview.html",
        status=code,
        section="cadences",
        mode="cadence",
        error=error,
        enroll_refused=enroll_error is not None,
        cadence=view.cadence,
        versions=view.cadence.versions or [],
        steps=steps,
        form=form,
        personas=PERSONAS,
        tiers=TIERS,
        intents=INTENTS,
        max_horizon=MAX_HORIZON_DAYS,
        stored=stored,
        enrolling=_enrolling(user, view, out, stored),
        enroll_start=enroll_start,
        **_shown(out),
    )


@router.get("/cadences/{cadence_ref}/preview")
async def cadence_preview(
    request: Request,
    user: Viewer,
    cadence_ref: str,
    run: Annotated[str | None, Query(max_length=5)] = None,
    who: Annotated[str, Query(pattern=WHO_PATTERN)] = "sample",
    contact: Annotated[str, Query(max_length=200)] = "",
    timezone: Annotated[str, Query(max_length=64)] = DEFAULT_ZONE,
    country: Annotated[str, Query(max_length=2)] = DEFAULT_COUNTRY,
    region: Annotated[str, Query(max_length=10)] = "",
    consent_sms: Annotated[str | None, Query(max_length=5)] = None,
    consent_call: Annotated[str | None, Query(max_length=5)] = None,
    has_email: Annotated[str | None, Query(max_length=5)] = None,
    has_phone: Annotated[str | None, Query(max_length=5)] = None,
    persona: Annotated[str, Query(max_length=50)] = "",
    industry: Annotated[str, Query(max_length=100)] = "",
    tier: Annotated[str, Query(max_length=50)] = "",
    version: Annotated[str, Query(pattern=VERSION_PATTERN)] = "published",
    start: Annotated[str, Query(max_length=40)] = "",
    reply_step: Annotated[str, Query(max_length=63)] = "",
    reply_intent: Annotated[str, Query(max_length=20)] = "",
    reply_after: Annotated[float, Query(ge=0, le=24 * 90)] = 1.0,
    horizon: Annotated[int, Query(ge=1, le=MAX_HORIZON_DAYS)] = DEFAULT_HORIZON_DAYS,
) -> Response:
    """A contact in a version of the cadence: every touch, task, deferral and skip, drawn
    and listed. The contact is a sample described by the form (before the form is
    submitted, the defaults: a Chicago contact with an email address and a phone, no SMS or
    call consent, the published version, starting now) or a stored one by id or external
    id, with its real time zone, consents, caps and other open enrollments; under a stored
    contact's preview of the published version, roles that may enroll get the enroll form."""
    submitted = run is not None
    form: dict[str, Any] = {
        "who": who,
        "contact": contact.strip(),
        "timezone": timezone.strip() or DEFAULT_ZONE,
        "country": country.strip().upper(),
        "region": region.strip(),
        "consent_sms": consent_sms is not None,
        "consent_call": consent_call is not None,
        "has_email": has_email is not None if submitted else True,
        "has_phone": has_phone is not None if submitted else True,
        "persona": persona.strip(),
        "industry": industry.strip(),
        "tier": tier.strip(),
        "version": version,
        "start": start.strip(),
        "reply_step": reply_step.strip(),
        "reply_intent": reply_intent.strip(),
        "reply_after": reply_after,
        "horizon": horizon,
    }
    return await _cadence_page(request, user, cadence_ref, form, submitted=submitted)


@router.post("/cadences/{cadence_ref}/enroll")
async def enroll(request: Request, cadence_ref: str, posted: Form) -> Response:
    """Enroll the stored contact just previewed, from the same start, in the published
    version (the one the preview showed, or the page says it changed); then its page. A
    refusal (already enrolled, the no-contact period, an unknown contact) is said on the
    preview page."""
    user = posted.user
    if not may_enroll(user):
        raise ConsoleError(403, f"The {user.role.value} role may not enroll contacts; enrolling needs a service or admin key.")
    backend = backend_of(request)
    horizon = posted.fields.get("horizon", "")
    form: dict[str, Any] = {
        **SAMPLE_DEFAULTS,
        "who": "stored",
        "contact": posted.text("contact", label="The contact", required=True, max_length=200) or "",
        "version": "published",
        "start": posted.text("start", label="The start", max_length=40) or "",
        "horizon": int(horizon) if horizon.isdigit() and 1 <= int(horizon) <= MAX_HORIZON_DAYS else DEFAULT_HORIZON_DAYS,
    }
    view = await cadence_service.get_cadence(backend, cadence_ref)  # an unknown cadence: the 404 page
    previewed = posted.text("version", label="The previewed version", max_length=20)
    published = view.cadence.published_version
    try:
        if published is None:
            raise Conflict(f"cadence {view.cadence.key!r} has no published version yet (only a draft)")
        if previewed != f"v{published.version}":
            raise Conflict(
                f"the published version changed since the preview (it showed {previewed or 'no version'}, "
                f"v{published.version} is published now); look at the preview below before enrolling"
            )
        stored = await _stored(backend, form["contact"], view.cadence.id)
        start_at = _enroll_start(form["start"], stored.timezone)
        info = await enroll_contact(backend, view.cadence.key, stored.id, start_at=start_at, actor=user.actor)
        if not info.created:
            raise Conflict(f"{stored.label} is already enrolled in {view.cadence.key}; nothing was started")
    except Unavailable:
        raise  # the 503 page: nothing was changed
    except (CadenceError, ConsoleError) as err:
        return await _cadence_page(request, user, view.cadence.key, form, submitted=True, enroll_error=err)
    return redirect(f"/console/enrollments/{info.id}")


@router.get("/enrollments/{enrollment_id}/preview")
async def enrollment_preview(
    request: Request,
    user: Viewer,
    enrollment_id: str,
    reply_step: Annotated[str, Query(max_length=63)] = "",
    reply_intent: Annotated[str, Query(max_length=20)] = "",
    reply_after: Annotated[float, Query(ge=0, le=24 * 90)] = 1.0,
    horizon: Annotated[int, Query(ge=1, le=MAX_HORIZON_DAYS)] = DEFAULT_HORIZON_DAYS,
) -> Response:
    """What happens next in a running enrollment, from its live state, to its end or the
    horizon; an optional what-if reply. An ended enrollment, or a workflow that does not
    answer, is said on the page."""
    backend = backend_of(request)
    detail = await reads.get(backend, enrollment_id)  # an unknown id: the 404 page
    people = await overviews.people(backend, detail.contact_id, detail.account_id)
    steps: list[str] = []
    try:
        view = await cadence_service.get_cadence(backend, detail.cadence_key, version=detail.cadence_version)
        steps = [s.id for s in view.parsed.steps] if view.parsed else []
    except CadenceError:
        pass
    form: dict[str, Any] = {
        "reply_step": reply_step.strip(),
        "reply_intent": reply_intent.strip(),
        "reply_after": reply_after,
        "horizon": horizon,
    }
    out: PreviewOut | None = None
    error: str | None = None
    notice: str | None = None
    code = 200
    try:
        what_ifs = WhatIfs(replies=_replies(form["reply_step"], form["reply_intent"], reply_after), horizon_days=horizon)
        out = await preview_service.preview_enrollment(backend, detail.id, what_ifs)
    except ValidationError as err:
        error, code = _message(err), 422
    except ConsoleError as err:
        error, code = err.message, err.status
    except Invalid as err:
        if detail.status not in OPEN:  # it has ended: nothing to foresee, nothing wrong
            notice = err.message[:1].upper() + err.message[1:] + "."
        else:
            error, code = err.message, err.status
    except Unavailable as err:
        error, code = f"{err.message}. Try again in a moment.", err.status
    except CadenceError as err:
        error, code = err.message, err.status
    return render(
        request,
        "preview.html",
        status=code,
        section="enrollments",
        mode="enrollment",
        error=error,
        notice=notice,
        detail=detail,
        contact_label=people.label,
        steps=steps,
        form=form,
        intents=INTENTS,
        max_horizon=MAX_HORIZON_DAYS,
        **_shown(out),
    )
