"""Simulated meters: seeded synthetic weather and meters with *known* models and savings, for tests and benchmarks.

Not the demo portfolio (the generator of a whole synthetic tenancy, beside the demo); this module makes single
meters whose true baseline and savings are known, so the M&V fits can be checked against them.

Nothing here is real data. Weather: a seasonal cycle shaped like the Yangtze delta (Wuxi normals: about
4 °C in January, 29 °C in July) plus AR(1) day-to-day anomalies, and a diurnal swing for hourly data.
Loads: a change-point response (heating below ``heating_bp``, cooling above ``cooling_bp``), a working-day
effect on the Chinese official calendar, multiplicative AR(1) noise, and a known savings fraction applied
from the reporting period on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .calendar import workdays


@dataclass(frozen=True)
class MeterSpec:
    base: float = 1000.0  # usage per non-working day without weather load
    workday_extra: float = 0.6  # extra base load on working days, as a share of base
    heating_slope: float = 40.0  # usage per °C·day below heating_bp
    heating_bp: float = 14.0
    cooling_slope: float = 60.0
    cooling_bp: float = 22.0
    hvac_workday_share: float = 1.0  # weather load on non-working days as a share of that on working days
    noise_cv: float = 0.05
    noise_rho: float = 0.5
    savings: float = 0.10

    def to_dict(self) -> dict:
        return asdict(self)


def daily_weather(start: str, days: int, rng: np.random.Generator, *, mean: float = 16.5, amplitude: float = 12.5,
                  anomaly_sd: float = 2.3, anomaly_rho: float = 0.7) -> pd.Series:
    """Daily mean temperature °C: seasonal cosine (coldest mid-January) plus AR(1) anomalies."""
    idx = pd.date_range(start, periods=days, freq="D")
    doy = idx.day_of_year.to_numpy()
    seasonal = mean - amplitude * np.cos(2 * np.pi * (doy - 15) / 365.25)
    e = rng.normal(0.0, anomaly_sd * np.sqrt(1 - anomaly_rho**2), days)
    a = np.empty(days)
    a[0] = rng.normal(0.0, anomaly_sd)
    for i in range(1, days):
        a[i] = anomaly_rho * a[i - 1] + e[i]
    return pd.Series(seasonal + a, index=idx, name="temperature")


def ar1(n: int, rho: float, sd: float, rng: np.random.Generator) -> np.ndarray:
    """A stationary AR(1) series of length ``n`` with lag-1 correlation ``rho`` and standard deviation ``sd``."""
    e = rng.normal(0.0, sd * np.sqrt(max(1 - rho**2, 0.0)), n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        out[i] = rho * out[i - 1] + e[i]
    return out


def daily_meter(spec: MeterSpec, temperature: pd.Series, rng: np.random.Generator, *,
                reporting_start: str | None = None, calendar: str = "cn") -> pd.DataFrame:
    """Daily usage for ``temperature``; columns usage (actual), counterfactual, temperature, workday."""
    t = temperature.to_numpy(dtype=float)
    work, _ = workdays(temperature.index, calendar)
    w = work.astype(float)
    weather = spec.heating_slope * np.maximum(spec.heating_bp - t, 0) + spec.cooling_slope * np.maximum(
        t - spec.cooling_bp, 0)
    weather = weather * np.where(work, 1.0, spec.hvac_workday_share)
    cf = spec.base * (1 + spec.workday_extra * w) + weather
    cf = cf * (1 + ar1(t.size, spec.noise_rho, spec.noise_cv, rng))
    actual = cf.copy()
    if reporting_start is not None:
        rep = temperature.index >= pd.Timestamp(reporting_start)
        actual[rep] = cf[rep] * (1 - spec.savings)
    return pd.DataFrame({"usage": actual, "counterfactual": cf, "temperature": t, "workday": w},
                        index=temperature.index)


def changepoint_meter(temperature: pd.Series, rng: np.random.Generator, *, base: float, heating_slope: float,
                      heating_bp: float, cooling_slope: float, cooling_bp: float, noise_sd: float, noise_rho: float,
                      savings: float, reporting_start: str) -> pd.DataFrame:
    """A plain change-point meter: usage = base + heating·HDD + cooling·CDD + additive AR(1) noise (ρ = 0 for
    independent days), no calendar effect; the known ``savings`` fraction applies from ``reporting_start``.
    The known-truth sets of the savings-uncertainty benchmark (docs/mv.md §3) are drawn from it."""
    t = temperature.to_numpy(dtype=float)
    cf = base + heating_slope * np.maximum(heating_bp - t, 0) + cooling_slope * np.maximum(t - cooling_bp, 0)
    cf = cf + ar1(t.size, noise_rho, noise_sd, rng)
    actual = cf.copy()
    rep = temperature.index >= pd.Timestamp(reporting_start)
    actual[rep] = cf[rep] * (1 - savings)
    return pd.DataFrame({"usage": actual, "counterfactual": cf, "temperature": t}, index=temperature.index)


def hourly_weather(daily: pd.Series, rng: np.random.Generator, *, swing: float = 4.0) -> pd.Series:
    """Hourly temperature: the daily mean plus a diurnal swing peaking at 15:00 and a little noise."""
    idx = pd.date_range(daily.index[0], periods=len(daily) * 24, freq="h")
    hour = idx.hour.to_numpy()
    t = np.repeat(daily.to_numpy(dtype=float), 24) + swing * np.cos(2 * np.pi * (hour - 15) / 24)
    return pd.Series(t + rng.normal(0, 0.5, t.size), index=idx, name="temperature")


def hourly_meter(spec: MeterSpec, temperature: pd.Series, rng: np.random.Generator, *,
                 reporting_start: str | None = None, open_hours: tuple[int, int] = (8, 18),
                 calendar: str = "cn") -> pd.DataFrame:
    """Hourly usage: occupied-hours schedule on working days, HVAC mostly in occupied hours, AR(1) noise."""
    idx = temperature.index
    t = temperature.to_numpy(dtype=float)
    work, _ = workdays(idx.floor("D"), calendar)
    hour = idx.hour.to_numpy()
    occ = work & (hour >= open_hours[0]) & (hour < open_hours[1])
    base = spec.base / 24 * np.where(occ, 1 + 2.4 * spec.workday_extra, 0.75)
    hvac = (spec.heating_slope * np.maximum(spec.heating_bp - t, 0) + spec.cooling_slope * np.maximum(
        t - spec.cooling_bp, 0)) / 24
    hvac = hvac * np.where(occ, 2.0, 0.3 * spec.hvac_workday_share)
    cf = (base + hvac) * (1 + ar1(t.size, 0.8, spec.noise_cv * 2, rng))
    actual = cf.copy()
    if reporting_start is not None:
        rep = idx >= pd.Timestamp(reporting_start)
        actual[rep] = cf[rep] * (1 - spec.savings)
    return pd.DataFrame({"usage": actual, "counterfactual": cf, "temperature": t}, index=idx)


def bills_from_daily(daily: pd.DataFrame, starts: list[str], end: str, column: str = "usage") -> pd.DataFrame:
    """Bills (index start, columns end, usage, temperature = mean) summed from daily usage."""
    s = pd.DatetimeIndex(pd.to_datetime(starts))
    e = pd.DatetimeIndex(list(s[1:]) + [pd.Timestamp(end)])
    rows = []
    for a, b in zip(s, e, strict=True):
        part = daily.loc[(daily.index >= a) & (daily.index < b)]
        rows.append({"end": b, "usage": float(part[column].sum()), "temperature": float(part["temperature"].mean())})
    return pd.DataFrame(rows, index=s)
