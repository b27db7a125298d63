"""Indexes two pages read by, instead of scanning their tables whole (issue 15): the carbon ledger's years by
one probe per year (ix_carbon_entry_months), and the settlements list's newest periods first
(ix_settlement_period_start).

Revision ID: 0019
Revises: 0018
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_carbon_entry_months", "carbon_entry", ["current", "month"], unique=False)
    op.create_index("ix_settlement_period_start", "settlement", ["period_start"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_settlement_period_start", table_name="settlement")
    op.drop_index("ix_carbon_entry_months", table_name="carbon_entry")
