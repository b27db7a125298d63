"""The reject file: every rejected row with its reason, as CSV (UTF-8 with BOM, so Excel shows the
Chinese) or XLSX. Cells that a spreadsheet would run as a formula are neutralised."""

from __future__ import annotations

import csv
import io
from typing import Any

from emc.metering.models import ImportBatch
from emc.reports.cells import safe_cell

HEADERS = ("行号 row", "列 column", "值 value", "表号 meter", "代码 code", "说明 message")
def _rows(batch: ImportBatch, *, errors_only: bool = True) -> list[tuple[Any, ...]]:
    return [(f.get("row"), f.get("column"), f.get("value"), f.get("meter"), f.get("code"), f.get("message"))
            for f in batch.findings if not errors_only or f.get("severity") == "error"]


def reject_csv(batch: ImportBatch) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    for row in _rows(batch):
        writer.writerow([safe_cell(c) if c is not None else "" for c in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def reject_xlsx(batch: ImportBatch) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("rejected")
    sheet.append(HEADERS)
    for row in _rows(batch):
        sheet.append([safe_cell(c) for c in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
