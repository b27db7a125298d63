"""Due dates for settlements issued before they were stamped (data only).

Migration 0009 added ``settlement.due_on`` and stamps it at issue (the issue day + the contract's payment
days then in force), but left the settlements issued before it without one. The payment reminders, the
receivables and the statements now all read ``due_on``, so this stamps those rows once: the local day of
issue + the payment days of the contract's current terms (the best record there is of the terms then).

Revision ID: 0016
Revises: 0011
"""
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from emc.config import get_settings

revision: str = "0016"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant(value: object) -> datetime:
    """UTCDateTime's stored form: an aware datetime on PostgreSQL, integer microseconds on SQLite."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(value))  # type: ignore[call-overload]


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT s.id, s.issued_at, v.spec FROM settlement s JOIN contract c ON c.id = s.contract_id "
        "JOIN contract_version v ON v.contract_id = c.id AND v.version = c.current_version "
        "WHERE s.issued_at IS NOT NULL AND s.due_on IS NULL")).all()
    tz = get_settings().tz
    stamped = []
    for sid, issued_at, spec in rows:
        terms = json.loads(spec) if isinstance(spec, str) else spec
        days = int((terms or {}).get("contract", {}).get("payment_days", 30))
        stamped.append({"id": sid, "due": _instant(issued_at).astimezone(tz).date() + timedelta(days=days)})
    if stamped:
        bind.execute(sa.text("UPDATE settlement SET due_on = :due WHERE id = :id"), stamped)


def downgrade() -> None:
    """Nothing to undo: a due date stamped here is the one the reminders computed before."""
