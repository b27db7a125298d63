"""Unique, plausible Chinese names for a city's public institutions and the ESCOs that hold its contracts."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np

from emc.demo.plan import ContractPlan, pick
from emc.demo.spec import PREFIX

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


class Namer:
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
        return f"{place}第{cn_number(self.counter[place + stem])}{stem}"

    def name(self, category: str, region: str) -> str:
        at_city = region == ""
        place = self.city if at_city else self.districts[region]
        by_category = {"organ": self._organ, "school": self._school, "hospital": self._hospital,
                       "venue": self._venue}
        fixed = by_category.get(category, self._other)(place, region, at_city)
        name = fixed
        n = 2
        while name in self.used:  # a town drawn twice: the second site is a branch campus
            name = f"{fixed}（{cn_number(n)}部）"
            n += 1
        self.used.add(name)
        return name

    def _organ(self, place: str, region: str, at_city: bool) -> str:
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
        return fixed

    def _school(self, place: str, region: str, at_city: bool) -> str:
        kind = pick(self.rng, [("小学", .4), ("中学", .3), ("幼儿园", .15), ("实验学校", .1), ("职业", .05)])
        if at_city and kind in ("中学", "小学"):
            return self._numbered(place, "中学" if kind == "中学" else "实验小学")
        if kind == "职业":
            return self._numbered(place, "职业学校") if at_city else f"{place}{self.town(region)}职业技术学校"
        return f"{place}{self.town(region)}{kind}"

    def _hospital(self, place: str, region: str, at_city: bool) -> str:
        fixed = self._fixed(("hospital", region),
                            [place + h for h in (_HOSPITALS_CITY if at_city else _HOSPITALS_DISTRICT)])
        if fixed is None and at_city:
            fixed = self._numbered(place, "人民医院")
        elif fixed is None:
            kind = pick(self.rng, [("社区卫生服务中心", .7), ("卫生院", .3)])
            fixed = f"{place}{self.town(region)}{kind}"
        return fixed

    def _venue(self, place: str, region: str, at_city: bool) -> str:
        items = [place + v for v in (_VENUES_CITY if at_city else _VENUES_DISTRICT)]
        if at_city:
            items.insert(3, self.city_short + "博物院")
        return self._fixed(("venue", region), items) or f"{place}{self.town(region)}文体活动中心"

    def _other(self, place: str, region: str, at_city: bool) -> str:
        items = [place + v for v in (_OTHER_CITY if at_city else _OTHER_DISTRICT)]
        if at_city:
            items.insert(0, self.city_short + "市民中心")
        return self._fixed(("other", region), items) or \
            f"{place}{self.town(region)}{pick(self.rng, [('党群服务中心', .5), ('便民服务中心', .5)])}"


def cn_number(n: int) -> str:
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 20:
        return "十" + (digits[n % 10] if n % 10 else "")
    if n < 100:
        return digits[n // 10] + "十" + (digits[n % 10] if n % 10 else "")
    return str(n)


# --- institutions ----------------------------------------------------------------------------




def escos_for(rng: np.random.Generator, contracts: list[ContractPlan],
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
    held: dict[int, list[ContractPlan]] = defaultdict(list)
    for c in contracts:
        held[c.esco].append(c)
    words = list(_ESCO_WORDS)
    rng.shuffle(words)
    out = []
    for k in range(n):
        water = sum(c.utilities == ["water"] for c in held[k]) * 2 > len(held[k])
        suffix = "节水科技有限公司" if water else pick(
            rng, [("节能科技有限公司", .45), ("能源服务有限公司", .3), ("综合能源服务有限公司", .25)])
        place = pick(rng, [("江苏", .5), (city_short, .5)])
        word = words[k % len(words)] + ("" if k < len(words) else cn_number(k // len(words) + 1))
        out.append((f"{PREFIX}E-{k + 1:03d}", f"{place}{word}{suffix}"))
    return out

