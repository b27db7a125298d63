"""A seeded, deterministic synthetic city portfolio: institutions, ESCOs, contracts, meters, readings.

For tests, benchmarks and the demo. The default :class:`PortfolioSpec` is Wuxi-sized (415 public
institutions, ~200 contracts, ~2,000 meters, three years of daily readings). Everything is made up
but shaped like the real thing (the project's domain notes): Chinese names, the category mix
of a city's public institutions, every contract type in realistic proportions, county custody
packages, institutions with an energy and a water contract, baselines that agree with the readings,
and consumption driven by a Yangtze-delta temperature curve, the Chinese working-day calendar and a
retrofit saving after each contract's start.

Every code starts with ``SYN-`` so synthetic data is never confused with the real-shaped examples.
Contracts go in through :func:`emc.contracts.service.load_contract` (the one way contracts get in);
readings are bulk-inserted with SQLAlchemy Core. :func:`generate` refuses a database that already
holds a synthetic portfolio (it never adds a second one). Like a service it never commits.

Same spec and seed → identical contracts, meters and readings; the contract/meter structure does not
depend on ``interval``, so a ``none`` run and a ``daily`` run describe the same portfolio.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from time import perf_counter
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import func, insert
from sqlmodel import Session, select

from emc.audit import service as audit
from emc.contracts.models import Contract
from emc.contracts.service import load_contract
from emc.contracts.spec import ContractFile
from emc.db import analyze
from emc.dbtypes import utcnow
from emc.metering.models import Meter, Reading
from emc.money import fen
from emc.org import service as org
from emc.org.models import Institution, Region

PREFIX = "SYN-"
TIMEZONE = "Asia/Shanghai"
CHUNK_ROWS = 50_000
Interval = Literal["daily", "hourly", "monthly", "none"]

CATEGORIES = ("organ", "school", "hospital", "venue", "other")
CATEGORY_SHARE = (0.45, 0.30, 0.10, 0.05, 0.10)
CONTRACT_TYPES = ("cost_custody", "shared_savings", "guaranteed_savings", "lease", "hybrid")
TYPE_SHARE = (0.35, 0.30, 0.12, 0.08, 0.15)
UTILITIES = ("electricity", "water", "gas", "pv")


class SyntheticError(RuntimeError):
    pass


@dataclass(frozen=True)
class PortfolioSpec:
    """What to generate. ``meters`` is a target: every (contract, institution, utility) gets at least
    one meter, so a tiny ``meters`` with many contracts yields more."""

    institutions: int = 415
    contracts: int = 200
    meters: int = 2000
    years: int = 3
    start: date = date(2021, 1, 1)
    interval: Interval = "daily"
    seed: int = 1
    city: str = "320200"
    # benchmark shape: every contract settles monthly from one year into the window (the first year is its
    # baseline) to the window's end, so N contracts over Y years give exactly N × 12 × (Y − 1) contract-months
    settle_monthly: bool = False
    # the readings window ends here (exclusive; a 1st of a month) instead of after ``years`` whole years: the
    # demo's window runs from January of last year to the last full month before the day it is built
    until: date | None = None
    # every institution, under contract or not, meters its electricity, water (and gas): the city's own
    # statistics meters (统计表计) beside the contracts' ones, so the city's ledger has every institution
    meter_every_institution: bool = False

    def __post_init__(self) -> None:
        if self.institutions < 1:
            raise ValueError("institutions must be at least 1")
        if self.contracts < 0 or self.meters < 0:
            raise ValueError("contracts and meters must not be negative")
        if not 1 <= self.years <= 20:
            raise ValueError("years must be between 1 and 20")
        if self.interval not in ("daily", "hourly", "monthly", "none"):
            raise ValueError(f"interval {self.interval!r} is not one of daily, hourly, monthly, none")
        if self.interval == "monthly" and self.start.day != 1:
            raise ValueError("monthly readings need a start on the first day of a month")
        if not (len(self.city) == 6 and self.city.isdigit()):
            raise ValueError(f"city {self.city!r} is not a 6-digit GB/T 2260 code")
        if self.until is not None and (self.until <= self.start or self.until.day != 1):
            raise ValueError(f"until {self.until} must be the 1st of a month after start {self.start}")

    @property
    def end(self) -> date:
        """Exclusive end of the readings window."""
        return self.until or _add_months(self.start, 12 * self.years)

    @property
    def months(self) -> int:
        """Whole months in the readings window."""
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month


def demo_spec(contracts: int, today: date) -> PortfolioSpec:
    """The demo's city: ``contracts`` synthetic contracts over twice as many institutions, every institution
    metered, monthly readings from January of last year to the last full month before ``today`` (a complete
    previous year and a year to date; deterministic for a given day)."""
    return PortfolioSpec(institutions=contracts * 2, contracts=contracts, meters=contracts * 6, years=2,
                         start=date(today.year - 1, 1, 1), until=today.replace(day=1), interval="monthly", seed=2024,
                         meter_every_institution=True)


@dataclass
class PortfolioSummary:
    city: str
    regions_added: int
    institutions: int
    institutions_under_contract: int
    escos: int
    contracts: int
    contracts_by_type: dict[str, int]
    meters: int
    meters_by_utility: dict[str, int]
    periods: int
    readings: int
    spec_digest: str  # sha256 over the contracts' spec hashes: equal digests, equal terms
    seconds_parties: float = 0.0
    seconds_readings: float = 0.0

    def lines(self) -> list[str]:
        types = ", ".join(f"{k} {v}" for k, v in self.contracts_by_type.items())
        utils = ", ".join(f"{k} {v}" for k, v in self.meters_by_utility.items())
        return [
            f"city {self.city}: {self.institutions} institutions "
            f"({self.institutions_under_contract} under contract), {self.escos} ESCOs",
            f"contracts {self.contracts}: {types}",
            f"meters {self.meters}: {utils}",
            f"readings {self.readings:,} ({self.periods} periods per meter)",
            f"spec digest {self.spec_digest[:16]}",
            f"time: contracts and parties {self.seconds_parties:.1f} s, "
            f"readings {self.seconds_readings:.1f} s",
        ]


# ---------------------------------------------------------------------------------------------
# The plan: pure data, no database
# ---------------------------------------------------------------------------------------------


@dataclass
class _Inst:
    idx: int
    code: str
    name: str
    category: str
    region: str
    address: str
    area: float  # office floor area, m²
    users: int  # energy users
    has_gas: bool
    annual: dict[str, float]  # pre-retrofit use per year, canonical unit
    fractions: dict[str, np.ndarray]  # shares of use: base load, occupancy, cooling, heating


@dataclass
class _MeterPlan:
    code: str
    inst: int
    contract: int
    utility: str
    sub_item: str
    name: str
    annual: float  # expected use per year before the retrofit (pv: generation)
    fractions: np.ndarray
    noise: float
    saving: float  # retrofit saving rate from the contract start
    commissioned: date | None = None  # pv installed by the contract: no generation before


AVERAGE_COST = False  # see _contract_file: switch on once the generator writes bill amounts


@dataclass
class _ContractPlan:
    idx: int
    type: str
    variant: str
    insts: list[int]
    utilities: list[str]  # metered utilities, pv included
    start: date
    term_years: int
    esco: int = 0
    savings: dict[str, float] = field(default_factory=dict)
    pv: str = ""  # "" | "existing" | "installed"
    package: bool = False
    code: str = ""
    frequency: str = ""  # "" = drawn at random


@dataclass
class Plan:
    spec: PortfolioSpec
    institutions: list[_Inst]
    contracts: list[_ContractPlan]
    meters: list[_MeterPlan]
    files: list[ContractFile]
    escos: list[tuple[str, str]]
    climate: _Climate

    @property
    def covered(self) -> set[int]:
        return {i for c in self.contracts for i in c.insts}

    def spec_digest(self) -> str:
        return spec_digest(f.spec_hash() for f in self.files)


def spec_digest(hashes: Any) -> str:
    return hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()


def _add_months(day: date, months: int) -> date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def _d(value: float, places: int = 2) -> Decimal:
    return Decimal(f"{value:.{places}f}")


def _counts(total: int, shares: tuple[float, ...]) -> list[int]:
    """Largest-remainder apportionment: exact total, proportions as close as integers allow."""
    raw = [total * s / sum(shares) for s in shares]
    counts = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _pick(rng: np.random.Generator, options: list[tuple[str, float]]) -> str:
    weights = np.array([w for _, w in options])
    return options[int(rng.choice(len(options), p=weights / weights.sum()))][0]


# --- climate and calendars -------------------------------------------------------------------


@dataclass
class _Climate:
    """Daily drivers over the extended range (five years before the window to its end)."""

    days: pd.DatetimeIndex
    temperature: np.ndarray
    basis: dict[str, np.ndarray]  # category → (4, n) base, occupancy, cooling, heating; mean 1 each
    cum: dict[str, np.ndarray]  # category → (4, n + 1) cumulative sums, for baseline-period totals
    occupancy: dict[str, np.ndarray]
    solar: np.ndarray  # PV yield shape, mean 1

    def index(self, day: date) -> int:
        return (day - self.days[0].date()).days


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


def _climate(spec: PortfolioSpec, rng: np.random.Generator) -> _Climate:
    days = pd.date_range(_add_months(spec.start, -60), spec.end - timedelta(days=1), freq="D")
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
    return _Climate(days, temperature, basis, cum, occ, solar / solar.mean())


# --- names -----------------------------------------------------------------------------------

_TOWN_A = "东西南北新长青华金玉梅荷桃柳湖山河石云龙凤安和永兴杨"
_TOWN_B = "桥塘港湾庄泾浜园林堰墅渚村圩埭"
_ORGAN_DEPTS = (
    "人民政府办公室", "发展和改革委员会", "教育局", "科学技术局", "工业和信息化局", "公安局", "民政局",
    "司法局", "财政局", "人力资源和社会保障局", "自然资源和规划局", "生态环境局", "住房和城乡建设局",
    "交通运输局", "水利局", "农业农村局", "商务局", "文化广电和旅游局", "卫生健康委员会", "退役军人事务局",
    "应急管理局", "审计局", "市场监督管理局", "统计局", "医疗保障局", "城市管理局", "机关事务管理局",
    "行政审批局", "信访局", "人大常委会办公室", "政协办公室", "人民检察院",
)
_PARTY = ("办公室", "组织部", "宣传部", "统战部", "政法委员会")
_HOSPITALS_CITY = ("人民医院", "第二人民医院", "中医医院", "妇幼保健院", "儿童医院", "精神卫生中心",
                   "传染病医院", "疾病预防控制中心", "急救中心", "中心血站")
_HOSPITALS_DISTRICT = ("人民医院", "中医医院", "妇幼保健所", "疾病预防控制中心")
_VENUES_CITY = ("体育中心", "图书馆", "美术馆", "文化馆", "大剧院", "科技馆", "档案馆", "游泳馆", "会展中心")
_VENUES_DISTRICT = ("图书馆", "文化馆", "全民健身中心", "档案馆", "体育馆")
_OTHER_CITY = ("政务服务中心", "公共资源交易中心", "住房公积金管理中心", "不动产登记中心", "老干部活动中心",
               "社会福利中心", "救助管理站", "机关后勤服务中心")
_OTHER_DISTRICT = ("政务服务中心", "融媒体中心", "社会福利院", "老年活动中心", "机关事务服务中心")
_ESCO_WORDS = ("绿源", "恒信", "清源", "博远", "汇能", "瑞泽", "盛景", "苏环", "嘉禾", "宏图", "蓝湾",
               "晟辉", "润达", "鼎新", "同创", "华益", "远航", "泰和", "新锐", "启明", "和润", "锦程",
               "聚力", "天朗", "沐阳", "众合", "凯润", "朗坤", "碧波", "优能")


class _Namer:
    """Unique Chinese names for institutions in a city and its districts."""

    def __init__(self, rng: np.random.Generator, city: str, districts: dict[str, str]) -> None:
        self.rng, self.city, self.districts = rng, city, districts
        self.used: set[str] = set()
        self.towns: dict[str, list[str]] = {}
        self.counter: Counter[str] = Counter()
        self.pools: dict[tuple[str, str], list[str]] = {}

    @property
    def city_short(self) -> str:
        return self.city.removesuffix("市")

    def town(self, region: str) -> str:
        pool = self.towns.get(region)
        if not pool:
            pool = [a + b for a in _TOWN_A for b in _TOWN_B]
            self.rng.shuffle(pool)
            self.towns[region] = pool
        return pool.pop() if len(pool) > 1 else pool[0]

    def _fixed(self, key: tuple[str, str], items: list[str]) -> str | None:
        pool = self.pools.setdefault(key, list(items))
        while pool:
            name = pool.pop(0)
            if name not in self.used:
                return name
        return None

    def _numbered(self, place: str, stem: str) -> str:
        self.counter[place + stem] += 1
        return f"{place}第{_cn_number(self.counter[place + stem])}{stem}"

    def name(self, category: str, region: str) -> str:
        at_city = region == ""
        place = self.city if at_city else self.districts[region]
        fixed: str | None = None
        if category == "organ":
            party = [f"中共{place}委{p}" for p in _PARTY]
            court = [f"{place}中级人民法院" if at_city else f"{place}人民法院"]
            depts = [place + d for d in _ORGAN_DEPTS]
            items = depts + party + court
            self.rng.shuffle(items)
            fixed = self._fixed(("organ", region), items)
            if fixed is None:
                town = self.town(region)
                seat = "镇人民政府" if place.endswith("市") and not at_city else "街道办事处"
                fixed = f"{place}{town}{seat}"
        elif category == "school":
            kind = _pick(self.rng, [("小学", .4), ("中学", .3), ("幼儿园", .15), ("实验学校", .1),
                                    ("职业", .05)])
            if at_city and kind in ("中学", "小学"):
                fixed = self._numbered(place, "中学" if kind == "中学" else "实验小学")
            elif kind == "职业":
                fixed = (self._numbered(place, "职业学校") if at_city
                         else f"{place}{self.town(region)}职业技术学校")
            else:
                fixed = f"{place}{self.town(region)}{kind}"
        elif category == "hospital":
            fixed = self._fixed(("hospital", region),
                                [place + h for h in (_HOSPITALS_CITY if at_city else _HOSPITALS_DISTRICT)])
            if fixed is None and at_city:
                fixed = self._numbered(place, "人民医院")
            elif fixed is None:
                kind = _pick(self.rng, [("社区卫生服务中心", .7), ("卫生院", .3)])
                fixed = f"{place}{self.town(region)}{kind}"
        elif category == "venue":
            items = [place + v for v in (_VENUES_CITY if at_city else _VENUES_DISTRICT)]
            if at_city:
                items.insert(3, self.city_short + "博物院")
            fixed = self._fixed(("venue", region), items) or f"{place}{self.town(region)}文体活动中心"
        else:
            items = [place + v for v in (_OTHER_CITY if at_city else _OTHER_DISTRICT)]
            if at_city:
                items.insert(0, self.city_short + "市民中心")
            fixed = self._fixed(("other", region), items) or \
                f"{place}{self.town(region)}{_pick(self.rng, [('党群服务中心', .5), ('便民服务中心', .5)])}"
        name = fixed
        n = 2
        while name in self.used:  # a town drawn twice: the second site is a branch campus
            name = f"{fixed}（{_cn_number(n)}部）"
            n += 1
        self.used.add(name)
        return name


def _cn_number(n: int) -> str:
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 20:
        return "十" + (digits[n % 10] if n % 10 else "")
    if n < 100:
        return digits[n // 10] + "十" + (digits[n % 10] if n % 10 else "")
    return str(n)


# --- institutions ----------------------------------------------------------------------------

# Medians by category: office floor area (m²) and m² per energy user (students count in schools),
# electricity kWh/m²·a, water m³/person·a, gas m³/m²·a. Order of magnitude of the 2022 national
# actuals (18 kgce/m², 21 m³/person); illustrative, not a benchmark.
_AREA = {"organ": 9000, "school": 22000, "hospital": 45000, "venue": 18000, "other": 7000}
_AREA_PER_USER = {"organ": 28, "school": 12, "hospital": 35, "venue": 120, "other": 30}
_ELEC = {"organ": 90, "school": 45, "hospital": 160, "venue": 100, "other": 80}
_WATER = {"organ": 25, "school": 12, "hospital": 60, "venue": 15, "other": 25}
_GAS = {"organ": 1.5, "school": 1.5, "hospital": 6.0, "venue": 1.0, "other": 1.5}
_HAS_GAS = {"organ": 0.4, "school": 0.6, "hospital": 0.9, "venue": 0.3, "other": 0.3}
_FRACTIONS: dict[str, dict[str, tuple[float, ...]]] = {  # base load, occupancy, cooling, heating
    "electricity": {"organ": (.25, .40, .25, .10), "school": (.20, .50, .20, .10),
                    "hospital": (.45, .20, .25, .10), "venue": (.25, .40, .25, .10),
                    "other": (.30, .40, .20, .10)},
    "water": {c: ((.6, .3, .1, 0) if c == "hospital" else (.3, .6, .1, 0)) for c in CATEGORIES},
    "gas": {c: ((.4, .1, 0, .5) if c == "hospital" else (.2, .3, 0, .5)) for c in CATEGORIES},
}


def _institutions(spec: PortfolioSpec, rng: np.random.Generator, city_name: str,
                  districts: dict[str, str]) -> list[_Inst]:
    counts = _counts(spec.institutions, CATEGORY_SHARE)
    cats = [c for c, n in zip(CATEGORIES, counts, strict=True) for _ in range(n)]
    rng.shuffle(cats)
    codes = list(districts)
    # A quarter of the institutions are city-level (市级); county-level cities (codes 32xx8x) are bigger.
    weights = np.array([1.5 if c[4] == "8" else 1.0 for c in codes])
    namer = _Namer(rng, city_name, districts)
    width = max(4, len(str(spec.institutions)))
    out = []
    for idx, cat in enumerate(cats):
        region = ""
        if codes and rng.random() >= 0.25:
            region = codes[int(rng.choice(len(codes), p=weights / weights.sum()))]
        name = namer.name(cat, region)
        area = float(np.clip(_AREA[cat] * rng.lognormal(0, 0.55), 800, 300_000))
        area = round(area, -1)
        users = max(5, int(area / _AREA_PER_USER[cat] * rng.lognormal(0, 0.2)))
        has_gas = bool(rng.random() < _HAS_GAS[cat])
        annual = {
            "electricity": area * _ELEC[cat] * rng.lognormal(0, 0.25),
            "water": users * _WATER[cat] * rng.lognormal(0, 0.25),
            "gas": area * _GAS[cat] * rng.lognormal(0, 0.3) if has_gas else 0.0,
        }
        fractions = {}
        for utility, table in _FRACTIONS.items():
            f = np.array(table[cat]) * rng.lognormal(0, 0.3, 4)
            fractions[utility] = f / f.sum()
        place = districts.get(region, city_name)
        road = namer.town(region) + _pick(rng, [("路", .6), ("大道", .2), ("街", .2)])
        address = f"{city_name if region else ''}{place}{road}{int(rng.integers(1, 999))}号"
        out.append(_Inst(idx, f"{PREFIX}I-{idx + 1:0{width}d}", name, cat, region or spec.city, address, area,
                         users, has_gas, annual, fractions))
    return out


# --- contracts -------------------------------------------------------------------------------

_VARIANTS: dict[str, list[tuple[str, float]]] = {
    "cost_custody": [("energy", .55), ("energy_water", .35), ("water", .10)],
    "shared_savings": [("electricity", .75), ("electricity_gas", .12), ("water", .13)],
    "guaranteed_savings": [("electricity", .55), ("water", .45)],
    "lease": [("pv", .5), ("electricity", .5)],
    "hybrid": [("water_custody_guarantee", .4), ("shared_guarantee_water", .3), ("lease_shared", .3)],
}
_WATER_ONLY = {"cost_custody": "water", "shared_savings": "water", "guaranteed_savings": "water",
               "hybrid": "water_custody_guarantee"}
_VARIANT_UTILITIES = {
    "energy": ["electricity", "gas"], "energy_water": ["electricity", "water", "gas"], "water": ["water"],
    "electricity": ["electricity"], "electricity_gas": ["electricity", "gas"], "pv": ["pv"],
    "water_custody_guarantee": ["water"], "shared_guarantee_water": ["electricity", "water"],
    "lease_shared": ["electricity"],
}
_AFFINITY: dict[str, dict[str, float]] = {  # how likely each category signs each kind
    "cost_custody": {"organ": 3, "school": 1, "hospital": 1.5, "venue": 1, "other": 2},
    "shared_savings": {"organ": 1, "school": 1.5, "hospital": 2, "venue": 1.5, "other": 1},
    "guaranteed_savings": {"organ": 1, "school": 2, "hospital": 2, "venue": 1, "other": 1},
    "lease": {"organ": 1, "school": 2, "hospital": .5, "venue": 3, "other": 1},
    "hybrid": {"organ": 1, "school": 2, "hospital": 2, "venue": 1, "other": 1},
}
_TERM_YEARS = {"cost_custody": (5, 5, 6, 8, 10), "shared_savings": (5, 6, 8), "guaranteed_savings": (3, 4, 5),
               "lease": (5, 6, 8), "hybrid": (5, 6, 8, 10)}


def _contract_shapes(spec: PortfolioSpec, rng: np.random.Generator,
                     insts: list[_Inst]) -> list[_ContractPlan]:
    """Types, sizes and institutions: a few county packages, some multi-site groups, some institutions
    with a second (water) contract, single sites for the rest; some institutions stay uncovered."""
    n = spec.contracts
    if n == 0:
        return []
    types = [t for t, k in zip(CONTRACT_TYPES, _counts(n, TYPE_SHARE), strict=True) for _ in range(k)]
    rng.shuffle(types)
    n_districts = len({i.region for i in insts} - {spec.city})
    n_pkg = 0 if n < 8 else min(max(1, n_districts), max(1, round(n / 70)))  # at most one per district
    n_double = round(0.06 * n) if n >= 10 else 0
    n_group = round(0.08 * n)
    n_inst = len(insts)
    pkg_sizes = [max(3, round(n_inst * rng.uniform(0.03, 0.06))) for _ in range(n_pkg)]
    group_sizes = [int(rng.integers(2, 5)) for _ in range(n_group)]
    n_single = n - n_pkg - n_group - n_double
    # Shrink to the institutions there are: packages first, then groups, then fewer doubles.
    while n_single + sum(pkg_sizes) + sum(group_sizes) > n_inst:
        if pkg_sizes and max(pkg_sizes) > 2:
            pkg_sizes[pkg_sizes.index(max(pkg_sizes))] -= 1
        elif group_sizes and max(group_sizes) > 1:
            group_sizes[group_sizes.index(max(group_sizes))] -= 1
        else:
            break

    # Assign contract types to shapes: packages are custody; doubles need a water variant.
    pool = list(types)

    def take(allowed: tuple[str, ...]) -> str:
        for i, t in enumerate(pool):
            if t in allowed:
                return pool.pop(i)
        return pool.pop(0)

    packages = [("package", take(("cost_custody", "hybrid")), s) for s in pkg_sizes]
    doubles = [("double", take(tuple(_WATER_ONLY)), 1) for _ in range(n_double)]
    groups = [("group", take(CONTRACT_TYPES), s) for s in group_sizes]
    # Doubles come last: they need institutions that already have an energy-only contract.
    shapes = packages + groups + [("single", t, 1) for t in pool] + doubles

    free = set(range(n_inst))
    water_at: set[int] = set()  # institutions whose water is under some contract already
    energy_only: set[int] = set()
    plans: list[_ContractPlan] = []

    def choose(candidates: list[int], ctype: str, variant: str) -> int:
        aff = _AFFINITY[ctype]
        w = np.array([aff[insts[i].category] * insts[i].area ** 0.3 * (3.0 if variant == "pv" and
                      insts[i].category in ("school", "venue") else 1.0) for i in candidates])
        return candidates[int(rng.choice(len(candidates), p=w / w.sum()))]

    packaged: set[str] = set()
    for shape, ctype, size in shapes:
        variant = _pick(rng, _VARIANTS[ctype])
        if shape == "package":
            variant = "energy_water" if ctype == "cost_custody" else "water_custody_guarantee"
            by_region: dict[str, list[int]] = defaultdict(list)
            for i in sorted(free):
                if insts[i].category in ("organ", "school", "other"):
                    by_region[insts[i].region].append(i)
            districts = {r: v for r, v in by_region.items()
                         if r not in packaged | {spec.city} and len(v) >= 2}
            if districts:
                region = max(sorted(districts), key=lambda r: len(districts[r]))
                packaged.add(region)
                members = list(districts[region])
                rng.shuffle(members)
                chosen = sorted(members[:size])
            else:  # nothing left to package: a single site
                shape, size = "single", 1
        if shape == "double":
            variant = _WATER_ONLY.get(ctype, "water")
            candidates = sorted(energy_only - water_at) or sorted(free) or list(range(n_inst))
            chosen = [choose(candidates, ctype, variant)]
        elif shape != "package":
            # More contracts than institutions: reuse some (their meters then describe extra supply points).
            candidates = sorted(free) or list(range(n_inst))
            first = choose(candidates, ctype, variant)
            chosen = [first]
            if size > 1:
                near = [i for i in candidates if i != first and insts[i].region == insts[first].region]
                rng.shuffle(near)
                chosen += near[: size - 1]
        utilities = list(_VARIANT_UTILITIES[variant])
        if "gas" in utilities and not any(insts[i].has_gas for i in chosen):
            utilities.remove("gas")
        plans.append(_ContractPlan(len(plans), ctype, variant, chosen, utilities, date.min, 0,
                                   package=shape == "package"))
        for i in chosen:
            free.discard(i)
            if "water" in utilities:
                water_at.add(i)
                energy_only.discard(i)
            elif i not in water_at:
                energy_only.add(i)

    # Start dates on the 1st of a month (see the report: ContractHead.contract_years counts a
    # mid-month start as an extra year). Three quarters start inside the window with a baseline
    # year before them where the window allows; the rest started up to three years earlier.
    months = spec.months
    lo, hi = (12, months - 3) if months >= 18 else (max(1, months // 4), max(1, months * 3 // 4))
    for c in plans:
        if rng.random() < 0.75:
            c.start = _add_months(spec.start.replace(day=1), int(rng.integers(lo, hi + 1)))
        else:
            c.start = _add_months(spec.start.replace(day=1), -int(rng.integers(1, 37)))
        c.term_years = int(rng.choice(_TERM_YEARS[c.type]))
        if spec.settle_monthly:
            c.start, c.term_years, c.frequency = _add_months(spec.start.replace(day=1), 12), spec.years - 1, "monthly"
        if c.variant == "pv":
            c.pv = "installed"
        elif c.type == "cost_custody" and len(c.insts) == 1 and rng.random() < 0.2:
            c.pv = "existing"  # a rooftop plant the custody contract takes over (Wuxi civic centre)
            c.utilities.append("pv")
        c.savings = _savings(rng, c)
    plans.sort(key=lambda c: (c.start, c.idx))
    width = max(4, len(str(len(plans))))
    for k, c in enumerate(plans):
        c.idx = k
        c.code = f"{PREFIX}C-{k + 1:0{width}d}"
    return plans


def _savings(rng: np.random.Generator, c: _ContractPlan) -> dict[str, float]:
    """The saving the retrofit actually achieves, per utility (guarantees are set around it later)."""
    out = {}
    for u in c.utilities:
        if u == "pv":
            continue
        if u == "electricity":
            low, high = {"cost_custody": (.08, .16), "shared_savings": (.10, .25)}.get(c.type, (.06, .18))
        elif u == "water":
            low, high = (.03, .10)
        else:
            low, high = (.05, .15)
        out[u] = float(rng.uniform(low, high))
    return out


# --- meters ----------------------------------------------------------------------------------

_SUB_ITEMS = ("hvac", "lighting", "power", "special")
_LABEL = {"electricity": "电力总表", "water": "水表", "gas": "燃气表", "pv": "光伏发电表"}
_SUB_LABEL = {"hvac": "空调分项", "lighting": "照明插座分项", "power": "动力分项", "special": "特殊用电分项",
              "hot_water": "热水表"}


def _sub_fractions(f: np.ndarray, item: str) -> tuple[np.ndarray, float]:
    """Shape and share of the institution's use for an electricity sub-item (分项), from its fractions."""
    base, occ, cool, heat = f
    weather = cool + heat
    if item == "hvac":
        if not weather:
            return np.array([1.0, 0, 0, 0]), 0.0
        return np.array([0.05, 0, 0.95 * cool / weather, 0.95 * heat / weather]), weather
    if item == "lighting":
        return np.array([0.1, 0.9, 0, 0]), 0.6 * occ
    if item == "power":
        return np.array([0.5, 0.5, 0, 0]), 0.4 * occ + 0.5 * base
    return np.array([1.0, 0, 0, 0]), 0.3 * base


def _meters(spec: PortfolioSpec, rng: np.random.Generator, insts: list[_Inst],
            contracts: list[_ContractPlan]) -> list[_MeterPlan]:
    pairs = []  # (contract, institution, utility): each gets one main meter
    for c in contracts:
        for i in c.insts:
            for u in c.utilities:
                if u == "gas" and not insts[i].has_gas:
                    continue
                pairs.append((c.idx, i, u))
    extras = max(0, spec.meters - len(pairs))
    weight = {"electricity": 0.75, "water": 0.2, "gas": 0.05, "pv": 0.0}
    w = np.array([insts[i].area ** 0.7 * weight[u] for _, i, u in pairs])
    counts = np.zeros(len(pairs), dtype=int)
    if extras and w.sum() > 0:
        counts = rng.multinomial(extras, w / w.sum())
    width = max(5, len(str(len(pairs) + extras)))
    out: list[_MeterPlan] = []
    for (ci, i, u), extra in zip(pairs, counts, strict=True):
        inst, c = insts[i], contracts[ci]
        saving = c.savings.get(u, 0.0)
        if u == "pv":
            capacity = float(np.clip(inst.area * rng.uniform(0.01, 0.03), 30, 2000))  # kWp
            n_pv = 1 + int(extra)
            for k, share in enumerate(rng.dirichlet([3.0] * n_pv)):
                out.append(_MeterPlan("", i, ci, "pv", "total", f"{inst.name}·{_LABEL['pv']}{k + 1}",
                                      capacity * 1100.0 * share, np.zeros(4), 0.05, 0.0,
                                      c.start if c.pv == "installed" else None))
            continue
        extra = int(extra)
        mains, subs = 1, []
        if u == "electricity":
            more = min(extra, int(inst.area // 25000))
            mains += more
            subs = [_SUB_ITEMS[k % len(_SUB_ITEMS)] for k in range(extra - more)]
        elif u == "water" and extra and inst.category in ("hospital", "school"):
            mains += extra - 1
            subs = ["hot_water"]
        else:
            mains += extra
        f = inst.fractions[u]
        for k, share in enumerate(rng.dirichlet([3.0] * mains) if mains > 1 else [1.0]):
            noise = 0.06 if u == "electricity" else 0.12
            out.append(_MeterPlan("", i, ci, u, "total", f"{inst.name}·{_LABEL[u]}{k + 1}",
                                  inst.annual[u] * float(share), f, noise, saving))
        by_item = Counter(subs)
        for item, n in by_item.items():
            if item == "hot_water":
                shape, item_share = np.array([0.3, 0.4, 0, 0.3]), 0.15
            else:
                shape, item_share = _sub_fractions(f, item)
            split = rng.dirichlet([2.0] * n) if n > 1 else [1.0]
            for k, share in enumerate(split):
                out.append(_MeterPlan("", i, ci, u, item, f"{inst.name}·{_SUB_LABEL[item]}{k + 1}",
                                      inst.annual[u] * item_share * float(share), shape, 0.10, saving))
    for k, m in enumerate(out):
        m.code = f"{PREFIX}M-{k + 1:0{width}d}"
    return out


# --- contract files --------------------------------------------------------------------------


def _escos(rng: np.random.Generator, contracts: list[_ContractPlan],
           city_short: str) -> list[tuple[str, str]]:
    # ~21 ESCOs for Wuxi's ~200 contracts; fewer per contract in bigger portfolios.
    n = min(len(contracts), round(4 + 1.2 * math.sqrt(len(contracts)))) if contracts else 0
    if n == 0:
        return []
    order = list(range(len(contracts)))
    rng.shuffle(order)
    # Every ESCO holds at least one contract; the rest go mostly to a few large ones (Zipf-like).
    zipf = 1.0 / np.arange(1, n + 1) ** 0.9
    for rank, ci in enumerate(order):
        contracts[ci].esco = rank if rank < n else int(rng.choice(n, p=zipf / zipf.sum()))
    held: dict[int, list[_ContractPlan]] = defaultdict(list)
    for c in contracts:
        held[c.esco].append(c)
    words = list(_ESCO_WORDS)
    rng.shuffle(words)
    out = []
    for k in range(n):
        water = sum(c.utilities == ["water"] for c in held[k]) * 2 > len(held[k])
        suffix = "节水科技有限公司" if water else _pick(
            rng, [("节能科技有限公司", .45), ("能源服务有限公司", .3), ("综合能源服务有限公司", .25)])
        place = _pick(rng, [("江苏", .5), (city_short, .5)])
        word = words[k % len(words)] + ("" if k < len(words) else _cn_number(k // len(words) + 1))
        out.append((f"{PREFIX}E-{k + 1:03d}", f"{place}{word}{suffix}"))
    return out


_TITLE = {
    ("cost_custody", "energy"): "能源费用托管项目",
    ("cost_custody", "energy_water"): "水电气能源费用托管项目",
    ("cost_custody", "water"): "用水费用托管项目",
    ("shared_savings", "electricity"): "合同能源管理（节能效益分享型）项目",
    ("shared_savings", "electricity_gas"): "合同能源管理（节能效益分享型）项目",
    ("shared_savings", "water"): "合同节水管理（节水效益分享型）项目",
    ("guaranteed_savings", "electricity"): "合同能源管理（节能量保证型）项目",
    ("guaranteed_savings", "water"): "合同节水管理（节水效果保证型）项目",
    ("lease", "pv"): "屋顶分布式光伏融资租赁项目", ("lease", "electricity"): "空调系统节能改造融资租赁项目",
    ("hybrid", "water_custody_guarantee"): "用水费用托管+节水效果保证项目",
    ("hybrid", "shared_guarantee_water"): "节能效益分享+节水效果保证项目",
    ("hybrid", "lease_shared"): "节能改造（融资租赁+效益分享）项目",
}


def _contract_file(rng: np.random.Generator, c: _ContractPlan, insts: list[_Inst], meters: list[_MeterPlan],
                   escos: list[tuple[str, str]], climate: _Climate, districts: dict[str, str],
                   city_short: str) -> ContractFile:
    members = [insts[i] for i in c.insts]
    title = _TITLE[(c.type, c.variant)]
    if c.package:
        place = districts.get(members[0].region, "")
        name = f"{place}公共机构{title.removesuffix('项目')}项目（{len(members)}家单位打包）"
    elif len(members) > 1:
        name = f"{members[0].name}等{len(members)}家单位{title}"
    else:
        name = f"{members[0].name}{title}"
    end = _add_months(c.start, 12 * c.term_years) - timedelta(days=1)
    years = c.term_years
    b_start, b_end = _add_months(c.start, -12), c.start - timedelta(days=1)
    i0, i1 = climate.index(b_start), climate.index(b_end) + 1
    use: dict[str, float] = defaultdict(float)
    for inst in members:
        cum = climate.cum[inst.category]
        for u in c.utilities:
            if u == "pv" or (u == "gas" and not inst.has_gas):
                continue
            use[u] += inst.annual[u] / 365.25 * float(inst.fractions[u] @ (cum[:, i1] - cum[:, i0]))
    prices = {"electricity": round(rng.uniform(0.62, 0.82), 4), "water": round(rng.uniform(3.5, 4.6), 2),
              "gas": round(rng.uniform(3.3, 4.2), 2)}
    prices["pv"] = prices["electricity"]
    cost = sum(use[u] * prices[u] for u in use)
    saved_value = sum(use[u] * c.savings.get(u, 0) * prices[u] for u in use)
    pv_value = sum(m.annual for m in meters if m.contract == c.idx and m.utility == "pv") * prices["pv"]
    components: list[dict[str, Any]] = []
    value = 0.0
    investment: float | None = None

    def custody(utilities: list[str], key: str = "custody", label: str = "能源费用托管") -> float:
        base = sum(use[u] * prices[u] for u in utilities if u in use)
        factor = round(rng.uniform(0.90, 0.98), 2)
        adjust = rng.choice(["floor_area", "energy_users", "price", "non_routine"],
                            size=int(rng.integers(1, 4)), replace=False)
        comp: dict[str, Any] = {"kind": "cost_custody", "key": key, "label": label, "utilities": utilities,
                                "baseline_cost": fen(_d(base)), "fee_factor": _d(factor),
                                "adjust_for": sorted(adjust.tolist())}
        if rng.random() < 0.4:
            comp["savings_rate_guarantee"] = _d(round(rng.uniform(0.05, 0.10), 2))
            comp["guarantee_penalty_rate"] = _d(round(rng.uniform(0.01, 0.05), 2))
        components.append(comp)
        return base * factor * years

    def shared(utilities: list[str], key: str = "shared") -> float:
        first = round(rng.uniform(0.7, 0.9), 2)
        step = rng.choice([0.0, 0.05, 0.1])
        shares = [max(0.4, round(first - step * (y // 2), 2)) for y in range(years)]
        comp: dict[str, Any] = {"kind": "shared_savings", "key": key, "label": "节能效益分享",
                                "utilities": utilities, "esco_share": [_d(s) for s in shares],
                                "basis": _pick(rng, [("total", .8), ("per_utility", .2)])}
        if rng.random() < 0.2:
            comp["carry_forward"] = True
        part = sum(use[u] * c.savings.get(u, 0) * prices[u] for u in utilities if u in use)
        if rng.random() < 0.15:
            comp["cap_per_year"] = fen(_d(round(part * 1.5, -2)))
        components.append(comp)
        return part * sum(shares)

    def guarantee(utility: str, key: str = "guarantee", water_rate: bool = False) -> float:
        actual = c.savings.get(utility, 0.05)
        if water_rate:
            rate = round(rng.uniform(0.02, 0.04), 2)  # Wuxi civic centre: 2 % water saving every year
        else:
            rate = max(0.01, round(actual * rng.uniform(0.7, 1.3), 2))  # some contracts will fall short
        comp: dict[str, Any] = {"kind": "guaranteed_savings", "key": key,
                                "label": "节水效果保证" if utility == "water" else "节能量保证",
                                "utilities": [utility],
                                "shortfall_price": _d(prices[utility], 4),
                                "shortfall": _pick(rng, [("esco_pays", .7), ("net_from_fee", .3)])}
        if rng.random() < 0.7 or water_rate:
            comp["guaranteed_rate"] = _d(rate)
        else:
            comp["guaranteed_quantity"] = _d(round(use[utility] * rate))
        fee = use[utility] * actual * prices[utility] * rng.uniform(2.0, 3.0)
        if rng.random() < 0.5:
            comp["savings_price"] = _d(prices[utility] * rng.uniform(0.5, 0.8), 4)
            expected = use[utility] * actual * float(comp["savings_price"]) * years
        else:
            n_pay = min(years, 3)
            comp["fee_schedule"] = [{"contract_year": y + 1, "amount": fen(_d(round(fee / n_pay, -2)))}
                                    for y in range(n_pay)]
            expected = sum(float(x["amount"]) for x in comp["fee_schedule"])
        if rng.random() < 0.3:
            comp["surplus_esco_share"] = _d(rng.choice([0.2, 0.3, 0.5]))
        components.append(comp)
        return expected

    def lease(principal: float, utilities: list[str]) -> float:
        rate = round(rng.uniform(0.04, 0.065), 4)
        per_year = int(rng.choice([12, 4]))
        n = years * per_year
        r = rate / per_year
        payment = principal * r / (1 - (1 + r) ** -n)
        lessor = _pick(rng, [("锡银", .3), ("江南", .3), ("长江", .4)])
        components.append({"kind": "lease", "key": "lease", "label": "融资租赁租金", "utilities": utilities,
                           "principal": fen(_d(principal)), "annual_rate": _d(rate, 4),
                           "term_months": 12 * years, "payments_per_year": per_year,
                           "lessor": f"{city_short}{lessor}融资租赁有限公司"})
        return payment * n

    if c.type == "cost_custody":
        value = custody(list(c.utilities if c.pv == "" else [u for u in c.utilities if u != "pv"]),
                        label="用水费用托管" if c.utilities == ["water"] else "能源费用托管")
        investment = round((saved_value + pv_value) * rng.uniform(2.5, 4.5), -3)
    elif c.type == "shared_savings":
        value = shared(list(c.utilities))
        investment = round(saved_value * rng.uniform(2.5, 4.5), -3)
    elif c.type == "guaranteed_savings":
        value = guarantee(c.utilities[0])
    elif c.type == "lease":
        financed = pv_value * 6 if c.variant == "pv" else saved_value * 4
        principal = round(financed * rng.uniform(0.8, 1.2), -3)
        value = lease(max(principal, 10_000.0), list(c.utilities))
        if c.variant == "electricity":
            guarantee("electricity")
        investment = max(principal, 10_000.0)
    elif c.variant == "water_custody_guarantee":
        value = custody(["water"], key="water_custody", label="用水费用托管")
        guarantee("water", key="water_guarantee", water_rate=True)
        investment = round(saved_value * rng.uniform(2.5, 4.5), -3)
    elif c.variant == "shared_guarantee_water":
        value = shared(["electricity"]) + guarantee("water", key="water_guarantee")
        investment = round(saved_value * rng.uniform(2.5, 4.5), -3)
    else:  # lease_shared: equipment financed by a lease, operation paid from shared savings
        principal = max(10_000.0, round(saved_value * 2 * rng.uniform(0.8, 1.2), -3))
        value = lease(principal, ["electricity"]) + shared(["electricity"])
        investment = principal
    if c.type in ("cost_custody", "shared_savings") and rng.random() < 0.1:
        fee = round(cost * rng.uniform(0.01, 0.03), -2)
        components.append({"kind": "fixed_fee", "key": "om_fee", "label": "运维服务费",
                           "amount": fen(_d(max(fee, 1200))), "per": "year"})
        value += max(fee, 1200) * years

    carbon = _pick(rng, [("institution", .6), ("esco", .15), ("shared", .25)])
    head: dict[str, Any] = {
        "code": c.code, "name": name, "name_en": f"Synthetic {c.type.replace('_', ' ')} contract {c.idx + 1}",
        "type": c.type, "signed": c.start - timedelta(days=int(rng.integers(20, 90))), "start": c.start,
        "end": end, "settlement_frequency": c.frequency or _pick(rng, [("monthly", .6), ("quarterly", .3), ("annual", .1)]),
        "payment_days": int(rng.choice([15, 30, 30, 45, 60])), "contract_value": fen(_d(round(value, -2))),
        "carbon_rights": carbon,
        "ipmvp_option": "B" if c.type == "shared_savings" and rng.random() < 0.2 else "C",
        "notes": "合成数据（synthetic data, emc.synthetic）",
    }
    if investment is not None:
        head["esco_investment"] = fen(_d(investment))
    if carbon == "shared":
        head["carbon_rights_esco_share"] = _d(rng.choice([0.3, 0.4, 0.5]))
    esco_code, esco_name = escos[c.esco]
    data: dict[str, Any] = {
        "format": 1, "contract": head, "esco": {"code": esco_code, "name": esco_name},
        "institutions": [{"code": i.code, "name": i.name, "category": i.category, "region": i.region,
                          "floor_area_m2": _d(i.area, 0), "energy_users": i.users, "address": i.address}
                         for i in members],
        "meters": [{"code": m.code, "institution": insts[m.inst].code, "utility": m.utility,
                    "unit": "kWh" if m.utility in ("electricity", "pv") else "m3", "name": m.name,
                    "sub_item": m.sub_item} for m in meters if m.contract == c.idx],
        "components": components,
    }
    if use:
        data["baseline"] = {"start": b_start, "end": b_end,
                            "use": {u: _d(round(v), 0) for u, v in use.items()},
                            "cost": fen(_d(cost)), "floor_area_m2": _d(sum(i.area for i in members), 0),
                            "energy_users": sum(i.users for i in members),
                            "notes": "基期：合同开始前 12 个月（合成）"}
        valued = [u for u in use]
        # average-cost valuation needs each period's bill amounts; synthetic readings carry none (the service
        # would make such a contract wait), so the draw is kept (same portfolio per seed) but not used
        if any(comp["kind"] == "shared_savings" for comp in components) and rng.random() < 0.3 and AVERAGE_COST:
            data["valuation"] = {"policy": "average_cost", "limits": {
                u: {"min": _d(prices[u] * 0.7, 4), "max": _d(prices[u] * 1.5, 4)} for u in valued}}
        else:
            data["valuation"] = {"policy": "baseline_price", "prices": {u: _d(prices[u], 4) for u in valued},
                                 "escalation": _d(rng.choice([0, 0, 0.02, 0.03]))}
    return ContractFile.model_validate(data)


def plan(spec: PortfolioSpec, city_name: str = "无锡市", districts: dict[str, str] | None = None) -> Plan:
    """Everything :func:`generate` will write, as data (no database). ``districts``: code → name."""
    districts = dict(sorted((districts or {}).items()))
    s_struct, s_weather, s_files = (np.random.default_rng(s)
                                    for s in np.random.SeedSequence(spec.seed).spawn(3))
    climate = _climate(spec, s_weather)
    insts = _institutions(spec, s_struct, city_name, districts)
    contracts = _contract_shapes(spec, s_struct, insts)
    meters = _meters(spec, s_struct, insts, contracts)
    city_short = city_name.removesuffix("市")
    escos = _escos(s_struct, contracts, city_short)
    files = [_contract_file(s_files, c, insts, meters, escos, climate, districts, city_short)
             for c in contracts]
    if spec.meter_every_institution:
        meters = meters + _statistics_meters(insts, meters)
    return Plan(spec, insts, contracts, meters, files, escos, climate)


def _statistics_meters(insts: list[_Inst], meters: list[_MeterPlan]) -> list[_MeterPlan]:
    """A main meter per utility for each institution whose use no contract meters (``contract`` −1): what
    the city's statistics report reads. Their use is the institution's own (area × category intensity ×
    a lognormal spread, from :func:`_institutions`), so the city's intensities differ as real ones do."""
    have = {(m.inst, m.utility) for m in meters if m.sub_item == "total"}
    out = []
    for inst in insts:
        for u in ("electricity", "water", "gas"):
            if (inst.idx, u) in have or (u == "gas" and not inst.has_gas):
                continue
            out.append(_MeterPlan(f"{PREFIX}MS-{len(out) + 1:05d}", inst.idx, -1, u, "total",
                                  f"{inst.name}·{_LABEL[u]}", inst.annual[u], inst.fractions[u],
                                  0.06 if u == "electricity" else 0.12, 0.0))
    return out


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


def _hour_profiles(climate: _Climate, w0: int, n_days: int) -> dict[str, np.ndarray]:
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


def _daily_values(plan_: Plan, meters: list[_MeterPlan], rng: np.random.Generator, w0: int,
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


def _write_readings(session: Session, plan_: Plan, ids: dict[str, int],
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


def existing_portfolio(session: Session) -> tuple[int, int]:
    """How many synthetic (``SYN-``) institutions and contracts the database holds."""
    insts = session.exec(select(func.count()).select_from(Institution)
                         .where(Institution.code.startswith(PREFIX))).one()  # type: ignore[attr-defined]
    contracts = session.exec(select(func.count()).select_from(Contract)
                             .where(Contract.code.startswith(PREFIX))).one()  # type: ignore[attr-defined]
    return insts, contracts


def generate(session: Session, spec: PortfolioSpec | None = None, *,
             actor: str = "generator") -> PortfolioSummary:
    """Write a synthetic portfolio into an empty-of-synthetics database; the caller commits.

    Refuses (:class:`SyntheticError`) if any ``SYN-`` institution or contract exists already: a
    second run would otherwise have to guess whether to add, replace or merge.
    """
    spec = spec or PortfolioSpec()
    t0 = perf_counter()
    n_inst, n_contracts = existing_portfolio(session)
    if n_inst or n_contracts:
        raise SyntheticError(
            f"this database already holds a synthetic portfolio ({n_inst} {PREFIX} institutions, "
            f"{n_contracts} {PREFIX} contracts); generate into a fresh database instead")
    regions_added = 0
    if org.region_by_code(session, spec.city) is None:
        regions_added = org.load_regions(session)
    city = org.region_by_code(session, spec.city)
    if city is None:
        raise SyntheticError(f"city {spec.city!r} is not in the shipped regions; "
                             "load it with `emc regions load`")
    children = session.exec(select(Region).where(Region.parent_id == city.id)).all()
    districts = {r.code: r.name for r in children}
    p = plan(spec, city.name, districts)

    source = f"synthetic(seed={spec.seed})"
    for f in p.files:
        result = load_contract(session, f, source=f"{source}/{f.contract.code}", actor=actor)
        if result.action != "created":  # cannot happen after the check above; never silently merge
            raise SyntheticError(f"{f.contract.code}: expected a new contract, got {result}")
    covered = p.covered
    region_ids = {r.code: r.id for r in session.exec(select(Region)).all()}
    by_code = {i.code: i for i in session.exec(select(Institution)
                                               .where(Institution.code.startswith(PREFIX))).all()}  # type: ignore[attr-defined]
    inst_ids: dict[int, int] = {}
    for inst in p.institutions:
        row = by_code.get(inst.code)
        if row is None:
            row = org.upsert_institution(session, inst.code, {
                "name": inst.name, "category": inst.category, "region_id": region_ids[inst.region],
                "address": inst.address}, actor=actor)
        for year in range(spec.start.year, (spec.end - timedelta(days=1)).year + 1):
            org.ensure_institution_year(session, row, year, _d(inst.area, 0), inst.users)
        session.flush()
        inst_ids[inst.idx] = int(row.id)  # type: ignore[arg-type]
    for m in p.meters:
        if m.contract < 0:  # statistics meters: no contract brings them in
            session.add(Meter(code=m.code, name=m.name, institution_id=inst_ids[m.inst], utility=m.utility,
                              unit="kWh" if m.utility == "electricity" else "m3", sub_item="total"))
    audit.record(session, actor=actor, action="synthetic.generate", object_type="portfolio",
                 object_id=f"seed={spec.seed}", after={k: str(v) for k, v in asdict(spec).items()},
                 reason="synthetic data for tests, benchmarks and the demo")
    session.flush()
    t1 = perf_counter()

    readings, periods = 0, 0
    if spec.interval != "none" and p.meters:
        found = session.exec(select(Meter.code, Meter.id)
                             .where(Meter.code.startswith(PREFIX))).all()  # type: ignore[attr-defined]
        ids = {code: int(mid) for code, mid in found if mid is not None}
        rng = np.random.default_rng(np.random.SeedSequence(spec.seed).spawn(4)[3])
        readings, periods = _write_readings(session, p, ids, rng)
    analyze(session)  # every table it filled: the planner must not take them for empty (autovacuum may be off)
    t2 = perf_counter()

    return PortfolioSummary(
        city=spec.city, regions_added=regions_added, institutions=len(p.institutions),
        institutions_under_contract=len(covered), escos=len({c.esco for c in p.contracts}),
        contracts=len(p.files), contracts_by_type=dict(Counter(c.type for c in p.contracts).most_common()),
        meters=len(p.meters), meters_by_utility=dict(Counter(m.utility for m in p.meters).most_common()),
        periods=periods, readings=readings, spec_digest=p.spec_digest(),
        seconds_parties=t1 - t0, seconds_readings=t2 - t1)
