"""TOML as every data file (contracts, tariffs, carbon data) reads it: numbers as exact decimals, and
hostile nesting refused as invalid TOML instead of exhausting the parser's recursion (a 500)."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from typing import Any


def loads(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except RecursionError as exc:
        raise tomllib.TOMLDecodeError("arrays or tables nested more deeply than any data file needs") from exc
