#!/usr/bin/env python3
"""Generate SYNTHETIC weather and meter exports for the example contracts in ``contracts/``.

For every example contract this writes ``baselines/<contract code>/``:

* ``weather.csv``: daily mean temperature built from approximate monthly climate normals plus seeded
  AR(1) day-to-day anomalies (regionally correlated between Wuxi, Changzhou and Yixing);
* meter exports for the baseline period and the first two contract years, in the shapes ESCO monitoring
  platforms and utilities really send (GBK CSV with Chinese headers and raw cumulative registers, XLSX in a
  wide layout, UTF-8-with-BOM long CSV, monthly / bi-monthly bills with start and end dates);
* ``truth_daily_<utility>.csv``: per meter and day, the counterfactual (no retrofit) and the actual use, so
  M&V code can be tested for recovery of the known savings;
* ``README.md`` describing the files and the true model parameters.

Nothing here is real meter data. The load model of each site is written below (``site_*`` functions);
totals are scaled so that each contract's ``[baseline.use]`` equals the simulated baseline-period total.
Meter codes come from the contract files and are checked against them.

The script is deterministic: the same ``--seed`` gives byte-identical CSV files (XLSX files carry no
timestamps either). Dependencies: Python 3.11+, numpy, pandas, openpyxl, chinese_calendar.

Usage::

    python scripts/gen_baselines.py                    # all five examples into baselines/
    python scripts/gen_baselines.py --only WX-SMZX-2018 --seed 7 --out /tmp/b
"""

from __future__ import annotations

import argparse
import functools
import math
import tomllib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from chinese_calendar import is_workday
from openpyxl import Workbook
from openpyxl.styles import Font

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SEED = 20240501
GENERATOR = "scripts/gen_baselines.py"

# --------------------------------------------------------------------------------------------------
# Climate normals (monthly mean air temperature, degC, Jan..Dec).
# APPROXIMATE values, rounded, in the range of the China Meteorological Administration (CMA) 1991-2020
# normals as reproduced in public secondary summaries (e.g. the climate tables of the Wikipedia articles
# on Wuxi and Changzhou, which cite CMA). They were NOT checked against the CMA dataset itself; they only
# need to give a realistic seasonal cycle for synthetic data. Yixing has no series here we could cite: its
# normals are taken as Wuxi's adjusted by -0.2..+0.1 degC (Yixing lies ~40 km SW of Wuxi on Lake Tai's west
# shore), an assumption.
# --------------------------------------------------------------------------------------------------
NORMALS: dict[str, dict] = {
    "wuxi": {
        "label": "Wuxi, CMA station 58354",
        "station": "58354",
        "tmean": [4.3, 6.6, 10.8, 16.5, 21.8, 25.3, 28.9, 28.4, 24.4, 18.9, 12.7, 6.4],
        "source": "CMA 1991-2020 normals for Wuxi (58354), approximate, via public secondary summaries",
    },
    "changzhou": {
        "label": "Changzhou, CMA station 58343",
        "station": "58343",
        "tmean": [4.0, 6.4, 10.7, 16.5, 21.8, 25.4, 28.8, 28.2, 24.1, 18.6, 12.3, 6.0],
        "source": "CMA 1991-2020 normals for Changzhou (58343), approximate, via public secondary summaries",
    },
    "yixing": {
        "label": "Yixing (no verified station id; approximate series)",
        "station": "",
        "tmean": [4.1, 6.4, 10.6, 16.4, 21.7, 25.2, 28.8, 28.4, 24.3, 18.8, 12.5, 6.2],
        "source": "assumption: Wuxi's approximate normals adjusted by -0.2..+0.1 degC; not a published series",
    },
}
# Day-to-day anomaly model: regional AR(1) shared by all three sites + a small local AR(1).
AR_PHI_REGIONAL = 0.72
AR_PHI_LOCAL = 0.5
LOCAL_SD = 0.5
WEATHER_START, WEATHER_END = date(2016, 1, 1), date(2026, 12, 31)


def anomaly_sd(doy: np.ndarray) -> np.ndarray:
    """Stationary s.d. of the daily-mean anomaly: ~3.0 degC in mid-winter, ~1.4 degC in mid-summer."""
    return 2.2 + 0.8 * np.cos(2 * np.pi * (doy - 15) / 365.25)


# Lunar New Year's day (春节), used for school winter vacations. Dates are well known; 2016-2026.
SPRING_FESTIVAL = {
    2016: date(2016, 2, 8), 2017: date(2017, 1, 28), 2018: date(2018, 2, 16), 2019: date(2019, 2, 5),
    2020: date(2020, 1, 25), 2021: date(2021, 2, 12), 2022: date(2022, 2, 1), 2023: date(2023, 1, 22),
    2024: date(2024, 2, 10), 2025: date(2025, 1, 29), 2026: date(2026, 2, 17), 2027: date(2027, 2, 6),
}


def rng_for(seed: int, *names: str) -> np.random.Generator:
    """An independent, reproducible random stream per (seed, names): adding a site never shifts another."""
    return np.random.default_rng([seed] + [zlib.crc32(n.encode()) for n in names])


# --------------------------------------------------------------------------------------------------
# Weather
# --------------------------------------------------------------------------------------------------
def _climatology(normals: list[float], days: pd.DatetimeIndex) -> np.ndarray:
    """Smooth annual cycle (3 harmonics) whose monthly means reproduce the normals (least squares)."""
    ref = pd.date_range("2001-01-01", "2001-12-31", freq="D")
    t_ref = 2 * np.pi * (ref.day_of_year.to_numpy() - 0.5) / 365.0

    def basis(t: np.ndarray) -> np.ndarray:
        cols = [np.ones_like(t)]
        for k in (1, 2, 3):
            cols += [np.cos(k * t), np.sin(k * t)]
        return np.stack(cols, axis=1)

    b_ref = basis(t_ref)
    month_means = np.stack([b_ref[ref.month == m].mean(axis=0) for m in range(1, 13)])
    coef, *_ = np.linalg.lstsq(month_means, np.asarray(normals), rcond=None)
    doy = np.minimum(days.day_of_year.to_numpy(), 365)
    return basis(2 * np.pi * (doy - 0.5) / 365.0) @ coef


def _ar1(rng: np.random.Generator, n: int, phi: float, sd: np.ndarray | float) -> np.ndarray:
    sd = np.broadcast_to(np.asarray(sd, dtype=float), (n,))
    eps = rng.standard_normal(n)
    out = np.empty(n)
    out[0] = sd[0] * eps[0]
    innov = math.sqrt(1 - phi * phi)
    for i in range(1, n):
        out[i] = phi * out[i - 1] * (sd[i] / sd[i - 1]) + innov * sd[i] * eps[i]
    return out


_WEATHER_CACHE: dict[tuple[int, str], pd.Series] = {}


def station_weather(seed: int, site: str) -> pd.Series:
    """Daily mean temperature (degC, 0.1 resolution) for one site, 2016-2026, deterministic per seed."""
    key = (seed, site)
    if key not in _WEATHER_CACHE:
        days = pd.date_range(WEATHER_START, WEATHER_END, freq="D")
        sd = anomaly_sd(days.day_of_year.to_numpy())
        regional = _ar1(rng_for(seed, "weather", "regional"), len(days), AR_PHI_REGIONAL,
                        np.sqrt(sd**2 - LOCAL_SD**2))
        local = _ar1(rng_for(seed, "weather", site), len(days), AR_PHI_LOCAL, LOCAL_SD)
        temps = _climatology(NORMALS[site]["tmean"], days) + regional + local
        _WEATHER_CACHE[key] = pd.Series(np.round(temps, 1), index=days, name="tmean_c")
    return _WEATHER_CACHE[key]


# --------------------------------------------------------------------------------------------------
# Load model
# --------------------------------------------------------------------------------------------------
# 24-hour shapes (relative; normalised per day). Local time Asia/Shanghai, index = hour starting.
P = {
    "flat": [1.0] * 24,
    "office_work": [.30, .28, .27, .27, .28, .32, .45, .75, 1.0, 1.05, 1.05, 1.0, .85, .95, 1.05, 1.05, 1.0,
                    .85, .6, .5, .45, .4, .35, .32],
    "office_off": [.5, .48, .47, .47, .48, .5, .55, .65, .8, .9, .95, .95, .9, .9, .9, .9, .85, .8, .7, .65,
                   .6, .57, .54, .52],
    "hvac_work": [.03, .03, .03, .03, .03, .05, .3, .9, 1.1, 1.1, 1.05, 1.0, .95, 1.05, 1.15, 1.15, 1.05, .8,
                  .3, .1, .05, .04, .03, .03],
    "hvac_off": [.1, .1, .1, .1, .1, .1, .15, .3, .6, .8, .9, .9, .85, .9, .9, .85, .7, .4, .2, .15, .1, .1,
                 .1, .1],
    "hosp_light": [.35, .3, .3, .3, .3, .35, .6, .9, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, .95, .9, .85, .7, .5, .4],
    "hosp_power_work": [.7, .68, .67, .67, .68, .72, .85, 1.05, 1.2, 1.25, 1.25, 1.2, 1.1, 1.15, 1.2, 1.2,
                        1.1, 1.0, .9, .85, .8, .78, .75, .72],
    "hosp_power_off": [.8, .78, .77, .77, .78, .8, .85, .95, 1.02, 1.05, 1.05, 1.03, 1.0, 1.0, 1.0, 1.0,
                       .98, .95, .92, .9, .88, .85, .83, .82],
    "cool_24h": [.55, .5, .48, .47, .47, .5, .6, .75, .9, 1.0, 1.1, 1.2, 1.3, 1.35, 1.4, 1.4, 1.35, 1.25,
                 1.1, .95, .85, .75, .68, .6],
    "heat_24h": [1.1, 1.15, 1.2, 1.2, 1.25, 1.3, 1.35, 1.3, 1.2, 1.05, .95, .85, .8, .75, .75, .78, .82, .9,
                 .95, 1.0, 1.0, 1.02, 1.05, 1.08],
    "gas_kitchen_work": [.05, .05, .05, .05, .1, .5, 1.4, 1.3, 1.0, 1.2, 1.8, 1.5, .6, .5, .5, 1.0, 1.6, 1.2,
                         .4, .2, .1, .08, .05, .05],
    "gas_kitchen_off": [.1, .1, .1, .1, .15, .4, .9, .9, .7, .8, 1.1, 1.0, .6, .5, .5, .7, 1.0, .9, .5, .3,
                        .2, .15, .1, .1],
    "hosp_gas": [.55, .5, .5, .5, .55, .8, 1.2, 1.4, 1.4, 1.3, 1.3, 1.3, 1.1, 1.1, 1.2, 1.2, 1.2, 1.2, 1.0,
                 .9, .8, .7, .65, .6],
    "water_office_work": [.05, .04, .04, .04, .05, .1, .35, .9, 1.2, 1.1, 1.1, 1.5, 1.3, .9, 1.0, 1.0, .95,
                          .7, .4, .25, .15, .1, .08, .06],
    "water_off": [.2, .18, .17, .17, .18, .25, .45, .7, .9, 1.0, 1.0, 1.1, 1.0, .9, .9, .9, .85, .8, .7, .6,
                  .5, .4, .3, .25],
    "dorm_shower": [.3, .15, .08, .05, .05, .2, .9, 1.0, .5, .3, .25, .3, .45, .35, .3, .3, .4, .7, 1.2, 1.8,
                    2.2, 2.4, 2.0, 1.0],
    "canteen_water": [0, 0, 0, 0, .1, .8, 1.8, 1.5, .5, .4, 1.2, 2.2, 1.5, .4, .3, .4, 1.3, 2.0, 1.2, .5,
                      .2, .1, 0, 0],
    "irrigation": [0, 0, 0, 0, .5, 1.5, 2.5, 2, .5, 0, 0, 0, 0, 0, 0, 0, .3, 1.5, 2.2, 1.5, .3, 0, 0, 0],
    "school_work": [.25, .23, .22, .22, .23, .3, .55, .9, 1.05, 1.05, 1.05, 1.0, .9, 1.0, 1.05, 1.05, .95,
                    .8, .65, .6, .5, .4, .32, .28],
    "venue": [.3, .28, .27, .27, .28, .3, .4, .6, .9, 1.1, 1.15, 1.15, 1.1, 1.15, 1.2, 1.2, 1.2, 1.2, 1.25,
              1.25, 1.1, .8, .5, .35],
}


@dataclass
class Term:
    """One additive part of a load, daily: base level, or slope x degree-days x usage factor."""

    name: str
    kind: str  # "base" | "cool" | "heat"
    level: dict[str, float]  # base: amount/day per day type; cool/heat: usage factor per day type
    profile: dict[str, str]  # day type -> 24-h shape name
    slope: float = 0.0  # per degC-day (cool / heat)
    balance: float = 0.0  # degC (daily mean)
    savings: tuple[float, float] = (0.0, 0.0)  # fraction saved in contract year 1, 2
    scaled: bool = True  # False: a measured quantity that calibration must not rescale (a leak)
    note: str = ""


@dataclass
class Load:
    key: str
    utility: str
    unit: str
    terms: list[Term]
    daily_sigma: float  # multiplicative day-to-day noise (lognormal sigma), same for all terms
    daytypes: Callable[[pd.DatetimeIndex], np.ndarray]
    target: float | None = None  # baseline-period total of the target meters
    target_meters: list[str] = field(default_factory=list)
    growth: Callable[[pd.DatetimeIndex], np.ndarray] | None = None  # non-routine multiplier (1 = none)
    growth_note: str = ""


@dataclass
class MeterDef:
    code: str
    load: str
    weights: dict[str, float]  # term name -> weight (share of that term metered here)
    hourly_sigma: float = 0.04
    split_group: str | None = None  # meters of one group share the group total with daily jitter
    split_share: float = 1.0
    split_jitter: float = 0.0


@dataclass
class Site:
    code: str
    folder: Path
    contract: dict
    weather_site: str
    data_start: date
    data_end: date  # inclusive
    baseline: tuple[date, date]
    contract_start: date
    loads: dict[str, Load]
    meters: list[MeterDef]
    periods: list[tuple[str, date, date]]  # (label, start, end inclusive)
    extra: dict = field(default_factory=dict)


# Day types -------------------------------------------------------------------------------------------
@functools.cache
def workday(d: date) -> bool:
    return is_workday(d)


def office_daytypes(days: pd.DatetimeIndex) -> np.ndarray:
    return np.array(["work" if workday(d.date()) else "off" for d in days])


def _winter_break(year: int) -> tuple[date, date]:
    sf = SPRING_FESTIVAL[year]
    return max(date(year, 1, 10), sf - timedelta(days=21)), sf + timedelta(days=17)


def school_daytypes(days: pd.DatetimeIndex, summer: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """term_work / term_off (weekend or holiday in term) / vac (winter and summer vacations)."""
    out = []
    for ts in days:
        d = ts.date()
        wb0, wb1 = _winter_break(d.year)
        s0, s1 = date(d.year, *summer[0]), date(d.year, *summer[1])
        if wb0 <= d <= wb1 or s0 <= d <= s1:
            out.append("vac")
        else:
            out.append("term_work" if workday(d) else "term_off")
    return np.array(out)


def college_daytypes(days: pd.DatetimeIndex) -> np.ndarray:
    return school_daytypes(days, ((7, 6), (8, 31)))


def k12_daytypes(days: pd.DatetimeIndex) -> np.ndarray:
    return school_daytypes(days, ((7, 1), (8, 31)))


# Simulation ------------------------------------------------------------------------------------------
@dataclass
class Result:
    days: pd.DatetimeIndex
    temps: np.ndarray
    year_index: np.ndarray  # 0 before the contract, 1, 2, ... contract year
    term_cf: dict[tuple[str, str], np.ndarray]  # (load, term) -> (ndays, 24) counterfactual
    term_act: dict[tuple[str, str], np.ndarray]
    daily_noise: dict[str, np.ndarray]
    scale: dict[str, float]
    meter_cf: dict[str, np.ndarray] = field(default_factory=dict)  # (ndays, 24)
    meter_act: dict[str, np.ndarray] = field(default_factory=dict)


def _shape_matrix(profile: dict[str, str], dtypes: np.ndarray) -> np.ndarray:
    rows = {}
    for dt, name in profile.items():
        v = np.asarray(P[name], dtype=float)
        rows[dt] = v / v.sum()
    return np.stack([rows[d] for d in dtypes])


def contract_year_index(days: pd.DatetimeIndex, start: date) -> np.ndarray:
    out = np.zeros(len(days), dtype=int)
    for i, ts in enumerate(days):
        d = ts.date()
        if d >= start:
            years = d.year - start.year - ((d.month, d.day) < (start.month, start.day))
            out[i] = years + 1
    return out


def simulate(site: Site, seed: int) -> Result:
    sim_start = site.data_start - timedelta(days=100)
    sim_end = site.data_end + timedelta(days=100)
    days = pd.date_range(sim_start, sim_end, freq="D")
    temps = station_weather(seed, site.weather_site).loc[days].to_numpy()
    yidx = contract_year_index(days, site.contract_start)
    base_mask = (days >= pd.Timestamp(site.baseline[0])) & (days <= pd.Timestamp(site.baseline[1]))
    term_cf: dict = {}
    term_act: dict = {}
    noise: dict = {}
    scale: dict = {}
    for load in site.loads.values():
        dtypes = load.daytypes(days)
        rng = rng_for(seed, site.code, load.key, "daily")
        noise[load.key] = np.exp(load.daily_sigma * rng.standard_normal(len(days)) - load.daily_sigma**2 / 2)
        growth = load.growth(days) if load.growth else np.ones(len(days))
        for t in load.terms:
            lvl = np.array([t.level[d] for d in dtypes])
            if t.kind == "base":
                daily = lvl
            elif t.kind == "cool":
                daily = t.slope * np.maximum(0.0, temps - t.balance) * lvl
            else:
                daily = t.slope * np.maximum(0.0, t.balance - temps) * lvl
            daily = daily * noise[load.key] * growth
            cf = daily[:, None] * _shape_matrix(t.profile, dtypes)
            s = np.zeros(len(days))
            for y, frac in enumerate(t.savings, start=1):
                s[yidx == y] = frac
            s[yidx > len(t.savings)] = t.savings[-1]
            term_cf[(load.key, t.name)] = cf
            term_act[(load.key, t.name)] = cf * (1 - s)[:, None]
    # calibrate each load so its target meters' baseline total equals the contract's figure
    for load in site.loads.values():
        k = 1.0
        if load.target is not None:
            fixed = scalable = 0.0
            for m in site.meters:
                if m.code not in load.target_meters or m.load != load.key:
                    continue
                for t in load.terms:
                    w = m.weights.get(t.name, 0.0) * m.split_share
                    tot = w * term_cf[(load.key, t.name)][base_mask].sum()
                    if t.scaled:
                        scalable += tot
                    else:
                        fixed += tot
            k = (load.target - fixed) / scalable
            for t in load.terms:
                if t.scaled:
                    term_cf[(load.key, t.name)] *= k
                    term_act[(load.key, t.name)] *= k
        scale[load.key] = k
    res = Result(days, temps, yidx, term_cf, term_act, noise, scale)
    # compose meters; split groups share a total with daily jitter; hourly noise keeps daily totals
    groups: dict[str, list[MeterDef]] = {}
    for m in site.meters:
        if m.split_group:
            groups.setdefault(m.split_group, []).append(m)
    shares: dict[str, np.ndarray] = {}
    for gname, members in groups.items():
        rng = rng_for(seed, site.code, gname, "split")
        left = np.ones(len(days))
        for m in members[:-1]:
            sh = np.clip(m.split_share + m.split_jitter * rng.standard_normal(len(days)), 0.05, 0.95)
            shares[m.code] = sh
            left = left - sh
        shares[members[-1].code] = left
    for m in site.meters:
        load = site.loads[m.load]
        cf = sum(w * term_cf[(load.key, n)] for n, w in m.weights.items())
        act = sum(w * term_act[(load.key, n)] for n, w in m.weights.items())
        if m.split_group:
            cf = cf * shares[m.code][:, None]
            act = act * shares[m.code][:, None]
        rng = rng_for(seed, site.code, m.code, "hourly")
        jitter = np.clip(1 + m.hourly_sigma * rng.standard_normal(cf.shape), 0.2, None)
        for arr_name, arr in (("cf", cf), ("act", act)):
            tot = arr.sum(axis=1, keepdims=True)
            j = arr * jitter
            jt = j.sum(axis=1, keepdims=True)
            arr = np.where(jt > 0, j * tot / np.where(jt > 0, jt, 1), arr)
            (res.meter_cf if arr_name == "cf" else res.meter_act)[m.code] = arr
    return res


# --------------------------------------------------------------------------------------------------
# Helpers for exports
# --------------------------------------------------------------------------------------------------
def window(res: Result, start: date, end: date) -> np.ndarray:
    return (res.days >= pd.Timestamp(start)) & (res.days <= pd.Timestamp(end))


def hourly_frame(res: Result, code: str, start: date, end: date, actual: bool = True) -> pd.Series:
    """Hourly consumption (period-start timestamps, local time) of one meter between two days inclusive."""
    mask = window(res, start, end)
    arr = (res.meter_act if actual else res.meter_cf)[code][mask]
    idx = pd.date_range(pd.Timestamp(start), periods=arr.size, freq="h")
    return pd.Series(arr.ravel(), index=idx)


def cumulative_at(res: Result, code: str, instants: list[datetime], start_reading: float,
                  multiplier: float) -> np.ndarray:
    """Raw register (not rolled over) at given instants: start_reading at the simulation start."""
    arr = res.meter_act[code].ravel()
    cum = np.concatenate([[0.0], np.cumsum(arr)])
    t0 = pd.Timestamp(res.days[0])
    out = []
    for t in instants:
        h = (pd.Timestamp(t) - t0) / pd.Timedelta(hours=1)
        i = int(math.floor(h))
        frac = h - i
        val = cum[i] + (frac * arr[i] if frac else 0.0)
        out.append(start_reading + val / multiplier)
    return np.asarray(out)


def roll(raw: np.ndarray, digits: int, decimals: int) -> np.ndarray:
    return np.round(np.mod(np.round(raw, decimals), 10.0**digits), decimals)


def month_starts(start: date, end: date) -> list[date]:
    out, d = [], date(start.year, start.month, 1)
    while d <= end:
        out.append(d)
        d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return out


def fmt_num(x: float, nd: int) -> str:
    return f"{x:.{nd}f}"


def normalise_xlsx(path: Path) -> None:
    """Make an openpyxl file byte-reproducible: fixed document dates and fixed zip entry times."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as zin:
        entries = [(i.filename, zin.read(i.filename)) for i in zin.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>2026-01-01T00:00:00Z", data)
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, data)


def write_csv(df: pd.DataFrame, path: Path, encoding: str) -> None:
    path.write_bytes(df.to_csv(index=False, lineterminator="\r\n").encode(encoding))


def meter_spec(site: Site, code: str) -> dict:
    for m in site.contract.get("meters", []):
        if m["code"] == code:
            return m
    raise SystemExit(f"{site.code}: meter {code} is not in the contract file")


def truth_files(site: Site, res: Result) -> list[str]:
    """truth_daily_<utility>.csv: per meter per day, counterfactual and actual, canonical units."""
    mask = window(res, site.data_start, site.data_end)
    dates = [d.strftime("%Y-%m-%d") for d in res.days[mask]]
    names = []
    by_util: dict[str, list[MeterDef]] = {}
    for m in site.meters:
        by_util.setdefault(meter_spec(site, m.code)["utility"], []).append(m)
    for util, meters in by_util.items():
        rows = []
        for m in meters:  # all example meters use their utility's canonical unit
            cf = res.meter_cf[m.code][mask].sum(axis=1)
            act = res.meter_act[m.code][mask].sum(axis=1)
            rows.append(pd.DataFrame({"date": dates, "meter": m.code, "counterfactual": np.round(cf, 2),
                                      "actual": np.round(act, 2), "contract_year": res.year_index[mask]}))
        name = f"truth_daily_{util}.csv"
        write_csv(pd.concat(rows, ignore_index=True), site.folder / name, "utf-8")
        names.append(name)
    return names


def savings_table(site: Site, res: Result, meters: list[str]) -> list[tuple[str, str, float, float, float]]:
    """(period, meters, counterfactual, actual, fraction) for the contract years in the data."""
    out = []
    for label, start, end in site.periods:
        if not label.startswith("year"):
            continue
        mask = window(res, start, end)
        cf = sum(res.meter_cf[c][mask].sum() for c in meters)
        act = sum(res.meter_act[c][mask].sum() for c in meters)
        out.append((label, "+".join(meters), cf, act, 1 - act / cf))
    return out


def weather_csv(site: Site, seed: int) -> None:
    w = station_weather(seed, site.weather_site).loc[pd.Timestamp(site.data_start):pd.Timestamp(site.data_end)]
    df = pd.DataFrame({"date": w.index.strftime("%Y-%m-%d"), "site": site.weather_site,
                       "tmean_c": [f"{v:.1f}" for v in w.to_numpy()]})
    write_csv(df, site.folder / "weather.csv", "utf-8")


def terms_markdown(site: Site, res: Result) -> str:
    lines = []
    for load in site.loads.values():
        k = res.scale[load.key]
        lines.append(f"\n**{load.key}** ({load.utility}, {load.unit}; day-to-day noise: lognormal sigma "
                     f"{load.daily_sigma}; calibration factor applied to the nominal model: {k:.4f})\n")
        lines.append("| term | form | parameters (after calibration) | saved in year 1 / year 2 | note |")
        lines.append("|---|---|---|---|---|")
        for t in load.terms:
            f = k if t.scaled else 1.0
            if t.kind == "base":
                form = "level[day type]"
                par = ", ".join(f"{d}: {v * f:,.1f} {load.unit}/day" for d, v in t.level.items())
            else:
                sign = "T - Tb" if t.kind == "cool" else "Tb - T"
                form = f"slope x max(0, {sign}) x usage[day type]"
                par = (f"slope {t.slope * f:,.2f} {load.unit}/degC-day, Tb {t.balance} degC, usage "
                       + ", ".join(f"{d}: {v}" for d, v in t.level.items()))
            sav = " / ".join(f"{s:.1%}" for s in t.savings)
            lines.append(f"| {t.name} | {form} | {par} | {sav} | {t.note} |")
        if load.growth_note:
            lines.append(f"\nNon-routine change: {load.growth_note}")
    return "\n".join(lines)


def savings_markdown(rows: list[tuple[str, str, float, float, float]], unit: str) -> str:
    out = ["| contract year | meters | counterfactual | actual | true savings | fraction |",
           "|---|---|---|---|---|---|"]
    for label, meters, cf, act, frac in rows:
        out.append(f"| {label} | {meters} | {cf:,.1f} {unit} | {act:,.1f} {unit} | {cf - act:,.1f} {unit} | "
                   f"{frac:.2%} |")
    return "\n".join(out)


def baseline_check(site: Site, res: Result) -> str:
    """The contract's [baseline.use] against the simulated baseline-period total of the billing meters."""
    out = ["| utility | contract [baseline.use] | simulated baseline total | meters |", "|---|---|---|---|"]
    mask = window(res, *site.baseline)
    by_util: dict[str, list[str]] = {}
    for load in site.loads.values():
        if load.target is not None:
            by_util.setdefault(load.utility, []).extend(load.target_meters)
    for util, meters in by_util.items():
        unit = next(ld.unit for ld in site.loads.values() if ld.utility == util)
        tot = sum(res.meter_act[c][mask].sum() for c in meters)
        listed = ", ".join(meters) if len(meters) <= 3 else f"all {len(meters)} {util} meters"
        if site.code == "CZ-TNXZZX-PV-2022":
            listed = "building load = grid import E01 before the PV plant"
        out.append(f"| {util} | {float(site.contract['baseline']['use'][util]):,.0f} {unit} | {tot:,.1f} {unit} "
                   f"| {listed} |")
    return "\n".join(out)


COMMON_README = """\
**Synthetic data.** Everything in this folder was generated by `{gen}` (seed {seed}) from approximate
climate normals and invented load shapes. It is not real meter data and describes no real building.

Times are local (Asia/Shanghai, UTC+8, no daylight saving). Workdays, weekends, public holidays and the
adjusted working weekends (调休) follow the `chinese_calendar` package.

Sign convention: savings = counterfactual - actual, positive = saved.
"""

WEATHER_README = """\
### `weather.csv`
UTF-8, comma-separated, header `date,site,tmean_c`; one row per day, {start} to {end}; `tmean_c` = daily
mean air temperature in degC (0.1 resolution). Model: a smooth annual cycle fitted (3 harmonics) to the
monthly normals below, plus a regional AR(1) anomaly (phi {phi_r}, s.d. ~3.0 degC in winter to ~1.4 degC in
summer) shared with the other Jiangsu example sites, plus a local AR(1) (phi {phi_l}, s.d. {sd_l} degC).
Normals ({label}): {normals} degC, Jan..Dec. Source: {source}.
"""


def weather_readme(site: Site) -> str:
    n = NORMALS[site.weather_site]
    return WEATHER_README.format(start=site.data_start, end=site.data_end, phi_r=AR_PHI_REGIONAL,
                                 phi_l=AR_PHI_LOCAL, sd_l=LOCAL_SD, label=n["label"],
                                 normals=", ".join(str(x) for x in n["tmean"]), source=n["source"])


def truth_readme(names: list[str]) -> str:
    return (f"### {', '.join(f'`{n}`' for n in names)}\n"
            "UTF-8, header `date,meter,counterfactual,actual,contract_year`; one row per meter and day over the "
            "whole data window; quantities in the meter's unit after any multiplier (kWh, m3). "
            "`counterfactual` is what the meter would have recorded without the retrofit (same weather, "
            "occupancy, noise and non-routine changes); `actual` is what it recorded (the exports). "
            "`contract_year` is 0 before the contract start (baseline and installation period).\n")


def periods_readme(site: Site) -> str:
    return "\n".join(f"- `{lab}`: {s} .. {e}" for lab, s, e in site.periods)


# --------------------------------------------------------------------------------------------------
# Site 1: Wuxi civic centre (hybrid custody + water guarantee)
# --------------------------------------------------------------------------------------------------
def site_wuxi(contract: dict, out: Path) -> Site:
    work_off = {"work": 1.0, "off": 0.25}
    elec = Load("electricity", "electricity", "kWh", daily_sigma=0.035, daytypes=office_daytypes, terms=[
        Term("lighting_plug", "base", {"work": 38000, "off": 12000},
             {"work": "office_work", "off": "office_off"}, savings=(0.045, 0.050),
             note="lighting, sockets, IT, lifts, kitchen power; management measures"),
        Term("hvac_aux", "base", {"work": 7000, "off": 2000}, {"work": "hvac_work", "off": "hvac_off"},
             savings=(0.22, 0.22), note="pumps and AHU fans; VFD retrofit"),
        Term("cooling", "cool", work_off, {"work": "hvac_work", "off": "hvac_off"}, slope=2600, balance=18.0,
             savings=(0.24, 0.24), note="chiller room retrofit"),
        Term("heating", "heat", {"work": 1.0, "off": 0.2}, {"work": "hvac_work", "off": "hvac_off"},
             slope=1300, balance=13.0, savings=(0.18, 0.18), note="heat pumps / VRV, variable frequency"),
    ])
    water = Load("water", "water", "m3", daily_sigma=0.06, daytypes=office_daytypes, terms=[
        Term("domestic", "base", {"work": 1000, "off": 300}, {"work": "water_office_work", "off": "water_off"},
             savings=(0.037, 0.012), note="toilets, canteen, tea rooms; fixtures (year 2 degraded)"),
        Term("cooling_tower", "cool", {"work": 1.0, "off": 0.3}, {"work": "hvac_work", "off": "hvac_off"},
             slope=45, balance=20.0, savings=(0.035, 0.015), note="cooling-tower make-up"),
        Term("constant", "base", {"work": 60, "off": 60}, {"work": "flat", "off": "flat"},
             note="fountains, irrigation, small leaks"),
    ])
    gas = Load("gas", "gas", "m3", daily_sigma=0.05, daytypes=office_daytypes, terms=[
        Term("kitchen_hot_water", "base", {"work": 1700, "off": 450},
             {"work": "gas_kitchen_work", "off": "gas_kitchen_off"}, savings=(0.08, 0.08),
             note="canteen, tea-room water boilers, DHW boilers"),
        Term("space_heating", "heat", {"work": 1.0, "off": 0.3}, {"work": "heat_24h", "off": "heat_24h"},
             slope=60, balance=14.0, savings=(0.12, 0.12), note="hot-water boiler for winter heating"),
    ])
    use = contract["baseline"]["use"]
    elec.target, elec.target_meters = float(use["electricity"]), ["WX-SMZX-E01", "WX-SMZX-E02"]
    water.target, water.target_meters = float(use["water"]), ["WX-SMZX-W01"]
    gas.target, gas.target_meters = float(use["gas"]), ["WX-SMZX-G01"]
    all_e = {t.name: 1.0 for t in elec.terms}
    meters = [
        MeterDef("WX-SMZX-E01", "electricity", all_e, 0.03, "incomers", 0.56, 0.012),
        MeterDef("WX-SMZX-E02", "electricity", all_e, 0.03, "incomers", 0.44, 0.012),
        MeterDef("WX-SMZX-E11", "electricity", {"hvac_aux": 1.0, "cooling": 1.0, "heating": 1.0}, 0.05),
        MeterDef("WX-SMZX-W01", "water", {t.name: 1.0 for t in water.terms}, 0.10),
        MeterDef("WX-SMZX-G01", "gas", {t.name: 1.0 for t in gas.terms}, 0.08),
    ]
    # the flagship: the whole five-year term (2018-12 .. 2023-11) so every contract year settles from data;
    # savings of years 3-5 stay at year 2's level (Term.savings: the last value holds)
    return Site("WX-SMZX-2018", out / "WX-SMZX-2018", contract, "wuxi", date(2017, 12, 1), date(2023, 11, 30),
                (date(2017, 12, 1), date(2018, 11, 30)), date(2018, 12, 1),
                {"electricity": elec, "water": water, "gas": gas}, meters,
                [("baseline", date(2017, 12, 1), date(2018, 11, 30)),
                 ("year1", date(2018, 12, 1), date(2019, 11, 30)),
                 ("year2", date(2019, 12, 1), date(2020, 11, 30)),
                 ("year3", date(2020, 12, 1), date(2021, 11, 30)),
                 ("year4", date(2021, 12, 1), date(2022, 11, 30)),
                 ("year5", date(2022, 12, 1), date(2023, 11, 30))])


def export_wuxi(site: Site, res: Result) -> list[str]:
    docs = []
    # 1. GBK cumulative register readings, hourly, one file per period
    starts = {"WX-SMZX-E01": 48215.37, "WX-SMZX-E02": 37902.85, "WX-SMZX-W01": 903118.42}
    gap = (datetime(2019, 7, 14, 2), datetime(2019, 7, 14, 6))  # W01 communication outage, rows absent
    files = []
    for label, s, e in site.periods:
        instants = list(pd.date_range(pd.Timestamp(s), pd.Timestamp(e) + pd.Timedelta(days=1), freq="h"))
        frames = []
        for code, r0 in starts.items():
            spec = meter_spec(site, code)
            raw = cumulative_at(res, code, instants, r0, float(spec.get("multiplier", 1)))
            reg = roll(raw, int(spec["digits"]), 2)
            df = pd.DataFrame({"表计编号": code, "抄表时间": [t.strftime("%Y-%m-%d %H:%M:%S") for t in instants],
                               "读数": [fmt_num(v, 2) for v in reg]})
            if code == "WX-SMZX-W01":
                t = pd.Series(instants)
                df = df[~((t >= gap[0]) & (t <= gap[1])).to_numpy()]
            frames.append(df)
        name = f"meter_readings_{label}_gbk.csv"
        write_csv(pd.concat(frames, ignore_index=True), site.folder / name, "gbk")
        files.append(name)
    # rollover instant of W01
    spec = meter_spec(site, "WX-SMZX-W01")
    hrs = list(pd.date_range(pd.Timestamp(site.data_start), pd.Timestamp(site.data_end) + pd.Timedelta(days=1),
                             freq="h"))
    raw = cumulative_at(res, "WX-SMZX-W01", hrs, starts["WX-SMZX-W01"], 1.0)
    rolls = [hrs[i] for i in range(1, len(raw)) if math.floor(raw[i] / 1e6) > math.floor(raw[i - 1] / 1e6)]
    docs.append(f"""### {', '.join(f'`{f}`' for f in files)}
Cumulative-register export of the civic centre's monitoring platform (感知能源监管平台), one file per period
(the baseline and each contract year). **Encoding GBK**, comma-separated, CRLF line ends, header
`表计编号,抄表时间,读数` (meter code, reading time, register reading). Rows are sorted by meter, then time.
One reading per meter per hour at the full hour (`抄表时间` is the instant of the reading, local time, so the
consumption of hour h is reading(h+1) - reading(h)). Each file holds the readings from 00:00 on the period's
first day to 00:00 on the day after its last day, so the closing reading of one file repeats as the opening
reading of the next.
- `WX-SMZX-E01`, `WX-SMZX-E02`: 10 kV incomers; **raw register readings (kWh/6000)**, 2 decimals: multiply
  differences by the meter's multiplier 6000 on import. 6 integer digits; no rollover in this data.
- `WX-SMZX-W01`: main water meter, m3, multiplier 1, 6 integer digits: **the register rolls over from
  999,999.99 to 0** at {', '.join(str(r) for r in rolls) or '(none)'} (consumption across the rollover =
  reading + 1,000,000 - previous reading).
- Data gap: `WX-SMZX-W01` has no rows from {gap[0]} to {gap[1]} (five hourly readings missing: a
  communication outage); the next reading carries the accumulated consumption.
""")
    # 2. HVAC sub-meter, UTF-8 BOM long layout
    s = hourly_frame(res, "WX-SMZX-E11", site.data_start, site.data_end)
    df = pd.DataFrame({"meter": "WX-SMZX-E11", "time": s.index.strftime("%Y-%m-%dT%H:%M:%S"),
                       "value": [fmt_num(v, 2) for v in s.to_numpy()]})
    write_csv(df, site.folder / "hvac_subitem_hourly_utf8bom.csv", "utf-8-sig")
    docs.append(f"""### `hvac_subitem_hourly_utf8bom.csv`
HVAC sub-item meter (分项计量, 空调用电) from the platform's interval API. **UTF-8 with BOM**, long layout,
header `meter,time,value`; `time` = start of the hour (local time, ISO 8601 without offset), `value` = kWh
consumed in that hour (interval register, multiplier already applied), {site.data_start} 00:00 to
{site.data_end} 23:00. The HVAC sub-item is part of E01 + E02 (do not add it to them).
""")
    # 3. gas bills, monthly, off-calendar reading dates
    g = meter_spec(site, "WX-SMZX-G01")
    rng = rng_for(SEED_HOLDER[0], site.code, "gas-read-days")
    reads = []
    for ms in month_starts(site.data_start - timedelta(days=20), site.data_end + timedelta(days=31)):
        d = date(ms.year, ms.month, 20) + timedelta(days=int(rng.integers(-2, 3)))
        while d.weekday() >= 5:
            d += timedelta(days=1)
        reads.append(datetime(d.year, d.month, d.day, 9, 0))
    reads = [r for r in reads if r.date() >= site.data_start - timedelta(days=20)]
    reg = cumulative_at(res, "WX-SMZX-G01", reads, 1_284_406.0, 1.0)
    reg = np.floor(reg)  # gas company reads whole m3
    rows = []
    for i in range(1, len(reads)):
        qty = reg[i] - reg[i - 1]
        price = Decimal("3.52") if reads[i].date() < date(2019, 4, 1) else Decimal("3.45")
        amt = (Decimal(int(qty)) * price).quantize(Decimal("0.01"))
        rows.append({"用户编号": "0510-0108-3327", "表计编号": "WX-SMZX-G01",
                     "起始日期": reads[i - 1].strftime("%Y-%m-%d"), "截止日期": reads[i].strftime("%Y-%m-%d"),
                     "上期读数": int(reg[i - 1]) % 10 ** int(g["digits"]),
                     "本期读数": int(reg[i]) % 10 ** int(g["digits"]),
                     "用气量(m3)": int(qty), "单价(元/m3)": str(price), "金额(元)": str(amt)})
    write_csv(pd.DataFrame(rows), site.folder / "gas_bills.csv", "utf-8")
    docs.append("""### `gas_bills.csv`
Monthly bills of the gas company (pipeline gas, non-residential). **UTF-8 without BOM**, header
`用户编号,表计编号,起始日期,截止日期,上期读数,本期读数,用气量(m3),单价(元/m3),金额(元)`. The meter reader reads
the register (whole m3) at about 09:00 on a workday near the 20th; a bill covers the interval from the
previous reading to this one, i.e. roughly the days `起始日期` .. `截止日期` - 1. Bills are **off-cycle**:
they do not align with calendar months or with the baseline period (the first bill starts before the
baseline, the last ends after the last contract year), so calendarise them (pro-rate by days or degree-days).
`用气量` = `本期读数` - `上期读数`. Price 3.52 CNY/m3 for bills ending before 2019-04-01 and 3.45 afterwards
(the VAT cut; an invented but realistic step). Amount = quantity x price, rounded to the fen.
""")
    return docs


SEED_HOLDER = [DEFAULT_SEED]


# --------------------------------------------------------------------------------------------------
# Site 2: Changzhou hospital (shared savings, electricity + gas)
# --------------------------------------------------------------------------------------------------
def site_hospital(contract: dict, out: Path) -> Site:
    both = {"work": 1.0, "off": 1.0}
    elec = Load("electricity", "electricity", "kWh", daily_sigma=0.025, daytypes=office_daytypes, terms=[
        Term("lighting", "base", {"work": 9500, "off": 7600}, {"work": "hosp_light", "off": "hosp_light"},
             savings=(0.35, 0.36), note="wards, corridors, car park; LED + controls"),
        Term("power", "base", {"work": 12000, "off": 10500},
             {"work": "hosp_power_work", "off": "hosp_power_off"}, savings=(0.02, 0.02),
             note="medical equipment, IT, lifts, kitchen"),
        Term("hvac_aux", "base", {"work": 4200, "off": 3900}, {"work": "flat", "off": "flat"},
             savings=(0.25, 0.25), note="pumps and fans, VFD"),
        Term("cooling", "cool", both, {"work": "cool_24h", "off": "cool_24h"}, slope=900, balance=18.0,
             savings=(0.28, 0.29), note="magnetic-bearing chillers"),
        Term("heating", "heat", both, {"work": "heat_24h", "off": "heat_24h"}, slope=300, balance=12.0,
             savings=(0.20, 0.20), note="air-source heat pumps (part of winter heating)"),
    ])
    gas = Load("gas", "gas", "m3", daily_sigma=0.04, daytypes=office_daytypes, terms=[
        Term("steam_dhw_kitchen", "base", {"work": 1650, "off": 1350}, {"work": "hosp_gas", "off": "hosp_gas"},
             savings=(0.08, 0.08), note="sterilisation steam, laundry, DHW, kitchen; condensing boilers"),
        Term("space_heating", "heat", both, {"work": "heat_24h", "off": "heat_24h"}, slope=110, balance=14.0,
             savings=(0.22, 0.22), note="boilers for winter heating; flue-gas heat recovery"),
    ])
    use = contract["baseline"]["use"]
    elec.target, elec.target_meters = float(use["electricity"]), ["CZ-ZLRMYY-E01"]
    gas.target, gas.target_meters = float(use["gas"]), ["CZ-ZLRMYY-G01"]
    meters = [
        MeterDef("CZ-ZLRMYY-E01", "electricity", {t.name: 1.0 for t in elec.terms}, 0.03),
        MeterDef("CZ-ZLRMYY-E11", "electricity", {"hvac_aux": 1.0, "cooling": 1.0, "heating": 1.0}, 0.05),
        MeterDef("CZ-ZLRMYY-E12", "electricity", {"lighting": 0.8, "power": 0.15}, 0.05),
        MeterDef("CZ-ZLRMYY-G01", "gas", {t.name: 1.0 for t in gas.terms}, 0.06),
    ]
    return Site("CZ-ZLRMYY-HVAC-2024", out / "CZ-ZLRMYY-HVAC-2024", contract, "changzhou",
                date(2023, 1, 1), date(2026, 2, 28), (date(2023, 1, 1), date(2023, 12, 31)), date(2024, 3, 1),
                {"electricity": elec, "gas": gas}, meters,
                [("baseline", date(2023, 1, 1), date(2023, 12, 31)),
                 ("installation", date(2024, 1, 1), date(2024, 2, 29)),
                 ("year1", date(2024, 3, 1), date(2025, 2, 28)),
                 ("year2", date(2025, 3, 1), date(2026, 2, 28))])


def export_hospital(site: Site, res: Result) -> list[str]:
    wb = Workbook()
    ws = wb.active
    ws.title = "逐时电量"
    codes = ["CZ-ZLRMYY-E01", "CZ-ZLRMYY-E11", "CZ-ZLRMYY-E12"]
    ws.append([f"常州市钟楼区人民医院 能耗监测平台 逐时电量导出（单位：kWh） {site.data_start} 至 {site.data_end}"])
    ws["A1"].font = Font(bold=True)
    ws.append(["时间"] + codes)
    series = {c: hourly_frame(res, c, site.data_start, site.data_end) for c in codes}
    blank = (pd.Timestamp(2024, 7, 10), pd.Timestamp(2024, 7, 10, 23))  # E12 CT fault: empty cells
    for i, ts in enumerate(series[codes[0]].index):
        row: list = [ts.to_pydatetime()]
        for c in codes:
            v = round(float(series[c].iloc[i]), 2)
            row.append(None if c == "CZ-ZLRMYY-E12" and blank[0] <= ts <= blank[1] else v)
        ws.append(row)
    for r in ws.iter_rows(min_row=3, max_col=1):
        r[0].number_format = "yyyy-mm-dd hh:mm"
    ws.column_dimensions["A"].width = 18
    ws2 = wb.create_sheet("日用气量")
    ws2.append([f"常州市钟楼区人民医院 能耗监测平台 日用气量导出（单位：m³） {site.data_start} 至 {site.data_end}"])
    ws2["A1"].font = Font(bold=True)
    ws2.append(["日期", "CZ-ZLRMYY-G01"])
    mask = window(res, site.data_start, site.data_end)
    for d, v in zip(res.days[mask], res.meter_act["CZ-ZLRMYY-G01"][mask].sum(axis=1), strict=True):
        ws2.append([d.to_pydatetime().date(), round(float(v), 1)])
    for r in ws2.iter_rows(min_row=3, max_col=1):
        r[0].number_format = "yyyy-mm-dd"
    ws2.column_dimensions["A"].width = 12
    wb.properties.creator = "gen_baselines.py"
    path = site.folder / "platform_export.xlsx"
    wb.save(path)
    normalise_xlsx(path)
    return [f"""### `platform_export.xlsx`
Export of the hospital's energy-monitoring platform, **XLSX, wide layout** (one column per meter).
- Sheet `逐时电量`: row 1 is a title (`常州市钟楼区人民医院 能耗监测平台 逐时电量导出（单位：kWh） …`), row 2 the
  header `时间, CZ-ZLRMYY-E01, CZ-ZLRMYY-E11, CZ-ZLRMYY-E12`, data from row 3. `时间` is an Excel datetime
  = **start** of the hour (local time); values are kWh consumed in that hour (interval registers, multiplier
  already applied), 2 decimals, {site.data_start} 00:00 to {site.data_end} 23:00.
  E01 is the 10 kV main meter; E11 (HVAC) and E12 (lighting and sockets) are sub-items inside E01.
  **Gap:** the E12 cells of 2024-07-10 00:00..23:00 are empty (a CT fault); E01 and E11 are complete.
- Sheet `日用气量`: row 1 title, row 2 header `日期, CZ-ZLRMYY-G01`, then one row per day: gas m3 (0.1
  resolution) of that calendar day.
- The installation months 2024-01 and 2024-02 are in the file; they belong to neither the baseline nor a
  contract year.
"""]


# --------------------------------------------------------------------------------------------------
# Site 3: Wuxi college water (guaranteed savings)
# --------------------------------------------------------------------------------------------------
def site_university(contract: dict, out: Path) -> Site:
    dts = ("term_work", "term_off", "vac")
    water = Load("water", "water", "m3", daily_sigma=0.06, daytypes=college_daytypes, terms=[
        Term("leak", "base", dict.fromkeys(dts, 14 * 24.0), dict.fromkeys(dts, "flat"), savings=(11 / 14, 11 / 14),
             scaled=False, note="buried-pipe leakage 14 m3/h, repaired to 3 m3/h"),
        Term("dorm_showers", "base", {"term_work": 560, "term_off": 610, "vac": 45},
             dict.fromkeys(dts, "dorm_shower"), savings=(0.12, 0.13), note="IC-card shower valves (W11)"),
        Term("dorm_showers_heat", "cool", {"term_work": 1.0, "term_off": 1.0, "vac": 0.08},
             dict.fromkeys(dts, "dorm_shower"), slope=14, balance=20.0, savings=(0.12, 0.13),
             note="more showers on hot days (W11)"),
        Term("teaching_office", "base", {"term_work": 1150, "term_off": 520, "vac": 170},
             {"term_work": "water_office_work", "term_off": "water_off", "vac": "water_off"},
             savings=(0.07, 0.08), note="toilets, labs, sinks; sensor taps, dual-flush"),
        Term("canteen", "base", {"term_work": 280, "term_off": 260, "vac": 30},
             dict.fromkeys(dts, "canteen_water"), savings=(0.03, 0.03), note="kitchen"),
        Term("irrigation", "cool", dict.fromkeys(dts, 1.0), dict.fromkeys(dts, "irrigation"), slope=25,
             balance=22.0, note="landscape irrigation, hot dry days"),
    ])
    water.target, water.target_meters = float(contract["baseline"]["use"]["water"]), ["WX-LHZY-W01", "WX-LHZY-W02"]
    north = {"leak": 0.55, "dorm_showers": 1.0, "dorm_showers_heat": 1.0, "teaching_office": 0.6,
             "canteen": 1.0, "irrigation": 0.5}
    south = {"leak": 0.45, "teaching_office": 0.4, "irrigation": 0.5}
    meters = [
        MeterDef("WX-LHZY-W01", "water", north, 0.10),
        MeterDef("WX-LHZY-W02", "water", south, 0.12),
        MeterDef("WX-LHZY-W11", "water", {"dorm_showers": 1.0, "dorm_showers_heat": 1.0}, 0.12),
    ]
    return Site("WX-LHZY-WATER-2024", out / "WX-LHZY-WATER-2024", contract, "wuxi", date(2023, 3, 1),
                date(2026, 3, 31), (date(2023, 3, 1), date(2024, 2, 29)), date(2024, 4, 1), {"water": water},
                meters,
                [("baseline", date(2023, 3, 1), date(2024, 2, 29)),
                 ("installation", date(2024, 3, 1), date(2024, 3, 31)),
                 ("year1", date(2024, 4, 1), date(2025, 3, 31)),
                 ("year2", date(2025, 4, 1), date(2026, 3, 31))])


def export_university(site: Site, res: Result) -> list[str]:
    files = []
    codes = ["WX-LHZY-W01", "WX-LHZY-W02", "WX-LHZY-W11"]
    for label, s, e in site.periods:
        frames = []
        for c in codes:
            ser = hourly_frame(res, c, s, e)
            frames.append(pd.DataFrame({"meter": c, "time": ser.index.strftime("%Y-%m-%d %H:%M"),
                                        "value": [fmt_num(v, 3) for v in ser.to_numpy()]}))
        df = pd.concat(frames).sort_values(["time", "meter"], kind="stable")
        name = f"water_hourly_{label}_utf8bom.csv"
        write_csv(df, site.folder / name, "utf-8-sig")
        files.append(name)
    docs = [f"""### {', '.join(f'`{f}`' for f in files)}
Hourly export of the campus smart-water platform (远传水表), one file per period. **UTF-8 with BOM**, long
layout, header `meter,time,value`, sorted by time then meter. `time` = **start** of the hour, local time,
`YYYY-MM-DD HH:MM`; `value` = m3 consumed in that hour (interval register), 3 decimals.
W01 (north inlet) + W02 (south inlet) = the whole campus; W11 (dormitory hot-water make-up) is a sub-meter
inside W01. The installation month (2024-03) has its own file.
"""]
    # monthly water bills for the two inlets
    rng = rng_for(SEED_HOLDER[0], site.code, "water-read-days")
    rows = []
    accounts = {"WX-LHZY-W01": ("3202110047731", 418_233.0), "WX-LHZY-W02": ("3202110047748", 207_561.0)}
    for code, (acct, r0) in accounts.items():
        reads = []
        for ms in month_starts(site.data_start - timedelta(days=31), site.data_end + timedelta(days=31)):
            d = date(ms.year, ms.month, 10) + timedelta(days=int(rng.integers(-2, 3)))
            reads.append(datetime(d.year, d.month, d.day, 9, 30))
        reg = np.floor(cumulative_at(res, code, reads, r0, 1.0))
        for i in range(1, len(reads)):
            qty = int(reg[i] - reg[i - 1])
            amt = (Decimal(qty) * Decimal("4.60")).quantize(Decimal("0.01"))
            rows.append({"户号": acct, "表计编号": code, "抄表日期起": reads[i - 1].strftime("%Y-%m-%d"),
                         "抄表日期止": reads[i].strftime("%Y-%m-%d"), "上月读数": int(reg[i - 1]),
                         "本月读数": int(reg[i]), "用水量(m3)": qty, "水价(元/m3)": "4.60", "水费(元)": str(amt)})
    write_csv(pd.DataFrame(rows), site.folder / "water_bills.csv", "utf-8")
    docs.append("""### `water_bills.csv`
Monthly bills of the water company for the two municipal connections (W01, W02). **UTF-8 without BOM**,
header `户号,表计编号,抄表日期起,抄表日期止,上月读数,本月读数,用水量(m3),水价(元/m3),水费(元)`. Registers read in whole
m3 at about 09:30 on a day near the 10th: a bill covers the previous reading to this one (off-cycle with
respect to calendar months and to the baseline). `用水量` = difference of the readings; 4.60 CNY/m3
(supply + sewage + resource fee, invented flat rate). The bill totals match the hourly platform data up to
the whole-m3 rounding of the readings.
""")
    return docs


# --------------------------------------------------------------------------------------------------
# Site 4: Changzhou PV lease
# --------------------------------------------------------------------------------------------------
# Approximate monthly in-plane irradiation for a ~20 deg south-facing array in southern Jiangsu,
# kWh/m2/day (typical of the Yangtze delta, ~1,300 kWh/m2/yr in plane). Invented from general knowledge
# of the region, not from a cited dataset.
PV_IRRADIATION = [2.6, 2.95, 3.4, 3.95, 4.3, 3.85, 4.5, 4.45, 3.8, 3.4, 2.85, 2.5]
PV_KWP = 600.0
PV_PR = 0.81  # performance ratio
PV_DEGRADATION = 0.005  # per year
PV_COD = date(2022, 10, 1)  # energised at 00:00 on the contract start
LATITUDE = 31.78


def site_pv(contract: dict, out: Path) -> Site:
    load = Load("building", "electricity", "kWh", daily_sigma=0.04, daytypes=office_daytypes, terms=[
        Term("base", "base", {"work": 6000, "off": 2100}, {"work": "office_work", "off": "office_off"},
             note="lighting, sockets, IT, lifts, canteen"),
        Term("cooling", "cool", {"work": 1.0, "off": 0.2}, {"work": "hvac_work", "off": "hvac_off"}, slope=260,
             balance=20.0, note="VRV cooling"),
        Term("heating", "heat", {"work": 1.0, "off": 0.15}, {"work": "hvac_work", "off": "hvac_off"},
             slope=140, balance=12.0, note="VRV heating"),
    ])
    load.target, load.target_meters = float(contract["baseline"]["use"]["electricity"]), ["CZ-TNXZZX-LOAD"]
    meters = [MeterDef("CZ-TNXZZX-LOAD", "building", {t.name: 1.0 for t in load.terms}, 0.04)]
    return Site("CZ-TNXZZX-PV-2022", out / "CZ-TNXZZX-PV-2022", contract, "changzhou", date(2021, 10, 1),
                date(2024, 9, 30), (date(2021, 10, 1), date(2022, 9, 30)), date(2022, 10, 1), {"building": load},
                meters,
                [("baseline", date(2021, 10, 1), date(2022, 9, 30)),
                 ("year1", date(2022, 10, 1), date(2023, 9, 30)),
                 ("year2", date(2023, 10, 1), date(2024, 9, 30))])


def pv_hourly(res: Result, seed: int) -> np.ndarray:
    """PV generation kWh, (ndays, 24); zero before commissioning."""
    days = res.days
    doy = days.day_of_year.to_numpy()
    month = days.month.to_numpy()
    irr = np.asarray(PV_IRRADIATION)[month - 1]
    rng = rng_for(seed, "pv", "cloud")
    z = _ar1(rng, len(days), 0.4, 1.0)
    cloud = np.clip(1 + 0.38 * z, 0.08, 1.35)
    age = np.array([(d.date() - PV_COD).days / 365.25 for d in days])
    daily = PV_KWP * irr * PV_PR * cloud * (1 - PV_DEGRADATION * np.maximum(age, 0))
    daily[age < 0] = 0.0
    decl = np.radians(23.44) * np.sin(2 * np.pi * (284 + doy) / 365)
    ws = np.degrees(np.arccos(-np.tan(np.radians(LATITUDE)) * np.tan(decl)))
    half = ws / 15.0  # half day length, hours
    noon = 12.0 - (120.0 - 119.97) / 15 * 1.0  # Beijing time, longitude ~119.97 E
    sub = (np.arange(96) + 0.5) / 4.0  # quarter-hour midpoints
    x = (sub[None, :] - (noon - half)[:, None]) / (2 * half)[:, None]
    shape = np.where((x > 0) & (x < 1), np.sin(np.pi * np.clip(x, 0, 1)) ** 1.3, 0.0)
    shape = shape.reshape(len(days), 24, 4).sum(axis=2)
    shape = shape / shape.sum(axis=1, keepdims=True)
    return daily[:, None] * shape


def export_pv(site: Site, res: Result, seed: int) -> list[str]:
    pv = pv_hourly(res, seed)
    load = res.meter_act["CZ-TNXZZX-LOAD"]
    grid = np.maximum(load - pv, 0.0)
    export = np.maximum(pv - load, 0.0)
    res.meter_act["CZ-TNXZZX-PV01"] = pv
    res.meter_cf["CZ-TNXZZX-PV01"] = pv
    res.meter_act["CZ-TNXZZX-E01"] = grid
    res.meter_cf["CZ-TNXZZX-E01"] = load  # without the PV plant the building imports its whole load
    site.extra["export"] = export
    # PV register, daily 00:00 readings from commissioning
    spec = meter_spec(site, "CZ-TNXZZX-PV01")
    instants = list(pd.date_range(pd.Timestamp(site.contract_start), pd.Timestamp(site.data_end) + pd.Timedelta(days=1),
                                  freq="D"))
    cod_raw = cumulative_at(res, "CZ-TNXZZX-PV01", [datetime.combine(PV_COD, datetime.min.time())], 0.0, 1.0)[0]
    mult = float(spec["multiplier"])
    raw = cumulative_at(res, "CZ-TNXZZX-PV01", instants, -cod_raw / mult, mult)
    reg = roll(raw, int(spec["digits"]), 2)
    df = pd.DataFrame({"表计编号": "CZ-TNXZZX-PV01", "日期时间": [t.strftime("%Y/%m/%d %H:%M") for t in instants],
                       "正向有功总示数": [fmt_num(v, 2) for v in reg]})
    write_csv(df, site.folder / "pv_register_daily.csv", "utf-8")
    # grid bills, calendar months, read at 00:00 on the 1st
    espec = meter_spec(site, "CZ-TNXZZX-E01")
    mult = float(espec["multiplier"])
    reads = [datetime(d.year, d.month, d.day) for d in month_starts(site.data_start, site.data_end + timedelta(days=1))]
    regs = np.round(cumulative_at(res, "CZ-TNXZZX-E01", reads, 31245.67, mult), 2)
    rows = []
    for i in range(1, len(reads)):
        qty = int(round((regs[i] - regs[i - 1]) * mult))
        price = Decimal("0.7218") if reads[i].date() <= date(2023, 6, 1) else Decimal("0.7105")
        amt = (Decimal(qty) * price).quantize(Decimal("0.01"))
        rows.append({"户号": "0519100338627", "表计编号": "CZ-TNXZZX-E01",
                     "起始日期": reads[i - 1].strftime("%Y-%m-%d"),
                     "截止日期": (reads[i] - timedelta(days=1)).strftime("%Y-%m-%d"),
                     "起码": fmt_num(regs[i - 1], 2), "止码": fmt_num(regs[i], 2), "倍率": int(mult),
                     "电量(kWh)": qty, "平均电价(元/kWh)": str(price), "电费(元)": str(amt)})
    write_csv(pd.DataFrame(rows), site.folder / "grid_bills.csv", "utf-8")
    return ["""### `pv_register_daily.csv`
Daily readings of the PV generation meter (cumulative register), as the O&M contractor's data logger exports
them. **UTF-8 without BOM**, header `表计编号,日期时间,正向有功总示数`; `日期时间` (`YYYY/MM/DD HH:MM`) is the
instant of the reading, 00:00 each day from 2022-10-01 (contract start) to the day after contract year 2;
the register is **raw: multiply differences by 300** (CT 1500/5). The meter was new when the plant was
energised at 00:00 on 2022-10-01, so the first reading is 0.00.
""", """### `grid_bills.csv`
Monthly State Grid bills of the building's 10 kV import meter. **UTF-8 without BOM**, header
`户号,表计编号,起始日期,截止日期,起码,止码,倍率,电量(kWh),平均电价(元/kWh),电费(元)`. Calendar months: the
register is read at 00:00 on the 1st, `起始日期`..`截止日期` are the first and last day billed (inclusive).
`电量` = (`止码` - `起码`) x `倍率` (1000), rounded to the kWh. Average price 0.7218 CNY/kWh, 0.7105 from the
June 2023 bills on (invented; real bills are time-of-use). The baseline year (before the PV plant) is
2021-10 .. 2022-09; from 2022-10 the import falls by the self-consumed PV generation.
"""]


# --------------------------------------------------------------------------------------------------
# Site 5: Yixing county custody package
# --------------------------------------------------------------------------------------------------
# Intensities used to size each institution (must match the comment in contracts/yixing-county-custody.toml).
YIXING_EI = {"organ": 72, "school": 38, "hospital": 115, "other": 95, "venue": 60}  # kWh/m2/yr
YIXING_WI = {"organ": 22, "school": 14, "hospital": 60, "other": 30, "venue": 45}  # m3/person/yr
YIXING_ELEC_SAVINGS = {"organ": (0.08, 0.18, 0.15), "school": (0.06, 0.12, 0.10), "hospital": (0.05, 0.15, 0.12),
                       "other": (0.06, 0.15, 0.12), "venue": (0.10, 0.18, 0.15)}  # base, cooling, heating
YIXING_WATER_SAVINGS = {"organ": 0.06, "school": 0.06, "hospital": 0.04, "other": 0.05, "venue": 0.06}
YIXING_NEW_BUILDING = ("YX-SYXX", date(2024, 9, 1), 1.25)  # institution, from, electricity multiplier
YIXING_ELEC_PRICE_LV, YIXING_ELEC_PRICE_HV, YIXING_WATER_PRICE = "0.7150", "0.6850", "4.35"


def _yixing_templates(cat: str) -> tuple[list[Term], list[Term], Callable]:
    b, c, h = YIXING_ELEC_SAVINGS[cat]
    w = YIXING_WATER_SAVINGS[cat]
    if cat == "school":
        dt = k12_daytypes
        lv = {"term_work": 1.0, "term_off": 0.35, "vac": 0.3}
        use = {"term_work": 1.0, "term_off": 0.2, "vac": 0.15}
        prof = {"term_work": "school_work", "term_off": "office_off", "vac": "office_off"}
        wl = {"term_work": 1.0, "term_off": 0.3, "vac": 0.2}
        wprof = {"term_work": "water_office_work", "term_off": "water_off", "vac": "water_off"}
        cs, cb, hs, hb = 0.10, 23.0, 0.05, 11.0
    else:
        dt = office_daytypes
        lv = {"organ": {"work": 1.0, "off": 0.45}, "hospital": {"work": 1.0, "off": 0.88},
              "other": {"work": 1.0, "off": 0.6}, "venue": {"work": 1.0, "off": 1.2}}[cat]
        use = {"organ": {"work": 1.0, "off": 0.25}, "hospital": {"work": 1.0, "off": 1.0},
               "other": {"work": 1.0, "off": 0.5}, "venue": {"work": 1.0, "off": 1.2}}[cat]
        pw = {"organ": "office_work", "hospital": "hosp_power_work", "other": "office_work", "venue": "venue"}[cat]
        po = {"organ": "office_off", "hospital": "hosp_power_off", "other": "office_off", "venue": "venue"}[cat]
        prof = {"work": pw, "off": po}
        wl = {"organ": {"work": 1.0, "off": 0.4}, "hospital": {"work": 1.0, "off": 0.95},
              "other": {"work": 1.0, "off": 0.5}, "venue": {"work": 1.0, "off": 1.3}}[cat]
        wprof = {"work": "water_office_work", "off": "water_off"}
        cs, cb, hs, hb = {"organ": (0.12, 22.0, 0.06, 12.0), "hospital": (0.05, 20.0, 0.03, 13.0),
                          "other": (0.09, 21.0, 0.05, 12.0), "venue": (0.10, 22.0, 0.05, 12.0)}[cat]
    if cat == "hospital":
        hv = dict.fromkeys(prof, "cool_24h")
        hh = dict.fromkeys(prof, "heat_24h")
    else:
        hv = {k: "hvac_work" if k.endswith("work") else "hvac_off" for k in prof}
        hh = dict(hv)
    if cat == "venue":
        hv = dict.fromkeys(prof, "venue")
        hh = dict.fromkeys(prof, "venue")
    elec = [Term("base", "base", lv, prof, savings=(b, b * 1.1)),
            Term("cooling", "cool", use, hv, slope=cs, balance=cb, savings=(c, c * 1.1)),
            Term("heating", "heat", use, hh, slope=hs, balance=hb, savings=(h, h * 1.1))]
    water = [Term("use", "base", wl, wprof, savings=(w, w)),
             Term("summer", "cool", dict.fromkeys(wl, 1.0), wprof, slope=0.012, balance=20.0, savings=(w, w))]
    return elec, water, dt


def site_yixing(contract: dict, out: Path) -> Site:
    loads: dict[str, Load] = {}
    meters: list[MeterDef] = []
    inst_meters: dict[str, list[dict]] = {}
    for m in contract["meters"]:
        inst_meters.setdefault(m["institution"], []).append(m)
    for inst in contract["institutions"]:
        code, cat = inst["code"], inst["category"]
        area, users = float(inst["floor_area_m2"]), float(inst["energy_users"])
        e_terms, w_terms, dt = _yixing_templates(cat)
        growth = None
        note = ""
        if code == YIXING_NEW_BUILDING[0]:
            since, mult = YIXING_NEW_BUILDING[1], YIXING_NEW_BUILDING[2]

            def growth(days: pd.DatetimeIndex, since=since, mult=mult) -> np.ndarray:
                return np.where(days >= pd.Timestamp(since), mult, 1.0)

            note = (f"{code}: a new 6,500 m2 teaching building opens on {since}: all electricity terms x {mult} "
                    "from that day, in both the counterfactual and the actual (it is not a saving).")
        el = Load(f"{code}:electricity", "electricity", "kWh", e_terms, 0.04 if cat != "venue" else 0.07, dt,
                  growth=growth, growth_note=note)
        wa = Load(f"{code}:water", "water", "m3", w_terms, 0.08, dt)
        el.target = area * YIXING_EI[cat]
        wa.target = users * YIXING_WI[cat]
        em = [m for m in inst_meters[code] if m["utility"] == "electricity"]
        wm = [m for m in inst_meters[code] if m["utility"] == "water"]
        el.target_meters = [m["code"] for m in em]
        wa.target_meters = [m["code"] for m in wm]
        loads[el.key], loads[wa.key] = el, wa
        for i, m in enumerate(em):
            group = f"{code}:incomers" if len(em) > 1 else None
            share = (0.55 if i == 0 else 0.45) if group else 1.0
            meters.append(MeterDef(m["code"], el.key, {t.name: 1.0 for t in e_terms}, 0.05, group, share,
                                   0.015 if group else 0.0))
        for m in wm:
            meters.append(MeterDef(m["code"], wa.key, {t.name: 1.0 for t in w_terms}, 0.12))
    # the per-institution targets must add up to the contract's totals
    use = contract["baseline"]["use"]
    for util, attr in (("electricity", "electricity"), ("water", "water")):
        tot = sum(ld.target for ld in loads.values() if ld.utility == util)
        if abs(tot - float(use[attr])) > 0.5:
            raise SystemExit(f"YX-TG-2023: institution intensities give {tot} {util}, contract says {use[attr]}")
    # water in the templates is relative: turn relative levels into m3 by calibration (target = users x WI)
    return Site("YX-TG-2023", out / "YX-TG-2023", contract, "yixing", date(2022, 1, 1), date(2025, 2, 28),
                (date(2022, 1, 1), date(2022, 12, 31)), date(2023, 3, 1), loads, meters,
                [("baseline", date(2022, 1, 1), date(2022, 12, 31)),
                 ("installation", date(2023, 1, 1), date(2023, 2, 28)),
                 ("year1", date(2023, 3, 1), date(2024, 2, 29)),
                 ("year2", date(2024, 3, 1), date(2025, 2, 28))])


def export_yixing(site: Site, res: Result) -> list[str]:
    names = {i["code"]: i["name"] for i in site.contract["institutions"]}
    rng = rng_for(SEED_HOLDER[0], site.code, "accounts")
    # electricity: calendar-month bills
    rows = []
    reads = [datetime(d.year, d.month, d.day) for d in month_starts(site.data_start, site.data_end + timedelta(days=1))]
    for m in site.contract["meters"]:
        if m["utility"] != "electricity":
            continue
        mult = float(m["multiplier"])
        price = Decimal(YIXING_ELEC_PRICE_HV if mult >= 1000 else YIXING_ELEC_PRICE_LV)
        r0 = float(rng.integers(1000, 60000)) + float(rng.integers(0, 100)) / 100
        regs = roll(cumulative_at(res, m["code"], reads, r0, mult), int(m["digits"]), 2)
        acct = f"05108{int(rng.integers(10**7, 10**8))}"
        for i in range(1, len(reads)):
            diff = regs[i] - regs[i - 1]
            if diff < 0:
                diff += 10 ** int(m["digits"])
            qty = int(round(diff * mult))
            rows.append({"单位名称": names[m["institution"]], "户号": acct, "表计编号": m["code"],
                         "起始日期": reads[i - 1].strftime("%Y-%m-%d"),
                         "截止日期": (reads[i] - timedelta(days=1)).strftime("%Y-%m-%d"),
                         "起码": fmt_num(regs[i - 1], 2), "止码": fmt_num(regs[i], 2), "倍率": int(mult),
                         "电量(kWh)": qty, "单价(元/kWh)": str(price),
                         "电费(元)": str((Decimal(qty) * price).quantize(Decimal("0.01")))})
    write_csv(pd.DataFrame(rows), site.folder / "electricity_bills_gbk.csv", "gbk")
    # water: bi-monthly for 5-digit (small) meters, monthly for 6-digit meters, off-cycle read days
    rows = []
    rollovers = []
    for m in site.contract["meters"]:
        if m["utility"] != "water":
            continue
        digits = int(m["digits"])
        step = 2 if digits == 5 else 1
        day = int(rng.integers(5, 26))
        acct = f"YXSW{int(rng.integers(10**6, 10**7))}"
        months = month_starts(site.data_start - timedelta(days=62), site.data_end + timedelta(days=62))
        months = [d for d in months if (d.year * 12 + d.month) % step == 0]
        rd = []
        for d in months:
            x = date(d.year, d.month, min(day + int(rng.integers(-2, 3)), 28))
            while x.weekday() >= 5:
                x += timedelta(days=1)
            rd.append(datetime(x.year, x.month, x.day, 9, 0))
        # start readings low enough that only YX-SYXX-W01 (started at 30,000 m3) rolls over in the data
        annual = float(site.loads[f"{m['institution']}:water"].target)
        r0 = 30_000.0 if m["code"] == "YX-SYXX-W01" else float(
            rng.integers(100, max(200, int(10**digits - 4.5 * annual))))
        raw = np.floor(cumulative_at(res, m["code"], rd, r0, 1.0))
        reg = np.mod(raw, 10**digits).astype(int)
        for i in range(1, len(rd)):
            qty = int(raw[i] - raw[i - 1])
            if reg[i] < reg[i - 1]:
                rollovers.append(f"{m['code']} (bill ending {rd[i].date()})")
            rows.append({"单位名称": names[m["institution"]], "户号": acct, "表计编号": m["code"],
                         "上次抄表日期": rd[i - 1].strftime("%Y-%m-%d"), "本次抄表日期": rd[i].strftime("%Y-%m-%d"),
                         "上次读数": int(reg[i - 1]), "本次读数": int(reg[i]), "用水量(m3)": qty,
                         "单价(元/m3)": YIXING_WATER_PRICE,
                         "水费(元)": str((Decimal(qty) * Decimal(YIXING_WATER_PRICE)).quantize(Decimal("0.01")))})
    write_csv(pd.DataFrame(rows), site.folder / "water_bills_gbk.csv", "gbk")
    return [f"""### `electricity_bills_gbk.csv`
State Grid monthly bills for every electricity meter of the package, as the bureau's finance office exports
them. **Encoding GBK**, header
`单位名称,户号,表计编号,起始日期,截止日期,起码,止码,倍率,电量(kWh),单价(元/kWh),电费(元)`.
Calendar months (read at 00:00 on the 1st; `起始日期`..`截止日期` inclusive), {site.data_start} to
{site.data_end}. `起码`/`止码` are raw registers (2 decimals); `电量` = (止码 - 起码) x 倍率, rounded to the kWh.
Prices: {YIXING_ELEC_PRICE_LV} CNY/kWh below 1 kV, {YIXING_ELEC_PRICE_HV} at 10 kV (multiplier >= 1000), flat
(invented averages; real bills are time-of-use).
""", f"""### `water_bills_gbk.csv`
Water-company bills for every water meter. **Encoding GBK**, header
`单位名称,户号,表计编号,上次抄表日期,本次抄表日期,上次读数,本次读数,用水量(m3),单价(元/m3),水费(元)`.
Small meters (5 digits) are read **every two months**, large ones (6 digits) monthly, each account on its
own day of the month (09:00, moved off weekends): bills are off-cycle and the first ones start before the
baseline year, so calendarise them. Readings are whole m3 of the mechanical register.
**Rollover:** {', '.join(rollovers) or 'none'}: the register passes 99,999 and restarts at 0; `用水量` is
given correctly across it. {YIXING_WATER_PRICE} CNY/m3.
"""]


# --------------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------------
SITES = {
    "WX-SMZX-2018": ("wuxi-civic-centre.toml", site_wuxi, export_wuxi),
    "CZ-ZLRMYY-HVAC-2024": ("hospital-hvac-lighting.toml", site_hospital, export_hospital),
    "WX-LHZY-WATER-2024": ("university-water.toml", site_university, export_university),
    "CZ-TNXZZX-PV-2022": ("pv-lease.toml", site_pv, None),
    "YX-TG-2023": ("yixing-county-custody.toml", site_yixing, export_yixing),
}


def load_contract(path: Path) -> dict:
    with path.open("rb") as fh:
        data = tomllib.load(fh, parse_float=Decimal)
    if data.get("contract", {}).get("code") not in SITES:
        raise SystemExit(f"{path}: contract code {data.get('contract', {}).get('code')!r} has no site model here")
    return data


def build(code: str, contracts_dir: Path, out: Path, seed: int) -> dict:
    fname, make, export = SITES[code]
    contract = load_contract(contracts_dir / fname)
    site = make(contract, out)
    site.folder.mkdir(parents=True, exist_ok=True)
    res = simulate(site, seed)
    weather_csv(site, seed)
    if code == "CZ-TNXZZX-PV-2022":
        docs = export_pv(site, res, seed)
        site.meters = [m for m in site.meters if m.code != "CZ-TNXZZX-LOAD"]
        site.meters += [MeterDef("CZ-TNXZZX-E01", "building", {}), MeterDef("CZ-TNXZZX-PV01", "building", {})]
    else:
        docs = export(site, res)
    contract_codes = {m["code"] for m in contract.get("meters", [])}
    for m in site.meters:
        if m.code not in contract_codes:
            raise SystemExit(f"{code}: exported meter {m.code} is not in {fname}")
    truth = truth_files(site, res)
    summary = write_readme(site, res, fname, docs, truth, seed)
    return summary


def write_readme(site: Site, res: Result, fname: str, docs: list[str], truth: list[str], seed: int) -> dict:
    code = site.code
    sav_lines = []
    summary: dict = {"code": code, "folder": site.folder.name, "savings": []}
    if code == "CZ-TNXZZX-PV-2022":
        rows = savings_table(site, res, ["CZ-TNXZZX-E01"])
        sav_lines.append("Grid import (E01), counterfactual = the building load without the PV plant:\n")
        sav_lines.append(savings_markdown(rows, "kWh"))
        exp = site.extra["export"]
        for label, s, e in site.periods:
            mask = window(res, s, e)
            gen = res.meter_act["CZ-TNXZZX-PV01"][mask].sum()
            ex = exp[mask].sum()
            if gen > 0:
                sav_lines.append(f"\n- {label}: PV generation {gen:,.0f} kWh ({gen / PV_KWP:,.0f} kWh/kWp), "
                                 f"exported to the grid {ex:,.0f} kWh ({ex / gen:.1%}), self-consumed "
                                 f"{gen - ex:,.0f} kWh.")
        summary["savings"] = [("electricity (grid import)", r[0], r[4]) for r in rows]
        model = (f"\nPV model: {PV_KWP:.0f} kWp, in-plane irradiation normals (kWh/m2/day, Jan..Dec) "
                 f"{PV_IRRADIATION} (approximate, invented from general knowledge of southern Jiangsu), "
                 f"performance ratio {PV_PR}, degradation {PV_DEGRADATION:.1%}/yr from {PV_COD}, daily "
                 "cloudiness factor 1 + 0.38 x AR(1)(phi 0.4) clipped to [0.08, 1.35], hourly shape sin^1.3 "
                 f"between sunrise and sunset at latitude {LATITUDE} N. Grid import per hour = max(0, load - PV); "
                 "surplus goes to the grid on a reverse register that is not exported.\n")
    else:
        model = ""
        by_util: dict[str, list[str]] = {}
        for load in site.loads.values():
            by_util.setdefault(load.utility, []).extend(load.target_meters)
        for util, meters in by_util.items():
            unit = next(ld.unit for ld in site.loads.values() if ld.utility == util)
            rows = savings_table(site, res, meters)
            label = util if len(meters) <= 3 else f"{util} (all {len(meters)} meters)"
            if len(meters) > 3:
                rows = [(r[0], f"all {len(meters)} {util} meters", *r[2:]) for r in rows]
            sav_lines.append(f"\n{label}:\n")
            sav_lines.append(savings_markdown(rows, unit))
            summary["savings"] += [(util, r[0], r[4]) for r in rows]
    terms = terms_markdown(site, res) if code != "YX-TG-2023" else yixing_terms_markdown(site, res)
    text = f"""# {code}: synthetic meter data

{COMMON_README.format(gen=GENERATOR, seed=seed)}
Contract file: `contracts/{fname}`. Periods:

{periods_readme(site)}

## Files

{weather_readme(site)}
{''.join(d + chr(10) for d in docs)}
{truth_readme(truth)}

## The model that generated the data

Daily use of each load is the sum of its terms (T = daily mean temperature from `weather.csv`):
`base = level[day type]`, `cool = slope x max(0, T - Tb) x usage[day type]`,
`heat = slope x max(0, Tb - T) x usage[day type]`, all multiplied by one lognormal day-to-day noise factor
(mean 1). Day types: `work` = a working day per the official calendar (incl. adjusted working weekends),
`off` = weekend or public holiday; schools: `term_work`, `term_off`, `vac` (winter vacation from
max(Jan 10, Spring Festival - 21 d) to Spring Festival + 17 d; summer vacation Jul 6 (colleges) or Jul 1
(K-12) to Aug 31). Each term is spread over the day by a fixed 24-hour shape per day type; a meter's hourly
values get extra hourly noise that is renormalised so the daily totals stay exact. During each contract
year a term's actual use is its counterfactual x (1 - saved fraction). The nominal model is calibrated
(multiplied by the factor shown) so the baseline total of the utility's billing meters equals the
contract's `[baseline.use]`.
{terms}
{model}
Baseline check:

{baseline_check(site, res)}

## True savings (what M&V should recover)

Computed from the daily truth files (savings = counterfactual - actual, positive = saved):
{chr(10).join(sav_lines)}
"""
    (site.folder / "README.md").write_text(text, encoding="utf-8")
    summary["files"] = sorted(p.name for p in site.folder.iterdir())
    summary["periods"] = site.periods
    return summary


def yixing_terms_markdown(site: Site, res: Result) -> str:
    lines = ["\nEvery institution has one electricity load and one water load built from a template per "
             "category (terms: electricity `base`, `cooling`, `heating`; water `use` and `summer`), calibrated "
             "so that its 2022 total equals floor area x electricity intensity and energy users x water "
             "intensity (kWh/m2/yr: " + ", ".join(f"{k} {v}" for k, v in YIXING_EI.items()) +
             "; m3/person/yr: " + ", ".join(f"{k} {v}" for k, v in YIXING_WI.items()) + ").\n",
             "Saved fractions in contract year 1 (year 2 = year 1 x 1.1 for electricity, same for water):\n",
             "| category | electricity base / cooling / heating | water |", "|---|---|---|"]
    for cat, (b, c, h) in YIXING_ELEC_SAVINGS.items():
        lines.append(f"| {cat} | {b:.0%} / {c:.0%} / {h:.0%} | {YIXING_WATER_SAVINGS[cat]:.0%} |")
    lines.append("\nTemplates (relative levels before calibration):\n")
    lines.append("| category | base level by day type | cooling slope, Tb | heating slope, Tb |")
    lines.append("|---|---|---|---|")
    seen = set()
    for inst in site.contract["institutions"]:
        cat = inst["category"]
        if cat in seen:
            continue
        seen.add(cat)
        e, _, _ = _yixing_templates(cat)
        lines.append(f"| {cat} | {e[0].level} | {e[1].slope} x base, {e[1].balance} degC | "
                     f"{e[2].slope} x base, {e[2].balance} degC |")
    lines.append(f"\nNon-routine change: {YIXING_NEW_BUILDING[0]} opens a new 6,500 m2 teaching building on "
                 f"{YIXING_NEW_BUILDING[1]}; all its electricity terms x {YIXING_NEW_BUILDING[2]} from that day in "
                 "both the counterfactual and the actual. A custody settlement must treat it as an approved "
                 "floor-area / non-routine adjustment, not as negative savings.")
    lines.append("\nPer-institution calibrated baseline (2022) and true savings:\n")
    lines.append("| institution | category | electricity 2022 kWh | saved y1 | saved y2 | water 2022 m3 | saved y1 "
                 "| saved y2 |")
    lines.append("|---|---|---|---|---|---|---|---|")
    bmask = window(res, *site.baseline)
    ymask = [window(res, s, e) for lab, s, e in site.periods if lab.startswith("year")]
    for inst in site.contract["institutions"]:
        c = inst["code"]
        cells = [c, inst["category"]]
        for util in ("electricity", "water"):
            ld = site.loads[f"{c}:{util}"]
            base = sum(res.meter_act[m][bmask].sum() for m in ld.target_meters)
            cells.append(f"{base:,.0f}")
            for ym in ymask:
                cf = sum(res.meter_cf[m][ym].sum() for m in ld.target_meters)
                act = sum(res.meter_act[m][ym].sum() for m in ld.target_meters)
                cells.append(f"{1 - act / cf:.2%}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


TOP_README = """# Synthetic baselines and meter exports for the example contracts

**This data is synthetic.** It was generated by `scripts/gen_baselines.py` from approximate published
monthly climate normals (Wuxi, Changzhou; an approximate Yixing series) and invented but realistic load
shapes (weather-dependent heating and cooling, workdays, weekends and Chinese public holidays, school terms
and vacations, hospital 24/7 operation, PV irradiation). It is **not real meter data** and describes no real
building's consumption. Use it to test import, M&V and settlement code: each folder states the true model
parameters and the true savings so tests can check recovery.

Regenerate (deterministic; the same seed gives the same files):

    .venv/bin/python scripts/gen_baselines.py            # seed {seed}, all examples, into baselines/
    .venv/bin/python scripts/gen_baselines.py --help

| folder | contract file | periods | files | true savings (contract year 1 / year 2) |
|---|---|---|---|---|
{rows}

Shapes covered: GBK CSV with Chinese headers holding raw cumulative registers with a multiplier and a
rollover (`WX-SMZX-2018`), XLSX wide layout with a title row (`CZ-ZLRMYY-HVAC-2024`), UTF-8-with-BOM long
layout (`WX-SMZX-2018`, `WX-LHZY-WATER-2024`), daily cumulative-register readings (`CZ-TNXZZX-PV-2022`),
monthly and bi-monthly bills with start and end dates for gas, water and electricity (`WX-SMZX-2018`,
`WX-LHZY-WATER-2024`, `CZ-TNXZZX-PV-2022`, `YX-TG-2023`), data gaps and off-cycle bills. Every meter code
in the exports is a meter of the contract file.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate synthetic weather and meter exports (baselines/<contract code>/) for the "
                    "example contracts in contracts/. Deterministic for a given seed.")
    parser.add_argument("--contracts", type=Path, default=ROOT / "contracts", help="folder of contract files")
    parser.add_argument("--out", type=Path, default=ROOT / "baselines", help="output folder (default baselines/)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--only", nargs="*", metavar="CODE", choices=sorted(SITES),
                        help="contract codes to generate (default: all)")
    args = parser.parse_args(argv)
    SEED_HOLDER[0] = args.seed
    _WEATHER_CACHE.clear()
    codes = args.only or list(SITES)
    summaries = []
    for code in codes:
        s = build(code, args.contracts, args.out, args.seed)
        summaries.append(s)
        print(f"{code}: " + ", ".join(f"{u} {p} {f:.2%}" for u, p, f in s["savings"]))
    if not args.only:
        rows = []
        for s in summaries:
            per = "; ".join(f"{lab} {a}..{b}" for lab, a, b in s["periods"])
            by_util: dict[str, list[str]] = {}
            for u, _p, f in s["savings"]:
                by_util.setdefault(u, []).append(f"{f:.1%}")
            sav = "; ".join(f"{u} {' / '.join(v)}" for u, v in by_util.items())
            rows.append(f"| [`{s['folder']}`]({s['folder']}/README.md) | `contracts/{SITES[s['code']][0]}` | "
                        f"{per} | {', '.join(f'`{f}`' for f in s['files'])} | {sav} |")
        (args.out / "README.md").write_text(TOP_README.format(seed=args.seed, rows="\n".join(rows)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
