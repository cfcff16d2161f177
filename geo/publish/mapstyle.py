"""Leaflet styles and legend entries of the interactive map, from the one symbology table.

Colours, line styles and legend words come from :mod:`geo.publish.style` (shared with the
printed map, KML and QGIS); this module only says which style a feature class of the page
takes and turns it into Leaflet path options and legend entries ``(section, key, svg, text)``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from . import style as S

__all__ = ["boundary_style", "place_style", "spacing_style", "swatch", "zone_style"]

_GEOMETRY = {"points": "point", "lines": "line", "areas": "area"}
#: Legend section of a style by the head of its key.
_SECTIONS = {"street": "街路", "batch": "马路市场批次", "anchor": "样式说明", "kind": "地点类型"}


def swatch(style: S.Style, geometry: str) -> str:
    """The legend swatch of a class as drawn on screen (points are dots on the page)."""
    if geometry == "point":
        style = replace(style, marker="circle")
    return S.legend_svg(style, geometry)


def place_style(
    kind: str, tags: list[str], batch: int | None, gclass: str, named: bool = True
) -> tuple[dict[str, Any], list[tuple[str, str, str, str]]]:
    """Leaflet style of a class of places and its legend entry.

    Places the plan names are styled by :func:`geo.publish.style.style_for_place` (streets by
    category, markets by batch, anchors grey); places of a kind a rule targets by kind, as the
    printed map draws them.
    """
    st = S.style_for_place(kind, tags, batch) if named else S.style_for_kind(kind)
    geometry = _GEOMETRY[gclass]
    section = _SECTIONS.get(st.key.split(":", 1)[0], "地点类型")
    # One legend entry per class, drawn as the class mostly is (a 示范区 is an area).
    entry = (section, st.key, swatch(st, st.geometry), st.label)
    return S.to_leaflet(st, geometry), [entry]


def zone_style(rule, rules) -> tuple[dict[str, Any], str, bool]:
    """Style of a buffer rule's zones, its swatch and whether it is the outer of two rings."""
    st = S.zone_styles(rules)[rule.id]
    return S.to_leaflet(st, "area"), swatch(st, "area"), st.key.endswith(":outer")


def spacing_style() -> tuple[dict[str, Any], str]:
    """Style of streets governed by a spacing rule, and its swatch."""
    return S.to_leaflet(S.SPACING, "line"), swatch(S.SPACING, "line")


def boundary_style(offline: bool) -> tuple[dict[str, Any], str]:
    """Style of the region's boundary and its swatch; with no basemap the region is filled
    with the paper tint so that the map has a ground."""
    out = S.to_leaflet(S.BOUNDARY, "line")
    out.update(fill=offline, fillColor="#fcfcf8", fillOpacity=1.0 if offline else 0, interactive=False)
    return out, swatch(S.BOUNDARY, "line")
