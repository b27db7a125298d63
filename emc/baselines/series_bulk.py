"""Many contracts' reporting series over one span, read with one query per kind.

The drafting job settles thousands of contracts a month; reading each one's meters, station, readings and
weather on its own cost about a dozen statements per contract (README, Performance). Here a chunk of
contracts is read at once — their main meters, their stations, the readings of all their meters, and each
station's temperatures once over the widest days any of them needs — and each contract's series is cut
from those and put together by the one assembly :func:`emc.baselines.series.load` uses
(:func:`emc.baselines.series.assemble`). The cut is exact: the rows of a contract come out in the order its
own query returns them (by meter, then start), so the series, its data hash and every figure computed from
it are the same as one contract's read (tests/test_settlement_bulk.py compares them).
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlmodel import Session, col

from emc.baselines.series import (
    Series,
    SeriesError,
    assemble,
    first_weather_day,
    no_meters,
    no_readings,
    no_station,
    readings_frame,
    stations_of,
    temperature_series,
)
from emc.contracts.models import Contract, ContractMeter
from emc.metering.models import Meter

Wanted = tuple[Contract, str, str]  # a contract, a utility, the granularity of its approved baseline


def meters_of(session: Session, contract_ids: list[int], utilities: list[str]) -> dict[tuple[int, str], list[Meter]]:
    """Each (contract, utility)'s main meters, ordered by code (as :func:`series.group_meters`), in one query."""
    groups: dict[tuple[int, str], list[Meter]] = {}
    of_contract = col(ContractMeter.meter_id) == col(Meter.id)
    for cid, meter in session.execute(
            select(col(ContractMeter.contract_id), Meter).join(ContractMeter, of_contract)
            .where(col(ContractMeter.contract_id).in_(contract_ids), col(Meter.utility).in_(utilities),
                   col(Meter.sub_item) == "total").order_by(col(ContractMeter.contract_id), col(Meter.code))).all():
        groups.setdefault((cid, meter.utility), []).append(meter)
    return groups


def _id(contract: Contract) -> int:
    assert contract.id is not None  # a stored contract
    return contract.id


def _cut(frame: pd.DataFrame, meter_ids: np.ndarray, meters: list[Meter]) -> pd.DataFrame:
    """The rows of ``meters`` from a frame ordered by (meter, start), in that order (a meter group's own read)."""
    rows = [np.arange(np.searchsorted(meter_ids, m, "left"), np.searchsorted(meter_ids, m, "right"))
            for m in sorted(m.id for m in meters if m.id is not None)]
    return frame.iloc[np.concatenate(rows) if rows else np.arange(0)].reset_index(drop=True)


def load_many(session: Session, wanted: list[Wanted], start: date, end: date, *,
              tz: str) -> dict[tuple[int, str], Series | SeriesError]:
    """The reporting series of each wanted (contract, utility) over [start, end] (inclusive local dates) —
    what ``series.load(..., granularity=g, overlapping=True)`` returns for each, or the error it raises."""
    zone = ZoneInfo(tz)
    ids = sorted({_id(c) for c, _, _ in wanted})
    groups = meters_of(session, ids, sorted({u for _, u, _ in wanted}))
    stations = stations_of(session, ids)
    frames: dict[bool, pd.DataFrame] = {}
    for billed in (False, True):  # a billing baseline's span keeps the bills running into it (overlapping)
        read = {m.id: m for c, u, g in wanted if (g == "billing") == billed for m in groups.get((_id(c), u), [])}
        if read:
            frames[billed] = readings_frame(session, list(read.values()), start, end, zone, overlapping=billed)
    out: dict[tuple[int, str], Series | SeriesError] = {}
    cut: dict[tuple[int, str], tuple[pd.DataFrame, str, date]] = {}
    for contract, utility, granularity in wanted:
        key = (_id(contract), utility)
        meters, station = groups.get(key, []), stations[key[0]]
        if not meters:
            out[key] = no_meters(contract, utility)
            continue
        whole = frames[granularity == "billing"]
        frame = _cut(whole, whole["meter_id"].to_numpy(), meters)
        if frame.empty:
            out[key] = no_readings(contract, utility, start, end)
        elif station is None:
            out[key] = no_station(contract)
        else:
            cut[key] = (frame, station, first_weather_day(frame, start))
    needed: dict[str, date] = {}
    for _, station, first in cut.values():
        needed[station] = min(first, needed.get(station, first))
    weather = _temperatures(session, needed, end, zone)
    for contract, utility, granularity in wanted:
        key = (_id(contract), utility)
        if key not in cut:
            continue
        frame, station, first = cut[key]
        # the days series.temperature_series reads for this contract: 40 before its first day to the day after
        wide = weather.get(station, pd.Series(dtype=float))
        temps = wide.loc[pd.Timestamp(first - timedelta(days=40)):pd.Timestamp(end + timedelta(days=1))]
        if temps.empty:
            out[key] = SeriesError(f"no weather data for station {station} between {first} and {end}; import it "
                                   "first")
            continue
        out[key] = assemble(groups[key], frame, temps, start, end, station,
                            granularity=granularity, overlapping=granularity == "billing")
    return out


def _temperatures(session: Session, firsts: dict[str, date], end: date, zone: ZoneInfo) -> dict[str, pd.Series]:
    """Each station's daily mean temperatures from its earliest needed day, read once."""
    found: dict[str, pd.Series] = {}
    for station, first in firsts.items():
        try:
            found[station] = temperature_series(session, station, first, end, zone)
        except SeriesError:
            continue  # each contract of the station says so
    return found
