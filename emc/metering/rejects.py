"""The reject file: the uploaded rows that have errors, exactly as they were uploaded (same columns, the header
row and a units row if the file had one), each followed by what was wrong with it — so the uploader fixes the
cells and uploads the same file again. CSV (UTF-8 with BOM, so Excel shows the Chinese) or XLSX. Findings of
the whole file (a missing column) come first, on rows of their own with empty cells. When the kept upload is
gone (a batch older than its file), the file lists the findings alone. Cells that a spreadsheet would run as a
formula are neutralised.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from emc.metering.models import ImportBatch
from emc.metering.tables import TableError, TableSource, iter_chunks, open_table
from emc.reports.cells import safe_cell

# a finding (as stored with the batch) → the words the uploader reads in the finding column
Describe = Callable[[dict[str, Any]], str]
FALLBACK_HEADERS = ("行号 row", "列 column", "值 value", "表号 meter", "代码 code")


def _errors(batch: ImportBatch) -> list[dict[str, Any]]:
    return [f for f in batch.findings if f.get("severity") == "error"]


def _by_row(batch: ImportBatch, describe: Describe) -> tuple[dict[int, str], list[str]]:
    """The error text of each file row, and the errors of the file as a whole (no row)."""
    rows: dict[int, list[str]] = {}
    whole: list[str] = []
    for f in _errors(batch):
        (rows.setdefault(int(f["row"]), []) if f.get("row") is not None else whole).append(describe(f))
    return {line: "；".join(dict.fromkeys(texts)) for line, texts in rows.items()}, whole


def _source(batch: ImportBatch) -> TableSource | None:
    path = Path(batch.stored_path) if batch.stored_path else None
    if path is None or not path.is_file():
        return None
    try:
        return open_table(path, batch.sheet or None)
    except TableError:
        return None


def _csv_rows(source: TableSource, wanted: dict[int, str]) -> Iterator[tuple[list[Any], str]]:
    """The wanted lines of a CSV as the file wrote them (the line numbers the findings name)."""
    codec = codecs.lookup(source.encoding or "utf-8").name
    with open(source.path, encoding="utf-8-sig" if codec == "utf-8" else codec, errors="replace",
              newline="") as fh:
        reader = csv.reader(fh, delimiter=source.delimiter)
        for row in reader:
            if reader.line_num in wanted:
                yield row, wanted[reader.line_num]


def _xlsx_rows(source: TableSource, wanted: dict[int, str]) -> Iterator[tuple[list[Any], str]]:
    last = max(wanted, default=0)
    for first_line, frame in iter_chunks(source):
        for offset, values in enumerate(frame.itertuples(index=False, name=None)):
            line = first_line + offset
            if line in wanted:
                yield ["" if v is None else v for v in values], wanted[line]
        if first_line + len(frame) > last:
            return


def _table(batch: ImportBatch, describe: Describe, finding_header: str) -> Iterator[list[Any]]:
    """Header, units row, whole-file findings, then each rejected row with its finding."""
    wanted, whole = _by_row(batch, describe)
    source = _source(batch)
    if source is None:  # the upload is no longer kept: the findings alone, still translated
        yield [*FALLBACK_HEADERS, finding_header]
        for f in _errors(batch):
            yield [f.get("row"), f.get("column"), f.get("value"), f.get("meter"), f.get("code"), describe(f)]
        return
    width = len(source.headers)
    yield [*source.headers, finding_header]
    if source.units_row:
        yield [*list(source.units_row)[:width], *[""] * (width - len(source.units_row)), ""]
    for text in whole:
        yield [*[""] * width, text]
    rows = _xlsx_rows(source, wanted) if source.kind == "xlsx" else _csv_rows(source, wanted)
    try:
        for cells, text in rows:
            cells = list(cells)[:width]
            yield [*cells, *[""] * (width - len(cells)), text]
    except TableError:  # a file over a reading limit: its rows up to the limit (the finding says why)
        return


def _cell(value: Any) -> Any:
    """A cell as uploaded, unless a spreadsheet would run it as a formula; a number such as -3 stays a number
    (the file goes back to the importer, which must read it as the uploader wrote it)."""
    if isinstance(value, str):
        try:
            float(value)
            return value
        except ValueError:
            return safe_cell(value)
    return value


def reject_csv(batch: ImportBatch, describe: Describe, finding_header: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in _table(batch, describe, finding_header):
        writer.writerow([_cell(c) if c is not None else "" for c in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def reject_xlsx(batch: ImportBatch, describe: Describe, finding_header: str) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("rejected")
    for row in _table(batch, describe, finding_header):
        sheet.append([_cell(c) for c in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
