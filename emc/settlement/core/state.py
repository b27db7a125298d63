"""What one period's settlement hands to the next, as plain data (the core keeps no hidden state).

Per component key: the deficit carried forward (shared savings with ``carry_forward``), and counters for the
current contract year (ESCO receipts for a cap, verified savings and units already paid for a guarantee).
Counters reset when a period of a new contract year is settled; deficits do not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from emc.contracts.spec import ContractFile
from emc.tariffs.book import TariffBook

from .inputs import CustodyChange
from .lines import ZERO, Line, SettlementWarning
from .periods import ContractYear, Period


@dataclass(frozen=True)
class ComponentState:
    year: int = 0
    paid_in_year: Decimal = ZERO  # CNY the ESCO received from this component in ``year``
    verified_in_year: Decimal = ZERO  # verified savings so far in ``year`` (guarantees)
    paid_qty_in_year: Decimal = ZERO  # units paid for so far in ``year`` (guarantees with savings_price)
    deficit: Mapping[str, Decimal] = field(default_factory=dict)  # value carried forward, CNY, per basis key

    def for_year(self, year: int) -> ComponentState:
        if year == self.year:
            return self
        return ComponentState(year=year, deficit=dict(self.deficit))

    def to_dict(self) -> dict[str, Any]:
        return {"year": self.year, "paid_in_year": str(self.paid_in_year),
                "verified_in_year": str(self.verified_in_year), "paid_qty_in_year": str(self.paid_qty_in_year),
                "deficit": {k: str(v) for k, v in self.deficit.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ComponentState:
        return cls(year=int(data["year"]), paid_in_year=Decimal(data["paid_in_year"]),
                   verified_in_year=Decimal(data["verified_in_year"]),
                   paid_qty_in_year=Decimal(data["paid_qty_in_year"]),
                   deficit={k: Decimal(v) for k, v in data.get("deficit", {}).items()})


@dataclass(frozen=True)
class SettlementState:
    components: Mapping[str, ComponentState] = field(default_factory=dict)

    def get(self, key: str) -> ComponentState:
        return self.components.get(key, ComponentState())

    def with_component(self, key: str, state: ComponentState) -> SettlementState:
        return replace(self, components={**self.components, key: state})

    def to_dict(self) -> dict[str, Any]:
        return {k: v.to_dict() for k, v in sorted(self.components.items())}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SettlementState:
        return cls({k: ComponentState.from_dict(v) for k, v in data.items()})


@dataclass(frozen=True)
class Context:
    """The terms and calendar a component settles one period (or part of one) under."""

    terms: ContractFile
    version: str
    period: Period | ContractYear
    year: ContractYear
    periods_per_year: int
    tariffs: TariffBook | None = None
    changes: tuple[CustodyChange, ...] = ()
    bills_paid_by: str = "esco"

    @property
    def tz(self) -> str:
        return self.terms.institutions[0].timezone

    @property
    def start(self) -> date:
        return self.period.start


@dataclass
class Outcome:
    lines: list[Line] = field(default_factory=list)
    warnings: list[SettlementWarning] = field(default_factory=list)
    state: ComponentState | None = None
    esco_costs: Decimal = ZERO  # bills the ESCO paid directly, outside the statement
    inputs: dict[str, str] = field(default_factory=dict)
