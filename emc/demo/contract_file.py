"""A synthetic contract's file (the TOML shape, validated by the product): components, baseline, valuation."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import numpy as np

from emc.contracts.spec import ContractFile
from emc.demo.plan import Climate, ContractPlan, InstitutionPlan, MeterPlan, d, pick
from emc.demo.spec import add_months
from emc.money import fen

AVERAGE_COST = False  # see contract_file: switch on once the generator writes bill amounts


_TITLE = {
    ("cost_custody", "energy"): "能源费用托管项目",
    ("cost_custody", "energy_water"): "水电气能源费用托管项目",
    ("cost_custody", "water"): "用水费用托管项目",
    ("shared_savings", "electricity"): "合同能源管理（节能效益分享型）项目",
    ("shared_savings", "electricity_gas"): "合同能源管理（节能效益分享型）项目",
    ("shared_savings", "water"): "合同节水管理（节水效益分享型）项目",
    ("guaranteed_savings", "electricity"): "合同能源管理（节能量保证型）项目",
    ("guaranteed_savings", "water"): "合同节水管理（节水效果保证型）项目",
    ("lease", "pv"): "屋顶分布式光伏融资租赁项目", ("lease", "electricity"): "空调系统节能改造融资租赁项目",
    ("hybrid", "water_custody_guarantee"): "用水费用托管+节水效果保证项目",
    ("hybrid", "shared_guarantee_water"): "节能效益分享+节水效果保证项目",
    ("hybrid", "lease_shared"): "节能改造（融资租赁+效益分享）项目",
}


def contract_file(rng: np.random.Generator, c: ContractPlan, insts: list[InstitutionPlan], meters: list[MeterPlan],
                  escos: list[tuple[str, str]], climate: Climate, districts: dict[str, str],
                  city_short: str, station: str = "") -> ContractFile:
    """The contract file of a planned contract: its components drawn around the savings it achieves, its
    baseline the members' simulated use over the 12 months before the start."""
    members = [insts[i] for i in c.insts]
    b_start, b_end = add_months(c.start, -12), c.start - timedelta(days=1)
    use = _baseline_use(c, members, climate, b_start, b_end)
    draft = _Draft(rng, c, use, city_short)
    pv_value = sum(m.annual for m in meters if m.contract == c.idx and m.utility == "pv") * draft.prices["pv"]
    value, investment = draft.terms(pv_value)
    esco_code, esco_name = escos[c.esco]
    data: dict[str, Any] = {
        "format": 1, "contract": draft.head(_name(c, members, districts), value, investment),
        "esco": {"code": esco_code, "name": esco_name},
        "institutions": [{"code": i.code, "name": i.name, "category": i.category, "region": i.region,
                          "floor_area_m2": d(i.area, 0), "energy_users": i.users, "address": i.address,
                          "weather_station": station}
                         for i in members],
        "meters": [{"code": m.code, "institution": insts[m.inst].code, "utility": m.utility,
                    "unit": "kWh" if m.utility in ("electricity", "pv") else "m3", "name": m.name,
                    "sub_item": m.sub_item} for m in meters if m.contract == c.idx],
        "components": draft.components,
    }
    if use:
        data["baseline"] = {"start": b_start, "end": b_end,
                            "use": {u: d(round(v), 0) for u, v in use.items()},
                            "cost": fen(d(draft.cost)), "floor_area_m2": d(sum(i.area for i in members), 0),
                            "energy_users": sum(i.users for i in members),
                            "notes": "基期：合同开始前 12 个月（合成）"}
        data["valuation"] = draft.valuation()
    return ContractFile.model_validate(data)


def _name(c: ContractPlan, members: list[InstitutionPlan], districts: dict[str, str]) -> str:
    title = _TITLE[(c.type, c.variant)]
    if c.package:
        place = districts.get(members[0].region, "")
        return f"{place}公共机构{title.removesuffix('项目')}项目（{len(members)}家单位打包）"
    if len(members) > 1:
        return f"{members[0].name}等{len(members)}家单位{title}"
    return f"{members[0].name}{title}"


def _baseline_use(c: ContractPlan, members: list[InstitutionPlan], climate: Climate, b_start: date,
                  b_end: date) -> dict[str, float]:
    """Each utility's use over the baseline period from the members' daily drivers (pv generates, no use)."""
    i0, i1 = climate.index(b_start), climate.index(b_end) + 1
    use: dict[str, float] = defaultdict(float)
    for inst in members:
        cum = climate.cum[inst.category]
        for u in c.utilities:
            if u == "pv" or (u == "gas" and not inst.has_gas):
                continue
            use[u] += inst.annual[u] / 365.25 * float(inst.fractions[u] @ (cum[:, i1] - cum[:, i0]))
    return use


class _Draft:
    """The terms of one contract as they are drawn: prices, components and what they are worth."""

    def __init__(self, rng: np.random.Generator, c: ContractPlan, use: dict[str, float], city_short: str) -> None:
        self.rng, self.c, self.use, self.city_short = rng, c, use, city_short
        self.years = c.term_years
        self.prices = {"electricity": round(rng.uniform(0.62, 0.82), 4), "water": round(rng.uniform(3.5, 4.6), 2),
                       "gas": round(rng.uniform(3.3, 4.2), 2)}
        self.prices["pv"] = self.prices["electricity"]
        self.cost = sum(use[u] * self.prices[u] for u in use)
        self.saved_value = sum(use[u] * c.savings.get(u, 0) * self.prices[u] for u in use)
        self.components: list[dict[str, Any]] = []

    def terms(self, pv_value: float) -> tuple[float, float | None]:
        """Components by contract type; (contract value, ESCO investment or None where none is known)."""
        rng, c = self.rng, self.c
        by_type = {"cost_custody": self._custody_terms, "shared_savings": self._shared_terms,
                   "guaranteed_savings": self._guaranteed_terms, "lease": self._lease_terms}
        value, investment = by_type.get(c.type, self._hybrid_terms)(pv_value)
        if c.type in ("cost_custody", "shared_savings") and rng.random() < 0.1:
            fee = round(self.cost * rng.uniform(0.01, 0.03), -2)
            self.components.append({"kind": "fixed_fee", "key": "om_fee", "label": "运维服务费",
                                    "amount": fen(d(max(fee, 1200))), "per": "year"})
            value += max(fee, 1200) * self.years
        return value, investment

    def _custody_terms(self, pv_value: float) -> tuple[float, float | None]:
        c = self.c
        value = self.custody(list(c.utilities if c.pv == "" else [u for u in c.utilities if u != "pv"]),
                             label="用水费用托管" if c.utilities == ["water"] else "能源费用托管")
        return value, round((self.saved_value + pv_value) * self.rng.uniform(2.5, 4.5), -3)

    def _shared_terms(self, pv_value: float) -> tuple[float, float | None]:
        value = self.shared(list(self.c.utilities))
        return value, round(self.saved_value * self.rng.uniform(2.5, 4.5), -3)

    def _guaranteed_terms(self, pv_value: float) -> tuple[float, float | None]:
        return self.guarantee(self.c.utilities[0]), None

    def _lease_terms(self, pv_value: float) -> tuple[float, float | None]:
        c = self.c
        financed = pv_value * 6 if c.variant == "pv" else self.saved_value * 4
        principal = round(financed * self.rng.uniform(0.8, 1.2), -3)
        value = self.lease(max(principal, 10_000.0), list(c.utilities))
        if c.variant == "electricity":
            self.guarantee("electricity")
        return value, max(principal, 10_000.0)

    def _hybrid_terms(self, pv_value: float) -> tuple[float, float | None]:
        rng = self.rng
        if self.c.variant == "water_custody_guarantee":
            value = self.custody(["water"], key="water_custody", label="用水费用托管")
            self.guarantee("water", key="water_guarantee", water_rate=True)
            return value, round(self.saved_value * rng.uniform(2.5, 4.5), -3)
        if self.c.variant == "shared_guarantee_water":
            value = self.shared(["electricity"]) + self.guarantee("water", key="water_guarantee")
            return value, round(self.saved_value * rng.uniform(2.5, 4.5), -3)
        # lease_shared: equipment financed by a lease, operation paid from shared savings
        principal = max(10_000.0, round(self.saved_value * 2 * rng.uniform(0.8, 1.2), -3))
        return self.lease(principal, ["electricity"]) + self.shared(["electricity"]), principal

    def custody(self, utilities: list[str], key: str = "custody", label: str = "能源费用托管") -> float:
        rng, use, prices = self.rng, self.use, self.prices
        base = sum(use[u] * prices[u] for u in utilities if u in use)
        factor = round(rng.uniform(0.90, 0.98), 2)
        adjust = rng.choice(["floor_area", "energy_users", "price", "non_routine"],
                            size=int(rng.integers(1, 4)), replace=False)
        comp: dict[str, Any] = {"kind": "cost_custody", "key": key, "label": label, "utilities": utilities,
                                "baseline_cost": fen(d(base)), "fee_factor": d(factor),
                                "adjust_for": sorted(adjust.tolist())}
        if rng.random() < 0.4:
            comp["savings_rate_guarantee"] = d(round(rng.uniform(0.05, 0.10), 2))
            comp["guarantee_penalty_rate"] = d(round(rng.uniform(0.01, 0.05), 2))
        self.components.append(comp)
        return base * factor * self.years

    def shared(self, utilities: list[str], key: str = "shared") -> float:
        rng, use, prices, years = self.rng, self.use, self.prices, self.years
        first = round(rng.uniform(0.7, 0.9), 2)
        step = rng.choice([0.0, 0.05, 0.1])
        shares = [max(0.4, round(first - step * (y // 2), 2)) for y in range(years)]
        comp: dict[str, Any] = {"kind": "shared_savings", "key": key, "label": "节能效益分享",
                                "utilities": utilities, "esco_share": [d(s) for s in shares],
                                "basis": pick(rng, [("total", .8), ("per_utility", .2)])}
        if rng.random() < 0.2:
            comp["carry_forward"] = True
        part = sum(use[u] * self.c.savings.get(u, 0) * prices[u] for u in utilities if u in use)
        if rng.random() < 0.15:
            comp["cap_per_year"] = fen(d(round(part * 1.5, -2)))
        self.components.append(comp)
        return part * sum(shares)

    def guarantee(self, utility: str, key: str = "guarantee", water_rate: bool = False) -> float:
        rng, use, prices, years = self.rng, self.use, self.prices, self.years
        actual = self.c.savings.get(utility, 0.05)
        # Wuxi civic centre: 2 % water saving every year; otherwise around the actual (some will fall short)
        rate = round(rng.uniform(0.02, 0.04), 2) if water_rate else max(0.01, round(actual * rng.uniform(0.7, 1.3), 2))
        comp: dict[str, Any] = {"kind": "guaranteed_savings", "key": key,
                                "label": "节水效果保证" if utility == "water" else "节能量保证",
                                "utilities": [utility],
                                "shortfall_price": d(prices[utility], 4),
                                "shortfall": pick(rng, [("esco_pays", .7), ("net_from_fee", .3)])}
        if rng.random() < 0.7 or water_rate:
            comp["guaranteed_rate"] = d(rate)
        else:
            comp["guaranteed_quantity"] = d(round(use[utility] * rate))
        fee = use[utility] * actual * prices[utility] * rng.uniform(2.0, 3.0)
        if rng.random() < 0.5:
            comp["savings_price"] = d(prices[utility] * rng.uniform(0.5, 0.8), 4)
            expected = use[utility] * actual * float(comp["savings_price"]) * years
        else:
            n_pay = min(years, 3)
            comp["fee_schedule"] = [{"contract_year": y + 1, "amount": fen(d(round(fee / n_pay, -2)))}
                                    for y in range(n_pay)]
            expected = sum(float(x["amount"]) for x in comp["fee_schedule"])
        if rng.random() < 0.3:
            comp["surplus_esco_share"] = d(rng.choice([0.2, 0.3, 0.5]))
        self.components.append(comp)
        return expected

    def lease(self, principal: float, utilities: list[str]) -> float:
        rng, years = self.rng, self.years
        rate = round(rng.uniform(0.04, 0.065), 4)
        per_year = int(rng.choice([12, 4]))
        n = years * per_year
        r = rate / per_year
        payment = principal * r / (1 - (1 + r) ** -n)
        lessor = pick(rng, [("锡银", .3), ("江南", .3), ("长江", .4)])
        self.components.append({"kind": "lease", "key": "lease", "label": "融资租赁租金", "utilities": utilities,
                                "principal": fen(d(principal)), "annual_rate": d(rate, 4),
                                "term_months": 12 * years, "payments_per_year": per_year,
                                "lessor": f"{self.city_short}{lessor}融资租赁有限公司"})
        return payment * n

    def head(self, name: str, value: float, investment: float | None) -> dict[str, Any]:
        """The ``[contract]`` table: dates, frequency, payment days, value, carbon rights."""
        rng, c = self.rng, self.c
        carbon = pick(rng, [("institution", .6), ("esco", .15), ("shared", .25)])
        signed = c.start - timedelta(days=int(rng.integers(20, 90)))  # drawn before the frequency
        frequency = c.frequency or pick(rng, [("monthly", .6), ("quarterly", .3), ("annual", .1)])
        head: dict[str, Any] = {
            "code": c.code, "name": name,
            "name_en": f"Synthetic {c.type.replace('_', ' ')} contract {c.idx + 1}",
            "type": c.type, "signed": signed, "start": c.start,
            "end": add_months(c.start, 12 * c.term_years) - timedelta(days=1), "settlement_frequency": frequency,
            "payment_days": int(rng.choice([15, 30, 30, 45, 60])), "contract_value": fen(d(round(value, -2))),
            "carbon_rights": carbon,
            "ipmvp_option": "B" if c.type == "shared_savings" and rng.random() < 0.2 else "C",
            "notes": "合成数据（synthetic data, emc.synthetic）",
        }
        if investment is not None:
            head["esco_investment"] = fen(d(investment))
        if carbon == "shared":
            head["carbon_rights_esco_share"] = d(rng.choice([0.3, 0.4, 0.5]))
        return head

    def valuation(self) -> dict[str, Any]:
        """Baseline prices (escalated or not); average-cost valuation needs each period's bill amounts, which
        synthetic readings do not carry (the service would make such a contract wait), so that draw is kept
        (same portfolio per seed) but not used."""
        rng, prices, valued = self.rng, self.prices, list(self.use)
        if any(comp["kind"] == "shared_savings" for comp in self.components) and rng.random() < 0.3 \
                and AVERAGE_COST:
            return {"policy": "average_cost", "limits": {
                u: {"min": d(prices[u] * 0.7, 4), "max": d(prices[u] * 1.5, 4)} for u in valued}}
        return {"policy": "baseline_price", "prices": {u: d(prices[u], 4) for u in valued},
                "escalation": d(rng.choice([0, 0, 0.02, 0.03]))}
