"""What auditors read: an enrollment's whole story, a contact's story across enrollments (its
export), and whether the hash-chained audit log is intact."""

from __future__ import annotations

from pydantic import BaseModel
from sqlmodel import Session, select

from core.db import transaction
from models import audit
from models.contacts import find_contact
from models.tables import Enrollment
from starter.errors import NotFound
from starter.service import timeline as timelines
from starter.service.backend import Backend
from starter.service.timeline import Timeline


class VerifyResult(BaseModel):
    """Whether the hash-chained audit log is intact, and if not, the first broken link."""

    ok: bool
    checked: int
    broken_entry: int | None = None
    problem: str | None = None


async def timeline(backend: Backend, enrollment_id: str) -> Timeline:
    """The enrollment's whole story: audit log, touches, tasks, events and every workflow
    run's history (from Temporal, or the Postgres archive once Temporal has dropped it)."""
    return await timelines.build(lambda: transaction(backend.engine), backend.workflows, enrollment_id)


async def contact_timelines(backend: Backend, contact: str) -> list[Timeline]:
    """The contact's export: first its own story (suppressions such as STOP, unsubscribe or
    a bounce, consent and preference changes, every event about it), then every enrollment
    of it, each with its timeline."""

    def load(session: Session) -> tuple[Timeline, list[str]]:
        person = find_contact(session, contact)
        if person is None:
            raise NotFound(f"contact {contact!r} not found", {"field": "contact_id"})
        rows = session.exec(select(Enrollment.id).where(Enrollment.contact_id == person.id).order_by(Enrollment.created_at)).all()  # type: ignore[arg-type]
        return timelines.contact_story(session, person), [str(r) for r in rows]

    own, ids = await backend.db(load)
    return [own, *[await timeline(backend, enrollment_id) for enrollment_id in ids]]


async def verify(backend: Backend) -> VerifyResult:
    """Walk the whole chain (every entry's hash, every link, and the recorded head)."""

    def run(session: Session) -> VerifyResult:
        result = audit.verify(session)
        return VerifyResult(
            ok=result.ok, checked=result.checked, broken_entry=result.broken.id if result.broken else None, problem=result.problem
        )

    return await backend.db(run)
