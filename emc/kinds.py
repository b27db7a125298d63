"""The kinds several domains share (utilities, meter registers, sub-items, institution categories): plain
enums with no table behind them, so pure cores (the contract file, the settlement engine) can name them
without loading the database layer. Tables store their values as text."""

from __future__ import annotations

from enum import StrEnum


class Utility(StrEnum):
    electricity = "electricity"
    water = "water"
    gas = "gas"
    heat = "heat"
    pv = "pv"  # on-site PV generation: avoided grid electricity


class RegisterType(StrEnum):
    interval = "interval"  # each row is the consumption of its period
    cumulative = "cumulative"  # each row is a register reading; consumption is the difference × multiplier


class SubItem(StrEnum):
    """分项计量 sub-items (electricity after JGJ/T 154: lighting/sockets, HVAC, power, special; water by
    use). ``total`` marks a main (billing) meter; every other value is a sub-meter whose use is already
    inside a main meter, so totals never add sub-meters to mains."""

    total = "total"
    lighting = "lighting"
    hvac = "hvac"
    power = "power"
    special = "special"
    hot_water = "hot_water"
    domestic = "domestic"  # 生活用水
    canteen = "canteen"  # 食堂
    dormitory = "dormitory"  # 宿舍
    landscape = "landscape"  # 绿化
    other = "other"


class InstitutionCategory(StrEnum):
    organ = "organ"  # 党政机关
    school = "school"  # 学校
    hospital = "hospital"  # 医院
    venue = "venue"  # 场馆
    other = "other"  # 其他
