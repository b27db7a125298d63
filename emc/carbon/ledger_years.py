"""Which years the carbon ledger has current entries for (a page's year filter)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select, true
from sqlmodel import Session, col

from emc.carbon.models import CarbonEntry


def ledger_years(session: Session, institution_id: int | None = None) -> list[int]:
    """Years the ledger (or one institution's part of it) has entries for, newest first.

    One index probe per year with entries, newest first (the latest month before the year just found), instead
    of grouping every entry: the province's ledger holds hundreds of thousands, its years are a handful. Served
    by ``ix_carbon_entry_months`` (current, month), and for one institution by the roll-up index (current,
    institution_id, month, …)."""
    where = [col(CarbonEntry.current) == true()]
    if institution_id is not None:
        where.append(col(CarbonEntry.institution_id) == institution_id)
    years: list[int] = []
    while True:
        before = [col(CarbonEntry.month) < date(years[-1], 1, 1)] if years else []
        latest = session.execute(select(func.max(col(CarbonEntry.month))).where(*where, *before)).scalar_one()
        if latest is None:
            return years
        years.append(latest.year)
