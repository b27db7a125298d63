"""Reading the carbon domain's TOML data files (factors, targets, quotas, ledger settings): pure.

Every problem names the file, the entry (``factor[3] (co2.electricity.east_china.2023)``), the field and the
value found, so a bureau clerk can fix the file without reading code. Numbers are read as exact decimals
(TOML floats never pass through binary floating point), as in :mod:`emc.contracts.spec`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from emc import tomlfile

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class DataProblem:
    file: str
    entry: str  # "factor[3] (co2.electricity.east_china.2023)", or "" for the file as a whole
    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        parts = [where] + [p for p in (self.entry, self.field) if p]
        return ": ".join(parts) + f": {self.message}"


class CarbonFileError(ValueError):
    """A data file that cannot be loaded; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[DataProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def parse_toml(text: str, filename: str) -> dict[str, Any]:
    try:
        return tomlfile.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise CarbonFileError([DataProblem(filename, "", "", f"not valid TOML: {getattr(exc, 'msg', exc)}", line)]) \
            from exc


def read_toml(path: Path | str) -> tuple[dict[str, Any], str]:
    """The parsed file and its name as shown in problems."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CarbonFileError([DataProblem(str(path), "", "", "no such file")]) from exc
    except UnicodeDecodeError as exc:
        raise CarbonFileError([DataProblem(str(path), "", "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) \
            from exc
    return parse_toml(text, str(path)), str(path)


def _message(error: dict[str, Any]) -> str:
    msg = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "unknown field (misspelt?)"
    if error["type"] == "missing":
        return "required field is missing"
    value = error.get("input")
    if value is not None and not isinstance(value, dict | list):
        shown = str(value) if isinstance(value, Decimal) else repr(value)
        return msg if shown in msg else f"{msg} (got {shown})"
    return msg


def entries(data: dict[str, Any], key: str, model: type[M], filename: str,
            problems: list[DataProblem]) -> list[M]:
    """Validate every ``[[key]]`` table of a file as ``model``; problems are appended, valid entries returned."""
    raw = data.get(key, [])
    if not isinstance(raw, list):
        problems.append(DataProblem(filename, key, "", f"write [[{key}]] tables (an array of tables)"))
        return []
    out: list[M] = []
    for i, item in enumerate(raw):
        label = f"{key}[{i}]"
        if isinstance(item, dict) and item.get("id"):
            label += f" ({item['id']})"
        if not isinstance(item, dict):
            problems.append(DataProblem(filename, label, "", "must be a table"))
            continue
        try:
            out.append(model.model_validate(item))
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"])
                problems.append(DataProblem(filename, label, field, _message(dict(err))))
    return out


def unknown_keys(data: dict[str, Any], known: set[str], filename: str, problems: list[DataProblem]) -> None:
    for key in sorted(set(data) - known):
        problems.append(DataProblem(filename, key, "", f"unknown top-level key; expected one of {sorted(known)}"))


def duplicates(items: list[Any], key: Any, what: str, filename: str, problems: list[DataProblem]) -> None:
    seen: set[Any] = set()
    for item in items:
        k = key(item)
        if k in seen:
            problems.append(DataProblem(filename, f"{what} {k}", "", "appears twice in the file"))
        seen.add(k)
