"""A batch's per-meter periods as a person reads them. Readings are stored over [start, end): a bill from
2025-04-01 to 2025-04-30 is kept as ending at 2025-05-01 00:00. A batch of bills (start and end columns) shows
dates, and the last day *inside* the period (止 2025-04-30), never the stored exclusive end."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from emc.metering.models import ImportBatch

MIDNIGHT = " 00:00"


def inclusive_day(end: str | None) -> str | None:
    """'2025-05-01 00:00' (an exclusive end at midnight) → '2025-04-30'; an end within a day keeps its date."""
    if not end:
        return end
    day = date.fromisoformat(end[:10])
    return (day - timedelta(days=1)).isoformat() if end.endswith(MIDNIGHT) or len(end) == 10 else day.isoformat()


def meter_rows(batch: ImportBatch) -> list[dict[str, Any]]:
    """Each meter's summary (code first), with ``first`` and ``last`` as the page and reports show them."""
    bills = batch.layout == "bills"
    rows = []
    for code, m in (batch.summary.get("meters") or {}).items():
        first, last = m.get("first"), m.get("last")
        if bills:
            first, last = (first[:10] if first else first), inclusive_day(last)
        rows.append({**m, "code": code, "first": first, "last": last})
    return rows
