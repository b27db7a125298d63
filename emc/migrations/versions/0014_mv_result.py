"""Cached M&V results (mv_result): the M&V page's computation stored under its data fingerprint (issue 15).

Revision ID: 0014
Revises: 0012
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import emc.dbtypes

revision: str = "0014"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mv_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("utility", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("baseline_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("computed_at", emc.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["baseline_id"], ["baseline.id"]),
        sa.ForeignKeyConstraint(["contract_id"], ["contract.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contract_id", "utility", "fingerprint"),
    )
    op.create_index(op.f("ix_mv_result_contract_id"), "mv_result", ["contract_id"], unique=False)
    op.create_index(op.f("ix_mv_result_baseline_id"), "mv_result", ["baseline_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_mv_result_baseline_id"), table_name="mv_result")
    op.drop_index(op.f("ix_mv_result_contract_id"), table_name="mv_result")
    op.drop_table("mv_result")
