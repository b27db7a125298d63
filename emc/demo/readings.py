"""Synthetic readings (daily, hourly or monthly) of every planned meter, bulk-inserted with SQLAlchemy Core."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert
from sqlmodel import Session

from emc.dbtypes import utcnow
from emc.demo.plan import Climate, MeterPlan, Plan
from emc.demo.spec import CHUNK_ROWS, TIMEZONE, PortfolioSpec
from emc.metering.models import Reading

# ---------------------------------------------------------------------------------------------
# Readings
# ---------------------------------------------------------------------------------------------


def _boundaries(spec: PortfolioSpec) -> tuple[list[datetime], np.ndarray]:
    """Period boundaries (aware UTC datetimes of the local, Asia/Shanghai, boundaries) and each
    period's first day as an index into the window."""
    freq = {"daily": "D", "hourly": "h", "monthly": "MS"}[spec.interval]
    local = pd.date_range(pd.Timestamp(spec.start), pd.Timestamp(spec.end), freq=freq, tz=TIMEZONE)
    day_index = np.asarray((local[:-1].tz_localize(None).normalize() - pd.Timestamp(spec.start)).days)
    return list(local.tz_convert("UTC").to_pydatetime()), day_index


def _hour_profiles(climate: Climate, w0: int, n_days: int) -> dict[str, np.ndarray]:
    """Hourly shares of each day's use (rows sum to 1): an office-hours bell on busy days, a flat
    night load, the sun's arc for PV."""
    hours = np.arange(24)
    busy = 0.35 + np.exp(-0.5 * ((hours - 13.5) / 3.2) ** 2)
    quiet = 0.6 + 0.2 * np.exp(-0.5 * ((hours - 14) / 4) ** 2)
    sun = np.clip(np.sin(np.pi * (hours + 0.5 - 6) / 12), 0, None)
    out = {"pv": np.tile(sun / sun.sum(), (n_days, 1))}
    for cat, occ in climate.occupancy.items():
        o = occ[w0:w0 + n_days, None]
        prof = np.where(o >= 0.6, busy / busy.sum(), quiet / quiet.sum())
        out[cat] = prof
    return out


def _daily_values(plan_: Plan, meters: list[MeterPlan], rng: np.random.Generator, w0: int,
                  n_days: int) -> np.ndarray:
    climate, insts, contracts = plan_.climate, plan_.institutions, plan_.contracts
    day0 = climate.days[0].date()
    out = np.empty((len(meters), n_days))
    idx = np.arange(w0, w0 + n_days)
    for k, m in enumerate(meters):
        inst = insts[m.inst]
        if m.utility == "pv":
            noise = rng.lognormal(-m.noise ** 2 / 2, m.noise, n_days)
            series = m.annual / 365.25 * climate.solar[w0:w0 + n_days] * noise
            if m.commissioned is not None:
                series[idx < (m.commissioned - day0).days] = 0.0
        else:
            shape = m.fractions @ climate.basis[inst.category][:, w0:w0 + n_days]
            noise = rng.lognormal(-m.noise ** 2 / 2, m.noise, n_days)
            series = m.annual / 365.25 * shape * noise
            if m.contract >= 0:
                start = (contracts[m.contract].start - day0).days
                ramp = np.clip((idx - start) / 60.0, 0.0, 1.0)  # commissioning: two months to full saving
                series = series * (1.0 - m.saving * ramp)
        out[k] = series
    return out


def write_readings(session: Session, plan_: Plan, ids: dict[str, int],
                    rng: np.random.Generator) -> tuple[int, int]:
    spec, climate = plan_.spec, plan_.climate
    bounds, first_day = _boundaries(spec)
    starts, ends = bounds[:-1], bounds[1:]
    n_periods = len(starts)
    w0 = climate.index(spec.start)
    n_days = (spec.end - spec.start).days
    profiles = _hour_profiles(climate, w0, n_days) if spec.interval == "hourly" else {}
    per_chunk = max(1, CHUNK_ROWS // n_periods)
    created = utcnow()
    table = Reading.__table__  # type: ignore[attr-defined]
    total = 0
    for c0 in range(0, len(plan_.meters), per_chunk):
        chunk = plan_.meters[c0:c0 + per_chunk]
        daily = _daily_values(plan_, chunk, rng, w0, n_days)
        if spec.interval == "monthly":
            values = np.add.reduceat(daily, first_day, axis=1)
        elif spec.interval == "hourly":
            values = np.empty((len(chunk), n_days * 24))
            for k, m in enumerate(chunk):
                prof = profiles["pv" if m.utility == "pv" else plan_.institutions[m.inst].category]
                hourly = daily[k, :, None] * prof * rng.lognormal(-0.08 ** 2 / 2, 0.08, (n_days, 24))
                values[k] = hourly.ravel()
        else:
            values = daily
        values = np.round(values, 3)
        rows: list[dict[str, Any]] = []
        for k, m in enumerate(chunk):
            unit = "kWh" if m.utility in ("electricity", "pv") else "m3"
            mid = ids[m.code]
            rows.extend({"meter_id": mid, "period_start": s, "period_end": e, "value": v, "source_value": v,
                         "source_unit": unit, "factor": 1.0, "estimated": False, "batch_id": None,
                         "created_at": created}
                        for s, e, v in zip(starts, ends, values[k].tolist(), strict=True))
        session.execute(insert(table), rows)
        total += len(rows)
    return total, n_periods


# ---------------------------------------------------------------------------------------------
# Into the database
# ---------------------------------------------------------------------------------------------
