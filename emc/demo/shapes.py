"""Contract shapes of a synthetic portfolio: types, county packages, multi-site groups, second (water)
contracts, start dates, terms and the savings each retrofit achieves."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import numpy as np

from emc.demo.plan import ContractPlan, InstitutionPlan, apportion, pick
from emc.demo.spec import CONTRACT_TYPES, PREFIX, TYPE_SHARE, PortfolioSpec, add_months

_VARIANTS: dict[str, list[tuple[str, float]]] = {
    "cost_custody": [("energy", .55), ("energy_water", .35), ("water", .10)],
    "shared_savings": [("electricity", .75), ("electricity_gas", .12), ("water", .13)],
    "guaranteed_savings": [("electricity", .55), ("water", .45)],
    "lease": [("pv", .5), ("electricity", .5)],
    "hybrid": [("water_custody_guarantee", .4), ("shared_guarantee_water", .3), ("lease_shared", .3)],
}
_WATER_ONLY = {"cost_custody": "water", "shared_savings": "water", "guaranteed_savings": "water",
               "hybrid": "water_custody_guarantee"}
_VARIANT_UTILITIES = {
    "energy": ["electricity", "gas"], "energy_water": ["electricity", "water", "gas"], "water": ["water"],
    "electricity": ["electricity"], "electricity_gas": ["electricity", "gas"], "pv": ["pv"],
    "water_custody_guarantee": ["water"], "shared_guarantee_water": ["electricity", "water"],
    "lease_shared": ["electricity"],
}
_AFFINITY: dict[str, dict[str, float]] = {  # how likely each category signs each kind
    "cost_custody": {"organ": 3, "school": 1, "hospital": 1.5, "venue": 1, "other": 2},
    "shared_savings": {"organ": 1, "school": 1.5, "hospital": 2, "venue": 1.5, "other": 1},
    "guaranteed_savings": {"organ": 1, "school": 2, "hospital": 2, "venue": 1, "other": 1},
    "lease": {"organ": 1, "school": 2, "hospital": .5, "venue": 3, "other": 1},
    "hybrid": {"organ": 1, "school": 2, "hospital": 2, "venue": 1, "other": 1},
}
_TERM_YEARS = {"cost_custody": (5, 5, 6, 8, 10), "shared_savings": (5, 6, 8), "guaranteed_savings": (3, 4, 5),
               "lease": (5, 6, 8), "hybrid": (5, 6, 8, 10)}


def contract_shapes(spec: PortfolioSpec, rng: np.random.Generator,
                    insts: list[InstitutionPlan]) -> list[ContractPlan]:
    """Types, sizes and institutions: a few county packages, some multi-site groups, some institutions
    with a second (water) contract, single sites for the rest; some institutions stay uncovered."""
    n = spec.contracts
    if n == 0:
        return []
    types = [t for t, k in zip(CONTRACT_TYPES, apportion(n, TYPE_SHARE), strict=True) for _ in range(k)]
    rng.shuffle(types)
    assigner = _Assigner(spec, rng, insts)
    plans: list[ContractPlan] = []
    for shape, ctype, size in _shapes(spec, rng, insts, types):
        variant = pick(rng, _VARIANTS[ctype])
        if shape == "package":
            variant = "energy_water" if ctype == "cost_custody" else "water_custody_guarantee"
        elif shape == "double":
            variant = _WATER_ONLY.get(ctype, "water")
        shape, chosen = assigner.members(shape, ctype, variant, size)
        utilities = list(_VARIANT_UTILITIES[variant])
        if "gas" in utilities and not any(insts[i].has_gas for i in chosen):
            utilities.remove("gas")
        plans.append(ContractPlan(len(plans), ctype, variant, chosen, utilities, date.min, 0,
                                  package=shape == "package"))
        assigner.taken(chosen, utilities)
    _schedule(spec, rng, plans)
    plans.sort(key=lambda c: (c.start, c.idx))
    width = max(4, len(str(len(plans))))
    for k, c in enumerate(plans):
        c.idx = k
        c.code = f"{PREFIX}C-{k + 1:0{width}d}"
    return plans


def _shapes(spec: PortfolioSpec, rng: np.random.Generator, insts: list[InstitutionPlan],
            types: list[str]) -> list[tuple[str, str, int]]:
    """(shape, contract type, institutions) per contract: packages are custody, doubles a water variant."""
    n, n_inst = spec.contracts, len(insts)
    n_districts = len({i.region for i in insts} - {spec.city})
    n_pkg = 0 if n < 8 else min(max(1, n_districts), max(1, round(n / 70)))  # at most one per district
    n_double = round(0.06 * n) if n >= 10 else 0
    n_group = round(0.08 * n)
    pkg_sizes = [max(3, round(n_inst * rng.uniform(0.03, 0.06))) for _ in range(n_pkg)]
    group_sizes = [int(rng.integers(2, 5)) for _ in range(n_group)]
    n_single = n - n_pkg - n_group - n_double
    # Shrink to the institutions there are: packages first, then groups, then fewer doubles.
    while n_single + sum(pkg_sizes) + sum(group_sizes) > n_inst:
        if pkg_sizes and max(pkg_sizes) > 2:
            pkg_sizes[pkg_sizes.index(max(pkg_sizes))] -= 1
        elif group_sizes and max(group_sizes) > 1:
            group_sizes[group_sizes.index(max(group_sizes))] -= 1
        else:
            break
    pool = list(types)

    def take(allowed: tuple[str, ...]) -> str:
        for i, t in enumerate(pool):
            if t in allowed:
                return pool.pop(i)
        return pool.pop(0)

    packages = [("package", take(("cost_custody", "hybrid")), s) for s in pkg_sizes]
    doubles = [("double", take(tuple(_WATER_ONLY)), 1) for _ in range(n_double)]
    groups = [("group", take(CONTRACT_TYPES), s) for s in group_sizes]
    # Doubles come last: they need institutions that already have an energy-only contract.
    return packages + groups + [("single", t, 1) for t in pool] + doubles


class _Assigner:
    """Which institutions each contract covers, keeping track of who is free, whose water is under contract
    and which districts have a package already."""

    def __init__(self, spec: PortfolioSpec, rng: np.random.Generator, insts: list[InstitutionPlan]) -> None:
        self.spec, self.rng, self.insts = spec, rng, insts
        self.free = set(range(len(insts)))
        self.water_at: set[int] = set()  # institutions whose water is under some contract already
        self.energy_only: set[int] = set()
        self.packaged: set[str] = set()

    def members(self, shape: str, ctype: str, variant: str, size: int) -> tuple[str, list[int]]:
        """The contract's institutions (and its shape: a package with no district left is a single site)."""
        everyone = list(range(len(self.insts)))
        if shape == "package":
            chosen = self._package(size)
            if chosen is not None:
                return shape, chosen
            shape, size = "single", 1  # nothing left to package: a single site
        if shape == "double":
            candidates = sorted(self.energy_only - self.water_at) or sorted(self.free) or everyone
            return shape, [self._choose(candidates, ctype, variant)]
        # More contracts than institutions: reuse some (their meters then describe extra supply points).
        candidates = sorted(self.free) or everyone
        first = self._choose(candidates, ctype, variant)
        chosen = [first]
        if size > 1:
            near = [i for i in candidates if i != first and self.insts[i].region == self.insts[first].region]
            self.rng.shuffle(near)
            chosen += near[: size - 1]
        return shape, chosen

    def _package(self, size: int) -> list[int] | None:
        by_region: dict[str, list[int]] = defaultdict(list)
        for i in sorted(self.free):
            if self.insts[i].category in ("organ", "school", "other"):
                by_region[self.insts[i].region].append(i)
        districts = {r: v for r, v in by_region.items()
                     if r not in self.packaged | {self.spec.city} and len(v) >= 2}
        if not districts:
            return None
        region = max(sorted(districts), key=lambda r: len(districts[r]))
        self.packaged.add(region)
        members = list(districts[region])
        self.rng.shuffle(members)
        return sorted(members[:size])

    def _choose(self, candidates: list[int], ctype: str, variant: str) -> int:
        aff, insts = _AFFINITY[ctype], self.insts
        w = np.array([aff[insts[i].category] * insts[i].area ** 0.3 * (3.0 if variant == "pv" and
                      insts[i].category in ("school", "venue") else 1.0) for i in candidates])
        return candidates[int(self.rng.choice(len(candidates), p=w / w.sum()))]

    def taken(self, chosen: list[int], utilities: list[str]) -> None:
        for i in chosen:
            self.free.discard(i)
            if "water" in utilities:
                self.water_at.add(i)
                self.energy_only.discard(i)
            elif i not in self.water_at:
                self.energy_only.add(i)


def _schedule(spec: PortfolioSpec, rng: np.random.Generator, plans: list[ContractPlan]) -> None:
    """Start dates on the 1st of a month (ContractHead.contract_years counts a mid-month start as an extra
    year), terms, PV and savings. Three quarters start inside the window with a baseline year before them
    where the window allows; the rest started up to three years earlier."""
    months = spec.months
    lo, hi = (12, months - 3) if months >= 18 else (max(1, months // 4), max(1, months * 3 // 4))
    first = spec.start.replace(day=1)
    for c in plans:
        if rng.random() < 0.75:
            c.start = add_months(first, int(rng.integers(lo, hi + 1)))
        else:
            c.start = add_months(first, -int(rng.integers(1, 37)))
        c.term_years = int(rng.choice(_TERM_YEARS[c.type]))
        if spec.settle_monthly:
            c.start, c.term_years, c.frequency = add_months(first, 12), spec.years - 1, "monthly"
        if c.variant == "pv":
            c.pv = "installed"
        elif c.type == "cost_custody" and len(c.insts) == 1 and rng.random() < 0.2:
            c.pv = "existing"  # a rooftop plant the custody contract takes over (Wuxi civic centre)
            c.utilities.append("pv")
        c.savings = _savings(rng, c)


def _savings(rng: np.random.Generator, c: ContractPlan) -> dict[str, float]:
    """The saving the retrofit actually achieves, per utility (guarantees are set around it later)."""
    out = {}
    for u in c.utilities:
        if u == "pv":
            continue
        if u == "electricity":
            low, high = {"cost_custody": (.08, .16), "shared_savings": (.10, .25)}.get(c.type, (.06, .18))
        elif u == "water":
            low, high = (.03, .10)
        else:
            low, high = (.05, .15)
        out[u] = float(rng.uniform(low, high))
    return out

