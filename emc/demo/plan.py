"""The plan of a synthetic portfolio as plain data (institutions, contracts, meters, climate): no database."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from emc.contracts.spec import ContractFile
from emc.demo.spec import PortfolioSpec


@dataclass
class InstitutionPlan:
    idx: int
    code: str
    name: str
    category: str
    region: str
    address: str
    area: float  # office floor area, m²
    users: int  # energy users
    has_gas: bool
    annual: dict[str, float]  # pre-retrofit use per year, canonical unit
    fractions: dict[str, np.ndarray]  # shares of use: base load, occupancy, cooling, heating


@dataclass
class MeterPlan:
    code: str
    inst: int
    contract: int
    utility: str
    sub_item: str
    name: str
    annual: float  # expected use per year before the retrofit (pv: generation)
    fractions: np.ndarray
    noise: float
    saving: float  # retrofit saving rate from the contract start
    commissioned: date | None = None  # pv installed by the contract: no generation before


@dataclass
class ContractPlan:
    idx: int
    type: str
    variant: str
    insts: list[int]
    utilities: list[str]  # metered utilities, pv included
    start: date
    term_years: int
    esco: int = 0
    savings: dict[str, float] = field(default_factory=dict)
    pv: str = ""  # "" | "existing" | "installed"
    package: bool = False
    code: str = ""
    frequency: str = ""  # "" = drawn at random


@dataclass
class Plan:
    spec: PortfolioSpec
    institutions: list[InstitutionPlan]
    contracts: list[ContractPlan]
    meters: list[MeterPlan]
    files: list[ContractFile]
    escos: list[tuple[str, str]]
    climate: Climate

    @property
    def covered(self) -> set[int]:
        return {i for c in self.contracts for i in c.insts}

    def spec_digest(self) -> str:
        return spec_digest(f.spec_hash() for f in self.files)


def spec_digest(hashes: Any) -> str:
    return hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()


def d(value: float, places: int = 2) -> Decimal:
    return Decimal(f"{value:.{places}f}")


def apportion(total: int, shares: tuple[float, ...]) -> list[int]:
    """Largest-remainder apportionment: exact total, proportions as close as integers allow."""
    raw = [total * s / sum(shares) for s in shares]
    counts = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def pick(rng: np.random.Generator, options: list[tuple[str, float]]) -> str:
    weights = np.array([w for _, w in options])
    return options[int(rng.choice(len(options), p=weights / weights.sum()))][0]


# --- climate and calendars -------------------------------------------------------------------


@dataclass
class Climate:
    """Daily drivers over the extended range (five years before the window to its end)."""

    days: pd.DatetimeIndex
    temperature: np.ndarray
    basis: dict[str, np.ndarray]  # category → (4, n) base, occupancy, cooling, heating; mean 1 each
    cum: dict[str, np.ndarray]  # category → (4, n + 1) cumulative sums, for baseline-period totals
    occupancy: dict[str, np.ndarray]
    solar: np.ndarray  # PV yield shape, mean 1

    def index(self, day: date) -> int:
        return (day - self.days[0].date()).days

