"""Reader for OpenEEmeter's Illinois billing sample meters (known 10 % savings), for tests and benchmarks.

The files live in ``tests/data/mv/illinois/`` (Apache-2.0, copied from ``eemeter`` 4.1.1; see the README
there). Nothing here is used to fit or settle a real contract.

The baseline is the billing year before the blackout (the intervention): the last 12 monthly (6 bimonthly)
bills that end by its first day; the reporting period the first 12 (6) bills that start after it ends. A
billing year read this way spans 355–375 days, not exactly 365 — which is why CalTRACK's tolerance matters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

TZ = "America/Chicago"


@dataclass(frozen=True)
class BillingSample:
    name: str
    baseline: pd.DataFrame  # index bill start (local date), columns end, usage
    reporting: pd.DataFrame
    temperature: pd.Series  # daily mean °C, indexed by local date
    true_savings_fraction: float
    meta: dict


def _local_dates(values: pd.Series) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True).dt.tz_convert(TZ).dt.tz_localize(None)).normalize()


def illinois_temperature(directory: Path) -> pd.Series:
    """Daily mean temperature in °C (local days) from the hourly °F file."""
    raw = pd.read_csv(directory / "il-tempF.csv.gz")
    idx = pd.DatetimeIndex(pd.to_datetime(raw["dt"], utc=True).dt.tz_convert(TZ).dt.tz_localize(None))
    t = pd.Series((raw["tempF"].to_numpy(dtype=float) - 32.0) / 1.8, index=idx)
    return t.groupby(t.index.floor("D")).mean()


def billing_sample_names(directory: Path) -> list[str]:
    return sorted(json.loads((directory / "metadata.json").read_text(encoding="utf-8")))


def illinois_billing(name: str, directory: Path, temperature: pd.Series | None = None) -> BillingSample:
    """One billing sample split into baseline and reporting bills (see module docstring)."""
    meta = json.loads((directory / "metadata.json").read_text(encoding="utf-8"))[name]
    raw = pd.read_csv(directory / meta["meter_data_filename"])
    starts = _local_dates(raw["start"])
    bills = pd.DataFrame({"end": starts[1:], "usage": raw["value"].to_numpy(dtype=float)[:-1]}, index=starts[:-1])
    blackout0 = pd.Timestamp(meta["blackout_start_date"])
    blackout1 = pd.Timestamp(meta["blackout_end_date"])
    per_year = 6 if meta["freq"] == "billing_bimonthly" else 12
    base = bills[bills["end"] <= blackout0].iloc[-per_year:]
    rep = bills[bills.index >= blackout1].iloc[:per_year]
    temp = temperature if temperature is not None else illinois_temperature(directory)
    true = 1.0 - float(meta["annual_reporting_total_load"]) / float(meta["annual_baseline_total_load"])
    return BillingSample(name, base.astype({"usage": float}), rep.astype({"usage": float}), temp,
                         float(np.round(true, 6)), meta)
