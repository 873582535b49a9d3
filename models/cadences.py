"""Cadences and their immutable versions in Postgres."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlmodel import Session, select

from cadence.definition import CadenceBundle
from models import audit
from models.contacts import as_uuid
from models.tables import Cadence, CadenceVersion


def cadence_row(session: Session, key: str, name: str) -> Cadence:
    """The cadence with this key, created if new, locked until the transaction ends (its
    versions are numbered and published one at a time)."""
    session.exec(
        sa.dialects.postgresql.insert(Cadence).values(id=uuid.uuid4(), key=key, name=name).on_conflict_do_nothing(index_elements=["key"])
    )
    return session.exec(select(Cadence).where(Cadence.key == key).with_for_update()).one()


def save_bundle(
    session: Session, bundle: CadenceBundle, *, source: str | None = None, actor: str = "system", publish: bool = True
) -> tuple[Cadence, CadenceVersion, bool]:
    """Store a bundle as a version of its cadence and (by default) publish it; returns
    (cadence, version, created).

    The same content twice is one version (matched by hash), so loading playbooks again is
    harmless; publishing the content of an earlier version publishes that version again.
    """
    definition = bundle.definition
    digest = bundle.version_hash
    cadence = cadence_row(session, definition.key, definition.name)
    existing = session.exec(
        select(CadenceVersion).where(CadenceVersion.cadence_id == cadence.id, CadenceVersion.content_hash == digest)
    ).first()
    if existing is not None:
        if publish:
            publish_version(session, cadence, existing, actor=actor)
        return cadence, existing, False
    latest = session.exec(select(sa.func.max(CadenceVersion.version)).where(CadenceVersion.cadence_id == cadence.id)).one()
    dumped = bundle.model_dump(mode="json")
    version = CadenceVersion(
        cadence_id=cadence.id,
        version=(latest or 0) + 1,
        content_hash=digest,
        definition=dumped["definition"],
        templates=dumped["templates"],
        source=source,
        created_by=actor,
    )
    cadence.name = definition.name
    session.add(cadence)
    session.add(version)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="cadence_version_created",
        reason=f"{definition.key} v{version.version}",
        details={"cadence_id": str(cadence.id), "version_id": str(version.id), "hash": digest},
    )
    if publish:
        publish_version(session, cadence, version, actor=actor)
    return cadence, version, True


def publish_version(session: Session, cadence: Cadence, version: CadenceVersion, *, actor: str, reason: str | None = None) -> bool:
    """Make `version` the one new enrollments get (audited); False if it already was."""
    if cadence.published_version_id == version.id:
        return False
    before = session.get(CadenceVersion, cadence.published_version_id) if cadence.published_version_id else None
    cadence.published_version_id = version.id
    cadence.published_at = dt.datetime.now(dt.UTC)
    cadence.published_by = actor
    session.add(cadence)
    session.flush()
    was = f"v{before.version}" if before else "nothing"
    audit.append(
        session,
        actor=actor,
        action="cadence_published",
        reason=reason or f"{cadence.key} v{version.version} published (was {was})",
        details={
            "cadence_id": str(cadence.id),
            "version_id": str(version.id),
            "version": version.version,
            "previous_version": before.version if before else None,
        },
    )
    return True


def find_cadence(session: Session, ref: str) -> Cadence | None:
    """A cadence by id or by key."""
    as_id = as_uuid(ref)
    if as_id is not None:
        found = session.get(Cadence, as_id)
        if found is not None:
            return found
    return session.exec(select(Cadence).where(Cadence.key == ref)).first()


def latest_version(session: Session, cadence: Cadence) -> CadenceVersion | None:
    """The newest version (not necessarily the published one)."""
    return session.exec(
        select(CadenceVersion).where(CadenceVersion.cadence_id == cadence.id).order_by(CadenceVersion.version.desc())  # type: ignore[attr-defined]
    ).first()


def published_version(session: Session, cadence: Cadence) -> CadenceVersion | None:
    """The published version: what new enrollments get (None while only a draft exists)."""
    return session.get(CadenceVersion, cadence.published_version_id) if cadence.published_version_id else None


def version_number(session: Session, cadence: Cadence, number: int) -> CadenceVersion | None:
    """A version of the cadence by its number."""
    return session.exec(select(CadenceVersion).where(CadenceVersion.cadence_id == cadence.id, CadenceVersion.version == number)).first()


def versions(session: Session, cadence: Cadence) -> list[CadenceVersion]:
    """Every version of a cadence, newest first."""
    return list(
        session.exec(
            select(CadenceVersion).where(CadenceVersion.cadence_id == cadence.id).order_by(CadenceVersion.version.desc())  # type: ignore[attr-defined]
        ).all()
    )


# Versions are immutable, so a parsed bundle never goes stale.
_by_id: dict[uuid.UUID, CadenceBundle] = {}


def bundle_of(session: Session, version_id: uuid.UUID | str) -> CadenceBundle:
    """The bundle a version pins. Versions never change, so each is parsed once per process."""
    key = uuid.UUID(str(version_id))
    found = _by_id.get(key)
    if found is None:
        row = session.get(CadenceVersion, key)
        if row is None:
            raise LookupError(f"cadence version {key} does not exist")
        found = CadenceBundle.model_validate({"definition": row.definition, "templates": row.templates})
        _by_id[key] = found
    return found
