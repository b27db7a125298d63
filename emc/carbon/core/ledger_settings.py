"""The city's ledger choices and per-institution figures, as data files: pure.

A region (usually a city bureau, or the province as a default for its cities) names the CO₂ series and grid
region its ledger uses and the standard-coal series for electricity and gas. An institution's ledger follows
the nearest region above it that has a choice; none means no ledger (an error naming the region), never a
silent default — mixing series unlabelled is the mistake docs/domain.md §4 warns about::

    [[ledger]]
    region = "320200"                 # GB/T 2260 code
    co2_series = "mee_nbs_average"
    co2_region = "east_china_grid"
    electricity_coal_series = "equivalent"   # GB/T 2589-2020 当量值 (default); "equal" = 等价值 0.30
    gas_coal_series = "gas_field"
    source = "市机关事务管理局 2024 年碳排放核算口径"

    [[institution]]
    code = "WX-0001"
    gas_heating_value = 36000         # kJ/m³, from the gas supplier (GB/T 2589: kgce = kJ / 29 307)
    source = "燃气公司 2023 年热值报告"
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from emc.datafiles import Strict

from .accounting import LedgerPolicy


class LedgerSetting(Strict):
    region: str = Field(pattern=r"^\d{6}$")
    co2_series: str = Field(min_length=1, max_length=60)
    co2_region: str = Field(min_length=1, max_length=40)
    electricity_coal_series: str = Field(default="equivalent", max_length=60)
    gas_coal_series: str = Field(default="gas_field", max_length=60)
    source: str = Field(min_length=1, max_length=500)

    def policy(self) -> LedgerPolicy:
        return LedgerPolicy(self.co2_series, self.co2_region, self.electricity_coal_series, self.gas_coal_series,
                            self.source)


class InstitutionSetting(Strict):
    code: str = Field(min_length=1, max_length=40)
    gas_heating_value: Decimal | None = Field(default=None, gt=10000, lt=60000)  # kJ/m³: natural gas is ~31–40k
    source: str = Field(min_length=1, max_length=500)


def nearest(path: str, settings: dict[str, LedgerSetting]) -> LedgerSetting | None:
    """The setting of the nearest region on ``path`` ("/320000/320200/320211/"), the region itself first."""
    for code in reversed([c for c in path.split("/") if c]):
        if code in settings:
            return settings[code]
    return None
