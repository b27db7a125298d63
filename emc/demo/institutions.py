"""The city's public institutions: category mix, floor area, energy users and pre-retrofit use per utility."""

from __future__ import annotations

import numpy as np

from emc.demo.names import Namer
from emc.demo.plan import InstitutionPlan, apportion, pick
from emc.demo.spec import CATEGORIES, CATEGORY_SHARE, PREFIX, PortfolioSpec

# Medians by category: office floor area (m²) and m² per energy user (students count in schools),
# electricity kWh/m²·a, water m³/person·a, gas m³/m²·a. Order of magnitude of the 2022 national
# actuals (18 kgce/m², 21 m³/person); illustrative, not a benchmark.
_AREA = {"organ": 9000, "school": 22000, "hospital": 45000, "venue": 18000, "other": 7000}
_AREA_PER_USER = {"organ": 28, "school": 12, "hospital": 35, "venue": 120, "other": 30}
_ELEC = {"organ": 90, "school": 45, "hospital": 160, "venue": 100, "other": 80}
_WATER = {"organ": 25, "school": 12, "hospital": 60, "venue": 15, "other": 25}
_GAS = {"organ": 1.5, "school": 1.5, "hospital": 6.0, "venue": 1.0, "other": 1.5}
_HAS_GAS = {"organ": 0.4, "school": 0.6, "hospital": 0.9, "venue": 0.3, "other": 0.3}
_FRACTIONS: dict[str, dict[str, tuple[float, ...]]] = {  # base load, occupancy, cooling, heating
    "electricity": {"organ": (.25, .40, .25, .10), "school": (.20, .50, .20, .10),
                    "hospital": (.45, .20, .25, .10), "venue": (.25, .40, .25, .10),
                    "other": (.30, .40, .20, .10)},
    "water": {c: ((.6, .3, .1, 0) if c == "hospital" else (.3, .6, .1, 0)) for c in CATEGORIES},
    "gas": {c: ((.4, .1, 0, .5) if c == "hospital" else (.2, .3, 0, .5)) for c in CATEGORIES},
}


def institutions(spec: PortfolioSpec, rng: np.random.Generator, city_name: str,
                  districts: dict[str, str]) -> list[InstitutionPlan]:
    counts = apportion(spec.institutions, CATEGORY_SHARE)
    cats = [c for c, n in zip(CATEGORIES, counts, strict=True) for _ in range(n)]
    rng.shuffle(cats)
    codes = list(districts)
    # A quarter of the institutions are city-level (市级); county-level cities (codes 32xx8x) are bigger.
    weights = np.array([1.5 if c[4] == "8" else 1.0 for c in codes])
    namer = Namer(rng, city_name, districts)
    width = max(4, len(str(spec.institutions)))
    out = []
    for idx, cat in enumerate(cats):
        region = ""
        if codes and rng.random() >= 0.25:
            region = codes[int(rng.choice(len(codes), p=weights / weights.sum()))]
        name = namer.name(cat, region)
        area = float(np.clip(_AREA[cat] * rng.lognormal(0, 0.55), 800, 300_000))
        area = round(area, -1)
        users = max(5, int(area / _AREA_PER_USER[cat] * rng.lognormal(0, 0.2)))
        has_gas = bool(rng.random() < _HAS_GAS[cat])
        annual = {
            "electricity": area * _ELEC[cat] * rng.lognormal(0, 0.25),
            "water": users * _WATER[cat] * rng.lognormal(0, 0.25),
            "gas": area * _GAS[cat] * rng.lognormal(0, 0.3) if has_gas else 0.0,
        }
        fractions = {}
        for utility, table in _FRACTIONS.items():
            f = np.array(table[cat]) * rng.lognormal(0, 0.3, 4)
            fractions[utility] = f / f.sum()
        place = districts.get(region, city_name)
        road = namer.town(region) + pick(rng, [("路", .6), ("大道", .2), ("街", .2)])
        address = f"{city_name if region else ''}{place}{road}{int(rng.integers(1, 999))}号"
        out.append(InstitutionPlan(idx, f"{PREFIX}I-{idx + 1:0{width}d}", name, cat, region or spec.city, address, area,
                         users, has_gas, annual, fractions))
    return out

