"""Weather observations through the meter checks: stations created on first sight, temperatures outside what any
station records refused, stored observations found and new ones written (the degree-day input of the baselines)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import not_, select
from sqlmodel import Session

from emc.dbtypes import from_epoch_us, to_epoch_us, utcnow
from emc.metering.accepted import Accepted
from emc.metering.checks import MeterChecker, MeterInfo, _State
from emc.metering.findings import Finding, Findings
from emc.metering.models import ImportBatch, WeatherObservation, WeatherStation
from emc.org.models import Institution
from emc.org.scope import Scope

TEMPERATURE_RANGE_C = (-60.0, 60.0)


def stations(session: Session) -> dict[str, int]:
    return {code: sid for sid, code in session.execute(select(WeatherStation.id, WeatherStation.code)).all()}


class WeatherChecker(MeterChecker):
    """Weather rows reuse the meter checks for periods, duplicates and gaps; stations are created on
    first sight (a warning), temperatures outside what any station records are errors."""

    def __init__(self, session: Session, stations: dict[str, int], *, station: str | None, interval_s: int | None,
                 findings: Findings, scope: Scope) -> None:
        self.session, self.stations = session, stations
        self.default_station = station
        # a region's manager writes weather only for stations no institution outside the region uses: the
        # observations feed every baseline on that station (emc/scope_rules.py scopes the batches the same way)
        self.foreign: set[str] = set() if scope.is_unrestricted else set(session.execute(
            select(Institution.weather_station).where(not_(scope.institutions()))).scalars())
        self.created: list[str] = []
        infos = {code: MeterInfo(sid, code, "C", allowed=code not in self.foreign) for code, sid in stations.items()}
        super().__init__(infos, now_us=to_epoch_us(utcnow()), value_kind="consumption",
                         interval_s=interval_s, findings=findings)

    def feed(self, parsed):  # type: ignore[no-untyped-def]
        if self.default_station:  # --station: every row belongs to it, whatever the file says
            parsed.code[:] = self.default_station
        for code in {str(c) for c in parsed.code} - set(self.meters):
            station = WeatherStation(code=code[:40], name="")
            self.session.add(station)
            self.session.flush()
            self.stations[code] = station.id
            self.meters[code] = MeterInfo(station.id, code, "C", allowed=code not in self.foreign)
            self.created.append(code)
            self.findings.add(Finding("new_station", f"weather station {code} is new and was created", value=code))
        parsed.unit[:] = None
        return super().feed(parsed)

    def _refuse(self, code: str, parsed, idx) -> None:  # type: ignore[no-untyped-def]
        self._row_errors("station_not_yours", f"weather station {code} serves institutions outside your scope; an "
                         "administrator or a manager covering them imports its data", parsed, idx, code)

    def _meter(self, meter, parsed, idx, date_only):  # type: ignore[no-untyped-def]
        st = self.state.setdefault(meter.code, _State())
        start, end = self._periods(meter, st, parsed, idx, date_only)
        value, rows = parsed.value[idx], parsed.row[idx]
        keep = self._duplicates(meter, st, start, end, value, rows)
        prev_end = np.r_[st.last_end if st.last_end >= 0 else start[0], end[:-1]]
        for i in np.flatnonzero((start > prev_end) & keep)[:200]:
            self.findings.add(Finding("gap", "missing weather periods before this one", int(rows[i]), None, None,
                                      meter.code))
        st.last_end = max(st.last_end, int(end[-1]))
        st.rows += int(keep.sum())
        st.total += float(value[keep].sum())
        st.first = int(start.min()) if st.first < 0 else st.first
        n = int(keep.sum())
        return Accepted(np.full(n, meter.id, dtype=np.int64), start[keep], end[keep], value[keep], value[keep],
                        np.ones(n), np.zeros(n, dtype=bool), rows[keep])

    def range_check(self, rows: Accepted) -> Accepted:
        lo, hi = TEMPERATURE_RANGE_C
        bad = (rows.value < lo) | (rows.value > hi)
        for i in np.flatnonzero(bad)[:1000]:
            self.findings.add(Finding("temperature_out_of_range",
                                      f"{rows.value[i]:.1f} °C is outside {lo:g}..{hi:g} °C",
                                      int(rows.row[i]), None, f"{rows.value[i]:.1f}"))
        return Accepted(*(getattr(rows, f)[~bad] for f in Accepted.__dataclass_fields__))

    def forget_created(self) -> None:
        self.created.clear()


def existing_weather(session: Session, rows: Accepted) -> pd.DataFrame:
    found = session.execute(select(WeatherObservation).where(
        WeatherObservation.station_id.in_([int(s) for s in np.unique(rows.meter_id)]),
        WeatherObservation.period_start >= from_epoch_us(int(rows.start.min())),
        WeatherObservation.period_start <= from_epoch_us(int(rows.start.max())))).scalars().all()
    return pd.DataFrame([{"id": o.id, "meter_id": o.station_id, "start": to_epoch_us(o.period_start),
                          "end": to_epoch_us(o.period_end), "value": o.temperature_c, "batch_id": o.batch_id}
                         for o in found], columns=["id", "meter_id", "start", "end", "value", "batch_id"])


def insert_weather(session: Session, batch: ImportBatch, rows: Accepted) -> None:
    if len(rows):
        session.execute(WeatherObservation.__table__.insert(), [
            {"station_id": int(m), "period_start": from_epoch_us(int(a)), "period_end": from_epoch_us(int(b)),
             "temperature_c": float(v), "batch_id": batch.id}
            for m, a, b, v in zip(rows.meter_id, rows.start, rows.end, rows.value, strict=True)])
