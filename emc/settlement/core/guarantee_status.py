"""A contract's guarantee status, from the guarantee's own measurement only (pure).

The guarantee is measured once per contract year by the year-end settlement (GB/T 24915-2020 App. B/C:
保证 per 合同年度): a savings-rate guarantee (cost custody, ``savings_rate_guarantee``) records the achieved
savings rate against the adjusted baseline; a guaranteed-savings component records verified against
guaranteed quantity; a missed guarantee carries its shortfall or penalty lines. Nothing else decides the
status: a fee-reconciliation rounding line (a few fen the ESCO returns) is money, not a measurement.

States: ``none`` (the contract guarantees nothing), ``not_measured`` (it does, but no contract year has been
measured yet — unknown is never "met"), ``met``, ``missed`` (any measured year fell short: its shortfall or
penalty was settled), ``at_risk`` (met so far, but data under approved money were corrected since).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

SHORTFALL_CODES = frozenset({"shortfall", "shortfall_netted", "guarantee_penalty"})


@dataclass(frozen=True)
class Measurement:
    """One guarantee's result in one contract year: achieved against guaranteed (a rate or a quantity)."""

    contract_year: int
    component: str
    achieved: Decimal
    guaranteed: Decimal
    kind: str  # rate | quantity

    @property
    def met(self) -> bool:
        return self.achieved >= self.guaranteed


@dataclass(frozen=True)
class GuaranteeStatus:
    state: str  # none | not_measured | met | missed | at_risk
    latest: Measurement | None = None


def guaranteed_components(spec: Mapping[str, Any]) -> dict[str, Decimal | None]:
    """Component key → guaranteed savings rate (None for a quantity guarantee) of a stored contract spec."""
    found: dict[str, Decimal | None] = {}
    for comp in spec.get("components", []):
        if comp.get("savings_rate_guarantee") is not None:
            found[comp["key"]] = Decimal(str(comp["savings_rate_guarantee"]))
        elif comp.get("kind") == "guaranteed_savings":
            found[comp["key"]] = None
    return found


def measurements(contract_year: int, inputs: Mapping[str, Any],
                 guarantees: Mapping[str, Decimal | None]) -> list[Measurement]:
    """What a year-end settlement's inputs say each guarantee achieved."""
    out = []
    for key, rate in guarantees.items():
        if rate is not None and f"{key}.achieved_rate" in inputs:
            out.append(Measurement(contract_year, key, Decimal(str(inputs[f"{key}.achieved_rate"])), rate, "rate"))
        elif f"{key}.guaranteed" in inputs and f"{key}.verified" in inputs:
            out.append(Measurement(contract_year, key, Decimal(str(inputs[f"{key}.verified"])),
                                   Decimal(str(inputs[f"{key}.guaranteed"])), "quantity"))
    return out


def status(guarantees: Mapping[str, Decimal | None], measured: Iterable[Measurement], shortfall_lines: int,
           corrected: bool) -> GuaranteeStatus:
    """The contract's status from its measured years (see module docstring)."""
    if not guarantees:
        return GuaranteeStatus("none")
    measured = sorted(measured, key=lambda m: (m.contract_year, m.component))
    if not measured:
        return GuaranteeStatus("not_measured")
    latest = next((m for m in reversed(measured) if not m.met), measured[-1]) if shortfall_lines or any(
        not m.met for m in measured) else measured[-1]
    if shortfall_lines or not latest.met:
        return GuaranteeStatus("missed", latest)
    return GuaranteeStatus("at_risk" if corrected else "met", latest)
