"""Which approved settlements used imported data, and settling the difference when that data changes.

Settlement sits above metering (docs/architecture.md), so metering cannot import it; yet a replace or revert of
data an approved settlement used must be refused without a reason, and with one must flag those settlements and
draft their adjusting settlements (docs/integrity.md). Settlement answers: :mod:`emc.wiring` installs
:mod:`emc.settlement.provenance` here. Until then every question refuses (fail closed), so no import can change
data behind an approved settlement unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session


class ApprovedUse(Protocol):
    def using(self, session: Session, kind: str, refs: Iterable[str]) -> list[Any]: ...

    def using_span(self, session: Session, kind: str, refs: Iterable[str], first: datetime, last: datetime,
                   meter_ids: Iterable[int] = ()) -> list[Any]: ...

    def settle_changes(self, session: Session, rows: list[Any], *, what: str, reason: str,
                       actor: Any) -> dict[str, str]: ...

    def describe(self, rows: list[Any]) -> str: ...


_answer: ApprovedUse | None = None


def install(answer: ApprovedUse) -> None:
    global _answer
    _answer = answer


def approved_use() -> ApprovedUse:
    if _answer is None:
        raise RuntimeError("nothing answers which approved settlements used imported data: "
                           "the entry point imports emc.wiring")
    return _answer
