"""The PDF font is an embeddable TrueType CJK font, found in a documented order; when there is none the
error says what to install, and nothing falls back to the non-embedded STSong-Light."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import unavailable

from emc.reports import fonts
from emc.reports.fonts import CjkFontMissing, cjk_font

NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def test_finds_a_truetype_cjk_font() -> None:
    try:
        font = cjk_font()
    except CjkFontMissing as exc:
        unavailable(str(exc))
        raise
    assert font.path.is_file() and font.path.suffix in (".ttf", ".ttc")
    assert "STSong" not in font.name and font.face
    assert cjk_font() is font  # registered once per process


def test_order_is_caller_then_shipped_then_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = tmp_path / "fonts"
    shipped.mkdir()
    (shipped / "Shipped.ttf").write_bytes(b"")
    (shipped / "OFL.txt").write_text("licence")
    monkeypatch.setattr(fonts, "SHIPPED_DIR", shipped)
    order = [str(path) for path, _, _ in fonts.candidates()]
    assert order[0] == str(shipped / "Shipped.ttf") and len(order) == 1 + len(fonts.SYSTEM_FONTS)
    assert order[1] == "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
    assert [str(p) for p, _, _ in fonts.candidates("/x/given.ttf")] == ["/x/given.ttf"]


def test_missing_font_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "SHIPPED_DIR", tmp_path / "none")
    monkeypatch.setattr(fonts, "SYSTEM_FONTS", (("/nonexistent/wqy-zenhei.ttc", 0, "GPL"),))
    monkeypatch.setattr(fonts, "_registered", {})
    with pytest.raises(CjkFontMissing, match="apt-get install fonts-wqy-zenhei") as info:
        cjk_font()
    assert "STSong-Light" in str(info.value)  # says why the built-in font is not an answer


def test_a_broken_file_is_reported_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bogus = tmp_path / "bogus.ttf"
    bogus.write_bytes(b"not a font")
    monkeypatch.setattr(fonts, "_registered", {})
    with pytest.raises(CjkFontMissing, match="bogus.ttf"):
        cjk_font(bogus)


def test_cff_cjk_fonts_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    if not NOTO_CJK.is_file():
        unavailable("fonts-noto-cjk is not installed: the CFF-font refusal is not exercised")
    monkeypatch.setattr(fonts, "_registered", {})
    with pytest.raises(CjkFontMissing, match="postscript outlines"):
        cjk_font(NOTO_CJK)


def test_latin_only_font_lacks_the_glyphs(monkeypatch: pytest.MonkeyPatch) -> None:
    dejavu = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not dejavu.is_file():
        unavailable("fonts-dejavu-core is not installed: the missing-glyph refusal is not exercised")
    monkeypatch.setattr(fonts, "_registered", {})
    with pytest.raises(CjkFontMissing, match="lacks glyphs"):
        cjk_font(dejavu)
