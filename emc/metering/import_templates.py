"""Import templates to download: an empty table whose headers come from the parser's own vocabulary
(emc/metering/headers.py ``ALIASES``), so a template filled in always maps to the columns it names.

Five layouts: long (one row per meter and time) with consumption (用量) or register readings (读数); wide (a
time column, then one column per meter headed by its code — the uploader's own meters of that register type,
as the parser knows a wide column only by a code it may write); and bills (start and end dates, inclusive, a
quantity and an amount). CSV is UTF-8 with BOM (Excel shows the Chinese); XLSX has one sheet.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from emc.errors import Refused
from emc.metering.headers import ALIASES, map_columns
from emc.metering.models import Meter
from emc.org.scope import Scope

WIDE_COLUMNS = 3  # meter columns in a wide template


@dataclass(frozen=True)
class Layout:
    fields: tuple[tuple[str, str], ...]  # (parser field, header) in column order
    wide: str | None = None  # the register type of the meters that head a wide template's columns


def _h(name: str, header: str) -> tuple[str, str]:
    if header not in ALIASES[name]:  # a template header must be one the parser knows
        raise ValueError(f"{header!r} is not an alias of {name!r}")
    return name, header


LAYOUTS: dict[str, Layout] = {
    "long-interval": Layout((_h("meter", "表号"), _h("time", "时间"), _h("consumption", "用量"))),
    "long-register": Layout((_h("meter", "表号"), _h("time", "时间"), _h("register", "读数"))),
    "wide-interval": Layout((_h("time", "时间"),), wide="interval"),
    "wide-register": Layout((_h("time", "时间"),), wide="cumulative"),
    "bills": Layout((_h("meter", "表号"), _h("start", "开始日期"), _h("end", "结束日期"),
                     _h("consumption", "用量"), _h("cost", "金额"))),
}
FORMATS = ("csv", "xlsx")


class NoMeters(Refused, key="imports.template_no_meters"):
    """A wide template needs meters of the uploader's to head its columns."""


def headers(session: Session, scope: Scope, layout: str) -> list[str]:
    """The template's header row: the layout's fields, and for a wide layout the uploader's meter codes."""
    spec = LAYOUTS[layout]
    out = [header for _, header in spec.fields]
    if spec.wide is None:
        return out
    codes = list(session.execute(select(col(Meter.code)).where(scope.meters(), col(Meter.register_type) == spec.wide)
                                 .order_by(Meter.code).limit(WIDE_COLUMNS)).scalars())
    if not codes:
        raise NoMeters(f"none of your meters is of register type {spec.wide}: a wide template has no columns")
    map_columns([*out, *codes], known_codes=set(codes))  # the parser reads what it is given
    return [*out, *codes]


def template_file(session: Session, scope: Scope, layout: str, fmt: str) -> bytes:
    """The template as CSV or XLSX bytes; an unknown layout or format is a KeyError (the route's 404)."""
    if layout not in LAYOUTS or fmt not in FORMATS:
        raise KeyError(f"{layout}.{fmt}")
    row = headers(session, scope, layout)
    if fmt == "csv":
        import csv

        buffer = io.StringIO()
        csv.writer(buffer).writerow(row)
        return ("\ufeff" + buffer.getvalue()).encode("utf-8")
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("data")
    sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
