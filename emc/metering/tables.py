"""Open an ESCO export as a table: detect the format, encoding and header row, then stream it in chunks.

CSV from Chinese Excel and monitoring platforms comes as UTF-8 (with or without BOM) or GBK/GB18030;
it is detected, never asked. Title lines above the header ("XX大厦能耗数据导出") are skipped: the header
is the first line that names a time column. CSV is streamed with pyarrow in blocks, so memory stays
flat however long the file; XLSX (at most ~1 M rows by Excel's own limit) is streamed with openpyxl.

A hostile file must not hold the server: every read is bounded by :class:`ReadLimits` (rows, columns,
seconds; for XLSX also the unzipped size and the number of cells), and XLSX is parsed in a worker
process that is killed when the time is up (:func:`isolated`, :mod:`emc.metering.reader_process`).
An XLSX is checked before openpyxl parses it: the zip's declared sizes (Python's zipfile never inflates
past them) and one fast byte scan of the sheet's XML for its cells and highest row number; openpyxl then
reads with the sheet's declared dimension ignored (a sheet claiming A1:XFD1048576 would otherwise be
padded to 17 billion empty cells), only as many columns as the header has, and long runs of empty rows
skipped.
"""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from emc.metering.headers import is_time_header

SNIFF_BYTES = 256 * 1024
HEADER_SEARCH_ROWS = 25


class TableError(ValueError):
    pass


class TooLarge(TableError):
    """Over one of the read limits: reported as ``file_too_large``, naming the limit and its setting."""


@dataclass(frozen=True)
class ReadLimits:
    rows: int = 5_000_000
    cells: int = 10_000_000  # XLSX cells, empty ones included
    columns: int = 2_000
    seconds: float = 300.0
    xlsx_expanded: int = 256 * 1024 * 1024

    @classmethod
    def from_settings(cls) -> ReadLimits:
        from emc.config import get_settings

        s = get_settings()
        return cls(rows=s.import_max_rows, cells=s.import_max_cells, columns=s.import_max_columns,
                   seconds=s.import_max_seconds, xlsx_expanded=s.xlsx_max_expanded_bytes)


@dataclass
class Clock:
    """The import's time budget, checked between blocks of rows."""

    limits: ReadLimits
    started: float = field(default_factory=time.monotonic)

    def check(self, line: int) -> None:
        if time.monotonic() - self.started > self.limits.seconds:
            raise TooLarge(f"reading stopped at line {line:,}: the file takes longer than the limit of "
                           f"{self.limits.seconds:g} s (EMC_IMPORT_MAX_SECONDS)")


# an XLSX blank-row run at least this long is skipped (a new chunk starts after it) instead of being read
BLANK_RUN = 1_000
# XML start tags of a sheet's cells and rows, plain or with a namespace prefix (``<x:c ``), counted as bytes
_CELL_TAGS = (b"<c ", b"<c>", b"<c/>", b":c ", b":c>", b":c/>")
_ROW_TAGS = (b"<row ", b"<row>", b"<row/>", b":row ", b":row>", b":row/>")
_ROW_NUMBER = re.compile(rb"<(?:\w+:)?row\b[^>]*?\sr=\"(\d+)\"")


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
    limits: ReadLimits = field(default_factory=ReadLimits)
    clock: Clock | None = None

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


def open_table(path: Path, sheet: str | None = None, time_aliases: frozenset[str] = frozenset(),
               limits: ReadLimits | None = None) -> TableSource:
    """Detect kind, encoding, delimiter and header row. ``time_aliases``: a profile's own time headers."""
    limits = limits or ReadLimits.from_settings()
    clock = Clock(limits)
    source = _open(Path(path), sheet, time_aliases, limits, clock)
    source.limits, source.clock = limits, clock
    while source.headers and not source.headers[-1]:  # formatted but empty cells right of the header
        source.headers.pop()
    if len(source.headers) > limits.columns:
        raise TooLarge(f"the header has {len(source.headers):,} columns, over the limit of {limits.columns:,} "
                       "(EMC_IMPORT_MAX_COLUMNS)")
    return source


def _open(path: Path, sheet: str | None, time_aliases: frozenset[str], limits: ReadLimits,
          clock: Clock) -> TableSource:
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head.strip():
        raise TableError("the file is empty")
    if head.startswith(b"PK\x03\x04"):
        return next(isolated(_open_xlsx_items, (path, sheet, time_aliases, limits, clock), clock))
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise TableError("this is an old .xls workbook: save it as .xlsx or CSV")
    encoding = detect_encoding(head)
    text = head.decode(encoding, errors="ignore").lstrip("\ufeff")
    lines = text.splitlines()[:HEADER_SEARCH_ROWS + 2]
    delimiter = max([",", "\t", ";", "|"], key=lambda d: sum(line.count(d) for line in lines[:HEADER_SEARCH_ROWS]))
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    except csv.Error as exc:  # e.g. a field over the csv module's 128 KiB limit
        raise TableError(f"cannot read the first lines as CSV: {exc}") from exc
    index = _find_header(rows, time_aliases)
    headers = [h.strip() for h in rows[index]]
    units = rows[index + 1] if index + 1 < len(rows) and _units_row(rows[index + 1]) else None
    return TableSource(path, "csv", encoding, delimiter, index + 1, headers, units)


def _expanded_size(path: Path, limits: ReadLimits) -> None:
    """Refuse a workbook whose parts unzip to more than the limit (zipfile never inflates past a member's
    declared size, so the declaration is a true bound)."""
    try:
        with zipfile.ZipFile(path) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise TableError(f"not a readable XLSX workbook ({exc.__class__.__name__})") from exc
    if total > limits.xlsx_expanded:
        raise TooLarge(f"the workbook unzips to {total:,} bytes, over the limit of {limits.xlsx_expanded:,} "
                       "(EMC_XLSX_MAX_EXPANDED_BYTES)")


def _scan_sheet(book: Any, ws: Any, limits: ReadLimits, clock: Clock) -> None:
    """One byte-level pass over the sheet's XML (no parsing): count its cells and find its highest row."""
    cells = rows = top = 0
    tail = b""
    with book._archive.open(ws._worksheet_path) as src:  # openpyxl's own archive and part name
        while True:
            block = src.read(1 << 20)
            data = tail + block
            # tags starting in the last 64 bytes are counted with the next block (they may be cut)
            cut = len(data) if not block else max(0, len(data) - 64)
            cells += sum(data.count(tag, 0, cut + len(tag) - 1) for tag in _CELL_TAGS)
            rows += sum(data.count(tag, 0, cut + len(tag) - 1) for tag in _ROW_TAGS)
            top = max([top, *(int(m.group(1)) for m in _ROW_NUMBER.finditer(data) if m.start() < cut)])
            if cells > limits.cells:
                raise TooLarge(f"sheet {ws.title!r} holds over {limits.cells:,} cells, the limit "
                               "(EMC_IMPORT_MAX_CELLS); empty cells count too")
            if max(rows, top) > limits.rows:
                raise TooLarge(f"sheet {ws.title!r} reaches row {max(rows, top):,}, over the limit of "
                               f"{limits.rows:,} rows (EMC_IMPORT_MAX_ROWS)")
            clock.check(0)
            if not block:
                return
            tail = data[cut:]


def _open_xlsx_items(*args: Any) -> Iterator[TableSource]:
    yield _open_xlsx(*args)


def isolated(target: Callable[..., Iterator[Any]], args: tuple[Any, ...], clock: Clock) -> Iterator[Any]:
    """Read in a worker process (emc.metering.reader_process), killed when the import's time is up."""
    from emc.metering import reader_process

    def timeout() -> Exception:
        return TooLarge(f"reading stopped: the workbook takes longer than the limit of {clock.limits.seconds:g} s "
                        "(EMC_IMPORT_MAX_SECONDS)")

    try:
        yield from reader_process.run(target, args, clock.started + clock.limits.seconds, timeout)
    except reader_process.ReaderFailed as exc:
        raise TooLarge(f"reading the workbook stopped: {exc}") from exc
    except (TableError, OSError):
        raise
    except Exception as exc:  # noqa: BLE001  (openpyxl and zipfile raise many kinds for broken workbooks)
        raise TableError(f"not a readable XLSX workbook ({exc.__class__.__name__}: {str(exc)[:200]})") from exc


def _open_xlsx(path: Path, sheet: str | None, time_aliases: frozenset[str], limits: ReadLimits,
               clock: Clock) -> TableSource:
    import openpyxl

    _expanded_size(path, limits)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken zip
        raise TableError(f"not a readable XLSX workbook ({exc.__class__.__name__})") from exc
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise TableError(f"no sheet {sheet!r}; the workbook has {', '.join(book.sheetnames)}")
        ws = book[sheet] if sheet else book.worksheets[0]
        _scan_sheet(book, ws, limits, clock)
        ws.reset_dimensions()  # never pad to the dimension the file declares
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
    clock = source.clock or Clock(source.limits)
    if source.kind == "xlsx":
        yield from isolated(_xlsx_chunks, (source, names, chunk_rows, clock), clock)
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
            clock.check(line + pending_rows)
            if line + pending_rows - source.first_data_line > source.limits.rows:
                raise TooLarge(f"the file has more than {source.limits.rows:,} rows, the limit (EMC_IMPORT_MAX_ROWS)")
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


def _xlsx_chunks(source: TableSource, names: list[str], chunk_rows: int,
                 clock: Clock) -> Iterator[tuple[int, pd.DataFrame]]:
    import openpyxl

    book = openpyxl.load_workbook(source.path, read_only=True, data_only=True)
    try:
        ws = book[source.sheet] if source.sheet else book.worksheets[0]
        ws.reset_dimensions()  # checked by _scan_sheet when opened; never pad to a declared dimension
        width = len(names)
        buffer: list[tuple[Any, ...]] = []
        blanks: list[tuple[Any, ...]] = []  # empty rows held until the next row with data
        line = source.first_data_line
        for n, values in enumerate(ws.iter_rows(min_row=source.first_data_line, max_col=width, values_only=True)):
            row = tuple(values[:width]) + (None,) * (width - len(values))
            if n % 10_000 == 0:
                clock.check(line + len(buffer))
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
                blanks.append(row)
                continue
            if len(blanks) >= BLANK_RUN:  # a long empty stretch: end the chunk, start again after it
                if buffer:
                    yield line, pd.DataFrame(buffer, columns=names, dtype=object)
                line += len(buffer) + len(blanks)
                buffer = []
            else:
                buffer.extend(blanks)
            blanks = []
            buffer.append(row)
            if len(buffer) >= chunk_rows:
                yield line, pd.DataFrame(buffer, columns=names, dtype=object)
                line += len(buffer)
                buffer = []
        # trailing empty rows (formatted sheets report them) are dropped
        if buffer:
            yield line, pd.DataFrame(buffer, columns=names, dtype=object)
    finally:
        book.close()
