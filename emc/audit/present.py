"""An audit event's change as a reader takes it in: one row per field, from → to, each value as plain text.

Plain data in, plain data out (no session, no request). The stored ``before``/``after`` are JSON objects; a
value is shown as text (Chinese as Chinese: no ``\\uXXXX`` escapes), a nested object or list as indented JSON
written with ``ensure_ascii=False``, and a value longer than :data:`FOLD_AT` characters or of several lines is
marked *long* so the page can fold it (a tariff's whole price table, a job's list of problems)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

FOLD_AT = 80  # characters: a value longer than this (or of several lines) is folded on the page


@dataclass(frozen=True)
class Shown:
    """One value as text; ``long``: fold it (show the start, open for the rest)."""

    text: str
    long: bool
    line: str = ""  # the value on one line (an object as compact JSON, a list of lines joined)
    raw: Any = None  # the stored value (a caller translates known ones: a status, a role)

    @property
    def head(self) -> str:
        """What a folded value shows closed: its one-line form, cut at :data:`FOLD_AT` characters."""
        line = self.line or self.text
        return line if len(line) <= FOLD_AT else line[:FOLD_AT] + "…"


@dataclass(frozen=True)
class Change:
    """One field: its value before (None: it had none) and after (None: it has none now)."""

    field: str
    before: Shown | None
    after: Shown | None


def shown(value: Any, *, yes: str = "true", no: str = "false") -> Shown:
    """``value`` as text: strings as they are, booleans as ``yes``/``no``, objects and lists as JSON."""
    line = ""
    if isinstance(value, bool):
        text = yes if value else no
    elif value is None or value == "None":  # org's upsert records a missing value as the text "None"
        text = "—"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = str(value)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        text, line = "\n".join(value), "; ".join(value)  # a list of messages: one a line
    else:
        text = json.dumps(value, ensure_ascii=False, indent=1, default=str)
        line = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    return Shown(text=text, long=len(text) > FOLD_AT or "\n" in text, line=line or text.replace("\n", " "),
                 raw=value)


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None, *, yes: str = "true",
            no: str = "false") -> list[Change]:
    """The fields of ``before`` and ``after`` in the order they were recorded (``before``'s first), one
    :class:`Change` each; a field recorded with the same value on both sides did not change and is left out."""
    old, new = before or {}, after or {}
    fields = [*old, *(k for k in new if k not in old)]
    out = []
    for name in fields:
        if name in old and name in new and old[name] == new[name]:
            continue
        out.append(Change(field=name, before=shown(old[name], yes=yes, no=no) if name in old else None,
                          after=shown(new[name], yes=yes, no=no) if name in new else None))
    return out


def changes_text(items: list[Change], label: Any = None) -> str:
    """The changes on one line each, for a spreadsheet cell: ``field: from → to`` (long values whole)."""
    name = label or (lambda field: field)
    lines = []
    for c in items:
        before = c.before.text if c.before else "—"
        after = c.after.text if c.after else "—"
        lines.append(f"{name(c.field)}: {before} → {after}" if c.before else f"{name(c.field)}: {after}")
    return "\n".join(lines)
