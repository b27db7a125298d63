"""Settlement periods and contract years, in the institution's local calendar (dates, not instants).

Rules (stated because the contract file leaves them open):

* Every period is **half-open**: ``start`` is its first day, ``end`` the day after its last day, so a period
  has ``(end - start).days`` days and consecutive periods share an edge without overlap.
* Period edges are whole months counted from one anchor, never chained: the anchor is the contract start
  (or, with ``contract_year_start = "MM-DD"``, that day on or before the start), and edge *i* is the anchor's
  day of month *i × step* months later, clamped to the month's last day (an anchor on the 31st gives
  31 Jan → 29 Feb → 31 Mar; an anchor on 29 Feb gives 28 Feb in common years and 29 Feb in leap years).
  A contract starting on the 1st therefore settles calendar months/quarters; one starting on the 15th
  settles 15th-to-14th months, like its contract years.
* step = 1, 3 or 12 months divides a year, so every contract-year start is a period edge and **no period
  crosses a contract year** (shares, escalation and guarantees change by contract year).
* A period cut by the term (a partial first or last contract year) or by an amendment keeps its *nominal*
  edges; ``prorate`` = days / nominal days is what time-based amounts (custody fee, fixed fee) are scaled
  by. A full period is one 1/12 (1/4, 1/1) of a year whatever its length: February costs the same custody
  fee as March, in leap years too (contracts say "monthly fee = annual fee / 12").

Contract years follow :meth:`ContractHead.contract_year_starts` (GB/T 24915-2020 App. A–C settle and
guarantee "per contract year" 每个合同年度).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from fractions import Fraction
from functools import lru_cache

from dateutil.relativedelta import relativedelta

from emc.contracts.spec import ContractHead

STEP_MONTHS = {"monthly": 1, "quarterly": 3, "annual": 12}
PERIODS_PER_YEAR = {"monthly": 12, "quarterly": 4, "annual": 1}
ONE_DAY = timedelta(days=1)


@lru_cache(maxsize=65_536)  # pure, and called for every edge of every contract's term (a few thousand dates)
def clamp_date(year: int, month: int, day: int) -> date:
    """``date(year, month, day)`` with ``month`` counted past 12 (or below 1) and the day clamped to the
    month's last day."""
    return date(year, 1, 1) + relativedelta(months=month - 1, day=day)


def add_months(day: date, months: int) -> date:
    """The same day of month ``months`` later, clamped to the month's end (31 Jan + 1 → 28/29 Feb)."""
    return clamp_date(day.year, day.month + months, day.day)


def overlap_days(a_start: date, a_end: date, b_start: date, b_end: date) -> int:
    """Days shared by two half-open date ranges."""
    return max(0, (min(a_end, b_end) - max(a_start, b_start)).days)


def _anchor(head: ContractHead) -> tuple[int, int, int]:
    """(year, month, day of month) that edge 0 is counted from; the day may exceed the month's length."""
    if head.contract_year_start is None:
        return head.start.year, head.start.month, head.start.day
    month, dom = (int(x) for x in head.contract_year_start.split("-"))
    year = head.start.year if clamp_date(head.start.year, month, dom) <= head.start else head.start.year - 1
    return year, month, dom


def _edge(head: ContractHead, months: int) -> date:
    year, month, dom = _anchor(head)
    return clamp_date(year, month + months, dom)


def term_end(head: ContractHead) -> date:
    """The day after the term's last day (``head.end`` is inclusive)."""
    return head.end + ONE_DAY


class _Span:
    """[start, end) cut from the nominal [nominal_start, nominal_end): days, their share, the last day."""

    start: date
    end: date
    nominal_start: date
    nominal_end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def nominal_days(self) -> int:
        return (self.nominal_end - self.nominal_start).days

    @property
    def prorate(self) -> Fraction:
        """Share of the nominal span (1 unless the term or an amendment cuts it)."""
        return Fraction(self.days, self.nominal_days)

    @property
    def last_day(self) -> date:
        return self.end - ONE_DAY


@dataclass(frozen=True)
class ContractYear(_Span):
    """Contract year ``number`` (1-based): ``[start, end)`` clipped to the term, nominally a full year."""

    number: int
    start: date
    end: date
    nominal_start: date
    nominal_end: date

    @property
    def contract_year(self) -> int:
        return self.number

    @property
    def label(self) -> str:
        return f"第{self.number}合同年 {self.start.isoformat()}～{self.last_day.isoformat()}"


@dataclass(frozen=True)
class Period(_Span):
    """One settlement period ``[start, end)`` inside contract year ``contract_year``.

    ``index`` counts nominal periods within the contract year from 1; ``nominal_start``/``nominal_end`` are
    the uncut edges, so ``prorate`` (days / nominal days) is 1 for a whole period."""

    start: date
    end: date
    contract_year: int
    index: int
    nominal_start: date
    nominal_end: date

    def __post_init__(self) -> None:
        if not self.nominal_start <= self.start < self.end <= self.nominal_end:
            raise ValueError(f"period {self.start}..{self.end} is not inside {self.nominal_start}..{self.nominal_end}")

    @property
    def is_partial(self) -> bool:
        return self.prorate != 1


    @property
    def key(self) -> str:
        """Stable identity ``YYYY-MM-DD/YYYY-MM-DD`` (half-open), for idempotence keys."""
        return f"{self.start.isoformat()}/{self.end.isoformat()}"

    @property
    def label(self) -> str:
        return f"{self.start.isoformat()}～{self.last_day.isoformat()}"


def _years(head: ContractHead) -> list[tuple[int, ContractYear]]:
    """(months from the anchor to the nominal year start, contract year) for each contract year."""
    end = term_end(head)
    years: list[tuple[int, ContractYear]] = []
    k = 0
    while (nominal_start := _edge(head, 12 * k)) < end:
        nominal_end = _edge(head, 12 * (k + 1))
        if nominal_end > head.start:
            year = ContractYear(len(years) + 1, max(nominal_start, head.start), min(nominal_end, end),
                                nominal_start, nominal_end)
            years.append((12 * k, year))
        k += 1
    return years


def contract_years(head: ContractHead) -> list[ContractYear]:
    """The term's contract years; agrees with :meth:`ContractHead.contract_year_starts`."""
    return [year for _, year in _years(head)]


def contract_year(head: ContractHead, number: int) -> ContractYear:
    years = contract_years(head)
    if not 1 <= number <= len(years):
        raise ValueError(f"contract year {number} is outside the {len(years)}-year term")
    return years[number - 1]


def contract_year_of(head: ContractHead, day: date) -> int:
    """Number of the contract year ``day`` falls in."""
    for year in contract_years(head):
        if year.start <= day < year.end:
            return year.number
    raise ValueError(f"{day} is outside the term {head.start}..{head.end}")


def periods_per_year(head: ContractHead) -> int:
    return PERIODS_PER_YEAR[str(head.settlement_frequency)]


def settlement_periods(head: ContractHead) -> list[Period]:
    """Every settlement period of the term, in order (the first and last may be partial)."""
    step = STEP_MONTHS[str(head.settlement_frequency)]
    end = term_end(head)
    periods: list[Period] = []
    for offset, year in _years(head):
        for i in range(12 // step):
            n_start = _edge(head, offset + i * step)
            n_end = _edge(head, offset + (i + 1) * step)
            start, stop = max(n_start, head.start), min(n_end, end)
            if start < stop:
                periods.append(Period(start, stop, year.number, i + 1, n_start, n_end))
    return periods


def period_containing(head: ContractHead, day: date) -> Period:
    for period in settlement_periods(head):
        if period.start <= day < period.end:
            return period
    raise ValueError(f"{day} is outside the term {head.start}..{head.end}")


def split_period(period: Period, at: date) -> tuple[Period, Period]:
    """Cut a period at ``at`` (the first day of the second part), e.g. an amendment's effective date.

    Both parts keep the nominal edges, so their ``prorate`` values add up to the period's: a custody fee
    for March split on 16 March is 15/31 and 16/31 of the month's fee, in days (pro rata by days)."""
    if not period.start < at < period.end:
        raise ValueError(f"{at} does not fall strictly inside {period.label}")
    return replace(period, end=at), replace(period, start=at)
