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
    n_districts = len({i.region for i in insts} - {spec.city})
    n_pkg = 0 if n < 8 else min(max(1, n_districts), max(1, round(n / 70)))  # at most one per district
    n_double = round(0.06 * n) if n >= 10 else 0
    n_group = round(0.08 * n)
    n_inst = len(insts)
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

    # Assign contract types to shapes: packages are custody; doubles need a water variant.
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
    shapes = packages + groups + [("single", t, 1) for t in pool] + doubles

    free = set(range(n_inst))
    water_at: set[int] = set()  # institutions whose water is under some contract already
    energy_only: set[int] = set()
    plans: list[ContractPlan] = []

    def choose(candidates: list[int], ctype: str, variant: str) -> int:
        aff = _AFFINITY[ctype]
        w = np.array([aff[insts[i].category] * insts[i].area ** 0.3 * (3.0 if variant == "pv" and
                      insts[i].category in ("school", "venue") else 1.0) for i in candidates])
        return candidates[int(rng.choice(len(candidates), p=w / w.sum()))]

    packaged: set[str] = set()
    for shape, ctype, size in shapes:
        variant = pick(rng, _VARIANTS[ctype])
        if shape == "package":
            variant = "energy_water" if ctype == "cost_custody" else "water_custody_guarantee"
            by_region: dict[str, list[int]] = defaultdict(list)
            for i in sorted(free):
                if insts[i].category in ("organ", "school", "other"):
                    by_region[insts[i].region].append(i)
            districts = {r: v for r, v in by_region.items()
                         if r not in packaged | {spec.city} and len(v) >= 2}
            if districts:
                region = max(sorted(districts), key=lambda r: len(districts[r]))
                packaged.add(region)
                members = list(districts[region])
                rng.shuffle(members)
                chosen = sorted(members[:size])
            else:  # nothing left to package: a single site
                shape, size = "single", 1
        if shape == "double":
            variant = _WATER_ONLY.get(ctype, "water")
            candidates = sorted(energy_only - water_at) or sorted(free) or list(range(n_inst))
            chosen = [choose(candidates, ctype, variant)]
        elif shape != "package":
            # More contracts than institutions: reuse some (their meters then describe extra supply points).
            candidates = sorted(free) or list(range(n_inst))
            first = choose(candidates, ctype, variant)
            chosen = [first]
            if size > 1:
                near = [i for i in candidates if i != first and insts[i].region == insts[first].region]
                rng.shuffle(near)
                chosen += near[: size - 1]
        utilities = list(_VARIANT_UTILITIES[variant])
        if "gas" in utilities and not any(insts[i].has_gas for i in chosen):
            utilities.remove("gas")
        plans.append(ContractPlan(len(plans), ctype, variant, chosen, utilities, date.min, 0,
                                   package=shape == "package"))
        for i in chosen:
            free.discard(i)
            if "water" in utilities:
                water_at.add(i)
                energy_only.discard(i)
            elif i not in water_at:
                energy_only.add(i)

    # Start dates on the 1st of a month (see the report: ContractHead.contract_years counts a
    # mid-month start as an extra year). Three quarters start inside the window with a baseline
    # year before them where the window allows; the rest started up to three years earlier.
    months = spec.months
    lo, hi = (12, months - 3) if months >= 18 else (max(1, months // 4), max(1, months * 3 // 4))
    for c in plans:
        if rng.random() < 0.75:
            c.start = add_months(spec.start.replace(day=1), int(rng.integers(lo, hi + 1)))
        else:
            c.start = add_months(spec.start.replace(day=1), -int(rng.integers(1, 37)))
        c.term_years = int(rng.choice(_TERM_YEARS[c.type]))
        if spec.settle_monthly:
            c.start, c.term_years, c.frequency = add_months(spec.start.replace(day=1), 12), spec.years - 1, "monthly"
        if c.variant == "pv":
            c.pv = "installed"
        elif c.type == "cost_custody" and len(c.insts) == 1 and rng.random() < 0.2:
            c.pv = "existing"  # a rooftop plant the custody contract takes over (Wuxi civic centre)
            c.utilities.append("pv")
        c.savings = _savings(rng, c)
    plans.sort(key=lambda c: (c.start, c.idx))
    width = max(4, len(str(len(plans))))
    for k, c in enumerate(plans):
        c.idx = k
        c.code = f"{PREFIX}C-{k + 1:0{width}d}"
    return plans


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

