"""Bill amounts kept with their readings (reading.cost, CNY): average-cost valuation and the ESCO's costs.

Revision ID: 0007
Revises: 0006
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import emc.dbtypes

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reading", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cost", emc.dbtypes.Money(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reading", schema=None) as batch_op:
        batch_op.drop_column("cost")
