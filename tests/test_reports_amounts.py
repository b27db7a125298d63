"""大写金额 and ¥ formatting: hand-written cases from the PBOC filling rules, then 20,000 seeded amounts checked
against an independent implementation (raw digit+unit string collapsed by rewriting rules) and a parser."""

import random
import re
from decimal import Decimal

import pytest

from emc.money import MoneyError
from emc.reports.amounts import chinese_uppercase, format_yuan

CASES = [
    ("12345.67", "壹万贰仟叁佰肆拾伍元陆角柒分"),
    ("100", "壹佰元整"),
    ("10", "壹拾元整"),
    ("0.01", "壹分"),
    ("100000.00", "壹拾万元整"),
    ("1000000000.05", "壹拾亿元零伍分"),
    ("1005", "壹仟零伍元整"),
    ("0", "零元整"),
    ("0.00", "零元整"),
    ("-12345.67", "负壹万贰仟叁佰肆拾伍元陆角柒分"),
    ("-0.50", "负伍角整"),
    # the examples of 正确填写票据和结算凭证的基本规定
    ("1409.50", "壹仟肆佰零玖元伍角整"),
    ("6007.14", "陆仟零柒元壹角肆分"),
    ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
    ("107000.53", "壹拾万柒仟元伍角叁分"),
    ("16409.02", "壹万陆仟肆佰零玖元零贰分"),
    ("325.04", "叁佰贰拾伍元零肆分"),
    # 角 without 分 takes 整; 分 never does; amounts under one yuan
    ("12.30", "壹拾贰元叁角整"),
    ("0.50", "伍角整"),
    ("0.05", "伍分"),
    ("0.15", "壹角伍分"),
    ("1.01", "壹元零壹分"),
    ("1", "壹元整"),
    # 拾 is always preceded by a digit; inner zero runs give one 零
    ("11", "壹拾壹元整"),
    ("110", "壹佰壹拾元整"),
    ("10010", "壹万零壹拾元整"),
    ("100100", "壹拾万零壹佰元整"),
    ("1000500", "壹佰万零伍佰元整"),
    ("1050000", "壹佰零伍万元整"),
    ("10000", "壹万元整"),
    ("20000.20", "贰万元贰角整"),
    ("100000000", "壹亿元整"),
    ("100010000", "壹亿零壹万元整"),
    ("105000000", "壹亿零伍佰万元整"),
    ("100005000", "壹亿伍仟元整"),
    ("100000500", "壹亿零伍佰元整"),
    ("100050000", "壹亿零伍万元整"),
    ("10000.32", "壹万元叁角贰分"),
    ("100000.05", "壹拾万元零伍分"),
    ("150000000", "壹亿伍仟万元整"),
    ("1000000500", "壹拾亿零伍佰元整"),
    ("99999999999.99", "玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
    ("800000000000", "捌仟亿元整"),
    ("2", "贰元整"),
    (12, "壹拾贰元整"),
    ("1,234.00", "壹仟贰佰叁拾肆元整"),
]


@pytest.mark.parametrize(("amount", "expected"), CASES)
def test_hand_written_cases(amount: object, expected: str) -> None:
    assert chinese_uppercase(amount) == expected  # str, int or Decimal
    if isinstance(amount, str) and "," not in amount:
        assert chinese_uppercase(Decimal(amount)) == expected


def test_zheng_or_zheng() -> None:
    assert chinese_uppercase(Decimal("100"), whole="正") == "壹佰元正"
    assert chinese_uppercase(Decimal("0.10"), whole="正") == "壹角正"
    with pytest.raises(ValueError):
        chinese_uppercase(Decimal("1"), whole="")


@pytest.mark.parametrize("bad", [0.1, 12.0, Decimal("1.005"), "1.001", Decimal("NaN"), Decimal("Infinity"), "abc",
                                 True, Decimal("1000000000000"), Decimal("-1000000000000.00"),
                                 Decimal("1E+40"), "1e400"])
def test_refuses(bad: object) -> None:
    with pytest.raises(MoneyError):
        chinese_uppercase(bad)


def test_format_yuan() -> None:
    assert format_yuan(Decimal("12345.67")) == "¥12,345.67"
    assert format_yuan(Decimal("0")) == "¥0.00"
    assert format_yuan(Decimal("1000000000.05")) == "¥1,000,000,000.05"
    assert format_yuan(Decimal("-1234.5")) == "-¥1,234.50"
    assert format_yuan(Decimal("2.345")) == "¥2.35"  # half-up, like emc.money.fen
    assert format_yuan(Decimal("-0.001")) == "¥0.00"
    assert format_yuan("7") == "¥7.00"
    with pytest.raises(MoneyError):
        format_yuan(1.5)


# ---------------------------------------------------------------------------------------------------------------
# An independent implementation, written the other classic way: spell every place as digit+unit from the text of
# the number, then collapse zeros with rewriting rules. It shares no code and no loop shape with emc.reports.


_DIG = dict(zip("0123456789", "零壹贰叁肆伍陆柒捌玖", strict=True))
_UNITS = ["元", "拾", "佰", "仟", "万", "拾", "佰", "仟", "亿", "拾", "佰", "仟"]  # from the ones place up


def reference_uppercase(text: str) -> str:
    negative = text.startswith("-")
    text = text.lstrip("-")
    whole, _, frac = text.partition(".")
    frac = (frac + "00")[:2]
    whole = whole.lstrip("0")
    raw = "".join(_DIG[d] + _UNITS[len(whole) - 1 - i] for i, d in enumerate(whole))
    for pattern, repl in [("零[拾佰仟]", "零"), ("零+", "零"), ("零亿", "亿"), ("零万", "万"), ("亿万", "亿"),
                          ("零元", "元")]:
        raw = re.sub(pattern, repl, raw)
    jiao, fen = frac
    if jiao == "0" and fen == "0":
        tail = "整" if raw else ""
    elif fen == "0":
        tail = _DIG[jiao] + "角整"
    elif jiao == "0":
        tail = ("零" if raw else "") + _DIG[fen] + "分"
    else:
        tail = _DIG[jiao] + "角" + _DIG[fen] + "分"
    out = raw + tail
    if not out:
        return "零元整"
    return ("负" if negative else "") + out


_VALUE = {c: i for i, c in enumerate("零壹贰叁肆伍陆柒捌玖")}


def parse_uppercase(text: str) -> Decimal:
    """Read 大写 back to a number (a third, value-level check: the words mean the amount)."""
    sign = -1 if text.startswith("负") else 1
    text = text.removeprefix("负").removesuffix("整")
    total = section = digit = 0
    cents = 0
    for ch in text:
        if ch in _VALUE:
            digit = _VALUE[ch]
        elif ch in "拾佰仟":
            section += digit * {"拾": 10, "佰": 100, "仟": 1000}[ch]
            digit = 0
        elif ch == "万":
            total += (section + digit) * 10**4
            section = digit = 0
        elif ch == "亿":
            total = (total + section + digit) * 10**8
            section = digit = 0
        elif ch == "元":
            total += section + digit
            section = digit = 0
        elif ch == "角":
            cents += digit * 10
            digit = 0
        elif ch == "分":
            cents += digit
            digit = 0
        else:
            raise AssertionError(f"unexpected {ch!r} in {text}")
    return sign * (Decimal(total) + Decimal(cents) / 100)


def _amounts(count: int) -> list[Decimal]:
    rng = random.Random(20240601)
    out: list[Decimal] = []
    for i in range(count):
        kind = i % 6
        if kind == 0:  # uniform over the fen
            fen = rng.randint(1, 9_999_999_999_999)
        elif kind == 1:  # log-uniform magnitude, so small and large amounts both appear
            fen = int(10 ** rng.uniform(0, 13))
        elif kind == 2:  # sparse digits: zeros in every pattern (10, 100,000.00, 1,000,000,000.05, x0.0y)
            digits = [rng.choice("0000000123456789") for _ in range(rng.randint(1, 13))]
            fen = int("".join(digits))
        elif kind == 3:  # one or two non-zero digits at random places
            fen = rng.randint(1, 9) * 10 ** rng.randint(0, 12) + rng.randint(0, 9) * 10 ** rng.randint(0, 12)
        elif kind == 4:  # whole yuan or whole jiao
            fen = rng.randint(1, 99_999_999_999) * rng.choice([100, 10])
        else:  # x0.0y
            fen = rng.randint(0, 99_999_999) * 1000 + rng.randint(1, 9)
        fen = max(1, min(fen, 9_999_999_999_999))
        out.append((Decimal(fen) / 100).quantize(Decimal("0.01")))
    return out


def test_random_amounts_match_independent_implementation() -> None:
    amounts = _amounts(20_000)
    amounts += [Decimal(s) for s in ("10", "100000.00", "1000000000.05", "0.01", "10.01", "1000.05", "99999999999.99")]
    for amount in amounts:
        got = chinese_uppercase(amount)
        assert got == reference_uppercase(str(amount)), amount
        assert parse_uppercase(got) == amount, (amount, got)
        assert chinese_uppercase(-amount) == "负" + got
    # the generator really produced the edge patterns
    texts = {str(a) for a in amounts}
    assert any(t.endswith(".00") for t in texts) and any(re.search(r"0\.0[1-9]$", t) for t in texts)
    assert any(a >= Decimal("100000000") for a in amounts) and any(a < 1 for a in amounts)
