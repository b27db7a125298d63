"""A synthetic contract's file (the TOML shape, validated by the product): components, baseline, valuation."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
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
                   city_short: str) -> ContractFile:
    members = [insts[i] for i in c.insts]
    title = _TITLE[(c.type, c.variant)]
    if c.package:
        place = districts.get(members[0].region, "")
        name = f"{place}公共机构{title.removesuffix('项目')}项目（{len(members)}家单位打包）"
    elif len(members) > 1:
        name = f"{members[0].name}等{len(members)}家单位{title}"
    else:
        name = f"{members[0].name}{title}"
    end = add_months(c.start, 12 * c.term_years) - timedelta(days=1)
    years = c.term_years
    b_start, b_end = add_months(c.start, -12), c.start - timedelta(days=1)
    i0, i1 = climate.index(b_start), climate.index(b_end) + 1
    use: dict[str, float] = defaultdict(float)
    for inst in members:
        cum = climate.cum[inst.category]
        for u in c.utilities:
            if u == "pv" or (u == "gas" and not inst.has_gas):
                continue
            use[u] += inst.annual[u] / 365.25 * float(inst.fractions[u] @ (cum[:, i1] - cum[:, i0]))
    prices = {"electricity": round(rng.uniform(0.62, 0.82), 4), "water": round(rng.uniform(3.5, 4.6), 2),
              "gas": round(rng.uniform(3.3, 4.2), 2)}
    prices["pv"] = prices["electricity"]
    cost = sum(use[u] * prices[u] for u in use)
    saved_value = sum(use[u] * c.savings.get(u, 0) * prices[u] for u in use)
    pv_value = sum(m.annual for m in meters if m.contract == c.idx and m.utility == "pv") * prices["pv"]
    components: list[dict[str, Any]] = []
    value = 0.0
    investment: float | None = None

    def custody(utilities: list[str], key: str = "custody", label: str = "能源费用托管") -> float:
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
        components.append(comp)
        return base * factor * years

    def shared(utilities: list[str], key: str = "shared") -> float:
        first = round(rng.uniform(0.7, 0.9), 2)
        step = rng.choice([0.0, 0.05, 0.1])
        shares = [max(0.4, round(first - step * (y // 2), 2)) for y in range(years)]
        comp: dict[str, Any] = {"kind": "shared_savings", "key": key, "label": "节能效益分享",
                                "utilities": utilities, "esco_share": [d(s) for s in shares],
                                "basis": pick(rng, [("total", .8), ("per_utility", .2)])}
        if rng.random() < 0.2:
            comp["carry_forward"] = True
        part = sum(use[u] * c.savings.get(u, 0) * prices[u] for u in utilities if u in use)
        if rng.random() < 0.15:
            comp["cap_per_year"] = fen(d(round(part * 1.5, -2)))
        components.append(comp)
        return part * sum(shares)

    def guarantee(utility: str, key: str = "guarantee", water_rate: bool = False) -> float:
        actual = c.savings.get(utility, 0.05)
        if water_rate:
            rate = round(rng.uniform(0.02, 0.04), 2)  # Wuxi civic centre: 2 % water saving every year
        else:
            rate = max(0.01, round(actual * rng.uniform(0.7, 1.3), 2))  # some contracts will fall short
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
        components.append(comp)
        return expected

    def lease(principal: float, utilities: list[str]) -> float:
        rate = round(rng.uniform(0.04, 0.065), 4)
        per_year = int(rng.choice([12, 4]))
        n = years * per_year
        r = rate / per_year
        payment = principal * r / (1 - (1 + r) ** -n)
        lessor = pick(rng, [("锡银", .3), ("江南", .3), ("长江", .4)])
        components.append({"kind": "lease", "key": "lease", "label": "融资租赁租金", "utilities": utilities,
                           "principal": fen(d(principal)), "annual_rate": d(rate, 4),
                           "term_months": 12 * years, "payments_per_year": per_year,
                           "lessor": f"{city_short}{lessor}融资租赁有限公司"})
        return payment * n

    if c.type == "cost_custody":
        value = custody(list(c.utilities if c.pv == "" else [u for u in c.utilities if u != "pv"]),
                        label="用水费用托管" if c.utilities == ["water"] else "能源费用托管")
        investment = round((saved_value + pv_value) * rng.uniform(2.5, 4.5), -3)
    elif c.type == "shared_savings":
        value = shared(list(c.utilities))
        investment = round(saved_value * rng.uniform(2.5, 4.5), -3)
    elif c.type == "guaranteed_savings":
        value = guarantee(c.utilities[0])
    elif c.type == "lease":
        financed = pv_value * 6 if c.variant == "pv" else saved_value * 4
        principal = round(financed * rng.uniform(0.8, 1.2), -3)
        value = lease(max(principal, 10_000.0), list(c.utilities))
        if c.variant == "electricity":
            guarantee("electricity")
        investment = max(principal, 10_000.0)
    elif c.variant == "water_custody_guarantee":
        value = custody(["water"], key="water_custody", label="用水费用托管")
        guarantee("water", key="water_guarantee", water_rate=True)
        investment = round(saved_value * rng.uniform(2.5, 4.5), -3)
    elif c.variant == "shared_guarantee_water":
        value = shared(["electricity"]) + guarantee("water", key="water_guarantee")
        investment = round(saved_value * rng.uniform(2.5, 4.5), -3)
    else:  # lease_shared: equipment financed by a lease, operation paid from shared savings
        principal = max(10_000.0, round(saved_value * 2 * rng.uniform(0.8, 1.2), -3))
        value = lease(principal, ["electricity"]) + shared(["electricity"])
        investment = principal
    if c.type in ("cost_custody", "shared_savings") and rng.random() < 0.1:
        fee = round(cost * rng.uniform(0.01, 0.03), -2)
        components.append({"kind": "fixed_fee", "key": "om_fee", "label": "运维服务费",
                           "amount": fen(d(max(fee, 1200))), "per": "year"})
        value += max(fee, 1200) * years

    carbon = pick(rng, [("institution", .6), ("esco", .15), ("shared", .25)])
    head: dict[str, Any] = {
        "code": c.code, "name": name, "name_en": f"Synthetic {c.type.replace('_', ' ')} contract {c.idx + 1}",
        "type": c.type, "signed": c.start - timedelta(days=int(rng.integers(20, 90))), "start": c.start,
        "end": end, "settlement_frequency": c.frequency or pick(rng, [("monthly", .6), ("quarterly", .3), ("annual", .1)]),
        "payment_days": int(rng.choice([15, 30, 30, 45, 60])), "contract_value": fen(d(round(value, -2))),
        "carbon_rights": carbon,
        "ipmvp_option": "B" if c.type == "shared_savings" and rng.random() < 0.2 else "C",
        "notes": "合成数据（synthetic data, emc.synthetic）",
    }
    if investment is not None:
        head["esco_investment"] = fen(d(investment))
    if carbon == "shared":
        head["carbon_rights_esco_share"] = d(rng.choice([0.3, 0.4, 0.5]))
    esco_code, esco_name = escos[c.esco]
    data: dict[str, Any] = {
        "format": 1, "contract": head, "esco": {"code": esco_code, "name": esco_name},
        "institutions": [{"code": i.code, "name": i.name, "category": i.category, "region": i.region,
                          "floor_area_m2": d(i.area, 0), "energy_users": i.users, "address": i.address}
                         for i in members],
        "meters": [{"code": m.code, "institution": insts[m.inst].code, "utility": m.utility,
                    "unit": "kWh" if m.utility in ("electricity", "pv") else "m3", "name": m.name,
                    "sub_item": m.sub_item} for m in meters if m.contract == c.idx],
        "components": components,
    }
    if use:
        data["baseline"] = {"start": b_start, "end": b_end,
                            "use": {u: d(round(v), 0) for u, v in use.items()},
                            "cost": fen(d(cost)), "floor_area_m2": d(sum(i.area for i in members), 0),
                            "energy_users": sum(i.users for i in members),
                            "notes": "基期：合同开始前 12 个月（合成）"}
        valued = [u for u in use]
        # average-cost valuation needs each period's bill amounts; synthetic readings carry none (the service
        # would make such a contract wait), so the draw is kept (same portfolio per seed) but not used
        if any(comp["kind"] == "shared_savings" for comp in components) and rng.random() < 0.3 and AVERAGE_COST:
            data["valuation"] = {"policy": "average_cost", "limits": {
                u: {"min": d(prices[u] * 0.7, 4), "max": d(prices[u] * 1.5, 4)} for u in valued}}
        else:
            data["valuation"] = {"policy": "baseline_price", "prices": {u: d(prices[u], 4) for u in valued},
                                 "escalation": d(rng.choice([0, 0, 0.02, 0.03]))}
    return ContractFile.model_validate(data)

