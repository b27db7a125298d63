"""Settlement line items: what is paid, by whom to whom, and the formula that a reader can redo by hand.

The one rounding point for money (docs/design.md convention 2): every line's amount is

    amount = fen(quantity × unit_price × rate × prorate)          (half-up to 0.01 CNY, emc.money.fen)

computed exactly (Decimal at 50 digits; ``prorate`` is an exact fraction such as 1/12 or 15/31), and rounded
once. Statement totals are sums of line amounts, so they equal the sum of the lines to the fen. Quantities are
quantised to 0.001 of their unit (:data:`QTY`) and derived unit prices (escalated contract prices, average bill
costs) to 0.0001 CNY (:data:`PRICE`) *before* they enter a line, so the figures printed are the figures used.

Sign convention: ``amount`` is money moving from ``payer`` to ``payee``. A negative amount is a deduction
within that direction (a cap cut, a fee reduction, an adjustment that refunds), never a silent flip.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from typing import Any

from emc.money import fen

QTY = Decimal("0.001")
PRICE = Decimal("0.0001")
ONE = Decimal(1)
ZERO = Decimal(0)

INSTITUTION = "institution"
ESCO = "esco"
LESSOR = "lessor"
PARTY_ZH = {INSTITUTION: "用能单位", ESCO: "节能服务公司", LESSOR: "出租人"}

UTILITY_ZH = {"electricity": "电", "water": "水", "gas": "天然气", "heat": "热", "pv": "光伏发电"}
SAVED_ZH = {"electricity": "节约电量", "water": "节约水量", "gas": "节约气量", "heat": "节约热量", "pv": "光伏发电量"}
UNIT_SHOWN = {"m3": "m³", "Nm3": "Nm³"}


def quantity(value: Any) -> Decimal:
    """A physical quantity as Decimal, quantised half-up to 0.001 of its unit.

    Meter and model outputs may be floats: they are converted through ``repr`` (``Decimal(str(x))``), which
    keeps the shortest decimal that round-trips, never the binary expansion."""
    if isinstance(value, bool):
        raise TypeError("a quantity cannot be a bool")
    if isinstance(value, float):
        value = Decimal(repr(value))
    elif isinstance(value, int | str):
        value = Decimal(value)
    elif not isinstance(value, Decimal):
        raise TypeError(f"{value!r} is not a quantity")
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite quantity")
    return value.quantize(QTY, rounding=ROUND_HALF_UP)


def price(value: Decimal) -> Decimal:
    """A derived unit price, half-up to 0.0001 CNY."""
    return value.quantize(PRICE, rounding=ROUND_HALF_UP)


def exact(quantity_: Decimal, unit_price: Decimal, rate: Decimal = ONE, prorate: Fraction = Fraction(1)) -> Decimal:
    """quantity × unit_price × rate × prorate, unrounded (50 significant digits)."""
    with localcontext() as ctx:
        ctx.prec = 50
        return quantity_ * unit_price * rate * prorate.numerator / prorate.denominator


def line_amount(quantity_: Decimal, unit_price: Decimal, rate: Decimal = ONE,
                prorate: Fraction = Fraction(1)) -> Decimal:
    """The line's amount: :func:`exact`, rounded half-up to the fen — the one rounding point. Half-up means
    half away from zero (ROUND_HALF_UP), for deductions too: −1.625 → −1.63."""
    amount = fen(exact(quantity_, unit_price, rate, prorate))
    return amount.copy_abs() if amount == 0 else amount  # no "-0.00" on a statement


@dataclass(frozen=True)
class Line:
    """One line of a settlement statement.

    ``component`` is the contract's component key; ``code`` says what the line is (``custody_fee``,
    ``shared_savings``, ``shortfall`` …); ``subkey`` tells apart lines of one code in one period (utility,
    TOU band, change reference, instalment number), so (component, code, subkey, start, end) identifies the
    line for adjustments. ``formula`` is the rule in Chinese words with the numbers used, ``formula_en``
    its English gloss. ``inputs`` records what the line used (component key, contract version, tariff
    version, savings figures), as text."""

    component: str
    code: str
    start: date
    end: date
    contract_year: int
    quantity: Decimal
    unit: str
    unit_price: Decimal
    price_unit: str
    amount: Decimal
    payer: str
    payee: str
    formula: str
    formula_en: str
    rate: Decimal = ONE
    prorate: Fraction = Fraction(1)
    subkey: str = ""
    utility: str = ""
    contract_version: str = ""
    tariff_version: str | None = None
    references: str | None = None  # for adjustment lines: the settlement they adjust
    inputs: Mapping[str, str] = field(default_factory=dict)

    @property
    def exact(self) -> Decimal:
        return exact(self.quantity, self.unit_price, self.rate, self.prorate)

    @property
    def key(self) -> tuple[str, str, str, date, date]:
        return (self.component, self.code, self.subkey, self.start, self.end)

    def signed(self, payer: str, payee: str) -> Decimal:
        """The amount seen as money from ``payer`` to ``payee`` (negative if it flows the other way)."""
        if (self.payer, self.payee) == (payer, payee):
            return self.amount
        if (self.payer, self.payee) == (payee, payer):
            return -self.amount
        return ZERO

    def to_dict(self) -> dict[str, Any]:
        return {
            "component": self.component, "code": self.code, "subkey": self.subkey, "utility": self.utility,
            "start": self.start.isoformat(), "end": self.end.isoformat(), "contract_year": self.contract_year,
            "quantity": str(self.quantity), "unit": self.unit, "unit_price": str(self.unit_price),
            "price_unit": self.price_unit, "rate": str(self.rate), "prorate": str(self.prorate),
            "amount": str(self.amount), "payer": self.payer, "payee": self.payee,
            "formula": self.formula, "formula_en": self.formula_en,
            "contract_version": self.contract_version, "tariff_version": self.tariff_version,
            "references": self.references, "inputs": dict(self.inputs),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Line:
        return cls(
            component=data["component"], code=data["code"], subkey=data.get("subkey", ""),
            utility=data.get("utility", ""), start=date.fromisoformat(data["start"]),
            end=date.fromisoformat(data["end"]), contract_year=int(data["contract_year"]),
            quantity=Decimal(data["quantity"]), unit=data["unit"], unit_price=Decimal(data["unit_price"]),
            price_unit=data["price_unit"], rate=Decimal(data.get("rate", "1")),
            prorate=Fraction(data.get("prorate", "1")), amount=Decimal(data["amount"]), payer=data["payer"],
            payee=data["payee"], formula=data["formula"], formula_en=data["formula_en"],
            contract_version=data.get("contract_version", ""), tariff_version=data.get("tariff_version"),
            references=data.get("references"), inputs=dict(data.get("inputs", {})),
        )


def make_line(
    *,
    component: str,
    code: str,
    span: Any,
    quantity: Decimal,
    unit: str,
    unit_price: Decimal,
    price_unit: str,
    payer: str,
    payee: str,
    formula: str,
    formula_en: str,
    rate: Decimal = ONE,
    prorate: Fraction = Fraction(1),
    subkey: str = "",
    utility: str = "",
    contract_version: str = "",
    tariff_version: str | None = None,
    references: str | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> Line:
    """Build a line from its factors (``span`` is a Period or ContractYear); the amount is computed here and
    the formula gets ``= amount 元`` appended."""
    amount = line_amount(quantity, unit_price, rate, prorate)
    return Line(
        component=component, code=code, start=span.start, end=span.end, contract_year=span.contract_year,
        quantity=quantity, unit=unit, unit_price=unit_price, price_unit=price_unit, amount=amount,
        payer=payer, payee=payee, formula=f"{formula} = {fmt_money(amount)} 元",
        formula_en=f"{formula_en} = CNY {fmt_money(amount)}", rate=rate, prorate=prorate, subkey=subkey,
        utility=utility, contract_version=contract_version, tariff_version=tariff_version, references=references,
        inputs={k: _text(v) for k, v in (inputs or {}).items()},
    )


def _text(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def totals(lines: Iterable[Line]) -> dict[tuple[str, str], Decimal]:
    """Sum of amounts per (payer, payee): exact sums of fen amounts."""
    result: dict[tuple[str, str], Decimal] = {}
    for line in lines:
        result[(line.payer, line.payee)] = result.get((line.payer, line.payee), ZERO) + line.amount
    return result


def net(lines: Iterable[Line], payer: str = INSTITUTION, payee: str = ESCO) -> Decimal:
    """What ``payer`` owes ``payee`` on balance (negative: ``payee`` owes ``payer``)."""
    return sum((line.signed(payer, payee) for line in lines), ZERO)


def check_lines(lines: Iterable[Line]) -> list[str]:
    """Invariant problems as data: each amount whole fen and equal to its own formula."""
    problems = []
    for line in lines:
        if line.amount != line.amount.quantize(Decimal("0.01")):
            problems.append(f"{line.key}: amount {line.amount} has fractions of a fen")
        if line.amount != fen(line.exact):
            problems.append(f"{line.key}: amount {line.amount} ≠ fen({line.exact})")
    return problems


@dataclass(frozen=True)
class SettlementWarning:
    """A finding the reader should see on the statement (warnings are data, docs/design.md convention 4)."""

    code: str
    message: str
    component: str = ""
    start: date | None = None
    params: Mapping[str, str] = field(default_factory=dict)  # the message's values, for its translations

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "component": self.component,
                "start": self.start.isoformat() if self.start else None, "params": dict(self.params)}


# -- formatting for formulas --------------------------------------------------------------------------------

def fmt_num(value: Decimal) -> str:
    """12,345.5 style: thousands separators, no trailing zeros, never an exponent."""
    text = f"{value:,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt_money(value: Decimal) -> str:
    return f"{value:,.2f}"


def fmt_price(value: Decimal) -> str:
    """Unit prices with at least two decimals (4.60, 0.6832)."""
    text = fmt_num(value)
    decimals = len(text.split(".")[1]) if "." in text else 0
    return f"{value:,.{max(decimals, 2)}f}"


def fmt_pct(value: Decimal) -> str:
    return f"{fmt_num(value * 100)}%"


def fmt_fraction(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def unit_shown(unit: str) -> str:
    return UNIT_SHOWN.get(unit, unit)
