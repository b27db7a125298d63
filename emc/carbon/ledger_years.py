"""Which years the carbon ledger has current entries for (a page's year filter)."""

from __future__ import annotations

from sqlalchemy import func, select, true
from sqlmodel import Session, col

from emc.carbon.models import CarbonEntry


def ledger_years(session: Session, institution_id: int | None = None) -> list[int]:
    """Years the ledger (or one institution's part of it) has entries for, newest first."""
    year = func.extract("year", col(CarbonEntry.month))
    query = select(year).where(col(CarbonEntry.current) == true())
    if institution_id is not None:
        query = query.where(col(CarbonEntry.institution_id) == institution_id)
    return sorted({int(y) for (y,) in session.execute(query.group_by(year)).all()}, reverse=True)
