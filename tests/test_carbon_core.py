"""The carbon core by hand: standard coal and CO₂ of a small institution (GB/T 2589-2020, MEE/NBS factors),
a restatement on a final factor, a roll-up that counts no reduction twice, target status in every state and
over-quota warnings that fire once per tier. Every expected figure is worked out in the comment beside it."""

from __future__ import annotations

import ast
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from emc.carbon.core import accounting, indicators, quotas, rollup, season, targets
from emc.carbon.core.accounting import LedgerPolicy, Usage, book
from emc.carbon.core.carbon_file import CarbonFileError, load_data_file, parse_data_text, seed_paths
from emc.carbon.core.factors import Factor, FactorBook, FactorError

SEED = load_data_file(seed_paths()[0])
BOOK = FactorBook(SEED.factors)
EAST = LedgerPolicy("mee_nbs_average", "east_china_grid", source="test")


def usage(utility: str, qty: str, month: date = date(2023, 5, 1), **kw) -> Usage:  # type: ignore[no-untyped-def]
    return Usage("A", month, utility, D(qty), **kw)


# -- standard coal and CO₂ -------------------------------------------------------------------------------
def test_yixing_check_1_07_gwh_is_131_5_tce_at_the_equivalent_value() -> None:
    b = book(usage("electricity", "1070000"), BOOK, EAST)
    assert b.kgce == D("131503.000") and b.tce == D("131.503")  # 1.07e6 × 0.1229 / 1000
    assert b.coal_factor == "coal.electricity.equivalent@v1"
    equal = book(usage("electricity", "1070000"), BOOK, LedgerPolicy("mee_nbs_average", "east_china_grid", "equal"))
    assert equal.kgce == D("321000.000")  # the old equal value: 1.07e6 × 0.30


def test_a_small_institution_month_by_carrier() -> None:
    elec = book(usage("electricity", "10000"), BOOK, EAST)
    # 10 000 kWh × 0.1229 = 1 229 kgce; × 0.5500 (East China grid 2023) = 5 500 kgCO₂, scope 2
    assert (elec.kgce, elec.kgco2, elec.scope, elec.in_energy) == (D("1229.000"), D("5500.000"), 2, True)
    assert elec.co2_factor == "co2.electricity.mee_nbs_average.east_china_grid.2023@v1" and not elec.provisional
    gas = book(usage("gas", "1000"), BOOK, EAST)
    # 1 000 m³ × 1.2143 = 1 214.3 kgce; × 2.162 = 2 162 kgCO₂, scope 1
    assert (gas.kgce, gas.kgco2, gas.scope) == (D("1214.300"), D("2162.000"), 1)
    heat = book(usage("heat", "10"), BOOK, EAST)
    # 10 GJ × 0.03412 kgce/MJ × 1000 = 341.2 kgce; × 0.11 tCO₂/GJ = 1 100 kgCO₂, scope 2
    assert (heat.kgce, heat.kgco2, heat.scope) == (D("341.200"), D("1100.000"), 2)
    water = book(usage("water", "500"), BOOK, EAST)
    # water is not comprehensive energy: m³ only
    assert (water.quantity, water.unit, water.kgce, water.kgco2, water.in_energy) == (D("500.000"), "m3", 0, 0, False)
    assert accounting.working_medium_kgce(D("500"), BOOK, 2023) == (D("42.850"), "coal.water.working_medium@v1")
    month = rollup.by_institution([elec, gas, heat, water])["A"]
    # 1 229 + 1 214.3 + 341.2 = 2 784.5 kgce = 2.7845 tce; CO₂ 2 162 (scope 1) + 6 600 (scope 2)
    assert (month.energy_kgce, month.co2_scope1_kg, month.co2_scope2_kg, month.water_m3) == (
        D("2784.500"), D("2162.000"), D("6600.000"), D("500.000"))


def test_gas_by_the_institutions_heating_value() -> None:
    b = book(usage("gas", "1000", heating_value=D("36000")), BOOK, EAST)
    # GB/T 2589: 1 000 × 36 000 / 29 307 = 1 228.3754... kgce; CO₂ 2 162 × 36 000 / 38 931 = 1 999.229... kg
    assert b.kgce == D("1228.375") and b.kgco2 == D("1999.229")
    assert b.coal_factor.startswith("gbt2589.heating_value") and "×36000/38931" in b.co2_factor


def test_pv_is_avoided_grid_electricity_not_consumption() -> None:
    pv = book(usage("pv", "100000", kind="generation"), BOOK, EAST)
    assert (pv.kgce, pv.kgco2, pv.in_energy) == (D("12290.000"), D("55000.000"), False)
    fig = rollup.by_institution([pv])["A"]
    assert fig.energy_kgce == 0 and fig.pv_avoided_kgco2 == D("55000.000")
    with pytest.raises(accounting.AccountingError, match="generation"):
        book(usage("pv", "1"), BOOK, EAST)


def test_savings_go_to_the_carbon_rights_owner() -> None:
    esco = book(usage("electricity", "20000", kind="savings", contract="C", owner="esco"), BOOK, EAST)
    assert (esco.kgco2, esco.esco_kgco2) == (D("11000.000"), D("11000.000"))
    shared = book(usage("electricity", "20000", kind="savings", contract="C", owner="shared", esco_share=D("0.3")),
                  BOOK, EAST)
    # 20 000 kWh × 0.5500 = 11 000 kgCO₂, 30 % to the ESCO = 3 300; 2 458 kgce × 0.3 = 737.4
    assert (shared.esco_kgco2, shared.esco_kgce) == (D("3300.000"), D("737.400"))
    assert rollup.by_institution([shared])["A"].institution_savings_kgco2 == D("7700.000")
    with pytest.raises(accounting.AccountingError, match="ESCO share"):
        book(usage("electricity", "1", kind="savings", contract="C", owner="shared"), BOOK, EAST)


# -- factor choice and restatement ----------------------------------------------------------------------
def factor(year: int, value: str, status: str = "final", fid: str | None = None, version: int = 1) -> Factor:
    return Factor(id=fid or f"co2.e.east.{year}.{status}", version=version, kind="co2", carrier="electricity",
                  series="mee_nbs_average", region="east_china_grid", data_year=year, value=D(value),
                  unit="kgCO2/kWh", status=status, source="test")


def test_an_unpublished_year_books_provisionally_and_is_restated_keeping_both() -> None:
    old = book(usage("electricity", "10000", date(2024, 3, 1)), BOOK, EAST)
    # 2024 not published: the 2023 factor (0.5500) is used and the booking is provisional
    assert old.provisional and old.kgco2 == D("5500.000") and "2024 not published" in old.notes[0]
    later = FactorBook([*SEED.factors, factor(2024, "0.5400")])
    new = book(usage("electricity", "10000", date(2024, 3, 1)), later, EAST)
    r = accounting.restate(old, new)
    assert r is not None and not r.new.provisional
    # 10 000 × (0.5400 − 0.5500) = −100 kgCO₂; standard coal unchanged
    assert (r.delta_kgco2, r.delta_kgce) == (D("-100.000"), 0)
    assert r.old.co2_factor.endswith("2023@v1") and r.new.co2_factor == "co2.e.east.2024.final@v1"
    assert accounting.restate(new, book(usage("electricity", "10000", date(2024, 3, 1)), later, EAST)) is None


def test_final_beats_provisional_and_a_later_version_beats_an_earlier() -> None:
    fb = FactorBook([factor(2024, "0.56", "provisional"), factor(2024, "0.54", "final")])
    assert fb.choose("co2", "electricity", "mee_nbs_average", "east_china_grid", 2024).factor.value == D("0.54")
    only_prov = FactorBook([factor(2024, "0.56", "provisional")])
    assert only_prov.choose("co2", "electricity", "mee_nbs_average", "east_china_grid", 2024).provisional
    versions = FactorBook([factor(2024, "0.54", fid="f"), factor(2024, "0.545", fid="f", version=2)])
    assert versions.choose("co2", "electricity", "mee_nbs_average", "east_china_grid", 2024).ref == "f@v2"


def test_series_are_never_mixed_silently() -> None:
    with pytest.raises(FactorError, match="series 'mee_nbs_average', region 'shanghai'"):
        BOOK.choose("co2", "electricity", "mee_nbs_average", "shanghai", 2023)
    with pytest.raises(FactorError, match="2020 or earlier"):
        BOOK.choose("co2", "electricity", "mee_nbs_average", "east_china_grid", 2020)
    assert ("enterprise_reporting", "cn") in BOOK.series("co2", "electricity")


def test_the_seed_holds_every_figure_of_domain_section_4() -> None:
    by_id = {f.id: f for f in SEED.factors}
    expected = {
        "coal.electricity.equivalent": "0.1229", "coal.electricity.equal": "0.30", "coal.natural_gas.gas_field":
        "1.2143", "coal.natural_gas.oil_field": "1.3300", "coal.gasoline.default": "1.4714", "coal.diesel.default":
        "1.4571", "coal.lpg.default": "1.7143", "coal.heat.default": "0.03412", "coal.water.working_medium": "0.0857",
        "co2.natural_gas.default": "2.162", "co2.gasoline.default": "2.925", "co2.diesel.default": "3.096",
        "co2.lpg.default": "3.101", "co2.heat.default": "0.11"}
    for fid, value in expected.items():
        assert by_id[fid].value == D(value), fid
    grid = {(f.series, f.region, f.data_year): f.value for f in SEED.factors if f.carrier == "electricity"
            and f.kind == "co2"}
    assert grid == {
        ("mee_nbs_average", "cn", 2021): D("0.5568"), ("mee_nbs_average", "cn", 2022): D("0.5366"),
        ("mee_nbs_average", "cn", 2023): D("0.5306"), ("mee_nbs_average", "east_china_grid", 2021): D("0.5992"),
        ("mee_nbs_average", "east_china_grid", 2022): D("0.5617"),
        ("mee_nbs_average", "east_china_grid", 2023): D("0.5500"), ("mee_nbs_average", "jiangsu", 2021): D("0.6451"),
        ("mee_nbs_average", "jiangsu", 2022): D("0.5978"), ("mee_nbs_excl_green", "cn", 2022): D("0.5856"),
        ("mee_nbs_excl_green", "cn", 2023): D("0.6096"), ("enterprise_reporting", "cn", 2021): D("0.5810"),
        ("enterprise_reporting", "cn", 2022): D("0.5703")}
    assert by_id["co2.natural_gas.default"].heating_value == 38931
    assert all(f.source and f.tag for f in SEED.factors)
    others = [load_data_file(p) for p in seed_paths()[1:]]
    assert [len(o.ledgers) for o in others] == [1, 0, 0]
    assert {t.id for t in others[1].targets} >= {"changzhou-2022-energy-per-capita", "national-2025-carbon-per-area"}
    assert all(q.illustrative for q in others[2].quotas)


def test_bad_files_name_the_file_the_entry_the_field_and_the_value() -> None:
    text = """
[[factor]]
id = "co2.x"
kind = "co2"
carrier = "electricity"
series = "mee_nbs_average"
region = "cn"
data_year = 2023
value = 0.5
unit = "kgCO2/m3"
status = "final"
source = "s"

[[target]]
id = "t"
region = "320400"
indicator = "energy_per_person"
year = 2022
base_year = 2021
cut = 1.5
source = "s"
"""
    with pytest.raises(CarbonFileError) as err:
        parse_data_text(text, "city.toml")
    lines = str(err.value).splitlines()
    assert "city.toml: factor[0] (co2.x): unit 'kgCO2/m3': electricity is measured in kWh or MWh" in lines
    assert any(line.startswith("city.toml: target[0] (t): cut:") and "1.5" in line for line in lines)
    with pytest.raises(CarbonFileError, match="not valid TOML"):
        parse_data_text("[[factor]\n", "x.toml")


# -- attribution and roll-up ----------------------------------------------------------------------------
def test_roll_up_splits_a_shared_contract_by_meters_and_counts_no_reduction_twice() -> None:
    """District 320211 has A and B, district 320213 has C. Contract K1 (2022-01) covers A and B (meters 1 at A,
    2 at B) and saved 9 000 kWh in Q1 2023; contract K2 (water) covers B; contract K3 (2023-01) also claims
    meter 2 for electricity: its claim is dropped, so meter 2's reduction counts once."""
    q1 = rollup.spread_by_days(D("9000"), date(2023, 1, 1), date(2023, 4, 1))
    # 31/28/31 of 90 days: 3 100, 2 800, 3 100
    assert q1 == {date(2023, 1, 1): D("3100.000"), date(2023, 2, 1): D("2800.000"), date(2023, 3, 1): D("3100")}
    march = date(2023, 3, 1)
    claims = [rollup.Claim("K1", "electricity", march, frozenset({1, 2}), (date(2022, 1, 1), "K1")),
              rollup.Claim("K3", "electricity", march, frozenset({2, 4}), (date(2023, 1, 1), "K3")),
              rollup.Claim("K2", "water", march, frozenset({3}), (date(2022, 6, 1), "K2"))]
    kept, overlaps = rollup.resolve(claims)
    assert kept[("K1", "electricity", march)] == {1, 2} and kept[("K3", "electricity", march)] == {4}
    assert [(o.contract, o.meter, o.kept_by) for o in overlaps] == [("K3", 2, "K1")]
    institution_of = {1: "A", 2: "B", 3: "B", 4: "B"}
    use = {1: D("30000"), 2: D("10000"), 4: D("5000")}
    k1 = rollup.attribute(q1[march], kept[("K1", "electricity", march)], use, institution_of)
    assert k1 == {"A": D("2325.000"), "B": D("775.000")}  # 3 100 × 30 000 / 40 000 and the remainder
    k3 = rollup.attribute(D("600"), kept[("K3", "electricity", march)], use, institution_of)
    bookings = [book(Usage(i, march, "electricity", q, "savings", contract="K1"), BOOK, EAST) for i, q in k1.items()]
    bookings += [book(Usage("B", march, "electricity", k3["B"], "savings", contract="K3"), BOOK, EAST),
                 book(Usage("B", march, "water", D("200"), "savings", contract="K2"), BOOK, EAST)]
    bookings += [book(Usage(i, march, "electricity", D(q)), BOOK, EAST) for i, q in
                 (("A", "30000"), ("B", "15000"), ("C", "8000"))]
    figures = rollup.by_institution(bookings)
    paths = {"A": "/320000/320200/320211/", "B": "/320000/320200/320211/", "C": "/320000/320200/320213/"}
    regions = rollup.roll_up(figures, paths, {k: "mee_nbs_average/east_china_grid" for k in paths})
    city, d211, d213 = regions["320200"], regions["320211"], regions["320213"]
    # B has two contracts (and a third whose overlapping claim was dropped) yet is one institution
    assert (city.institutions, d211.institutions, d213.institutions) == (3, 2, 1)
    # consumption: 53 000 kWh × 0.1229 = 6 513.7 kgce, counted once
    assert city.figures.energy_kgce == D("6513.700") == d211.figures.energy_kgce + d213.figures.energy_kgce
    # savings: K1's 3 100 kWh once + K3's 600 kWh on its own meter; × 0.5500 = 2 035 kgCO₂
    assert city.figures.savings_kgco2 == D("2035.000") and regions["320000"].figures == city.figures
    assert not city.mixed_series


def test_an_equal_split_when_no_meter_recorded_use_and_the_parts_add_up() -> None:
    assert rollup.split(D("10"), {"A": D(0), "B": D(0), "C": D(0)}) == {"A": D("3.333"), "B": D("3.333"),
                                                                        "C": D("3.334")}
    parts = rollup.split(D("1000.001"), {1: D("1"), 2: D("2"), 3: D("4")})
    assert sum(parts.values()) == D("1000.001")


# -- indicators and targets ------------------------------------------------------------------------------
def test_indicators_and_year_on_year_change() -> None:
    now = indicators.Totals(energy_kgce=D("180300"), co2_kg=D("500000"), water_m3=D("2099"),
                            floor_area_m2=D("10000"), energy_users=D("100"))
    before = indicators.Totals(energy_kgce=D("185000"), co2_kg=D("520000"), water_m3=D("2200"),
                               floor_area_m2=D("10000"), energy_users=D("100"))
    rows = {r.name: r for r in indicators.table(now, before)}
    # 180 300 / 100 = 1 803.00 kgce/person; / 10 000 m² = 18.03 kgce/m²; 2 099 / 100 = 20.99 m³/person; 50.00
    assert [rows[n].value for n in indicators.INDICATORS] == [D("1803.00"), D("18.03"), D("20.99"), D("50.00")]
    # (18.03 − 18.50) / 18.50 = −2.54 %
    assert rows["energy_per_area"].change == D("-0.0254")
    assert indicators.value(indicators.Totals(energy_kgce=D(1)), "energy_per_area") is None


def target() -> targets.Target:
    return targets.Target(id="cz", region="320400", indicator="energy_per_area", year=2022, base_year=2021,
                          cut=D("0.013"), source="test")


PRIOR = tuple(D(v) for v in (12, 10, 8, 6, 6, 10, 14, 14, 8, 4, 4, 4))  # 100 kgce/m² × area, winter and summer peaks


def test_target_status_in_each_state() -> None:
    """Base 2021: 20.00 kgce/m² → 2022 threshold 20.00 × (1 − 1.3 %) = 19.74. Area 1 000 m²."""
    t, area = target(), D("1000")

    def status(monthly: list[str], closed: bool = True) -> targets.TargetStatus:
        return targets.assess(t, 2022, targets.Progress(tuple(D(m) for m in monthly), area, PRIOR, D("20.00"),
                                                        closed=closed))

    on = status(["2300", "1900", "1500"])  # 5 700 kgce by March; prior share 30 % → forecast 19 000 → 19.00
    assert (on.status, on.threshold, on.forecast, on.basis) == ("on_track", D("19.74"), D("19.00"),
                                                                 "prior-year profile")
    risk = status(["2500", "2000", "1700"])  # 6 200 / 0.30 = 20 666.67 → 20.67 > 19.74
    assert (risk.status, risk.forecast) == ("at_risk", D("20.67"))
    # 20 000 kgce by August: 20.00 already above 19.74 — at risk, not missed: 未完成 is a verdict on a closed year
    early = status(["2500"] * 8)
    assert (early.status, early.actual) == ("at_risk", D("20.00"))
    met = status(["1600"] * 12)  # 19 200 → 19.20 ≤ 19.74
    assert (met.status, met.actual) == ("met", D("19.20"))
    assert status(["1700"] * 12).status == "missed"  # 20.40
    assert status([]).status == "no_data"
    # twelve months booked, but not every institution's (or the year not over): no verdict, a forecast
    assert (status(["1600"] * 12, closed=False).status, status(["1600"] * 12, closed=False).basis) == \
        ("on_track", "incomplete")
    assert status(["1700"] * 12, closed=False).status == "at_risk"


def test_a_multi_year_target_uses_the_straight_line_milestone() -> None:
    national = targets.Target(id="n", region="cn", indicator="carbon_per_area", year=2025, base_year=2020,
                              cut=D("0.07"), source="t")
    assert national.threshold(D("50.00"), 2023) == D("47.90")  # 50 × (1 − 0.07 × 3/5)
    with pytest.raises(ValueError, match="2021 to 2025"):
        national.threshold(D("50"), 2026)
    # no prior year: forecast by days (January = 31/365)
    share, basis = season.seasonal_share(2023, 1, ())
    assert basis == "days" and share == D(31) / D(365)
    assert season.months_booked(date(2023, 3, 31), 2023) == 3 and season.months_booked(date(2023, 3, 30), 2023) == 2


# -- quotas ----------------------------------------------------------------------------------------------
def test_a_quota_tier_crossing_warns_exactly_once_per_tier() -> None:
    """Organ quota: constraint 20 kgce/m² on 1 000 m² → 20 000 kgce a year. Prior-year profile: Jan 12 %,
    Feb 10 %, Mar 8 %, Apr 6 % … Month by month the ratio rises through 80, 90 and 100 % (100 % reached in a month
    that also crosses 90 %); every tier warns once, and again never."""
    q = quotas.Quota(id="q", region="320000", category="organ", indicator="energy_per_area", constraint=D("20"),
                     baseline=D("15"), guide=D("11"), source="t")
    lv = quotas.levels(q)
    monthly = [D("1700"), D("1700"), D("1900"), D("1800"), D("1500")]
    warned: list[tuple[int, D]] = []
    ratios = []
    for m in range(1, len(monthly) + 1):
        share, _ = season.seasonal_share(2023, m, PRIOR)
        result = quotas.check(lv, q.level, q.tiers, sum(monthly[:m], D(0)), D("1000"), share)
        assert result is not None
        ratios.append(result.ratio)
        warned += [(m, t) for t in quotas.new_tiers(result, [t for _, t in warned])]
    # Jan 1 700 / (20 000 × 0.12) = 0.7083; Feb 3 400 / 4 400 = 0.7727; Mar 5 300 / 6 000 = 0.8833;
    # Apr 7 100 / 7 200 = 0.9861; May 8 600 / 8 400 = 1.0238
    assert ratios == [D("0.7083"), D("0.7727"), D("0.8833"), D("0.9861"), D("1.0238")]
    assert warned == [(3, D("0.80")), (4, D("0.90")), (5, D("1.00"))]
    jump = quotas.check(lv, "constraint", q.tiers, D("2600"), D("1000"), D("0.12"))  # 1.0833 in January
    assert jump is not None and quotas.new_tiers(jump, []) == [D("0.80"), D("0.90"), D("1.00")]


def test_quota_corrections_and_grades() -> None:
    q = quotas.Quota(id="q", region="320000", category="hospital", indicator="energy_per_area",
                     constraint=D("45"), baseline=D("35"), guide=D("27"), source="t")
    lv = quotas.levels(q, quotas.Correction(institution="H1", quota="q", factor=D("1.2"), reason="24 h wards"))
    assert (lv.constraint, lv.guide) == (D("54.0"), D("32.4"))
    assert [quotas.grade(D(v), quotas.levels(q)) for v in ("20", "30", "40", "50")] == [
        "guide", "baseline", "constraint", "over"]
    with pytest.raises(ValueError, match="guide ≤ baseline ≤ constraint"):
        quotas.Quota(id="q", region="320000", category="organ", indicator="energy_per_area", constraint=D("1"),
                     baseline=D("2"), guide=D("3"), source="t")


# -- purity ----------------------------------------------------------------------------------------------
CORE = ("factors", "accounting", "indicators", "targets", "quotas", "rollup", "season", "coverage",
        "ledger_settings", "carbon_file")
KIT = ("emc.datafiles",)  # the pure file-reader kit every data file goes through


def test_the_core_package_holds_exactly_the_pure_modules() -> None:
    here = Path(accounting.__file__).parent
    assert {p.stem for p in here.glob("*.py")} - {"__init__"} == set(CORE)


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_no_database_and_no_web(module: str) -> None:
    source = (Path(accounting.__file__).parent / f"{module}.py").read_text(encoding="utf-8")
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    assert not {n for n in names if n.split(".")[0] in ("sqlmodel", "sqlalchemy", "fastapi", "starlette")}
    assert not {n for n in names if n.startswith("emc.") and not n.startswith("emc.carbon.core") and n not in KIT}


def test_importing_the_core_loads_no_database_and_no_web() -> None:
    """Transitively, too: the kit and everything the core imports stay off SQLAlchemy and the web."""
    import subprocess
    import sys

    code = ("import sys; " + "; ".join(f"import emc.carbon.core.{m}" for m in CORE)
            + "; print(sorted({n.split('.')[0] for n in sys.modules} & {'sqlmodel', 'sqlalchemy', 'fastapi', "
              "'starlette'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_indicators_count_an_institution_only_where_its_utility_is_metered() -> None:
    """An office with only its water metered must not dilute the region's energy per person, and offices
    without a water meter must not dilute water per person: an unmetered utility is unknown, not zero."""
    from emc.carbon.core.indicators import value
    from emc.carbon.core.rollup import Figures

    energy_only = Figures(energy_kgce=D(50_000), co2_scope2_kg=D(200_000)).with_denominators(
        D(1000), D(100))
    water_only = Figures(water_m3=D(3000)).with_denominators(D(4000), D(200))
    region = Figures.total([energy_only, water_only]).totals()
    assert value(region, "energy_per_capita") == D("500.00")  # 50,000 kgce ÷ 100, not ÷ 300
    assert value(region, "energy_per_area") == D("50.00")  # ÷ 1,000 m², not 5,000
    assert value(region, "carbon_per_area") == D("200.00")
    assert value(region, "water_per_capita") == D("15.00")  # 3,000 m³ ÷ 200, not ÷ 300
    nothing = Figures().with_denominators(D(500), D(50)).totals()
    assert value(nothing, "energy_per_capita") is None and value(nothing, "water_per_capita") is None
