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
  average published by MEE and NBS) and × 0.1229 kgce/kWh for standard coal.

Incomplete data (a year still running, months under 90 % covered, a utility without an approved baseline,
a true-up not yet approved, settled figures that no longer match the data) and the M&V engine's own findings
become warnings printed in the report, never an exception. A finished year's report is dated by its newest
stored decision (baseline, adjustment or settlement approval), so the same data give the same PDF on any day;
an interim report (the year still running) is dated today.

Why here and not in ``emc.reports``: that package is pure (plain data → PDF); this module is the database
side of the M&V domain, the counterpart of ``emc.settlement.statements`` for settlement statements.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from emc.baselines import service
from emc.baselines.models import AdjustmentStatus, Baseline, NonRoutineAdjustment
from emc.baselines.series import SeriesError
from emc.config import get_settings
from emc.contracts.models import Contract, ContractInstitution
from emc.contracts.spec import ContractHead, CostCustody, GuaranteedSavings
from emc.errors import DomainError
from emc.org.models import Esco, Institution
from emc.reports import mv_report as r
from emc.reports.statement import Adjustment, Party
from emc.settlement import service as settlement
from emc.settlement.lines import ESCO
from emc.settlement.models import Settlement, SettlementLine, SettlementStatus
from emc.settlement.periods import ContractYear, contract_years

MEASURED_KINDS = frozenset({"shared_savings", "guaranteed_savings", "cost_custody"})
FROZEN = (SettlementStatus.approved, SettlementStatus.issued, SettlementStatus.paid)
STATUS_ZH = {"draft": "草稿", "submitted": "待审批", "approved": "已批准", "issued": "已出具", "paid": "已支付"}
MIN_COVERAGE = 0.90  # a month is reported only when this share of its days has data (as settlements require)
GUARANTEE_CODES = frozenset({"shortfall", "shortfall_netted", "surplus_share", "guarantee_penalty"})
UNIT_PAYMENT_CODES = frozenset({"savings_payment", "savings_true_up"})
HANDLED_MV_CODES = frozenset({"period_not_settled", "adjustment_in_unsettled_period"})

UTILITIES = {"electricity": ("电力", "Electricity", "kWh"), "water": ("水", "Water", "m³"),
             "gas": ("天然气", "Natural gas", "m³"), "heat": ("热力", "Heat", "GJ")}
FORM_ZH = {"mean": "均值模型", "2P": "两参数线性模型", "3PH": "三参数采暖变点模型", "3PC": "三参数制冷变点模型",
           "4P": "四参数变点模型", "5P": "五参数变点模型", "TOWT": "时段-温度加权模型"}
GRANULARITY = {"daily": "日数据 daily", "hourly": "小时数据 hourly", "billing": "账单数据 billing periods"}
IPMVP = {"A": "选项A（关键参数测量）", "B": "选项B（改造部分隔离）", "C": "选项C（整体设施）", "D": "选项D（校准模拟）"}
ADJUSTMENT_KIND = {"one_time": "一次性", "recurring": "每期", "continuous": "持续"}

#: Standard coal equivalent of electricity (当量值), GB/T 2589-2020 综合能耗计算通则, Appendix A.
COAL_KGCE_PER_KWH = Decimal("0.1229")
COAL_SOURCE = "GB/T 2589-2020《综合能耗计算通则》附录A 电力当量值 0.1229 kgce/kWh"


@dataclass(frozen=True)
class EmissionFactor:
    """A grid electricity CO₂ factor: the value, the name printed beside it, and the document it comes from."""

    kg_per_kwh: Decimal
    name: str
    source: str


#: Default CO₂ factor: national average grid emission factor 2022, published by the Ministry of Ecology and
#: Environment and the National Bureau of Statistics (公告 of 2024-12-20). A caller with a regional or
#: newer factor (emc.carbon, when it lands) passes its own.
GRID_2022 = EmissionFactor(
    Decimal("0.5366"), "2022 全国电力平均 national average (MEE/NBS)",
    "生态环境部、国家统计局《关于发布2022年电力二氧化碳排放因子的公告》（2024年12月20日），"
    "2022年全国电力平均二氧化碳排放因子 0.5366 kgCO₂/kWh")


def city_factor(session: Session, contract: Contract, contract_year: int) -> EmissionFactor | None:
    """The grid CO₂ factor the city's carbon ledger books the contract's institutions with (emc/carbon): the
    ledger setting of the nearest region above its first institution, and that series' factor for the calendar
    year most of the contract year falls in (the latest earlier year, marked provisional, if that year is not
    published). None when no ledger setting or factor applies (the caller keeps the national default)."""
    from emc.carbon import service as carbon
    from emc.carbon.factors import FactorError
    from emc.carbon.settings import nearest
    from emc.org.models import Region

    path = session.execute(select(Region.path).join(Institution, Institution.region_id == Region.id)
                           .join(ContractInstitution, ContractInstitution.institution_id == Institution.id)
                           .where(ContractInstitution.contract_id == contract.id)
                           .order_by(Institution.code)).scalars().first()
    setting = nearest(path, carbon.ledger_settings(session)) if path else None
    if setting is None:
        return None
    years = contract_years(settlement.terms(session, contract)[-1].terms.contract)
    span = next((y for y in years if y.number == contract_year), None)
    if span is None:
        return None
    middle = span.start + (span.end - span.start) / 2
    try:
        choice = carbon.factor_book(session).choose("co2", "electricity", setting.co2_series, setting.co2_region,
                                                    middle.year)
    except FactorError:
        return None
    state = "暂用 provisional" if choice.provisional else "final"
    return EmissionFactor(choice.per_unit, f"{middle.year} {setting.co2_series} / {setting.co2_region} ({state})",
                          f"{choice.factor.source} [{choice.ref}]; {choice.reason}")


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
    for comp in settlement.terms(session, contract)[-1].terms.components:
        if comp.kind in MEASURED_KINDS:
            found.extend(str(u) for u in comp.utilities if str(u) != "pv" and str(u) not in found)
    return found


def _head(session: Session, contract: Contract) -> ContractHead:
    return settlement.terms(session, contract)[-1].terms.contract


def begun_years(session: Session, contract: Contract, today: date) -> list[ContractYear]:
    """The contract years that have begun by ``today``: those that may have a report (none without a
    measured utility)."""
    if not measured_utilities(session, contract):
        return []
    return [y for y in contract_years(_head(session, contract)) if y.start <= today]


# -- small pure helpers ------------------------------------------------------------------------------------
def whole(value: float | Decimal) -> Decimal:
    """A quantity as printed in the report: whole units, half-up."""
    return Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP)


def model_name(model_type: str) -> str:
    """"split by day type: workday 5P | non-workday 3PC" → 按日类型分段：工作日 五参数变点模型（5P）｜…"""

    def one(form: str) -> str:
        base, _, suffix = form.partition(" + ")
        zh = FORM_ZH.get(base, base)
        zh = f"{zh}（{base}）" if base in FORM_ZH else zh
        return zh + ("＋工作日变量" if suffix == "workday" else (f"＋{suffix}" if suffix else ""))

    if model_type.startswith("split by day type:"):
        work, _, off = model_type.split(":", 1)[1].partition("|")
        return (f"按日类型分段：工作日 {one(work.strip().removeprefix('workday ').strip())}；"
                f"非工作日 {one(off.strip().removeprefix('non-workday ').strip())}")
    return one(model_type)


def carbon_row(utility: str, savings: Decimal, factor: EmissionFactor) -> r.CarbonRow | None:
    """tCO₂ and tce of an electricity saving (other utilities: none, the report says so)."""
    if utility != "electricity":
        return None
    zh, _, unit = UTILITIES[utility]
    co2 = (savings * factor.kg_per_kwh / 1000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    coal = (savings * COAL_KGCE_PER_KWH / 1000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return r.CarbonRow(zh, savings, unit, factor.kg_per_kwh, "kgCO₂/kWh", factor.name, co2, coal)


def tidy(value: Decimal) -> Decimal:
    """90000.000 → 90000 (a whole quantity prints without zeros); 144303.304 stays."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def _pct(value: float | None, places: int = 1) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value * 100:.{places}f}%"


def _local_day(moment: datetime | None, tz: ZoneInfo) -> date | None:
    return moment.astimezone(tz).date() if moment is not None else None


# -- the report --------------------------------------------------------------------------------------------
@dataclass
class _Utility:
    utility: str
    result: r.UtilityResult
    savings_exact: float  # the year's savings over reported months, unrounded (for the cross-check)
    months_reported: int


def build_annual_report(session: Session, contract: Contract, contract_year: int, *,
                        factor: EmissionFactor = GRID_2022, today: date | None = None) -> r.MVReport:
    """The annual M&V report of ``contract_year`` (1-based) from stored data; see the module docstring."""
    tz = ZoneInfo(get_settings().timezone)
    today = today or local_today()
    utilities = measured_utilities(session, contract)
    if not utilities:
        kinds = sorted({c.kind for c in settlement.terms(session, contract)[-1].terms.components})
        raise ReportUnavailable(f"{contract.code} measures no savings against a baseline (its components: "
                                f"{', '.join(kinds)}), so it has no M&V report")
    head = _head(session, contract)
    years = contract_years(head)
    if not 1 <= contract_year <= len(years):
        raise ReportUnavailable(f"{contract.code} has contract years 1 to {len(years)}, not {contract_year}")
    year = years[contract_year - 1]
    if year.start > today:
        raise ReportUnavailable(f"contract year {contract_year} of {contract.code} begins on {year.start}")

    warnings: list[str] = []
    notes: list[str] = []
    decided: list[date | None] = []
    interim = year.last_day >= today
    if interim:
        warnings.append(f"第{year.number}合同年至 {year.last_day} 结束，本报告为中期报告。"
                        f"The contract year runs until {year.last_day}: this is an interim report.")

    results: list[_Utility] = []
    adjustments: list[Adjustment] = []
    carbon: list[r.CarbonRow] = []
    baselines_used: dict[str, Baseline] = {}
    for utility in utilities:
        zh, en, unit = UTILITIES.get(utility, (utility, utility, ""))
        baseline = service.approved(session, contract, utility)
        if baseline is None:
            warnings.append(f"{zh}：尚无已批准的基准模型，未纳入本报告。No approved {utility} baseline: not reported.")
            continue
        baselines_used[utility] = baseline
        decided.append(_local_day(baseline.decided_at, tz))
        try:
            reporting = service.prepare_reporting(session, contract, utility, year.start, year.last_day)
        except (SeriesError, service.BaselineError) as exc:
            warnings.append(f"{zh}：本合同年无可用数据（{exc}）。No {utility} data for the year.")
            results.append(_no_data(baseline, utility))
            continue
        done = _utility_result(reporting, year, utility, warnings)
        results.append(done)
        adjustments.extend(_adjustments(session, contract, reporting, year, zh, unit, decided))
        _proposed_pending(session, contract, utility, year, zh, warnings)
        row = carbon_row(utility, done.result.savings, factor)
        if row is not None and done.months_reported:
            carbon.append(row)
    if not baselines_used:
        raise ReportNotReady(f"{contract.code} has no approved baseline for {', '.join(utilities)} yet: fit and "
                             "approve one on the M&V page first")

    frozen = _settlements(session, contract, year)
    decided += [_local_day(s.approved_at, tz) for s in frozen]
    _cross_check(frozen, results, warnings)
    guarantees = _guarantees(session, contract, year, frozen, warnings)
    for extra in guarantees[1:]:
        notes.append(f"另一项保证：{extra.utility} 保证 {extra.guaranteed} {extra.unit}，实际 {extra.achieved} "
                     f"{extra.unit}，{'已达到' if extra.met else '未达到'}；{extra.consequence_text}")

    if carbon:
        notes.append(f"碳减排仅计电力节约量。排放因子：{factor.source}；折标准煤：{COAL_SOURCE}。")
    elif "electricity" in baselines_used:
        notes.append("本合同年无可报告的电力节约量，未计算碳减排。")
    notes.append(f"节约量 = 调整后基准 − 实际用量（正值为节约），月度取整，年度为各月之和；数据覆盖不足 "
                 f"{MIN_COVERAGE:.0%} 的月份不计入（与结算规则一致）。不确定度按 ASHRAE Guideline 14-2014 附录B"
                 "（含自相关修正），置信度 90%。保证量结论与金额取自已批准的结算单，本报告不重新结算。")

    institutions = list(session.execute(select(Institution).join(
        ContractInstitution, ContractInstitution.institution_id == Institution.id)
        .where(ContractInstitution.contract_id == contract.id).order_by(Institution.code)).scalars())
    parties = [Party(i.name, i.name_en) for i in institutions[:3]]
    if len(institutions) > 3:
        parties.append(Party(f"等共 {len(institutions)} 家用能单位", f"{len(institutions)} institutions in total"))
    esco = session.get(Esco, contract.esco_id)
    assert esco is not None
    # A finished year's report is dated by its newest stored decision (same data, same PDF, any day); an
    # interim one by today, as its data still grow.
    issue = today if interim else max((d for d in decided if d is not None), default=year.last_day)
    return r.MVReport(
        number=f"MV-{contract.code}-Y{year.number}", contract_code=contract.code, contract_name=contract.name,
        institutions=parties or [Party("—")], esco=Party(esco.name, esco.name_en, esco.credit_code),
        period_start=year.start, period_end=year.last_day, issue_date=issue,
        utilities=[u.result for u in results], adjustments=adjustments,
        guarantee=guarantees[0] if guarantees else None, carbon=carbon, notes=notes, warnings=warnings,
        method=f"IPMVP {IPMVP.get(head.ipmvp_option, head.ipmvp_option)} · GB/T 28750-2012 · "
               "ASHRAE Guideline 14-2014",
        title="年度节能量测量与验证报告" + ("（中期）" if interim else ""),
        title_en=f"Annual Measurement & Verification Report · contract year {year.number}"
                 + (" (interim)" if interim else ""))


def _utility_result(reporting: service.Reporting, year: ContractYear, utility: str, warnings: list[str]) -> _Utility:
    zh, en, unit = UTILITIES.get(utility, (utility, utility, ""))
    baseline = reporting.baseline
    result = service.savings_from(reporting, year.start, year.last_day, period="M").result
    months: list[r.Month] = []
    exact = 0.0
    missing: list[str] = []
    later = 0
    last_data = reporting.data.frame["usage"].last_valid_index()
    for row in result.periods.to_dict(orient="records"):
        start = pd.Timestamp(row["period_start"]).date()
        end = pd.Timestamp(row["period_end"]).date()
        # Days of this month inside the contract year: the engine measures coverage against the data's span,
        # which would count a month cut short by the end of the data as complete.
        span = (min(end, year.end) - max(start, year.start)).days
        coverage = float(row["days_with_data"]) / span if span else 0.0
        if last_data is None or pd.Timestamp(start) > last_data:
            later += 1
            continue
        if not row["settled"] or coverage < MIN_COVERAGE - 1e-9:
            missing.append(f"{start:%Y-%m}（{coverage:.0%}）")
            continue
        months.append(r.Month(start, whole(row["adjusted_baseline"]), whole(row["actual"])))
        exact += float(row["adjusted_baseline"]) - float(row["actual"])
    if missing:
        warnings.append(f"{zh}：以下月份数据不完整，未计入：{'、'.join(missing)}。"
                        f"{en}: months with less than {MIN_COVERAGE:.0%} of days measured are left out.")
    if later:
        until = pd.Timestamp(last_data).date() if last_data is not None else "—"
        warnings.append(f"{zh}：本合同年尚有 {later} 个月无数据（数据截至 {until}）。"
                        f"{en}: {later} month(s) of the year have no data yet.")
    if months:  # the engine's own findings on the year (months left out are listed above already)
        seen: set[str] = set()
        for w in result.warnings:
            if w.code not in HANDLED_MV_CODES and w.code not in seen:
                seen.add(w.code)
                warnings.append(f"{zh}：{w.message}（{w.code}）")
    savings = sum((m.savings for m in months), Decimal(0))
    total = result.total
    settled_months = int(total.get("periods_settled") or 0)
    if months and settled_months != len(months) and reporting.baseline.granularity != "billing":
        # A month the engine settled but this report leaves out (cut short by the end of the data): the year's
        # uncertainty is computed again over the reported months only.
        last = months[-1].month
        end = date(last.year + last.month // 12, last.month % 12 + 1, 1) - timedelta(days=1)
        total = service.savings_from(reporting, year.start, min(end, year.last_day), period="M").result.total
    u90 = total.get("uncertainty_90")
    uncertainty = whole(u90) if months and u90 is not None and math.isfinite(u90) else None
    summary = _model_summary(baseline, total if months else None)
    return _Utility(utility, r.UtilityResult(zh, en, unit, summary, months, savings, uncertainty, "90%"), exact,
                    len(months))


def _no_data(baseline: Baseline, utility: str) -> _Utility:
    """A utility whose approved baseline has no data in the year: its model is shown, no savings."""
    zh, en, unit = UTILITIES.get(utility, (utility, utility, ""))
    return _Utility(utility, r.UtilityResult(zh, en, unit, _model_summary(baseline, None), [], Decimal(0), None,
                                             "90%"), 0.0, 0)


def _model_summary(baseline: Baseline, total: dict[str, Any] | None) -> r.ModelSummary:
    """The stored model, its statistics and G14 gates as approved; with the year's ``total``, also its
    fractional savings uncertainty against the G14 limit."""
    model = baseline.model
    metrics = baseline.metrics or {}
    gates = model.get("gates") or {}
    gate_rows = [
        r.Gate("CV(RMSE)", _pct(gates.get("cvrmse")), f"≤ {_pct(gates.get('cvrmse_max'), 0)}",
               bool(gates.get("cvrmse_pass"))),
        r.Gate("|NMBE|", _pct(abs(gates["nmbe"]) if gates.get("nmbe") is not None else None, 2),
               f"≤ {_pct(gates.get('nmbe_abs_max'), 0)}", bool(gates.get("nmbe_pass"))),
    ]
    if total is not None:
        # G14's compliance test is on G14's own Annex B figure (the headline interval is reported beside it).
        fsu = total.get("fsu_g14_68", total.get("fsu_68"))
        limit = float(total.get("fsu_68_limit") or 0.5)
        gate_rows.append(r.Gate("年度相对不确定度 FSU @68%（G14 附录B）", _pct(fsu), f"< {_pct(limit, 0)}",
                                fsu is not None and math.isfinite(fsu) and fsu < limit))
    approval = f"v{baseline.version}，{baseline.decided_by or '—'} 于 {baseline.decided_at:%Y-%m-%d} 批准" \
        if baseline.decided_at else f"v{baseline.version}"
    if not baseline.passes_gates:
        approval += "；未通过 G14 检验，凭书面理由批准 (approved despite failing the G14 gates)"
    if baseline.reason:
        approval += f"；理由 reason：{baseline.reason}"
    details = [("批准", "Approval", approval),
               ("计量与气象", "Meters / weather",
                f"{'、'.join(baseline.meters)}；气象站 station {baseline.weather_station}"),
               ("选择理由", "Selection", str((model.get("selection") or {}).get("reason", ""))[:400])]
    return r.ModelSummary(
        model=f"{model_name(str(model.get('model_type', '')))}\n{model.get('model_type', '')}",
        granularity=GRANULARITY.get(baseline.granularity, baseline.granularity),
        baseline_start=baseline.period_start, baseline_end=baseline.period_end,
        n=int(metrics.get("n") or 0), p=int(metrics.get("p") or 0),
        r2="—" if metrics.get("r2") is None else f"{metrics['r2']:.3f}",
        cvrmse=_pct(metrics.get("cvrmse")), nmbe=_pct(metrics.get("nmbe"), 2), gates=gate_rows,
        gate_source="ASHRAE Guideline 14-2014 · " + str(gates.get("source", "")), details=details)


def _adjustments(session: Session, contract: Contract, reporting: service.Reporting, year: ContractYear, zh: str,
                 unit: str, decided: list[date | None]) -> list[Adjustment]:
    """Approved adjustments acting in the year, each with its effect on the year's adjusted baseline (the
    year computed with and without it)."""
    rows = {str(a.id): a for a in service.adjustments(session, contract, reporting.baseline.utility)
            if a.status == AdjustmentStatus.approved}
    acting = [a for a in reporting.adjustments if a.id in rows and (
        year.start <= a.start < year.end if a.kind == "one_time"  # added once, to the period holding its start
        else a.start < year.end and (a.end is None or a.end > year.start))]
    if not acting:
        return []
    full = service.savings_from(reporting, year.start, year.last_day).result.total["adjusted_baseline"]
    out = []
    tz = ZoneInfo(get_settings().timezone)
    for adj in acting:
        row: NonRoutineAdjustment = rows[adj.id]
        without = replace(reporting, adjustments=[a for a in reporting.adjustments if a is not adj], _months=None)
        effect = full - service.savings_from(without, year.start, year.last_day).result.total["adjusted_baseline"]
        span = f"{row.start} 起" + (f"至 {row.end - timedelta(days=1)}" if row.end else "")
        if row.multiplier is not None:
            size = f"基准 × {row.multiplier:g}"
        elif row.kind == "continuous":
            size = f"{row.amount:,g} {unit}/日"
        else:
            size = f"{row.amount:,g} {unit}" + ("/期" if row.kind == "recurring" else "")
        decided.append(row.decided_at.astimezone(tz).date() if row.decided_at else None)
        reference = f"调整 #{row.id}，{row.decided_by} 批准" + (f" {row.decided_at:%Y-%m-%d}" if row.decided_at else "")
        if row.decision_note:
            reference += f"：{row.decision_note}"
        out.append(Adjustment(zh, f"{ADJUSTMENT_KIND.get(row.kind, row.kind)}调整，{span}，{size}",
                              whole(effect), unit, row.reason, reference))
    return out


def _proposed_pending(session: Session, contract: Contract, utility: str, year: ContractYear, zh: str,
                      warnings: list[str]) -> None:
    pending = [a for a in service.adjustments(session, contract, utility) if a.status == AdjustmentStatus.proposed
               and a.start < year.end and (a.end is None or a.end > year.start)]
    if pending:
        warnings.append(f"{zh}：{len(pending)} 项非常规调整待审批，未计入。"
                        f"{len(pending)} proposed adjustment(s) await a decision and are not applied.")


def _settlements(session: Session, contract: Contract, year: ContractYear) -> list[Settlement]:
    return list(session.execute(select(Settlement).where(
        Settlement.contract_id == contract.id, Settlement.contract_year == year.number,
        Settlement.status.in_(list(FROZEN))).order_by(Settlement.period_start, Settlement.kind,
                                                      Settlement.version)).scalars())


def _latest(rows: Sequence[Settlement]) -> dict[tuple[str, date], Settlement]:
    """The newest approved version of each (kind, period)."""
    out: dict[tuple[str, date], Settlement] = {}
    for row in rows:
        key = (row.kind, row.period_start)
        if key not in out or row.version > out[key].version:
            out[key] = row
    return out


def _cross_check(frozen: Sequence[Settlement], results: Sequence[_Utility], warnings: list[str]) -> None:
    """Say so when the approved settlements used other savings than the data now give (a baseline replaced,
    readings corrected after approval)."""
    periods = [row for (kind, _), row in _latest(frozen).items() if kind == "period"]
    for done in results:
        values = [row.inputs.get(f"savings.{done.utility}.savings") for row in periods]
        settled = [Decimal(v) for v in values if v is not None]
        if not settled or len(settled) != len(periods):
            continue
        total = sum(settled, Decimal(0))
        if abs(float(total) - done.savings_exact) > max(1.0, 1e-4 * abs(float(total))):
            warnings.append(f"{done.result.utility}：已批准结算单按节约量 {total:,} {done.result.unit} 结算，现有数据"
                            f"重算为 {done.savings_exact:,.3f}；基准或读数在批准后有变动，请核对结算调整。"
                            "Settled savings differ from the data today.")
    flagged = [row.number for row in frozen if row.flagged]
    if flagged:
        warnings.append(f"结算单 {', '.join(flagged)} 已标记：批准后读数有更正。Flagged settlements: data changed.")


def _guarantees(session: Session, contract: Contract, year: ContractYear, frozen: Sequence[Settlement],
                warnings: list[str]) -> list[r.Guarantee]:
    comps = [c for c in settlement.terms(session, contract)[-1].terms.components
             if isinstance(c, GuaranteedSavings) or (isinstance(c, CostCustody) and c.savings_rate_guarantee)]
    if not comps:
        return []
    year_end = [row for row in frozen if row.kind == "year_end"]
    if not year_end:
        pending = session.execute(select(Settlement).where(
            Settlement.contract_id == contract.id, Settlement.kind == "year_end",
            Settlement.contract_year == year.number)).scalars().first()
        state = f"（年度清算 {pending.number}：{STATUS_ZH.get(pending.status, pending.status)}）" if pending else ""
        warnings.append(f"第{year.number}合同年的年度清算尚未批准{state}，保证量结论及经济后果待定。"
                        "The contract-year true-up is not approved yet: the guarantee is not assessed.")
        return []
    latest = max(year_end, key=lambda row: row.version)
    for w in latest.warnings:
        warnings.append(f"年度清算 {latest.number}：{w.get('message', '')}（{w.get('code', '')}）")
    lines = {row.id: settlement.lines_of(session, row) for row in frozen}
    out = []
    for comp in comps:
        key = comp.key
        guarantee_lines = [(row, line) for row in year_end for line in lines[row.id]
                           if line.component == key and line.kind in GUARANTEE_CODES]
        money = sum((_toward_esco(line) for _, line in guarantee_lines), Decimal(0))
        paid_units = sum((_toward_esco(line) for row in frozen for line in lines[row.id]
                          if line.component == key and line.kind in UNIT_PAYMENT_CODES), Decimal(0))
        numbers = sorted({row.number for row, _ in guarantee_lines} or {latest.number})
        where = "；".join(f"结算单 {n}（{STATUS_ZH.get(s, s)}）" for n, s in
                         sorted({(row.number, row.status) for row in year_end if row.number in numbers}))
        if isinstance(comp, GuaranteedSavings):
            verified, guaranteed = latest.inputs.get(f"{key}.verified"), latest.inputs.get(f"{key}.guaranteed")
            if verified is None or guaranteed is None:
                warnings.append(f"年度清算 {latest.number} 未记录保证量 {key} 的核定数据。")
                continue
            utility = str(comp.utilities[0])
            zh, _, unit = UTILITIES.get(utility, (utility, utility, ""))
            g, a = tidy(Decimal(guaranteed)), tidy(Decimal(verified))
        else:
            achieved = latest.inputs.get(f"{key}.achieved_rate")
            if achieved is None:
                warnings.append(f"年度清算 {latest.number} 未评定节能率保证 {key}。")
                continue
            zh, unit = "综合节约率", "%"
            g = (Decimal(comp.savings_rate_guarantee or 0) * 100).quantize(Decimal("0.01"))
            a = (Decimal(achieved) * 100).quantize(Decimal("0.01"))
        parts = []
        if money < 0:
            parts.append(f"节能服务公司向用能单位赔付 {-money:,.2f} 元 (paid by the ESCO to the institution)。")
        elif money > 0:
            parts.append(f"用能单位向节能服务公司支付 {money:,.2f} 元 (paid to the ESCO)。")
        if guarantee_lines:
            parts.append("；".join(line.formula for _, line in guarantee_lines) + "。")
        elif a >= g:
            parts.append("已达到保证量，无短缺赔付。Guarantee met: no shortfall to pay.")
        else:
            parts.append("未达到保证量，但已批准的年度清算中无赔付。")
        if paid_units:
            parts.append(f"另：本合同年按核定节约量付费合计 {paid_units:,.2f} 元。")
        parts.append(f"依据 {where}")
        out.append(r.Guarantee(zh, unit, g, a, money, " ".join(parts)))
    return out


def _toward_esco(line: SettlementLine) -> Decimal:
    """A line's amount seen from the ESCO: + it receives, − it pays."""
    if line.payee == ESCO:
        return Decimal(line.amount)
    if line.payer == ESCO:
        return -Decimal(line.amount)
    return Decimal(0)


def local_today() -> date:
    return datetime.now(ZoneInfo(get_settings().timezone)).date()


def report_years(session: Session, contract: Contract, today: date | None = None) -> list[dict[str, Any]]:
    """Links for the M&V page: one per contract year that has begun."""
    today = today or local_today()
    return [{"number": y.number, "start": y.start, "last_day": y.last_day, "running": y.last_day >= today}
            for y in begun_years(session, contract, today)]
