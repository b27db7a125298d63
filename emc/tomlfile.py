"""The reader kit of every data file the product reads (contracts, tariffs, carbon data): TOML with numbers as
exact decimals, hostile nesting refused as invalid TOML instead of exhausting the parser's recursion (a 500),
and validation problems that name the file, the key path as the user wrote it, and the value."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError


def loads(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except RecursionError as exc:
        raise tomllib.TOMLDecodeError("arrays or tables nested more deeply than any data file needs") from exc


# -- the value types data files share: exact amounts to the fen, prices, fractions, codes ---------------
MAX_DIGITS = 13  # 10 trillion yuan: far above any contract, far below what NUMERIC(18,2) holds


def _fen(value: Decimal) -> Decimal:
    if value.adjusted() >= MAX_DIGITS:
        raise ValueError(f"{value} is too large for an amount of money")
    if value != value.quantize(Decimal("0.01")):
        raise ValueError(f"{value} has fractions of a fen (at most 2 decimals for money)")
    return value


def _non_negative(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number")
    if value.adjusted() >= 15:
        raise ValueError(f"{value} is too large")
    if value < 0:
        raise ValueError(f"{value} must not be negative")
    return value


def _fraction(value: Decimal) -> Decimal:
    if not Decimal(0) <= value <= Decimal(1):
        raise ValueError(f"{value} must be a fraction between 0 and 1 (write 2 % as 0.02)")
    return value


Amount = Annotated[Decimal, AfterValidator(_non_negative), AfterValidator(_fen)]
Price = Annotated[Decimal, AfterValidator(_non_negative)]
Fraction = Annotated[Decimal, AfterValidator(_fraction)]
Quantity = Annotated[Decimal, AfterValidator(_non_negative)]
Code = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=True)


class KeyProblem(ValueError):
    """A cross-field problem that knows the key it belongs to."""

    def __init__(self, loc: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


@dataclass(frozen=True)
class SpecProblem:
    file: str
    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


def _key_path(loc: tuple[Any, ...], data: Any) -> str:
    """('components', 1, 'shared_savings', 'esco_share', 0) → components[1] (key 'share').esco_share[0]."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                ident = node[item].get("key") or node[item].get("code")
                if ident:
                    label += f" ({ident})"
            parts.append(label)
            node = node[item] if isinstance(node, list) and item < len(node) else None
            continue
        if isinstance(node, dict) and "kind" in node and item == node.get("kind"):
            continue  # pydantic's discriminator tag, not a key the user wrote
        parts.append(("." if parts else "") + str(item))
        node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts)


def _message(error: Mapping[str, Any]) -> str:
    msg = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "unknown key (misspelt? see contracts/README.md)"
    if error["type"] == "missing":
        return "required key is missing"
    if error["type"] == "union_tag_invalid":
        return f"kind {error.get('input', {}).get('kind')!r} is not one of shared_savings, guaranteed_savings, " \
               "cost_custody, lease, fixed_fee"
    if error["type"] == "union_tag_not_found":
        return "component needs kind = 'shared_savings' | 'guaranteed_savings' | 'cost_custody' | 'lease' | 'fixed_fee'"
    value = error.get("input")
    if value is not None and not isinstance(value, dict | list):
        shown = str(value) if isinstance(value, Decimal) else repr(value)
        return f"{msg} (got {shown})"
    return msg


def problems_of(exc: ValidationError, data: Any, filename: str) -> list[SpecProblem]:
    """A pydantic error as problems that name the file, the key path as the user wrote it, and the value
    (shared by every TOML file the product reads: contracts, tariffs)."""
    problems = []
    for err in exc.errors():
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, KeyProblem):
            problems.append(SpecProblem(filename, _key_path(ctx_error.loc, data), ctx_error.message))
        else:
            problems.append(SpecProblem(filename, _key_path(tuple(err["loc"]), data), _message(err)))
    return problems


def read_spec_text(path: Path | str, error: Callable[[list[SpecProblem]], Exception]) -> str:
    """A data file's text (contracts, tariffs), or ``error`` naming the file when it is missing or not UTF-8."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise error([SpecProblem(str(path), "", "no such file")]) from exc
    except UnicodeDecodeError as exc:
        raise error([SpecProblem(str(path), "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from exc
