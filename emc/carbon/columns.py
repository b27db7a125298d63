"""A column type for booked physical figures (kWh, m³, kgce, kgCO₂) exact to 0.001 on both databases.

Like :class:`emc.dbtypes.Money` one level finer: integer thousandths on SQLite (which has no decimal type), and
NUMERIC(20, 3) on PostgreSQL. ``SUM`` keeps the type, so aggregates come back as exact ``Decimal`` too — which
is why ledger roll-ups can be done by the database. (A candidate for emc/dbtypes.py.)
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import BigInteger, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from emc.money import to_decimal

MILLI = Decimal("0.001")


class Milli(TypeDecorator[Decimal]):
    """A quantity exact to 0.001 of its unit; values with finer digits are refused, not rounded silently."""

    impl = Numeric(20, 3)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(20, 3, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = to_decimal(value)
        if number != number.quantize(MILLI, rounding=ROUND_HALF_UP):
            raise ValueError(f"{number} has more than 3 decimals; book figures rounded to 0.001")
        return int(number.scaleb(3)) if dialect.name == "sqlite" else number

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-3)
        return Decimal(value).quantize(MILLI)
