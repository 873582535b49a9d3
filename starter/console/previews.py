"""Preview pages: "what would this contact receive, and when?" for a sample contact in any
version of a cadence (a form of the contact's time zone, country, consents and segment, the
version, the start and one what-if reply), and "what happens next" in a running enrollment.

Both draw the preview (`starter.service.previews`) as an inline SVG timeline laid out by
`starter.console.timeline_svg` (no script) over a table of every item with its local and UTC
time and the gate's reason. Anyone signed in may look: a preview writes nothing.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated, Any, get_args

from fastapi import Query, Request, Response
from pydantic import ValidationError

from cadence.contact_policy import SegmentMatch
from cadence.definition import ReplyIntent
from starter.console.pages import ConsoleError, backend_of, console_router, render
from starter.console.session import Viewer
from starter.console.timeline_svg import LANE_LABELS, SHAPES, Timeline, layout, shape_path
from starter.errors import CadenceError, Invalid, Unavailable
from starter.service import cadences as cadence_service
from starter.service import overviews, reads
from starter.service import previews as preview_service
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


@router.get("/cadences/{cadence_ref}/preview")
async def cadence_preview(
    request: Request,
    user: Viewer,
    cadence_ref: str,
    run: Annotated[str | None, Query(max_length=5)] = None,
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
    """A sample contact in a version of the cadence: every touch, task, deferral and skip,
    drawn and listed. Before the form is submitted, the defaults (a Chicago contact with an
    email address and a phone, no SMS or call consent, the published version, starting now)."""
    backend = backend_of(request)
    shown_version = int(version) if version.isdigit() else None
    view = await cadence_service.get_cadence(backend, cadence_ref, version=shown_version)
    submitted = run is not None
    form: dict[str, Any] = {
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
    out: PreviewOut | None = None
    error: str | None = None
    code = 200
    try:
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
            replies=_replies(form["reply_step"], form["reply_intent"], reply_after),
            horizon_days=horizon,
        )
        out = await preview_service.preview(backend, body)
    except ValidationError as err:
        error, code = _message(err), 422
    except ConsoleError as err:
        error, code = err.message, err.status
    except CadenceError as err:
        error, code = err.message, err.status
    steps = [s.id for s in view.parsed.steps] if view.parsed else []
    return render(
        request,
        "preview.html",
        status=code,
        section="cadences",
        mode="cadence",
        error=error,
        cadence=view.cadence,
        versions=view.cadence.versions or [],
        steps=steps,
        form=form,
        personas=PERSONAS,
        tiers=TIERS,
        intents=INTENTS,
        max_horizon=MAX_HORIZON_DAYS,
        **_shown(out),
    )


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
