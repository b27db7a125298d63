"""The carbon ledger in the database, on SQLite and PostgreSQL: rebuilt from monthly readings (local months,
main meters, units converted) and approved settlements (spread by days, split by meters, each meter's reduction
claimed once), idempotent, restated on a final factor keeping both, roll-ups, target status, over-quota warnings
once per tier, scoping, and the JSON API.

The small city (Wuxi, 320200): A (organ, 梁溪区 320213) and B (school, 梁溪区) and C (organ, 新吴区 320214).
Per month: A 10 000 kWh and 2 000 kWh of PV; B 5 MWh (plus a 1 000 kWh lighting sub-meter inside it) and 300 m³
of water; C 8 000 kWh and 1 000 m³ of gas. Contracts: K1 (ESCO owns the carbon rights) covers A and B's
electricity meters; K2 (institution) B's water meter; K3 (later, shared 40 %) claims B's electricity meter again.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, update
from sqlmodel import Session

from emc.carbon import alerts, ledger, loading
from emc.carbon.core.carbon_file import CarbonFileError
from emc.carbon.models import CarbonEntry, CarbonWarning
from emc.carbon.reads import dashboard, entries, figures, standing
from emc.contracts.models import Contract, ContractInstitution, ContractMeter, ContractVersion
from emc.metering import totals
from emc.metering.models import Meter, Reading
from emc.org.models import Esco, Institution, InstitutionYear, Role
from emc.org.scope import NotFound, Scope
from emc.org.service import load_regions, region_by_code
from emc.settlement.models import Settlement

TZ = ZoneInfo("Asia/Shanghai")
ALL = Scope.everything()
MONTHLY = {"A-E": D(10000), "A-PV": D(2000), "B-E": D(5), "B-L": D(1000), "B-W": D(300), "C-E": D(8000),
           "C-G": D(1000)}


def month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=TZ)  # local midnight: the previous day 16:00 in UTC


class City:
    def __init__(self, session: Session) -> None:
        self.s = session
        self.inst: dict[str, int] = {}
        self.meter: dict[str, int] = {}
        self.contract: dict[str, int] = {}

    def key(self, inst: str, month: str, utility: str, kind: str = "consumption", contract: str | None = None) -> str:
        c = self.contract[contract] if contract else 0
        return f"{self.inst[inst]}:{month}:{utility}:{kind}:{c}"

    def entry(self, key: str) -> CarbonEntry:
        return self.s.execute(select(CarbonEntry).where(CarbonEntry.key == key, CarbonEntry.current.is_(True))
                              ).scalar_one()

    def readings(self, years: list[int], meters: dict[str, D] | None = None) -> None:
        rows = []
        for code, value in (meters or MONTHLY).items():
            for y in years:
                for m in range(1, 13):
                    end = month_start(y + 1, 1) if m == 12 else month_start(y, m + 1)
                    rows.append({"meter_id": self.meter[code], "period_start": month_start(y, m), "period_end": end,
                                 "value": float(value)})
        self.s.execute(insert(Reading), rows)
        totals.refresh(self.s, {r["meter_id"] for r in rows})  # as every writer of readings does

    def settle(self, contract: str, start: date, end: date, utility: str, savings: str, version: int = 1,
               status: str = "approved") -> None:
        self.s.add(Settlement(number=f"{contract}-{start:%Y%m}-{version}-{status}", contract_id=self.contract[contract],
                              period_start=start, period_end=end, contract_year=1, version=version, status=status,
                              inputs={f"savings.{utility}.savings": savings, "contract": contract},
                              created_by="test"))


@pytest.fixture
def city(session: Session) -> City:
    load_regions(session)
    c = City(session)
    esco = Esco(code="E1", name="节能公司")
    session.add(esco)
    session.flush()
    for code, cat, region, area, users in (("A", "organ", "320213", 1000, 100), ("B", "school", "320213", 4000, 400),
                                           ("C", "organ", "320214", 2000, 150)):
        r = region_by_code(session, region)
        assert r is not None
        inst = Institution(code=code, name=f"单位{code}", category=cat, region_id=r.id)
        session.add(inst)
        session.flush()
        c.inst[code] = inst.id  # type: ignore[assignment]
        for y in (2022, 2023, 2024):
            session.add(InstitutionYear(institution_id=inst.id, year=y, floor_area_m2=D(area), energy_users=users))
    for code, inst, utility, unit, sub in (("A-E", "A", "electricity", "kWh", "total"), ("A-PV", "A", "pv", "kWh",
                                           "total"), ("B-E", "B", "electricity", "MWh", "total"),
                                           ("B-L", "B", "electricity", "kWh", "lighting"),
                                           ("B-W", "B", "water", "m3", "total"), ("C-E", "C", "electricity", "kWh",
                                           "total"), ("C-G", "C", "gas", "m3", "total")):
        meter = Meter(code=code, institution_id=c.inst[inst], utility=utility, unit=unit, sub_item=sub)
        session.add(meter)
        session.flush()
        c.meter[code] = meter.id  # type: ignore[assignment]
    for code, start, rights, share, insts, meters in (
            ("K1", date(2022, 1, 1), "esco", None, ("A", "B"), ("A-E", "B-E")),
            ("K2", date(2022, 6, 1), "institution", None, ("B",), ("B-W",)),
            ("K3", date(2023, 1, 1), "shared", "0.4", ("B",), ("B-E",))):
        k = Contract(code=code, name=code, type="shared_savings", esco_id=esco.id, start_date=start,
                     end_date=date(2030, 12, 31), settlement_frequency="monthly", carbon_rights=rights)
        session.add(k)
        session.flush()
        c.contract[code] = k.id  # type: ignore[assignment]
        session.add(ContractVersion(contract_id=k.id, version=1, effective_from=start, spec_hash="x",
                                    spec={"contract": {"code": code, "carbon_rights": rights,
                                                       **({"carbon_rights_esco_share": share} if share else {})}}))
        for i in insts:
            session.add(ContractInstitution(contract_id=k.id, institution_id=c.inst[i]))
        for m in meters:
            session.add(ContractMeter(contract_id=k.id, meter_id=c.meter[m]))
    c.readings([2022, 2023])
    c.settle("K1", date(2023, 1, 1), date(2023, 4, 1), "electricity", "9000")
    c.settle("K2", date(2023, 3, 1), date(2023, 4, 1), "water", "60")
    c.settle("K2", date(2023, 3, 1), date(2023, 4, 1), "water", "50", version=2)  # corrected after approval
    c.settle("K2", date(2023, 4, 1), date(2023, 5, 1), "water", "70", status="draft")  # not approved: ignored
    c.settle("K3", date(2023, 3, 1), date(2023, 4, 1), "electricity", "500")
    loading.load_seed(session, actor="test")
    session.commit()
    return c


def test_the_ledger_books_local_months_main_meters_and_converted_units(session: Session, city: City) -> None:
    report = ledger.rebuild(session, actor="test")
    session.commit()
    assert report.years == [2022, 2023] and not report.problems
    a = city.entry(city.key("A", "2023-03", "electricity"))
    # readings start at local midnight of the 1st (16:00 UTC the day before) and land in their local month
    # 10 000 kWh × 0.1229 = 1 229 kgce; × 0.5500 (East China 2023) = 5 500 kgCO₂
    assert (a.quantity, a.kgce, a.kgco2, a.scope, a.provisional) == (D("10000"), D("1229"), D("5500"), 2, False)
    assert a.co2_factor == "co2.electricity.mee_nbs_average.east_china_grid.2023@v1"
    assert a.source == "readings: 1 meter(s), 1 reading(s)"
    assert city.entry(city.key("A", "2022-03", "electricity")).kgco2 == D("5617")  # 2022 factor 0.5617
    b = city.entry(city.key("B", "2023-03", "electricity"))
    assert b.quantity == D("5000")  # 5 MWh; the lighting sub-meter is inside the main meter, not added
    gas = city.entry(city.key("C", "2023-03", "gas"))
    assert (gas.kgce, gas.kgco2, gas.scope) == (D("1214.3"), D("2162"), 1)
    water = city.entry(city.key("B", "2023-03", "water"))
    assert (water.quantity, water.kgce, water.in_energy) == (D("300"), D("0"), False)
    pv = city.entry(city.key("A", "2023-03", "pv", "generation"))
    assert (pv.kgco2, pv.in_energy) == (D("1100"), False)  # 2 000 kWh × 0.5500 avoided
    n = session.execute(select(func.count()).select_from(CarbonEntry)).scalar_one()
    assert n == report.bookings == 2 * 12 * 6 + 3 * 2 + 1  # 6 meter series; K1's 3 months × 2; K2's March


def test_savings_are_spread_split_owned_and_never_counted_twice(session: Session, city: City) -> None:
    report = ledger.rebuild(session, years=[2023], actor="test")
    session.commit()
    # K1: 9 000 kWh over Q1 by days (31/28/31 of 90) → January 3 100; split by use A 10 000 : B 5 000
    ja = city.entry(city.key("A", "2023-01", "electricity", "savings", "K1"))
    jb = city.entry(city.key("B", "2023-01", "electricity", "savings", "K1"))
    assert (ja.quantity, jb.quantity) == (D("2066.667"), D("1033.333"))
    assert ja.owner == "esco" and ja.esco_kgco2 == ja.kgco2 == D("1136.667")  # 2 066.667 × 0.55, the ESCO's
    assert city.entry(city.key("B", "2023-03", "water", "savings", "K2")).quantity == D("50")  # the v2 figure
    assert "K2-202303-2-approved" in city.entry(city.key("B", "2023-03", "water", "savings", "K2")).source
    # K3 claims B's meter for March after K1 did: dropped, said, not booked
    assert report.overlaps == ["contract K3: electricity savings of 2023-03 on meter "
                               f"{city.meter['B-E']} are already claimed by contract K1; not counted twice"]
    assert session.execute(select(func.count()).select_from(CarbonEntry).where(
        CarbonEntry.contract_id == city.contract["K3"])).scalar_one() == 0
    city_total = figures.totals(session, ALL, 2023, region_path="/320000/320200/")
    assert city_total.savings_kgce == D("9000") * D("0.1229")  # K1's 9 000 kWh once (water is not energy)
    # the ESCO owns K1's reduction; the institution K2's (water has no CO₂ factor here)
    assert city_total.esco_savings_kgco2 == city_total.savings_kgco2 == D("4950")


def test_a_rebuild_is_idempotent_and_a_final_factor_restates_keeping_both(session: Session, city: City,
                                                                          tmp_path: Path) -> None:
    ledger.rebuild(session, actor="test")
    session.commit()
    before = session.execute(select(func.count()).select_from(CarbonEntry)).scalar_one()
    again = ledger.rebuild(session, actor="test")
    assert (again.added, again.restated, again.recomputed, again.unchanged) == (0, 0, 0, again.bookings)
    assert session.execute(select(func.count()).select_from(CarbonEntry)).scalar_one() == before
    city.readings([2024], {"A-E": D(10000)})
    first = ledger.rebuild(session, years=[2024], actor="test")
    session.commit()
    jan = city.entry(city.key("A", "2024-01", "electricity"))
    assert first.provisional == 12 and jan.provisional and jan.kgco2 == D("5500")  # 2023's factor, provisional
    published = tmp_path / "final-2024.toml"
    published.write_text("""
[[factor]]
id = "co2.electricity.mee_nbs_average.east_china_grid.2024"
kind = "co2"
carrier = "electricity"
series = "mee_nbs_average"
region = "east_china_grid"
data_year = 2024
value = 0.5400
unit = "kgCO2/kWh"
status = "final"
source = "test: a 2024 figure as if published"
""", encoding="utf-8")
    loading.load_file(session, published, actor="test")
    restated = ledger.restate_on_final_factors(session, actor="test")
    session.commit()
    assert (restated.years, restated.restated, restated.provisional) == ([2024], 12, 0)
    now = city.entry(city.key("A", "2024-01", "electricity"))
    assert (now.kgco2, now.revision, now.change, now.provisional) == (D("5400"), 2, "restated", False)
    revisions = entries.history(session, ALL, now.key)
    assert [(r["revision"], r["kgco2"], r["current"]) for r in revisions] == [(1, "5500.000", False),
                                                                             (2, "5400.000", True)]
    rows = entries.restatements(session, ALL, year=2024)
    assert len(rows) == 12 and rows[0]["delta_kgco2"] == "-100.000"  # 10 000 × (0.5400 − 0.5500)
    assert rows[0]["old_provisional"] is True


def test_a_corrected_reading_is_recomputed_and_a_vanished_one_removed(session: Session, city: City) -> None:
    ledger.rebuild(session, years=[2023], actor="test")
    session.execute(update(Reading).where(Reading.meter_id == city.meter["C-E"],
                                          Reading.period_start == month_start(2023, 5)).values(value=9000.0))
    session.execute(Reading.__table__.delete().where(Reading.meter_id == city.meter["C-G"],  # type: ignore[attr-defined]
                                                     Reading.period_start == month_start(2023, 6)))
    totals.refresh(session, [city.meter["C-E"], city.meter["C-G"]])
    report = ledger.rebuild(session, years=[2023], actor="test")
    session.commit()
    assert (report.recomputed, report.removed, report.added) == (1, 1, 0)
    may = city.entry(city.key("C", "2023-05", "electricity"))
    assert (may.quantity, may.change, may.revision) == (D("9000"), "recomputed", 2)
    june_gas = city.entry(city.key("C", "2023-06", "gas"))
    assert (june_gas.change, june_gas.kgce) == ("removed", D("0"))


def test_roll_up_district_city_province_and_indicators(session: Session, city: City) -> None:
    ledger.rebuild(session, actor="test")
    session.commit()
    rolled = figures.rollup_rows(session, ALL, 2023, region_code="320200")
    districts = {c["code"]: c for c in rolled["children"]}
    assert (rolled["region"]["institutions"], districts["320213"]["institutions"],
            districts["320214"]["institutions"]) == (3, 2, 1)
    # a year of electricity 23 000 kWh/month × 12 × 0.1229 = 33 920.4 + gas 12 000 m³ × 1.2143 = 14 571.6 kgce
    assert D(rolled["region"]["figures"]["energy_kgce"]) == D("48492.000")
    assert D(districts["320213"]["figures"]["energy_kgce"]) + D(districts["320214"]["figures"]["energy_kgce"]) == \
        D("48492.000")
    assert rolled["region"]["series"] == ["mee_nbs_average/east_china_grid"] and not rolled["region"]["mixed_series"]
    a = {r.name: r for r in figures.indicator_table(session, ALL, 2023, institution_id=city.inst["A"])}
    # A: 120 000 kWh × 0.1229 = 14 748 kgce on 1 000 m² and 100 people; 2022 the same: change 0
    assert (a["energy_per_area"].value, a["energy_per_capita"].value, a["energy_per_area"].change) == (
        D("14.75"), D("147.48"), D("0"))
    # carbon per area: 120 000 × 0.5500 / 1 000 = 66.00 (2022: 0.5617 → 67.40)
    assert (a["carbon_per_area"].value, a["carbon_per_area"].previous) == (D("66.00"), D("67.40"))
    stats = {r["institution"]: r for r in figures.statistics_rows(session, ALL, 2023, region_code="320200")}
    assert stats["B"]["water_m3"] == "3600.000" and stats["B"]["water_per_capita"] == "9.00"


WX_2023_CARBON = """
[[target]]
id = "wx-2023-carbon"
region = "320200"
indicator = "carbon_per_area"
year = 2023
base_year = 2022
cut = 0.01
source = "test"
"""


def test_target_status_from_the_ledger(session: Session, city: City) -> None:
    ledger.rebuild(session, actor="test")
    loading.load_data(session, _data(WX_2023_CARBON), actor="test")
    session.commit()
    # city carbon per area 2022: (23 000 × 12 × 0.5617 + 12 000 × 2.162) / 7 000 m² = 25.85 → threshold 25.59;
    # 2023 runs at (23 000 × 0.55 + 2 162) × 12 / 7 000 = 25.39: a steady year below it
    march = {s.target.id: s for s in standing.target_status(session, ALL, 2023, region_code="320213",
                                                            as_of=date(2023, 4, 15))}
    assert march["wx-2023-carbon"].status == "on_track" and march["wx-2023-carbon"].months == 3
    assert "national-2025-carbon-per-area" in march and march["national-2025-carbon-per-area"].status == "no_data"
    whole = {s.target.id: s for s in standing.target_status(session, ALL, 2023, region_code="320200",
                                                            as_of=date(2024, 2, 1))}
    t = whole["wx-2023-carbon"]
    assert (t.status, t.base_value, t.threshold, t.actual) == ("met", D("25.85"), D("25.59"), D("25.39"))


def test_a_partial_year_is_never_read_as_a_whole_one(session: Session, city: City) -> None:
    """Issue 13, observed point 4: A and B stop in February 2023 while C reports all year. Missing months are
    unknown, not zero: year on year compares the same months, the target waits for the missing data, the
    leaderboard ranks only complete institutions, and every figure says what it stands on."""
    from sqlalchemy import delete

    partial = [city.meter[m] for m in ("A-E", "A-PV", "B-E", "B-L", "B-W")]
    session.execute(delete(Reading).where(Reading.meter_id.in_(partial), Reading.period_start >= month_start(2023, 3)))
    totals.refresh(session, partial)
    ledger.rebuild(session, actor="test")
    loading.load_data(session, _data(WX_2023_CARBON), actor="test")
    session.commit()
    d = dashboard.city_dashboard(session, ALL, region_code="320200", year=2023, as_of=date(2024, 1, 15))
    c = d["coverage"]
    # "数据覆盖 2 / 12 月，1 / 3 家单位": two months every reporting institution has, one institution complete
    assert (c["months"], c["of_months"], c["institutions_complete"], c["institutions"]) == (2, 12, 1, 3)
    assert not c["complete"]
    # every month's use is the same in both years: like for like, energy per m² did not change (not −60 %)
    area = next(i for i in d["region"]["indicators"] if i["name"] == "energy_per_area")
    assert area["change"] == "0.0000"
    target = next(t for t in d["targets"] if t["target"] == "wx-2023-carbon")
    assert target["status"] in ("on_track", "at_risk") and (target["institutions"], target["of"]) == (1, 3)
    board = standing.leaderboard(session, ALL, 2023, category="organ", region_code="320200")
    assert [(r["rank"], r["institution"], r["complete"], r["months"]) for r in board] == [
        (1, "C", True, 12), (None, "A", False, 2)]
    stats = {r["institution"]: r for r in figures.statistics_rows(session, ALL, 2023, region_code="320200")}
    assert (stats["A"]["months_covered"], stats["A"]["months_elapsed"], stats["C"]["complete"]) == (2, 12, True)
    # the same data complete: a verdict once the year is over, a forecast before
    assert {s.target.id: s.status for s in standing.target_status(session, ALL, 2023, region_code="320214",
                                                                  as_of=date(2024, 1, 15))}["wx-2023-carbon"] == "met"
    december = {s.target.id: s for s in standing.target_status(session, ALL, 2023, region_code="320214",
                                                               as_of=date(2023, 12, 20))}["wx-2023-carbon"]
    assert (december.status, december.months) == ("on_track", 11)


def _data(text: str):  # type: ignore[no-untyped-def]
    from emc.carbon.core.carbon_file import parse_data_text

    return parse_data_text(text, "test.toml")


def test_over_quota_warnings_fire_once_per_tier(session: Session, city: City) -> None:
    ledger.rebuild(session, actor="test")
    loading.load_data(session, _data("""
[[quota]]
id = "wx-organ-area"
region = "320200"
category = "organ"
indicator = "energy_per_area"
constraint = 15.5
baseline = 12
guide = 9
source = "test"
"""), actor="test")
    session.commit()
    # A: 14 748 kgce a year on 1 000 m² against the Wuxi quota (more specific than Jiangsu's 20): ratio 0.9515
    # C: (8 000 × 0.1229 + 1 214.3) × 12 / 2 000 m² = 13.185 → 0.8506. Steady months: the ratio holds.
    first = alerts.raise_quota_warnings(session, today=date(2023, 2, 10), actor="test")
    assert sorted((w["institution"], w["tier"]) for w in first.raised) == [("A", "80%"), ("A", "90%"), ("C", "80%")]
    for day in (date(2023, 2, 11), date(2023, 3, 1), date(2023, 6, 1)):
        assert alerts.raise_quota_warnings(session, today=day, actor="test").raised == []
    loading.load_data(session, _data("""
[[correction]]
institution = "A"
quota = "wx-organ-area"
factor = 0.9
reason = "test: the bureau tightened A's quota"
"""), actor="test")
    later = alerts.raise_quota_warnings(session, today=date(2023, 7, 1), actor="test")
    assert [(w["institution"], w["tier"], w["ratio"]) for w in later.raised] == [("A", "100%", "1.0572")]
    session.commit()
    stored = session.execute(select(CarbonWarning.tier_bp).where(
        CarbonWarning.institution_id == city.inst["A"])).scalars().all()
    assert sorted(stored) == [8000, 9000, 10000]
    page = entries.warnings(session, ALL, year=2023)
    assert page.total == 4 and page.rows[0]["tier"] == "100%"
    xinwu = Scope(role=Role.manager, region_path="/320000/320200/320214/")
    with pytest.raises(NotFound):  # A is in 梁溪区: not this manager's
        alerts.acknowledge(session, xinwu, page.rows[0]["id"], actor="wx-xinwu")
    seen = alerts.acknowledge(session, ALL, page.rows[0]["id"], actor="bureau")
    assert seen.acknowledged_by == "bureau" and entries.warnings(session, ALL, year=2023).rows[0]["acknowledged"]


def test_scoping_a_district_manager_and_an_esco(session: Session, city: City) -> None:
    ledger.rebuild(session, years=[2023], actor="test")
    session.commit()
    xinwu = Scope(role=Role.manager, region_path="/320000/320200/320214/")
    assert {r["institution"] for r in entries.ledger(session, xinwu, year=2023, per_page=1000).rows} == {"C"}
    esco_id = session.execute(select(Esco.id)).scalar_one()
    esco = Scope(role=Role.esco, esco_id=esco_id)
    seen = figures.totals(session, esco, 2023)
    assert seen.savings_kgce == D("9000") * D("0.1229")  # its own contracts' savings
    other = Scope(role=Role.esco, esco_id=esco_id + 1)
    assert entries.ledger(session, other, year=2023).total == 0
    with pytest.raises(NotFound):
        figures.institution(session, xinwu, "A")


def test_the_dashboard_in_one_call(session: Session, city: City) -> None:
    ledger.rebuild(session, actor="test")
    session.commit()
    d = dashboard.city_dashboard(session, ALL, region_code="320200", year=2023, as_of=date(2024, 1, 15))
    assert d["region"]["institutions"] == 3 and {c["code"] for c in d["districts"]} >= {"320213", "320214"}
    assert len(d["months"]) == 24 and d["provisional_entries"] == 0
    assert (d["coverage"]["months"], d["coverage"]["institutions_complete"], d["coverage"]["complete"]) == (12, 3, True)
    assert {t["target"] for t in d["targets"]} >= {"national-2025-energy-per-area"}
    assert d["warnings"]["total"] == 0
    board = standing.leaderboard(session, ALL, 2023, category="organ", indicator="energy_per_area",
                                region_code="320200")
    # C 13.19 kgce/m² ranks before A 14.75; both within the Jiangsu organ quota's baseline (15)
    assert [(r["rank"], r["institution"], r["value"], r["grade"]) for r in board] == [
        (1, "C", "13.19", "baseline"), (2, "A", "14.75", "baseline")]


def test_loading_is_idempotent_and_a_changed_figure_needs_a_new_version(session: Session, city: City) -> None:
    again = loading.load_seed(session, actor="test")
    assert all(not r.added and not r.updated for r in again)
    with pytest.raises(CarbonFileError, match=r"factor coal.electricity.equivalent@v1: is already loaded with other "
                                              r"figures: a changed figure is a new version \(version = 2\)"):
        loading.load_data(session, _data("""
[[factor]]
id = "coal.electricity.equivalent"
kind = "coal"
carrier = "electricity"
series = "equivalent"
value = 0.123
unit = "kgce/kWh"
status = "final"
source = "typo"
"""), actor="test")
    with pytest.raises(CarbonFileError, match="region 320999: is not loaded"):
        loading.load_data(session, _data('[[ledger]]\nregion = "320999"\nco2_series = "x"\nco2_region = "y"\n'
                                         'source = "s"\n'), actor="test")


def test_an_institution_without_a_ledger_setting_is_a_problem_not_a_default(session: Session, city: City) -> None:
    from emc.carbon.models import CarbonLedgerSetting

    session.execute(CarbonLedgerSetting.__table__.delete())  # type: ignore[attr-defined]
    report = ledger.rebuild(session, years=[2023], actor="test")
    assert report.bookings == 0 and report.problems[0].startswith("A: no ledger setting")


def test_the_json_api(session: Session, city: City, db_url: str) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from emc.web.deps import get_session, user_scope
    from emc.web.routes.carbon_api import router

    ledger.rebuild(session, actor="test")
    session.commit()
    app = FastAPI()
    app.include_router(router, prefix="/api")
    app.dependency_overrides[get_session] = lambda: session
    app.dependency_overrides[user_scope] = lambda: Scope(role=Role.manager, region_path="/320000/320200/")
    client = TestClient(app)
    dash = client.get("/api/carbon/dashboard", params={"year": 2023, "as_of": "2024-01-15"})
    assert dash.status_code == 200 and dash.json()["region"]["code"] == "320200"
    page = client.get("/api/carbon/ledger", params={"year": 2023, "institution": "A", "utility": "electricity",
                                                    "kind": "consumption", "month": "2023-03-09"}).json()
    assert [(r["kgce"], r["tce"], r["co2_factor"]) for r in page["rows"]] == [
        ("1229.000", "1.229", "co2.electricity.mee_nbs_average.east_china_grid.2023@v1")]
    assert client.get("/api/carbon/indicators", params={"year": 2023, "institution": "A"}).status_code == 200
    assert client.get("/api/carbon/leaderboards", params={"year": 2023, "category": "organ",
                                                          "indicator": "nope"}).status_code == 422
    assert len(client.get("/api/carbon/factors").json()) == 26
    assert client.get("/api/carbon/targets", params={"year": 2023}).status_code == 200


def test_the_commands(session: Session, city: City, db_url: str, tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    def emc(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "EMC_DATABASE_URL": db_url}
        return subprocess.run([sys.executable, "-c", "from emc.carbon.cli import app; app(prog_name='emc')", *args],
                              capture_output=True, text=True, env=env, timeout=300)

    session.close()
    seeded = emc("factors", "load")
    assert seeded.returncode == 0, seeded.stderr
    assert "factors 0 added, 0 updated, 26 unchanged" in seeded.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[[factor]]\nid = "x"\nkind = "coal"\ncarrier = "coal"\n', encoding="utf-8")
    refused = emc("factors", "load", str(bad))
    assert refused.returncode == 1 and "nothing was loaded" in refused.stderr
    assert f"{bad}: factor[0] (x): carrier:" in refused.stderr
    listed = emc("factors", "list")
    assert "coal.electricity.equivalent@v1" in listed.stdout and "0.1229" in listed.stdout
    rebuilt = emc("ledger", "rebuild", "--year", "2023")
    assert rebuilt.returncode == 0, rebuilt.stderr + rebuilt.stdout
    # 6 meter series × 12 months + K1's 3 months × 2 institutions + K2's March
    assert rebuilt.stdout.startswith("ledger 2023: 79 bookings") and "overlap: contract K3" in rebuilt.stdout
    warned = emc("ledger", "warnings", "--today", "2023-03-01", "--json")
    assert warned.returncode == 0, warned.stderr
    assert json.loads(warned.stdout)["raised"] == []  # the shipped (illustrative) quotas are not crossed here
    job = subprocess.run([sys.executable, "-c", "from emc.carbon import jobs; r = jobs.rebuild_ledger(); "
                          "print(r['years'], r['bookings'], r['unchanged']); print(jobs.raise_quota_warnings())"],
                         capture_output=True, text=True, env={**os.environ, "EMC_DATABASE_URL": db_url}, timeout=300)
    assert job.returncode == 0, job.stderr
    assert job.stdout.splitlines()[0] == "[2022, 2023] 151 79"  # 2023 was rebuilt above: unchanged


def test_the_refresh_follows_imports_and_approvals(session: Session, city: City) -> None:
    """The quarter-hourly job rebuilds only the years whose readings or settlements changed since the last
    rebuild: nothing changed, nothing to do; a 2024 import, 2024; an approval of a 2023 settlement, 2023."""
    from emc.dbtypes import utcnow
    from emc.metering.models import ImportBatch

    assert ledger.changed_years(session) is None  # never rebuilt: everything
    ledger.rebuild(session, actor="test")
    session.commit()
    assert ledger.changed_years(session) == [] and ledger.refresh(session, actor="test").years == []
    batch = ImportBatch(file_name="2024.csv", file_hash="h", file_size=1, uploaded_by="t", status="committed",
                        committed_at=utcnow())
    session.add(batch)
    session.flush()
    session.execute(insert(Reading), [{"meter_id": city.meter["C-E"], "period_start": month_start(2024, 1),
                                       "period_end": month_start(2024, 2), "value": 500.0, "batch_id": batch.id}])
    totals.refresh(session, [city.meter["C-E"]])
    assert ledger.changed_years(session) == [2024]
    report = ledger.refresh(session, actor="test")
    session.commit()
    assert report.years == [2024] and report.added >= 1
    assert city.entry(city.key("C", "2024-01", "electricity")).quantity == D("500")
    draft = session.execute(select(Settlement).where(Settlement.status == "draft")).scalars().first()
    assert draft is not None
    draft.status, draft.approved_at = "approved", utcnow()
    session.flush()
    assert ledger.changed_years(session) == [2023]
