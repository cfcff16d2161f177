"""Responsibility analysis of built plans: coverage, overlaps, gaps, ad spacing, targets.

Definitions (the words the reports use)
---------------------------------------
unit set of a rule
    The names of its lead (牵头) and responsible (责任) units together.
overlap
    Ground covered by the zones of two rules whose unit sets differ — so two different teams
    answer for the same spot. Rules with the same unit set (晋城's 100 m and 500 m 示范区 rings,
    both 区生态环境分局 + 各镇（街道）) do not overlap in this sense: one team holds both. Rules
    naming no unit are *gaps*, not overlaps. Each pair of rules is one row, with the area (m²)
    measured in the plan's metric CRS; several plans of one region can be compared together.
gap
    ``rule_without_unit``: a rule naming neither a lead nor a responsible unit.
    ``rule_without_places``: a buffer rule that found nothing to draw a zone around.
    ``place_outside_zones``: a place of a kind some buffer rule targets (from the plan or from
    the sources) that got no zone of its own and lies outside every zone of that rule — e.g. a
    school just outside the region whose zone would still reach into it (reported when it lies
    within the rule's distance of the region), or a place the rule's tags leave out.
    ``unresolved``: a plan place that a rule targets (by kind or by name) but that could not be
    placed, so no zone exists for it.
spacing compliance
    Along each street, the positions of the ads snapped to it and the street's two ends cut it
    into stretches; a stretch longer than the spacing (100 m: 每隔 100 米至少有 1 处) is a gap as
    a whole. Compliance is the share of the street's length not in gaps.

Metric work (lengths, areas, distances) happens in the plan's CGCS2000 Gauss-Krüger CRS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import union_all
from shapely.geometry.base import BaseGeometry
from shapely.ops import substring

from .build import PlanData
from .layers import join, make_layer, split
from .plan import Plan

__all__ = [
    "COVERAGE_COLUMNS",
    "GAP_COLUMNS",
    "OVERLAP_COLUMNS",
    "coverage",
    "coverage_layers",
    "gaps",
    "overlaps",
    "spacing_check",
    "target_table",
]

LEAD = "牵头"
RESPONSIBLE = "责任"

COVERAGE_COLUMNS = [
    "plan_id",
    "unit_id",
    "unit",
    "role",
    "n_tasks",
    "task_ids",
    "n_rules",
    "rule_ids",
    "streets",
    "street_km",
    "n_places",
    "zone_area_km2",
    "schematic",
]
OVERLAP_COLUMNS = [
    "plan_a",
    "rule_a",
    "units_a",
    "plan_b",
    "rule_b",
    "units_b",
    "only_a",
    "only_b",
    "shared",
    "area_m2",
]
GAP_COLUMNS = [
    "plan_id",
    "gap",
    "rule_id",
    "place_id",
    "name",
    "kind",
    "detail",
    "distance_to_region_m",
]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _datas(data: PlanData | Sequence[PlanData]) -> list[PlanData]:
    return [data] if isinstance(data, PlanData) else list(data)


def _rule_units(plan: Plan, rule) -> list[str]:
    """Names of a rule's lead and responsible units, lead first, without repeats."""
    names = plan.unit_names(rule.lead) + plan.unit_names(rule.units)
    return list(dict.fromkeys(names))


def _metric_union(geoms: Sequence[BaseGeometry], epsg: int) -> BaseGeometry | None:
    geoms = [g for g in geoms if g is not None and not g.is_empty]
    if not geoms:
        return None
    return union_all(list(gpd.GeoSeries(geoms, crs=4326).to_crs(epsg)))


def _rule_zones_metric(data: PlanData) -> dict[str, BaseGeometry]:
    """Each buffer rule's zones, unioned in the metric CRS."""
    out: dict[str, BaseGeometry] = {}
    if not len(data.zones):
        return out
    metric = data.zones.to_crs(data.epsg)
    for rule_id, grp in metric.groupby("rule_id", sort=False):
        out[str(rule_id)] = union_all(list(grp.geometry))
    return out


def _zone_union(
    rule_zones: dict[str, BaseGeometry], rule_ids: Sequence[str], memo: dict[tuple[str, ...], BaseGeometry]
) -> BaseGeometry | None:
    """Union of the zones of ``rule_ids`` (metric), computed once per list of rules.

    Units of a plan mostly name the same rules (five units sharing the school and market rules):
    at 10,000 schools each union costs about a second. The key keeps the rules' order, so the
    union is the one each unit would get on its own, to the byte.
    """
    key = tuple(r for r in rule_ids if r in rule_zones)
    if not key:
        return None
    if key not in memo:
        memo[key] = union_all([rule_zones[r] for r in key])
    return memo[key]


def _to_wgs(geom: BaseGeometry | None, epsg: int) -> BaseGeometry | None:
    if geom is None or geom.is_empty:
        return None
    return gpd.GeoSeries([geom], crs=epsg).to_crs(4326).iloc[0]


def _street_label(row: pd.Series) -> str:
    name = row.get("name")
    if isinstance(name, str) and name:
        return name
    return f"(未命名 {row.get('id')})"


# --------------------------------------------------------------------------------------------
# Coverage
# --------------------------------------------------------------------------------------------


def _unit_links(data: PlanData) -> dict[str, dict[str, Any]]:
    """Per unit id: roles, tasks, rules, plan places, zone places, streets (metric geometry)."""
    plan = data.plan
    links: dict[str, dict[str, Any]] = {
        u.id: {"roles": set(), "tasks": [], "rules": [], "places": set(), "streets": {}} for u in plan.units
    }
    places = data.places.set_index("id") if len(data.places) else None
    kinds = {p.id: p.kind for p in plan.places}
    metric_places = (
        dict(zip(data.places["id"], data.places.to_crs(data.epsg).geometry, strict=True))
        if len(data.places)
        else {}
    )

    def add_place(link: dict, place_id: str) -> None:
        link["places"].add(f"{plan.id}.{place_id}")
        full = f"{plan.id}.{place_id}"
        if kinds.get(place_id) == "street" and full in metric_places:
            label = _street_label(places.loc[full]) if places is not None else place_id
            link["streets"][full] = (label, metric_places[full])

    for t in plan.tasks:
        for uid, role in [(u, LEAD) for u in t.lead] + [(u, RESPONSIBLE) for u in t.units]:
            link = links[uid]
            link["roles"].add(role)
            if t.id not in link["tasks"]:
                link["tasks"].append(t.id)
            for pid in t.places:
                add_place(link, pid)

    spacing = data.spacing.to_crs(data.epsg) if len(data.spacing) else None
    zones_by_rule = data.zones.groupby("rule_id")["place_id"].apply(set).to_dict() if len(data.zones) else {}
    for r in plan.rules:
        for uid, role in [(u, LEAD) for u in r.lead] + [(u, RESPONSIBLE) for u in r.units]:
            link = links[uid]
            link["roles"].add(role)
            if r.id not in link["rules"]:
                link["rules"].append(r.id)
            for pid in r.applies_to.places:
                add_place(link, pid)
            link["places"].update(zones_by_rule.get(r.id, set()))
            if spacing is not None and r.type == "spacing":
                for _, s in spacing[spacing["rule_id"] == r.id].iterrows():
                    link["streets"][str(s["id"])] = (_street_label(s), s.geometry)
                    link["places"].add(str(s["id"]))
    return links


def coverage(data: PlanData) -> pd.DataFrame:
    """What each unit of a plan answers for.

    Parameters
    ----------
    data : PlanData
        A built plan (:func:`geo.build.build_plan`).

    Returns
    -------
    DataFrame
        One row per unit of the plan that some task, rule or place names (in the plan's order;
        a unit the plan lists but gives nothing to is not a row), columns
        :data:`COVERAGE_COLUMNS`:

        ``role``
            ``牵头`` (lead), ``责任`` (responsible), both ``牵头;责任``, or empty for a unit the
            plan lists but names in no task or rule.
        ``n_tasks``, ``task_ids``
            Tasks naming the unit (lead or responsible).
        ``n_rules``, ``rule_ids``
            Rules naming the unit.
        ``streets``, ``street_km``
            Streets it answers for: plan places of kind ``street`` in its tasks' and rules'
            places, and the streets its spacing rules govern; length of their union (metric CRS).
        ``n_places``
            Distinct places it answers for: the places of its tasks and rules, every place its
            kind rules drew a zone around, and its spacing streets.
        ``zone_area_km2``
            Area of the union of the zones of the rules naming it (metric CRS).
        ``schematic``
            ``示意`` when its places, streets or zones (so its counts, km and km²) come from the
            bundled schematic extract, not from surveyed geometry; empty otherwise.
    """
    return _coverage_table(data, _unit_links(data), _rule_zones_metric(data), {})


def _coverage_table(
    data: PlanData,
    links: dict[str, dict[str, Any]],
    rule_zones: dict[str, BaseGeometry],
    unions: dict[tuple[str, ...], BaseGeometry],
) -> pd.DataFrame:
    plan = data.plan
    schematic_ids, schematic_rules = _schematic_sources(data)
    rows = []
    for u in plan.units:
        link = links[u.id]
        if not (link["tasks"] or link["rules"] or link["places"]):
            continue  # listed by the plan, given nothing: not a row of what units answer for
        schematic = bool(link["places"] & schematic_ids) or any(r in schematic_rules for r in link["rules"])
        role = join(r for r in (LEAD, RESPONSIBLE) if r in link["roles"])
        streets = link["streets"]
        union = union_all([g for _, g in streets.values()]) if streets else None
        zone_union = _zone_union(rule_zones, link["rules"], unions)
        rows.append(
            {
                "plan_id": plan.id,
                "unit_id": u.id,
                "unit": u.name,
                "role": role,
                "n_tasks": len(link["tasks"]),
                "task_ids": join(link["tasks"]),
                "n_rules": len(link["rules"]),
                "rule_ids": join(link["rules"]),
                "streets": join(dict.fromkeys(label for label, _ in streets.values())),
                "street_km": round(union.length / 1000, 3) if union is not None else 0.0,
                "n_places": len(link["places"]),
                "zone_area_km2": round(zone_union.area / 1e6, 4) if zone_union is not None else 0.0,
                "schematic": "示意" if schematic else "",
            }
        )
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)


def _schematic_sources(data: PlanData) -> tuple[set[str], set[str]]:
    """Ids of places, kind places and spacing streets, and ids of rules with zones, whose
    geometry comes from the schematic extract."""

    def schematic(df: pd.DataFrame) -> pd.Series:
        if not len(df) or "source" not in df:
            return pd.Series(False, index=df.index)
        return df["source"].fillna("").astype(str).str.contains("schematic", regex=False)

    ids: set[str] = set()
    for df in (data.places, data.kind_places, data.spacing):
        ids.update(df.loc[schematic(df), "id"].astype(str))
    rules = set(data.zones.loc[schematic(data.zones), "rule_id"]) if len(data.zones) else set()
    return ids, rules


def overlaps(data: PlanData | Sequence[PlanData]) -> gpd.GeoDataFrame:
    """Ground covered by zones of two rules whose unit sets differ (see the module docstring).

    Parameters
    ----------
    data : PlanData or sequence of PlanData
        One plan, or several plans of one region to compare with each other (pairs of plans in
        different metric CRSs are not compared).

    Returns
    -------
    GeoDataFrame
        One row per overlapping pair of rules: :data:`OVERLAP_COLUMNS` (``units_*`` every unit of
        the rule, ``only_*`` the units of one rule and not the other, ``shared`` the units of
        both, ``area_m2`` in the metric CRS) and the shared ground as geometry (WGS84).
    """
    rules = []
    for d in _datas(data):
        zones = _rule_zones_metric(d)
        for r in d.plan.rules:
            units = _rule_units(d.plan, r)
            if r.id in zones and units:
                rules.append((d.plan.id, r.id, units, zones[r.id], d.epsg))
    recs, geoms = [], []
    for i, (pa, ra, ua, ga, ea) in enumerate(rules):
        for pb, rb, ub, gb, eb in rules[i + 1 :]:
            if ea != eb or set(ua) == set(ub) or not ga.intersects(gb):
                continue
            shared = ga.intersection(gb)
            if shared.is_empty or shared.area <= 0:
                continue
            recs.append(
                {
                    "plan_a": pa,
                    "rule_a": ra,
                    "units_a": join(ua),
                    "plan_b": pb,
                    "rule_b": rb,
                    "units_b": join(ub),
                    "only_a": join(u for u in ua if u not in ub),
                    "only_b": join(u for u in ub if u not in ua),
                    "shared": join(u for u in ua if u in ub),
                    "area_m2": round(shared.area, 1),
                }
            )
            geoms.append(_to_wgs(shared, ea))
    return gpd.GeoDataFrame(
        pd.DataFrame(recs, columns=OVERLAP_COLUMNS), geometry=geoms or [], crs="EPSG:4326"
    )


def gaps(data: PlanData) -> gpd.GeoDataFrame:
    """Where responsibility is missing (see the module docstring for the four kinds of gap).

    Parameters
    ----------
    data : PlanData

    Returns
    -------
    GeoDataFrame
        :data:`GAP_COLUMNS` and a WGS84 geometry (the rule's zones, or the place; empty where
        nothing can be drawn). ``distance_to_region_m`` is filled for places outside the region.
    """
    plan = data.plan
    epsg = data.epsg
    recs: list[dict[str, Any]] = []
    geoms: list[BaseGeometry | None] = []
    rule_zones = _rule_zones_metric(data)

    def add(gap: str, geom: BaseGeometry | None = None, **kw: Any) -> None:
        rec = dict.fromkeys(GAP_COLUMNS, "")
        rec.update({"plan_id": plan.id, "gap": gap, "distance_to_region_m": math.nan, **kw})
        recs.append(rec)
        geoms.append(geom)

    for r in plan.rules:
        if not r.lead and not r.units:
            add(
                "rule_without_unit",
                _to_wgs(rule_zones.get(r.id), epsg),
                rule_id=r.id,
                name=r.applies_to.label,
                detail=f"规则未写牵头单位和责任单位: {r.restriction}",
            )
        if r.type == "buffer" and r.id not in rule_zones:
            add(
                "rule_without_places",
                rule_id=r.id,
                name=r.applies_to.label,
                detail=(
                    f"在 {data.region.name} 找不到 {r.applies_to.label}，未生成任何 {r.distance_m:g} 米范围"
                ),
            )

    boundary_m = gpd.GeoSeries([data.region.boundary], crs=4326).to_crs(epsg).iloc[0]
    zones = data.zones
    for r in plan.rules:
        if r.type != "buffer" or not r.applies_to.kinds:
            continue
        kinds = set(r.applies_to.kinds)
        mine = zones[zones["rule_id"] == r.id] if len(zones) else zones
        zoned_ids = set(mine["place_id"]) if len(mine) else set()
        zoned_refs = (
            {ref for refs in mine["source_ref"].dropna() for ref in split(refs)} if len(mine) else set()
        )
        covered = rule_zones.get(r.id)
        frames = [data.places[data.places["kind"].isin(kinds)]] if len(data.places) else []
        pois = data.sources.pois
        if pois is not None and len(pois):
            frames.append(pois[pois["kind"].isin(kinds)])
        frames = [f for f in frames if len(f)]
        if not frames:
            continue
        cand = pd.concat(frames, ignore_index=True).drop_duplicates("id")
        cand = cand[~cand["id"].isin(zoned_ids)]
        same_element = [bool(set(split(s)) & zoned_refs) for s in cand["source_ref"].fillna("")]
        cand = cand[~np.array(same_element, dtype=bool)]
        if not len(cand):
            continue
        metric = gpd.GeoSeries(list(cand.geometry), crs=4326).to_crs(epsg)
        for (_, p), gm in zip(cand.iterrows(), metric, strict=True):
            if covered is not None and gm.intersects(covered):
                continue
            outside = not gm.intersects(boundary_m)
            dist = gm.distance(boundary_m) if outside else 0.0
            if outside and dist > r.distance_m:
                continue  # another district's place: its zone does not reach this region
            if outside:
                detail = (
                    f"在 {data.region.name} 边界外 {dist:.0f} 米，其 {r.distance_m:g} 米范围伸入本区，"
                    "但按规则只取区内的地点"
                )
            elif p.get("matched_by") == "locator":
                detail = f"方案中为“{p.get('name')}”（{p.get('relation') or '路段'}），不是该地点本身"
            elif r.applies_to.tags:
                detail = f"不带标签 {join(r.applies_to.tags)}"
            else:
                detail = "未生成范围"
            name = p.get("name")
            add(
                "place_outside_zones",
                p.geometry,
                rule_id=r.id,
                place_id=str(p["id"]),
                name=name if isinstance(name, str) else "",
                kind=str(p["kind"]),
                detail=detail,
                distance_to_region_m=round(dist, 1) if outside else math.nan,
            )

    if len(data.unresolved):
        targeted_kinds = {k for r in plan.rules for k in r.applies_to.kinds}
        named = {pid: r.id for r in plan.rules for pid in r.applies_to.places}
        kinds = {p.id: p.kind for p in plan.places}
        for _, u in data.unresolved.iterrows():
            pid = str(u.get("place_id") or "")
            kind = kinds.get(pid, "")
            rule = named.get(pid) or next((r.id for r in plan.rules if kind in r.applies_to.kinds), None)
            if rule is None and kind not in targeted_kinds:
                continue
            add(
                "unresolved",
                rule_id=rule or "",
                place_id=f"{plan.id}.{pid}" if pid else "",
                name=str(u["name"]),
                kind=kind,
                detail=f"未能定位: {u['reason']}",
            )
    frame = pd.DataFrame(recs, columns=GAP_COLUMNS)
    frame["distance_to_region_m"] = frame["distance_to_region_m"].astype(float)
    return gpd.GeoDataFrame(frame, geometry=geoms or [], crs="EPSG:4326")


def coverage_layers(data: PlanData) -> dict[str, gpd.GeoDataFrame]:
    """Map layers of responsibility, standard columns, WGS84.

    Returns
    -------
    dict of GeoDataFrame
        ``unit_zones`` (per unit, the union of the zones of its rules; ``area_km2``),
        ``unit_streets`` (per unit, its streets; ``length_km``), ``overlaps`` and ``gaps``
        (as :func:`overlaps` and :func:`gaps`, drawable rows only).
    """
    plan = data.plan
    links = _unit_links(data)
    rule_zones = _rule_zones_metric(data)
    unions: dict[tuple[str, ...], BaseGeometry] = {}
    cov = _coverage_table(data, links, rule_zones, unions).set_index("unit_id")
    zone_sources = join(sorted(set(data.zones["source"].dropna()))) if len(data.zones) else ""
    acc = pd.to_numeric(data.zones["accuracy_m"], errors="coerce").max() if len(data.zones) else math.nan
    accuracy = float(acc) if pd.notna(acc) else math.nan
    zrecs, zgeoms, srecs, sgeoms = [], [], [], []
    for u in plan.units:
        if u.id not in cov.index:  # a unit given nothing has no zones or streets
            continue
        link = links[u.id]
        row = cov.loc[u.id]
        common = {
            "plan_id": plan.id,
            "units": u.name,
            "unit_id": u.id,
            "role": row["role"],
            "matched_by": "",
            "source_ref": "",
            "accuracy_m": accuracy,
        }
        zone_union = _zone_union(rule_zones, link["rules"], unions)
        if zone_union is not None:
            rules = [r for r in plan.rules if r.id in link["rules"] and r.id in rule_zones]
            zrecs.append(
                {
                    **common,
                    "id": f"{plan.id}.coverage.{u.id}",
                    "name": u.name,
                    "kind": "unit_zone",
                    "phase_id": join(dict.fromkeys(p for r in rules for p in r.phases)),
                    "source": zone_sources,
                    "rule_ids": join(r.id for r in rules),
                    "area_km2": row["zone_area_km2"],
                }
            )
            zgeoms.append(_to_wgs(zone_union, data.epsg))
        if link["streets"]:
            srecs.append(
                {
                    **common,
                    "id": f"{plan.id}.streets.{u.id}",
                    "name": u.name,
                    "kind": "unit_streets",
                    "streets": row["streets"],
                    "source": zone_sources,
                    "length_km": row["street_km"],
                }
            )
            sgeoms.append(_to_wgs(union_all([g for _, g in link["streets"].values()]), data.epsg))

    def layer_of(frame: gpd.GeoDataFrame, kind: str, name_col: str) -> gpd.GeoDataFrame:
        frame = frame[frame.geometry.notna()].reset_index(drop=True)
        recs = frame.drop(columns="geometry").to_dict("records")
        for i, r in enumerate(recs):
            r.setdefault("plan_id", r.get("plan_a", plan.id))
            r["id"] = f"{plan.id}.{kind}.{i + 1}"
            r["name"] = r.get(name_col, "")
            r["kind"] = kind
            r["accuracy_m"] = math.nan
        return make_layer(recs, geometry=list(frame.geometry))

    ov = overlaps(data)
    if len(ov):
        ov = ov.assign(
            units=[
                join(dict.fromkeys(split(a) + split(b)))
                for a, b in zip(ov["units_a"], ov["units_b"], strict=True)
            ]
        )
    return {
        "unit_zones": make_layer(zrecs, geometry=zgeoms, extra=["unit_id", "role", "rule_ids", "area_km2"]),
        "unit_streets": make_layer(srecs, geometry=sgeoms, extra=["unit_id", "role", "streets", "length_km"]),
        "overlaps": layer_of(ov, "overlap", "rule_a"),
        "gaps": layer_of(gaps(data), "gap", "name"),
    }


# --------------------------------------------------------------------------------------------
# Spacing
# --------------------------------------------------------------------------------------------

SPACING_COLUMNS = [
    "street_id",
    "name",
    "length_m",
    "n_parts",
    "n_ads",
    "n_gaps",
    "gap_m",
    "longest_stretch_m",
    "compliance_pct",
    "spacing_ok",
    "n_theme",
    "theme_share_pct",
    "theme_ok",
]
SPACING_GAP_COLUMNS = ["street_id", "name", "part", "from_m", "to_m", "length_m"]


def spacing_check(
    streets: gpd.GeoDataFrame,
    ads: gpd.GeoDataFrame,
    spacing_m: float = 100,
    *,
    epsg: int,
    theme_column: str | None = None,
    theme: str | None = None,
    min_share_pct: float = 30,
    snap_m: float = 30,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Check "one ad at least every ``spacing_m`` metres" along streets (linear referencing).

    Parameters
    ----------
    streets : GeoDataFrame
        Lines (LineString or MultiLineString; multi-part streets are handled part by part), WGS84;
        ``id`` and ``name`` columns are used when present.
    ads : GeoDataFrame
        Ad sites as Points, WGS84.
    spacing_m : float
        Longest allowed stretch without an ad.
    epsg : int
        Metric CRS (the plan's Gauss-Krüger zone).
    theme_column, theme : str, optional
        Column of ``ads`` describing each ad's theme, and the theme the plan asks a share of
        (an ad counts when its text contains ``theme``).
    min_share_pct : float
        Required share of the theme, in per cent.
    snap_m : float
        An ad counts for the nearest street part within this distance; farther ads count for none.

    Returns
    -------
    per_street : DataFrame
        One row per street, :data:`SPACING_COLUMNS`: ``length_m``, ads snapped to it, number and
        total length of gaps, the longest stretch, ``compliance_pct`` = 100 × (1 − gap length /
        street length), ``spacing_ok`` (no gap), theme count and share (empty without a theme
        column) and ``theme_ok``. ``per_street.attrs["summary"]`` holds the totals: ads read,
        snapped and not, total length, gap length, overall compliance and theme share.
    gaps : GeoDataFrame
        One row per gap, :data:`SPACING_GAP_COLUMNS` (``part``: 0-based part of a multi-part
        street; ``from_m``/``to_m``: metres along that part from its first vertex), geometry the
        stretch of street (WGS84).

    Notes
    -----
    The street's two ends count as positions: a stretch from an end to the first ad longer than
    ``spacing_m`` is a gap like any other, and a street shorter than ``spacing_m`` is compliant
    even with no ad. An ad near a crossing counts for the one nearest street only.
    """
    st = streets if streets.crs is not None else streets.set_crs(4326)
    st_m = st.to_crs(epsg).reset_index(drop=True)
    ids = st_m["id"].astype(str).tolist() if "id" in st_m.columns else [str(i) for i in range(len(st_m))]
    names = [
        n if isinstance(n, str) else ""
        for n in (st_m["name"].tolist() if "name" in st_m.columns else [""] * len(st_m))
    ]
    # Explode into parts; each part is referenced on its own.
    part_geoms: list[BaseGeometry] = []
    part_street: list[int] = []
    part_no: list[int] = []
    for i, g in enumerate(st_m.geometry):
        if g is None or g.is_empty:
            continue
        lines = list(g.geoms) if g.geom_type == "MultiLineString" else [g]
        for k, line in enumerate(lines):
            if line.geom_type == "LineString" and line.length > 0:
                part_geoms.append(line)
                part_street.append(i)
                part_no.append(k)
    part_arr = np.array(part_geoms, dtype=object)

    ad_frame = ads if ads.crs is not None else ads.set_crs(4326)
    ad_m = np.asarray(ad_frame.to_crs(epsg).geometry.array, dtype=object)
    is_pt = shapely.get_type_id(ad_m) == 0
    if not is_pt.all():
        raise ValueError(f"ads must be Points; {int((~is_pt).sum())} are not")
    themed = np.zeros(len(ad_m), dtype=bool)
    if theme_column is not None:
        if theme_column not in ad_frame.columns:
            raise ValueError(f"ads have no column {theme_column!r}")
        if not theme:
            raise ValueError("give the theme to count (e.g. 未成年人思想道德建设)")
        themed = ad_frame[theme_column].fillna("").astype(str).str.contains(theme, regex=False).to_numpy()

    ad_part = np.full(len(ad_m), -1)
    pos = np.full(len(ad_m), np.nan)
    if len(part_arr) and len(ad_m):
        tree = shapely.STRtree(part_arr)
        ai, pj = tree.query_nearest(ad_m, max_distance=snap_m, all_matches=False)
        ad_part[ai] = pj
        pos[ai] = shapely.line_locate_point(part_arr[pj], ad_m[ai])

    # Ads grouped by part once (sorted), so that many streets × many ads stays linear.
    order = np.argsort(ad_part, kind="stable")
    bounds = np.searchsorted(ad_part[order], np.arange(len(part_geoms) + 1))
    ads_of = [order[bounds[j] : bounds[j + 1]] for j in range(len(part_geoms))]
    parts_of: list[list[int]] = [[] for _ in range(len(st_m))]
    for j, i in enumerate(part_street):
        parts_of[i].append(j)

    rows = []
    gap_recs, gap_geoms = [], []
    for i in range(len(st_m)):
        parts = parts_of[i]
        length = sum(part_geoms[j].length for j in parts)
        n_ads = sum(len(ads_of[j]) for j in parts)
        n_theme = sum(int(themed[ads_of[j]].sum()) for j in parts)
        gap_len = 0.0
        n_gaps = 0
        longest = 0.0
        for j in parts:
            line = part_geoms[j]
            p = np.sort(np.concatenate([[0.0], pos[ads_of[j]], [line.length]]))
            stretch = np.diff(p)
            longest = max(longest, float(stretch.max()) if len(stretch) else 0.0)
            for k in np.flatnonzero(stretch > spacing_m + 1e-9):
                a, b = float(p[k]), float(p[k + 1])
                n_gaps += 1
                gap_len += b - a
                gap_recs.append(
                    {
                        "street_id": ids[i],
                        "name": names[i],
                        "part": part_no[j],
                        "from_m": round(a, 2),
                        "to_m": round(b, 2),
                        "length_m": round(b - a, 2),
                    }
                )
                gap_geoms.append(substring(line, a, b))
        share = 100.0 * n_theme / n_ads if (theme_column is not None and n_ads) else math.nan
        rows.append(
            {
                "street_id": ids[i],
                "name": names[i],
                "length_m": round(length, 2),
                "n_parts": len(parts),
                "n_ads": n_ads,
                "n_gaps": n_gaps,
                "gap_m": round(gap_len, 2),
                "longest_stretch_m": round(longest, 2),
                "compliance_pct": round(100.0 * (1 - gap_len / length), 2) if length else math.nan,
                "spacing_ok": n_gaps == 0,
                "n_theme": n_theme if theme_column is not None else pd.NA,
                "theme_share_pct": round(share, 2) if not math.isnan(share) else math.nan,
                "theme_ok": (share >= min_share_pct) if not math.isnan(share) else pd.NA,
            }
        )
    per_street = pd.DataFrame(rows, columns=SPACING_COLUMNS)
    snapped = ad_part >= 0
    total_len = float(per_street["length_m"].sum()) if len(per_street) else 0.0
    total_gap = float(per_street["gap_m"].sum()) if len(per_street) else 0.0
    overall_share = (
        100.0 * float(themed[snapped].sum()) / int(snapped.sum())
        if theme_column is not None and snapped.any()
        else math.nan
    )
    per_street.attrs["summary"] = {
        "n_streets": len(per_street),
        "n_ads": len(ad_m),
        "n_snapped": int(snapped.sum()),
        "n_unsnapped": int((~snapped).sum()),
        "length_m": round(total_len, 2),
        "gap_m": round(total_gap, 2),
        "compliance_pct": round(100.0 * (1 - total_gap / total_len), 2) if total_len else math.nan,
        "theme": theme,
        "theme_share_pct": round(overall_share, 2) if not math.isnan(overall_share) else math.nan,
        "min_share_pct": min_share_pct,
        "theme_ok": (overall_share >= min_share_pct) if not math.isnan(overall_share) else None,
    }
    gap_wgs = list(gpd.GeoSeries(gap_geoms, crs=epsg).to_crs(4326)) if gap_geoms else []
    gaps_gdf = gpd.GeoDataFrame(
        pd.DataFrame(gap_recs, columns=SPACING_GAP_COLUMNS), geometry=gap_wgs, crs="EPSG:4326"
    )
    return per_street, gaps_gdf


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------

TARGET_COLUMNS = [
    "plan_id",
    "task_id",
    "target_id",
    "metric",
    "op",
    "target",
    "unit",
    "text",
    "area",
    "value",
    "met",
    "margin",
]

_OPS = {
    ">=": lambda v, t: v >= t,
    ">": lambda v, t: v > t,
    "<=": lambda v, t: v <= t,
    "<": lambda v, t: v < t,
    "=": lambda v, t: math.isclose(v, t, rel_tol=1e-9, abs_tol=1e-9),
}


def _margin(op: str, value: float, target: float) -> float:
    """How far a value is on the good side of its target (negative: short of it)."""
    if op in (">=", ">"):
        return value - target
    if op in ("<=", "<"):
        return target - value
    return -abs(value - target)


def target_table(plan: Plan, figures: pd.DataFrame) -> pd.DataFrame:
    """The plan's numeric targets against measured figures.

    Parameters
    ----------
    plan : Plan
    figures : DataFrame
        One row per measured figure: ``value`` (a number), and either ``target`` (also
        ``target_id``; a target id, ``task.target`` where a target id repeats across tasks) or
        ``metric`` (the target's metric text exactly as in the plan); optionally ``area`` or
        ``street`` (where it was measured) and ``plan_id`` (rows of other plans are ignored).

    Returns
    -------
    DataFrame
        :data:`TARGET_COLUMNS`: one row per (target, figure), and one row with empty ``value``
        for each target nobody measured. ``met`` compares ``value`` with ``target`` by ``op``
        (``=`` up to rounding); ``margin`` is how far the value is on the good side (value −
        target for ≥/>, target − value for ≤/<, −|value − target| for =): ``margin ≥ 0`` means met
        (> 0 for the strict ops).

    Raises
    ------
    ValueError
        For figures naming no target of the plan (or an ambiguous one), or with a value that is
        not a number; the message lists the rows.
    """
    targets = [(t, tg) for t in plan.tasks for tg in t.targets]
    by_key: dict[str, list[tuple]] = {}
    for t, tg in targets:
        for key in (tg.id, f"{t.id}.{tg.id}", tg.metric):
            by_key.setdefault(key, []).append((t, tg))
    fig = figures.copy()
    if "plan_id" in fig.columns:
        fig = fig[fig["plan_id"].astype(str) == plan.id]
    key_col = next((c for c in ("target", "target_id", "metric") if c in fig.columns), None)
    if key_col is None or "value" not in fig.columns:
        raise ValueError("figures need a 'value' column and a 'target' (or 'target_id', 'metric') column")
    area_col = next((c for c in ("area", "street") if c in fig.columns), None)
    problems = []
    matched: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for i, (_, row) in enumerate(fig.iterrows()):
        key = str(row[key_col]).strip()
        hits = by_key.get(key, [])
        if len({(t.id, tg.id) for t, tg in hits}) != 1:
            why = "names no target of the plan" if not hits else "is ambiguous; write task.target"
            problems.append(f"row {i + 1}: {key_col} {key!r} {why}")
            continue
        try:
            value = float(row["value"])
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            problems.append(f"row {i + 1}: value {row['value']!r} is not a finite number")
            continue
        t, tg = hits[0]
        area = str(row[area_col]) if area_col and pd.notna(row[area_col]) else ""
        matched.setdefault((t.id, tg.id), []).append((area, value))
    if problems:
        raise ValueError(f"plan {plan.id}: " + "; ".join(problems))
    rows = []
    for t, tg in targets:
        base = {
            "plan_id": plan.id,
            "task_id": t.id,
            "target_id": tg.id,
            "metric": tg.metric,
            "op": tg.op,
            "target": tg.value,
            "unit": tg.unit,
            "text": tg.text,
        }
        figs = matched.get((t.id, tg.id))
        if not figs:
            rows.append({**base, "area": "", "value": math.nan, "met": pd.NA, "margin": math.nan})
            continue
        for area, value in figs:
            margin = _margin(tg.op, value, tg.value)
            rows.append(
                {
                    **base,
                    "area": area,
                    "value": value,
                    "met": bool(_OPS[tg.op](value, tg.value)),
                    "margin": round(margin, 9),
                }
            )
    out = pd.DataFrame(rows, columns=TARGET_COLUMNS)
    out["met"] = out["met"].astype("boolean")
    return out
