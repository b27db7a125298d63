"""Shared PDF building blocks: A4 page, CJK styles, bilingual labels, bordered tables, "第 x 页 / 共 y 页",
and byte-stable output (ReportLab invariant mode, creation date taken from the document's data)."""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.barcode import qrencoder
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import getFont, stringWidth
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
            kw.setdefault("textColor", INK)
            return ParagraphStyle(name, fontName=font, fontSize=size, leading=leading, alignment=align,
                                  wordWrap="CJK", **kw)

        self.title = style("title", 18, 22, TA_LEFT)
        self.title_en = style("title_en", 9.5, 12, TA_LEFT, textColor=GREY)
        self.section = style("section", 10.5, 14, spaceBefore=8, spaceAfter=3)


_styles: dict[str, Styles] = {}


def styles() -> Styles:
    """Styles in the CJK font (found and registered on first use)."""
    if not _styles:
        font = cjk_font().name
        _styles[font] = Styles(font)
    return next(iter(_styles.values()))


# Characters some CJK fonts lack, and what to print instead. A missing glyph prints as nothing, and a lost
# minus sign changes an amount's meaning, so every text goes through `clean` before it reaches the page.
_SUBSTITUTES = {"\u2212": "-", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2022": "·", "\u2009": " ",
                "\u202f": " ", "\u00a0": " ", "\u2713": "√", "\u2714": "√", "\u2717": "×", "\u2610": "□",
                "\u2611": "√", "\ufffd": "?"}
_covered: dict[str, frozenset[int]] = {}


def clean(text: object) -> str:
    """`text` with every character the font has no glyph for replaced by a look-alike, else by "?"."""
    text = str(text)
    font = styles().font
    covered = _covered.get(font)
    if covered is None:
        covered = _covered[font] = frozenset(getFont(font).face.charToGlyph)
    if all(ord(ch) in covered for ch in text):
        return text
    return "".join(ch if ord(ch) in covered or ch == "\n" else _SUBSTITUTES.get(ch, "?") for ch in text)


def esc(text: object) -> str:
    return escape(clean(text))


# Line breaking for mixed Chinese/Latin text. ReportLab's CJK paragraphs break inside Latin words such as
# contract codes ("WX-2024-05 / 18"), can end a line on an opening bracket, and are slow (one object per
# glyph). Table cells use `TextBlock` instead: it breaks between Chinese characters and between Latin words
# only, keeps 禁则 (kinsoku: no line ends on an opening bracket or starts with closing punctuation), and draws
# plain strings.
_TOKEN = re.compile(r"\n|[ \t]+|[^\s\u2e80-\uffff]+|.")
_NO_END = frozenset("（([{“‘《〈「『【〔¥$")
_NO_START = frozenset("）)]}”’》〉」』】〕，。、；：？！,.;:?!%·")
CELL_PADDING = 3.5
LEADING = 1.3  # line height as a multiple of the font size


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    glue_next = False
    for token in _TOKEN.findall(text):
        if out and not token.isspace() and (glue_next or token[0] in _NO_START) and not out[-1].isspace():
            out[-1] += token
        else:
            out.append(token)
        glue_next = token[-1] in _NO_END and not token.isspace()
    return out


def wrap_lines(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy line breaking of `text` into lines no wider than `width` points ("\\n" forces a break)."""
    lines: list[str] = []
    line, used, space = "", 0.0, False
    space_width = stringWidth(" ", font, size)
    for token in _tokens(text):
        if token == "\n":
            lines.append(line)
            line, used, space = "", 0.0, False
            continue
        if token.isspace():
            space = bool(line)
            continue
        w = stringWidth(token, font, size)
        gap = space_width if space else 0.0
        space = False
        if line and used + gap + w > width:
            lines.append(line)
            line, used, gap = "", 0.0, 0.0
        if not line and w > width:  # a single token wider than the column: cut it by characters
            for ch in token:
                cw = stringWidth(ch, font, size)
                if line and used + cw > width:
                    lines.append(line)
                    line, used = "", 0.0
                line += ch
                used += cw
            continue
        line += (" " if gap else "") + token
        used += gap + w
    lines.append(line)
    return lines


Part = tuple[str, float, colors.Color]  # text, font size, colour
#: A note or warning: Chinese only, or (Chinese, English) — the English set smaller and grey under it, as the
#: forms' captions are (a snapshot read back from JSON gives the pair as a list).
Bilingual = str | tuple[str, str] | list[str]


def bilingual_parts(prefix: str, item: Bilingual, size: float, color: colors.Color | None = None) -> list[Part]:
    """A numbered note or warning as text parts: the Chinese in ``color`` (ink), its English companion grey."""
    ink = INK if color is None else color
    if isinstance(item, str):
        return [(prefix + item, size, ink)]
    zh, en = item
    return [(prefix + zh, size, ink), (en, size * EN_SIZE_RATIO, GREY)]


class TextBlock(Flowable):
    """Plain text parts stacked and wrapped to the width it is given (a table cell's), drawn as strings."""

    def __init__(self, parts: Sequence[Part], align: str = "LEFT") -> None:
        super().__init__()
        self.parts = [(clean(text), size, color) for text, size, color in parts if text != ""]
        self.align = align
        self.font = styles().font
        self._laid_out_for: float | None = None
        self._lines: list[tuple[str, float, colors.Color]] = []

    def _layout(self, width: float) -> None:
        if self._laid_out_for == width:
            return
        self._lines = [(line, size, color) for text, size, color in self.parts
                       for line in wrap_lines(text, self.font, size, width)]
        self._laid_out_for = width
        self.height = sum(size * LEADING for _, size, _ in self._lines)

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803 (ReportLab's names)
        self._layout(availWidth)
        self.width = availWidth
        return availWidth, self.height

    def draw(self) -> None:
        canvas = self.canv
        y = self.height
        for text, size, color in self._lines:
            y -= size * LEADING
            baseline = y + size * (LEADING - 1) / 2 + size * 0.14
            canvas.setFont(self.font, size)
            canvas.setFillColor(color)
            if self.align == "RIGHT":
                canvas.drawRightString(self.width, baseline, text)
            elif self.align == "CENTER":
                canvas.drawCentredString(self.width / 2, baseline, text)
            else:
                canvas.drawString(0, baseline, text)


def text(value: object, *, size: float = 8.5, align: str = "LEFT", color: colors.Color = INK) -> TextBlock:
    """A table cell's text, wrapped to the column."""
    return TextBlock([(str(value), size, color)], align)


def bi(zh: str, en: str = "", *, size: float = 8.5, align: str = "LEFT") -> TextBlock:
    """Chinese label with its English sub-label under it, smaller and grey."""
    return TextBlock([(zh, size, INK), (en, size * EN_SIZE_RATIO, GREY)], align)


def head(zh: str, en: str = "", align: str = "CENTER") -> TextBlock:
    """A column or row header: bilingual, 8 pt."""
    return bi(zh, en, size=8, align=align)


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
    rows = [[clean(v) if isinstance(v, str) else v for v in row] for row in rows]
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


class QrCode(Flowable):
    """A vector QR code (ReportLab's own encoder, error correction M) drawn as one filled path, with a
    two-module quiet zone; much faster than the QR widget's one shape per module."""

    def __init__(self, value: str, size: float) -> None:
        super().__init__()
        qr = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
        qr.addData(value)
        qr.make()
        self.modules = [[bool(m) for m in row] for row in qr.modules]
        self.width = self.height = size

    def draw(self) -> None:
        count = len(self.modules)
        module = self.width / (count + 4)
        path = self.canv.beginPath()
        for r, row in enumerate(self.modules):
            c = 0
            for dark, run in itertools.groupby(row):
                n = len(list(run))
                if dark:
                    path.rect((c + 2) * module, self.height - (r + 3) * module, n * module, module)
                c += n
        self.canv.setFillColor(INK)
        self.canv.drawPath(path, stroke=0, fill=1)


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
                            pageCompression=1, lang="zh-CN", initialFontName=styles().font)
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
    left, right, footer_left, footer_right = map(clean, (left, right, footer_left, footer_right))
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
