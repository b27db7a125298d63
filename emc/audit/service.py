"""Record audit events. Callers pass plain dicts; the session is committed by the caller."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from emc.audit.models import AuditEvent
from emc.org.models import User


def actor_name(actor: User | str) -> str:
    """Who acted, as the audit log and the records name them: a user's username, or the name given (a job)."""
    return actor.username if isinstance(actor, User) else actor


def record(
    session: Session,
    *,
    actor: User | str,
    action: str,
    object_type: str,
    object_id: Any,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    event = AuditEvent(
        actor_id=actor.id if isinstance(actor, User) else None,
        actor=actor_name(actor),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=before,
        after=after,
        reason=reason,
    )
    session.add(event)
    return event
