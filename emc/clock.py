"""The product's one calendar: "today" is the day in the configured time zone (``EMC_TIMEZONE``, Asia/Shanghai).

A settlement approved at 00:30 in Wuxi is posted on that Wuxi day; a page, a job or a report that asked the
machine for ``date.today()`` on a UTC server would still be on the day before for eight hours and read the
ledger as of a day that does not yet hold the posting. Everything that needs "today" asks here."""

from __future__ import annotations

from datetime import UTC, date, datetime

from emc.config import get_settings


def now() -> datetime:
    """This instant, timezone-aware (UTC)."""
    return datetime.now(UTC)


def today() -> date:
    """Today in the configured time zone."""
    return now().astimezone(get_settings().tz).date()
