from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from emc.dbtypes import UTCDateTime, utcnow


class AuditEvent(SQLModel, table=True):
    """One state change. Append-only: nothing in emc updates or deletes these rows."""

    __tablename__ = "audit_event"
    # the newest audited change of one kind of object in one index probe (emc.carbon.prepared's stamp)
    __table_args__ = (Index("ix_audit_event_object_type_id", "object_type", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    actor: str = Field(max_length=64)  # username, or "system" / "cli" for jobs and commands
    action: str = Field(max_length=60, index=True)
    object_type: str = Field(max_length=40)
    object_id: str = Field(max_length=60)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    reason: str = Field(default="", max_length=1000)
