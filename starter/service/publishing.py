"""Editing a cadence: its draft, publishing, rollback, the diff between versions, and
whether running enrollments follow what is published.

A draft is validated whenever it is saved (errors name the file, the step and the field)
and used by nobody. Publishing stores it as a version (named by the hash of its content, so
the same content is the same version) and makes that version the one new enrollments get;
publishing an earlier version again is a rollback. Running enrollments stay on the version
they run unless they are migrated (`starter.service.operations`) or the cadence follows its
published versions, in which case publishing starts that migration itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field
from sqlmodel import Session

from cadence.definition import CadenceBundle
from cadence.diff import CadenceDiff, diff
from models import audit
from models.cadences import bundle_of, cadence_row, find_cadence, publish_version, published_version, save_bundle, version_number
from models.tables import Cadence, CadenceDraft, CadenceVersion
from starter.errors import Conflict, Invalid, NotFound
from starter.service.backend import Backend
from starter.service.cadences import parse

# What a diff compares: a version number, the draft, or the published version.
Side = int | Literal["draft", "published"]


class DraftOut(BaseModel):
    """The cadence being edited, and what publishing it would change."""

    cadence_id: str
    key: str
    content_hash: str
    based_on_version: int | None
    updated_by: str
    updated_at: dt.datetime
    definition: dict[str, Any]
    changes: list[str] = Field(description="The diff against the published version, as sentences")


class PublishOut(BaseModel):
    """What a publish did: the version now published and the one before it, and the
    migration it started when the cadence follows published versions."""

    key: str
    version: int
    version_id: str
    content_hash: str
    created: bool = Field(description="A new version was stored (false: an existing one was published again)")
    previous_version: int | None
    changed: bool = Field(description="False when that version was already the published one")
    follow_operation_id: str | None = None


class DiffOut(BaseModel):
    """Two versions side by side: the diff as data and as sentences."""

    key: str
    before: str
    after: str
    diff: CadenceDiff
    text: list[str]


def _cadence(session: Session, ref: str) -> Cadence:
    found = find_cadence(session, ref)
    if found is None:
        raise NotFound(f"cadence {ref!r} not found", {"field": "cadence_id"})
    return found


def _draft_out(session: Session, cadence: Cadence, draft: CadenceDraft) -> DraftOut:
    bundle = CadenceBundle.model_validate({"definition": draft.definition, "templates": draft.templates})
    base = published_version(session, cadence)
    changes = diff(bundle_of(session, base.id), bundle).lines() if base else ["a new cadence: nothing is published yet"]
    based = session.get(CadenceVersion, draft.based_on_version_id) if draft.based_on_version_id else None
    return DraftOut(
        cadence_id=str(cadence.id),
        key=cadence.key,
        content_hash=draft.content_hash,
        based_on_version=based.version if based else None,
        updated_by=draft.updated_by,
        updated_at=draft.updated_at,
        definition=draft.definition,
        changes=changes,
    )


async def save_draft(backend: Backend, ref: str, text: str, *, actor: str) -> DraftOut:
    """Validate a definition and keep it as the cadence's draft (creating the cadence, with
    nothing published, when `ref` is a new key). Nothing runs from a draft."""
    bundle = parse(text)
    key = bundle.definition.key

    def store(session: Session) -> DraftOut:
        existing = find_cadence(session, ref)
        if existing is not None and existing.key != key:
            raise Invalid(f"key: the definition's key {key!r} is not the cadence's ({existing.key!r})", {"field": "key"})
        if existing is None and ref != key:
            raise NotFound(f"cadence {ref!r} not found", {"field": "cadence_id"})
        cadence = cadence_row(session, key, bundle.definition.name)
        dumped = bundle.model_dump(mode="json")
        draft = session.get(CadenceDraft, cadence.id) or CadenceDraft(cadence_id=cadence.id, content_hash="", updated_by=actor)
        draft.content_hash = bundle.version_hash
        draft.definition = dumped["definition"]
        draft.templates = dumped["templates"]
        draft.source = text
        draft.based_on_version_id = cadence.published_version_id
        draft.updated_by = actor
        draft.updated_at = dt.datetime.now(dt.UTC)
        session.add(draft)
        session.flush()
        audit.append(
            session,
            actor=actor,
            action="cadence_draft_saved",
            reason=f"{key} draft {bundle.version_hash[:12]}",
            details={"cadence_id": str(cadence.id), "hash": bundle.version_hash},
        )
        return _draft_out(session, cadence, draft)

    return await backend.db(store)


async def get_draft(backend: Backend, ref: str) -> DraftOut:
    """The cadence's draft (404 when it has none)."""

    def load(session: Session) -> DraftOut:
        cadence = _cadence(session, ref)
        draft = session.get(CadenceDraft, cadence.id)
        if draft is None:
            raise NotFound(f"cadence {cadence.key!r} has no draft", {"field": "cadence_id"})
        return _draft_out(session, cadence, draft)

    return await backend.db(load)


async def discard_draft(backend: Backend, ref: str, *, actor: str) -> None:
    """Throw the draft away (the published version is untouched)."""

    def drop(session: Session) -> None:
        cadence = _cadence(session, ref)
        draft = session.get(CadenceDraft, cadence.id)
        if draft is None:
            raise NotFound(f"cadence {cadence.key!r} has no draft", {"field": "cadence_id"})
        session.delete(draft)
        audit.append(session, actor=actor, action="cadence_draft_discarded", reason=cadence.key, details={"cadence_id": str(cadence.id)})

    await backend.db(drop)


async def publish(backend: Backend, ref: str, *, actor: str, version: int | None = None, reason: str | None = None) -> PublishOut:
    """Publish the draft (a new version, or the existing one with the same content), or,
    with `version`, publish that version again (a rollback). Running enrollments stay where
    they are, unless the cadence follows published versions: then a migration of every open
    enrollment on another version is previewed and applied with the usual rules."""

    def store(session: Session) -> tuple[PublishOut, bool]:
        cadence = _cadence(session, ref)
        session.refresh(cadence, with_for_update=True)
        before = published_version(session, cadence)
        if version is None:
            draft = session.get(CadenceDraft, cadence.id)
            if draft is None:
                raise Conflict(f"cadence {cadence.key!r} has no draft to publish; save one, or name a version", {"field": "version"})
            bundle = CadenceBundle.model_validate({"definition": draft.definition, "templates": draft.templates})
            _, chosen, created = save_bundle(session, bundle, source=draft.source, actor=actor, publish=False)
            session.delete(draft)
        else:
            found = version_number(session, cadence, version)
            if found is None:
                raise NotFound(f"cadence {cadence.key!r} has no version {version}", {"field": "version"})
            chosen, created = found, False
        changed = publish_version(session, cadence, chosen, actor=actor, reason=reason)
        out = PublishOut(
            key=cadence.key,
            version=chosen.version,
            version_id=str(chosen.id),
            content_hash=chosen.content_hash,
            created=created,
            previous_version=before.version if before else None,
            changed=changed,
        )
        return out, changed and cadence.follow_published

    out, follow = await backend.db(store)
    if follow:
        from starter.service import operations  # imported here: operations reads cadences through this module's callers

        operation = await operations.follow_published(backend, out.key, actor=actor)
        out.follow_operation_id = operation
    return out


async def set_follow(backend: Backend, ref: str, follow: bool, *, actor: str) -> bool:
    """Whether running enrollments move to each newly published version (audited)."""

    def store(session: Session) -> bool:
        cadence = _cadence(session, ref)
        if cadence.follow_published != follow:
            cadence.follow_published = follow
            session.add(cadence)
            session.flush()
            what = "follow each published version" if follow else "stay on the version they run"
            audit.append(
                session,
                actor=actor,
                action="cadence_follow_changed",
                reason=f"{cadence.key}: running enrollments {what}",
                details={"cadence_id": str(cadence.id), "follow_published": follow},
            )
        return follow

    return await backend.db(store)


def _side(session: Session, cadence: Cadence, side: Side) -> tuple[str, CadenceBundle]:
    if side == "draft":
        draft = session.get(CadenceDraft, cadence.id)
        if draft is None:
            raise NotFound(f"cadence {cadence.key!r} has no draft", {"field": "to"})
        return "draft", CadenceBundle.model_validate({"definition": draft.definition, "templates": draft.templates})
    row = published_version(session, cadence) if side == "published" else version_number(session, cadence, side)
    if row is None:
        raise NotFound(f"cadence {cadence.key!r} has no version {side}", {"field": "version"})
    return f"v{row.version}", bundle_of(session, row.id)


async def compare(backend: Backend, ref: str, before: Side = "published", after: Side = "draft") -> DiffOut:
    """What changed from one version (or the draft) to another."""

    def load(session: Session) -> DiffOut:
        cadence = _cadence(session, ref)
        left, old = _side(session, cadence, before)
        right, new = _side(session, cadence, after)
        result = diff(old, new)
        return DiffOut(key=cadence.key, before=left, after=right, diff=result, text=result.lines())

    return await backend.db(load)


async def source(backend: Backend, ref: str, version: int | None = None) -> str | None:
    """The text to edit: the draft's, else that of `version` (the published one by default),
    as it was written, or as YAML when it was stored without its text."""

    def load(session: Session) -> str | None:
        cadence = _cadence(session, ref)
        draft = session.get(CadenceDraft, cadence.id)
        if draft is not None and version is None and draft.source:
            return draft.source
        row = version_number(session, cadence, version) if version else published_version(session, cadence)
        if row is None:
            return draft.source if draft is not None else None
        if row.source:
            return row.source
        return yaml.safe_dump({**row.definition, "templates": row.templates}, sort_keys=False, allow_unicode=True)

    return await backend.db(load)
