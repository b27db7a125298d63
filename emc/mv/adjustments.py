"""Non-routine adjustments as plain data (IPMVP Core Concepts 2022: changes to static factors).

An adjustment is dated and explained; the service layer records who approved it (``approved_by``,
``approved_at``, ``reference`` to the signed change note, e.g. 变更确认单) — this core only applies it.
Sign: a positive amount *raises* the adjusted baseline (the building would have used more, e.g. a new data
room), so it raises the savings; a negative amount lowers it (a wing closed).

Kinds:

* ``one_time``  — ``amount`` (usage unit) added once, to the settlement period containing ``start``;
* ``recurring`` — ``amount`` added to every settlement period that starts in [``start``, ``end``);
* ``continuous`` — from ``start`` until ``end`` (open-ended if None), either ``amount`` per day (spread over
  the days with data, like-for-like with the actual use) or a ``multiplier`` on the routine baseline
  (a model change, e.g. floor area added: :meth:`Adjustment.floor_area`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

KINDS = ("one_time", "recurring", "continuous")


def _day(x: Any) -> dt.date | None:
    if x is None:
        return None
    if isinstance(x, dt.datetime):
        return x.date()
    if isinstance(x, dt.date):
        return x
    return pd.Timestamp(x).date()


@dataclass(frozen=True)
class Adjustment:
    """One non-routine adjustment (see module docstring for kinds and sign)."""

    start: dt.date
    kind: str
    reason: str
    amount: float | None = None
    multiplier: float | None = None
    end: dt.date | None = None  # exclusive
    approved_by: str | None = None
    approved_at: str | None = None
    reference: str | None = None
    id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _day(self.start))
        object.__setattr__(self, "end", _day(self.end))
        if self.kind not in KINDS:
            raise ValueError(f"adjustment kind must be one of {KINDS}, not {self.kind!r}")
        if not self.reason or not self.reason.strip():
            raise ValueError("a non-routine adjustment needs a reason")
        if (self.amount is None) == (self.multiplier is None):
            raise ValueError("give exactly one of amount or multiplier")
        if self.multiplier is not None and self.kind != "continuous":
            raise ValueError("a multiplier changes the model from a date: use kind='continuous'")
        if self.multiplier is not None and not self.multiplier > 0:
            raise ValueError("multiplier must be positive")
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")

    @classmethod
    def floor_area(
        cls, start: Any, baseline_area: float, new_area: float, *, reason: str, share: float = 1.0,
        end: Any = None, **kw: Any,
    ) -> Adjustment:
        """Scale the routine baseline by floor area from ``start``: multiplier 1 + share·(new/baseline − 1).

        ``share`` is the part of the load that scales with area (1.0: all of it).
        """
        if baseline_area <= 0 or new_area <= 0:
            raise ValueError("floor areas must be positive")
        m = 1.0 + share * (new_area / baseline_area - 1.0)
        detail = {"baseline_area": baseline_area, "new_area": new_area, "share": share}
        return cls(start=start, kind="continuous", reason=reason, multiplier=m, end=end, detail=detail, **kw)

    def active(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "kind": self.kind,
            "reason": self.reason,
            "amount": self.amount,
            "multiplier": self.multiplier,
            "approved_by": self.approved_by,
            "approved_at": self.approved_at,
            "reference": self.reference,
            "id": self.id,
            "detail": dict(self.detail),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Adjustment:
        return cls(
            start=d["start"], end=d.get("end"), kind=d["kind"], reason=d["reason"], amount=d.get("amount"),
            multiplier=d.get("multiplier"), approved_by=d.get("approved_by"), approved_at=d.get("approved_at"),
            reference=d.get("reference"), id=d.get("id"), detail=dict(d.get("detail") or {}),
        )
