"""What changed between two versions of a cadence: steps added, removed and reordered
(matched by step id), waits, templates, A/B variants, tasks and the rest of a step, the
messages' text, and the cadence-wide settings (exits, reply branches, loop, policy).

The diff is data (for the API and the console) and sentences (for a terminal and the audit
trail). Pure: two bundles in, a `CadenceDiff` out.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, Field

from cadence.definition import CadenceBundle, CadenceDefinition
from cadence.steps import AnyStep
from cadence.waiting import describe_wait

# The settings of a cadence as a whole, in the order a reader cares about them.
CADENCE_FIELDS = ("name", "description", "audience", "exit_on", "on_reply", "loop", "pause_account_on_reply", "policy")


class StepRef(BaseModel):
    """A step of one of the two versions, by id and position (1-based, as people count)."""

    id: str
    type: str
    position: int


class Moved(BaseModel):
    """A step both versions have, in another place relative to the others."""

    id: str
    from_position: int
    to_position: int


class Change(BaseModel):
    """One field that differs: its value before and after, and a sentence."""

    field: str
    before: Any = None
    after: Any = None
    text: str


class StepChange(BaseModel):
    """A step both versions have whose content differs."""

    id: str
    kind: list[str] = Field(description="What changed: wait, template, variants, type, task, message (the text), other")
    changes: list[Change]


class CadenceDiff(BaseModel):
    """Everything that differs between two versions, as data and as sentences."""

    added: list[StepRef] = Field(default_factory=list)
    removed: list[StepRef] = Field(default_factory=list)
    moved: list[Moved] = Field(default_factory=list)
    changed: list[StepChange] = Field(default_factory=list)
    templates_changed: list[str] = Field(default_factory=list, description="Templates whose text differs (same name)")
    cadence: list[Change] = Field(default_factory=list, description="Settings of the cadence as a whole")

    @property
    def empty(self) -> bool:
        """True when the two versions behave the same."""
        return not (self.added or self.removed or self.moved or self.changed or self.templates_changed or self.cadence)

    def lines(self) -> list[str]:
        """The diff as sentences, one per change, in step order."""
        out = [f"+ step {s.id!r} ({s.type}) added at position {s.position}" for s in self.added]
        out += [f"- step {s.id!r} ({s.type}) removed (was at position {s.position})" for s in self.removed]
        out += [f"~ step {m.id!r} moved from position {m.from_position} to {m.to_position}" for m in self.moved]
        for step in self.changed:
            out += [f"~ step {step.id!r}: {change.text}" for change in step.changes]
        out += [f"~ template {name!r}: text changed" for name in self.templates_changed]
        out += [f"~ cadence: {change.text}" for change in self.cadence]
        return out or ["no differences"]


def diff(before: CadenceBundle, after: CadenceBundle) -> CadenceDiff:
    """What changed from `before` to `after`."""
    old, new = before.definition, after.definition
    old_ids, new_ids = [s.id for s in old.steps], [s.id for s in new.steps]
    old_by_id, new_by_id = {s.id: s for s in old.steps}, {s.id: s for s in new.steps}
    result = CadenceDiff(
        added=[StepRef(id=s.id, type=s.type, position=i + 1) for i, s in enumerate(new.steps) if s.id not in old_by_id],
        removed=[StepRef(id=s.id, type=s.type, position=i + 1) for i, s in enumerate(old.steps) if s.id not in new_by_id],
        moved=_moved(old_ids, new_ids),
    )
    texts_changed = _templates_changed(before, after)
    for step_id in (i for i in new_ids if i in old_by_id):
        changes = step_changes(old_by_id[step_id], new_by_id[step_id])
        touched = sorted(name for name in _template_names(new_by_id[step_id]) if name in texts_changed)
        if touched:
            changes.append(Change(field="message", before=None, after=touched, text=f"message text changed ({', '.join(touched)})"))
        if changes:
            result.changed.append(StepChange(id=step_id, kind=sorted({_kind(c.field) for c in changes}), changes=changes))
    result.templates_changed = sorted(texts_changed)
    result.cadence = _cadence_changes(old, new)
    return result


def step_changes(old: AnyStep, new: AnyStep) -> list[Change]:
    """Every field of a step that differs (the id is the same by definition)."""
    before, after = old.model_dump(mode="json", exclude={"id"}), new.model_dump(mode="json", exclude={"id"})
    changes: list[Change] = []
    for field in sorted(before.keys() | after.keys(), key=_field_order):
        was, now = before.get(field), after.get(field)
        if was == now:
            continue
        if field == "wait":
            text = f"wait {describe_wait(old.wait)} -> {describe_wait(new.wait)}"
        elif field == "template":
            text = f"template {was!r} -> {now!r}"
        elif field == "variants":
            text = f"A/B variants {_variants(was)} -> {_variants(now)}"
        elif field == "type":
            text = f"type {was} -> {now}"
        else:
            text = f"{field} {_short(was)} -> {_short(now)}"
        changes.append(Change(field=field, before=was, after=now, text=text))
    return changes


def _moved(old_ids: list[str], new_ids: list[str]) -> list[Moved]:
    """Steps of both versions that left the longest run of steps kept in the same order."""
    common_old = [i for i in old_ids if i in new_ids]
    common_new = [i for i in new_ids if i in old_ids]
    matcher = difflib.SequenceMatcher(a=common_old, b=common_new, autojunk=False)
    in_order = {common_old[block.a + k] for block in matcher.get_matching_blocks() for k in range(block.size)}
    return [Moved(id=i, from_position=old_ids.index(i) + 1, to_position=new_ids.index(i) + 1) for i in common_new if i not in in_order]


def _templates_changed(before: CadenceBundle, after: CadenceBundle) -> set[str]:
    return {
        name
        for name, template in after.templates.items()
        if name in before.templates and before.templates[name].model_dump() != template.model_dump()
    }


def _template_names(step: AnyStep) -> list[str]:
    names = getattr(step, "template_names", None)
    return list(names()) if names is not None else []


def _cadence_changes(old: CadenceDefinition, new: CadenceDefinition) -> list[Change]:
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    changes = []
    for field in CADENCE_FIELDS:
        was, now = before.get(field), after.get(field)
        if was == now:
            continue
        if isinstance(was, dict) and isinstance(now, dict):
            keys = sorted(k for k in was.keys() | now.keys() if was.get(k) != now.get(k))
            text = f"{field}: " + ", ".join(f"{k} {_short(was.get(k))} -> {_short(now.get(k))}" for k in keys)
        else:
            text = f"{field} {_short(was)} -> {_short(now)}"
        changes.append(Change(field=field, before=was, after=now, text=text))
    return changes


def _kind(field: str) -> str:
    return field if field in ("wait", "template", "variants", "type", "task", "message") else "other"


def _field_order(field: str) -> tuple[int, str]:
    order = ("type", "wait", "template", "variants", "task", "repeat")
    return (order.index(field) if field in order else len(order), field)


def _variants(value: Any) -> str:
    if not value:
        return "none"
    return ", ".join(f"{v['id']}:{v['template']} (weight {v['weight']})" for v in value)


def _short(value: Any, limit: int = 80) -> str:
    text = "unset" if value is None else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
