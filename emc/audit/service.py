"""Record audit events. Callers pass plain dicts; the session is committed by the caller.

The audit trail sits below every domain (each records into it), so it knows a user only as what it stores:
an id and a name (:class:`Actor`); a job or a command names itself with a string ("system", "cli")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import insert
from sqlmodel import Session

from emc.audit.models import AuditEvent
from emc.dbtypes import utcnow


class Actor(Protocol):
    """Who acted, as the trail records them (an ``emc.org.models.User`` is one)."""

    @property
    def id(self) -> int | None: ...

    @property
    def username(self) -> str: ...


def actor_name(actor: Actor | str) -> str:
    """The name the trail (and a row's ``created_by``) records for ``actor``."""
    return actor if isinstance(actor, str) else actor.username


def record(
    session: Session,
    *,
    actor: Actor | str,
    action: str,
    object_type: str,
    object_id: Any,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    row = AuditEvent(**event(actor=actor, action=action, object_type=object_type, object_id=object_id,
                             before=before, after=after, reason=reason))
    session.add(row)
    return row


def event(*, actor: Actor | str, action: str, object_type: str, object_id: Any, before: dict[str, Any] | None = None,
          after: dict[str, Any] | None = None, reason: str = "") -> dict[str, Any]:
    """One event as a row, for :func:`write`: a job that records an event per contract or per settlement
    collects them and writes them with one statement (the time is taken now, when the change is made)."""
    return {"at": utcnow(), "actor_id": None if isinstance(actor, str) else actor.id, "actor": actor_name(actor),
            "action": action, "object_type": object_type, "object_id": str(object_id), "before": before,
            "after": after, "reason": reason}


def write(session: Session, events: Sequence[dict[str, Any]]) -> None:
    """Write collected :func:`event` rows with one executemany insert, in the caller's transaction."""
    if events:
        session.execute(insert(AuditEvent), list(events))
