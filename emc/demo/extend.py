"""The examples' meter data and weather continued to the last full month before the day the demo is built.

The shipped exports under ``baselines/`` end where they were generated (Yixing's bills in February 2025, the
hospital's and the college's data early in 2026). A bureau running the demo today expects this month's work:
statements to approve, a complete previous year and a year to date on the dashboards. So after the shipped
files are imported, every example meter and weather station is continued from its own last year — an
analogue-year continuation: interval data repeat the last 52 weeks (364 days, so weekdays and the working
pattern line up), bills repeat the last year's billing cycle (same days of the month), weather repeats the
station's last 52 weeks, each copy with a little seeded noise. The reporting data thus keep each site's
measured pattern, savings included; the baseline-period data are never touched (the approved baselines
were fitted on them). Interval data of a contract that has ended are continued as daily sums (what the
city's statistics need), running contracts keep their meters' own interval.

Deterministic: the noise of each copy is seeded by the meter (station) and the copy's number, never by the
day, so a month's data do not change from one day to the next; the files of one day are the same bytes on
every run. They are written once per day into a cache folder (``EMC_DEMO_CACHE``, default
``~/.cache/emc/demo``) and imported through the same pipeline as an upload.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from dateutil.relativedelta import relativedelta
from sqlalchemy import func
from sqlmodel import Session, col, select

from emc.config import get_settings
from emc.contracts.models import Contract, ContractMeter
from emc.metering.models import Meter, Reading, WeatherObservation, WeatherStation
from emc.money import fen

WEEKS = timedelta(days=364)
NOISE = 0.03  # relative sd of a copied reading (lognormal, mean 1)
WEATHER_NOISE = 0.4  # °C added to a copied day's mean temperature
FORMAT = 2  # bump when the files' content changes: the cache is keyed by it and the day


@dataclass(frozen=True)
class ExtensionFile:
    """One file to import: its path and what :class:`emc.metering.service.ImportOptions` needs."""

    path: Path
    kind: str = "meter"
    station: str | None = None


def target_end(today: date) -> date:
    """The first day of ``today``'s month: data run up to it (exclusive), the last full month included."""
    return today.replace(day=1)


def cache_root() -> Path:
    return Path(os.environ.get("EMC_DEMO_CACHE") or Path.home() / ".cache" / "emc" / "demo")


def extension_files(session: Session, today: date, root: Path | None = None) -> list[ExtensionFile]:
    """The continuation files for ``today`` (written on first use, then read from the cache)."""
    folder = (root or cache_root()) / f"{today.isoformat()}-v{FORMAT}"
    index = folder / "files.json"
    if not index.is_file():
        tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        files = _write(session, target_end(today), tmp)
        (tmp / "files.json").write_text(json.dumps(
            [{"file": f.path.name, "kind": f.kind, "station": f.station} for f in files], indent=1), encoding="utf-8")
        if folder.exists():  # another process was quicker: keep its (identical) files
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.rename(folder)
    return [ExtensionFile(folder / item["file"], item["kind"], item["station"])
            for item in json.loads(index.read_text(encoding="utf-8"))]


def _write(session: Session, end: date, folder: Path) -> list[ExtensionFile]:
    zone = ZoneInfo(get_settings().timezone)
    until = pd.Timestamp(datetime.combine(end, datetime.min.time(), zone))
    out: list[ExtensionFile] = []
    header = ["meter", "start", "end", "consumption", "amount"]
    by_contract: dict[str, list[list[str]]] = {}
    for code, row in _meter_rows(session, until):
        by_contract.setdefault(code, []).append(row)
    # one file per contract and kind, as an ESCO uploads its own contract's data: each batch then lies within
    # one contract's meters, and that contract's ESCO may open it (import batches are scoped by their meters)
    for code, rows in by_contract.items():
        for name, chosen, columns in ((f"{code}_readings_continued.csv", [r[:4] for r in rows if r[4] == ""], 4),
                                      (f"{code}_bills_continued.csv", [r for r in rows if r[4] != ""], 5)):
            if not chosen:
                continue
            path = folder / name
            with path.open("w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(header[:columns])
                writer.writerows(chosen)
            out.append(ExtensionFile(path))
    for code, days in _weather(session, until):
        path = folder / f"weather_{code}_continued.csv"
        days.to_csv(path, index=False, lineterminator="\n")
        out.append(ExtensionFile(path, "weather", code))
    return out


def _examples(session: Session) -> list[tuple[Meter, date | None, str]]:
    """The example contracts' meters (not the synthetic portfolio's) with the end of their contract and its code."""
    pairs = session.execute(select(Meter, func.max(Contract.end_date), func.min(Contract.code)).join(
        ContractMeter, col(ContractMeter.meter_id) == col(Meter.id)).join(
        Contract, col(Contract.id) == col(ContractMeter.contract_id)).where(
        ~col(Meter.code).startswith("SYN-")).group_by(col(Meter.id)).order_by(col(Meter.code))).all()
    return [(m, e, c) for m, e, c in pairs]


def _meter_rows(session: Session, until: pd.Timestamp) -> Iterator[tuple[str, list[str]]]:
    """(contract code, [meter, start, end, consumption, amount or \"\"]) of every example meter's continuation."""
    zone = until.tz
    for meter, contract_end, contract_code in _examples(session):
        last = session.execute(select(func.max(Reading.period_end)).where(Reading.meter_id == meter.id)).scalar()
        if last is None:
            continue
        last_ts = pd.Timestamp(last).tz_convert(zone)
        if last_ts >= until:
            continue
        frame = _readings(session, meter, last_ts - pd.Timedelta(days=366), zone)
        if frame.empty:
            continue
        per_day = bool((frame["end"] - frame["start"]).median() <= pd.Timedelta(days=1))
        if per_day:
            copies = _interval_copies(frame, last_ts, until, meter.code)
            if contract_end is not None and contract_end < last_ts.date():
                copies = _daily(copies)
        else:
            copies = _bill_copies(frame, last_ts, until, meter.code)
        costs = copies["cost"] if "cost" in copies else [None] * len(copies)
        for start, stop, value, cost in zip(copies["start"], copies["end"], copies["value"], costs, strict=True):
            # in the meter's unit (no CT ratio); a bill's amount where it has one
            yield contract_code, [meter.code, start.strftime("%Y-%m-%d %H:%M"), stop.strftime("%Y-%m-%d %H:%M"),
                                  f"{value:.4f}", "" if cost is None or cost != cost else str(cost)]


def _readings(session: Session, meter: Meter, since: pd.Timestamp, zone: object) -> pd.DataFrame:
    rows = session.execute(select(Reading.period_start, Reading.period_end, Reading.value, col(Reading.cost)).where(
        Reading.meter_id == meter.id, col(Reading.period_end) > since.to_pydatetime())
        .order_by(col(Reading.period_start))).all()
    frame = pd.DataFrame(rows, columns=["start", "end", "value", "cost"])
    if frame.empty:
        return frame
    for c in ("start", "end"):
        frame[c] = pd.to_datetime(frame[c], utc=True).dt.tz_convert(zone)  # type: ignore[arg-type]
    return frame


def _rng(key: str, copy: int) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(key.encode()), copy])


def _interval_copies(frame: pd.DataFrame, last: pd.Timestamp, until: pd.Timestamp, code: str) -> pd.DataFrame:
    """The last 52 weeks repeated (k × 364 days later) until ``until``, each copy with its own noise."""
    template = frame[frame["start"] >= last - WEEKS]
    parts, k = [], 1
    while True:
        shifted = template.assign(start=template["start"] + k * WEEKS, end=template["end"] + k * WEEKS)
        shifted = shifted[shifted["end"] <= until]
        if shifted.empty:
            break
        noise = _rng(code, k).lognormal(-NOISE ** 2 / 2, NOISE, len(template))[:len(shifted)]
        parts.append(shifted.assign(value=shifted["value"].to_numpy() * noise))
        k += 1
    return pd.concat(parts, ignore_index=True) if parts else template.iloc[0:0]


def _bill_copies(frame: pd.DataFrame, last: pd.Timestamp, until: pd.Timestamp, code: str) -> pd.DataFrame:
    """The last year's bills continued one after another from ``last``: each new bill as long as the bill a
    year before (in months and days, so calendar-month bills stay on the months' edges) with its quantity
    (and amount, at the same unit price) and a little noise. A cycle that runs past ``until`` ends there (a
    reading at the end of the last full month, as a bureau asks of a bi-monthly supplier before settling)."""
    template = frame[frame["end"] > last - relativedelta(years=1)]
    rng = _rng(code, 0)
    rows = []
    start, i = last, 0
    while len(template):
        bill = template.iloc[i % len(template)]
        end = start + relativedelta(bill["end"].to_pydatetime(), bill["start"].to_pydatetime())
        if end <= start or start >= until:
            break
        n = float(rng.lognormal(-NOISE ** 2 / 2, NOISE))
        if end > until:  # the month-end reading the bureau asks for: the cycle's last part, pro rata by days
            n *= (until - start) / (end - start)
            end = until
        cost = bill["cost"]
        # the amount moves with the quantity: the same unit price as the bill copied (to the fen)
        rows.append((start, end, float(bill["value"]) * n,
                     None if cost is None or cost != cost else fen(Decimal(str(cost)) * Decimal(f"{n:.6f}"))))
        start, i = end, i + 1
    return pd.DataFrame(rows, columns=["start", "end", "value", "cost"])


def _daily(copies: pd.DataFrame) -> pd.DataFrame:
    """Interval copies summed per local day (whole days only)."""
    if copies.empty:
        return copies
    day = copies["start"].dt.normalize()
    sums = copies.groupby(day, sort=True)["value"].sum()
    return pd.DataFrame({"start": sums.index, "end": sums.index + pd.Timedelta(days=1), "value": sums.to_numpy()})


def _weather(session: Session, until: pd.Timestamp) -> Iterator[tuple[str, pd.DataFrame]]:
    """Each station the examples use, continued from its last 52 weeks of daily means (``date,site,tmean_c``)."""
    zone = until.tz
    for station in session.execute(select(WeatherStation).order_by(col(WeatherStation.code))).scalars():
        rows = session.execute(select(WeatherObservation.period_start, WeatherObservation.temperature_c).where(
            WeatherObservation.station_id == station.id).order_by(col(WeatherObservation.period_start))).all()
        if not rows:
            continue
        days = pd.DataFrame(rows, columns=["start", "t"])
        days["start"] = pd.to_datetime(days["start"], utc=True).dt.tz_convert(zone)  # type: ignore[arg-type]
        last = days["start"].iloc[-1] + pd.Timedelta(days=1)
        if last >= until:
            continue
        template = days[days["start"] >= last - WEEKS]
        parts, k = [], 1
        while True:
            shifted = template["start"] + k * WEEKS
            keep = (shifted + pd.Timedelta(days=1) <= until).to_numpy()
            if not keep.any():
                break
            noise = _rng(f"weather:{station.code}", k).normal(0.0, WEATHER_NOISE, len(template))
            parts.append(pd.DataFrame({"date": shifted[keep].dt.strftime("%Y-%m-%d").to_numpy(),
                                       "site": station.code,
                                       "tmean_c": np.round(template["t"].to_numpy()[keep] + noise[keep], 1)}))
            k += 1
        if parts:
            yield station.code, pd.concat(parts, ignore_index=True)
