"""UI strings in Chinese (default) and English: flat TOML catalogs keyed by message id.

The catalogs (``emc/web/locales/{zh,en}.toml``) serve every edge that shows words to a person: pages, the PDF
statement and report, spreadsheets. This module sits in the kernel so that the report layout and the reports
assembled below the web can translate an engine's message (a code and its parameters) too."""

from __future__ import annotations

import tomllib
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale

LANGUAGES = {"zh": "中文", "en": "English"}
BABEL_LOCALES = {"zh": "zh_CN", "en": "en_US"}
_DIR = Path(__file__).resolve().parent.parent / "web" / "locales"


@lru_cache
def _symbols(lang: str) -> tuple[str, str]:
    """The locale's group and decimal symbols (CLDR, through Babel), read once."""
    locale = Locale.parse(BABEL_LOCALES.get(lang, "zh_CN"))
    return locale.number_symbols["latn"]["group"], locale.number_symbols["latn"]["decimal"]


def grouped(value: Decimal, digits: int, lang: str) -> str:
    """``value`` rounded to ``digits`` (half up) with the language's group and decimal symbols, never "-0":
    what Babel's ``format_decimal(…, "#,##0.00")`` gives for these locales (both group by threes), at a
    fraction of the cost — Babel parses the locale and the pattern on every call, and a chart's tooltips or
    a long list format tens of thousands of numbers a page (tests/test_i18n.py checks the two agree)."""
    q = value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    if q == 0:
        q = abs(q)
    text = format(q, f",.{digits}f")
    group, decimal = _symbols(lang)
    if (group, decimal) != (",", "."):
        text = text.replace(",", "\0").replace(".", decimal).replace("\0", group)
    return text


@lru_cache
def catalog(lang: str) -> dict[str, str]:
    return tomllib.loads((_DIR / f"{lang}.toml").read_text(encoding="utf-8"))


class Translator:
    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else "zh"
        self._messages = catalog(self.lang)

    def __call__(self, key: str, **values: Any) -> str:
        text = self._messages.get(key)
        if text is None:
            text = catalog("zh").get(key, key)  # a missing translation shows Chinese, then the key
        return text.format(**values) if values else text

    def label(self, key: str, fallback: str) -> str:
        """A translated label if the catalog has one, else ``fallback`` (e.g. a raw term key)."""
        return self._messages.get(key) or catalog("zh").get(key) or fallback

    def message(self, key: str, fallback: str, **params: Any) -> str:
        """An engine message (a code and its parameters) in this language, or ``fallback`` — the engine's English,
        kept for the API and logs — when the catalog has no such message or its parameters do not fit."""
        text = self._messages.get(key) or catalog("zh").get(key)
        if text is None:
            return fallback
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return fallback

    def number(self, value: Any, digits: int = 0) -> str:
        if value is None or (isinstance(value, float) and value != value):
            return "—"
        d = Decimal(str(value))
        if not d.is_finite():
            return "—"
        return grouped(d, digits, self.lang)

    def money(self, value: Any) -> str:
        return self.number(value, 2)
