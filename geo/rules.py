"""Distance rules → zone layers.

Every ``buffer`` rule of a plan creates, for every place it applies to, the zone within
``distance_m`` of that place: points become circles, streets corridors, areas grow outward.
Zones are computed in the region's metric CRS (CGCS2000 Gauss-Krüger) and stored in WGS84.

A rule that names kinds (中小学校, 医院, 农贸市场 …) applies to every place of those kinds inside
the plan's region, from every source (the user's gazetteer, OSM, the bundled schematic), not only
to the places the plan names; a rule that names places applies to those places.

``spacing`` rules (one 公益广告 every 100 m) create no zone; :func:`spacing_streets` gives the
streets they govern, and :mod:`geo.analysis` checks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import union_all
from shapely.geometry.base import BaseGeometry

from ._proj import to_crs
from .layers import join, make_layer, split
from .plan import Plan, Rule

#: Segments per quarter circle: a 200 m circle's area is then within 0.2% of π·r².
QUAD_SEGS = 16

#: OSM road classes a plan's 主次干道 (main and secondary roads) covers.
MAIN_ROADS = ("motorway", "trunk", "primary", "secondary")

ZONE_COLUMNS = [
    "rule_id",
    "rule_type",
    "place_id",
    "place_name",
    "place_kind",
    "distance_m",
    "metric",
    "restriction",
    "clause",
    "lead",
    "phase_dates",
    "phase_names",
    "doc_number",
    "label",
]


def phase_dates(plan: Plan, phase_ids: Sequence[str]) -> str:
    """``start/end`` per phase, ``;``-joined in the order of ``phase_ids`` (open end: ``start/``;
    a phase with only a deadline: ``/end``)."""
    out = []
    for pid in phase_ids:
        p = plan.phase(pid)
        out.append(f"{p.start.isoformat() if p.start else ''}/{p.end.isoformat() if p.end else ''}")
    return join(out)


def in_force(phase_dates_field: str, date) -> bool:
    """Whether any ``start/end`` interval of a ``phase_dates`` field covers ``date``."""
    d = date.isoformat() if hasattr(date, "isoformat") else str(date)
    for iv in split(phase_dates_field):
        start, _, end = iv.partition("/")
        if start <= d and (not end or d <= end):
            return True
    return False


def rule_places(
    plan: Plan,
    rule: Rule,
    places: gpd.GeoDataFrame,
    pois: gpd.GeoDataFrame | None,
    boundary: BaseGeometry | None = None,
) -> gpd.GeoDataFrame:
    """The places a rule applies to.

    Parameters
    ----------
    plan, rule
        The rule and its plan.
    places : GeoDataFrame
        The plan's resolved places (:func:`geo.resolve.resolve_plan`).
    pois : GeoDataFrame or None
        Every place every source holds (``Sources.pois``), standard columns, WGS84.
    boundary : shapely geometry, optional
        The plan's region (WGS84): kind rules reach only places inside it.

    Returns
    -------
    GeoDataFrame
        Standard columns; plan places first, then other places of the rule's kinds that are not
        already among them (same source element).
    """
    at = rule.applies_to
    frames = []
    if at.places:
        ids = {f"{plan.id}.{p}" for p in at.places}
        frames.append(places[places["id"].isin(ids)])
    if at.kinds:
        named = places[places["matched_by"] != "locator"]  # a 路段 of a market is not the market
        named = _applies(named, rule)
        frames.append(named)
        if pois is not None and len(pois):
            extra = _applies(pois, rule)
            if boundary is not None:
                extra = extra[extra.intersects(boundary)]
            seen = {r for refs in named["source_ref"].dropna() for r in str(refs).split(";")}
            extra = extra[~extra["source_ref"].isin(seen)]
            frames.append(extra)
    frames = [f for f in frames if len(f)]
    if not frames:
        return places.iloc[0:0]
    out = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(out.drop_duplicates("id"), geometry="geometry", crs=places.crs or "EPSG:4326")


def _with_tags(df: gpd.GeoDataFrame, tags: Sequence[str]) -> gpd.GeoDataFrame:
    """Keep rows carrying one of ``tags`` (see :func:`carries_tags`)."""
    if not tags or not len(df):
        return df
    return df[carries_tags(df, [list(tags)] * len(df))]


def carries_tags(df: pd.DataFrame, wanted: Sequence[Sequence[str]]) -> list[bool]:
    """Whether each row carries one of its ``wanted`` tags (an empty list: no restriction).

    A row carries a tag when its source says so — the plan's ``tags``, a gazetteer's ``tags``
    column, OSM ``chengguan:tags`` (all in the ``tags`` column) — when its name contains the
    tag's words (东关农贸市场 is a 农贸市场), or, for 主次干道, when its OSM road class is a main
    or secondary road. Nothing else: a 菜市场 is not taken for a 农贸市场.
    """
    n = len(df)
    tags = df["tags"].tolist() if "tags" in df else [None] * n
    names = df["name"].tolist() if "name" in df else [None] * n
    hws = df["highway"].tolist() if "highway" in df else [None] * n
    keep = []
    for want, tg, name, hw in zip(wanted, tags, names, hws, strict=True):
        if not want:
            keep.append(True)
            continue
        have = set(split(tg))
        if isinstance(hw, str) and hw in MAIN_ROADS:
            have.add("主次干道")
        nm = name if isinstance(name, str) else ""
        keep.append(any(t in have or t in nm for t in want))
    return keep


def _applies(df: gpd.GeoDataFrame, rule: Rule) -> gpd.GeoDataFrame:
    """Rows of the rule's kinds that carry the tags the rule asks of their kind."""
    at = rule.applies_to
    df = df[df["kind"].isin(at.kinds)]
    if not len(df) or not (at.tags or at.kind_tags):
        return df
    return df[carries_tags(df, [at.tags_for(k) for k in df["kind"]])]


def _zone_geometry(geom_m: BaseGeometry, distance: float) -> BaseGeometry:
    return geom_m.buffer(distance, quad_segs=QUAD_SEGS)


def network_zone(graph, geom_m: BaseGeometry, distance: float, width_m: float = 25.0) -> BaseGeometry:
    """The streets reachable within ``distance`` metres along a projected osmnx ``graph`` from the
    place, as a corridor ``width_m`` wide (the ground a walker covers), plus the place itself.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        A walking network projected to the same metric CRS as ``geom_m``.
    """
    import networkx as nx
    from shapely.geometry import LineString
    from shapely.ops import substring

    g = graph.to_undirected()

    def edge_line(u, v, data) -> LineString:
        line = data.get("geometry") or LineString(
            [(g.nodes[u]["x"], g.nodes[u]["y"]), (g.nodes[v]["x"], g.nodes[v]["y"])]
        )
        if not _same_point(line.coords[0], (g.nodes[u]["x"], g.nodes[u]["y"])):
            line = LineString(list(line.coords)[::-1])  # orient u → v
        return line

    # Enter the network where the place is closest to a street, not at the nearest crossing:
    # a virtual source node joins both ends of that street segment at their distance along it.
    best = min(g.edges(keys=True, data=True), key=lambda e: edge_line(e[0], e[1], e[3]).distance(geom_m))
    u0, v0, _, d0 = best
    line0 = edge_line(u0, v0, d0)
    gap = line0.distance(geom_m)
    at = line0.project(geom_m.centroid)
    src = ("__place__",)
    g.add_edge(src, u0, length=gap + at)
    g.add_edge(src, v0, length=gap + line0.length - at)
    dist = nx.single_source_dijkstra_path_length(g, src, cutoff=distance, weight="length")
    g.remove_node(src)
    entry = substring(line0, max(at - (distance - gap), 0), min(at + (distance - gap), line0.length))
    pieces = [geom_m] + ([entry] if gap < distance else [])
    for u, v, data in g.edges(data=True):
        du, dv = dist.get(u), dist.get(v)
        if du is None and dv is None:
            continue
        line = edge_line(u, v, data)
        length = line.length
        if du is not None and dv is not None and du + length <= distance and dv + length <= distance:
            pieces.append(line)
            continue
        if du is not None:
            pieces.append(substring(line, 0, min(distance - du, length)))
        if dv is not None:
            pieces.append(substring(line, max(length - (distance - dv), 0), length))
    return union_all([p.buffer(width_m / 2, quad_segs=4) for p in pieces])


def _same_point(a, b, tol: float = 0.01) -> bool:
    return abs(a[0] - b[0]) <= tol and abs(a[1] - b[1]) <= tol


def build_zones(
    plan: Plan,
    places: gpd.GeoDataFrame,
    pois: gpd.GeoDataFrame | None,
    epsg: int,
    *,
    boundary: BaseGeometry | None = None,
    network=None,
) -> gpd.GeoDataFrame:
    """The zones every buffer rule of ``plan`` creates.

    Parameters
    ----------
    plan : Plan
    places : GeoDataFrame
        The plan's resolved places.
    pois : GeoDataFrame or None
        All places the sources hold (for kind rules).
    epsg : int
        The metric CRS (Gauss-Krüger) to buffer in.
    boundary : shapely geometry, optional
        The region (WGS84) kind rules are limited to.
    network : networkx graph, optional
        Projected walking network for rules with ``metric: network``; such rules need it.

    Returns
    -------
    GeoDataFrame
        One zone per (rule, place), WGS84, standard columns (``name`` is the place's name,
        ``kind`` is ``zone``, ``units`` the responsible units, ``phase_id`` the rule's phases) and
        :data:`ZONE_COLUMNS`; provenance columns are those of the place the zone was drawn from.
        Sorted by rule then place id, so ids and order are stable.
    """
    # Column-wise per rule (a kind rule may target 100,000 places): buffers in one shapely call.
    frames, geoms = [], []
    for rule in plan.rules:
        if rule.type != "buffer":
            continue
        targets = rule_places(plan, rule, places, pois, boundary)
        if not len(targets):
            continue
        metric_geoms = to_crs(targets.geometry, epsg).values
        if rule.metric == "network":
            if network is None:
                raise ValueError(f"rule {rule.id} is measured along the network; pass network=")
            zone = [network_zone(network, gm, rule.distance_m) for gm in metric_geoms]
        else:
            zone = list(shapely.buffer(np.asarray(metric_geoms), rule.distance_m, quad_segs=QUAD_SEGS))
        t = targets.reset_index(drop=True)
        name = t["name"].astype(object)
        name = name.where(name.map(type) == str, "").tolist()  # noqa: E721 - names not text are blank
        n = len(t)

        def same(value, n=n):
            return [value] * n

        frames.append(
            pd.DataFrame(
                {
                    "id": (f"{plan.id}.{rule.id}." + t["id"].astype(str)).tolist(),
                    "name": name,
                    "kind": same("zone"),
                    "plan_id": same(plan.id),
                    "phase_id": same(join(rule.phases)),
                    "batch": t["batch"].tolist() if "batch" in t else same(pd.NA),
                    "units": same(join(plan.unit_names(rule.units))),
                    "source": t["source"].tolist(),
                    "source_ref": t["source_ref"].tolist(),
                    "accuracy_m": t["accuracy_m"].tolist(),
                    "matched_by": t["matched_by"].tolist(),
                    "rule_id": same(rule.id),
                    "rule_type": same(rule.type),
                    "place_id": t["id"].tolist(),
                    "place_name": name,
                    "place_kind": t["kind"].tolist(),
                    "distance_m": same(float(rule.distance_m)),
                    "metric": same(rule.metric),
                    "restriction": same(rule.restriction),
                    "clause": same(rule.clause),
                    "lead": same(join(plan.unit_names(rule.lead))),
                    "phase_dates": same(phase_dates(plan, rule.phases)),
                    "phase_names": same(join(plan.phase(p).name for p in rule.phases)),
                    "doc_number": same(plan.document.doc_number),
                    "label": same(rule.applies_to.label),
                }
            )
        )
        geoms.extend(zone)
    if not frames:
        return make_layer([], geometry=[], extra=ZONE_COLUMNS)
    wgs = to_crs(gpd.GeoSeries(geoms, crs=epsg), 4326)
    layer = make_layer(pd.concat(frames, ignore_index=True), geometry=list(wgs), extra=ZONE_COLUMNS)
    return layer.sort_values(["rule_id", "place_id"], kind="stable").reset_index(drop=True)


def dissolve_zones(zones: gpd.GeoDataFrame, epsg: int) -> gpd.GeoDataFrame:
    """One feature per rule: the union of its zones (unioned in the metric CRS)."""
    if not len(zones):
        return zones.iloc[0:0]
    recs, geoms = [], []
    for rule_id, grp in zones.groupby("rule_id", sort=True):
        first = grp.iloc[0]
        geoms.append(union_all(list(to_crs(grp.geometry, epsg))))
        rec = {c: first[c] for c in zones.columns if c != "geometry"}
        rec.update(
            id=f"{first['plan_id']}.{rule_id}",
            name=first["label"],
            place_id="",
            place_name="",
            source=join(sorted(set(grp["source"].dropna()))),
            source_ref="",
            accuracy_m=grp["accuracy_m"].max(),
            matched_by="",
            n_places=len(grp),
        )
        recs.append(rec)
    wgs = to_crs(gpd.GeoSeries(geoms, crs=epsg), 4326)
    return make_layer(recs, geometry=list(wgs), extra=[*ZONE_COLUMNS, "n_places"])


def outside_region(
    plan: Plan,
    pois: gpd.GeoDataFrame | None,
    boundary: BaseGeometry | None,
    epsg: int,
    region_name: str = "",
) -> pd.DataFrame:
    """The user's places a kind rule would reach but for lying outside the plan's region.

    Kind rules draw zones only inside the region; a gazetteer row outside it is not dropped in
    silence but listed here, with its distance to the boundary in metres (measured in ``epsg``),
    in the columns of the unresolved report. OSM and schematic features outside the region are
    not listed: an extract covers more than the region by nature.

    Returns
    -------
    DataFrame
        ``plan, place_id, name, reason, candidates`` (``place_id`` is the gazetteer file:row),
        one row per place, in file order.
    """
    cols = ["plan", "place_id", "name", "reason", "candidates"]
    if pois is None or not len(pois) or boundary is None:
        return pd.DataFrame(columns=cols)
    own = pois[pois["source"] == "gazetteer"]
    rules_of: dict[str, list[str]] = {}
    for rule in plan.rules:
        if rule.type != "buffer" or not rule.applies_to.kinds or not len(own):
            continue
        hit = _applies(own, rule)
        hit = hit[~hit.intersects(boundary)]
        for ref in hit["source_ref"]:
            rules_of.setdefault(str(ref), []).append(rule.id)
    if not rules_of:
        return pd.DataFrame(columns=cols)
    out = own[own["source_ref"].astype(str).isin(rules_of)].drop_duplicates("source_ref")
    edge = to_crs(gpd.GeoSeries([boundary.boundary], crs="EPSG:4326"), epsg).iloc[0]
    dist = to_crs(out.geometry, epsg).distance(edge)
    where = f"the region {region_name}" if region_name else "the plan's region"
    recs = [
        {
            "plan": plan.id,
            "place_id": ref,
            "name": name,
            "reason": f"outside {where}, {d:.0f} m from its boundary; rule {', '.join(rules_of[str(ref)])} "
            "not applied to it",
            "candidates": "",
        }
        for ref, name, d in zip(out["source_ref"], out["name"], dist, strict=True)
    ]
    return pd.DataFrame(recs, columns=cols)


def spacing_streets(
    plan: Plan,
    places: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | None,
    boundary: BaseGeometry | None = None,
) -> gpd.GeoDataFrame:
    """Streets each spacing rule governs (e.g. 主次干道 and 商业大街 for the 100 m 公益广告 rule).

    ``streets`` are the merged streets of the sources, with a ``highway`` and a ``tags`` column.
    """
    frames = []
    for rule in plan.rules:
        if rule.type != "spacing":
            continue
        cand = streets if streets is not None else places.iloc[0:0]
        if boundary is not None and len(cand):
            cand = cand[cand.intersects(boundary)]
        sel = _with_tags(cand, rule.applies_to.tags) if rule.applies_to.tags else cand
        sel = sel.copy()
        sel["rule_id"] = rule.id
        sel["distance_m"] = float(rule.distance_m)
        frames.append(sel)
    if not frames:
        return make_layer([], geometry=[], extra=["rule_id", "distance_m"])
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs="EPSG:4326")


def load_network(osm_files: Sequence[str | Path], epsg: int):
    """A walking network from OSM extracts, projected to ``epsg`` (for ``metric: network``)."""
    import networkx as nx
    import osmnx as ox

    graphs = [ox.graph_from_xml(str(f), simplify=True, retain_all=True) for f in osm_files]
    g = nx.compose_all(graphs) if len(graphs) > 1 else graphs[0]
    return ox.project_graph(g, to_crs=f"EPSG:{epsg}")
