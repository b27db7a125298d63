"""Meters of a synthetic portfolio: main meters, electricity sub-items (分项), PV and the city's statistics meters."""

from __future__ import annotations

from collections import Counter

import numpy as np

from emc.demo.plan import ContractPlan, InstitutionPlan, MeterPlan
from emc.demo.spec import PREFIX, PortfolioSpec

# --- meters ----------------------------------------------------------------------------------

_SUB_ITEMS = ("hvac", "lighting", "power", "special")
_LABEL = {"electricity": "电力总表", "water": "水表", "gas": "燃气表", "pv": "光伏发电表"}
_SUB_LABEL = {"hvac": "空调分项", "lighting": "照明插座分项", "power": "动力分项", "special": "特殊用电分项",
              "hot_water": "热水表"}


def _sub_fractions(f: np.ndarray, item: str) -> tuple[np.ndarray, float]:
    """Shape and share of the institution's use for an electricity sub-item (分项), from its fractions."""
    base, occ, cool, heat = f
    weather = cool + heat
    if item == "hvac":
        if not weather:
            return np.array([1.0, 0, 0, 0]), 0.0
        return np.array([0.05, 0, 0.95 * cool / weather, 0.95 * heat / weather]), weather
    if item == "lighting":
        return np.array([0.1, 0.9, 0, 0]), 0.6 * occ
    if item == "power":
        return np.array([0.5, 0.5, 0, 0]), 0.4 * occ + 0.5 * base
    return np.array([1.0, 0, 0, 0]), 0.3 * base


def _main_pairs(insts: list[InstitutionPlan], contracts: list[ContractPlan]) -> list[tuple[int, int, str]]:
    """(contract, institution, utility) triples: each gets one main meter (no gas meter without gas)."""
    return [(c.idx, i, u) for c in contracts for i in c.insts for u in c.utilities
            if not (u == "gas" and not insts[i].has_gas)]


def meters_for(spec: PortfolioSpec, rng: np.random.Generator, insts: list[InstitutionPlan],
               contracts: list[ContractPlan]) -> list[MeterPlan]:
    """A main meter per (contract, institution, utility); the rest of ``spec.meters`` goes, weighted by floor
    area, to further main meters, electricity sub-items and hot water."""
    pairs = _main_pairs(insts, contracts)
    extras = max(0, spec.meters - len(pairs))
    weight = {"electricity": 0.75, "water": 0.2, "gas": 0.05, "pv": 0.0}
    w = np.array([insts[i].area ** 0.7 * weight[u] for _, i, u in pairs])
    counts = np.zeros(len(pairs), dtype=int)
    if extras and w.sum() > 0:
        counts = rng.multinomial(extras, w / w.sum())
    width = max(5, len(str(len(pairs) + extras)))
    out: list[MeterPlan] = []
    for (ci, i, u), extra in zip(pairs, counts, strict=True):
        if u == "pv":
            out += _pv_meters(rng, insts[i], contracts[ci], int(extra))
        else:
            out += _utility_meters(rng, insts[i], contracts[ci], u, int(extra))
    for k, m in enumerate(out):
        m.code = f"{PREFIX}M-{k + 1:0{width}d}"
    return out


def _pv_meters(rng: np.random.Generator, inst: InstitutionPlan, c: ContractPlan, extra: int) -> list[MeterPlan]:
    capacity = float(np.clip(inst.area * rng.uniform(0.01, 0.03), 30, 2000))  # kWp
    return [MeterPlan("", inst.idx, c.idx, "pv", "total", f"{inst.name}·{_LABEL['pv']}{k + 1}",
                      capacity * 1100.0 * share, np.zeros(4), 0.05, 0.0, c.start if c.pv == "installed" else None)
            for k, share in enumerate(rng.dirichlet([3.0] * (1 + extra)))]


def _split(inst: InstitutionPlan, u: str, extra: int) -> tuple[int, list[str]]:
    """How many main meters and which sub-item meters the ``extra`` meters of a utility become."""
    if u == "electricity":
        more = min(extra, int(inst.area // 25000))
        return 1 + more, [_SUB_ITEMS[k % len(_SUB_ITEMS)] for k in range(extra - more)]
    if u == "water" and extra and inst.category in ("hospital", "school"):
        return extra, ["hot_water"]
    return 1 + extra, []


def _utility_meters(rng: np.random.Generator, inst: InstitutionPlan, c: ContractPlan, u: str,
                    extra: int) -> list[MeterPlan]:
    saving = c.savings.get(u, 0.0)
    mains, subs = _split(inst, u, extra)
    f = inst.fractions[u]
    out: list[MeterPlan] = []
    for k, share in enumerate(rng.dirichlet([3.0] * mains) if mains > 1 else [1.0]):
        noise = 0.06 if u == "electricity" else 0.12
        out.append(MeterPlan("", inst.idx, c.idx, u, "total", f"{inst.name}·{_LABEL[u]}{k + 1}",
                             inst.annual[u] * float(share), f, noise, saving))
    for item, n in Counter(subs).items():
        if item == "hot_water":
            shape, item_share = np.array([0.3, 0.4, 0, 0.3]), 0.15
        else:
            shape, item_share = _sub_fractions(f, item)
        split = rng.dirichlet([2.0] * n) if n > 1 else [1.0]
        for k, share in enumerate(split):
            out.append(MeterPlan("", inst.idx, c.idx, u, item, f"{inst.name}·{_SUB_LABEL[item]}{k + 1}",
                                 inst.annual[u] * item_share * float(share), shape, 0.10, saving))
    return out


def statistics_meters(insts: list[InstitutionPlan], meters: list[MeterPlan]) -> list[MeterPlan]:
    """A main meter per utility for each institution whose use no contract meters (``contract`` −1): what
    the city's statistics report reads. Their use is the institution's own (area × category intensity ×
    a lognormal spread, from :func:`institutions`), so the city's intensities differ as real ones do."""
    have = {(m.inst, m.utility) for m in meters if m.sub_item == "total"}
    out: list[MeterPlan] = []
    for inst in insts:
        for u in ("electricity", "water", "gas"):
            if (inst.idx, u) in have or (u == "gas" and not inst.has_gas):
                continue
            out.append(MeterPlan(f"{PREFIX}MS-{len(out) + 1:05d}", inst.idx, -1, u, "total",
                                  f"{inst.name}·{_LABEL[u]}", inst.annual[u], inst.fractions[u],
                                  0.06 if u == "electricity" else 0.12, 0.0))
    return out


