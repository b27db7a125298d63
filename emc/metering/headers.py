"""Match a file's headers to fields: find columns by what their header says, never by position (users' top
complaint about imports: a renamed or moved column breaks them). Chinese and English aliases; an ESCO's saved
profile adds its own. A unit written in the header ("用量(kWh)", "温度（℉）") is taken as the column's unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# field → header aliases (compared after normalising: lower case, no spaces, no unit suffix)
ALIASES: dict[str, tuple[str, ...]] = {
    "meter": ("表号", "表计编号", "表计编码", "计量表编号", "计量表号", "电表编号", "水表编号", "气表编号", "热表编号",
              "仪表编号", "表计", "测点编号", "设备编号", "meter", "meterid", "meter_id", "metercode", "meter_code",
              "meterno", "meter_no", "point", "device"),
    "time": ("时间", "抄表时间", "采集时间", "数据时间", "记录时间", "读数时间", "日期", "时间戳", "日期时间", "时刻",
             "timestamp", "time", "datetime", "date", "readingtime", "reading_time", "ts"),
    "start": ("开始时间", "起始时间", "开始日期", "起始日期", "起始", "账期开始", "计费开始", "计费起始日", "start",
              "periodstart", "period_start", "from", "start_date", "startdate", "抄表日期起", "抄表起日", "起日",
              "上次抄表日期", "上期抄表日期", "上次抄表时间"),
    "end": ("结束时间", "截止时间", "结束日期", "截止日期", "截止", "账期结束", "计费结束", "计费截止日", "end",
            "periodend", "period_end", "to", "end_date", "enddate", "抄表日期止", "抄表止日", "止日",
            "本次抄表日期", "本期抄表日期", "本次抄表时间"),
    "consumption": ("用量", "用电量", "用水量", "用气量", "用热量", "消耗量", "能耗", "耗电量", "电量", "水量", "气量",
                    "发电量", "数值", "值", "value", "consumption", "usage", "use", "quantity"),
    "register": ("读数", "示数", "表底", "表码", "本次读数", "抄见数", "止码", "表读数", "累计读数", "reading",
                 "register", "meter_reading", "meterreading", "cumulative"),
    "unit": ("单位", "计量单位", "unit", "units", "uom"),
    # a bill's amount (CNY): kept with the reading, for average-cost valuation and the ESCO's actual costs
    "cost": ("金额", "费用", "电费", "水费", "气费", "燃气费", "热费", "应缴金额", "应付金额", "账单金额", "本期金额",
             "合计金额", "amount", "cost", "charge", "charges", "billamount", "bill_amount"),
    "estimated": ("估算", "是否估算", "估计值", "估算标识", "数据标识", "质量标识", "estimated", "estimate", "flag",
                  "quality"),
    "old_register": ("换表旧表读数", "旧表读数", "旧表止码", "old_reading", "oldreading", "old_register"),
    "new_register": ("换表新表读数", "新表读数", "新表起码", "new_reading", "newreading", "new_register"),
    "station": ("站号", "气象站", "站点", "站点编号", "气象站号", "station", "station_id", "stationid", "wmo", "site"),
    "temperature": ("温度", "气温", "平均气温", "日平均气温", "干球温度", "temperature", "temp", "tavg", "t_mean",
                    "air_temperature", "tmean", "tmean_c", "mean_temperature"),
}

_UNIT_SUFFIX = re.compile(r"^(?P<name>.*?)\s*[（(\[]\s*(?P<unit>[^)）\]]*)\s*[)）\]]\s*$")
TEMPERATURE_UNITS = {"℃": "C", "°c": "C", "c": "C", "摄氏度": "C", "℉": "F", "°f": "F", "f": "F", "华氏度": "F"}


def split_header(header: str) -> tuple[str, str | None]:
    """'用量(kWh)' → ('用量', 'kWh'); the name normalised for matching, the unit as written."""
    text = str(header).replace("\ufeff", "").strip()
    match = _UNIT_SUFFIX.match(text)
    unit = None
    if match:
        text, unit = match.group("name"), match.group("unit").strip() or None
    return re.sub(r"[\s_\-·.]+", "", text.lower()) or re.sub(r"\s+", "", text.lower()), unit


def _norm(alias: str) -> str:
    return re.sub(r"[\s_\-·.]+", "", alias.lower())


_LOOKUP = {_norm(a): name for name, aliases in ALIASES.items() for a in aliases}


def is_time_header(header: str, extra: frozenset[str] = frozenset()) -> bool:
    name, _ = split_header(header)
    return _LOOKUP.get(name) in ("time", "start", "end") or name in extra


def time_aliases(extra_aliases: dict[str, list[str]] | None) -> frozenset[str]:
    """A profile's own names for time columns, normalised like headers."""
    return frozenset(_norm(a) for f in ("time", "start", "end") for a in (extra_aliases or {}).get(f, []))


class ColumnError(ValueError):
    pass


@dataclass
class ColumnMap:
    """Which file column plays which part. ``wide`` maps a column to the meter code it holds."""

    columns: dict[str, str] = field(default_factory=dict)  # field → column name
    units: dict[str, str] = field(default_factory=dict)  # column name → unit (from header or units row)
    wide: dict[str, str] = field(default_factory=dict)  # column name → meter code
    value_kind: str | None = None  # consumption | register (None: the meter's register type decides)

    def get(self, name: str) -> str | None:
        return self.columns.get(name)

    @property
    def layout(self) -> str:
        if self.wide:
            return "wide"
        if "start" in self.columns and "end" in self.columns:
            return "bills"
        return "long"


def map_columns(headers: list[str], *, extra_aliases: dict[str, list[str]] | None = None,
                known_codes: set[str] | None = None, units_row: list[str] | None = None,
                weather: bool = False) -> ColumnMap:
    """Map headers to fields. Raise :class:`ColumnError` naming what is missing and the names we accept."""
    lookup = dict(_LOOKUP)
    for name, aliases in (extra_aliases or {}).items():
        for alias in aliases:
            lookup[_norm(alias)] = name
    cmap, unmatched = _match(headers, lookup, units_row)
    _one_value_column(cmap)
    if weather:
        return _check_weather(cmap, headers)
    if "time" not in cmap.columns and not ("start" in cmap.columns and "end" in cmap.columns):
        if "start" in cmap.columns:
            cmap.columns["time"] = cmap.columns.pop("start")
        else:
            raise ColumnError(_missing("time", "a time column (or start and end columns)"))
    if "meter" not in cmap.columns:
        _wide(cmap, unmatched, known_codes or set())
    elif "value" not in cmap.columns:
        raise ColumnError(_missing("consumption",
                                   "a value column (用量 for consumption or 读数 for register readings)"))
    return cmap


def _match(headers: list[str], lookup: dict[str, str], units_row: list[str] | None) -> tuple[ColumnMap, list[str]]:
    """Each header's field (the first column wins a field) and unit; the headers no alias names."""
    cmap = ColumnMap()
    unmatched: list[str] = []
    for i, header in enumerate(headers):
        name, unit = split_header(header)
        column = header if header else f"column_{i + 1}"
        if not unit and units_row and i < len(units_row) and units_row[i]:
            unit = units_row[i].strip().strip("()（）[]") or None
        role = lookup.get(name) or _by_suffix(name)
        if role is not None and role not in cmap.columns:
            cmap.columns[role] = column
        elif role is None:
            unmatched.append(column)
        if unit:
            cmap.units[column] = unit
    return cmap, unmatched


def _one_value_column(cmap: ColumnMap) -> None:
    """One value column: a consumption if there is one, else a register reading."""
    if "register" in cmap.columns and "consumption" not in cmap.columns:
        cmap.columns["value"], cmap.value_kind = cmap.columns.pop("register"), "register"
    elif "consumption" in cmap.columns:
        cmap.columns["value"], cmap.value_kind = cmap.columns.pop("consumption"), "consumption"
        cmap.columns.pop("register", None)


def _wide(cmap: ColumnMap, unmatched: list[str], codes: set[str]) -> None:
    """No meter column: one column per meter, headed by its code (the wide layout)."""
    wide = {c: c.split("(")[0].split("（")[0].strip() for c in unmatched
            if c.split("(")[0].split("（")[0].strip() in codes}
    if not wide:
        raise ColumnError(_missing("meter", "a meter column, or one column per meter headed by its code"))
    cmap.wide = wide
    cmap.columns.pop("value", None)


_SUFFIX_FIELDS = ("register", "consumption")


def _by_suffix(name: str) -> str | None:
    """'正向有功总示数' ends with '示数': a register. Only for value columns, whose names vary most."""
    for field_name in _SUFFIX_FIELDS:
        for alias in ALIASES[field_name]:
            a = _norm(alias)
            if len(a) >= 2 and not a.isascii() and name.endswith(a):
                return field_name
    return None


def _check_weather(cmap: ColumnMap, headers: list[str]) -> ColumnMap:
    if "temperature" not in cmap.columns:
        raise ColumnError(_missing("temperature", "a temperature column"))
    if "time" not in cmap.columns and "start" in cmap.columns:
        cmap.columns["time"] = cmap.columns.pop("start")
    if "time" not in cmap.columns:
        raise ColumnError(_missing("time", "a time column"))
    return cmap


def _missing(field_name: str, what: str) -> str:
    names = "、".join(ALIASES[field_name][:8])
    return f"no {what} found; headers accepted include {names} (add yours to the ESCO's import profile)"
