"""Turn one chunk of raw cells into typed columns: meter code, period, value, unit, flags.

Every cell that cannot be read becomes a finding naming its row, column and value; the row is dropped
(and, being an error, blocks the commit). Times in the file are local wall-clock times of the
profile's time zone (Asia/Shanghai by default) and are turned into UTC microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from emc.metering.findings import Finding
from emc.metering.headers import TEMPERATURE_UNITS, ColumnMap

TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日 %H:%M:%S", "%Y%m%d%H%M", "%Y-%m-%d %H:%M:%S.%f", "%d/%m/%Y %H:%M", "%Y-%m",
)
DATE_ONLY = {"%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y-%m"}
TRUE_FLAGS = {"e", "估", "估算", "估计", "是", "y", "yes", "true", "1", "t", "est", "estimated", "估计值"}
US = 1_000_000


@dataclass
class Parsed:
    """Typed rows of one chunk, in file order. ``t1`` is -1 where the file gives a single time."""

    row: np.ndarray  # int64 line numbers
    code: np.ndarray  # object (str) meter or station codes
    t0: np.ndarray  # int64 µs UTC
    t1: np.ndarray  # int64 µs UTC or -1
    value: np.ndarray  # float64, as in the file
    unit: np.ndarray  # object: unit per row (or None)
    estimated: np.ndarray  # bool
    old_register: np.ndarray  # float64, NaN where absent
    new_register: np.ndarray
    column: np.ndarray  # object: the value's column (wide files have one per meter)
    date_only: bool = False
    findings: list[Finding] = field(default_factory=list)
    time_column: str | None = None
    cost: np.ndarray | None = None  # object: Decimal CNY per row (None where blank), when the file has amounts
    code_column: str | None = None  # the meter (or station) column; None in wide files, where each value column
    # is headed by its meter's code

    def __len__(self) -> int:
        return len(self.row)


class TimeParser:
    """Finds the file's time format once (on the first values) and keeps it for every chunk."""

    def __init__(self, tz: str) -> None:
        self.tz = ZoneInfo(tz)
        self.format: str | None = None

    def _choose(self, sample: pd.Series) -> str:
        for fmt in TIME_FORMATS:
            parsed = pd.to_datetime(sample, format=fmt, errors="coerce")
            if parsed.notna().all():
                return fmt
        return "mixed"

    def parse(self, values: pd.Series) -> np.ndarray:
        """int64 µs UTC; -1 where unreadable."""
        if values.dtype == object and len(values) and isinstance(values.iloc[0], pd.Timestamp | np.datetime64):
            naive = pd.to_datetime(values, errors="coerce")
        else:
            text = values.astype("string").str.strip()
            if self.format is None:
                sample = text[text.notna() & (text != "")].head(50)
                if len(sample) == 0:
                    return np.full(len(values), -1, dtype=np.int64)
                self.format = self._choose(sample)
            naive = pd.to_datetime(text, format=self.format, errors="coerce")
            if self.format != "mixed" and naive.isna().any():
                retry = naive.isna() & text.notna() & (text != "")
                if retry.any():  # a row written another way: try every format on those rows only
                    naive = naive.copy()
                    naive[retry] = pd.to_datetime(text[retry], format="mixed", errors="coerce")
        local = pd.DatetimeIndex(naive)
        if local.tz is None:
            local = local.tz_localize(self.tz, ambiguous="NaT", nonexistent="NaT")
        us = local.tz_convert("UTC").as_unit("us").asi8.copy()
        us[local.isna()] = -1
        return us

    @property
    def date_only(self) -> bool:
        return self.format in DATE_ONLY


def parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, mask of cells that are non-empty but not numbers). Empty cells are NaN."""
    if values.dtype != object or (len(values) and not isinstance(values.iloc[0], str)):
        numeric = pd.to_numeric(values, errors="coerce")
        filled = (values.astype("string").str.strip() != "").fillna(False).to_numpy()
        bad = numeric.isna().to_numpy() & values.notna().to_numpy() & filled
        return numeric.to_numpy(dtype=np.float64, na_value=np.nan), bad
    text = values.astype("string").str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    failed = numeric.isna() & text.notna() & (text != "")
    if failed.any():  # thousands separators, full-width digits, a trailing unit
        cleaned = (text[failed].str.replace(",", "", regex=False).str.replace("，", "", regex=False)
                   .str.normalize("NFKC").str.replace(r"[^\d.eE+\-]+$", "", regex=True))
        numeric = numeric.copy()
        numeric[failed] = pd.to_numeric(cleaned, errors="coerce")
        failed = numeric.isna() & text.notna() & (text != "")
    return numeric.to_numpy(dtype=np.float64, na_value=np.nan), failed.to_numpy(dtype=bool)


def _flags(values: pd.Series) -> np.ndarray:
    text = values.astype("string").str.strip().str.lower().fillna("")
    return text.isin(TRUE_FLAGS).to_numpy(dtype=bool)


def _cells(frame: pd.DataFrame, column: str, positions: np.ndarray) -> list[str]:
    return [str(v) for v in frame[column].to_numpy()[positions]]


def parse_chunk(frame: pd.DataFrame, first_line: int, cmap: ColumnMap, times: TimeParser, *,
                default_code: str | None = None, weather: bool = False) -> Parsed:
    """Parse one chunk (long, bills or wide layout; meters or weather) into :class:`Parsed`."""
    findings: list[Finding] = []
    lines = np.arange(first_line, first_line + len(frame), dtype=np.int64)
    if cmap.wide:
        return _parse_wide(frame, lines, cmap, times, findings)

    t0, t1, time_col, spans = _periods(frame, cmap, times)
    value_col = cmap.columns["temperature" if weather else "value"]
    value, bad_value = parse_numbers(frame[value_col])
    code_col = cmap.get("station" if weather else "meter")
    if code_col:
        code = frame[code_col].astype("string").str.strip().fillna("").to_numpy(dtype=object)
    else:
        code = np.full(len(frame), default_code or "", dtype=object)

    bad_t0 = t0 < 0
    findings += _time_findings(frame, lines, code, t0, t1, time_col, cmap.columns.get("end") if spans else None)
    for pos in np.flatnonzero(bad_value)[:5000]:
        findings.append(Finding("bad_number", f"{frame[value_col].iloc[pos]!r} is not a number", int(lines[pos]),
                                value_col, str(frame[value_col].iloc[pos]), str(code[pos]) or None))
    if code_col:
        for pos in np.flatnonzero(code == "")[:5000]:
            findings.append(Finding("unknown_meter", "the meter code is empty", int(lines[pos]), code_col, ""))
    # a row with its meter and time but an empty value cell: a missing reading, never a silent drop (nor a zero)
    blank = np.isnan(value) & ~bad_value & ~bad_t0 & (code != "")
    for pos in np.flatnonzero(blank)[:5000]:
        findings.append(_blank(int(lines[pos]), value_col, str(code[pos]), weather))

    unit, value = _units(frame, cmap, value_col, value, weather)
    estimated = _flags(frame[cmap.columns["estimated"]]) if cmap.get("estimated") else np.zeros(len(frame), bool)
    old_reg, new_reg = (_optional_numbers(frame, cmap, k) for k in ("old_register", "new_register"))

    ok = ~bad_t0 & ~bad_value & ~np.isnan(value) & (code != "")
    if spans:
        ok &= t1 >= 0
    cost = None
    if cmap.get("cost") and not weather:
        cost, bad_cost = _costs(frame, cmap.columns["cost"], lines, code, findings)
        ok &= ~bad_cost
        cost = cost[ok]
    return Parsed(lines[ok], code[ok], t0[ok], t1[ok], value[ok], unit[ok], estimated[ok], old_reg[ok], new_reg[ok],
                  np.full(int(ok.sum()), value_col, dtype=object), times.date_only, findings, time_col, cost,
                  code_col)


def _periods(frame: pd.DataFrame, cmap: ColumnMap, times: TimeParser
             ) -> tuple[np.ndarray, np.ndarray, str | None, bool]:
    """(start, end or -1, the time column, whether rows are start–end spans); unreadable times are -1."""
    time_col = cmap.get("time") or cmap.get("start")
    t0 = times.parse(frame[time_col]) if time_col else np.full(len(frame), -1, dtype=np.int64)
    t1 = np.full(len(frame), -1, dtype=np.int64)
    spans = bool(cmap.get("start") and cmap.get("end") and not cmap.get("time"))
    if spans:
        t0 = times.parse(frame[cmap.columns["start"]])
        t1 = times.parse(frame[cmap.columns["end"]])
        time_col = cmap.columns["start"]
    return t0, t1, time_col, spans


def _time_findings(frame: pd.DataFrame, lines: np.ndarray, code: np.ndarray, t0: np.ndarray, t1: np.ndarray,
                   time_col: str | None, end_col: str | None) -> list[Finding]:
    """A time that cannot be read, an empty one, and (spans) an end date that cannot be read."""
    found = []
    bad_t0 = t0 < 0
    blank_time = frame[time_col].astype("string").str.strip().fillna("").to_numpy() == "" if time_col else bad_t0
    for pos in np.flatnonzero(bad_t0 & ~blank_time)[:5000]:
        found.append(Finding("bad_timestamp", f"cannot read {frame[time_col].iloc[pos]!r} as a date/time",
                             int(lines[pos]), time_col, str(frame[time_col].iloc[pos]), str(code[pos]) or None))
    for pos in np.flatnonzero(bad_t0 & blank_time)[:5000]:
        found.append(Finding("bad_timestamp", "the time is empty", int(lines[pos]), time_col, "",
                             str(code[pos]) or None))
    if end_col:
        for pos in np.flatnonzero((t1 < 0) & ~bad_t0)[:5000]:
            found.append(Finding("bad_timestamp", f"cannot read {frame[end_col].iloc[pos]!r} as a date",
                                 int(lines[pos]), end_col, str(frame[end_col].iloc[pos]), str(code[pos]) or None))
    return found


def _units(frame: pd.DataFrame, cmap: ColumnMap, value_col: str, value: np.ndarray, weather: bool
           ) -> tuple[np.ndarray, np.ndarray]:
    """Each row's unit (its own cell, else the column's); weather in °F becomes °C."""
    unit = np.full(len(frame), cmap.units.get(value_col), dtype=object)
    if cmap.get("unit"):
        per_row = frame[cmap.columns["unit"]].astype("string").str.strip().fillna("").to_numpy(dtype=object)
        unit = np.where(per_row != "", per_row, unit)
    if weather:
        scale = np.array([TEMPERATURE_UNITS.get(str(u).lower().strip(), "C") if u else "C" for u in unit])
        value = np.where(scale == "F", (value - 32.0) * 5.0 / 9.0, value)
    return unit, value


def _optional_numbers(frame: pd.DataFrame, cmap: ColumnMap, field_name: str) -> np.ndarray:
    if cmap.get(field_name):
        return parse_numbers(frame[cmap.columns[field_name]])[0]
    return np.full(len(frame), np.nan)


def _costs(frame: pd.DataFrame, cost_col: str, lines: np.ndarray, code: np.ndarray, findings: list[Finding]
           ) -> tuple[np.ndarray, np.ndarray]:
    """A bill's amount per row (Decimal), and which rows hold no amount to the fen (each a finding)."""
    cost, bad_cost = parse_amounts(frame[cost_col])
    for pos in np.flatnonzero(bad_cost)[:5000]:
        findings.append(Finding("bad_number", f"{frame[cost_col].iloc[pos]!r} is not an amount in CNY "
                                "(to the fen)", int(lines[pos]), cost_col,
                                str(frame[cost_col].iloc[pos]), str(code[pos]) or None))
    return cost, bad_cost


def _blank(row: int, column: str, code: str, weather: bool) -> Finding:
    what = "temperature" if weather else "reading"
    return Finding("blank_value", f"no {what} in this row: the period counts as missing (not as zero)", row, column,
                   "", code or None)


def parse_amounts(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(Decimal or None per cell, mask of cells that are not an amount to the fen). Money is read from the
    cell's text, never through a float: "1,234.5" → Decimal("1234.50"); "12.345" is refused."""
    out = np.full(len(values), None, dtype=object)
    bad = np.zeros(len(values), dtype=bool)
    for i, cell in enumerate(values.to_numpy()):
        if cell is None or (isinstance(cell, float) and cell != cell):
            continue
        text = str(cell).strip().replace(",", "").replace("，", "").replace("¥", "").replace("￥", "")
        text = text.removesuffix("元").strip()
        if not text:
            continue
        if isinstance(cell, float):  # an XLSX number cell: its shortest repr is what the sheet showed
            text = repr(cell)
        try:
            amount = Decimal(text)
        except InvalidOperation:
            bad[i] = True
            continue
        if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
            bad[i] = True
            continue
        out[i] = amount.quantize(Decimal("0.01"))
    return out, bad


def _parse_wide(frame: pd.DataFrame, lines: np.ndarray, cmap: ColumnMap, times: TimeParser,
                findings: list[Finding]) -> Parsed:
    time_col = cmap.columns["time"]
    t0 = times.parse(frame[time_col])
    for pos in np.flatnonzero(t0 < 0)[:5000]:
        raw = frame[time_col].iloc[pos]
        if raw is None or (isinstance(raw, str | float) and str(raw).strip() in ("", "nan")):
            continue  # an empty trailing row
        findings.append(Finding("bad_timestamp", f"cannot read {raw!r} as a date/time", int(lines[pos]), time_col,
                                str(raw)))
    parts = []
    for column, code in cmap.wide.items():
        value, bad = parse_numbers(frame[column])
        for pos in np.flatnonzero(bad)[:5000]:
            findings.append(Finding("bad_number", f"{frame[column].iloc[pos]!r} is not a number", int(lines[pos]),
                                    column, str(frame[column].iloc[pos]), code))
        ok = (t0 >= 0) & ~bad & ~np.isnan(value)
        for pos in np.flatnonzero((t0 >= 0) & ~bad & np.isnan(value))[:5000]:
            findings.append(_blank(int(lines[pos]), column, code, False))
        n = int(ok.sum())
        parts.append((lines[ok], np.full(n, code, dtype=object), t0[ok], value[ok],
                      np.full(n, cmap.units.get(column), dtype=object), np.full(n, column, dtype=object)))
    if not parts:
        empty = np.array([], dtype=np.int64)
        return Parsed(empty, np.array([], dtype=object), empty, empty, np.array([]), np.array([], dtype=object),
                      np.array([], dtype=bool), np.array([]), np.array([]), np.array([], dtype=object))
    row, code, t, value, unit, col = (np.concatenate(x) for x in zip(*parts, strict=True))
    n = len(row)
    return Parsed(row, code, t, np.full(n, -1, dtype=np.int64), value, unit, np.zeros(n, bool), np.full(n, np.nan),
                  np.full(n, np.nan), col, times.date_only, findings, time_col)
