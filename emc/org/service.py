"""Regions, parties and users: load, upsert, create. Services never commit; the caller does."""

from __future__ import annotations

import hashlib
import secrets
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import delete
from sqlmodel import Session, col, select

from emc.audit import service as audit
from emc.dbtypes import utcnow
from emc.errors import DomainError
from emc.org.models import ApiToken, Esco, Institution, InstitutionYear, Region, RegionLevel, Role, User, UserSession
from emc.org.passwords import MIN_LENGTH, hash_password, verify_password

SHIPPED_REGIONS = Path(__file__).with_name("regions.toml")


class OrgError(DomainError, ValueError):
    pass


def load_regions(session: Session, path: Path = SHIPPED_REGIONS) -> int:
    """Upsert regions from a TOML file of ``[[regions]]`` (code, name, name_en, level, parent).
    Parents must come before children. Returns how many were added."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    existing = {r.code: r for r in session.exec(select(Region)).all()}
    added = 0
    for i, row in enumerate(data.get("regions", [])):
        where = f"{path}: regions[{i}]"
        code = str(row.get("code", ""))
        if not (len(code) == 6 and code.isdigit()):
            raise OrgError(f"{where}.code: {code!r} is not a 6-digit GB/T 2260 code")
        if row.get("level") not in RegionLevel.__members__:
            raise OrgError(f"{where}.level: {row.get('level')!r} is not one of province, city, district")
        parent = existing.get(str(row.get("parent", ""))) if row.get("parent") else None
        if row.get("parent") and parent is None:
            raise OrgError(f"{where}.parent: {row['parent']!r} is not defined above")
        region = existing.get(code)
        if region is None:
            region = Region(code=code, name=row["name"], name_en=row.get("name_en", ""), level=row["level"],
                            parent_id=parent.id if parent else None, path="")
            session.add(region)
            session.flush()
            added += 1
        else:
            region.name, region.name_en, region.level = row["name"], row.get("name_en", ""), row["level"]
            region.parent_id = parent.id if parent else None
        region.path = f"{parent.path if parent else '/'}{code}/"
        existing[code] = region
    session.flush()
    return added


def region_by_code(session: Session, code: str) -> Region | None:
    return session.exec(select(Region).where(Region.code == code)).first()


def apply_changes(obj: Any, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    before, after = {}, {}
    for key, value in values.items():
        if getattr(obj, key) != value:
            before[key], after[key] = _plain(getattr(obj, key)), _plain(value)
            setattr(obj, key, value)
    return before, after


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def upsert(session: Session, model: type, code: str, values: dict[str, Any], *, actor: User | str) -> Any:
    """Create or update a coded party (ESCO, institution), auditing what changed."""
    obj = session.exec(select(model).where(model.code == code)).first()
    name = model.__tablename__
    if obj is None:
        obj = model(code=code, **values)
        session.add(obj)
        session.flush()
        audit.record(session, actor=actor, action=f"{name}.create", object_type=name, object_id=code,
                     after={k: _plain(v) for k, v in values.items()})
        return obj
    before, after = apply_changes(obj, values)
    if after:
        audit.record(session, actor=actor, action=f"{name}.update", object_type=name, object_id=code,
                     before=before, after=after)
    return obj


def upsert_esco(session: Session, code: str, values: dict[str, Any], *, actor: User | str) -> Esco:
    return upsert(session, Esco, code, values, actor=actor)


def upsert_institution(session: Session, code: str, values: dict[str, Any], *, actor: User | str) -> Institution:
    return upsert(session, Institution, code, values, actor=actor)


def ensure_institution_year(session: Session, institution: Institution, year: int, floor_area_m2: Any,
                            energy_users: int) -> None:
    """Record statistics-form denominators for a year unless the year already has them."""
    found = session.exec(select(InstitutionYear).where(
        InstitutionYear.institution_id == institution.id, InstitutionYear.year == year)).first()
    if found is None:
        session.add(InstitutionYear(institution_id=institution.id, year=year, floor_area_m2=floor_area_m2,
                                    energy_users=energy_users))


class UserCreate(BaseModel):
    """What a new user needs; the scope must fit the role (checked here, not in the table model)."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")
    password: str = Field(min_length=MIN_LENGTH, max_length=200)
    role: Role
    display_name: str = Field(default="", max_length=100)
    region: str | None = Field(default=None, description="GB/T 2260 code of the region subtree")
    esco: str | None = Field(default=None, description="ESCO code, for ESCO users")
    language: str = Field(default="", pattern=r"^(zh|en|)$")

    @model_validator(mode="after")
    def _scope_fits_role(self) -> UserCreate:
        problem = scope_misfit(self.role, self.region, self.esco)
        if problem:
            raise ValueError(problem)
        return self


def scope_misfit(role: Role, region: str | None, esco: str | None) -> str | None:
    """Why a region / ESCO does not fit the role (None: it fits): an ESCO user has an ESCO and no region, a
    manager a region, an administrator neither; finance and viewers a region or none (everything)."""
    if role == Role.esco and not esco:
        return "an ESCO user needs the ESCO code (esco)"
    if role != Role.esco and esco:
        return f"only ESCO users have an ESCO; a {role.value} user does not"
    if role == Role.manager and not region:
        return "a manager needs the region they manage (region code, e.g. 320200)"
    if role in (Role.admin, Role.esco) and region:
        return f"a {role.value} user is not scoped to a region"
    return None


def create_user(session: Session, data: UserCreate, *, actor: User | str) -> User:
    if session.exec(select(User).where(User.username == data.username)).first():
        raise OrgError(f"username {data.username!r} is taken")
    region_id = esco_id = None
    if data.region:
        region = region_by_code(session, data.region)
        if region is None:
            raise OrgError(f"region {data.region!r} is not known (see `emc regions load`)")
        region_id = region.id
    if data.esco:
        esco = session.exec(select(Esco).where(Esco.code == data.esco)).first()
        if esco is None:
            raise OrgError(f"ESCO {data.esco!r} is not known (ESCOs come with their contract files)")
        esco_id = esco.id
    user = User(username=data.username, display_name=data.display_name or data.username,
                password_hash=hash_password(data.password), role=data.role.value, region_id=region_id,
                esco_id=esco_id, language=data.language)
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="user.create", object_type="user", object_id=user.username,
                 after={"role": user.role, "region": data.region, "esco": data.esco})
    return user


def set_active(session: Session, user: User, active: bool, *, actor: User | str, reason: str = "") -> None:
    if user.is_active != active:
        audit.record(session, actor=actor, action="user.activate" if active else "user.deactivate",
                     object_type="user", object_id=user.username, before={"is_active": user.is_active},
                     after={"is_active": active}, reason=reason)
        user.is_active = active
        if not active:
            end_sessions(session, user)


# -- sessions: server-side, so logging out or changing the password ends them ---------------------------
def start_session(session: Session, user: User, *, max_age_s: int, client: str = "") -> str:
    """A new signed-in session; returns the random id the cookie carries (only its hash is stored)."""
    raw = secrets.token_urlsafe(32)
    session.execute(delete(UserSession).where(UserSession.user_id == user.id,  # the user's expired ones go
                                              UserSession.expires_at <= utcnow()))
    session.add(UserSession(id=token_hash(raw), user_id=user.id, expires_at=utcnow() + timedelta(seconds=max_age_s),
                            client=client[:64]))
    return raw


def session_user(session: Session, raw: str, now: datetime | None = None) -> User | None:
    """The active user a cookie's session id belongs to, or None (unknown, ended, expired, deactivated)."""
    # one statement: it runs before every signed-in request's page
    return session.execute(select(User).join(UserSession, col(UserSession.user_id) == col(User.id)).where(
        col(UserSession.id) == token_hash(raw), col(UserSession.expires_at) > (now or utcnow()),
        col(User.is_active))).scalar_one_or_none()


def end_session(session: Session, raw: str) -> None:
    session.execute(delete(UserSession).where(UserSession.id == token_hash(raw)))


def end_sessions(session: Session, user: User) -> int:
    """Sign the user out everywhere (password change, reset, deactivation)."""
    return int(session.execute(delete(UserSession).where(UserSession.user_id == user.id)).rowcount or 0)


def _set_password(session: Session, user: User, new: str, *, actor: User | str, action: str,
                  reason: str = "") -> None:
    if len(new) < MIN_LENGTH:
        raise OrgError(f"the new password needs at least {MIN_LENGTH} characters")
    if len(new) > 200:
        raise OrgError("the new password is over 200 characters")
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    sessions = end_sessions(session, user)
    tokens = revoke_tokens(session, user, actor=actor, reason=action)
    audit.record(session, actor=actor, action=action, object_type="user", object_id=user.username,
                 after={"sessions_ended": sessions, "tokens_revoked": tokens}, reason=reason)


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """The user's own change: needs the current password; every session and API token of theirs ends."""
    if not verify_password(user.password_hash, current):
        raise OrgError("the current password is not right")
    if new == current:
        raise OrgError("the new password is the same as the current one")
    _set_password(session, user, new, actor=user, action="user.password_change")


def reset_password(session: Session, user: User, new: str, *, actor: User | str, reason: str = "") -> None:
    """An administrator sets a new password (the user forgot theirs); every session and token ends."""
    _set_password(session, user, new, actor=actor, action="user.password_reset", reason=reason)


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once
    record: ApiToken


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


TOKEN_MAX_DAYS = 366


def issue_token(session: Session, user: User, name: str, *, actor: User | str, days: int = 90) -> IssuedToken:
    """A bearer token valid for ``days`` (1..366); it dies earlier when revoked or the password changes."""
    name = name.strip()
    if not name or len(name) > 100:
        raise OrgError("a token needs a name of 1 to 100 characters (what it is for)")
    if not 1 <= days <= TOKEN_MAX_DAYS:
        raise OrgError(f"a token lives 1 to {TOKEN_MAX_DAYS} days, not {days}")
    token = "emc_" + secrets.token_urlsafe(32)
    record = ApiToken(user_id=user.id, name=name, token_hash=token_hash(token),
                      expires_at=utcnow() + timedelta(days=days))
    session.add(record)
    session.flush()
    audit.record(session, actor=actor, action="token.issue", object_type="user", object_id=user.username,
                 after={"token": name, "id": record.id, "expires_at": record.expires_at.isoformat()})
    return IssuedToken(token, record)


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())))


def token_user(session: Session, raw: str, now: datetime | None = None) -> tuple[ApiToken, User] | None:
    """The live token and its active user, or None (unknown, revoked, expired, user deactivated)."""
    record = session.exec(select(ApiToken).where(ApiToken.token_hash == token_hash(raw))).first()
    if record is None or record.revoked or record.expires_at is None or record.expires_at <= (now or utcnow()):
        return None
    user = session.get(User, record.user_id)
    return (record, user) if user is not None and user.is_active else None


def revoke_token(session: Session, record: ApiToken, *, actor: User | str, reason: str = "") -> None:
    if record.revoked:
        return
    record.revoked, record.revoked_at = True, utcnow()
    owner = session.get(User, record.user_id)
    audit.record(session, actor=actor, action="token.revoke", object_type="user",
                 object_id=owner.username if owner else str(record.user_id),
                 after={"token": record.name, "id": record.id}, reason=reason)


def revoke_tokens(session: Session, user: User, *, actor: User | str, reason: str = "") -> int:
    live = [t for t in tokens_of(session, user) if not t.revoked]
    for record in live:
        revoke_token(session, record, actor=actor, reason=reason)
    return len(live)
