"""What the inbox pages read and change: a user's own notifications, through the scope rule of the table (which
also hides a notification whose subject the user can no longer see)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlmodel import Session, col

from emc.dbtypes import utcnow
from emc.notify.models import Notification
from emc.org.scope import NotFound, Scope

PAGE = 50


def _mine(scope: Scope) -> list:
    """The user's own rows, in scope. ``user_id`` is named even though the rule names it too: an administrator's
    rule passes every row, and an inbox is personal."""
    return [col(Notification.user_id) == scope.user_id, scope.clause_for(Notification)]


def unread_count(session: Session, scope: Scope) -> int:
    """The bell: one query."""
    if scope.user_id is None:
        return 0
    return int(session.execute(select(func.count()).select_from(Notification).where(
        *_mine(scope), col(Notification.resolved_at).is_(None), col(Notification.read_at).is_(None))).scalar_one())


def listing(session: Session, scope: Scope, show: str = "unread", page: int = 1) -> tuple[list[Notification], int]:
    """One page of notifications, newest first, and how many there are. ``show``: unread (open and unread),
    open (open, read or not) or all (resolved ones too)."""
    if scope.user_id is None:
        return [], 0
    where = _mine(scope)
    if show in ("unread", "open"):
        where.append(col(Notification.resolved_at).is_(None))
    if show == "unread":
        where.append(col(Notification.read_at).is_(None))
    total = int(session.execute(select(func.count()).select_from(Notification).where(*where)).scalar_one())
    rows = session.execute(select(Notification).where(*where)
                           .order_by(col(Notification.opened_at).desc(), col(Notification.id).desc())
                           .offset((max(page, 1) - 1) * PAGE).limit(PAGE)).scalars().all()
    return list(rows), total


def mark_read(session: Session, scope: Scope, notification_id: int) -> Notification:
    """Mark one read (once; a second time changes nothing). Another user's, or one out of scope: not found."""
    row = session.execute(select(Notification).where(col(Notification.id) == notification_id, *_mine(scope))
                          ).scalars().first()
    if row is None:
        raise NotFound("notification")
    if row.read_at is None:
        row.read_at = utcnow()
        session.flush()
    return row


def mark_all_read(session: Session, scope: Scope) -> int:
    if scope.user_id is None:
        return 0
    result = session.execute(update(Notification).where(*_mine(scope), col(Notification.read_at).is_(None))
                             .values(read_at=utcnow()).execution_options(synchronize_session=False))
    return int(cast(CursorResult[Any], result).rowcount)
