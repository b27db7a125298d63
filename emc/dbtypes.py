"""Column types that keep money exact and time zone-aware on both SQLite and PostgreSQL.

SQLite has no decimal type and drops UTC offsets, so each type chooses its storage per dialect:
money as integer fen on SQLite and NUMERIC(18,2) on PostgreSQL (figures of another fixed scale
likewise: :class:`FixedPoint`); other exact decimals (prices, ratios) as text on SQLite; instants as
naive UTC on SQLite and TIMESTAMPTZ on PostgreSQL, always returned as aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine

from emc.money import from_fen_int, to_decimal, to_fen_int


class Money(TypeDecorator[Decimal]):
    """CNY amount, exact to the fen."""

    impl = Numeric(18, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, 2, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = to_decimal(value)
        fen_int = to_fen_int(amount)
        return fen_int if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return from_fen_int(int(value))
        return Decimal(value).quantize(Decimal("0.01"))


class FixedPoint(TypeDecorator[Decimal]):
    """A decimal exact to ``scale`` places (booked kWh, m³, kgce, kgCO₂: ``FixedPoint(scale=3)``): integer units
    of 10^-scale on SQLite, NUMERIC(precision, scale) on PostgreSQL — so ``SUM`` stays exact on both. Values
    with finer digits are refused, not rounded silently (like :class:`Money`, which is the same idea at 2)."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 20, scale: int = 3) -> None:
        super().__init__(precision, scale)
        self.precision, self.scale = precision, scale
        self.unit = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = to_decimal(value)
        if number != number.quantize(self.unit, rounding=ROUND_HALF_UP):
            raise ValueError(f"{number} has more than {self.scale} decimals; book figures rounded to {self.unit}")
        return int(number.scaleb(self.scale)) if dialect.name == "sqlite" else number

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale)
        return Decimal(value).quantize(self.unit)


class ExactDecimal(TypeDecorator[Decimal]):
    """A decimal that must not pass through float: unit prices, ratios, factors."""

    impl = Numeric(24, 10)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(24, 10, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = canonical_decimal(to_decimal(value))
        return str(number) if dialect.name == "sqlite" else number

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return canonical_decimal(Decimal(value))


def canonical_decimal(value: Decimal) -> Decimal:
    """The same digits on both databases: no trailing zeros, no exponent (40, not 40.000 or 4E+1)."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant. Naive values are refused: a wall-clock time without a zone is ambiguous.

    PostgreSQL stores TIMESTAMPTZ. SQLite has no date type, so it stores integer microseconds since
    1970-01-01 UTC: exact, compact, ordered, and cheap to write in bulk (meter imports write millions).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"{value!r} is not a datetime")
        if value.tzinfo is None:
            raise ValueError(f"{value!r} has no time zone; store aware datetimes only")
        return to_epoch_us(value) if dialect.name == "sqlite" else value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return from_epoch_us(int(value))
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_epoch_us(value: datetime) -> int:
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_epoch_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def utcnow() -> datetime:
    return datetime.now(UTC)


class plus_days(FunctionElement[datetime]):  # noqa: N801  (used like a SQL function)
    """``instant + days`` in SQL, for an instant column stored by :class:`UTCDateTime` and a whole number of
    days (a column or expression): lets a query filter on deadlines ("issued more than N days ago") in the
    database instead of loading every row."""

    type = UTCDateTime()
    inherit_cache = True
    name = "plus_days"


@compiles(plus_days, "sqlite")
def _plus_days_sqlite(element: plus_days, compiler: Any, **kw: Any) -> str:
    instant, days = list(element.clauses)
    return f"({compiler.process(instant, **kw)} + ({compiler.process(days, **kw)}) * {86_400 * 1_000_000})"


@compiles(plus_days, "postgresql")
def _plus_days_postgresql(element: plus_days, compiler: Any, **kw: Any) -> str:
    instant, days = list(element.clauses)
    return f"({compiler.process(instant, **kw)} + make_interval(days => {compiler.process(days, **kw)}))"


class epoch_us(FunctionElement[int]):  # noqa: N801  (used like a SQL function)
    """An instant column stored by :class:`UTCDateTime` as integer microseconds since 1970-01-01 UTC, read
    without building a Python datetime per row: bulk reads (a baseline year of readings) go straight into
    numpy (``pd.to_datetime(..., unit="us")``), where the per-row conversion cost more than the query."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_us"


@compiles(epoch_us, "sqlite")
def _epoch_us_sqlite(element: epoch_us, compiler: Any, **kw: Any) -> str:
    return compiler.process(list(element.clauses)[0], **kw)  # stored as microseconds already


@compiles(epoch_us, "postgresql")
def _epoch_us_postgresql(element: epoch_us, compiler: Any, **kw: Any) -> str:
    return f"(extract(epoch FROM {compiler.process(list(element.clauses)[0], **kw)}) * 1000000)::bigint"
