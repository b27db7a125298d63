"""What `emc demo` says when it is done: how many of each thing the database holds, and the problems it met,
each by name (grouped when one problem repeats month after month), not a Python repr or a bare count."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

MONTH = re.compile(r"\b(\d{4}-\d{2})\b")
MAX_PROBLEMS = 60


def _key(message: str) -> tuple[str, str | None]:
    """The message with its one month (and that month's year, as in "for 2018 or earlier") made a placeholder."""
    months = MONTH.findall(message)
    if len(months) != 1:
        return message, None
    key = MONTH.sub("{month}", message)
    return re.sub(rf"\b{months[0][:4]}\b", "{year}", key), months[0]


def _span(values: list[str], unit: str) -> str:
    ordered = sorted(set(values))
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]} … {ordered[-1]} ({len(ordered)} {unit})"


def problem_lines(problems: Iterable[str], limit: int = MAX_PROBLEMS) -> list[str]:
    """One line per distinct problem; a problem that repeats month after month is one line with its months
    ("WX-SMZX 2017-12 … 2020-12 (37 months) electricity: no co2 factor … for 2017–2020 or earlier")."""
    groups: dict[str, list[str]] = {}
    for message in problems:
        key, month = _key(message)
        groups.setdefault(key, []).extend([month] if month else [])
    out = []
    for key, months in groups.items():
        if not months:
            out.append(key)
            continue
        years = sorted({m[:4] for m in months})
        out.append(key.replace("{month}", _span(months, "months"))
                   .replace("{year}", years[0] if len(years) == 1 else f"{years[0]}–{years[-1]}"))
    shown = [f"  problem: {line}" for line in out[:limit]]
    if len(out) > limit:
        shown.append(f"  … and {len(out) - limit} more (emc ledger rebuild lists them)")
    return shown


def count_lines(session: Session) -> list[str]:
    """Counts per thing, one query each (a fixed number, whatever the data)."""
    from emc.baselines.models import Baseline
    from emc.carbon.models import CarbonEntry, CarbonWarning
    from emc.contracts.models import Contract
    from emc.metering.models import Meter, Reading
    from emc.org.models import Esco, Institution, Region, User
    from emc.settlement.models import Settlement

    def count(model: type, *where: Any) -> int:
        return int(session.execute(select(func.count()).select_from(model).where(*where)).scalar_one())

    def by(column: Any) -> str:
        rows = session.execute(select(column, func.count()).group_by(column).order_by(column)).all()
        return ", ".join(f"{getattr(k, 'value', k)} {n:,}" for k, n in rows) or "none"

    synthetic = count(Contract, col(Contract.code).startswith("SYN-"))
    contracts = count(Contract)
    return [
        "demo summary:",
        f"  regions {count(Region):,}; institutions {count(Institution):,}; ESCOs {count(Esco):,}",
        f"  contracts {contracts:,} ({contracts - synthetic} examples, {synthetic} synthetic)",
        f"  meters {count(Meter):,} ({by(Meter.utility)}); readings {count(Reading):,}",
        f"  baselines {count(Baseline):,} ({by(Baseline.status)})",
        f"  settlements {count(Settlement):,} ({by(Settlement.status)})",
        f"  carbon ledger entries {count(CarbonEntry):,}; carbon warnings {count(CarbonWarning):,}",
        f"  users {count(User):,} ({by(User.role)})",
    ]
