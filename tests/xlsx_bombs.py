"""Hostile workbooks built in memory, for the upload tests: small files that expand into huge sheets."""

from __future__ import annotations

import io
import zipfile

_CT = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
       'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
       '+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
       'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
       'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
       'spreadsheetml.worksheet+xml"/></Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
         'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_BOOK = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
         '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
         '<sheet name="data" sheetId="1" r:id="rId1"/></sheets></workbook>')
_BOOK_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
              'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
              'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def _row(r: int, meter: str, time: str, value: float) -> bytes:
    return (f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>{meter}</t></is></c><c r="B{r}" t="inlineStr"><is>'
            f'<t>{time}</t></is></c><c r="C{r}"><v>{value}</v></c></row>').encode()


def workbook(meter: str, *, dimension: str = "A1:C3", padding: bytes = b"", last_row: bytes = b"") -> bytes:
    """A header, two hourly readings of ``meter``, then ``padding`` inside the sheet data and ``last_row``."""
    header = ('<row r="1"><c r="A1" t="inlineStr"><is><t>表号</t></is></c><c r="B1" t="inlineStr"><is><t>时间'
              '</t></is></c><c r="C1" t="inlineStr"><is><t>用量(kWh)</t></is></c></row>').encode()
    sheet = (f'<?xml version="1.0" encoding="UTF-8"?><worksheet {_NS}><dimension ref="{dimension}"/><sheetData>'
             ).encode() + header + _row(2, meter, "2024-05-01 00:00", 1.5) + _row(3, meter, "2024-05-01 01:00", 2.5) \
        + padding + last_row + b"</sheetData></worksheet>"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", _CT)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _BOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _BOOK_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    return out.getvalue()


def dimension_bomb(meter: str) -> bytes:
    """Declares the whole grid (A1:XFD1048576) and puts one empty cell in its last corner: readers that
    trust the dimension pad every row to 16,384 columns and fill a million rows."""
    return workbook(meter, dimension="A1:XFD1048576", last_row=b'<row r="1048576"><c r="XFD1048576"/></row>')


def cell_bomb(meter: str, cells: int = 25_000_000) -> bytes:
    """Tens of millions of empty cells in rows below the data (a few hundred KB zipped)."""
    per_row = 16_000
    rows = b"".join(b'<row r="%d">' % r + b"<c/>" * per_row + b"</row>" for r in range(4, 4 + cells // per_row))
    return workbook(meter, padding=rows)


def zip_bomb(meter: str, expanded: int = 300 * 1024 * 1024) -> bytes:
    """A sheet that unzips to hundreds of MB (whitespace between rows, which XML allows)."""
    return workbook(meter, padding=b" " * expanded)
