"""Read meter and weather data out of the database into the frames emc.mv expects.

Usage of a meter group (the contract's main meters of one utility; sub-meters are inside a main meter
and are never added to it) is summed per local day, hour or bill. Readings longer than a day (bills)
are spread evenly over their days and summed per calendar month: an approximation for groups of
meters on different billing cycles, stated with the result.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlmodel import Session, col

from emc.contracts.models import Contract, ContractInstitution, ContractMeter
from emc.dbtypes import epoch_us
from emc.errors import DomainError
from emc.metering.models import Meter, Reading, WeatherObservation, WeatherStation
from emc.org.models import Institution

DAY_US = 86_400 * 1_000_000


class SeriesError(DomainError, ValueError):
    pass


@dataclass
class Series:
    frame: pd.DataFrame  # usage (+ temperature for interval data) indexed by local timestamp
    granularity: str  # hourly | daily | billing
    temperature: pd.Series  # daily mean °C, indexed by local date
    meters: list[str]
    station: str
    data_hash: str
    notes: list[str]


def group_meters(session: Session, contract: Contract, utility: str) -> list[Meter]:
    return list(session.execute(
        select(Meter).join(ContractMeter, ContractMeter.meter_id == Meter.id)
        .where(ContractMeter.contract_id == contract.id, Meter.utility == utility, Meter.sub_item == "total")
        .order_by(Meter.code)).scalars())


def main_station(codes: list[str]) -> str | None:
    """The station most of a contract's institutions name (a tie: the first code in order, so every run and
    every process picks the same one); None when none names one."""
    counts = Counter(c for c in codes if c)
    return min(counts, key=lambda c: (-counts[c], c)) if counts else None


def no_station(contract: Contract) -> SeriesError:
    return SeriesError(f"no institution of {contract.code} names a weather station (weather_station in the "
                       "contract file); weather-normalised baselines need one")


def station_of(session: Session, contract: Contract) -> str:
    assert contract.id is not None  # a stored contract
    station = stations_of(session, [contract.id]).get(contract.id)
    if station is None:
        raise no_station(contract)
    return station


def stations_of(session: Session, contract_ids: list[int]) -> dict[int, str | None]:
    """Each contract's weather station (:func:`main_station` of its institutions'), in one query."""
    codes: dict[int, list[str]] = {cid: [] for cid in contract_ids}
    for cid, code in session.execute(
            select(col(ContractInstitution.contract_id), col(Institution.weather_station))
            .join(ContractInstitution, col(ContractInstitution.institution_id) == col(Institution.id))
            .where(col(ContractInstitution.contract_id).in_(contract_ids))).all():
        codes[cid].append(code)
    return {cid: main_station(found) for cid, found in codes.items()}


def _bounds(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return (datetime.combine(start, time(), tz), datetime.combine(end + timedelta(days=1), time(), tz))


BILL_REACH_DAYS = 400  # the longest bill whose part inside a span is read (bills run one or two months)


def readings_frame(session: Session, meters: list[Meter], start: date, end: date, tz: ZoneInfo, *,
                   overlapping: bool = False) -> pd.DataFrame:
    """Readings that start in [start, end]; ``overlapping``: also those that started earlier and run into it
    (bills straddling the span's first day, apportioned by the savings computation)."""
    lo, hi = _bounds(start, end, tz)
    begins, ends = col(Reading.period_start), col(Reading.period_end)
    since = [begins >= lo - timedelta(days=BILL_REACH_DAYS), ends > lo] if overlapping else [begins >= lo]
    rows = session.execute(select(col(Reading.meter_id), epoch_us(Reading.period_start),
                                  epoch_us(Reading.period_end), col(Reading.value))
                           .where(col(Reading.meter_id).in_([m.id for m in meters]), *since, begins < hi)
                           # one order whatever the physical layout (monthly partitions on PostgreSQL): float
                           # sums downstream come out the same on every run and both databases
                           .order_by(col(Reading.meter_id), col(Reading.period_start))).all()
    frame = pd.DataFrame.from_records(rows, columns=["meter_id", "start", "end", "value"])
    if len(frame):
        frame["start"] = _local(frame["start"], tz)
        frame["end"] = _local(frame["end"], tz)
    return frame


def _local(us: pd.Series, tz: ZoneInfo) -> pd.Series:
    """Epoch microseconds (:class:`emc.dbtypes.epoch_us`) as local aware timestamps."""
    return pd.to_datetime(us.astype("int64"), unit="us", utc=True).dt.tz_convert(tz)


def temperature_series(session: Session, station: str, start: date, end: date, tz: ZoneInfo) -> pd.Series:
    lo, hi = _bounds(start - timedelta(days=40), end + timedelta(days=1), tz)
    rows = session.execute(select(epoch_us(WeatherObservation.period_start), col(WeatherObservation.temperature_c))
                           .join(WeatherStation, col(WeatherStation.id) == col(WeatherObservation.station_id))
                           .where(col(WeatherStation.code) == station, col(WeatherObservation.period_start) >= lo,
                                  col(WeatherObservation.period_start) < hi)
                           .order_by(col(WeatherObservation.period_start))).all()  # one float mean, whatever the layout
    if not rows:
        raise SeriesError(f"no weather data for station {station} between {start} and {end}; import it first")
    frame = pd.DataFrame.from_records(rows, columns=["start", "t"])
    frame["day"] = _local(frame["start"], tz).dt.normalize().dt.tz_localize(None)
    return frame.groupby("day")["t"].mean().sort_index()


def load(session: Session, contract: Contract, utility: str, start: date, end: date, *, tz: str,
         granularity: str | None = None, overlapping: bool = False) -> Series:
    """The contract's usage of ``utility`` over [start, end] (inclusive local dates) with temperatures.

    ``overlapping`` (billing data of a reporting span): bills that straddle the span's edges are kept whole,
    so the savings computation can apportion them (emc.mv.apportion); without it (a baseline fit) only bills
    inside the span are used. Many contracts' series at once: emc.baselines.series_bulk (the same assembly)."""
    zone = ZoneInfo(tz)
    meters = group_meters(session, contract, utility)
    if not meters:
        raise no_meters(contract, utility)
    overlapping = overlapping and granularity == "billing"
    frame = readings_frame(session, meters, start, end, zone, overlapping=overlapping)
    if frame.empty:
        raise no_readings(contract, utility, start, end)
    station = station_of(session, contract)
    temps = temperature_series(session, station, first_weather_day(frame, start), end, zone)
    if granularity_of(frame, granularity) == "billing" and len(meters) > 1 and not overlapping:
        # days at the span's edges need the bills running into it
        frame = readings_frame(session, meters, start, end, zone, overlapping=True)
    return assemble(meters, frame, temps, start, end, station, granularity=granularity, overlapping=overlapping)


def no_meters(contract: Contract, utility: str) -> SeriesError:
    return SeriesError(f"{contract.code} has no main ({'total'}) meter of utility {utility}")


def no_readings(contract: Contract, utility: str, start: date, end: date) -> SeriesError:
    return SeriesError(f"no {utility} readings for {contract.code} between {start} and {end}")


def first_weather_day(frame: pd.DataFrame, start: date) -> date:
    """A straddling bill needs the weather of its first days."""
    return min(start, frame["start"].min().date())


def granularity_of(frame: pd.DataFrame, granularity: str | None) -> str:
    """The granularity asked for, or the readings' own (bills when they typically run over two days)."""
    if granularity:
        return granularity
    typical = float((frame["end"] - frame["start"]).dt.total_seconds().median())
    return "billing" if typical > 2 * 86_400 else "daily"


def assemble(meters: list[Meter], frame: pd.DataFrame, temps: pd.Series, start: date, end: date, station: str, *,
             granularity: str | None = None, overlapping: bool = False) -> Series:
    """The series of a meter group from its readings (``readings_frame``) and its station's daily temperatures
    (pure: the one assembly of one contract's or many contracts' reads)."""
    duration = (frame["end"] - frame["start"]).dt.total_seconds()
    chosen = granularity_of(frame, granularity)
    notes: list[str] = []
    days = pd.date_range(start, end, freq="D")
    if chosen == "billing":
        data = _billing(frame, meters, start, end, notes, overlapping=overlapping)
    elif chosen == "daily":
        frame["day"] = frame["start"].dt.normalize().dt.tz_localize(None)
        per_day = frame.groupby("day")["value"].sum()
        cover = (duration.groupby(frame["day"]).sum() / (86_400 * len(meters)))
        per_day[cover < 0.999] = np.nan  # a day without full data for every meter is missing, not low
        usage = per_day.reindex(days)
        data = pd.DataFrame({"usage": usage, "temperature": temps.reindex(days)})
    elif chosen == "hourly":
        frame["hour"] = frame["start"].dt.floor("h").dt.tz_localize(None)
        per_hour = frame.groupby("hour")["value"].sum()
        hours = pd.date_range(start, pd.Timestamp(end) + pd.Timedelta(hours=23), freq="h")
        usage = per_hour.reindex(hours)
        hourly_t = temps.reindex(hours.normalize()).to_numpy()
        data = pd.DataFrame({"usage": usage, "temperature": hourly_t}, index=hours)
        notes.append("hourly temperatures are the day's mean (the station reports daily means)")
    else:
        raise SeriesError(f"granularity must be hourly, daily or billing, not {chosen!r}")
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame[["meter_id", "start", "end", "value"]], index=False)
                            .to_numpy().tobytes()).hexdigest()
    return Series(data, chosen, temps, [m.code for m in meters], station, digest, notes)


def _billing(frame: pd.DataFrame, meters: list[Meter], start: date, end: date, notes: list[str], *,
             overlapping: bool = False) -> pd.DataFrame:
    after = pd.Timestamp(end + timedelta(days=1))
    if len(meters) == 1:
        bills = frame.sort_values("start")
        begins, ends = bills["start"].dt.tz_localize(None), bills["end"].dt.tz_localize(None)
        if overlapping:  # whole bills that share a day with the span; the savings apportion them
            keep = (begins < after) & (ends > pd.Timestamp(start))
        else:
            keep = (begins >= pd.Timestamp(start)) & (ends <= after)
        bills = bills[keep.to_numpy()]
        return pd.DataFrame({"usage": bills["value"].to_numpy(), "end": bills["end"].dt.tz_localize(None).to_numpy()},
                            index=pd.DatetimeIndex(bills["start"].dt.tz_localize(None)))
    # several meters on their own cycles: spread each bill over its days (by days: the group has no model yet
    # when it is fitted), keep the days every meter covers, and sum them per calendar month within the span
    notes.append("bills of several meters were spread evenly over their days and summed per calendar month")
    first = frame["start"].dt.tz_localize(None).dt.normalize().to_numpy().astype("datetime64[D]")
    length = (frame["end"].dt.tz_localize(None).to_numpy().astype("datetime64[D]") - first).astype(np.int64)
    keep = length > 0
    first, length = first[keep], length[keep]
    offsets = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length)
    days = pd.DatetimeIndex(np.repeat(first, length) + offsets.astype("timedelta64[D]"))
    spread = pd.DataFrame({"value": np.repeat(frame["value"].to_numpy(dtype=float)[keep] / length, length),
                           "meter": np.repeat(frame["meter_id"].to_numpy()[keep], length)}, index=days)
    per_day = spread["value"].groupby(level=0).sum()
    meters_per_day = spread["meter"].groupby(level=0).nunique()
    full = meters_per_day.reindex(per_day.index).fillna(0).to_numpy() >= len(meters)
    per_day = per_day[full & (per_day.index >= pd.Timestamp(start)) & (per_day.index < after)]
    if per_day.empty:
        return pd.DataFrame({"usage": [], "end": pd.DatetimeIndex([])}, index=pd.DatetimeIndex([]))
    # contiguous runs of complete days within each month become one row each (start, end = day after)
    day = per_day.index
    run = np.concatenate([[0], np.cumsum((day[1:] - day[:-1]) != pd.Timedelta(days=1))])
    keys = pd.MultiIndex.from_arrays([day.to_period("M"), run])
    grouped = per_day.groupby(keys)
    firsts = pd.Series(day, index=keys).groupby(level=[0, 1]).min()
    lasts = pd.Series(day, index=keys).groupby(level=[0, 1]).max()
    out = pd.DataFrame({"usage": grouped.sum().to_numpy(), "start": firsts.to_numpy(),
                        "end": (lasts + pd.Timedelta(days=1)).to_numpy()})
    if not overlapping:  # a fit uses whole calendar months only
        whole = (out["start"].dt.day == 1) & (out["end"].dt.day == 1) & \
            (out["end"] == out["start"] + pd.offsets.MonthBegin(1))
        out = out[whole.to_numpy()]
    return out.set_index(pd.DatetimeIndex(out.pop("start")))
