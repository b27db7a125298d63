"""Warnings as data: every sufficiency finding, gate failure and model diagnostic is an :class:`MVWarning`.

Pages, JSON and PDF statements show them; nothing in ``emc.mv`` raises for a data problem (docs/design.md,
convention 4, after eemeter/opendsm ``common/warnings.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: A finding that the reader should know about; the result stays usable.
INFO = "info"
#: A finding that weakens the result (a gate failed, a month is thin); the result is usable with care.
WARNING = "warning"
#: The data or model cannot support a settlement (CalTRACK "disqualification").
DISQUALIFYING = "disqualifying"

SEVERITIES = (INFO, WARNING, DISQUALIFYING)


@dataclass(frozen=True)
class MVWarning:
    """One structured finding: a stable ``code``, a human ``message`` and, where it applies, a period and value."""

    code: str
    message: str
    severity: str = WARNING
    period_start: str | None = None  # ISO date/datetime of the affected period, inclusive
    period_end: str | None = None  # ISO date/datetime, exclusive
    value: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")

    @property
    def disqualifying(self) -> bool:
        return self.severity == DISQUALIFYING

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "severity": self.severity,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "value": self.value,
            "detail": dict(self.detail),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MVWarning:
        return cls(
            code=d["code"],
            message=d["message"],
            severity=d.get("severity", WARNING),
            period_start=d.get("period_start"),
            period_end=d.get("period_end"),
            value=d.get("value"),
            detail=dict(d.get("detail") or {}),
        )


def iso(ts: Any) -> str | None:
    """ISO text of a timestamp (just the date when it is a naive midnight), or None."""
    if ts is None:
        return None
    t = pd.Timestamp(ts)
    if t is pd.NaT:
        return None
    if t.tzinfo is None and t == t.normalize():
        return t.date().isoformat()
    return t.isoformat()
