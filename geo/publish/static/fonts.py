"""Fonts for the printed map: a CJK font registered with matplotlib, and glyph checks.

Chinese text is set in **Noto Sans SC** from the ``pylopdf-fonts-zh-cn`` package (SIL OFL 1.1),
registered with matplotlib's font manager when this module is imported, so a ``pip install``
alone gives CJK glyphs on any machine, and installed system fonts do not change the output
(only when the package is missing does a system CJK font stand in, with a warning).
``GEO_CJK_FONT`` (a font file) overrides it. Every string drawn is checked against the font's
character map before saving: a character the font lacks raises :class:`CJKGlyphWarning` naming
it (it is then drawn by the fallback font, DejaVu Sans, never silently as a box). With no CJK
font at all, rendering refuses with :class:`geo.errors.GeoError`.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.text import Text

from ...errors import GeoError

FONT_ENV = "GEO_CJK_FONT"
FALLBACK_FAMILY = "DejaVu Sans"
#: Text every map draws; a candidate font must have all of it.
_PROBE = (
    "城管图示意数据来源制图日期比例尺米千北规则区域马路市场第一批严管街十纵十横（）〔〕：；，0123456789kmN"
)


class CJKGlyphWarning(UserWarning):
    """A character of a label is missing from the CJK font (drawn by the fallback font)."""


# ---------------------------------------------------------------------------------------------
# Font


@cache
def _charmap(path: str) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=0, lazy=True) as f:
        return frozenset(f.getBestCmap() or {})


def _covers(path: Path, text: str = _PROBE) -> bool:
    try:
        cmap = _charmap(str(path))
    except Exception:  # an unreadable or unsupported font file is simply not a candidate
        return False
    return all(ord(c) in cmap for c in text)


def _candidate_fonts() -> list[Path]:
    out: list[Path] = []
    env = os.environ.get(FONT_ENV)
    if env:
        out.append(Path(env))
    try:
        import pylopdf_fonts_zh_cn

        out.append(Path(pylopdf_fonts_zh_cn.sans_path()))
    except ImportError:
        pass
    return out


def _system_cjk_fonts() -> list[Path]:
    pat = re.compile(r"(NotoSans(CJK)?SC|NotoSansCJK|SourceHanSans(SC|CN)?|wqy|DroidSansFallback)", re.I)
    found = [Path(f) for f in font_manager.findSystemFonts() if pat.search(Path(f).name)]
    return sorted(found, key=lambda p: (0 if re.search(r"SC|CN", p.name) else 1, p.name))


def _find_font() -> tuple[Path | None, str | None]:
    for cand in _candidate_fonts():
        if cand.is_file() and _covers(cand):
            return cand, None
        if os.environ.get(FONT_ENV) and cand == Path(os.environ[FONT_ENV]):
            warnings.warn(
                f"{FONT_ENV}={cand} is not a readable font with Simplified Chinese glyphs; ignored",
                CJKGlyphWarning,
                stacklevel=3,
            )
    for cand in _system_cjk_fonts():
        if _covers(cand):
            return cand, (
                f"CJK font package pylopdf-fonts-zh-cn not installed; using the system font {cand} "
                "(output then depends on the machine: pip install pylopdf-fonts-zh-cn)"
            )
    return None, (
        "no font with Simplified Chinese glyphs found: static maps cannot be drawn "
        "(pip install pylopdf-fonts-zh-cn, or set GEO_CJK_FONT to a font file)"
    )


def _register() -> tuple[Path | None, str | None]:
    path, problem = _find_font()
    if problem:
        warnings.warn(problem, CJKGlyphWarning, stacklevel=2)
    if path is None:
        return None, None
    font_manager.fontManager.addfont(str(path))
    return path, font_manager.FontProperties(fname=str(path)).get_name()


_FONT_PATH, FONT_NAME = _register()


def font_path() -> Path:
    """The CJK font file maps are set in.

    Raises
    ------
    GeoError
        When no font with Simplified Chinese glyphs is available.
    """
    if _FONT_PATH is None:
        raise GeoError(
            "no font with Simplified Chinese glyphs: pip install pylopdf-fonts-zh-cn "
            f"(or set {FONT_ENV} to a font file)"
        )
    return _FONT_PATH


def missing_glyphs(texts: Iterable[str], path: str | Path | None = None) -> dict[str, list[str]]:
    """Characters of ``texts`` the font lacks: ``{text: [chars]}`` (empty when all are there)."""
    cmap = _charmap(str(path or font_path()))
    out: dict[str, list[str]] = {}
    for t in texts:
        miss = sorted({c for c in t if not c.isspace() and ord(c) not in cmap})
        if miss:
            out[t] = miss
    return out


def drawn_texts(fig: Figure) -> list[Text]:
    """Every visible, non-empty text artist of a figure."""
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def check_glyphs(fig: Figure) -> None:
    """Warn (:class:`CJKGlyphWarning`) about characters of the figure the CJK font lacks."""
    missing = missing_glyphs(t.get_text() for t in drawn_texts(fig))
    if missing:
        detail = "; ".join(f"{t!r}: {' '.join(cs)}" for t, cs in list(missing.items())[:10])
        warnings.warn(
            f"characters missing from the CJK font {font_path().name}, drawn with {FALLBACK_FAMILY} "
            f"(or as boxes where it lacks them too): {detail}",
            CJKGlyphWarning,
            stacklevel=3,
        )
