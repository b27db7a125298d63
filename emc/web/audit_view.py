"""The audit log as a reader sees it: each event's actor by name and role, its object by name with a link
where the reader may open it, its action translated and its change field by field.

The trail stores only names and ids (it sits below every domain); this module, in the web shell above them,
looks the names up — one statement per kind of object named on the page and one for the actors, so a page
costs the same number of statements however many events it shows. An object is linked only when the reader's
scope finds it (an object since deleted, or outside the scope, is named by its stored id, unlinked)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import String, cast, select
from sqlmodel import Session, col

from emc.audit.models import AuditEvent
from emc.audit.present import Change, Shown, changes, changes_text
from emc.contracts.models import Contract
from emc.metering.models import ImportBatch, Meter
from emc.org.models import Esco, Institution, Region, User
from emc.org.scope import Scope
from emc.reports.cells import safe_cell
from emc.settlement.models import Settlement
from emc.web.i18n import Translator


@dataclass(frozen=True)
class Ref:
    """An object or actor as the page names it."""

    text: str
    href: str | None = None
    note: str = ""  # the role of an actor, the id of an object shown by name


@dataclass(frozen=True)
class Entry:
    event: AuditEvent
    actor: Ref
    kind: str
    obj: Ref
    action: str
    changes: list[Change]


# kind → (model, key column, name column, link) for the objects whose names the log shows
_Link = Callable[[str], str | None]
_NAMED: dict[str, tuple[type, Any, Any, _Link]] = {
    "contract": (Contract, col(Contract.code), col(Contract.name), lambda k: f"/contracts/{k}"),
    "settlement": (Settlement, col(Settlement.number), col(Settlement.number), lambda k: f"/settlements/{k}"),
    "institution": (Institution, col(Institution.code), col(Institution.name),
                    lambda k: f"/carbon/institutions/{k}"),
    "esco": (Esco, col(Esco.code), col(Esco.name), lambda k: None),
    "meter": (Meter, col(Meter.code), col(Meter.name), lambda k: None),
    "import_batch": (ImportBatch, cast(col(ImportBatch.id), String), col(ImportBatch.file_name),
                     lambda k: f"/imports/{k}"),
    "user": (User, col(User.username), col(User.display_name), lambda k: f"/admin/users#user-{k}"),
}


def _objects(session: Session, scope: Scope, events: Sequence[AuditEvent]) -> dict[tuple[str, str], Ref]:
    wanted: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if e.object_type in _NAMED:
            wanted[e.object_type].add(e.object_id)
    out: dict[tuple[str, str], Ref] = {}
    for kind, ids in sorted(wanted.items()):
        model, key, name, link = _NAMED[kind]
        for k, n in session.execute(select(key, name).where(key.in_(sorted(ids)), scope.clause_for(model))):
            shown = n if n and n != k else ""
            out[(kind, k)] = Ref(text=shown or k, href=link(k), note=k if shown else "")
    return out


def _actors(session: Session, events: Sequence[AuditEvent]) -> dict[str, User]:
    """The users among the actors, by the name the trail records (a back-dated demo step or a command records a
    user by name alone, without the id)."""
    names = sorted({e.actor for e in events})
    if not names:
        return {}
    return {u.username: u for u in session.execute(select(User).where(col(User.username).in_(names))).scalars()}


# (object kind or "*", field) → the catalog prefix of its stored values (a status, a role), translated on the page
_VALUES = {("settlement", "status"): "settle.status.", ("*", "role"): "role.", ("*", "category"): "category.",
           ("*", "utility"): "utility.", ("*", "register_type"): "register.", ("*", "sub_item"): "audit.sub_item.",
           ("import_batch", "mode"): "imports.mode_"}
# fields that store a row's id or code: the page shows the row's name, with the code
_PLACES: dict[str, tuple[type, Any, Any, Any]] = {
    "region_id": (Region, col(Region.id), col(Region.name), col(Region.code)),
    "region": (Region, col(Region.code), col(Region.name), col(Region.code)),
    "institution_id": (Institution, col(Institution.id), col(Institution.name), col(Institution.code)),
}


def _places(session: Session, events: Sequence[AuditEvent]) -> dict[tuple[str, str], str]:
    """(field, stored value) → "name (code)" for the region and institution ids and codes the events name: at
    most one statement per such field on the page."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for e in events:
        for side in (e.before or {}, e.after or {}):
            for field in _PLACES.keys() & side.keys():
                if side[field] is not None:
                    wanted[field].add(str(side[field]))
    out: dict[tuple[str, str], str] = {}
    for field, values in sorted(wanted.items()):
        _, key, name, code = _PLACES[field]
        keys = sorted(int(v) for v in values if v.isdigit()) if field.endswith("_id") else sorted(values)
        for k, n, c in session.execute(select(key, name, code).where(key.in_(keys))):
            out[(field, str(k))] = f"{n} ({c})"
    return out


def _translated(t: Translator, kind: str, items: list[Change], places: dict[tuple[str, str], str]) -> list[Change]:
    def value(field: str, v: Shown | None) -> Shown | None:
        if v is None or v.raw is None:
            return v
        prefix = _VALUES.get((kind, field)) or _VALUES.get(("*", field))
        if prefix is not None and isinstance(v.raw, str):
            text = t.label(prefix + v.raw.replace("-", "_"), v.raw)
        elif (field, str(v.raw)) in places:
            text = places[(field, str(v.raw))]
        else:
            return v
        return replace(v, text=text, line=text)

    return [replace(c, before=value(c.field, c.before), after=value(c.field, c.after)) for c in items]


def entries(session: Session, scope: Scope, events: Sequence[AuditEvent], t: Translator) -> list[Entry]:
    """Every event readable: one statement for the actors, at most one per kind of named object and one per
    kind of place (region, institution) a change names."""
    objects, users, places = _objects(session, scope, events), _actors(session, events), _places(session, events)
    out = []
    for e in events:
        u = users.get(e.actor)
        actor = (Ref(text=u.display_name or u.username, note=t.label(f"role.{u.role}", u.role)) if u is not None
                 else Ref(text=t.label(f"audit.actor.{e.actor}", e.actor)))
        obj = objects.get((e.object_type, e.object_id), Ref(text=e.object_id))
        out.append(Entry(event=e, actor=actor, kind=kind_label(t, e.object_type), obj=obj,
                         action=action_label(t, e.action),
                         changes=_translated(t, e.object_type, changes(e.before, e.after, yes=t("audit.yes"),
                                                                       no=t("audit.no")), places)))
    return out


def kind_label(t: Translator, kind: str) -> str:
    return t.label(f"audit.kind.{kind}", kind)


def action_label(t: Translator, action: str) -> str:
    return t.label(f"audit.do.{action}", action)


def field_label(t: Translator, field: str) -> str:
    return t.label(f"audit.field.{field}", field)


def csv_rows(items: Iterable[Entry], t: Translator, local: Callable[[Any], str]) -> Iterable[list[str]]:
    """The header (translated) and one row per entry: what the page shows, each change on its own line; a cell
    that Excel would run as a formula is quoted (emc.reports.cells)."""
    yield [t("audit.at"), t("audit.actor"), t("users.role"), t("audit.action"), t("audit.kind"),
           t("audit.object_id"), t("audit.object"), t("audit.change"), t("audit.reason")]
    for x in items:  # names, values and reasons are typed by people: none may run as a formula in Excel
        yield [safe_cell(v) for v in (local(x.event.at), x.actor.text, x.actor.note, x.action, x.kind,
                                      x.event.object_id, x.obj.text,
                                      changes_text(x.changes, lambda f: field_label(t, f)), x.event.reason)]
