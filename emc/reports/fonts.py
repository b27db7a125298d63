"""The CJK font our PDFs embed, found once and registered with ReportLab.

Decision: PDFs embed a TrueType (glyf-outline) CJK font, subset by ReportLab, and never use the built-in
`STSong-Light`: that one is a reference to a font the viewer must already have, so a finance office's viewer
without CJK fonts shows blanks. Noto/Source Han CJK cannot be used either: their outlines are CFF, which
ReportLab refuses ("postscript outlines are not supported").

Where the font comes from, first match wins:

1. `path=` given by the caller (a setting, a test);
2. a font shipped inside the package, `emc/reports/fonts/*.ttf|*.ttc` (with its licence file beside it). None
   ships today: PyPI has no OFL TrueType CJK font. Its Simplified-Chinese font packages carry Noto CJK as CFF
   OpenType, and the one TrueType package found (WenQuanYi Micro Hei inside `paperang-p2-fonts-cjk`) labels
   an Apache-2.0 font as OFL and carries no font licence text; vendoring 5-17 MB for that was not worth it.
3. the operating system's packages, in the order below. On Debian/Ubuntu
   `apt-get install fonts-wqy-zenhei` gives WenQuanYi Zen Hei, GPL-2 with a font-embedding exception, so
   embedding it in a PDF puts no licence on the PDF. `.ci/run` installs it.

If none is found, `CjkFontMissing` says what to install. There is no silent fallback.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

from emc.errors import DomainError

SHIPPED_DIR = Path(__file__).with_name("fonts")

# (path, subfont index in a .ttc, licence) for the TrueType CJK fonts of common distributions; sans-serif Hei
# first (tables and figures read best in it), then Song/Ming and Kai.
SYSTEM_FONTS: tuple[tuple[str, int, str], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0, "GPL-2.0 with font embedding exception"),  # Debian/Ubuntu
    ("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc", 0, "GPL-2.0 with font embedding exception"),  # Fedora
    ("/usr/share/fonts/wenquanyi/wqy-zenhei/wqy-zenhei.ttc", 0, "GPL-2.0 with font embedding exception"),  # Arch
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0, "Apache-2.0"),
    ("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc", 0, "Apache-2.0"),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0, "Apache-2.0"),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0, "Arphic Public License"),
    ("/usr/share/fonts/truetype/arphic-gbsn00lp/gbsn00lp.ttf", 0, "Arphic Public License"),
    ("/usr/share/fonts/truetype/lxgw/LXGWWenKai-Regular.ttf", 0, "OFL-1.1"),
    ("/usr/share/fonts/truetype/arphic/ukai.ttc", 0, "Arphic Public License"),
)

INSTALL_HINT = (
    "no embeddable TrueType CJK font found for PDFs. Install one: `apt-get install fonts-wqy-zenhei` "
    "(Debian/Ubuntu; `dnf install wqy-zenhei-fonts` on Fedora), or put a TrueType (.ttf/.ttc, glyf outlines) "
    f"CJK font with its licence into {SHIPPED_DIR}. Noto/Source Han CJK do not work (CFF outlines), and the "
    "built-in STSong-Light is not embedded, so it is not used."
)

# Every statement needs these; a font without them is not a candidate.
REQUIRED_GLYPHS = "合同能源管理结算单零壹贰叁肆伍陆柒捌玖拾佰仟万亿元角分整负¥0123456789,.%ABCxyz"


class CjkFontMissing(DomainError, RuntimeError, status=409, key="error.conflict"):
    """No usable CJK TrueType font; the message says what to install."""


@dataclass(frozen=True)
class CjkFont:
    """A registered font: `name` is what ReportLab styles use (normal and bold map to it)."""

    name: str
    path: Path
    subfont_index: int
    face: str
    licence: str


def candidates(path: str | Path | None = None) -> list[tuple[Path, int, str]]:
    """Fonts to try, in order (see the module docstring)."""
    if path is not None:
        return [(Path(path), 0, "given by the caller")]
    found: list[tuple[Path, int, str]] = []
    if SHIPPED_DIR.is_dir():
        for font in sorted(SHIPPED_DIR.iterdir()):
            if font.suffix.lower() in (".ttf", ".ttc"):
                found.append((font, 0, "shipped with emc (see the licence file beside it)"))
    found.extend((Path(p), index, licence) for p, index, licence in SYSTEM_FONTS)
    return found


_lock = threading.Lock()
_registered: dict[tuple[str, int], CjkFont] = {}


def _load(path: Path, index: int) -> TTFont:
    name = "emc-cjk-" + re.sub(r"[^A-Za-z0-9]+", "-", path.stem) + f"-{index}"
    font = TTFont(name, str(path), subfontIndex=index)
    missing = [ch for ch in REQUIRED_GLYPHS if ord(ch) not in font.face.charToGlyph]
    if missing:
        raise TTFError(f"{path} lacks glyphs {''.join(missing)!r}")
    return font


def cjk_font(path: str | Path | None = None, subfont_index: int | None = None) -> CjkFont:
    """Find, check and register (once per process) the CJK font; raises CjkFontMissing with the fix."""
    problems: list[str] = []
    with _lock:
        for candidate, index, licence in candidates(path):
            index = subfont_index if subfont_index is not None and path is not None else index
            key = (str(candidate), index)
            if key in _registered:
                return _registered[key]
            if not candidate.is_file():
                if path is not None:
                    problems.append(f"{candidate}: no such file")
                continue
            try:
                font = _load(candidate, index)
            except (TTFError, OSError, ValueError) as exc:  # CFF outlines, a broken file, missing glyphs
                problems.append(f"{candidate}: {exc}")
                continue
            pdfmetrics.registerFont(font)
            # <b> and <i> in paragraphs map to the same face: CJK faces rarely ship a bold, and a missing mapping
            # would make ReportLab fall back to Helvetica-Bold, which has no CJK glyphs.
            for bold in (0, 1):
                for italic in (0, 1):
                    addMapping(font.fontName, bold, italic, font.fontName)
            result = CjkFont(font.fontName, candidate, index, font.face.name.decode("latin-1"), licence)
            _registered[key] = result
            return result
    detail = ("; tried: " + "; ".join(problems)) if problems else ""
    raise CjkFontMissing(INSTALL_HINT + detail)
