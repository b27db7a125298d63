"""Prepared carbon figures (carbon_view), and the audit index their stamp reads (issue 15).

Revision ID: 0017
Revises: 0013
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import emc.dbtypes

revision: str = "0017"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "carbon_view",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("view", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("computed_at", emc.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    # the newest audited change of one kind of object (institution, meter, contract, ESCO) in one index probe
    op.create_index("ix_audit_event_object_type_id", "audit_event", ["object_type", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_event_object_type_id", table_name="audit_event")
    op.drop_table("carbon_view")
