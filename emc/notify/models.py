"""Notifications and their delivery outbox (tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from emc.dbtypes import UTCDateTime, utcnow


class Notification(SQLModel, table=True):
    """One thing that waits for one user: a draft to submit, a statement to countersign, an import's result …

    One row per (user, kind, subject), ever: a re-run finds it and changes nothing. ``resolved_at`` is set when
    the thing is done (the sync no longer expects it); a thing that needs the user again (a returned draft) is
    reopened — unread, unresolved, ``opened_at`` now — rather than duplicated."""

    __table_args__ = (UniqueConstraint("user_id", "kind", "subject_type", "subject_id"),
                      Index("ix_notification_open", "user_id", "resolved_at"))
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id")
    kind: str = Field(max_length=32)  # emc.notify.rules.KINDS
    subject_type: str = Field(max_length=20)  # settlement | import_batch | institution
    subject_id: int
    ref: str = Field(default="", max_length=200)  # what the subject is called (number, file name, institution)
    link: str = Field(default="", max_length=300)  # the page of the subject
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class NotificationDelivery(SQLModel, table=True):
    """The outbox: one message to one channel (an e-mail to a user, a post to a group robot), every attempt
    logged in ``attempts_log``. Failures are retried by the scheduler with a growing delay until ``MAX_ATTEMPTS``;
    the notification stays in the inbox whatever happens here. ``dedupe`` makes enqueuing the same message twice a
    no-op (a group robot gets one post per subject and opening, however many users it concerns)."""

    __tablename__ = "notification_delivery"
    __table_args__ = (UniqueConstraint("channel", "dedupe"),
                      Index("ix_notification_delivery_due", "status", "next_attempt_at"))
    id: int | None = Field(default=None, primary_key=True)
    notification_id: int | None = Field(default=None, foreign_key="notification.id", index=True)
    channel: str = Field(max_length=16)  # email | wecom | dingtalk
    recipient: str = Field(default="", max_length=254)  # the e-mail address; empty for a group robot
    dedupe: str = Field(max_length=200)
    title: str = Field(max_length=300)
    body: str = Field(max_length=2000)
    status: str = Field(default="pending", max_length=12)  # pending | sent | failed (gave up)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_error: str = Field(default="", max_length=500)
    attempts_log: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
