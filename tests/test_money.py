"""Money is exact: Decimal in, half-up to the fen, stored without loss on SQLite and PostgreSQL."""

from decimal import Decimal

import pytest
from sqlalchemy import Column, MetaData, Table, func, insert, select
from sqlalchemy import Integer as SAInteger

from emc.dbtypes import Money
from emc.money import MoneyError, fen, format_cny, to_decimal, to_fen_int


def test_floats_are_refused() -> None:
    with pytest.raises(MoneyError, match="not floats"):
        to_decimal(0.1)


@pytest.mark.parametrize(("raw", "rounded"), [
    ("2.675", "2.68"), ("0.005", "0.01"), ("0.004", "0.00"), ("-2.675", "-2.68"), ("1,234.565", "1234.57"),
    (10, "10.00"), ("999999999.995", "1000000000.00"),
])
def test_fen_rounds_half_up(raw: object, rounded: str) -> None:
    assert fen(raw) == Decimal(rounded)


def test_fractions_of_a_fen_are_not_stored_silently() -> None:
    with pytest.raises(MoneyError, match="fractions of a fen"):
        to_fen_int(Decimal("1.005"))


def test_garbage_is_named() -> None:
    with pytest.raises(MoneyError, match="'12,3x'"):
        to_decimal("12,3x")


def test_format() -> None:
    assert format_cny(Decimal("1234567.8")) == "1,234,567.80"


def test_money_column_is_exact_on_both_databases(engine) -> None:  # type: ignore[no-untyped-def]
    meta = MetaData()
    table = Table("money_probe", meta, Column("id", SAInteger, primary_key=True), Column("amount", Money()))
    meta.create_all(engine)
    amounts = [Decimal("0.01")] * 10 + [Decimal("12345678901.23"), Decimal("-0.07")]
    with engine.begin() as conn:
        conn.execute(insert(table), [{"amount": a} for a in amounts])
        back = [r.amount for r in conn.execute(select(table.c.amount).order_by(table.c.id))]
        total = conn.execute(select(func.sum(table.c.amount, type_=Money()))).scalar_one()
    assert back == amounts
    assert all(isinstance(a, Decimal) for a in back)
    assert total == Decimal("12345678901.26")


def test_money_column_refuses_unrounded_amounts(engine) -> None:  # type: ignore[no-untyped-def]
    meta = MetaData()
    table = Table("money_probe2", meta, Column("id", SAInteger, primary_key=True), Column("amount", Money()))
    meta.create_all(engine)
    with pytest.raises(Exception, match="fractions of a fen"), engine.begin() as conn:
        conn.execute(insert(table), [{"amount": Decimal("1.001")}])
