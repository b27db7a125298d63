"""The contract year as measured, for the annual M&V report: per utility, monthly actual use against the adjusted
baseline, the approved model with its ASHRAE Guideline 14 gates, and the approved non-routine adjustments.

Savings are recomputed with :func:`emc.baselines.service.savings_from` from the stored readings, the approved
baseline and the approved adjustments (the same computation settlements use, IPMVP: adjusted baseline − actual);
a month is reported only when :data:`MIN_COVERAGE` of its days have data, as settlements require. The year's
uncertainty is ASHRAE G14 Annex B (with the autocorrelation correction) at 90 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from dateutil.relativedelta import relativedelta
from sqlmodel import Session

from emc.baselines import service
from emc.baselines.models import AdjustmentStatus, Baseline, NonRoutineAdjustment
from emc.config import get_settings
from emc.contracts.models import Contract
from emc.i18n import Translator
from emc.i18n.messages import model_label, mv_warning_text, selection_text
from emc.mv.warning import MVWarning
from emc.reports import mv_report as r
from emc.reports.statement import Adjustment
from emc.settlement.core.periods import ContractYear

MIN_COVERAGE = 0.90  # a month is reported only when this share of its days has data (as settlements require)
HANDLED_MV_CODES = frozenset({"period_not_settled", "adjustment_in_unsettled_period"})

UTILITIES = {"electricity": ("电力", "Electricity", "kWh"), "water": ("水", "Water", "m³"),
             "gas": ("天然气", "Natural gas", "m³"), "heat": ("热力", "Heat", "GJ")}
FORM_ZH = {"mean": "均值模型", "2P": "两参数线性模型", "3PH": "三参数采暖变点模型", "3PC": "三参数制冷变点模型",
           "4P": "四参数变点模型", "5P": "五参数变点模型", "TOWT": "时段-温度加权模型"}
GRANULARITY = {"daily": "日数据", "hourly": "小时数据", "billing": "账单数据"}
ADJUSTMENT_KIND = {"one_time": "一次性", "recurring": "每期", "continuous": "持续"}


def utility_names(utility: str) -> tuple[str, str, str]:
    """(中文, English, unit) of a utility; an unknown one is named by its key."""
    return UTILITIES.get(utility, (utility, utility, ""))


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


def _pct(value: float | None, places: int = 1) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value * 100:.{places}f}%"


@dataclass
class MeasuredUtility:
    """One utility's part of the report, with what the cross-check against the settlements needs."""

    utility: str
    result: r.UtilityResult
    savings_exact: float  # the year's savings over reported months, unrounded (for the cross-check)
    months_reported: int


@dataclass
class _Months:
    """The engine's monthly periods sorted into reported, incomplete and not yet measured."""

    reported: list[r.Month]
    exact: float  # Σ adjusted baseline − actual over the reported months, unrounded
    missing: list[str]  # incomplete months, as printed: "2020-07（85%）"
    later: int  # months after the end of the data


def _sort_months(periods: pd.DataFrame, year: ContractYear, last_data: Any) -> _Months:
    out = _Months([], 0.0, [], 0)
    for row in periods.to_dict(orient="records"):
        start = pd.Timestamp(row["period_start"]).date()
        end = pd.Timestamp(row["period_end"]).date()
        # Days of this month inside the contract year: the engine measures coverage against the data's span,
        # which would count a month cut short by the end of the data as complete.
        span = (min(end, year.end) - max(start, year.start)).days
        coverage = float(row["days_with_data"]) / span if span else 0.0
        if last_data is None or pd.Timestamp(start) > last_data:
            out.later += 1
        elif not row["settled"] or coverage < MIN_COVERAGE - 1e-9:
            out.missing.append(f"{start:%Y-%m}（{coverage:.0%}）")
        else:
            out.reported.append(r.Month(start, whole(row["adjusted_baseline"]), whole(row["actual"])))
            out.exact += float(row["adjusted_baseline"]) - float(row["actual"])
    return out


def _month_warnings(utility: str, months: _Months, last_data: Any, engine: list[MVWarning],
                    warnings: list[r.Bilingual]) -> None:
    """Months left out, months still to come, and the engine's own findings on the reported ones."""
    zh, en, _ = utility_names(utility)
    if months.missing:
        warnings.append((f"{zh}：以下月份数据不完整，未计入：{'、'.join(months.missing)}。",
                         f"{en}: months with less than {MIN_COVERAGE:.0%} of days measured are left out."))
    if months.later:
        until = pd.Timestamp(last_data).date() if last_data is not None else "—"
        warnings.append((f"{zh}：本合同年尚有 {months.later} 个月无数据（数据截至 {until}）。",
                         f"{en}: {months.later} month(s) of the year have no data yet."))
    if months.reported:  # the engine's own findings on the year (months left out are listed above already)
        seen: set[str] = set()
        for w in engine:
            if w.code not in HANDLED_MV_CODES and w.code not in seen:
                seen.add(w.code)
                found = w.to_dict()
                warnings.append((f"{zh}：{mv_warning_text(found, Translator('zh'))}",
                                 f"{en}: {mv_warning_text(found, Translator('en'))}"))


def _year_total(reporting: service.Reporting, year: ContractYear, reported: list[r.Month],
                total: dict[str, Any]) -> dict[str, Any]:
    """The year's totals over the reported months: a month the engine settled but the report leaves out (cut
    short by the end of the data) means the year's uncertainty is computed again over the reported months."""
    settled_months = int(total.get("periods_settled") or 0)
    if reported and settled_months != len(reported) and reporting.baseline.granularity != "billing":
        end = reported[-1].month + relativedelta(day=31)  # the last day of the last reported month
        return service.savings_from(reporting, year.start, min(end, year.last_day), period="M").result.total
    return total


def utility_result(reporting: service.Reporting, year: ContractYear, utility: str,
                   warnings: list[r.Bilingual]) -> MeasuredUtility:
    """A utility's months, savings and uncertainty over the contract year; what is left out goes to ``warnings``."""
    zh, en, unit = utility_names(utility)
    result = service.savings_from(reporting, year.start, year.last_day, period="M").result
    last_data = reporting.data.frame["usage"].last_valid_index()
    months = _sort_months(result.periods, year, last_data)
    _month_warnings(utility, months, last_data, result.warnings, warnings)
    reported = months.reported
    total = _year_total(reporting, year, reported, result.total)
    u90 = total.get("uncertainty_90")
    uncertainty = whole(u90) if reported and u90 is not None and math.isfinite(u90) else None
    summary = model_summary(reporting.baseline, total if reported else None)
    savings = sum((m.savings for m in reported), Decimal(0))
    return MeasuredUtility(utility, r.UtilityResult(zh, en, unit, summary, reported, savings, uncertainty, "90%"),
                           months.exact, len(reported))


def no_data(baseline: Baseline, utility: str) -> MeasuredUtility:
    """A utility whose approved baseline has no data in the year: its model is shown, no savings."""
    zh, en, unit = utility_names(utility)
    return MeasuredUtility(utility, r.UtilityResult(zh, en, unit, model_summary(baseline, None), [], Decimal(0),
                                                    None, "90%"), 0.0, 0)


def _gates(gates: dict[str, Any], total: dict[str, Any] | None) -> list[r.Gate]:
    """The G14 gates as approved; with the year's ``total``, also its fractional savings uncertainty."""
    rows = [
        r.Gate("CV(RMSE)", _pct(gates.get("cvrmse")), f"≤ {_pct(gates.get('cvrmse_max'), 0)}",
               bool(gates.get("cvrmse_pass"))),
        r.Gate("|NMBE|", _pct(abs(gates["nmbe"]) if gates.get("nmbe") is not None else None, 2),
               f"≤ {_pct(gates.get('nmbe_abs_max'), 0)}", bool(gates.get("nmbe_pass"))),
    ]
    if total is not None:
        # G14's compliance test is on G14's own Annex B figure (the headline interval is reported beside it).
        fsu = total.get("fsu_g14_68", total.get("fsu_68"))
        limit = float(total.get("fsu_68_limit") or 0.5)
        rows.append(r.Gate("年度相对不确定度 FSU @68%（G14 附录B）", _pct(fsu), f"< {_pct(limit, 0)}",
                           fsu is not None and math.isfinite(fsu) and fsu < limit))
    return rows


def _approval(baseline: Baseline) -> str:
    """Who approved the baseline, when and why (and that it failed the gates, if it did)."""
    approval = f"v{baseline.version}，{baseline.decided_by or '—'} 于 {baseline.decided_at:%Y-%m-%d} 批准" \
        if baseline.decided_at else f"v{baseline.version}"
    if not baseline.passes_gates:
        approval += "；未通过 G14 检验，凭书面理由批准"
    if baseline.reason:
        approval += f"；理由：{baseline.reason}"
    return approval


def model_summary(baseline: Baseline, total: dict[str, Any] | None) -> r.ModelSummary:
    """The stored model, its statistics and G14 gates as approved; with the year's ``total``, also its
    fractional savings uncertainty against the G14 limit."""
    model = baseline.model
    metrics = baseline.metrics or {}
    gates = model.get("gates") or {}
    details = [("批准", "Approval", _approval(baseline)),
               ("计量与气象", "Meters / weather",
                f"{'、'.join(baseline.meters)}；气象站 {baseline.weather_station}"),
               ("选择理由", "Selection", selection_text(model.get("selection") or {}, Translator("zh"))[:400])]
    return r.ModelSummary(
        model=model_label(str(model.get("model_type", "")), Translator("zh")),
        granularity=GRANULARITY.get(baseline.granularity, baseline.granularity),
        baseline_start=baseline.period_start, baseline_end=baseline.period_end,
        n=int(metrics.get("n") or 0), p=int(metrics.get("p") or 0),
        r2="—" if metrics.get("r2") is None else f"{metrics['r2']:.3f}",
        cvrmse=_pct(metrics.get("cvrmse")), nmbe=_pct(metrics.get("nmbe"), 2), gates=_gates(gates, total),
        gate_source=Translator("zh").label(f"gates.source.{baseline.granularity}", str(gates.get("source", ""))),
        details=details)


def _size(row: NonRoutineAdjustment, unit: str) -> str:
    """How big an adjustment is, as printed: a multiplier, a daily amount or an amount (per period)."""
    if row.multiplier is not None:
        return f"基准 × {row.multiplier:g}"
    if row.kind == "continuous":
        return f"{row.amount:,g} {unit}/日"
    return f"{row.amount:,g} {unit}" + ("/期" if row.kind == "recurring" else "")


def adjustments(session: Session, contract: Contract, reporting: service.Reporting, year: ContractYear, zh: str,
                unit: str, decided: list[date | None]) -> list[Adjustment]:
    """Approved adjustments acting in the year, each with its effect on the year's adjusted baseline (the
    year computed with and without it); their decision days go to ``decided``."""
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
        row: NonRoutineAdjustment = rows[str(adj.id)]
        without = replace(reporting, adjustments=[a for a in reporting.adjustments if a is not adj], _months=None)
        effect = full - service.savings_from(without, year.start, year.last_day).result.total["adjusted_baseline"]
        span = f"{row.start} 起" + (f"至 {row.end - timedelta(days=1)}" if row.end else "")
        decided.append(_local_day(row.decided_at, tz))
        reference = f"调整 #{row.id}，{row.decided_by} 批准" + (f" {row.decided_at:%Y-%m-%d}" if row.decided_at else "")
        if row.decision_note:
            reference += f"：{row.decision_note}"
        out.append(Adjustment(zh, f"{ADJUSTMENT_KIND.get(row.kind, row.kind)}调整，{span}，{_size(row, unit)}",
                              whole(effect), unit, row.reason, reference))
    return out


def proposed_pending(session: Session, contract: Contract, utility: str, year: ContractYear, zh: str,
                     warnings: list[r.Bilingual]) -> None:
    """Warn of proposed adjustments acting in the year that await a decision (not applied)."""
    pending = [a for a in service.adjustments(session, contract, utility) if a.status == AdjustmentStatus.proposed
               and a.start < year.end and (a.end is None or a.end > year.start)]
    if pending:
        warnings.append(f"{zh}：{len(pending)} 项非常规调整待审批，未计入。"
                        f"{len(pending)} proposed adjustment(s) await a decision and are not applied.")


def _local_day(moment: datetime | None, tz: ZoneInfo) -> date | None:
    return moment.astimezone(tz).date() if moment is not None else None
