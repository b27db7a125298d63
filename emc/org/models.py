"""Regions (province → city → district), public institutions, ESCOs, users and API tokens."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from emc.dbtypes import ExactDecimal, UTCDateTime, utcnow


class RegionLevel(StrEnum):
    province = "province"
    city = "city"
    district = "district"


class Region(SQLModel, table=True):
    """An administrative region, coded by GB/T 2260. ``path`` ("/320000/320200/320211/") makes a
    subtree one prefix query, which is how a bureau manager's scope is checked."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=12, unique=True)
    name: str = Field(max_length=100)
    name_en: str = Field(default="", max_length=100)
    level: str = Field(max_length=16)
    parent_id: int | None = Field(default=None, foreign_key="region.id", index=True)
    path: str = Field(max_length=200, index=True)


class Institution(SQLModel, table=True):
    """A public institution (公共机构) under the bureau."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=200, index=True)
    name_en: str = Field(default="", max_length=200)
    category: str = Field(max_length=20, index=True)
    region_id: int = Field(foreign_key="region.id", index=True)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    weather_station: str = Field(default="", max_length=40)
    address: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InstitutionYear(SQLModel, table=True):
    """Statistics-form denominators by year: office floor area only (no housing or dormitories) and
    energy users = everyone actually working there, including non-staff (公共机构能源资源消费统计)."""

    __tablename__ = "institution_year"
    __table_args__ = (UniqueConstraint("institution_id", "year"),)
    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    year: int
    floor_area_m2: Decimal = Field(sa_column=Column(ExactDecimal(), nullable=False))
    energy_users: int


class Esco(SQLModel, table=True):
    """An energy- or water-service company (节能服务公司 / 节水服务企业)."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    credit_code: str = Field(default="", max_length=18)  # 统一社会信用代码
    contact: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Role(StrEnum):
    admin = "admin"  # everything, including users
    manager = "manager"  # bureau contract manager, scoped to a region subtree
    esco = "esco"  # ESCO user, scoped to its company's contracts
    finance = "finance"  # statements and payments, scoped to a region subtree if set
    viewer = "viewer"  # read-only, scoped to a region subtree if set


class User(SQLModel, table=True):
    __tablename__ = "app_user"  # "user" is reserved on PostgreSQL

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(default="", max_length=100)
    password_hash: str = Field(max_length=200)
    role: str = Field(max_length=16)
    region_id: int | None = Field(default=None, foreign_key="region.id")
    esco_id: int | None = Field(default=None, foreign_key="esco.id")
    language: str = Field(default="", max_length=8)  # empty: the site default
    email: str = Field(default="", max_length=254)  # notifications are e-mailed here when SMTP is configured
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    password_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """A bearer token for machine clients (an ESCO platform pushing exports). Only its hash is kept."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # at most every few minutes
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # None only for tokens issued before 0008
    revoked: bool = False
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class UserSession(SQLModel, table=True):
    """A signed-in browser. The cookie carries only a random id whose hash is this key; logging out deletes
    the row, a password change or deactivation deletes all of the user's rows, so a replayed cookie is dead."""

    __tablename__ = "user_session"
    id: str = Field(primary_key=True, max_length=64)  # sha256 of the cookie's session id
    user_id: int = Field(foreign_key="app_user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    client: str = Field(default="", max_length=64)
