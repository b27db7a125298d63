"""The one reader kit for the product's TOML data files (contracts, tariffs, carbon data): pure.

Text is read as UTF-8 and TOML numbers as exact decimals (TOML floats never pass through binary floating
point); hostile nesting is refused as invalid TOML instead of exhausting the parser's recursion (a 500).
A pydantic ``ValidationError`` becomes problems that name the file, the key path as the user wrote it
(``components[1] (share).esco_share[0]``) and the value found, so a clerk can fix the file without reading
code. Each domain keeps its own problem and error classes: the kit reports through a ``fail`` callable
``(file, message, line) -> Exception``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

M = TypeVar("M", bound=BaseModel)
Fail = Callable[[str, str, int | None], Exception]


class Strict(BaseModel):
    """A data-file entry: unknown keys are errors (a misspelt key must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SpecStrict(Strict):
    """A contract or tariff entry: enums kept as their string values, as the stored specs carry them."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=True)


def loads(text: str) -> dict[str, Any]:
    """TOML with numbers as exact decimals."""
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except RecursionError as exc:
        raise tomllib.TOMLDecodeError("arrays or tables nested more deeply than any data file needs") from exc


def parse_toml(text: str, filename: str, fail: Fail) -> dict[str, Any]:
    """The parsed table, or ``fail`` with the parser's message and line."""
    try:
        return loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise fail(filename, f"not valid TOML: {getattr(exc, 'msg', exc)}", getattr(exc, "lineno", None)) from exc


def read_text(path: Path | str, fail: Fail) -> str:
    """A data file's text, or ``fail`` naming the file when it is missing or not UTF-8."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise fail(str(path), "no such file", None) from exc
    except UnicodeDecodeError as exc:
        raise fail(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})", None) from exc


def key_path(loc: Iterable[Any], data: Any, idents: tuple[str, ...] = ("key", "code")) -> str:
    """('components', 1, 'shared_savings', 'esco_share', 0) → components[1] (share).esco_share[0]: list items
    are labelled with their first ``idents`` value; pydantic's discriminator tag is left out."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            listed = isinstance(node, list) and item < len(node)
            label = f"[{item}]"
            ident = next((node[item].get(k) for k in idents if node[item].get(k)), None) \
                if listed and isinstance(node[item], dict) else None
            parts.append(f"{label} ({ident})" if ident else label)
            node = node[item] if listed else None
            continue
        if isinstance(node, dict) and "kind" in node and item == node.get("kind"):
            continue  # pydantic's discriminator tag, not a key the user wrote
        parts.append(("." if parts else "") + str(item))
        node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts)


def describe(error: dict[str, Any], *, unknown: str, missing: str, quote_known: bool = False) -> str:
    """One pydantic error as a sentence with the value found (``quote_known``: not when the message shows it)."""
    msg = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return unknown
    if error["type"] == "missing":
        return missing
    value = error.get("input")
    if value is not None and not isinstance(value, dict | list):
        shown = str(value) if isinstance(value, Decimal) else repr(value)
        return msg if quote_known and shown in msg else f"{msg} (got {shown})"
    return msg


def validate(model: type[M], item: Any) -> tuple[M | None, list[tuple[str, dict[str, Any]]]]:
    """``model`` validated from ``item``, or None and every (field path, error) found."""
    try:
        return model.model_validate(item), []
    except ValidationError as exc:
        return None, [(".".join(str(p) for p in err["loc"]), dict(err)) for err in exc.errors()]


# -- the value types contract and tariff files share: exact amounts to the fen, prices, fractions, codes ----
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


# -- problems of contract and tariff files: file, key path, message (and line when the parser knows it) ----
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


def spec_message(error: dict[str, Any]) -> str:
    return describe(error, unknown="unknown key (misspelt? see contracts/README.md)", missing="required key is missing")


def problems_of(exc: ValidationError, data: Any, filename: str,
                message: Callable[[dict[str, Any]], str] = spec_message) -> list[SpecProblem]:
    """A pydantic error as problems that name the file, the key path as the user wrote it, and the value."""
    problems = []
    for err in exc.errors():
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, KeyProblem):
            problems.append(SpecProblem(filename, key_path(ctx_error.loc, data), ctx_error.message))
        else:
            problems.append(SpecProblem(filename, key_path(err["loc"], data), message(dict(err))))
    return problems


def spec_fail(error: Callable[[list[SpecProblem]], Exception]) -> Fail:
    """The kit's ``fail`` for a domain whose error carries a list of problems."""
    return lambda file, message, line: error([SpecProblem(file, "", message, line)])


def read_spec_text(path: Path | str, error: Callable[[list[SpecProblem]], Exception]) -> str:
    """A contract or tariff file's text, or ``error`` naming the file when it is missing or not UTF-8."""
    return read_text(path, spec_fail(error))
