"""Carbon reduced in the annual M&V report: which grid CO₂ factor applies, and tCO₂ and tce of a saving.

Electricity savings × a grid emission factor (default: the 2022 national average published by MEE and NBS; a
contract whose institutions' city keeps a carbon ledger uses that ledger's factor) and × 0.1229 kgce/kWh for
standard coal (GB/T 2589-2020). Other utilities have no carbon row: the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlmodel import Session, col

from emc.carbon.core.factors import FactorError
from emc.carbon.core.ledger_settings import nearest
from emc.carbon.reads import reference as carbon
from emc.contracts.models import Contract, ContractInstitution
from emc.i18n import Translator
from emc.org.models import Institution, Region
from emc.reporting.measured import UTILITIES
from emc.reports import mv_report as r
from emc.settlement import period_inputs
from emc.settlement.core.periods import contract_years

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
#: newer factor (:func:`city_factor`) passes its own.
GRID_2022 = EmissionFactor(
    Decimal("0.5366"), "2022 全国电力平均（生态环境部、国家统计局）",
    "生态环境部、国家统计局《关于发布2022年电力二氧化碳排放因子的公告》（2024年12月20日），"
    "2022年全国电力平均二氧化碳排放因子 0.5366 kgCO₂/kWh")


def city_factor(session: Session, contract: Contract, contract_year: int) -> EmissionFactor | None:
    """The grid CO₂ factor the city's carbon ledger books the contract's institutions with (emc/carbon): the
    ledger setting of the nearest region above its first institution, and that series' factor for the calendar
    year most of the contract year falls in (the latest earlier year, marked provisional, if that year is not
    published). None when no ledger setting or factor applies (the caller keeps the national default)."""
    path = session.execute(select(col(Region.path)).join(Institution, col(Institution.region_id) == Region.id)
                           .join(ContractInstitution, col(ContractInstitution.institution_id) == Institution.id)
                           .where(col(ContractInstitution.contract_id) == contract.id)
                           .order_by(col(Institution.code))).scalars().first()
    setting = nearest(path, carbon.ledger_settings(session)) if path else None
    if setting is None:
        return None
    years = contract_years(period_inputs.terms(session, contract)[-1].terms.contract)
    span = next((y for y in years if y.number == contract_year), None)
    if span is None:
        return None
    middle = span.start + (span.end - span.start) / 2
    try:
        choice = carbon.factor_book(session).choose("co2", "electricity", setting.co2_series, setting.co2_region,
                                                    middle.year)
    except FactorError:
        return None
    zh = Translator("zh")
    name = zh("factor.name", year=middle.year, series=zh.label("series." + setting.co2_series, setting.co2_series),
             region=zh.label("factor_region." + setting.co2_region, setting.co2_region),
             state=zh("factor.provisional" if choice.provisional else "factor.final"))
    used = zh("factor.used_provisionally", year=middle.year, data_year=choice.factor.data_year or "—") \
        if choice.provisional else ""
    return EmissionFactor(choice.per_unit, name, f"{choice.factor.source}（v{choice.factor.version}）{used}")


def carbon_row(utility: str, savings: Decimal, factor: EmissionFactor) -> r.CarbonRow | None:
    """tCO₂ and tce of an electricity saving (other utilities: none, the report says so)."""
    if utility != "electricity":
        return None
    zh, _, unit = UTILITIES[utility]
    co2 = (savings * factor.kg_per_kwh / 1000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    coal = (savings * COAL_KGCE_PER_KWH / 1000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return r.CarbonRow(zh, savings, unit, factor.kg_per_kwh, "kgCO₂/kWh", factor.name, co2, coal)
