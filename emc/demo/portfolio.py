"""A seeded, deterministic synthetic city portfolio: institutions, ESCOs, contracts, meters, readings.

For tests, benchmarks and the demo. The default :class:`PortfolioSpec` is Wuxi-sized (415 public
institutions, ~200 contracts, ~2,000 meters, three years of daily readings). Everything is made up
but shaped like the real thing (the project's domain notes): Chinese names, the category mix
of a city's public institutions, every contract type in realistic proportions, county custody
packages, institutions with an energy and a water contract, baselines that agree with the readings,
and consumption driven by a Yangtze-delta temperature curve, the Chinese working-day calendar and a
retrofit saving after each contract's start.

Every code starts with ``SYN-`` so synthetic data is never confused with the real-shaped examples.
Contracts go in through :func:`emc.contracts.service.load_contract` (the one way contracts get in);
readings are bulk-inserted with SQLAlchemy Core. :func:`generate` refuses a database that already
holds a synthetic portfolio (it never adds a second one). Like a service it never commits.

Same spec and seed → identical contracts, meters and readings; the contract/meter structure does not
depend on ``interval``, so a ``none`` run and a ``daily`` run describe the same portfolio.
"""


from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import timedelta
from time import perf_counter

import numpy as np
import pandas as pd
from sqlalchemy import func, insert
from sqlmodel import Session, select

from emc import clock
from emc.audit import service as audit
from emc.contracts.models import Contract
from emc.contracts.service import load_contract
from emc.db import analyze
from emc.demo.climate import climate_drivers
from emc.demo.contract_file import contract_file
from emc.demo.institutions import institutions
from emc.demo.meters import meters_for, statistics_meters
from emc.demo.names import escos_for
from emc.demo.plan import Plan, d
from emc.demo.readings import write_readings
from emc.demo.shapes import contract_shapes
from emc.demo.spec import PREFIX, TIMEZONE, WEATHER_STATION, PortfolioSpec
from emc.metering import totals
from emc.metering.models import Meter, WeatherObservation, WeatherStation
from emc.metering.partitions import ensure_partitions
from emc.org import service as org
from emc.org.models import Institution, Region


class SyntheticError(RuntimeError):
    pass



@dataclass
class PortfolioSummary:
    city: str
    regions_added: int
    institutions: int
    institutions_under_contract: int
    escos: int
    contracts: int
    contracts_by_type: dict[str, int]
    meters: int
    meters_by_utility: dict[str, int]
    periods: int
    readings: int
    spec_digest: str  # sha256 over the contracts' spec hashes: equal digests, equal terms
    seconds_parties: float = 0.0
    seconds_readings: float = 0.0

    def lines(self) -> list[str]:
        types = ", ".join(f"{k} {v}" for k, v in self.contracts_by_type.items())
        utils = ", ".join(f"{k} {v}" for k, v in self.meters_by_utility.items())
        return [
            f"city {self.city}: {self.institutions} institutions "
            f"({self.institutions_under_contract} under contract), {self.escos} ESCOs",
            f"contracts {self.contracts}: {types}",
            f"meters {self.meters}: {utils}",
            f"readings {self.readings:,} ({self.periods} periods per meter)",
            f"spec digest {self.spec_digest[:16]}",
            f"time: contracts and parties {self.seconds_parties:.1f} s, "
            f"readings {self.seconds_readings:.1f} s",
        ]


# ---------------------------------------------------------------------------------------------
# The plan: pure data, no database


def plan(spec: PortfolioSpec, city_name: str = "无锡市", districts: dict[str, str] | None = None) -> Plan:
    """Everything :func:`generate` will write, as data (no database). ``districts``: code → name."""
    districts = dict(sorted((districts or {}).items()))
    s_struct, s_weather, s_files = (np.random.default_rng(s)
                                    for s in np.random.SeedSequence(spec.seed).spawn(3))
    climate = climate_drivers(spec, s_weather)
    insts = institutions(spec, s_struct, city_name, districts)
    contracts = contract_shapes(spec, s_struct, insts)
    meters = meters_for(spec, s_struct, insts, contracts)
    city_short = city_name.removesuffix("市")
    escos = escos_for(s_struct, contracts, city_short)
    station = WEATHER_STATION if spec.weather else ""
    files = [contract_file(s_files, c, insts, meters, escos, climate, districts, city_short, station)
             for c in contracts]
    if spec.meter_every_institution:
        meters = meters + statistics_meters(insts, meters)
    return Plan(spec, insts, contracts, meters, files, escos, climate)


# ---------------------------------------------------------------------------------------------
# Into the database
# ---------------------------------------------------------------------------------------------


def existing_portfolio(session: Session) -> tuple[int, int]:
    """How many synthetic (``SYN-``) institutions and contracts the database holds."""
    insts = session.exec(select(func.count()).select_from(Institution)
                         .where(Institution.code.startswith(PREFIX))).one()  # type: ignore[attr-defined]
    contracts = session.exec(select(func.count()).select_from(Contract)
                             .where(Contract.code.startswith(PREFIX))).one()  # type: ignore[attr-defined]
    return insts, contracts


def generate(session: Session, spec: PortfolioSpec | None = None, *,
             actor: str = "generator") -> PortfolioSummary:
    """Write a synthetic portfolio into an empty-of-synthetics database; the caller commits.

    Refuses (:class:`SyntheticError`) if any ``SYN-`` institution or contract exists already: a
    second run would otherwise have to guess whether to add, replace or merge.
    """
    spec = spec or PortfolioSpec()
    t0 = perf_counter()
    n_inst, n_contracts = existing_portfolio(session)
    if n_inst or n_contracts:
        raise SyntheticError(
            f"this database already holds a synthetic portfolio ({n_inst} {PREFIX} institutions, "
            f"{n_contracts} {PREFIX} contracts); generate into a fresh database instead")
    regions_added = 0
    if org.region_by_code(session, spec.city) is None:
        regions_added = org.load_regions(session)
    city = org.region_by_code(session, spec.city)
    if city is None:
        raise SyntheticError(f"city {spec.city!r} is not in the shipped regions; "
                             "load it with `emc regions load`")
    children = session.exec(select(Region).where(Region.parent_id == city.id)).all()
    p = plan(spec, city.name, {r.code: r.name for r in children})
    _write_parties(session, p, actor)
    t1 = perf_counter()

    readings, periods = 0, 0
    if spec.interval != "none" and p.meters:
        found = session.exec(select(Meter.code, Meter.id)
                             .where(Meter.code.startswith(PREFIX))).all()  # type: ignore[attr-defined]
        ids = {code: int(mid) for code, mid in found if mid is not None}
        rng = np.random.default_rng(np.random.SeedSequence(spec.seed).spawn(4)[3])
        readings, periods = write_readings(session, p, ids, rng)
        totals.refresh(session, set(ids.values()))  # the monthly totals, in the same transaction as the readings
        if spec.weather:
            _write_weather(session, p)
    # years of history landed in reading's DEFAULT partition (PostgreSQL): each month gets its own, as the daily
    # job would, so queries prune by month from the start
    ensure_partitions(session.connection(), clock.today())
    analyze(session)  # every table it filled: the planner must not take them for empty (autovacuum may be off)
    t2 = perf_counter()

    return PortfolioSummary(
        city=spec.city, regions_added=regions_added, institutions=len(p.institutions),
        institutions_under_contract=len(p.covered), escos=len({c.esco for c in p.contracts}),
        contracts=len(p.files), contracts_by_type=dict(Counter(c.type for c in p.contracts).most_common()),
        meters=len(p.meters), meters_by_utility=dict(Counter(m.utility for m in p.meters).most_common()),
        periods=periods, readings=readings, spec_digest=p.spec_digest(),
        seconds_parties=t1 - t0, seconds_readings=t2 - t1)


def _write_weather(session: Session, p: Plan) -> None:
    """The city's station with one daily mean temperature per local day of the window (the climate the
    readings were drawn from), so the portfolio's baselines fit on the weather that drove them."""
    station = WeatherStation(code=WEATHER_STATION, name=f"{p.spec.city} synthetic station")
    session.add(station)
    session.flush()
    bounds = pd.date_range(pd.Timestamp(p.spec.start), pd.Timestamp(p.spec.end), freq="D", tz=TIMEZONE)
    w0 = p.climate.index(p.spec.start)
    temps = np.round(p.climate.temperature[w0:w0 + len(bounds) - 1], 2).tolist()
    edges = list(bounds.tz_convert("UTC").to_pydatetime())
    session.execute(insert(WeatherObservation.__table__), [  # type: ignore[attr-defined]
        {"station_id": station.id, "period_start": s, "period_end": e, "temperature_c": t, "batch_id": None}
        for s, e, t in zip(edges[:-1], edges[1:], temps, strict=True)])


def _write_parties(session: Session, p: Plan, actor: str) -> None:
    """Contracts through :func:`load_contract` (the one way in), every institution's yearly master data, the
    statistics meters no contract brings, and the audit record of the run."""
    spec = p.spec
    source = f"synthetic(seed={spec.seed})"
    for f in p.files:
        result = load_contract(session, f, source=f"{source}/{f.contract.code}", actor=actor)
        if result.action != "created":  # cannot happen after the check above; never silently merge
            raise SyntheticError(f"{f.contract.code}: expected a new contract, got {result}")
    region_ids = {r.code: r.id for r in session.exec(select(Region)).all()}
    by_code = {i.code: i for i in session.exec(select(Institution)
                                               .where(Institution.code.startswith(PREFIX))).all()}  # type: ignore[attr-defined]
    inst_ids: dict[int, int] = {}
    for inst in p.institutions:
        row = by_code.get(inst.code)
        if row is None:
            row = org.upsert_institution(session, inst.code, {
                "name": inst.name, "category": inst.category, "region_id": region_ids[inst.region],
                "address": inst.address}, actor=actor)
        for year in range(spec.start.year, (spec.end - timedelta(days=1)).year + 1):
            org.ensure_institution_year(session, row, year, d(inst.area, 0), inst.users)
        session.flush()
        inst_ids[inst.idx] = int(row.id)  # type: ignore[arg-type]
    for m in p.meters:
        if m.contract < 0:  # statistics meters: no contract brings them in
            session.add(Meter(code=m.code, name=m.name, institution_id=inst_ids[m.inst], utility=m.utility,
                              unit="kWh" if m.utility == "electricity" else "m3", sub_item="total"))
    audit.record(session, actor=actor, action="synthetic.generate", object_type="portfolio",
                 object_id=f"seed={spec.seed}", after={k: str(v) for k, v in asdict(spec).items()},
                 reason="synthetic data for tests, benchmarks and the demo")
    session.flush()
