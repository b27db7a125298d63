"""Read side of the audit log: a filtered page of events, the same filter for an export, the filters' choices,
and one object's history.

The trail sits below the domains, so it takes the reader's visibility as a WHERE clause over
:class:`AuditEvent` (the caller passes ``scope.clause_for(AuditEvent)``) rather than a scope it cannot know."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlmodel import Session, col

from emc.audit.models import AuditEvent


@dataclass(frozen=True)
class AuditFilter:
    """What the reader narrows the log to; each part optional (empty: no condition)."""

    since: datetime | None = None  # inclusive, an aware instant
    until: datetime | None = None  # exclusive
    kind: str = ""  # object type, exactly
    object_id: str = ""  # object id / code / number, from its start
    actor: str = ""  # the name the trail records, exactly
    action: str = ""  # the action exactly, or a group ending in "." ("settlement." is every settlement action)

    def clauses(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.since is not None:
            where.append(col(AuditEvent.at) >= self.since)
        if self.until is not None:
            where.append(col(AuditEvent.at) < self.until)
        if self.kind:
            where.append(col(AuditEvent.object_type) == self.kind)
        if self.object_id:
            where.append(col(AuditEvent.object_id).startswith(self.object_id, autoescape=True))
        if self.actor:
            where.append(col(AuditEvent.actor) == self.actor)
        if self.action.endswith("."):  # a group: "settlement." is every settlement action
            where.append(col(AuditEvent.action).startswith(self.action, autoescape=True))
        elif self.action:
            where.append(col(AuditEvent.action) == self.action)
        return where


def events_page(session: Session, flt: AuditFilter, *, visible: ColumnElement[bool] | None = None, offset: int,
                limit: int) -> tuple[Sequence[AuditEvent], int]:
    """Newest first: one page of the events the filter and ``visible`` let through, and how many there are in
    all. Two statements whatever the page size."""
    where = [*flt.clauses(), true() if visible is None else visible]
    total = session.execute(select(func.count(col(AuditEvent.id))).where(*where)).scalar_one()
    events = session.execute(select(AuditEvent).where(*where).order_by(col(AuditEvent.id).desc())
                             .offset(offset).limit(limit)).scalars().all()
    return events, total


def count(session: Session, flt: AuditFilter, *, visible: ColumnElement[bool] | None = None) -> int:
    where = [*flt.clauses(), true() if visible is None else visible]
    return int(session.execute(select(func.count(col(AuditEvent.id))).where(*where)).scalar_one())


@dataclass(frozen=True)
class Choices:
    """The values the log's filters offer: those that occur among the events the reader may see."""

    kinds: list[str]
    actions: list[str]
    actors: list[str]


def choices(session: Session, *, visible: ColumnElement[bool] | None = None) -> Choices:
    """Three statements: the object kinds, actions and actor names that occur (failed logins name whatever was
    typed, so they offer no actor)."""
    seen = true() if visible is None else visible

    def values(column: Any, *where: ColumnElement[bool]) -> list[str]:
        return [v for v in session.execute(select(column).distinct().where(seen, *where).order_by(column)).scalars()
                if v]

    return Choices(kinds=values(col(AuditEvent.object_type)), actions=values(col(AuditEvent.action)),
                   actors=values(col(AuditEvent.actor), col(AuditEvent.action) != "login.failed"))


def history(session: Session, object_type: str, object_id: str) -> Sequence[AuditEvent]:
    """Every event recorded on one object, oldest first."""
    return session.execute(select(AuditEvent).where(col(AuditEvent.object_type) == object_type,
                                                    col(AuditEvent.object_id) == object_id)
                           .order_by(col(AuditEvent.id))).scalars().all()
