"""Amounts as finance offices write them: 大写金额 (Chinese uppercase money) and ¥12,345.67.

The uppercase rules are those of 中国人民银行《支付结算办法》附件一「正确填写票据和结算凭证的基本规定」:

- 到"元"为止的金额在"元"后写"整"(或"正"); 有"角"无"分"的, 角后也写"整" (the rule allows either,
  we always write it so nothing can be appended); 有"分"的, 分后不写"整".
- 数字中间有一个或连续几个"0"时, 只写一个"零" (¥1,409.50 → 壹仟肆佰零玖元伍角整;
  ¥6,007.14 → 陆仟零柒元壹角肆分).
- 万位或元位是"0" (或其前连续几个"0") 而千位、角位不是"0"时, 可写一个"零"也可不写; we always take the
  shorter form: ¥107,000.53 → 壹拾万柒仟元伍角叁分, ¥1,680.32 → 壹仟陆佰捌拾元叁角贰分,
  ¥100,005,000 → 壹亿伍仟元整.
- 角位是"0"而分位不是"0"时, "元"后必须写"零": ¥16,409.02 → 壹万陆仟肆佰零玖元零贰分.
- A leading 拾 is written 壹拾 (¥10 → 壹拾元整), as the rule's own examples do: a bare 拾 can be altered.
- Amounts under one yuan start at the first non-zero place (¥0.01 → 壹分); zero is 零元整.
- Negative amounts (credit notes, refunds) take the prefix 负.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from emc.money import FEN, MoneyError, fen, to_decimal

DIGITS = "零壹贰叁肆伍陆柒捌玖"
_PLACES = ("", "拾", "佰", "仟")
_WAN = 10**4
_YI = 10**8
# 1 万亿 (10^12) and beyond would need 万亿 / 兆 naming that finance forms never use; refuse rather than guess.
LIMIT = Decimal(10**12)


def _exact_fen(value: Any) -> Decimal:
    amount = to_decimal(value)  # refuses floats, NaN and infinities
    if abs(amount) >= LIMIT:
        raise MoneyError(f"{amount} is beyond 1 万亿 yuan; no statement carries such an amount")
    if amount != amount.quantize(FEN):
        raise MoneyError(f"{value} has fractions of a fen; round with emc.money.fen() first")
    return amount.quantize(FEN)


def _below_wan(n: int) -> str:
    """0 < n < 10^4, without leading 零; one 零 for any run of inner zeros, none for trailing zeros."""
    out: list[str] = []
    pending_zero = False
    for place in range(3, -1, -1):
        digit = n // 10**place % 10
        if digit == 0:
            pending_zero = bool(out)
            continue
        if pending_zero:
            out.append("零")
            pending_zero = False
        out.append(DIGITS[digit] + _PLACES[place])
    return "".join(out)


def _integer(n: int) -> str:
    """0 < n < 10^12 in words, grouped by 亿 and 万. A 零 stands for the zeros between a group and the rest,
    except where the rule makes it optional: the zeros end at the 万位 and the 千位 is not zero
    (107,000 → 壹拾万柒仟; 100,005,000 → 壹亿伍仟; but 1,000,500 → 壹佰万零伍佰)."""
    if n >= _YI:
        high, low = divmod(n, _YI)
        if low == 0:
            return _integer(high) + "亿"
        optional = low < _WAN and low >= _WAN // 10  # zeros run down to the 万位, then a 千
        return _integer(high) + "亿" + ("零" if low < _YI // 10 and not optional else "") + _integer(low)
    if n >= _WAN:
        high, low = divmod(n, _WAN)
        return _below_wan(high) + "万" + ("" if low == 0 else ("零" if low < _WAN // 10 else "") + _below_wan(low))
    return _below_wan(n)


def chinese_uppercase(value: Any, *, whole: str = "整") -> str:
    """大写金额 of a CNY amount in whole fen: Decimal("12345.67") → 壹万贰仟叁佰肆拾伍元陆角柒分.

    `whole` is 整 (default) or 正; both are allowed by the rule. Floats and sub-fen amounts are refused.
    """
    if whole not in ("整", "正"):
        raise ValueError(f"whole must be 整 or 正, not {whole!r}")
    amount = _exact_fen(value)
    if amount == 0:
        return "零元" + whole
    sign = "负" if amount < 0 else ""
    total_fen = int(abs(amount).scaleb(2))
    yuan, cents = divmod(total_fen, 100)
    jiao, fen = divmod(cents, 10)

    text = _integer(yuan) + "元" if yuan else ""
    if jiao:
        text += DIGITS[jiao] + "角"
    elif fen and yuan:
        text += "零"  # 角位是0而分位不是0: 元后写零
    if fen:
        text += DIGITS[fen] + "分"
    else:
        text += whole
    return sign + text


def format_yuan(value: Any, *, symbol: str = "¥") -> str:
    """¥12,345.67 (thousands separators, two decimals); negative amounts as -¥12,345.67.

    Rounds half-up to the fen like emc.money.format_cny; floats are refused.
    """
    amount = fen(value)
    return ("-" if amount < 0 else "") + symbol + f"{abs(amount):,.2f}"
