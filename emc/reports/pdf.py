"""Shared PDF building blocks: A4 page, CJK styles, bilingual labels, bordered tables, "第 x 页 / 共 y 页",
and byte-stable output (ReportLab invariant mode, creation date taken from the document's data)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Table, TableStyle

from emc.reports.fonts import cjk_font

PAGE = A4
MARGIN_X = 15 * mm
MARGIN_TOP = 20 * mm
MARGIN_BOTTOM = 18 * mm
CONTENT_WIDTH = PAGE[0] - 2 * MARGIN_X

INK = colors.black
GREY = colors.HexColor("#555555")
RULE = colors.HexColor("#333333")
HEAD_FILL = colors.HexColor("#E8E8E8")
TOTAL_FILL = colors.HexColor("#F3F3F3")
EN_SIZE_RATIO = 0.78  # English sub-labels are set smaller and grey under the Chinese


class Styles:
    """Paragraph styles in the registered CJK font (built once per font)."""

    def __init__(self, font: str) -> None:
        self.font = font

        def style(name: str, size: float, leading: float, align: int = TA_LEFT, **kw: Any) -> ParagraphStyle:
            return ParagraphStyle(name, fontName=font, fontSize=size, leading=leading, alignment=align,
                                  wordWrap="CJK", textColor=INK, **kw)

        self.title = style("title", 18, 22, TA_LEFT)
        self.title_en = style("title_en", 9.5, 12, TA_LEFT, textColor=GREY)
        self.section = style("section", 10.5, 14, spaceBefore=8, spaceAfter=3)
        self.cell = style("cell", 8.5, 11)
        self.cell_right = style("cell_right", 8.5, 11, TA_RIGHT)
        self.cell_center = style("cell_center", 8.5, 11, TA_CENTER)
        self.head = style("head", 8, 10, TA_CENTER)
        self.head_left = style("head_left", 8, 10, TA_LEFT)
        self.small = style("small", 7.5, 9.5)
        self.small_center = style("small_center", 7, 9, TA_CENTER, textColor=GREY)
        self.body = style("body", 9, 13)
        self.total = style("total", 10, 13, TA_RIGHT)


_styles: dict[str, Styles] = {}


def styles() -> Styles:
    font = cjk_font().name
    if font not in _styles:
        _styles[font] = Styles(font)
    return _styles[font]


def esc(text: object) -> str:
    return escape(str(text))


def bi(zh: str, en: str = "", style: ParagraphStyle | None = None) -> Paragraph:
    """Chinese label with its English sub-label on the next line, smaller and grey."""
    style = style or styles().head
    text = esc(zh)
    if en:
        size = style.fontSize * EN_SIZE_RATIO
        text += f'<br/><font size="{size:.1f}" color="#555555">{esc(en)}</font>'
    return Paragraph(text, style)


def para(text: object, style: ParagraphStyle | None = None) -> Paragraph:
    return Paragraph(esc(text), style or styles().cell)


def section(zh: str, en: str) -> Paragraph:
    return Paragraph(f'{esc(zh)}  <font size="8" color="#555555">{esc(en)}</font>', styles().section)


def number(value: Decimal | None, places: int | None = None) -> str:
    """Thousands separators; keeps the value's own decimals unless `places` is given."""
    if value is None:
        return "—"
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places))
    return f"{value:,}"


def grid_table(rows: list[list[Any]], widths: Sequence[float], *, header_rows: int = 1,
               extra: Sequence[tuple[Any, ...]] = (), font_size: float = 8.5) -> Table:
    """A bordered table with a shaded header that repeats on every page it flows onto."""
    table = Table(rows, colWidths=list(widths), repeatRows=header_rows)
    commands: list[tuple[Any, ...]] = [
        ("FONTNAME", (0, 0), (-1, -1), styles().font),
        ("FONTSIZE", (0, 0), (-1, -1), font_size),
        ("LEADING", (0, 0), (-1, -1), font_size + 2.5),
        ("GRID", (0, 0), (-1, -1), 0.5, RULE),
        ("BOX", (0, 0), (-1, -1), 0.9, INK),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("LEFTPADDING", (0, 0), (-1, -1), 3.5),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3.5),
    ]
    if header_rows:
        commands.append(("BACKGROUND", (0, 0), (-1, header_rows - 1), HEAD_FILL))
    commands.extend(extra)
    table.setStyle(TableStyle(commands))
    return table


def qr_drawing(value: str, size: float) -> Drawing:
    """A vector QR code (ReportLab's own encoder), error correction M, with its quiet zone."""
    widget = QrCodeWidget(value, barLevel="M", barBorder=2)
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def pdf_date(day: date) -> str:
    """PDF date for the document's CreationDate/ModDate: midnight of `day`, Beijing time."""
    return f"D:{day:%Y%m%d}000000+08'00'"


PageDecorator = Callable[[Canvas, int, int], None]


def build(flowables: list[Flowable], *, title: str, author: str, subject: str, created: date,
          decorate: PageDecorator, keywords: Sequence[str] = ()) -> bytes:
    """Lay out `flowables` on A4 and return the PDF bytes; `decorate(canvas, page, pages)` draws each page's
    header and footer once the page count is known. Same input → same bytes."""
    stamp = pdf_date(created)

    class PagedCanvas(Canvas):
        # Pages are kept until save(), so each footer can say 共 y 页 without laying the document out twice.
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["invariant"] = 1
            super().__init__(*args, **kwargs)
            self.setDateFormatter(lambda *_: stamp)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 (ReportLab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number_, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                decorate(self, number_, total)
                Canvas.showPage(self)
            Canvas.save(self)

    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=PAGE, leftMargin=MARGIN_X, rightMargin=MARGIN_X, topMargin=MARGIN_TOP,
                            bottomMargin=MARGIN_BOTTOM, title=title, author=author, subject=subject,
                            creator="emc", producer="emc (ReportLab)", keywords=list(keywords), invariant=1,
                            pageCompression=1, lang="zh-CN")
    doc.build(flowables, canvasmaker=PagedCanvas)
    return out.getvalue()


def draw_running_text(canvas: Canvas, *, left: str, right: str, footer_left: str, footer_right: str,
                      page: int, pages: int) -> None:
    """Header rule with left/right text; footer with 第 x 页 / 共 y 页 Page x of y in the middle."""
    font = styles().font
    width, height = PAGE
    canvas.saveState()
    canvas.setFillColor(GREY)
    canvas.setStrokeColor(GREY)
    canvas.setLineWidth(0.4)
    top = height - MARGIN_TOP + 6 * mm
    canvas.setFont(font, 7.5)
    canvas.drawString(MARGIN_X, top + 1.5 * mm, left)
    canvas.drawRightString(width - MARGIN_X, top + 1.5 * mm, right)
    canvas.line(MARGIN_X, top, width - MARGIN_X, top)
    bottom = MARGIN_BOTTOM - 8 * mm
    canvas.line(MARGIN_X, bottom + 4 * mm, width - MARGIN_X, bottom + 4 * mm)
    canvas.drawString(MARGIN_X, bottom, footer_left)
    canvas.drawRightString(width - MARGIN_X, bottom, footer_right)
    canvas.setFillColor(INK)
    canvas.setFont(font, 8.5)
    canvas.drawCentredString(width / 2, bottom, f"第 {page} 页 / 共 {pages} 页    Page {page} of {pages}")
    canvas.restoreState()
