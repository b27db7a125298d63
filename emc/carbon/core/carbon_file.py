"""One loader for every carbon data file (factors, targets and references, quotas and corrections, ledger
settings): a file may hold any of the tables; every problem in it is reported at once. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .datafile import CarbonFileError, DataProblem, duplicates, entries, parse_toml, read_toml, unknown_keys
from .factors import Factor, parse_factors
from .quotas import Correction, Quota, parse_quotas
from .settings import InstitutionSetting, LedgerSetting
from .targets import Reference, Target, parse_targets

SEED_DIR = Path(__file__).parent / "seed"
SEED_FILES = ("factors.toml", "ledger.toml", "targets.toml", "quotas.toml")
TABLES = {"format", "factor", "target", "reference", "quota", "correction", "ledger", "institution"}


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


def parse_data(data: dict[str, Any], filename: str) -> CarbonData:
    problems: list[DataProblem] = []
    unknown_keys(data, TABLES, filename, problems)
    if data.get("format", 1) != 1:
        problems.append(DataProblem(filename, "format", "", f"format {data.get('format')!r} is not 1"))
    out = CarbonData(filename)
    out.factors = parse_factors(data, filename, problems)
    out.targets, out.references = parse_targets(data, filename, problems)
    out.quotas, out.corrections = parse_quotas(data, filename, problems)
    out.ledgers = entries(data, "ledger", LedgerSetting, filename, problems)
    out.institutions = entries(data, "institution", InstitutionSetting, filename, problems)
    duplicates(out.ledgers, lambda s: s.region, "ledger for region", filename, problems)
    duplicates(out.institutions, lambda s: s.code, "institution", filename, problems)
    if not problems and not out.counts():
        expected = ", ".join(f"[[{t}]]" for t in sorted(TABLES - {"format"}))
        problems.append(DataProblem(filename, "", "", f"no carbon data: expected {expected}"))
    if problems:
        raise CarbonFileError(problems)
    return out


def load_data_file(path: Path | str) -> CarbonData:
    """Parse and validate one data file; :class:`CarbonFileError` lists every problem."""
    data, name = read_toml(path)
    return parse_data(data, name)


def parse_data_text(text: str, filename: str = "<carbon data>") -> CarbonData:
    return parse_data(parse_toml(text, filename), filename)


def seed_paths() -> list[Path]:
    return [SEED_DIR / name for name in SEED_FILES]
