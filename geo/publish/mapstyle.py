"""Leaflet styles and legend swatches of the interactive map.

Turns the symbology (colours, line styles, legend texts) into Leaflet path options and small
inline-SVG swatches for the legend and layer control. Swatches hold no user text.
"""

from __future__ import annotations

import html as _html
from typing import Any

from ..plan import PLACE_KINDS

# Colour per place kind (points and areas; lines of streets have their own styles).
KIND_COLORS = {
    "street": "#5d6d7e",
    "market": "#e67e22",
    "school": "#1f6fb5",
    "college": "#154360",
    "demo_zone": "#1e8449",
    "hospital": "#c0392b",
    "station": "#6c3483",
    "park": "#27ae60",
    "square": "#48a9a6",
    "garden": "#58b368",
    "residential": "#a0522d",
    "residential_gate": "#ca6f1e",
    "traffic_node": "#b7950b",
    "toilet": "#148f77",
    "grid": "#7f8c8d",
    "construction_site": "#9c640c",
    "landmark": "#7d3c98",
    "mall": "#d35400",
    "enterprise": "#566573",
    "venue": "#a04000",
    "river": "#2874a6",
    "district": "#707b7c",
    "utility": "#117864",
}

# Street line styles by plan tag, first match wins: (tag, style, legend text).
STREET_STYLES: list[tuple[str | None, dict[str, Any], str]] = [
    ("严管街", {"color": "#b03a2e", "weight": 8, "opacity": 0.9}, "严管街（粗红线）"),
    ("十纵十横", {"color": "#1a5276", "weight": 5, "opacity": 0.9}, "十纵十横主干道（深蓝）"),
    ("景观大道", {"color": "#1e8449", "weight": 6, "opacity": 0.85}, "景观大道（绿）"),
    ("城市主干道", {"color": "#2e86c1", "weight": 4, "opacity": 0.9}, "城市主干道（蓝）"),
    ("主次干道", {"color": "#2e86c1", "weight": 4, "opacity": 0.9}, "主次干道（蓝）"),
    (
        "背街小巷",
        {"color": "#8e6e53", "weight": 3, "opacity": 0.9, "dashArray": "6 4"},
        "背街小巷（褐色虚线）",
    ),
    (None, {"color": "#7b7d7d", "weight": 3, "opacity": 0.8}, "其他街路、定位参照街路（灰）"),
]

BATCH_COLORS = {1: "#e67e22", 2: "#8e44ad", 3: "#16a085", 4: "#c0392b", 5: "#2c3e50"}
ZONE_PALETTE = ["#e74c3c", "#f39c12", "#8e44ad", "#16a085", "#2980b9", "#d35400", "#c2185b", "#7cb342"]
SPACING_COLOR = "#b9770e"
BOUNDARY_COLOR = "#6c5b7b"
_CN_NUM = "零一二三四五六七八九十"


def swatch(kind: str, color: str, *, weight: float = 3, dash: str | None = None, fill: float = 0.25) -> str:
    """A small legend swatch as inline SVG (nothing to load).

    Parameters
    ----------
    kind : {"line", "point", "area"}
    color : str
        CSS colour.
    """
    c = _html.escape(color, quote=True)
    dash_attr = f' stroke-dasharray="{_html.escape(dash, quote=True)}"' if dash else ""
    if kind == "line":
        w = min(max(weight, 1.5), 8)
        cap = ' stroke-linecap="round"' if dash and dash.startswith("1 ") else ""
        body = f'<line x1="2" y1="8" x2="30" y2="8" stroke="{c}" stroke-width="{w:g}"{dash_attr}{cap}/>'
    elif kind == "point":
        body = f'<circle cx="16" cy="8" r="5.5" fill="{c}" stroke="#fff" stroke-width="1.5"/>'
    else:
        body = (
            f'<rect x="3" y="2" width="26" height="12" rx="2" fill="{c}" fill-opacity="{fill:g}" '
            f'stroke="{c}" stroke-width="2"{dash_attr}/>'
        )
    return f'<svg class="cgt-sw" width="32" height="16" viewBox="0 0 32 16" aria-hidden="true">{body}</svg>'


def _batch_word(b: int) -> str:
    return f"第{_CN_NUM[b] if 0 < b <= 10 else b}批"


def place_style(
    kind: str, tags: list[str], batch: int | None, gclass: str
) -> tuple[dict[str, Any], list[tuple[str, str, str, str]]]:
    """Leaflet style of a class of places and its legend entries ``(section, key, svg, text)``."""
    anchor = "锚点" in tags
    legend: list[tuple[str, str, str, str]] = []
    if kind == "street" and gclass == "lines":
        for tag, style, text in STREET_STYLES:
            if tag is None or tag in tags:
                s = dict(style)
                sw = swatch("line", s["color"], weight=s["weight"], dash=s.get("dashArray"))
                return s, [("街路", text, sw, text)]
    color = KIND_COLORS.get(kind, "#555555")
    if kind == "market" and batch is not None:
        color = BATCH_COLORS.get(batch, color)
    if gclass == "points":
        s: dict[str, Any] = {
            "radius": 5 if anchor else 7,
            "color": "#ffffff",
            "weight": 1.5,
            "opacity": 1,
            "fillColor": color,
            "fillOpacity": 0.55 if anchor else 0.95,
            "fill": True,
        }
    elif gclass == "lines":
        s = {"color": color, "weight": 3 if anchor else 7, "opacity": 0.6 if anchor else 0.85}
    elif kind == "market":
        s = {
            "color": color,
            "weight": 2,
            "opacity": 0.9,
            "dashArray": "5 4",
            "fillColor": color,
            "fillOpacity": 0.22,
            "fill": True,
        }
    elif anchor:
        s = {
            "color": color,
            "weight": 1.2,
            "opacity": 0.6,
            "fillColor": color,
            "fillOpacity": 0.12,
            "fill": True,
        }
    else:
        s = {
            "color": color,
            "weight": 2,
            "opacity": 0.9,
            "fillColor": color,
            "fillOpacity": 0.3,
            "fill": True,
        }
    if kind == "market" and batch is not None:
        text = f"{_batch_word(batch)}马路市场：路段为粗线，周边为虚线面"
        legend.append(("马路市场批次", f"batch{batch}", swatch("area", color, fill=0.4), text))
    else:
        shape = {"points": "point", "lines": "line"}.get(gclass, "area")
        legend.append(
            ("地点类型", f"{kind}:{shape}", swatch(shape, color, weight=5), PLACE_KINDS.get(kind, kind))
        )
    if anchor:
        legend.append(
            (
                "样式说明",
                "anchor",
                swatch("area", "#7b7d7d", fill=0.12),
                "淡色细边：定位参照地点（锚点），颜色同其类型",
            )
        )
    return s, legend


def zone_style(plan_id: str, index: int, rule, outer: bool) -> tuple[dict[str, Any], str]:
    """Style of the zones of the ``index``-th buffer rule of a plan, and its swatch."""
    color = ZONE_PALETTE[index % len(ZONE_PALETTE)]
    s: dict[str, Any] = {
        "color": color,
        "weight": 1.8 if outer else 2.2,
        "opacity": 0.9,
        "fillColor": color,
        "fillOpacity": 0.07 if outer else 0.14,
        "fill": True,
    }
    if outer:
        s["dashArray"] = "8 6"
    return s, swatch("area", color, dash=s.get("dashArray"), fill=s["fillOpacity"] + 0.1)


def spacing_style() -> tuple[dict[str, Any], str]:
    """Style of streets governed by a spacing rule, and its swatch."""
    s = {"color": SPACING_COLOR, "weight": 6, "opacity": 0.95, "dashArray": "1 10", "lineCap": "round"}
    return s, swatch("line", SPACING_COLOR, weight=5, dash="1 7")


def boundary_style(offline: bool) -> tuple[dict[str, Any], str]:
    """Style of the region's boundary (filled light when there is no basemap), and its swatch."""
    s = {
        "color": BOUNDARY_COLOR,
        "weight": 2.5,
        "opacity": 0.9,
        "dashArray": "10 5 2 5",
        "fill": offline,
        "fillColor": "#fcfcf8",
        "fillOpacity": 1.0 if offline else 0,
        "interactive": False,
    }
    return s, swatch("line", BOUNDARY_COLOR, weight=2.5, dash="6 3 2 3")
