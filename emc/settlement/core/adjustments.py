"""Adjustments: the difference between an approved settlement and its recomputation with corrected data.

An approved settlement is never edited (docs/design.md convention 3, ledgers are append-only): the correction is
settled later as *adjustment lines* that reference the original. Lines are matched by
(component, code, subkey, start, end); for each key the difference is corrected − original, seen in the
original line's direction (payer → payee), so a negative amount refunds the payer. Unchanged lines give no
adjustment. The adjustment lines of a recomputation sum exactly to (corrected net − original net) for every
pair of parties, because both sides are sums of whole-fen amounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from .lines import ONE, ZERO, Line, fmt_money, fmt_num, make_line


def adjustment_lines(original: Sequence[Line], corrected: Sequence[Line], *, reference: str) -> list[Line]:
    """Lines that turn the ``original`` statement into the ``corrected`` one, each referencing ``reference``
    (the original settlement's id)."""
    before = _by_key(original)
    after = _by_key(corrected)
    result: list[Line] = []
    for key in list(before) + [k for k in after if k not in before]:
        old, new = before.get(key), after.get(key)
        model = old or new
        assert model is not None
        payer, payee = model.payer, model.payee
        old_amount = _signed(old, payer, payee)
        new_amount = _signed(new, payer, payee)
        diff = new_amount - old_amount
        if diff == 0:
            continue
        what_zh, what_en = _what(old, new)
        result.append(make_line(
            component=model.component, code="adjustment", span=model, quantity=diff, unit="元", unit_price=ONE,
            price_unit="", payer=payer, payee=payee, subkey=f"{model.code}:{model.subkey}", utility=model.utility,
            contract_version=(new or model).contract_version, tariff_version=(new or model).tariff_version,
            references=reference,
            formula=(f"调整（原结算 {reference}）：{what_zh}；更正后 {fmt_money(new_amount)} 元 − 原 "
                     f"{fmt_money(old_amount)} 元"),
            formula_en=(f"Adjustment to settlement {reference}: {what_en}; corrected CNY {fmt_money(new_amount)} − "
                        f"original CNY {fmt_money(old_amount)}"),
            inputs={"original_code": model.code, "original_subkey": model.subkey,
                    "original_quantity": old.quantity if old else "",
                    "original_unit_price": old.unit_price if old else "",
                    "corrected_quantity": new.quantity if new else "",
                    "corrected_unit_price": new.unit_price if new else "",
                    "original_formula": old.formula if old else "", "corrected_formula": new.formula if new else ""}))
    return result


def _by_key(lines: Sequence[Line]) -> dict[tuple[str, str, str, object, object], Line]:
    result: dict[tuple[str, str, str, object, object], Line] = {}
    for line in lines:
        if line.key in result:
            raise ValueError(f"two lines share the key {line.key}")
        result[line.key] = line
    return result


def _signed(line: Line | None, payer: str, payee: str) -> Decimal:
    if line is None:
        return ZERO
    if (line.payer, line.payee) not in ((payer, payee), (payee, payer)):
        raise ValueError(f"line {line.key} changed parties: {line.payer}→{line.payee} vs {payer}→{payee}")
    return line.signed(payer, payee)


def _what(old: Line | None, new: Line | None) -> tuple[str, str]:
    if old is None:
        assert new is not None
        return f"新增 {new.formula}", f"new line: {new.formula_en}"
    if new is None:
        return f"取消 {old.formula}", f"line withdrawn: {old.formula_en}"
    if old.quantity != new.quantity and old.unit == new.unit:
        return (f"数量 {fmt_num(old.quantity)} → {fmt_num(new.quantity)} {old.unit}",
                f"quantity {fmt_num(old.quantity)} → {fmt_num(new.quantity)} {old.unit}")
    return f"更正为 {new.formula}", f"corrected to: {new.formula_en}"
