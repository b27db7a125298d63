"""Record audit events. Callers pass plain dicts; the session is committed by the caller."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from emc.audit.models import AuditEvent
from emc.org.models import User


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
        actor=actor.username if isinstance(actor, User) else actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=before,
        after=after,
        reason=reason,
    )
    session.add(event)
    return event
