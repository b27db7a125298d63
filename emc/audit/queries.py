"""Read side of the audit log: a filtered page of events, and one object's history."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlmodel import Session, col

from emc.audit.models import AuditEvent


def events_page(session: Session, *, action: str, actor: str, offset: int,
                limit: int) -> tuple[Sequence[AuditEvent], int]:
    """Newest first: events whose action starts with ``action`` by ``actor`` (each filter optional), and
    how many there are in all."""
    where = []
    if action:
        where.append(col(AuditEvent.action).startswith(action, autoescape=True))
    if actor:
        where.append(col(AuditEvent.actor) == actor)
    total = session.execute(select(func.count(col(AuditEvent.id))).where(*where)).scalar_one()
    events = session.execute(select(AuditEvent).where(*where).order_by(col(AuditEvent.id).desc())
                             .offset(offset).limit(limit)).scalars().all()
    return events, total


def history(session: Session, object_type: str, object_id: str) -> Sequence[AuditEvent]:
    """Every event recorded on one object, oldest first."""
    return session.execute(select(AuditEvent).where(col(AuditEvent.object_type) == object_type,
                                                    col(AuditEvent.object_id) == object_id)
                           .order_by(col(AuditEvent.id))).scalars().all()
