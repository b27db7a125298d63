"""Tariff files: price notices and bill tariffs written as TOML, one ``[[tariffs]]`` entry per version.

The format is documented in ``contracts/tariffs/README.md``. Parsing is pure: text in, validated
:class:`~emc.tariffs.book.TariffVersion` objects out, or a :class:`TariffFileError` that names the file, the
entry (``tariffs[2] (WX-WATER)``), the key and the value — every problem at once, nothing half-read.

The canonical JSON of an entry (:func:`canonical`) is what the database stores and hashes, and what
:func:`version_from_spec` reads back, so a stored version always rebuilds the tariff that was loaded.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from emc import datafiles
from emc.contracts.spec import CANONICAL_UNITS
from emc.datafiles import Code, Price, SpecProblem, SpecStrict, problems_of, read_spec_text
from emc.errors import DomainError
from emc.kinds import Utility

from .book import BANDS, TariffError, TariffVersion, Tier, TouSeason, TouWindow, WaterCharges

Band = Literal["sharp", "peak", "flat", "valley", "deep_valley"]
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class TariffFileError(DomainError, ValueError):
    def __init__(self, problems: list[SpecProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _minute(value: str) -> int:
    match = _CLOCK.match(value)
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise ValueError(f"write times as HH:MM between 00:00 and 24:00 (got {value!r})")
    return int(match.group(1)) * 60 + int(match.group(2))


class WindowSpec(SpecStrict):
    start: str  # "14:00", local wall clock
    end: str  # "22:00"; a window across midnight is written as two
    band: Band

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        _minute(value)
        return value


class SeasonSpec(SpecStrict):
    months: list[int] = Field(min_length=1)
    windows: list[WindowSpec] = Field(default_factory=list)
    default_band: Band = "flat"

    @field_validator("months")
    @classmethod
    def _months(cls, value: list[int]) -> list[int]:
        bad = [m for m in value if not 1 <= m <= 12]
        if bad:
            raise ValueError(f"months are 1..12 (got {bad})")
        return value


class TierSpec(SpecStrict):
    up_to: Price | None = None  # cumulative quantity where the block ends; omit on the last block
    price: Price


class WaterSpec(SpecStrict):
    supply: Price  # 自来水费
    sewage: Price  # 污水处理费
    resource_fee: Price  # 水资源费（税）


class TariffSpec(SpecStrict):
    code: Code
    utility: Utility
    # GB/T 2260 code of the region whose price notice this is (who may change it); not part of the terms
    region: str | None = Field(default=None, pattern=r"^[0-9]{6}$")
    version: str = Field(min_length=1, max_length=60)
    effective_from: date
    effective_to: date | None = None  # exclusive; omit: until the next version of the same code
    name: str = ""
    unit: str | None = None  # defaults to the utility's canonical unit (kWh, m3 …)
    source: str = Field(min_length=1)  # 文件号 of the price notice, or the bill it was read from
    price: Price | None = None
    water: WaterSpec | None = None
    tiers: list[TierSpec] | None = None
    band_prices: dict[Band, Price] | None = None
    seasons: list[SeasonSpec] | None = None


class TariffFile(SpecStrict):
    format: Literal[1]
    tariffs: list[TariffSpec] = Field(min_length=1)


def canonical(spec: TariffSpec) -> dict[str, Any]:
    """The terms (hashed, priced with): the owning region is who may change them, not part of them."""
    return spec.model_dump(mode="json", exclude_none=True, exclude={"region"})


def spec_hash(spec: dict[str, Any]) -> str:
    blob = json.dumps(spec, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def to_version(spec: TariffSpec) -> TariffVersion:
    """The pure tariff version an entry describes (raises TariffError for shape problems)."""
    seasons = tuple(
        TouSeason(frozenset(s.months),
                  tuple(TouWindow(_minute(w.start), _minute(w.end), w.band) for w in s.windows), s.default_band)
        for s in spec.seasons or ())
    water = WaterCharges(spec.water.supply, spec.water.sewage, spec.water.resource_fee) if spec.water else None
    return TariffVersion(
        code=spec.code, version=spec.version, utility=str(spec.utility),
        unit=spec.unit or CANONICAL_UNITS[str(spec.utility)], effective_from=spec.effective_from,
        effective_to=spec.effective_to, price=spec.price, water=water,
        tiers=tuple(Tier(t.up_to, t.price) for t in spec.tiers or ()), band_prices=dict(spec.band_prices or {}),
        seasons=seasons, source=spec.source)


def version_from_spec(data: dict[str, Any]) -> TariffVersion:
    """Rebuild a stored version from its canonical JSON."""
    return to_version(TariffSpec.model_validate(data))  # prices stored as text come back as exact Decimals


def parse_tariffs(text: str, filename: str = "<tariffs>") -> list[tuple[TariffSpec, TariffVersion]]:
    """Parse and validate a tariff file; every problem is reported at once, naming entry, key and value."""
    data = datafiles.parse_toml(text, filename, datafiles.spec_fail(TariffFileError))
    try:
        parsed = TariffFile.model_validate(data)
    except ValidationError as exc:
        raise TariffFileError(problems_of(exc, data, filename)) from exc
    out, problems = [], []
    for i, spec in enumerate(parsed.tariffs):
        try:
            out.append((spec, to_version(spec)))
        except TariffError as exc:
            problems.append(SpecProblem(filename, f"tariffs[{i}] ({spec.code})", str(exc)))
    seen: dict[tuple[str, str, str], int] = {}
    for i, (spec, _) in enumerate(out):
        key = (spec.code, str(spec.utility), spec.version)
        if key in seen:
            problems.append(SpecProblem(filename, f"tariffs[{i}] ({spec.code})",
                                        f"version {spec.version!r} of {spec.code}/{spec.utility} is also "
                                        f"tariffs[{seen[key]}]"))
        seen.setdefault(key, i)
    if problems:
        raise TariffFileError(problems)
    return out


def load_tariff_file(path: Path | str) -> list[tuple[TariffSpec, TariffVersion]]:
    return parse_tariffs(read_spec_text(path, TariffFileError), str(path))


__all__ = ["BANDS", "TariffFileError", "TariffSpec", "canonical", "load_tariff_file", "parse_tariffs",
           "spec_hash", "to_version", "version_from_spec"]


# -- the prices a manager may change when a new price notice keeps the structure (new version form) --------
def price_fields(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, current value) of every price in a canonical spec: ``price``, ``water.supply`` …,
    ``tiers.0.price``, ``band_prices.peak``."""
    fields: list[tuple[str, str]] = []
    if "price" in spec:
        fields.append(("price", str(spec["price"])))
    for part in ("supply", "sewage", "resource_fee"):
        if part in spec.get("water", {}):
            fields.append((f"water.{part}", str(spec["water"][part])))
    for i, tier in enumerate(spec.get("tiers", [])):
        fields.append((f"tiers.{i}.price", str(tier["price"])))
    for band in BANDS:
        if band in spec.get("band_prices", {}):
            fields.append((f"band_prices.{band}", str(spec["band_prices"][band])))
    return fields


def with_prices(spec: dict[str, Any], prices: dict[str, str], **head: Any) -> dict[str, Any]:
    """A copy of ``spec`` with the prices at ``prices``' paths replaced and head fields (version,
    effective_from, source …) set; structure (TOU windows, tier ends) is kept."""
    out = json.loads(json.dumps(spec))
    out.pop("effective_to", None)
    out.update({k: v for k, v in head.items() if v is not None})
    known = dict(price_fields(spec))
    for path, value in prices.items():
        if path not in known:
            raise TariffError(f"{path} is not a price of this tariff")
        node: Any = out
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value
    return out
