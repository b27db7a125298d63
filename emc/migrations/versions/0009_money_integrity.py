"""Money that stays whole: ledger postings keyed per (settlement, event, line, party, account); payments and
their reversals; what an approved settlement used (provenance); the statement frozen at approval; weather
corrections kept so a revert restores them; the workflow's actors (four eyes) and the issue record.

Revision ID: 0009
Revises: 0008
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes)
from alembic import op

import emc.dbtypes

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("settlement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submitted_by", S(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("inputs_changed_by", S(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("issued_by", S(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("due_on", sa.Date(), nullable=True))

    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("posting", S(length=20), nullable=False, server_default="approve"))
        batch_op.add_column(sa.Column("line_position", sa.Integer(), nullable=False, server_default="0"))
    # entries posted before this revision: payments wrote "<number> paid"; each gets a distinct position within
    # its (settlement, posting, party, account), so duplicates of old races stay visible to ledger_problems()
    op.execute("UPDATE ledger_entry SET posting = 'payment:1' WHERE memo LIKE '% paid'")
    op.execute("UPDATE ledger_entry SET line_position = (SELECT r.rn FROM (SELECT id, ROW_NUMBER() OVER ("
               "PARTITION BY settlement_id, posting, party, account ORDER BY id) - 1 AS rn FROM ledger_entry) r "
               "WHERE r.id = ledger_entry.id)")
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_ledger_entry_settlement_id_posting_line_position_party_account"),
            ["settlement_id", "posting", "line_position", "party", "account"])

    with op.batch_alter_table("reading_revision", schema=None) as batch_op:
        batch_op.add_column(sa.Column("old_source_value", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("old_factor", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("old_estimated", sa.Boolean(), nullable=True))

    op.create_table(
        "settlement_payment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("settlement_id", sa.Integer(), nullable=False),
        sa.Column("kind", S(length=10), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("reference", S(length=100), nullable=False),
        sa.Column("amount", emc.dbtypes.Money(precision=18, scale=2), nullable=False),
        sa.Column("reason", S(length=1000), nullable=False),
        sa.Column("recorded_by", S(length=64), nullable=False),
        sa.Column("recorded_at", emc.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["settlement_id"], ["settlement.id"],
                                name=op.f("fk_settlement_payment_settlement_id_settlement")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_payment")),
        sa.UniqueConstraint("settlement_id", "kind", "seq", name=op.f("uq_settlement_payment_settlement_id_kind_seq")),
    )
    with op.batch_alter_table("settlement_payment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlement_payment_settlement_id"), ["settlement_id"], unique=False)
    # payments recorded before this revision become payment 1
    op.execute("INSERT INTO settlement_payment (settlement_id, kind, seq, paid_on, reference, amount, reason, "
               "recorded_by, recorded_at) SELECT id, 'payment', 1, paid_on, paid_reference, net_to_esco, '', "
               "'migration', COALESCE(approved_at, created_at) FROM settlement WHERE paid_on IS NOT NULL")

    op.create_table(
        "settlement_source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("settlement_id", sa.Integer(), nullable=False),
        sa.Column("kind", S(length=20), nullable=False),
        sa.Column("ref", S(length=120), nullable=False),
        sa.Column("first_start", emc.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_end", emc.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["settlement_id"], ["settlement.id"],
                                name=op.f("fk_settlement_source_settlement_id_settlement")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_source")),
        sa.UniqueConstraint("settlement_id", "kind", "ref", name=op.f("uq_settlement_source_settlement_id_kind_ref")),
    )
    with op.batch_alter_table("settlement_source", schema=None) as batch_op:
        batch_op.create_index("ix_settlement_source_kind_ref", ["kind", "ref"], unique=False)
        batch_op.create_index(batch_op.f("ix_settlement_source_settlement_id"), ["settlement_id"], unique=False)

    op.create_table(
        "statement_snapshot",
        sa.Column("settlement_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("taken_at", emc.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["settlement_id"], ["settlement.id"],
                                name=op.f("fk_statement_snapshot_settlement_id_settlement")),
        sa.PrimaryKeyConstraint("settlement_id", name=op.f("pk_statement_snapshot")),
    )

    op.create_table(
        "weather_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("period_start", emc.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_end", emc.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("old_value", sa.Float(), nullable=False),
        sa.Column("old_batch_id", sa.Integer(), nullable=True),
        sa.Column("new_value", sa.Float(), nullable=True),
        sa.Column("new_batch_id", sa.Integer(), nullable=True),
        sa.Column("changed_at", emc.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["new_batch_id"], ["import_batch.id"],
                                name=op.f("fk_weather_revision_new_batch_id_import_batch")),
        sa.ForeignKeyConstraint(["old_batch_id"], ["import_batch.id"],
                                name=op.f("fk_weather_revision_old_batch_id_import_batch")),
        sa.ForeignKeyConstraint(["station_id"], ["weather_station.id"],
                                name=op.f("fk_weather_revision_station_id_weather_station")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_weather_revision")),
    )
    with op.batch_alter_table("weather_revision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_weather_revision_new_batch_id"), ["new_batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_weather_revision_station_id"), ["station_id"], unique=False)


def downgrade() -> None:
    op.drop_table("weather_revision")
    op.drop_table("statement_snapshot")
    op.drop_table("settlement_source")
    op.drop_table("settlement_payment")
    with op.batch_alter_table("reading_revision", schema=None) as batch_op:
        batch_op.drop_column("old_estimated")
        batch_op.drop_column("old_factor")
        batch_op.drop_column("old_source_value")
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.drop_constraint("uq_ledger_entry_settlement_id_posting_line_position_party_account", type_="unique")
        batch_op.drop_column("line_position")
        batch_op.drop_column("posting")
    with op.batch_alter_table("settlement", schema=None) as batch_op:
        batch_op.drop_column("due_on")
        batch_op.drop_column("issued_by")
        batch_op.drop_column("inputs_changed_by")
        batch_op.drop_column("submitted_by")
