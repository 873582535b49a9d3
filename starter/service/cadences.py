"""Publishing cadences and reading them back.

A definition (YAML or JSON, templates inline or from the shipped folder) is validated as a
whole and stored as a version named by the hash of its content: the same content again is
the same version, a changed one is a new version. Publishing it makes it what new
enrollments get; running enrollments keep the version they run unless migrated (drafts,
rollback and migrations: `starter.service.publishing` and `starter.service.operations`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, func, select

from cadence.definition import CadenceBundle, CadenceDefinition
from cadence.parse import DefinitionError
from models.cadences import bundle_of, find_cadence, published_version, save_bundle, versions
from models.tables import Cadence, CadenceDraft, CadenceVersion, Enrollment
from starter.catalog import TEMPLATES_DIR, folder_lookup, load_file, parse_text
from starter.errors import Invalid, NotFound
from starter.service.backend import Backend

OPEN = ("pending", "active", "paused")


class VersionOut(BaseModel):
    """One immutable version of a cadence."""

    id: str
    version: int
    content_hash: str
    created_by: str
    created_at: dt.datetime
    steps: int
    enrollments: int
    open_enrollments: int = 0
    published: bool = False


class DraftInfo(BaseModel):
    """The draft of a cadence, in short (the whole of it: GET .../draft)."""

    content_hash: str
    updated_by: str
    updated_at: dt.datetime


class CadenceOut(BaseModel):
    """A cadence with its latest and its published version (and, when read singly, all
    versions), whether it has a draft, and whether its running enrollments follow what is
    published."""

    id: str
    key: str
    name: str
    latest_version: VersionOut | None
    published_version: VersionOut | None = None
    follow_published: bool = False
    draft: DraftInfo | None = None
    versions: list[VersionOut] | None = None
    definition: dict[str, Any] | None = None
    created: bool | None = None
    enrollments: int = 0
    open_enrollments: int = 0


class Published(BaseModel):
    """One file or document stored as a cadence version."""

    key: str
    version: int
    hash: str
    created: bool


def _counts(session: Session, cadence: Cadence) -> dict[uuid.UUID, tuple[int, int]]:
    """Enrollments per version: (all, open)."""
    rows = session.exec(
        select(Enrollment.cadence_version_id, Enrollment.status, func.count())
        .where(Enrollment.cadence_id == cadence.id)
        .group_by(Enrollment.cadence_version_id, Enrollment.status)  # type: ignore[arg-type]
    ).all()
    out: dict[uuid.UUID, tuple[int, int]] = {}
    for version_id, status, n in rows:
        total, open_ = out.get(version_id, (0, 0))
        out[version_id] = (total + n, open_ + (n if status in OPEN else 0))
    return out


def _version_out(row: CadenceVersion, counts: dict[uuid.UUID, tuple[int, int]], published: uuid.UUID | None = None) -> VersionOut:
    total, open_ = counts.get(row.id, (0, 0))
    return VersionOut(
        published=row.id == published,
        id=str(row.id),
        version=row.version,
        content_hash=row.content_hash,
        created_by=row.created_by,
        created_at=row.created_at,
        steps=len(row.definition.get("steps", [])),
        enrollments=total,
        open_enrollments=open_,
    )


def _cadence_out(
    session: Session, cadence: Cadence, counts: dict[uuid.UUID, tuple[int, int]], latest: CadenceVersion | None, **extra: Any
) -> CadenceOut:
    published = published_version(session, cadence)
    draft = session.get(CadenceDraft, cadence.id)
    return CadenceOut(
        id=str(cadence.id),
        key=cadence.key,
        name=cadence.name,
        latest_version=_version_out(latest, counts, cadence.published_version_id) if latest else None,
        published_version=_version_out(published, counts, cadence.published_version_id) if published else None,
        follow_published=cadence.follow_published,
        draft=DraftInfo(content_hash=draft.content_hash, updated_by=draft.updated_by, updated_at=draft.updated_at) if draft else None,
        enrollments=sum(total for total, _ in counts.values()),
        open_enrollments=sum(open_ for _, open_ in counts.values()),
        **extra,
    )


def parse(text: str, *, source: str = "request body") -> CadenceBundle:
    """Validate a definition's text; Invalid lists every problem with its step and field."""
    if not text.strip():
        raise Invalid("the body is empty; send a cadence definition in YAML or JSON", {"field": "(body)"})
    try:
        return parse_text(text, source=source, lookup=folder_lookup(TEMPLATES_DIR))
    except DefinitionError as exc:
        raise Invalid(str(exc), {"problems": [p.model_dump() for p in exc.problems]}) from None


async def publish(backend: Backend, text: str, *, actor: str) -> CadenceOut:
    """Store a definition as the newest version of its cadence (or find the same content)."""
    bundle = parse(text)

    def store(session: Session) -> CadenceOut:
        cadence, version, created = save_bundle(session, bundle, source=text, actor=actor)
        return _cadence_out(session, cadence, _counts(session, cadence), version, created=created)

    return await backend.db(store)


def check_files(paths: Iterable[Path]) -> list[tuple[Path, CadenceBundle | DefinitionError]]:
    """Validate playbook files (with their templates) without storing anything."""
    out: list[tuple[Path, CadenceBundle | DefinitionError]] = []
    for path in paths:
        try:
            out.append((path, load_file(path)))
        except DefinitionError as error:
            out.append((path, error))
    return out


async def publish_files(backend: Backend, paths: Iterable[Path], *, actor: str) -> list[Published]:
    """Store playbook files as cadence versions, all or none (the first bad file refuses the lot)."""
    bundles: list[tuple[Path, CadenceBundle]] = []
    for path, loaded in check_files(paths):
        if isinstance(loaded, DefinitionError):
            raise Invalid(str(loaded), {"file": str(path), "problems": [p.model_dump() for p in loaded.problems]})
        bundles.append((path, loaded))

    def store(session: Session) -> list[Published]:
        out = []
        for path, bundle in bundles:
            cadence, version, created = save_bundle(session, bundle, source=path.read_text(encoding="utf-8"), actor=actor)
            out.append(Published(key=cadence.key, version=version.version, hash=version.content_hash[:12], created=created))
        return out

    return await backend.db(store)


async def list_cadences(backend: Backend) -> list[CadenceOut]:
    """Every cadence with its latest version and how many enrollments it has."""

    def load(session: Session) -> list[CadenceOut]:
        out = []
        for cadence in session.exec(select(Cadence).order_by(Cadence.key)).all():
            latest = versions(session, cadence)[:1]
            out.append(_cadence_out(session, cadence, _counts(session, cadence), latest[0] if latest else None))
        return out

    return await backend.db(load)


class CadenceView(BaseModel):
    """A cadence with every version, and one version's definition (the latest by default)."""

    cadence: CadenceOut
    shown: VersionOut | None
    parsed: CadenceDefinition | None


async def get_cadence(backend: Backend, ref: str, *, version: int | None = None) -> CadenceView:
    """A cadence by id or key with all versions (newest first) and one version's definition."""

    def load(session: Session) -> CadenceView:
        cadence = find_cadence(session, ref)
        if cadence is None:
            raise NotFound(f"cadence {ref!r} not found", {"field": "cadence_id"})
        counts = _counts(session, cadence)
        rows = versions(session, cadence)
        default = published_version(session, cadence) or (rows[0] if rows else None)
        chosen = next((v for v in rows if v.version == version), None) if version else default
        if version and chosen is None:
            raise NotFound(f"cadence {cadence.key!r} has no version {version}", {"field": "version"})
        out = _cadence_out(
            session,
            cadence,
            counts,
            rows[0] if rows else None,
            versions=[_version_out(v, counts, cadence.published_version_id) for v in rows],
            definition=chosen.definition if chosen else None,
        )
        shown = _version_out(chosen, counts, cadence.published_version_id) if chosen else None
        return CadenceView(cadence=out, shown=shown, parsed=bundle_of(session, chosen.id).definition if chosen else None)

    return await backend.db(load)
