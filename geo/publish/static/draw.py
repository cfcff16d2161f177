"""Drawing a plan's layers on the printed map, every class in its :mod:`geo.publish.style`.

Geometry goes to matplotlib collections directly (one collection per class and geometry type)
rather than through ``GeoSeries.plot``: fewer artists, no redraw per layer, and each artist
carries the class's style key as its ``gid``, so a test can find the artist of a class and
compare its colour with the style table. What was drawn is recorded for the legend
(:class:`.legend.Entry`) and for label placement (:class:`.labels.LabelJob`, markers and
obstacles).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.path import Path as MplPath
from shapely.geometry.base import BaseGeometry

from ...layers import split
from ...plan import PLACE_KINDS
from .. import style as S
from ._text import INK, MUTED, cn_batch
from .labels import LabelJob
from .legend import Entry

if TYPE_CHECKING:
    import geopandas as gpd

    from ...build import PlanData

#: Drawing order of street categories (most important on top) and their z.
_STREET_Z = {
    "anchor": 10,
    "plan": 11,
    "背街小巷": 12,
    "主次干道": 13,
    "景观大道": 14,
    "十纵十横": 15,
    "严管街": 16,
}
#: Label priority (lower first) by class head.
_PRIORITY = {"street:严管街": 0, "street:十纵十横": 0, "batch": 1, "street": 1, "kind": 2, "anchor": 4}


@dataclass
class Drawn:
    """What the map shows, for the legend and the labels."""

    entries: list[Entry] = field(default_factory=list)
    labels: list[LabelJob] = field(default_factory=list)
    markers: list[tuple[float, float, float]] = field(default_factory=list)  # x, y (data), radius pt
    obstacles: list[tuple[int, BaseGeometry]] = field(default_factory=list)  # (id(feature), part)

    @property
    def anything(self) -> bool:
        return bool(self.entries)


# ---------------------------------------------------------------------------------------------
# Geometry to artists


def _parts(geoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Polygons, lines and points among the parts of ``geoms`` (multi-geometries exploded)."""
    arr = np.asarray([g for g in geoms if g is not None and not g.is_empty], dtype=object)
    if not len(arr):
        empty = np.empty(0, dtype=object)
        return empty, empty, empty
    parts = shapely.get_parts(arr)
    t = shapely.get_type_id(parts)
    return parts[t == 3], parts[(t == 1) | (t == 2)], parts[t == 0]


def _small(polys, span: float) -> np.ndarray:
    """Which polygons are too small to see at a map ``span`` metres wide (drawn with a marker)."""
    if not len(polys):
        return np.zeros(0, dtype=bool)
    b = shapely.bounds(polys)
    return np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) < span / 80


def geometry_class(geoms, span: float = 0.0) -> str:
    """``area``, ``line`` or ``point``: what most parts of ``geoms`` look like on a map ``span``
    metres wide (a polygon too small to see counts as a point: it is drawn with a marker)."""
    polys, lines, pts = _parts(geoms)
    n_small = int(_small(polys, span).sum())
    counts = {"area": len(polys) - n_small, "line": len(lines), "point": len(pts) + n_small}
    return max(("area", "line", "point"), key=lambda k: counts[k])


def _polygon_path(p) -> MplPath:
    rings = [p.exterior, *p.interiors]
    verts, codes = [], []
    for r in rings:
        xy = np.asarray(r.coords)
        if len(xy) < 3:
            continue
        c = np.full(len(xy), MplPath.LINETO, dtype=MplPath.code_type)
        c[0], c[-1] = MplPath.MOVETO, MplPath.CLOSEPOLY
        verts.append(xy)
        codes.append(c)
    return MplPath(np.concatenate(verts), np.concatenate(codes))


def draw_areas(ax, polys, style: S.Style, z: float, *, fill: bool = True) -> None:
    """Polygons in the style's fill and outline, one collection (``gid`` = style key)."""
    if not len(polys):
        return
    kw = S.to_mpl(style, "area")
    coll = PathCollection(
        # one path per polygon: a loop over polygons (dozens on a plan map), not over vertices
        [_polygon_path(p) for p in polys],
        facecolors=[kw["facecolor"] if fill else "none"],
        edgecolors=[kw["edgecolor"]],
        linewidths=[kw["linewidth"]],
        linestyles=[kw["linestyle"]],
        zorder=z,
        gid=style.key,
    )
    ax.add_collection(coll, autolim=False)


def draw_lines(ax, lines, style: S.Style, z: float) -> None:
    """Lines in the style (over a white casing when the style has one)."""
    if not len(lines):
        return
    segs = [np.asarray(ln.coords) for ln in lines]
    kw = S.to_mpl(style, "line")
    if style.casing:
        ax.add_collection(
            LineCollection(
                segs, colors="white", linewidths=kw["linewidth"] + 1.6, capstyle="round", zorder=z - 0.01
            ),
            autolim=False,
        )
    ax.add_collection(
        LineCollection(
            segs,
            colors=[kw["color"]],
            linewidths=[kw["linewidth"]],
            linestyles=[kw["linestyle"]],
            alpha=kw["alpha"],
            capstyle=style.cap if style.cap == "round" else "butt",
            zorder=z,
            gid=style.key,
        ),
        autolim=False,
    )


def draw_points(ax, pts, style: S.Style, z: float, *, hollow: bool = False, scale: float = 1.0) -> None:
    """Markers in the style (white inside with a coloured edge when ``hollow``)."""
    if not len(pts):
        return
    draw_markers(ax, shapely.get_coordinates(pts), style, z, hollow=hollow, scale=scale)


def draw_markers(
    ax, xy: np.ndarray, style: S.Style, z: float, *, hollow: bool = False, scale: float = 1.0
) -> None:
    """:func:`draw_points` for coordinates (an ``(n, 2)`` array, metric): one scatter."""
    kw = S.to_mpl(style, "point")
    ax.scatter(
        xy[:, 0],
        xy[:, 1],
        marker=kw["marker"],
        s=kw["s"] * scale,
        facecolor="white" if hollow else kw["facecolor"],
        edgecolor=kw["facecolor"] if hollow else kw["edgecolor"],
        linewidths=1.0 if hollow else kw["linewidths"],
        zorder=z,
        gid=style.key,
    )


def _marker_radius(style: S.Style, scale: float = 1.0) -> float:
    return (S.to_mpl(style, "point")["s"] * scale) ** 0.5 / 2


def draw_class(ax, geoms, style: S.Style, z: float, out: Drawn, *, span: float, hollow: bool = False) -> None:
    """Every geometry type of one class; polygons too small to see at the map's scale get a
    marker on top. Records markers and obstacles in ``out``."""
    polys, lines, pts = _parts(geoms)
    draw_areas(ax, polys, style, z)
    draw_lines(ax, lines, style, z + 0.05)
    small = polys[_small(polys, span)]
    reps = np.concatenate([pts, shapely.point_on_surface(small)]) if len(small) else pts
    draw_points(ax, reps, style, z + 0.1, hollow=hollow)
    r = _marker_radius(style)
    out.markers.extend((float(x), float(y), r) for x, y in shapely.get_coordinates(reps))
    for g in geoms:  # which feature each drawn line belongs to, so its own label may cross it
        if g is None or g.is_empty:
            continue
        gp, gl, _ = _parts([g])
        out.obstacles.extend((id(g), part) for part in gl)
        out.obstacles.extend((id(g), p.exterior) for p in gp)


# ---------------------------------------------------------------------------------------------
# Layers


def draw_region(ax, boundary: BaseGeometry, *, tiles: bool, paper: str) -> None:
    """The governed region: paper inside (unless tiles are under it), dash-dot outline."""
    if boundary is None or boundary.is_empty:
        return
    polys, _, _ = _parts([boundary])
    if not tiles:
        ax.add_collection(
            PathCollection(
                [_polygon_path(p) for p in polys], facecolors=[paper], edgecolors="none", zorder=1
            ),
            autolim=False,
        )
    rings = [r for p in polys for r in (p.exterior, *p.interiors)]
    draw_lines(ax, rings, S.BOUNDARY, 2)


def draw_zones(ax, data: PlanData, dissolved: gpd.GeoDataFrame, out: Drawn) -> None:
    """One dissolved zone per buffer rule, the largest distance underneath."""
    if not len(dissolved):
        return
    styles = S.zone_styles(data.plan.rules)
    rules = {r.id: r for r in data.plan.rules}
    order = dissolved.sort_values(["distance_m", "rule_id"], ascending=[False, True], kind="stable")
    for i, (rid, geom) in enumerate(zip(order["rule_id"], order.geometry, strict=True)):
        st = styles.get(rid) or S.style_for_zone(i)
        polys, _, _ = _parts([geom])
        draw_areas(ax, polys, st, 3 + i * 0.01)
    # legend in plan order, inner ring before outer as the plan lists them
    counts = dict(zip(dissolved["rule_id"], dissolved.get("n_places", [None] * len(dissolved)), strict=True))
    for rid, st in styles.items():
        if rid not in counts:
            continue
        n = counts[rid]
        cnt = f"（{int(n)} 处）" if n is not None and not _isna(n) else ""
        out.entries.append(Entry("规则区域", st, "area", f"{st.label}{cnt}", rules[rid].restriction))


def _isna(v: Any) -> bool:
    try:
        return v is None or bool(np.isnan(v))
    except TypeError:
        return False


def draw_spacing(ax, data: PlanData, spacing: gpd.GeoDataFrame, out: Drawn) -> None:
    """Streets under spacing rules (公益广告 every 100 m …): amber dots."""
    if not len(spacing):
        return
    rules = {r.id: r for r in data.plan.rules}
    for rid in sorted(set(spacing["rule_id"])):
        grp = spacing[spacing["rule_id"] == rid]
        _, lines, _ = _parts(grp.geometry)
        draw_lines(ax, lines, S.SPACING, 6)
        out.obstacles.extend((0, ln) for ln in lines)
        r = rules.get(rid)
        d = float(grp["distance_m"].iloc[0])
        what = r.applies_to.label if r else "路段"
        out.entries.append(
            Entry(
                "道路",
                S.SPACING,
                "line",
                f"{what}：每 {d:g} 米至少 1 处（{len(grp)} 段）",
                r.restriction if r else "",
            )
        )


def draw_kind_places(ax, kind_places: gpd.GeoDataFrame, out: Drawn, span: float) -> None:
    """Places of the kinds a rule targets that the plan does not name: hollow markers."""
    if not len(kind_places):
        return
    for kind in sorted(set(kind_places["kind"])):
        grp = kind_places[kind_places["kind"] == kind]
        st = S.style_for_kind(kind)
        draw_class(ax, grp.geometry, st, 7, out, span=span, hollow=True)
        geom = geometry_class(grp.geometry, span)
        out.entries.append(
            Entry(
                "规则所及的其他地点",
                st,
                geom,
                f"{PLACE_KINDS.get(kind, kind)}（{len(grp)} 处，方案未点名）",
                hollow=geom == "point",
            )
        )


def place_keys(places: gpd.GeoDataFrame) -> list[str]:
    """The style key of each named place (see :func:`geo.publish.style.place_key`)."""
    if not len(places):
        return []
    tags = places["tags"] if "tags" in places else [""] * len(places)
    batch = places["batch"] if "batch" in places else [None] * len(places)
    return [S.place_key(k, split(t), b) for k, t, b in zip(places["kind"], tags, batch, strict=True)]


def draw_places(ax, data: PlanData, places: gpd.GeoDataFrame, out: Drawn, span: float) -> None:
    """The plan's named places: streets by category, then places by kind, anchors, and 马路市场
    batches on top; a label job for each."""
    if not len(places):
        return
    keys = np.asarray(place_keys(places), dtype=object)
    present = set(keys)

    def rows(key: str):
        return places[keys == key]

    def labels(grp, style: S.Style, colour: str, size: float, prio: int, kind: str) -> None:
        for name, geom in zip(grp["name"], grp.geometry, strict=True):
            out.labels.append(LabelJob(prio, name, geom, kind, colour, size, _marker_radius(style) + 1.0))

    cats = sorted((k for k in present if k.startswith("street:")), key=lambda k: _STREET_Z.get(k[7:], 11))
    for key in cats:
        grp, st = rows(key), S.style_for(key)
        draw_class(ax, grp.geometry, st, _STREET_Z.get(key[7:], 11), out, span=span)
        anchor = key == "street:anchor"
        labels(
            grp,
            st,
            MUTED if anchor else INK,
            6.0 if anchor else 7.2,
            4 if anchor else _PRIORITY.get(key, 1),
            "street",
        )
        out.entries.append(Entry("道路", st, "line", f"{st.label}（{len(grp)} 条）"))
    for key in sorted(k for k in present if k.startswith("kind:")):
        grp, st = rows(key), S.style_for(key)
        draw_class(ax, grp.geometry, st, 17, out, span=span)
        labels(grp, st, INK, 6.8, 2, "place")
        out.entries.append(
            Entry("方案点名地点", st, geometry_class(grp.geometry, span), f"{st.label}（{len(grp)} 处）")
        )
    if "anchor" in present:
        grp = rows("anchor")
        draw_class(ax, grp.geometry, S.ANCHOR, 14, out, span=span)
        labels(grp, S.ANCHOR, MUTED, 6.0, 4, "place")
        out.entries.append(Entry("方案点名地点", S.ANCHOR, "point", f"参照地物（定位用，{len(grp)} 处）"))
    batches = sorted((k for k in present if k.startswith("batch:")), key=lambda k: int(k[6:]))
    for key in batches:
        grp, st = rows(key), S.style_for(key)
        b = int(key[6:])
        draw_class(ax, grp.geometry, st, 20 + b * 0.1, out, span=span)
        labels(grp, st, st.colour, 7.0, 1, "place")
        phases = sorted({p for v in grp["phase_id"].dropna() for p in split(v)})
        known = {ph.id: ph.name for ph in data.plan.phases}
        names = [known[p] for p in phases if p in known]
        out.entries.append(
            Entry(
                "马路市场",
                st,
                geometry_class(grp.geometry, span),
                f"{cn_batch(b)}（{len(grp)} 处）",
                "、".join(names),
            )
        )
