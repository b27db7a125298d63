"""What an import check finds, as data (docs/design.md §4): code, severity, row, column, value, message.

Errors block the commit; warnings are shown and kept with the batch. Row numbers are the file's own
(the line in the CSV, the row in the sheet), so a user can find them in Excel.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

ERROR, WARNING = "error", "warning"

# code → (severity, what it means). The page's filter and the README list these.
CODES: dict[str, tuple[str, str]] = {
    "file_too_large": (ERROR, "the file is over a size limit (bytes, rows, cells, columns, unzipped size or "
                              "reading time)"),
    "unreadable": (ERROR, "the file is not a CSV or XLSX table we can read"),
    "missing_column": (ERROR, "a required column was not found by any of its header names"),
    "no_rows": (ERROR, "the file has a header but no data rows"),
    "bad_row": (ERROR, "a line with the wrong number of fields"),
    "bad_number": (ERROR, "a value is not a number"),
    "bad_timestamp": (ERROR, "a date/time cannot be read"),
    "bad_period": (ERROR, "a period ends before it starts"),
    "bad_unit": (ERROR, "a unit is unknown or does not fit the meter"),
    "negative_consumption": (ERROR, "consumption below zero (or a register that ran backwards)"),
    "conflicting_duplicate": (ERROR, "the same meter and period twice with different values"),
    "future_timestamp": (ERROR, "a period that has not happened yet"),
    "unknown_meter": (ERROR, "no meter with this code among the uploader's"),
    "station_not_yours": (ERROR, "the weather station serves institutions outside the uploader's scope"),
    "temperature_out_of_range": (ERROR, "an air temperature no weather station records"),
    "used_by_approved": (ERROR, "a correction of values approved settlements used, without a reason"),
    "identical_duplicate": (WARNING, "the same meter, period and value twice; the repeat is skipped"),
    "blank_value": (WARNING, "a row without a value: the period counts as missing, not as zero"),
    "gap": (WARNING, "missing periods between two readings"),
    "spike": (WARNING, "far above this meter's typical consumption in the file"),
    "zero_run": (WARNING, "a long run of zero consumption"),
    "rollover": (WARNING, "the register rolled over at its digits; consumption counted across it"),
    "replacement": (WARNING, "the meter was replaced; consumption counted from the old and new registers"),
    "estimated": (WARNING, "the platform marked the value as estimated"),
    "first_register": (WARNING, "first register reading of a meter: it sets the start, no consumption"),
    "conflict_existing": (WARNING, "already stored with another value"),
    "overlap": (WARNING, "the meter already has readings of another interval over the same time"),
    "new_station": (WARNING, "a weather station not seen before; it is created"),
    "settlements_adjusted": (WARNING, "approved settlements used the corrected values: flagged, differences drafted"),
}

MAX_KEPT = 20_000  # findings kept per batch; counts stay exact beyond it


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    message: str
    row: int | None = None
    column: str | None = None
    value: str | None = None
    meter: str | None = None

    @property
    def severity(self) -> str:
        return CODES[self.code][0]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "severity": self.severity}


@dataclass
class Findings:
    """Collects findings with exact counts per code and a bounded list of the findings themselves."""

    kept: list[Finding] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    limit: int = MAX_KEPT

    def add(self, finding: Finding) -> None:
        self.counts[finding.code] += 1
        if len(self.kept) < self.limit:
            self.kept.append(finding)

    def extend(self, findings: list[Finding]) -> None:
        for f in findings:
            self.add(f)

    @property
    def errors(self) -> int:
        return sum(n for code, n in self.counts.items() if CODES[code][0] == ERROR)

    @property
    def warnings(self) -> int:
        return sum(n for code, n in self.counts.items() if CODES[code][0] == WARNING)

    @property
    def truncated(self) -> bool:
        return sum(self.counts.values()) > len(self.kept)
