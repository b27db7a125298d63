"""The contract file format (``contracts/*.toml``): parse and validate, nothing else.

A contract is a list of settlement *components* so hybrids compose (GB/T 24915-2020 App. A shared
savings, App. B guaranteed savings, App. C energy-cost custody; GB/T 34149-2017 for water; finance
lease and fixed/O&M fees). The format is documented in ``contracts/README.md``. Every error names the
file, the key path and what is wrong; numbers are parsed as exact decimals (TOML floats never pass
through binary floating point).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from emc import datafiles
from emc.contracts.allocation import AllocationSpec, check_allocation
from emc.datafiles import (
    Amount,
    Code,
    Fraction,
    KeyProblem,
    Price,
    Quantity,
    SpecProblem,
    SpecStrict,
    read_spec_text,
)
from emc.errors import DomainError
from emc.kinds import InstitutionCategory, RegisterType, SubItem, Utility

FORMAT_VERSION = 1


class ContractType(StrEnum):
    shared_savings = "shared_savings"  # 节能效益分享型 / 节水效益分享型
    guaranteed_savings = "guaranteed_savings"  # 节能量保证型 / 节水效果保证型
    cost_custody = "cost_custody"  # 能源费用托管型 / 用水费用托管型
    lease = "lease"  # 融资租赁型
    hybrid = "hybrid"  # 混合型


class Frequency(StrEnum):
    monthly = "monthly"
    quarterly = "quarterly"
    annual = "annual"


class CarbonRights(StrEnum):
    institution = "institution"
    esco = "esco"
    shared = "shared"


class ValuationPolicy(StrEnum):
    baseline_price = "baseline_price"  # contract unit prices with escalation (FEMP ESPC practice)
    average_cost = "average_cost"  # current bill's average unit cost, within safety limits (EnergyCAP)
    time_of_use = "time_of_use"  # interval savings priced by the TOU tariff


# Canonical units per utility; meters may use others (MWh, t, L, Nm³), converted on import.
CANONICAL_UNITS = {"electricity": "kWh", "water": "m3", "gas": "m3", "heat": "GJ", "pv": "kWh"}
METER_UNITS = {
    "electricity": {"kWh", "MWh"},
    "water": {"m3", "t", "L"},
    "gas": {"m3", "Nm3"},
    "heat": {"GJ", "MJ", "kWh"},
    "pv": {"kWh", "MWh"},
}


class ContractHead(SpecStrict):
    code: Code
    name: str = Field(min_length=1, max_length=300)
    name_en: str = ""
    type: ContractType
    signed: date | None = None
    start: date
    end: date  # inclusive last day of the term
    settlement_frequency: Frequency
    contract_year_start: str | None = Field(
        default=None, pattern=r"^\d{2}-\d{2}$", description="MM-DD; default: the start date's"
    )
    payment_days: int = Field(default=30, ge=0, le=365)
    contract_value: Amount | None = None
    esco_investment: Amount | None = None
    carbon_rights: CarbonRights = CarbonRights.institution
    carbon_rights_esco_share: Fraction | None = None
    ipmvp_option: Literal["A", "B", "C", "D"] = "C"
    notes: str = ""

    @model_validator(mode="after")
    def _term(self) -> ContractHead:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        if (self.carbon_rights == "shared") != (self.carbon_rights_esco_share is not None):
            raise ValueError("carbon_rights_esco_share is required exactly when carbon_rights = 'shared'")
        if self.contract_year_start:
            month, day = (int(x) for x in self.contract_year_start.split("-"))
            try:
                date(2001, month, day)
            except ValueError as exc:
                raise ValueError(f"contract_year_start {self.contract_year_start!r} is not a day") from exc
        return self

    def contract_year_starts(self) -> list[date]:
        """First day of each contract year. By default year k starts on the k-th anniversary of the
        start; with ``contract_year_start = "MM-DD"`` the first year runs to the day before the first
        such date after the start, and each later year starts on that date."""
        if self.contract_year_start is None:
            starts, k = [], 0
            while (day := add_years(self.start, k)) <= self.end:
                starts.append(day)
                k += 1
            return starts
        month, dom = (int(x) for x in self.contract_year_start.split("-"))
        starts = [self.start]
        year = self.start.year
        while True:
            anchor = _on(year, month, dom)
            if anchor > self.end:
                return starts
            if anchor > self.start:
                starts.append(anchor)
            year += 1

    @property
    def contract_years(self) -> int:
        """Contract years in the term (a partial last year counts): 2022-03-15..2027-03-14 is five."""
        return len(self.contract_year_starts())


def _on(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:  # 29 February in a common year
        return date(year, month, 28)


def add_years(day: date, years: int) -> date:
    """The same calendar day ``years`` later; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


class EscoSpec(SpecStrict):
    code: Code
    name: str = Field(min_length=1, max_length=200)
    name_en: str = ""
    credit_code: str = Field(default="", pattern=r"^([0-9A-HJ-NPQRTUWXY]{18})?$")
    contact: str = ""


class InstitutionSpec(SpecStrict):
    code: Code
    name: str = Field(min_length=1, max_length=200)
    name_en: str = ""
    category: InstitutionCategory
    region: str = Field(pattern=r"^\d{6}$", description="GB/T 2260 code of the district or city")
    floor_area_m2: Quantity | None = None  # office floor area at baseline
    energy_users: int | None = Field(default=None, ge=0)  # energy users at baseline
    weather_station: str = ""
    address: str = ""
    timezone: str = "Asia/Shanghai"


class MeterSpec(SpecStrict):
    code: Code
    institution: Code
    utility: Utility
    unit: str
    name: str = ""
    multiplier: Annotated[Decimal, Field(gt=0)] = Decimal(1)
    register_type: RegisterType = Field(default=RegisterType.interval, alias="register")
    digits: int | None = Field(default=None, ge=3, le=12)
    sub_item: SubItem = SubItem.total

    @model_validator(mode="after")
    def _unit_and_register(self) -> MeterSpec:
        allowed = METER_UNITS[str(self.utility)]
        if self.unit not in allowed:
            raise ValueError(f"unit {self.unit!r} is not a {self.utility} unit; use one of {sorted(allowed)}")
        if self.register_type == "cumulative" and self.digits is None:
            raise ValueError("a cumulative register needs digits (where it rolls over)")
        return self


class BaselineSpec(SpecStrict):
    """The baseline period (基期) and its use: the reference every saving is measured from."""

    start: date
    end: date  # inclusive
    use: dict[Utility, Quantity] = Field(default_factory=dict)  # per utility, canonical unit, whole period
    cost: Amount | None = None  # baseline-period energy and water cost, CNY, from bills
    floor_area_m2: Quantity | None = None
    energy_users: int | None = Field(default=None, ge=0)
    notes: str = ""

    @model_validator(mode="after")
    def _period(self) -> BaselineSpec:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        return self


class UnitCostLimits(SpecStrict):
    min: Price
    max: Price

    @model_validator(mode="after")
    def _order(self) -> UnitCostLimits:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class ValuationSpec(SpecStrict):
    policy: ValuationPolicy
    prices: dict[Utility, Price] = Field(default_factory=dict)  # CNY per canonical unit
    escalation: Annotated[Decimal, Field(ge=-1, le=1)] = Decimal(0)  # per contract year
    limits: dict[Utility, UnitCostLimits] = Field(default_factory=dict)
    tariff: str | None = None  # tariff code for time_of_use

    @model_validator(mode="after")
    def _policy_needs(self) -> ValuationSpec:
        if self.policy == "baseline_price" and not self.prices:
            raise ValueError("policy 'baseline_price' needs [valuation.prices]")
        if self.policy == "average_cost" and not self.limits:
            raise ValueError("policy 'average_cost' needs [valuation.limits.<utility>] min/max safety limits")
        if self.policy == "time_of_use" and not self.tariff:
            raise ValueError("policy 'time_of_use' needs tariff = '<tariff code>'")
        return self


class _Component(SpecStrict):
    key: Code
    label: str = ""
    utilities: list[Utility] = Field(default_factory=list)


class SharedSavings(_Component):
    """GB/T 24915 App. A: the ESCO receives its share of the value of verified savings."""

    kind: Literal["shared_savings"]
    basis: Literal["total", "per_utility"] = "total"
    esco_share: list[Fraction] = Field(min_length=1, description="by contract year, first year first")
    floor_per_period: Amount | None = None
    cap_per_year: Amount | None = None
    carry_forward: bool = False  # carry a period's negative savings value into the next


class FeeInstalment(SpecStrict):
    contract_year: int = Field(ge=1)
    amount: Amount


class GuaranteedSavings(_Component):
    """GB/T 24915 App. B / GB/T 34149 节水效果保证型: a guaranteed saving per contract year; the ESCO
    pays the shortfall × the agreed unit price."""

    kind: Literal["guaranteed_savings"]
    guaranteed_rate: Fraction | None = None  # share of the adjusted baseline, per contract year
    guaranteed_quantity: Quantity | None = None  # or a quantity per contract year, canonical unit
    savings_price: Price | None = None  # CNY per unit verified saved, paid to the ESCO
    fee_schedule: list[FeeInstalment] = Field(default_factory=list)
    shortfall_price: Price
    shortfall: Literal["esco_pays", "net_from_fee"] = "esco_pays"
    surplus_esco_share: Fraction = Decimal(0)
    savings_cap_per_year: Quantity | None = None

    @model_validator(mode="after")
    def _one_guarantee(self) -> GuaranteedSavings:
        if (self.guaranteed_rate is None) == (self.guaranteed_quantity is None):
            raise ValueError("give exactly one of guaranteed_rate or guaranteed_quantity")
        if len(self.utilities) != 1:
            raise ValueError("a guarantee covers exactly one utility (utilities = ['water'])")
        return self


class CostCustody(_Component):
    """GB/T 24915 App. C, 国管节能〔2022〕287号, JS/T 301-2024: the institution pays a custody fee fixed
    from the baseline cost; the ESCO pays the actual bills and keeps (or absorbs) the difference."""

    kind: Literal["cost_custody"]
    baseline_cost: Amount  # CNY per contract year, from the baseline-period bills
    fee_factor: Annotated[Decimal, Field(gt=0, le=Decimal("1.5"))]  # fee = baseline_cost × factor
    adjust_for: list[Literal["floor_area", "energy_users", "price", "non_routine"]] = Field(default_factory=list)
    reconciliation: Literal["annual", "none"] = "annual"
    savings_rate_guarantee: Fraction | None = None  # guaranteed cut in use vs baseline, per year
    guarantee_penalty_rate: Fraction | None = None  # share of the fee forfeited per point missed
    # tariff code per utility whose price notices adjust the fee (adjust_for must include "price"): each
    # version in force after the baseline is a price change against the one in force on the baseline's end
    price_tariffs: dict[Utility, Code] | None = None

    @model_validator(mode="after")
    def _price_tariffs_agreed(self) -> CostCustody:
        if self.price_tariffs and "price" not in self.adjust_for:
            raise ValueError("price_tariffs needs 'price' in adjust_for (the contract must agree to price changes)")
        unknown = set(self.price_tariffs or {}) - {str(u) for u in self.utilities}
        if unknown:
            raise ValueError(f"price_tariffs names {sorted(unknown)}, which this component does not cover")
        return self


class Lease(_Component):
    """Finance lease (融资租赁型): level instalments from principal, rate and term."""

    kind: Literal["lease"]
    principal: Amount
    annual_rate: Annotated[Decimal, Field(ge=0, le=Decimal("0.5"))]
    term_months: int = Field(ge=1, le=360)
    payments_per_year: Literal[1, 2, 4, 12] = 12
    timing: Literal["end", "begin"] = "end"
    residual: Amount = Decimal(0)
    lessor: str = ""


class FixedFee(_Component):
    """A fixed or O&M fee, per month, quarter or year, with optional yearly escalation."""

    kind: Literal["fixed_fee"]
    amount: Amount
    per: Literal["month", "quarter", "year"]
    payer: Literal["institution", "esco"] = "institution"
    escalation: Annotated[Decimal, Field(ge=-1, le=1)] = Decimal(0)


Component = Annotated[
    SharedSavings | GuaranteedSavings | CostCustody | Lease | FixedFee, Field(discriminator="kind")
]


class AmendmentSpec(SpecStrict):
    effective: date
    reason: str = Field(min_length=5)


class ContractFile(SpecStrict):
    format: Literal[1]
    contract: ContractHead
    esco: EscoSpec
    institutions: list[InstitutionSpec] = Field(min_length=1)
    meters: list[MeterSpec] = Field(default_factory=list)
    baseline: BaselineSpec | None = None
    valuation: ValuationSpec | None = None
    components: list[Component] = Field(min_length=1)
    allocation: AllocationSpec | None = None  # multi-institution split; default: measured use
    amendment: AmendmentSpec | None = None

    @field_validator("institutions", "meters", "components")
    @classmethod
    def _unique_codes(cls, items: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for item in items:
            ident = getattr(item, "code", None) or getattr(item, "key", None)
            if ident in seen:
                raise ValueError(f"{ident!r} appears twice")
            seen.add(ident)
        return items

    @model_validator(mode="after")
    def _consistent(self) -> ContractFile:
        """Cross-field rules, checked in the order a reader meets them: meters, type, baseline, components."""
        self._meters_known()
        self._type_has_components()
        self._baseline_present()
        for i, comp in enumerate(self.components):
            self._component_fits(i, comp)
        check_allocation(self)
        return self

    def _meters_known(self) -> None:
        institutions = {i.code for i in self.institutions}
        for i, meter in enumerate(self.meters):
            if meter.institution not in institutions:
                raise KeyProblem(("meters", i, "institution"), f"{meter.institution!r} is not in [[institutions]]")

    def _main_kinds(self) -> set[str]:
        return {str(c.kind) for c in self.components} - {"fixed_fee"}

    def _type_has_components(self) -> None:
        head = self.contract
        if head.type == "hybrid":
            if len(self._main_kinds()) < 2:
                raise KeyProblem(("contract", "type"), "a hybrid contract needs at least two kinds of component")
        elif head.type not in {c.kind for c in self.components}:
            raise KeyProblem(("contract", "type"), f"type {head.type!r} needs a component of kind {head.type!r}")

    def _baseline_present(self) -> None:
        if not self._main_kinds() & {"shared_savings", "guaranteed_savings", "cost_custody"}:
            return
        if self.baseline is None:
            raise KeyProblem(("baseline",), "savings and custody components need a [baseline]")
        if self.baseline.end >= self.contract.start:
            raise KeyProblem(("baseline", "end"),
                             f"{self.baseline.end} must be before the contract start {self.contract.start}")

    def _component_fits(self, i: int, comp: Any) -> None:
        metered = {str(m.utility) for m in self.meters}
        for utility in comp.utilities:
            if self.meters and str(utility) not in metered:
                raise KeyProblem(("components", i, "utilities"), f"no meter of utility {utility!r} in [[meters]]")
        if isinstance(comp, SharedSavings):
            self._shares_cover_term(i, comp)
            self._needs_prices(i, comp)
        if isinstance(comp, GuaranteedSavings):
            self._guarantee_fits(i, comp)
        if (isinstance(comp, CostCustody) and comp.savings_rate_guarantee is not None
                and comp.guarantee_penalty_rate is None):
            raise KeyProblem(("components", i, "guarantee_penalty_rate"), "a savings-rate guarantee needs its penalty")

    def _shares_cover_term(self, i: int, comp: SharedSavings) -> None:
        years = self.contract.contract_years
        if len(comp.esco_share) < years:
            raise KeyProblem(("components", i, "esco_share"),
                             f"{len(comp.esco_share)} shares for a {years}-year term; give one per contract year")

    def _guarantee_fits(self, i: int, comp: GuaranteedSavings) -> None:
        years = self.contract.contract_years
        for j, inst in enumerate(comp.fee_schedule):
            if inst.contract_year > years:
                raise KeyProblem(("components", i, "fee_schedule", j, "contract_year"),
                                 f"year {inst.contract_year} is after the {years}-year term")
        if comp.guaranteed_rate is not None and self.baseline and comp.utilities[0] not in self.baseline.use:
            raise KeyProblem(("baseline", "use"), f"a rate guarantee on {comp.utilities[0]} needs its baseline use")

    def _needs_prices(self, index: int, comp: SharedSavings) -> None:
        if self.valuation is None:
            raise KeyProblem(("valuation",), f"component {comp.key!r} values savings: add [valuation]")
        if self.valuation.policy == "baseline_price":
            for utility in comp.utilities:
                if utility not in self.valuation.prices:
                    raise KeyProblem(("valuation", "prices", str(utility)), f"no price for {utility!r}")

    # -- identity -----------------------------------------------------------------------------
    def canonical(self) -> dict[str, Any]:
        """The terms as plain JSON (decimals as text, keys as written in files): what the database stores
        and hashes, and what ``ContractFile.model_validate`` reads back."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)

    def spec_hash(self) -> str:
        """Identity of the *terms*: the [amendment] note is not a term, so editing only it is no change."""
        terms = {k: v for k, v in self.canonical().items() if k != "amendment"}
        blob = json.dumps(terms, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


class ContractFileError(DomainError, ValueError):
    def __init__(self, problems: list[SpecProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "union_tag_invalid":
        return f"kind {error.get('input', {}).get('kind')!r} is not one of shared_savings, guaranteed_savings, " \
               "cost_custody, lease, fixed_fee"
    if error["type"] == "union_tag_not_found":
        return "component needs kind = 'shared_savings' | 'guaranteed_savings' | 'cost_custody' | 'lease' | 'fixed_fee'"
    return datafiles.spec_message(error)


def parse_contract(text: str, filename: str = "<contract>") -> ContractFile:
    """Parse and validate one contract file; raise :class:`ContractFileError` listing every problem."""
    data = datafiles.parse_toml(text, filename, datafiles.spec_fail(ContractFileError))
    try:
        return ContractFile.model_validate(data)
    except ValidationError as exc:
        raise ContractFileError(datafiles.problems_of(exc, data, filename, _message)) from exc


def load_contract_file(path: Path | str) -> ContractFile:
    return parse_contract(read_spec_text(path, ContractFileError), str(path))
