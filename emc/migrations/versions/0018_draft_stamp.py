"""The stamp of what each contract's drafts were computed from (draft_stamp, issue 15).

Revision ID: 0018
Revises: 0017
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import emc.dbtypes

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # empty at first: every contract's drafts are recomputed once by the next run, then stamped
    op.create_table(
        "draft_stamp",
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("stamp", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("stamped_at", emc.dbtypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["contract_id"], ["contract.id"]),
        sa.PrimaryKeyConstraint("contract_id"),
    )


def downgrade() -> None:
    op.drop_table("draft_stamp")
