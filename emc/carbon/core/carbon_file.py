"""The one reader of carbon data files (factors, targets and references, quotas and corrections, ledger
settings): a file may hold any of the tables; every problem in it is reported at once. Pure.

Every problem names the file, the entry (``factor[3] (co2.electricity.east_china.2023)``), the field and the
value found, so a bureau clerk can fix the file without reading code; reading and validating go through the
product's one file-reader kit, :mod:`emc.datafiles`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from emc import datafiles

from .factors import Factor
from .ledger_settings import InstitutionSetting, LedgerSetting
from .quotas import Correction, Quota
from .targets import Reference, Target

M = TypeVar("M", bound=BaseModel)

SEED_DIR = Path(__file__).parent.parent / "seed"
SEED_FILES = ("factors.toml", "ledger.toml", "targets.toml", "quotas.toml")
TABLES = {"format", "factor", "target", "reference", "quota", "correction", "ledger", "institution"}


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


def _fail(file: str, message: str, line: int | None) -> CarbonFileError:
    return CarbonFileError([DataProblem(file, "", "", message, line)])


@dataclass
class CarbonData:
    file: str
    factors: list[Factor] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    quotas: list[Quota] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)
    ledgers: list[LedgerSetting] = field(default_factory=list)
    institutions: list[InstitutionSetting] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.__dict__.items() if isinstance(v, list) and v}


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
        entry, errors = datafiles.validate(model, item)
        if entry is not None:
            out.append(entry)
        problems.extend(DataProblem(filename, label, path, datafiles.describe(
            err, unknown="unknown field (misspelt?)", missing="required field is missing", quote_known=True))
            for path, err in errors)
    return out


def _duplicates(items: list[Any], key: Callable[[Any], Hashable], what: str, filename: str,
                problems: list[DataProblem]) -> None:
    seen: set[Any] = set()
    for item in items:
        k = key(item)
        if k in seen:
            problems.append(DataProblem(filename, f"{what} {k}", "", "appears twice in the file"))
        seen.add(k)


def _tables(data: dict[str, Any], out: CarbonData, problems: list[DataProblem]) -> None:
    name = out.file
    out.factors = entries(data, "factor", Factor, name, problems)
    _duplicates(out.factors, lambda f: f.ref, "factor", name, problems)
    out.targets = entries(data, "target", Target, name, problems)
    out.references = entries(data, "reference", Reference, name, problems)
    _duplicates(out.targets, lambda t: t.id, "target", name, problems)
    _duplicates(out.references, lambda r: r.id, "reference", name, problems)
    out.quotas = entries(data, "quota", Quota, name, problems)
    out.corrections = entries(data, "correction", Correction, name, problems)
    _duplicates(out.quotas, lambda q: f"{q.id}@v{q.version}", "quota", name, problems)
    _duplicates(out.corrections, lambda c: (c.institution, c.quota), "correction", name, problems)
    out.ledgers = entries(data, "ledger", LedgerSetting, name, problems)
    out.institutions = entries(data, "institution", InstitutionSetting, name, problems)
    _duplicates(out.ledgers, lambda s: s.region, "ledger for region", name, problems)
    _duplicates(out.institutions, lambda s: s.code, "institution", name, problems)


def parse_data(data: dict[str, Any], filename: str) -> CarbonData:
    problems: list[DataProblem] = []
    for key in sorted(set(data) - TABLES):
        problems.append(DataProblem(filename, key, "", f"unknown top-level key; expected one of {sorted(TABLES)}"))
    if data.get("format", 1) != 1:
        problems.append(DataProblem(filename, "format", "", f"format {data.get('format')!r} is not 1"))
    out = CarbonData(filename)
    _tables(data, out, problems)
    if not problems and not out.counts():
        expected = ", ".join(f"[[{t}]]" for t in sorted(TABLES - {"format"}))
        problems.append(DataProblem(filename, "", "", f"no carbon data: expected {expected}"))
    if problems:
        raise CarbonFileError(problems)
    return out


def load_data_file(path: Path | str) -> CarbonData:
    """Parse and validate one data file; :class:`CarbonFileError` lists every problem."""
    name = str(Path(path))
    return parse_data(datafiles.parse_toml(datafiles.read_text(path, _fail), name, _fail), name)


def parse_data_text(text: str, filename: str = "<carbon data>") -> CarbonData:
    return parse_data(datafiles.parse_toml(text, filename, _fail), filename)


def seed_paths() -> list[Path]:
    return [SEED_DIR / name for name in SEED_FILES]
