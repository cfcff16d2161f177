"""One symbology for every map and file: the interactive page, the printed map, KML and QGIS.

Every class of feature a map shows has one :class:`Style` here — place kinds, 马路市场 batches,
street categories (严管街, 十纵十横, 背街小巷 …), rule zones, spacing streets, the region
boundary, case statuses of the 问题台账 and track pass statuses — with its colour, line style,
weight, fill, marker and Chinese legend words. Writers never pick colours themselves; they ask
this module for a style and translate it with :func:`to_leaflet`, :func:`to_mpl`,
:func:`to_kml` or :func:`to_qml`, so the screen, the paper and QGIS never disagree.

Units
-----
``weight`` is the stroke width in CSS pixels on screen; the printed map draws
``weight × PRINT_SCALE`` points and QGIS ``weight × QGIS_MM`` millimetres. ``dash`` is an on/off
pattern **in multiples of the line width** (so a dash keeps its look at any width): Leaflet
gets ``dashArray`` in pixels (pattern × weight), matplotlib takes the pattern as it is (it scales
dashes by the line width itself), QGIS gets a custom dash vector in line widths. A pattern whose
"on" parts are near zero with ``cap="round"`` draws dots.

The palette is print-safe: mid-to-dark hues that keep apart in greyscale photocopies by
weight and dash as well as by hue, no pure yellow, no colour lighter than the paper tint.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from xml.sax.saxutils import escape, quoteattr

__all__ = [
    "ANCHOR",
    "BATCHES",
    "BOUNDARY",
    "CASE_STATUS",
    "KINDS",
    "MARKERS",
    "PASS_STATUS",
    "PRINT_SCALE",
    "QGIS_MM",
    "SPACING",
    "STREETS",
    "STREET_ORDER",
    "ZONE_PALETTE",
    "Style",
    "all_styles",
    "dash_px",
    "kml_colour",
    "kml_style_id",
    "legend_svg",
    "mpl_linestyle",
    "place_key",
    "qgis_colour",
    "row_styles",
    "street_category",
    "style_for",
    "style_for_batch",
    "style_for_case",
    "style_for_kind",
    "style_for_pass",
    "style_for_place",
    "style_for_street",
    "style_for_zone",
    "to_kml",
    "to_leaflet",
    "to_mpl",
    "to_qml",
    "zone_styles",
]

#: Printed line width per screen pixel (points per CSS px) on the A4 map.
PRINT_SCALE = 0.5
#: QGIS line width per screen pixel (millimetres per CSS px; QGIS's default line is 0.26 mm).
QGIS_MM = 0.26

#: Marker shapes: our name → (matplotlib marker, QGIS SimpleMarker name).
MARKERS = {
    "circle": ("o", "circle"),
    "square": ("s", "square"),
    "triangle": ("^", "triangle"),
    "triangle_down": ("v", "equilateral_triangle"),  # QGIS has no downward triangle; angle set below
    "diamond": ("D", "diamond"),
    "cross": ("P", "cross_fill"),
    "hexagon": ("h", "hexagon"),
    "pentagon": ("p", "pentagon"),
    "star": ("*", "star"),
}


@dataclass(frozen=True)
class Style:
    """How one class of features is drawn, everywhere.

    Attributes
    ----------
    key : str
        Stable class id, e.g. ``kind:school``, ``street:严管街``, ``batch:1``, ``zone:0:outer``.
    colour : str
        ``#rrggbb``: stroke of lines and outlines, fill of markers.
    label : str
        Chinese legend words.
    geometry : str
        What the class mostly is: ``point``, ``line`` or ``area`` (the legend symbol; a writer
        drawing a feature of another geometry uses the matching part of the style).
    fill : str or None
        Area fill colour; ``None`` means ``colour``.
    weight : float
        Stroke width in CSS pixels (see module notes).
    opacity : float
        Stroke opacity.
    fill_opacity : float
        Area fill opacity (0: outline only).
    dash : tuple of float
        On/off pattern in line widths; empty for solid.
    cap : str
        Line cap: ``butt`` or ``round``.
    casing : bool
        Lines drawn over a white casing (streets).
    marker : str
        Point symbol, a key of :data:`MARKERS`.
    radius : float
        Marker radius in CSS pixels.
    """

    key: str
    colour: str
    label: str
    geometry: str = "point"
    fill: str | None = None
    weight: float = 2.0
    opacity: float = 1.0
    fill_opacity: float = 0.3
    dash: tuple[float, ...] = ()
    cap: str = "butt"
    casing: bool = False
    marker: str = "circle"
    radius: float = 6.0

    @property
    def fill_colour(self) -> str:
        return self.fill or self.colour


# ---------------------------------------------------------------------------------------------
# The table


def _kind(key: str, colour: str, label: str, geometry: str = "point", marker: str = "circle") -> Style:
    return Style(
        key=f"kind:{key}",
        colour=colour,
        label=label,
        geometry=geometry,
        weight=2.0,
        opacity=0.9,
        fill_opacity=0.3,
        marker=marker,
        radius=6.0,
    )


#: Place kinds (see :data:`geo.plan.PLACE_KINDS`); legend words are the kind's Chinese name.
KINDS: dict[str, Style] = {
    s.key[5:]: s
    for s in (
        _kind("street", "#5d6d7e", "街路", "line"),
        _kind("market", "#d35400", "市场", "point", "square"),
        _kind("school", "#1f5fa8", "中小学校", "point", "triangle"),
        _kind("college", "#283593", "高等院校", "point", "triangle"),
        _kind("demo_zone", "#2e7d32", "示范区", "area"),
        _kind("hospital", "#c62828", "医院", "point", "cross"),
        _kind("station", "#6a1b9a", "交通场站", "point", "diamond"),
        _kind("park", "#388e3c", "公园", "area"),
        _kind("square", "#00838f", "广场", "area", "square"),
        _kind("garden", "#689f38", "游园", "area"),
        _kind("residential", "#8d5524", "小区", "area"),
        _kind("residential_gate", "#b35c1e", "小区出入口", "point", "pentagon"),
        _kind("traffic_node", "#8a6d0b", "交通节点", "point", "diamond"),
        _kind("toilet", "#00796b", "公厕", "point", "triangle_down"),
        _kind("grid", "#7f8c8d", "单元网格", "area"),
        _kind("construction_site", "#9c640c", "建筑工地", "area", "square"),
        _kind("landmark", "#6d4c41", "地标", "point", "star"),
        _kind("mall", "#e65100", "商超", "point", "square"),
        _kind("enterprise", "#546e7a", "企业", "point", "square"),
        _kind("venue", "#a04000", "公共场馆", "point", "hexagon"),
        _kind("river", "#1565c0", "河道", "line"),
        _kind("district", "#707b7c", "片区", "area"),
        _kind("utility", "#00695c", "公用设施", "point", "hexagon"),
    )
}
_UNKNOWN_KIND = _kind("other", "#616161", "其他地点")

#: Places the plan names only to locate others (tag 锚点): grey, thin, whatever their kind.
ANCHOR = Style(
    key="anchor",
    colour="#8d8d8d",
    label="参照地物（定位用）",
    geometry="point",
    weight=1.2,
    opacity=0.7,
    fill_opacity=0.15,
    radius=4.5,
)

#: 马路市场 batches (第一批 …): Dark2-like hues, apart from the kind colours of schools/hospitals.
BATCHES: dict[int, Style] = {
    b: Style(
        key=f"batch:{b}",
        colour=c,
        label=f"第{'零一二三四五六七八九十'[b]}批马路市场",
        geometry="line",
        weight=7.0,
        opacity=0.9,
        fill_opacity=0.25,
        marker="square",
        radius=6.5,
        casing=True,
    )
    for b, c in ((1, "#d95f02"), (2, "#7570b3"), (3, "#1b9e77"), (4, "#e7298a"), (5, "#66a61e"))
}


def _street(key: str, colour: str, weight: float, label: str, dash=(), opacity=0.95) -> Style:
    return Style(
        key=f"street:{key}",
        colour=colour,
        label=label,
        geometry="line",
        weight=weight,
        opacity=opacity,
        fill_opacity=0.3,
        dash=tuple(dash),
        casing=True,
    )


#: Street categories by the plan's tags; :data:`STREET_ORDER` says which wins when several apply.
STREETS: dict[str, Style] = {
    s.key[7:]: s
    for s in (
        _street("严管街", "#b71c1c", 7.0, "严管街"),
        _street("十纵十横", "#1a4f8a", 5.5, "十纵十横主干道"),
        _street("景观大道", "#2e7d32", 5.5, "景观大道"),
        _street("主次干道", "#3f7fbf", 4.5, "主次干道"),
        _street("背街小巷", "#8d6e63", 3.5, "背街小巷", dash=(2.0, 1.2)),
        _street("plan", "#455a64", 4.0, "方案点名的其他街路"),
        _street("anchor", "#9aa5ae", 2.5, "参照街路（定位用）", opacity=0.85),
    )
}
#: First match wins; 城市主干道 is drawn as 主次干道.
STREET_ORDER = ("严管街", "十纵十横", "景观大道", "城市主干道", "主次干道", "背街小巷")
_STREET_ALIASES = {"城市主干道": "主次干道"}

#: Streets under a spacing rule (每 100 米至少 1 处公益广告): amber dots over the street.
SPACING = Style(
    key="spacing",
    colour="#c17d11",
    label="间距规则路段",
    geometry="line",
    weight=5.0,
    opacity=0.95,
    fill_opacity=0.0,
    dash=(0.01, 1.8),
    cap="round",
)

#: The governed region's outline (dash-dot, no fill).
BOUNDARY = Style(
    key="region",
    colour="#6c5b7b",
    label="行政区界",
    geometry="line",
    weight=2.5,
    opacity=0.9,
    fill_opacity=0.0,
    dash=(4.0, 2.0, 0.8, 2.0),
)

#: Zone colours by the rule's position among the plan's buffer rules (plan order).
ZONE_PALETTE = ("#d7301f", "#2166ac", "#1a9850", "#762a83", "#b35806", "#c51b7d", "#01665e", "#4d4d4d")

#: Cases of the 问题台账 by status.
CASE_STATUS: dict[str, Style] = {
    s.key[5:]: s
    for s in (
        Style("case:open", "#e08214", "待处置", radius=5.5),
        Style("case:overdue", "#b2182b", "超期未办结", marker="triangle", radius=6.5),
        Style("case:closed", "#1b7837", "已办结", marker="square", radius=5.0),
        Style("case:written_off", "#7f8c8d", "已销号", marker="diamond", radius=5.0),
    )
}
_CASE_ALIASES = {"销号": "written_off", "已销号": "written_off", "cancelled": "written_off"}

#: Street segments of a tracks report by whether the day's passes reach the plan's target.
PASS_STATUS: dict[str, Style] = {
    s.key[5:]: s
    for s in (
        Style("pass:met", "#1a9850", "达标", geometry="line", weight=5.0, fill_opacity=0.0),
        Style("pass:short", "#f28e2b", "未达标（次数不足）", geometry="line", weight=5.0, fill_opacity=0.0),
        Style(
            "pass:none",
            "#b2182b",
            "无作业轨迹",
            geometry="line",
            weight=5.0,
            fill_opacity=0.0,
            dash=(1.5, 1.0),
        ),
    )
}


# ---------------------------------------------------------------------------------------------
# Accessors


def style_for_kind(kind: str) -> Style:
    """The style of a place kind (an unknown kind gets a neutral grey, labelled 其他地点)."""
    return KINDS.get(kind, _UNKNOWN_KIND)


def style_for_batch(batch: Any) -> Style | None:
    """The style of a 马路市场 batch number, or ``None`` when there is no batch."""
    b = _int(batch)
    if b is None:
        return None
    if b in BATCHES:
        return BATCHES[b]
    colour = ZONE_PALETTE[(b - 1) % len(ZONE_PALETTE)]
    return replace(BATCHES[1], key=f"batch:{b}", colour=colour, label=f"第{b}批马路市场")


def street_category(tags: Iterable[str]) -> str:
    """The street category of a street place from its plan tags (``plan`` when none applies,
    ``anchor`` for a street named only to locate others)."""
    tags = set(tags)
    for t in STREET_ORDER:
        if t in tags:
            return _STREET_ALIASES.get(t, t)
    return "anchor" if "锚点" in tags else "plan"


def style_for_street(category_or_tags: str | Iterable[str]) -> Style:
    """The style of a street category (``严管街`` …, ``plan``, ``anchor``) or of a street's tags."""
    if isinstance(category_or_tags, str):
        cat = _STREET_ALIASES.get(category_or_tags, category_or_tags)
        return STREETS.get(cat, STREETS["plan"])
    return STREETS[street_category(category_or_tags)]


def place_key(kind: str, tags: Iterable[str] = (), batch: Any = None) -> str:
    """The class of a named place: ``street:<category>``, ``batch:<n>``, ``anchor`` or
    ``kind:<kind>`` — the key of :func:`style_for_place`."""
    return style_for_place(kind, tags, batch).key


def style_for_place(kind: str, tags: Iterable[str] = (), batch: Any = None) -> Style:
    """The style of a plan's named place: streets by category, markets by batch, anchors grey,
    everything else by kind."""
    tags = list(tags)
    if kind == "street":
        return style_for_street(tags)
    if kind == "market":
        b = style_for_batch(batch)
        if b is not None:
            return b
    if "锚点" in tags:
        return ANCHOR
    return style_for_kind(kind)


def style_for_zone(index: int, *, outer: bool = False, label: str = "") -> Style:
    """The style of a rule zone: colour by the rule's position among the plan's buffer rules;
    the outer of two rings around the same places is dashed and fainter.

    Parameters
    ----------
    index : int
        Position of the rule among the plan's buffer rules, in plan order.
    outer : bool
        Another buffer rule of the plan targets the same places at a smaller distance.
    label : str
        Legend words (e.g. ``示范区周边 100 米``).
    """
    colour = ZONE_PALETTE[index % len(ZONE_PALETTE)]
    return Style(
        key=f"zone:{index}" + (":outer" if outer else ""),
        colour=colour,
        label=label or "规则范围",
        geometry="area",
        weight=1.8 if outer else 2.2,
        opacity=0.9,
        fill_opacity=0.07 if outer else 0.16,
        dash=(4.0, 3.0) if outer else (),
    )


def zone_styles(rules: Sequence[Any]) -> dict[str, Style]:
    """Styles of a plan's buffer rules, by rule id.

    Parameters
    ----------
    rules : sequence of geo.plan.Rule
        The plan's rules in plan order (others than ``type == "buffer"`` are skipped).

    Returns
    -------
    dict
        ``rule_id → Style`` with legend words ``<对象>周边 <距离> 米``.
    """
    buffers = [r for r in rules if getattr(r, "type", "buffer") == "buffer"]

    def target(r) -> tuple:
        at = r.applies_to
        return (tuple(at.kinds), tuple(at.tags), tuple(at.places), at.label)

    out = {}
    for i, r in enumerate(buffers):
        outer = any(target(o) == target(r) and o.distance_m < r.distance_m for o in buffers)
        label = f"{r.applies_to.label}周边 {r.distance_m:g} 米"
        out[r.id] = style_for_zone(i, outer=outer, label=label)
    return out


def row_styles(layer: str, df: Any, rules: Sequence[Any] = ()) -> list[Style]:
    """The style of each row of a layer table (``places``, ``kind_places``, ``zones``,
    ``dissolved``, ``spacing``, ``region``), as the maps draw it.

    Parameters
    ----------
    layer : str
        Layer name (see :data:`geo.publish.files.LAYER_NAMES`).
    df : DataFrame
        The layer, with its ``kind``/``tags``/``batch`` or ``rule_id`` columns.
    rules : sequence of geo.plan.Rule
        The plan's rules, for zone colours; without them zones are coloured by the order of
        their rule ids.
    """
    n = len(df)
    if not n:
        return []
    none = [None] * n
    if layer == "places":
        from ..layers import split

        parts = zip(df["kind"], df.get("tags", none), df.get("batch", none), strict=True)
        return [style_for_place(k, split(t) if isinstance(t, str) else (), b) for k, t, b in parts]
    if layer == "kind_places":
        return [style_for_kind(k) for k in df["kind"]]
    if layer in ("zones", "dissolved"):
        styles = zone_styles(rules)
        order = list(dict.fromkeys(df["rule_id"]))
        return [styles.get(r) or style_for_zone(order.index(r)) for r in df["rule_id"]]
    if layer == "spacing":
        return [SPACING] * n
    return [BOUNDARY] * n


def style_for_case(status: str) -> Style:
    """The style of a case status: ``open``, ``overdue``, ``closed``, ``written_off`` (销号)."""
    key = _CASE_ALIASES.get(status, status)
    return CASE_STATUS[key]


def style_for_pass(status: str | bool | None) -> Style:
    """The style of a street segment's pass status: ``met``, ``short`` or ``none``
    (``True``/``False``/``None`` are read as met/short/none)."""
    if status is True:
        status = "met"
    elif status is False:
        status = "short"
    elif status is None:
        status = "none"
    return PASS_STATUS[status]


def style_for(key: str) -> Style:
    """Any style by its key (``kind:school``, ``street:严管街``, ``batch:2``, ``zone:1:outer``,
    ``spacing``, ``region``, ``anchor``, ``case:open``, ``pass:met``)."""
    head, _, rest = key.partition(":")
    if head == "kind":
        return style_for_kind(rest)
    if head == "street":
        return style_for_street(rest)
    if head == "batch":
        s = style_for_batch(rest)
        if s is not None:
            return s
    if head == "zone":
        idx, _, outer = rest.partition(":")
        return style_for_zone(int(idx), outer=outer == "outer")
    if head == "case":
        return style_for_case(rest)
    if head == "pass":
        return style_for_pass(rest)
    fixed = {"spacing": SPACING, "region": BOUNDARY, "anchor": ANCHOR}
    if key in fixed:
        return fixed[key]
    raise KeyError(f"no style {key!r}")


def all_styles() -> list[Style]:
    """Every fixed style of the table (zones: one per palette colour), for tests and docs."""
    return [
        *KINDS.values(),
        ANCHOR,
        *BATCHES.values(),
        *STREETS.values(),
        SPACING,
        BOUNDARY,
        *(style_for_zone(i, outer=o) for i in range(len(ZONE_PALETTE)) for o in (False, True)),
        *CASE_STATUS.values(),
        *PASS_STATUS.values(),
    ]


# ---------------------------------------------------------------------------------------------
# Translations


def _int(v: Any) -> int | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else int(f)


def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _num(v: float) -> str:
    return f"{round(v, 3):g}"


def dash_px(style: Style) -> str | None:
    """Leaflet/SVG ``dashArray`` in pixels (pattern × weight), or ``None`` for solid lines."""
    if not style.dash:
        return None
    return " ".join(_num(max(d * style.weight, 0.05)) for d in style.dash)


def to_leaflet(style: Style, geometry: str | None = None) -> dict[str, Any]:
    """Leaflet path options (``L.path`` / ``circleMarker``) for a feature of ``geometry``
    (``point``, ``line``, ``area``; default the style's own)."""
    g = geometry or style.geometry
    if g == "point":
        return {
            "radius": style.radius,
            "color": "#ffffff",
            "weight": 1.5,
            "opacity": 1,
            "fill": True,
            "fillColor": style.colour,
            "fillOpacity": 0.95 if style.opacity >= 0.9 else 0.6,
        }
    out: dict[str, Any] = {"color": style.colour, "weight": style.weight, "opacity": style.opacity}
    dash = dash_px(style)
    if dash:
        out["dashArray"] = dash
    if style.cap == "round":
        out["lineCap"] = "round"
    if g == "area":
        out.update(fill=True, fillColor=style.fill_colour, fillOpacity=style.fill_opacity)
    return out


def _mpl_rgba(colour: str, alpha: float) -> tuple[float, float, float, float]:
    r, g, b = _rgb(colour)
    return (r / 255, g / 255, b / 255, float(alpha))


def mpl_linestyle(style: Style) -> Any:
    """The dash pattern as a matplotlib linestyle (``"-"`` or ``(0, (on, off, …))``)."""
    if not style.dash:
        return "-"
    return (0, tuple(max(d, 0.01) for d in style.dash))


def to_mpl(style: Style, geometry: str | None = None, scale: float = PRINT_SCALE) -> dict[str, Any]:
    """matplotlib keyword arguments for a feature of ``geometry`` (default the style's own).

    ``point`` gives ``marker``, ``s`` (area in pt², as :meth:`Axes.scatter` takes it),
    ``facecolor``, ``edgecolor``, ``linewidths``; ``line`` gives ``color``, ``linewidth``,
    ``linestyle``, ``alpha`` and cap styles; ``area`` gives ``facecolor`` and ``edgecolor`` as
    RGBA (fill and stroke opacity differ), ``linewidth`` and ``linestyle``.
    """
    g = geometry or style.geometry
    if g == "point":
        r_pt = style.radius * scale * 1.5
        return {
            "marker": MARKERS[style.marker][0],
            "s": (2 * r_pt) ** 2,
            "facecolor": style.colour,
            "edgecolor": "white",
            "linewidths": 0.6,
        }
    lw = style.weight * scale
    if g == "line":
        return {
            "color": style.colour,
            "linewidth": lw,
            "linestyle": mpl_linestyle(style),
            "alpha": style.opacity,
            "solid_capstyle": "round" if style.cap == "round" else "butt",
            "dash_capstyle": style.cap,
        }
    return {
        "facecolor": _mpl_rgba(style.fill_colour, style.fill_opacity),
        "edgecolor": _mpl_rgba(style.colour, style.opacity),
        "linewidth": lw,
        "linestyle": mpl_linestyle(style),
    }


def kml_colour(colour: str, alpha: float = 1.0) -> str:
    """KML's ``aabbggrr``."""
    r, g, b = _rgb(colour)
    return f"{round(alpha * 255):02x}{b:02x}{g:02x}{r:02x}"


def kml_style_id(style: Style) -> str:
    """An XML id for the style (keys carry Chinese and colons: hex of the UTF-8)."""
    return "s_" + style.key.encode("utf-8").hex()


def to_kml(style: Style) -> str:
    """A KML ``<Style>`` element for the class (id from :func:`kml_style_id`)."""
    line = kml_colour(style.colour, style.opacity)
    poly = kml_colour(style.fill_colour, style.fill_opacity)
    fill = 1 if style.fill_opacity > 0 else 0
    return (
        f'<Style id="{kml_style_id(style)}">'
        f"<IconStyle><color>{kml_colour(style.colour)}</color><scale>{_num(style.radius / 7)}</scale>"
        "</IconStyle>"
        f"<LineStyle><color>{line}</color><width>{_num(style.weight * 0.6)}</width></LineStyle>"
        f"<PolyStyle><color>{poly}</color><fill>{fill}</fill><outline>1</outline></PolyStyle>"
        "</Style>"
    )


def qgis_colour(colour: str, alpha: float = 1.0) -> str:
    """QGIS's ``r,g,b,a`` (0–255)."""
    r, g, b = _rgb(colour)
    return f"{r},{g},{b},{round(alpha * 255)}"


def _props(d: dict[str, str]) -> str:
    return "".join(f"<prop k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in d.items())


def _dash_qgis(style: Style) -> dict[str, str]:
    if not style.dash:
        return {"line_style": "solid", "use_custom_dash": "0"}
    vec = ";".join(_num(max(d, 0.01) * style.weight * QGIS_MM) for d in style.dash)
    return {
        "line_style": "solid",
        "use_custom_dash": "1",
        "customdash": vec,
        "customdash_unit": "MM",
    }


def to_qml(style: Style, geometry: str | None = None, name: str = "0") -> str:
    """A QGIS ``<symbol>`` element (as QML stores it) for a feature of ``geometry``.

    Parameters
    ----------
    style : Style
    geometry : str, optional
        ``point`` (marker symbol), ``line`` or ``area`` (fill symbol); default the style's own.
    name : str
        The symbol's name inside its renderer (the category index).
    """
    g = geometry or style.geometry
    width = _num(style.weight * QGIS_MM)
    cap = "round" if style.cap == "round" else "flat"
    if g == "point":
        shape = MARKERS[style.marker][1]
        props = {
            "name": shape,
            "color": qgis_colour(style.colour),
            "outline_color": "255,255,255,255",
            "outline_width": "0.3",
            "outline_width_unit": "MM",
            "size": _num(style.radius * 2 * QGIS_MM * 1.3),
            "size_unit": "MM",
            "angle": "180" if style.marker == "triangle_down" else "0",
        }
        layers = f'<layer class="SimpleMarker" enabled="1" locked="0" pass="0">{_props(props)}</layer>'
        kind = "marker"
    elif g == "line":
        layers = ""
        if style.casing:
            casing = {
                "line_color": "255,255,255,255",
                "line_width": _num((style.weight + 2) * QGIS_MM),
                "line_width_unit": "MM",
                "capstyle": "round",
                "joinstyle": "round",
                "line_style": "solid",
            }
            layers += f'<layer class="SimpleLine" enabled="1" locked="0" pass="0">{_props(casing)}</layer>'
        props = {
            "line_color": qgis_colour(style.colour, style.opacity),
            "line_width": width,
            "line_width_unit": "MM",
            "capstyle": cap,
            "joinstyle": "round",
            **_dash_qgis(style),
        }
        layers += f'<layer class="SimpleLine" enabled="1" locked="0" pass="0">{_props(props)}</layer>'
        kind = "line"
    else:
        props = {
            "color": qgis_colour(style.fill_colour, style.fill_opacity),
            "style": "solid" if style.fill_opacity > 0 else "no",
            "outline_color": qgis_colour(style.colour, style.opacity),
            "outline_width": width,
            "outline_width_unit": "MM",
            "outline_style": "dash" if style.dash else "solid",
            "joinstyle": "round",
        }
        layers = f'<layer class="SimpleFill" enabled="1" locked="0" pass="0">{_props(props)}</layer>'
        kind = "fill"
    return (
        f'<symbol type="{kind}" name={quoteattr(name)} alpha="1" clip_to_extent="1" force_rhr="0">'
        f"{layers}</symbol>"
    )


_SVG_SHAPES = {
    "circle": '<circle cx="16" cy="8" r="5.5"{a}/>',
    "square": '<rect x="11" y="3" width="10" height="10"{a}/>',
    "triangle": '<polygon points="16,2 22,13.5 10,13.5"{a}/>',
    "triangle_down": '<polygon points="10,2.5 22,2.5 16,14"{a}/>',
    "diamond": '<polygon points="16,2 22,8 16,14 10,8"{a}/>',
    "cross": '<polygon points="14,2 18,2 18,6 22,6 22,10 18,10 18,14 14,14 14,10 10,10 10,6 14,6"{a}/>',
    "hexagon": '<polygon points="13,2.8 19,2.8 22,8 19,13.2 13,13.2 10,8"{a}/>',
    "pentagon": '<polygon points="16,2 22,6.5 19.7,13.5 12.3,13.5 10,6.5"{a}/>',
    "star": (
        '<polygon points="16,1.5 17.8,6 22.5,6.2 18.8,9.2 20.1,14 '
        '16,11.3 11.9,14 13.2,9.2 9.5,6.2 14.2,6"{a}/>'
    ),
}


def legend_svg(style: Style, geometry: str | None = None) -> str:
    """A 32×16 inline SVG legend swatch drawn from the style (no external resources)."""
    g = geometry or style.geometry
    c = escape(style.colour)
    dash = dash_px(style)
    dash_attr = f' stroke-dasharray="{escape(dash)}"' if dash else ""
    if g == "line":
        w = min(max(style.weight, 1.5), 8)
        cap = ' stroke-linecap="round"' if style.cap == "round" else ""
        body = ""
        if style.casing:
            body += f'<line x1="2" y1="8" x2="30" y2="8" stroke="#ffffff" stroke-width="{_num(w + 2)}"/>'
        body += (
            f'<line x1="2" y1="8" x2="30" y2="8" stroke="{c}" stroke-width="{_num(w)}" '
            f'stroke-opacity="{_num(style.opacity)}"{dash_attr}{cap}/>'
        )
    elif g == "point":
        a = f' fill="{c}" stroke="#ffffff" stroke-width="1.2"'
        body = _SVG_SHAPES[style.marker].format(a=a)
    else:
        body = (
            f'<rect x="3" y="2" width="26" height="12" rx="2" fill="{escape(style.fill_colour)}" '
            f'fill-opacity="{_num(min(style.fill_opacity + 0.1, 1))}" stroke="{c}" '
            f'stroke-width="{_num(min(style.weight, 3))}"{dash_attr}/>'
        )
    return f'<svg class="cgt-sw" width="32" height="16" viewBox="0 0 32 16" aria-hidden="true">{body}</svg>'
