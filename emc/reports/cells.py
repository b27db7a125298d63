"""Spreadsheet cells that cannot run: a leading =, +, -, @ (or tab/CR) makes Excel evaluate a cell (CSV
injection, OWASP); such text is prefixed with a quote. Numbers stay numbers."""

from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
