"""Notifications (the inbox) and their delivery outbox; an e-mail address per user (issue 16).

Revision ID: 0011
Revises: 0010
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import emc.dbtypes

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("subject_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("ref", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("link", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("opened_at", emc.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("read_at", emc.dbtypes.UTCDateTime(), nullable=True),
        sa.Column("resolved_at", emc.dbtypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "kind", "subject_type", "subject_id"),
    )
    op.create_index("ix_notification_open", "notification", ["user_id", "resolved_at"], unique=False)
    op.create_table(
        "notification_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=True),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("dedupe", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", emc.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("attempts_log", sa.JSON(), nullable=False),
        sa.Column("created_at", emc.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("sent_at", emc.dbtypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["notification_id"], ["notification.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "dedupe"),
    )
    op.create_index("ix_notification_delivery_due", "notification_delivery", ["status", "next_attempt_at"],
                    unique=False)
    op.create_index(op.f("ix_notification_delivery_notification_id"), "notification_delivery", ["notification_id"],
                    unique=False)
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False,
                                      server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("email")
    op.drop_index(op.f("ix_notification_delivery_notification_id"), table_name="notification_delivery")
    op.drop_index("ix_notification_delivery_due", table_name="notification_delivery")
    op.drop_table("notification_delivery")
    op.drop_index("ix_notification_open", table_name="notification")
    op.drop_table("notification")
