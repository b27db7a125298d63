"""Open an ESCO export as a table: detect the format, encoding and header row, then stream it in chunks.

CSV from Chinese Excel and monitoring platforms comes as UTF-8 (with or without BOM) or GBK/GB18030;
it is detected, never asked. Title lines above the header ("XX大厦能耗数据导出") are skipped: the header
is the first line that names a time column. CSV is streamed with pyarrow in blocks, so memory stays
flat however long the file; XLSX (at most ~1 M rows by Excel's own limit) is streamed with openpyxl.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from emc.metering.columns import is_time_header

SNIFF_BYTES = 256 * 1024
HEADER_SEARCH_ROWS = 25


class TableError(ValueError):
    pass


@dataclass
class TableSource:
    path: Path
    kind: str  # csv | xlsx
    encoding: str = ""
    delimiter: str = ","
    header_line: int = 1  # 1-based line/row of the header
    headers: list[str] = field(default_factory=list)
    units_row: list[str] | None = None  # a second header row holding units (merged Excel headers)
    sheet: str | None = None

    @property
    def first_data_line(self) -> int:
        return self.header_line + (2 if self.units_row else 1)


def detect_encoding(sample: bytes) -> str:
    """utf-8 (BOM or not), else gb18030 (a superset of GBK and GB2312)."""
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3:  # a character cut by the end of the sample
            return "utf-8"
    try:
        sample.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise TableError(f"text is neither UTF-8 nor GBK/GB18030 (undecodable byte at offset {exc.start})") from exc
    return "gb18030"


def _find_header(rows: list[list[str]], extra: frozenset[str]) -> int:
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        cells = [c for c in row if c and str(c).strip()]
        if len(cells) >= 2 and any(is_time_header(str(c), extra) for c in cells):
            return i
    raise TableError("no header row found: the first rows name no time column (时间/日期/timestamp…); "
                     "if your platform calls it something else, add it to the ESCO's import profile")


def _units_row(row: list[Any]) -> bool:
    from emc.units import normalise_unit

    cells = [str(c).strip() for c in row if c is not None and str(c).strip()]
    return bool(cells) and all(normalise_unit(c.strip("()（）[]")) or c in ("℃", "°C", "°F", "℉") for c in cells)


def open_table(path: Path, sheet: str | None = None, time_aliases: frozenset[str] = frozenset()) -> TableSource:
    """Detect kind, encoding, delimiter and header row. ``time_aliases``: a profile's own time headers."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head.strip():
        raise TableError("the file is empty")
    if head.startswith(b"PK\x03\x04"):
        return _open_xlsx(path, sheet, time_aliases)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise TableError("this is an old .xls workbook: save it as .xlsx or CSV")
    encoding = detect_encoding(head)
    text = head.decode(encoding, errors="ignore").lstrip("\ufeff")
    lines = text.splitlines()[:HEADER_SEARCH_ROWS + 2]
    delimiter = max([",", "\t", ";", "|"], key=lambda d: sum(line.count(d) for line in lines[:HEADER_SEARCH_ROWS]))
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    index = _find_header(rows, time_aliases)
    headers = [h.strip() for h in rows[index]]
    units = rows[index + 1] if index + 1 < len(rows) and _units_row(rows[index + 1]) else None
    return TableSource(path, "csv", encoding, delimiter, index + 1, headers, units)


def _open_xlsx(path: Path, sheet: str | None, time_aliases: frozenset[str]) -> TableSource:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken zip
        raise TableError(f"not a readable XLSX workbook ({exc.__class__.__name__})") from exc
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise TableError(f"no sheet {sheet!r}; the workbook has {', '.join(book.sheetnames)}")
        ws = book[sheet] if sheet else book.worksheets[0]
        rows = [["" if c is None else str(c) for c in r]
                for r in ws.iter_rows(min_row=1, max_row=HEADER_SEARCH_ROWS + 2, values_only=True)]
    finally:
        book.close()
    index = _find_header(rows, time_aliases)
    headers = [h.strip() for h in rows[index]]
    units = rows[index + 1] if index + 1 < len(rows) and _units_row(rows[index + 1]) else None
    return TableSource(path, "xlsx", "xlsx", ",", index + 1, headers, units, ws.title)


def _unique(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, h in enumerate(headers):
        name = h or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def iter_chunks(source: TableSource, chunk_rows: int = 500_000,
                bad_rows: list[tuple[int, str]] | None = None) -> Iterator[tuple[int, pd.DataFrame]]:
    """Yield (line number of the chunk's first row, frame of raw cells). CSV cells are strings."""
    names = _unique(source.headers)
    if source.kind == "xlsx":
        yield from _xlsx_chunks(source, names, chunk_rows)
        return
    import pyarrow as pa
    import pyarrow.csv as pacsv

    def on_invalid(row: Any) -> str:
        if bad_rows is not None and len(bad_rows) < 10_000:
            bad_rows.append((row.number or 0, f"expected {row.expected_columns} fields, got {row.actual_columns}"))
        return "skip"

    skip = source.first_data_line - 1
    read = pacsv.ReadOptions(encoding="utf8" if source.encoding == "utf-8" else source.encoding,
                             skip_rows=skip, column_names=names, block_size=4 << 20)
    parse = pacsv.ParseOptions(delimiter=source.delimiter, invalid_row_handler=on_invalid)
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                                   quoted_strings_can_be_null=False)
    try:
        reader = pacsv.open_csv(source.path, read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise TableError(f"cannot read the CSV: {exc}") from exc
    line = source.first_data_line
    pending: list[pd.DataFrame] = []
    pending_rows = 0
    try:
        for batch in reader:
            pending.append(batch.to_pandas())
            pending_rows += batch.num_rows
            if pending_rows >= chunk_rows:
                frame = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
                yield line, frame
                line += len(frame)
                pending, pending_rows = [], 0
    except pa.ArrowInvalid as exc:
        raise TableError(f"cannot read the CSV after line {line}: {exc}") from exc
    if pending:
        frame = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
        yield line, frame


def _xlsx_chunks(source: TableSource, names: list[str], chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    import openpyxl

    book = openpyxl.load_workbook(source.path, read_only=True, data_only=True)
    try:
        ws = book[source.sheet] if source.sheet else book.worksheets[0]
        width = len(names)
        buffer: list[tuple[Any, ...]] = []
        line = source.first_data_line
        for values in ws.iter_rows(min_row=source.first_data_line, values_only=True):
            row = tuple(values[:width]) + (None,) * (width - len(values))
            buffer.append(row)
            if len(buffer) >= chunk_rows:
                yield line, pd.DataFrame(buffer, columns=names, dtype=object)
                line += len(buffer)
                buffer = []
        # openpyxl reports trailing empty rows of formatted sheets; drop them
        while buffer and all(v is None or (isinstance(v, str) and not v.strip()) for v in buffer[-1]):
            buffer.pop()
        if buffer:
            yield line, pd.DataFrame(buffer, columns=names, dtype=object)
    finally:
        book.close()
