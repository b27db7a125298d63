"""The annual M&V report of a contract year (年度节能量测量与验证报告), assembled from stored data only.

What goes in, and where it comes from:

* per measured utility (named by a shared-savings, guaranteed-savings or cost-custody component), the
  **approved** baseline as stored: model, statistics, ASHRAE G14 gates, who approved it and why;
* monthly actual use against the adjusted baseline over the contract year, recomputed with
  :func:`emc.baselines.service.savings_from` from the stored readings, the approved baseline and the approved
  non-routine adjustments (the same computation settlements use); savings with their G14 Annex B
  uncertainty for the year;
* each approved adjustment that acts in the year, its reason and its effect on the year's adjusted baseline;
* the guarantee, met or missed, and the money that follows — from the contract year's **approved**
  (issued, paid) settlements, above all the ``year_end`` true-up: the report never settles anything itself;
* carbon reduced: electricity savings × an emission factor given by the caller (default: the 2022 national
  average published by MEE and NBS) and × 0.1229 kgce/kWh for standard coal (GB/T 2589-2020).

Incomplete data (a year still running, months under 90 % covered, a utility without an approved baseline,
a true-up not yet approved, settled figures that no longer match the data) and the M&V engine's own findings
become warnings printed in the report, never an exception. A finished year's report is dated by its newest
stored decision (baseline, adjustment or settlement approval), so the same data give the same PDF on any day;
an interim report (the year still running) is dated today.

The parts: :mod:`emc.reporting.measured` (the year measured, per utility), :mod:`emc.reporting.settled` (the
year as settled, and the guarantee), :mod:`emc.reporting.emission` (carbon); :mod:`emc.reports.mv_report` draws
the PDF. Why here: the report reads baselines, settlements and carbon, so it sits above all three (and
``emc.reports`` stays pure: plain data → PDF).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col

from emc import clock
from emc.baselines import service
from emc.baselines.models import Baseline
from emc.baselines.series import SeriesError
from emc.config import get_settings
from emc.contracts.models import Contract, ContractInstitution
from emc.contracts.spec import ContractHead
from emc.errors import DomainError
from emc.org.models import Esco, Institution
from emc.reporting import measured, settled
from emc.reporting.emission import COAL_SOURCE, GRID_2022, EmissionFactor, carbon_row
from emc.reporting.measured import MIN_COVERAGE, MeasuredUtility, utility_names
from emc.reports import mv_report as r
from emc.reports.statement import Adjustment, Party
from emc.settlement import period_inputs
from emc.settlement.core.periods import ContractYear, contract_years

MEASURED_KINDS = frozenset({"shared_savings", "guaranteed_savings", "cost_custody"})
IPMVP = {"A": "选项A（关键参数测量）", "B": "选项B（改造部分隔离）", "C": "选项C（整体设施）", "D": "选项D（校准模拟）"}


class ReportUnavailable(DomainError, LookupError, status=404, key="error.not_found"):
    """There is no such report: the contract measures no savings, or the contract year does not exist or
    has not begun. The message says which."""


class ReportNotReady(DomainError, ValueError, status=409, key="error.conflict"):
    """The report cannot be made yet (no approved baseline for any measured utility); the message says why."""


# -- what the contract measures --------------------------------------------------------------------------
def measured_utilities(session: Session, contract: Contract) -> list[str]:
    """Utilities whose savings are measured against a baseline (shared savings, guarantees, custody);
    a lease or fixed-fee contract has none."""
    found: list[str] = []
    for comp in period_inputs.terms(session, contract)[-1].terms.components:
        if comp.kind in MEASURED_KINDS:
            found.extend(str(u) for u in comp.utilities if str(u) != "pv" and str(u) not in found)
    return found


def _head(session: Session, contract: Contract) -> ContractHead:
    return period_inputs.terms(session, contract)[-1].terms.contract


def begun_years(session: Session, contract: Contract, today: date) -> list[ContractYear]:
    """The contract years that have begun by ``today``: those that may have a report (none without a
    measured utility)."""
    if not measured_utilities(session, contract):
        return []
    return [y for y in contract_years(_head(session, contract)) if y.start <= today]


def _local_day(moment: datetime | None, tz: ZoneInfo) -> date | None:
    return moment.astimezone(tz).date() if moment is not None else None


# -- the report --------------------------------------------------------------------------------------------
@dataclass
class _Measured:
    """What the utilities' measurement gives the report, and what it leaves to say."""

    results: list[MeasuredUtility] = field(default_factory=list)
    adjustments: list[Adjustment] = field(default_factory=list)
    carbon: list[r.CarbonRow] = field(default_factory=list)
    baselines: dict[str, Baseline] = field(default_factory=dict)
    warnings: list[r.Bilingual] = field(default_factory=list)
    decided: list[date | None] = field(default_factory=list)  # days of the stored decisions the report uses


def _the_year(session: Session, contract: Contract, contract_year: int,
              today: date) -> tuple[list[str], ContractHead, ContractYear]:
    """The measured utilities, the contract's head terms and the contract year, or :class:`ReportUnavailable`
    saying why there is none."""
    utilities = measured_utilities(session, contract)
    if not utilities:
        kinds = sorted({c.kind for c in period_inputs.terms(session, contract)[-1].terms.components})
        raise ReportUnavailable(f"{contract.code} measures no savings against a baseline (its components: "
                                f"{', '.join(kinds)}), so it has no M&V report")
    head = _head(session, contract)
    years = contract_years(head)
    if not 1 <= contract_year <= len(years):
        raise ReportUnavailable(f"{contract.code} has contract years 1 to {len(years)}, not {contract_year}")
    year = years[contract_year - 1]
    if year.start > today:
        raise ReportUnavailable(f"contract year {contract_year} of {contract.code} begins on {year.start}")
    return utilities, head, year


def _measure(session: Session, contract: Contract, year: ContractYear, utilities: list[str],
             factor: EmissionFactor, into: _Measured) -> None:
    """Each measured utility over the year, against its approved baseline (none: a warning, not reported)."""
    tz = ZoneInfo(get_settings().timezone)
    for utility in utilities:
        zh, _, unit = utility_names(utility)
        baseline = service.approved(session, contract, utility)
        if baseline is None:
            into.warnings.append((f"{zh}：尚无已批准的基准模型，未纳入本报告。",
                                  f"No approved {utility} baseline: not reported."))
            continue
        into.baselines[utility] = baseline
        into.decided.append(_local_day(baseline.decided_at, tz))
        try:
            reporting = service.prepare_reporting(session, contract, utility, year.start, year.last_day)
        except (SeriesError, service.BaselineError) as exc:
            into.warnings.append((f"{zh}：本合同年无可用数据。", f"No {utility} data for the year ({exc})."))
            into.results.append(measured.no_data(baseline, utility))
            continue
        done = measured.utility_result(reporting, year, utility, into.warnings)
        into.results.append(done)
        into.adjustments.extend(measured.adjustments(session, contract, reporting, year, zh, unit, into.decided))
        measured.proposed_pending(session, contract, utility, year, zh, into.warnings)
        row = carbon_row(utility, done.result.savings, factor)
        if row is not None and done.months_reported:
            into.carbon.append(row)


def _notes(guarantees: list[r.Guarantee], found: _Measured, factor: EmissionFactor) -> list[str]:
    """The report's notes: further guarantees, the carbon method, and how the figures are reached."""
    notes = [f"另一项保证：{extra.utility} 保证 {extra.guaranteed} {extra.unit}，实际 {extra.achieved} "
             f"{extra.unit}，{'已达到' if extra.met else '未达到'}；{extra.consequence_text}"
             for extra in guarantees[1:]]
    if found.carbon:
        notes.append(f"碳减排仅计电力节约量。排放因子：{factor.source}；折标准煤：{COAL_SOURCE}。")
    elif "electricity" in found.baselines:
        notes.append("本合同年无可报告的电力节约量，未计算碳减排。")
    notes.append(f"节约量 = 调整后基准 − 实际用量（正值为节约），月度取整，年度为各月之和；数据覆盖不足 "
                 f"{MIN_COVERAGE:.0%} 的月份不计入（与结算规则一致）。不确定度按 ASHRAE Guideline 14-2014 附录B"
                 "（含自相关修正），置信度 90%。保证量结论与金额取自已批准的结算单，本报告不重新结算。")
    return notes


def _parties(session: Session, contract: Contract) -> tuple[list[Party], Party]:
    """The institutions (the first three, then how many in all) and the ESCO."""
    institutions = list(session.execute(select(Institution).join(
        ContractInstitution, col(ContractInstitution.institution_id) == Institution.id)
        .where(col(ContractInstitution.contract_id) == contract.id).order_by(Institution.code)).scalars())
    parties = [Party(i.name, i.name_en) for i in institutions[:3]]
    if len(institutions) > 3:
        parties.append(Party(f"等共 {len(institutions)} 家用能单位", f"{len(institutions)} institutions in total"))
    esco = session.get(Esco, contract.esco_id)
    assert esco is not None
    return parties or [Party("—")], Party(esco.name, esco.name_en, esco.credit_code)


def build_annual_report(session: Session, contract: Contract, contract_year: int, *,
                        factor: EmissionFactor = GRID_2022, today: date | None = None) -> r.MVReport:
    """The annual M&V report of ``contract_year`` (1-based) from stored data; see the module docstring."""
    tz = ZoneInfo(get_settings().timezone)
    today = today or clock.today()
    utilities, head, year = _the_year(session, contract, contract_year, today)
    found = _Measured()
    interim = year.last_day >= today
    if interim:
        found.warnings.append((f"第{year.number}合同年至 {year.last_day} 结束，本报告为中期报告。",
                               f"The contract year runs until {year.last_day}: this is an interim report."))
    _measure(session, contract, year, utilities, factor, found)
    if not found.baselines:
        raise ReportNotReady(f"{contract.code} has no approved baseline for {', '.join(utilities)} yet: fit and "
                             "approve one on the M&V page first")
    warnings = found.warnings
    frozen = settled.settlements(session, contract, year)
    decided = found.decided + [_local_day(s.approved_at, tz) for s in frozen]
    settled.cross_check(frozen, found.results, warnings)
    guarantees = settled.guarantees(session, contract, year, frozen, warnings)
    institutions, esco = _parties(session, contract)
    # A finished year's report is dated by its newest stored decision (same data, same PDF, any day); an
    # interim one by today, as its data still grow.
    issue = today if interim else max((d for d in decided if d is not None), default=year.last_day)
    option = head.ipmvp_option
    return r.MVReport(
        number=f"MV-{contract.code}-Y{year.number}", contract_code=contract.code, contract_name=contract.name,
        institutions=institutions, esco=esco, period_start=year.start, period_end=year.last_day, issue_date=issue,
        utilities=[u.result for u in found.results], adjustments=found.adjustments,
        guarantee=guarantees[0] if guarantees else None, carbon=found.carbon,
        notes=_notes(guarantees, found, factor), warnings=warnings,
        method=f"IPMVP {IPMVP.get(option, option)} · GB/T 28750-2012 · ASHRAE Guideline 14-2014",
        title="年度节能量测量与验证报告" + ("（中期）" if interim else ""),
        title_en=f"Annual Measurement & Verification Report · contract year {year.number}"
                 + (" (interim)" if interim else ""))


def report_years(session: Session, contract: Contract, today: date | None = None) -> list[dict[str, Any]]:
    """Links for the M&V page: one per contract year that has begun."""
    today = today or clock.today()
    return [{"number": y.number, "start": y.start, "last_day": y.last_day, "running": y.last_day >= today}
            for y in begun_years(session, contract, today)]
