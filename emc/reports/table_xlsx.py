"""One table as an XLSX workbook: the header as given (already translated by the caller), text cells that
cannot run as formulas, money as numbers (Decimal written exactly, shown with two decimals)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal

from openpyxl import Workbook

from emc.reports.cells import safe_cell

MONEY_FORMAT = "#,##0.00"


def table_xlsx(title: str, header: Sequence[str], rows: Sequence[Sequence[object]],
               footer: Sequence[Sequence[object]] = ()) -> bytes:
    """``rows`` then ``footer`` (e.g. totals) under ``header``; every Decimal cell is money (0.00)."""
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append([safe_cell(h) for h in header])
    for row in [*rows, *footer]:
        sheet.append([safe_cell(v) for v in row])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, Decimal):
                cell.number_format = MONEY_FORMAT
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
