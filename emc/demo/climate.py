"""Daily weather and occupancy drivers of a Yangtze-delta (Wuxi) city: temperature with an AR(1) anomaly,
degree days, the Chinese working-day calendar, school terms and a PV yield shape."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from emc.demo.plan import Climate
from emc.demo.spec import PortfolioSpec, add_months


def _workdays(days: pd.DatetimeIndex) -> np.ndarray:
    """Official working days (调休 included) by ``chinese_calendar``; plain Mon–Fri outside its years."""
    import chinese_calendar

    flags = np.empty(len(days), dtype=bool)
    for i, ts in enumerate(days):
        d = ts.date()
        try:
            flags[i] = chinese_calendar.is_workday(d)
        except NotImplementedError:
            flags[i] = d.weekday() < 5
    return flags


def climate_drivers(spec: PortfolioSpec, rng: np.random.Generator) -> Climate:
    days = pd.date_range(add_months(spec.start, -60), spec.end - timedelta(days=1), freq="D")
    n = len(days)
    doy = days.day_of_year.to_numpy()
    # Yangtze delta (Wuxi) daily mean: ~3.5 °C in mid-January, ~29 °C in late July, plus an AR(1)
    # weather anomaly (sd ≈ 2.7 °C) so that degree-day regressions have something to explain.
    seasonal = 16.3 + 12.7 * np.cos(2 * np.pi * (doy - 201) / 365.25)
    shocks = rng.normal(0.0, 1.6, n)
    anomaly = np.empty(n)
    level = 0.0
    for i in range(n):
        level = 0.8 * level + shocks[i]
        anomaly[i] = level
    temperature = seasonal + anomaly
    # Fitted balance points of air-conditioned offices sit below the 26/18 °C of the standards.
    cdd = np.maximum(temperature - 22.0, 0.0)
    hdd = np.maximum(14.0 - temperature, 0.0)
    work = _workdays(days)
    month, dom = days.month.to_numpy(), days.day.to_numpy()
    school_break = ((month == 1) & (dom >= 20)) | ((month == 2) & (dom <= 20)) | (
        (month == 7) & (dom >= 5)) | (month == 8)
    occ = {
        "organ": np.where(work, 1.0, 0.25),
        "school": np.where(school_break, 0.25, np.where(work, 1.0, 0.2)),
        "hospital": np.where(work, 1.0, 0.85),
        "venue": np.where(work, 0.8, 1.0),
        "other": np.where(work, 1.0, 0.35),
    }
    basis, cum = {}, {}
    for cat, o in occ.items():
        rows = np.vstack([np.ones(n), o, cdd * (0.3 + 0.7 * o), hdd * (0.3 + 0.7 * o)])
        rows = rows / rows.mean(axis=1, keepdims=True)
        basis[cat] = rows
        cum[cat] = np.concatenate([np.zeros((4, 1)), np.cumsum(rows, axis=1)], axis=1)
    clear_sky = 1.0 + 0.35 * np.cos(2 * np.pi * (doy - 172) / 365.25)
    cloud = rng.beta(4.0, 1.6, n)
    solar = clear_sky * cloud
    return Climate(days, temperature, basis, cum, occ, solar / solar.mean())

