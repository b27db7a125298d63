"""What an administrator changes on another user: role and scope, active or not. Each change is audited
(field from → to, by whom, why), nothing is recorded when nothing changes, and two guards hold:

- no administrator changes their own role or deactivates themself (by accident, from the users page);
- the last active administrator is never demoted or deactivated, so the installation keeps one who can.

The active administrators are read under a row lock (``FOR UPDATE`` on PostgreSQL; SQLite has one writer), so
two administrators demoting each other at once cannot both pass the guard. Services never commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from emc.audit import service as audit
from emc.org.models import Esco, Region, Role, User
from emc.org.service import OrgError, end_sessions, revoke_tokens, scope_misfit, set_active


class GuardRefused(OrgError, status=409, key="error.conflict"):
    """A change the guards refuse; ``message_key`` names the sentence a page shows."""

    def __init__(self, message: str, message_key: str) -> None:
        super().__init__(message)
        self.message_key = message_key


def _active_admin_ids(session: Session) -> list[int]:
    return [i for i in session.execute(select(col(User.id)).where(
        col(User.role) == Role.admin.value, col(User.is_active).is_(True)).with_for_update()).scalars()]


def _guard(session: Session, user: User, actor: User | str, *, stays_admin: bool) -> None:
    if not isinstance(actor, str) and actor.id == user.id:
        raise GuardRefused(f"{user.username}: you cannot deactivate yourself or change your own role",
                           "users.not_yourself")
    if user.role == Role.admin.value and user.is_active and not stays_admin:
        others = [i for i in _active_admin_ids(session) if i != user.id]
        if not others:
            raise GuardRefused(f"{user.username} is the last active administrator", "users.last_admin")


def _resolve(session: Session, role: Role, region: str | None, esco: str | None) -> tuple[int | None, int | None]:
    problem = scope_misfit(role, region, esco)
    if problem:
        raise OrgError(problem)
    region_id = esco_id = None
    if region:
        found = session.execute(select(Region).where(col(Region.code) == region)).scalar_one_or_none()
        if found is None:
            raise OrgError(f"region {region!r} is not known (see `emc regions load`)")
        region_id = found.id
    if esco:
        company = session.execute(select(Esco).where(col(Esco.code) == esco)).scalar_one_or_none()
        if company is None:
            raise OrgError(f"ESCO {esco!r} is not known (ESCOs come with their contract files)")
        esco_id = company.id
    return region_id, esco_id


def _codes(session: Session, region_id: int | None, esco_id: int | None) -> dict[str, Any]:
    region = session.get(Region, region_id) if region_id is not None else None
    company = session.get(Esco, esco_id) if esco_id is not None else None
    return {"region": region.code if region else None, "esco": company.code if company else None}


def change_role(session: Session, user: User, role: str, *, region: str | None, esco: str | None,
                actor: User | str, reason: str = "") -> bool:
    """Give ``user`` the role and scope (region code, ESCO code) asked for; True if anything changed. It takes
    effect on the user's next request (the scope is read from the user's row on each)."""
    try:
        new_role = Role(role)
    except ValueError:
        raise OrgError(f"role {role!r} is not one of {', '.join(r.value for r in Role)}") from None
    region_id, esco_id = _resolve(session, new_role, region or None, esco or None)
    if (user.role, user.region_id, user.esco_id) == (new_role.value, region_id, esco_id):
        return False
    _guard(session, user, actor, stays_admin=new_role == Role.admin)
    before = {"role": user.role, **_codes(session, user.region_id, user.esco_id)}
    user.role, user.region_id, user.esco_id = new_role.value, region_id, esco_id
    after = {"role": user.role, **_codes(session, region_id, esco_id)}
    changed = [k for k in before if before[k] != after[k]]
    audit.record(session, actor=actor, action="user.role_change", object_type="user", object_id=user.username,
                 before={k: before[k] for k in changed}, after={k: after[k] for k in changed}, reason=reason)
    session.add(user)
    return True


def set_user_active(session: Session, user: User, active: bool, *, actor: User | str, reason: str = "") -> bool:
    """Deactivate (every session ends and every API token is revoked, so a later reactivation revives none) or
    reactivate ``user``; True if anything changed."""
    if user.is_active == active:
        return False
    if not active:
        _guard(session, user, actor, stays_admin=False)
    set_active(session, user, active, actor=actor, reason=reason)
    if not active:
        end_sessions(session, user)
        revoke_tokens(session, user, actor=actor, reason="user.deactivate")
    return True
