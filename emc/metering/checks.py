"""Check parsed rows meter by meter and turn them into interval consumption (pure: no database).

State is kept per meter across chunks (last period, last register, interval, periods seen), so a
file is checked in one streaming pass with memory bounded by meters × periods, not by file size.

Rules, with the reasons a verification engineer would ask for:
- Cumulative registers: consumption = Δregister × multiplier (CT ratio, 倍率) × unit factor over
  [previous reading, this reading). A drop near the register's capacity (10^digits) is a rollover and
  is counted across; a drop with 换表旧表读数/换表新表读数 is a replacement: (old final − previous) +
  (this − new start). Any other drop is an error: meters do not run backwards.
- Interval values: one timestamp means the period *starting* (or, per profile, *ending*) then, with
  the meter's interval inferred from the file (the most common step; a day for date-only files).
  Bills give start and end dates; a bill's end date is inclusive unless the next bill starts on it
  (meter-read dates), decided per meter from the file.
- Multipliers apply to register differences only: a consumption column is already in final units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np

from emc.metering.accepted import Accepted
from emc.metering.findings import Finding, Findings
from emc.metering.parse import Parsed
from emc.units import UnitError, factor, normalise_unit

US_PER_DAY = 86_400 * 1_000_000
STANDARD_INTERVALS_US = np.array([60, 300, 600, 900, 1800, 3600, 86_400], dtype=np.int64) * 1_000_000
SPIKE_FACTOR = 10.0  # × the 95th percentile of the meter's positive consumption in the file
ZERO_RUN_US = 24 * 3600 * 1_000_000  # a day or more of zeros
ROLLOVER_BAND = 0.1  # a rollover leaves the top 10 % of the register and lands in the bottom 10 %


@dataclass
class MeterInfo:
    id: int
    code: str
    unit: str
    multiplier: float = 1.0
    register_type: str = "interval"
    digits: int | None = None
    allowed: bool = True  # in the uploader's scope


@dataclass
class _State:
    last_start: int = -1
    last_end: int = -1
    last_register: float | None = None
    last_register_t: int = -1
    last_register_row: int = -1  # the file's row of the last register (-1: it came from the database)
    before_last_register: float | None = None  # the register before it, to tell a bad reading from a good one
    interval: int = 0
    bill_end_inclusive: bool | None = None
    origin: int = -1
    seen: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint32))  # 0: unseen, else value hash
    seen_other: dict[tuple[int, int], float] = field(default_factory=dict)
    zero_start: int = -1
    zero_end: int = -1
    zero_row: int = 0
    zero_rows: int = 0
    median: float | None = None
    rows: int = 0
    first: int = -1
    total: float = 0.0
    first_register_reported: bool = False


class MeterChecker:
    """Feed it parsed chunks; it returns accepted rows and records findings."""

    def __init__(self, meters: dict[str, MeterInfo], *, now_us: int, value_kind: str | None,
                 timestamp_is: str = "start", interval_s: int | None = None, findings: Findings | None = None,
                 last_register: Callable[[MeterInfo, int], tuple[int, float] | None] | None = None,
                 tz: str = "Asia/Shanghai") -> None:
        self.meters = meters
        self.now_us = now_us
        self.value_kind = value_kind
        self.timestamp_is = timestamp_is
        self.interval_us = interval_s * 1_000_000 if interval_s else 0
        self.findings = findings or Findings()
        self.last_register = last_register
        self.state: dict[str, _State] = {}
        self.rows_in = 0
        self.tz = tz

    # -- one chunk ------------------------------------------------------------------------------
    def feed(self, parsed: Parsed) -> Accepted:
        self.findings.extend(parsed.findings)
        self.rows_in += len(parsed)
        if not len(parsed):
            return Accepted.empty()
        order = np.lexsort((parsed.t0, parsed.code.astype(str)))
        codes = parsed.code[order]
        bounds = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1], True])
        out: list[Accepted] = []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            idx = order[a:b]
            code = str(codes[a])
            meter = self.meters.get(code)
            if meter is None or not meter.allowed:  # one answer: "not yours" would confirm the code exists
                self._refuse(code, parsed, idx)
                continue
            accepted = self._meter(meter, parsed, idx, parsed.date_only)
            if accepted is not None and len(accepted):
                out.append(accepted)
        if not out:
            return Accepted.empty()
        return Accepted(*(np.concatenate([getattr(a, f) for a in out]) for f in Accepted.__dataclass_fields__))

    def _refuse(self, code: str, parsed: Parsed, idx: np.ndarray) -> None:
        self._row_errors("unknown_meter", f"no meter with code {code!r} among yours", parsed, idx, code)

    def _row_errors(self, code: str, message: str, parsed: Parsed, idx: np.ndarray, meter: str) -> None:
        # the meter column holds the offending code (in a wide file the value column's header is the code)
        for i in idx:
            column = parsed.code_column or str(parsed.column[i])
            self.findings.add(Finding(code, message, int(parsed.row[i]), column, meter, meter))

    def _units(self, meter: MeterInfo, parsed: Parsed, idx: np.ndarray) -> np.ndarray | None:
        """Conversion factor per row into the meter's unit; None (with findings) if a unit is wrong."""
        units = parsed.unit[idx]
        result = np.ones(len(idx))
        ok = True
        for u in set(units.tolist()):
            if u is None or u == "":
                continue
            target = normalise_unit(str(u))
            try:
                if target is None:
                    raise UnitError(f"unknown unit {u!r}")
                f = factor(target, meter.unit)
            except UnitError as exc:
                ok = False
                for i in idx[units == u][:1000]:
                    self.findings.add(Finding("bad_unit", f"{exc}; meter {meter.code} counts in {meter.unit}",
                                              int(parsed.row[i]), str(parsed.column[i]), str(u), meter.code))
                continue
            result[units == u] = f
        return result if ok else None

    # -- one meter within a chunk -----------------------------------------------------------------
    def _meter(self, meter: MeterInfo, parsed: Parsed, idx: np.ndarray, date_only: bool) -> Accepted | None:
        st = self.state.setdefault(meter.code, _State())
        unit_factor = self._units(meter, parsed, idx)
        if unit_factor is None:
            return None
        kind = self.value_kind or ("register" if meter.register_type == "cumulative" else "consumption")
        if kind == "register":  # repeated times are resolved before registers are differenced
            keep_once = self._repeated_readings(meter, st, parsed, idx)
            idx, unit_factor = idx[keep_once], unit_factor[keep_once]
            if not len(idx):
                return None
        rows = parsed.row[idx]
        raw = parsed.value[idx]
        est = parsed.estimated[idx]
        if kind == "register":
            got = self._registers(meter, st, parsed, idx, unit_factor)
            if got is None:
                return None
            start, end, value, source, fac, keep = got
            rows, est = rows[keep], est[keep]
        else:
            start, end = self._periods(meter, st, parsed, idx, date_only)
            value = raw * unit_factor
            source, fac = raw, unit_factor
            neg = value < 0
            for i in np.flatnonzero(neg)[:1000]:
                self.findings.add(Finding("negative_consumption", f"consumption {raw[i]} is below zero",
                                          int(rows[i]), str(parsed.column[idx[i]]), str(raw[i]), meter.code))
            self.findings.counts["negative_consumption"] += max(0, int(neg.sum()) - 1000)
        if not len(start):
            return None
        bad_period = end <= start
        for i in np.flatnonzero(bad_period)[:1000]:
            self.findings.add(Finding("bad_period", "the period ends before it starts", int(rows[i]), None, None,
                                      meter.code))
        future = end > self.now_us
        for i in np.flatnonzero(future)[:1000]:
            self.findings.add(Finding("future_timestamp", f"this period ends {self._t(end[i])}, which has not "
                                      "happened yet", int(rows[i]), parsed.time_column, None, meter.code))
        keep = self._duplicates(meter, st, start, end, value, rows, str(parsed.column[idx[0]]))
        self._gaps_zeros_spikes(meter, st, start[keep], end[keep], value[keep], rows[keep])
        for i in np.flatnonzero(est & keep)[:200]:
            self.findings.add(Finding("estimated", "marked as estimated by the platform", int(rows[i]), None,
                                      str(value[i]), meter.code))
        self.findings.counts["estimated"] += max(0, int((est & keep).sum()) - 200)
        st.rows += int(keep.sum())
        st.total += float(value[keep].sum())
        st.first = int(start[keep].min()) if st.first < 0 and keep.any() else st.first
        n = int(keep.sum())
        return Accepted(np.full(n, meter.id, dtype=np.int64), start[keep], end[keep], value[keep],
                        np.asarray(source, dtype=np.float64)[keep], np.asarray(fac, dtype=np.float64)[keep],
                        est[keep], rows[keep])

    def _periods(self, meter: MeterInfo, st: _State, parsed: Parsed, idx: np.ndarray,
                 date_only: bool) -> tuple[np.ndarray, np.ndarray]:
        t0, t1 = parsed.t0[idx], parsed.t1[idx]
        if (t1 >= 0).all():  # bills: start and end dates
            if date_only:
                if st.bill_end_inclusive is None and len(t0) > 1:
                    st.bill_end_inclusive = not bool((t0[1:] == t1[:-1]).any())
                inclusive = True if st.bill_end_inclusive is None else st.bill_end_inclusive
                return t0, t1 + (US_PER_DAY if inclusive else 0)
            return t0, t1
        if not st.interval:
            if self.interval_us:
                st.interval = self.interval_us
            else:
                # the most common step among the usual metering intervals; a file of a few rows or with
                # holes must not invent a 75-year period
                steps = np.diff(np.unique(t0))
                steps = steps[np.isin(steps, STANDARD_INTERVALS_US)]
                if len(steps):
                    values, counts = np.unique(steps, return_counts=True)
                    st.interval = int(values[counts.argmax()])
            if not st.interval:
                st.interval = US_PER_DAY if date_only else 3600 * 1_000_000
        if self.timestamp_is == "end":
            return t0 - st.interval, t0
        return t0, t0 + st.interval

    def _registers(self, meter: MeterInfo, st: _State, parsed: Parsed, idx: np.ndarray,
                   unit_factor: np.ndarray) -> tuple[np.ndarray, ...]:
        """Cumulative readings → interval consumption: Δregister × multiplier × unit factor per kept period."""
        t, reg = parsed.t0[idx], parsed.value[idx]
        prev_t, prev_r, keep = self._previous_registers(meter, st, parsed, idx)
        delta, replaced = self._replacements(meter, parsed, idx, prev_r, keep)
        negative = (delta < 0) & keep
        if negative.any() and meter.digits:
            delta, negative = self._rollovers(meter, parsed, idx, prev_r, delta, negative)
        self._backwards(meter, st, parsed, idx, prev_t, prev_r, negative & ~replaced, negative)
        if len(t) > 1:
            st.before_last_register = float(reg[-2])
        elif st.last_register is not None and st.last_register_t != t[-1]:
            st.before_last_register = st.last_register
        st.last_register, st.last_register_t = float(reg[-1]), int(t[-1])
        st.last_register_row = int(parsed.row[idx[-1]])
        self._register_gaps(meter, st, parsed, idx, prev_t, keep)
        fac = meter.multiplier * unit_factor
        value = delta * fac
        return prev_t[keep], t[keep], value[keep], reg[keep], fac[keep], keep

    def _previous_registers(self, meter: MeterInfo, st: _State, parsed: Parsed, idx: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each reading's predecessor (time, register) and which readings close a period: the stored register
        anchors the first one; without it the file's first reading only sets the start."""
        t, reg = parsed.t0[idx], parsed.value[idx]
        if st.last_register is None and self.last_register is not None:
            prior = self.last_register(meter, int(t[0]))
            if prior is not None:
                st.last_register_t, st.last_register = prior
        if st.last_register is not None and st.last_register_t < t[0]:
            return np.r_[st.last_register_t, t[:-1]], np.r_[st.last_register, reg[:-1]], np.ones(len(t), dtype=bool)
        if st.last_register is not None and st.last_register_t == t[0]:
            # the file repeats the last stored reading (exports often overlap by one): it only anchors
            if st.last_register_row >= 0:  # a repeat within the file, across two chunks
                self._duplicate(meter, st.last_register, float(reg[0]), int(parsed.row[idx[0]]), int(t[0]),
                                str(parsed.column[idx[0]]), st.last_register_row)
            elif abs(st.last_register - reg[0]) > 1e-9 * max(1.0, abs(reg[0])):
                self.findings.add(Finding("conflict_existing", f"register {reg[0]} at the start of the file differs "
                                          f"from the stored {st.last_register} at the same time; the stored one is "
                                          "kept as the start", int(parsed.row[idx[0]]), str(parsed.column[idx[0]]),
                                          str(reg[0]), meter.code))
            prev_r = np.r_[np.nan, st.last_register, reg[1:-1]] if len(t) > 1 else np.r_[np.nan]
            return np.r_[-1, t[:-1]], prev_r, np.r_[False, np.ones(len(t) - 1, dtype=bool)]
        if not st.first_register_reported:
            self.findings.add(Finding("first_register", f"first reading {reg[0]} of {meter.code} sets the "
                                      "starting register; consumption counts from the next reading",
                                      int(parsed.row[idx[0]]), str(parsed.column[idx[0]]), str(reg[0]), meter.code))
            st.first_register_reported = True
        return np.r_[-1, t[:-1]], np.r_[np.nan, reg[:-1]], np.r_[False, np.ones(len(t) - 1, dtype=bool)]

    def _replacements(self, meter: MeterInfo, parsed: Parsed, idx: np.ndarray, prev_r: np.ndarray,
                      keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Register differences; across a meter replacement (old final − previous) + (this − new start)."""
        reg, old_r, new_r = parsed.value[idx], parsed.old_register[idx], parsed.new_register[idx]
        replaced = ~np.isnan(old_r) & ~np.isnan(new_r)
        delta = np.where(replaced, (old_r - prev_r) + (reg - new_r), reg - prev_r)
        for i in np.flatnonzero(replaced & keep):
            self.findings.add(Finding("replacement", f"meter {meter.code} replaced: old register ended at {old_r[i]}, "
                                      f"new started at {new_r[i]}", int(parsed.row[idx[i]]), None, str(reg[i]),
                                      meter.code))
        return delta, replaced

    def _rollovers(self, meter: MeterInfo, parsed: Parsed, idx: np.ndarray, prev_r: np.ndarray, delta: np.ndarray,
                   negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A drop from the top of the register's capacity (10^digits) to its bottom is counted across."""
        reg = parsed.value[idx]
        capacity = 10.0 ** (meter.digits or 0)
        rolled = negative & (prev_r >= capacity * (1 - ROLLOVER_BAND)) & (reg <= capacity * ROLLOVER_BAND)
        for i in np.flatnonzero(rolled):
            self.findings.add(Finding("rollover", f"register rolled over from {prev_r[i]} to {reg[i]} at "
                                      f"{meter.digits} digits", int(parsed.row[idx[i]]), None, str(reg[i]),
                                      meter.code))
        return np.where(rolled, delta + capacity, delta), negative & ~rolled

    def _backwards(self, meter: MeterInfo, st: _State, parsed: Parsed, idx: np.ndarray, prev_t: np.ndarray,
                   prev_r: np.ndarray, suspect: np.ndarray, negative: np.ndarray) -> None:
        """Errors for registers that ran backwards. A register that jumps up and comes back (100, 110, 5000, 120)
        has one bad reading: the one above both of its neighbours. Blame that row, not the good reading after it
        that merely looks like a drop."""
        reg = parsed.value[idx]
        prev_rows = np.r_[st.last_register_row if st.last_register_t == prev_t[0] else -1, parsed.row[idx[:-1]]]
        prev2_r = np.r_[np.nan, prev_r[:-1]]
        if len(reg) and st.before_last_register is not None and st.last_register_t == prev_t[0]:
            prev2_r[0] = st.before_last_register
        outlier = suspect & (prev_rows >= 0) & ~np.isnan(prev2_r) & (reg >= prev2_r)
        for i in np.flatnonzero(outlier)[:1000]:
            self.findings.add(Finding("negative_consumption", f"register {prev_r[i]} is above both the reading "
                                      f"before it ({prev2_r[i]}) and the one after it ({reg[i]}): this reading "
                                      "looks wrong", int(prev_rows[i]), str(parsed.column[idx[i]]), str(prev_r[i]),
                                      meter.code))
        for i in np.flatnonzero(negative & ~outlier)[:1000]:
            self.findings.add(Finding("negative_consumption", f"register ran backwards from {prev_r[i]} to {reg[i]}; "
                                      "if the meter was replaced give 换表旧表读数 and 换表新表读数",
                                      int(parsed.row[idx[i]]), str(parsed.column[idx[i]]), str(reg[i]), meter.code))
        self.findings.counts["negative_consumption"] += max(0, int(negative.sum()) - 1000)

    def _register_gaps(self, meter: MeterInfo, st: _State, parsed: Parsed, idx: np.ndarray, prev_t: np.ndarray,
                       keep: np.ndarray) -> None:
        """The meter's interval (the most common step) and a warning for each longer step between readings."""
        t = parsed.t0[idx]
        steps = (t - prev_t)[keep]
        if not st.interval and len(steps):
            values, counts = np.unique(steps, return_counts=True)
            st.interval = int(values[counts.argmax()])
        long_steps = np.flatnonzero(keep & (t - prev_t > st.interval)) if st.interval else np.zeros(0, dtype=np.int64)
        for i in long_steps[:500]:
            self.findings.add(Finding("gap", f"no reading from {self._t(prev_t[i])} to {self._t(t[i])}; the "
                                      "consumption between them is counted over the longer period",
                                      int(parsed.row[idx[i]]), None, None, meter.code))

    def _repeated_readings(self, meter: MeterInfo, st: _State, parsed: Parsed, idx: np.ndarray) -> np.ndarray:
        """Which register rows to keep: a reading repeated at the same time is kept once. The repeat is an
        ``identical_duplicate`` warning when its value is the same (a routine export artefact) and a
        ``conflicting_duplicate`` error naming both rows and values when it is not — found before registers are
        differenced, so a repeat is never taken for a rollover or a zero-length period. ``idx`` is in time
        order (file order within a time)."""
        t = parsed.t0[idx]
        keep = np.r_[True, t[1:] != t[:-1]]  # the first row of each time
        first_of = np.maximum.accumulate(np.where(keep, np.arange(len(t)), 0))
        for j in np.flatnonzero(~keep):
            i0, i1 = idx[first_of[j]], idx[j]
            self._duplicate(meter, float(parsed.value[i0]), float(parsed.value[i1]), int(parsed.row[i1]), int(t[j]),
                            str(parsed.column[i1]), int(parsed.row[i0]))
        return keep

    def _duplicates(self, meter: MeterInfo, st: _State, start: np.ndarray, end: np.ndarray, value: np.ndarray,
                    rows: np.ndarray, column: str | None = None) -> np.ndarray:
        """Mark repeats: identical ones are skipped with a warning, conflicting ones are errors.
        Periods on the meter's regular grid are remembered in an array holding a 32-bit hash of the value
        (0 = not seen), others in a dict: 4 bytes per period of a regular meter, whatever the file's size."""
        keep = np.ones(len(start), dtype=bool)
        step = st.interval or 0
        if st.origin < 0:
            st.origin = int(start.min())
        regular = (step > 0) & ((end - start) == step) & ((start - st.origin) % max(step, 1) == 0) & \
            (start >= st.origin)
        slots = np.where(regular, (start - st.origin) // max(step, 1), -1)
        if regular.any():
            need = int(slots.max()) + 1
            if need > len(st.seen):
                size = max(need, len(st.seen) + len(st.seen) // 2, 1024)
                st.seen = np.concatenate([st.seen, np.zeros(size - len(st.seen), dtype=np.uint32)])
        reg_idx = np.flatnonzero(regular)
        if len(reg_idx):
            s = slots[reg_idx]
            hashes = _value_hash(value[reg_idx])
            already = st.seen[s] != 0
            order = np.argsort(s, kind="stable")
            repeat = np.zeros(len(s), dtype=bool)
            repeat[order[1:][s[order][1:] == s[order][:-1]]] = True
            first = ~already & ~repeat
            st.seen[s[first]] = hashes[first]
            for j in np.flatnonzero(~first):
                i = reg_idx[j]
                self._duplicate(meter, None if st.seen[s[j]] != hashes[j] else float(value[i]), float(value[i]),
                                int(rows[i]), int(start[i]), column)
                keep[i] = False
        for i in np.flatnonzero(~regular):
            key = (int(start[i]), int(end[i]))
            if key in st.seen_other:
                self._duplicate(meter, st.seen_other[key], float(value[i]), int(rows[i]), int(start[i]), column)
                keep[i] = False
            else:
                st.seen_other[key] = float(value[i])
        return keep

    def _duplicate(self, meter: MeterInfo, first: float | None, again: float, row: int, start: int,
                   column: str | None = None, first_row: int | None = None) -> None:
        """The same meter and time (a register) or period (a consumption) again: kept once when the value is the
        same, an error naming both values (and rows, when the first is known) when not. ``first`` is None when
        only its hash is known and it differs from ``again``."""
        earlier = f" (row {first_row})" if first_row is not None else ""
        if first is not None and abs(first - again) <= 1e-9 * max(1.0, abs(first)):
            self.findings.add(Finding("identical_duplicate", f"{self._t(start)} appears again with the same value as "
                                      f"before{earlier}; it is kept once", int(row), column, _num(again), meter.code))
        else:
            before = f"{_num(first)}{earlier}" if first is not None else "an earlier row with another value"
            self.findings.add(Finding("conflicting_duplicate", f"{self._t(start)} appears twice: {before} and "
                                      f"{_num(again)} (row {row}); keep the right one", int(row), column, _num(again),
                                      meter.code))

    def _gaps_zeros_spikes(self, meter: MeterInfo, st: _State, start: np.ndarray, end: np.ndarray,
                           value: np.ndarray, rows: np.ndarray) -> None:
        if not len(start):
            return
        prev_end = np.r_[st.last_end if st.last_end >= 0 else start[0], end[:-1]]
        gap = start > prev_end
        for i in np.flatnonzero(gap)[:500]:
            self.findings.add(Finding("gap", f"no data from {self._t(prev_end[i])} to {self._t(start[i])}",
                                      int(rows[i]), None, None, meter.code))
        self.findings.counts["gap"] += max(0, int(gap.sum()) - 500)
        st.last_end = max(st.last_end, int(end[-1]))
        # zero runs: each run reported once, when it ends (or at the end of the file, via finish())
        zeros = np.flatnonzero(value == 0)
        if not len(zeros):
            if st.zero_start >= 0:
                self._close_zero_run(meter, st)
        else:
            breaks = np.flatnonzero(np.diff(zeros) != 1)
            run_first, run_last = np.r_[zeros[0], zeros[breaks + 1]], np.r_[zeros[breaks], zeros[-1]]
            for a, b in zip(run_first, run_last, strict=True):
                if not (a == 0 and st.zero_start >= 0):  # not the continuation of the previous chunk's run
                    if st.zero_start >= 0:
                        self._close_zero_run(meter, st)
                    st.zero_start, st.zero_rows = int(start[a]), 0
                st.zero_rows += int(b - a + 1)
                st.zero_end, st.zero_row = int(end[b]), int(rows[b])
                if b != len(value) - 1:
                    self._close_zero_run(meter, st)
        positive = value[value > 0]
        if st.median is None and len(positive) >= 24:
            # the 95th percentile, not the median: seasonal loads (HVAC in August) are not spikes
            st.median = float(np.percentile(positive, 95))
        if st.median:
            spikes = value > SPIKE_FACTOR * st.median
            for i in np.flatnonzero(spikes)[:200]:
                self.findings.add(Finding("spike", f"{value[i]:g} is over {SPIKE_FACTOR:g}× this meter's usual high "
                                          f"(95th percentile {st.median:g})", int(rows[i]), None, f"{value[i]:g}",
                                          meter.code))
            self.findings.counts["spike"] += max(0, int(spikes.sum()) - 200)

    def _close_zero_run(self, meter: MeterInfo, st: _State) -> None:
        if st.zero_end - st.zero_start >= ZERO_RUN_US and st.zero_rows >= 3:
            self.findings.add(Finding("zero_run", f"zero consumption from {self._t(st.zero_start)} to "
                                      f"{self._t(st.zero_end)} ({st.zero_rows} periods)", st.zero_row, None, "0",
                                      meter.code))
        st.zero_start = -1

    def _t(self, us: int) -> str:
        """A time in messages: local wall-clock time, as the user's file writes it."""
        return _local(us, self.tz)

    def finish(self) -> None:
        for code, st in self.state.items():
            if st.zero_start >= 0:
                self._close_zero_run(self.meters[code], st)

    def summary(self, tz: str = "UTC") -> dict[str, dict[str, object]]:
        return {code: {"rows": st.rows, "first": _local(st.first, tz) if st.first >= 0 else None,
                       "last": _local(st.last_end, tz) if st.last_end >= 0 else None, "total": round(st.total, 6),
                       "mean": round(st.total / st.rows, 6),
                       "unit": self.meters[code].unit,
                       "interval_s": st.interval // 1_000_000 if st.interval else None}
                for code, st in sorted(self.state.items()) if st.rows}


def _num(v: float) -> str:
    """A reading as the file wrote it: 1000.5, 1200 (not 1200.0)."""
    return f"{v:.10g}"


def _value_hash(values: np.ndarray) -> np.ndarray:
    """A non-zero 32-bit fingerprint of each float64 (equal values → equal fingerprints)."""
    bits = (np.asarray(values, dtype=np.float64) + 0.0).view(np.uint64)  # + 0.0 folds −0.0 into 0.0
    return (((bits >> np.uint64(32)) ^ (bits & np.uint64(0xFFFFFFFF))).astype(np.uint32)) | np.uint32(1)


def _local(us: int, tz: str) -> str:
    from emc.dbtypes import from_epoch_us

    return from_epoch_us(int(us)).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


