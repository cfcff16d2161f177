"""The resolver: plan places and free names → geometry, with provenance, or an honest report.

For each name it tries, in order, the user's gazetteer(s), then OSM (local extracts or a fetched
cache), then — only when no real OSM source was given — the bundled schematic extract of the
region. A name that resolves nowhere goes to the unresolved report with the reason and the
closest candidate names; it is never placed at a guess.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from .._proj import to_crs
from ..errors import GeoError
from ..layers import join, make_layer
from . import locate

if TYPE_CHECKING:  # regions imports names from this package; avoid the cycle at run time
    from ..regions import Region

from .names import canonical_street, normalize, parse_phrase, street_parts_pattern

#: Accuracy (m) of geometry taken as it is from a source.
ACCURACY = {"street": 10.0, "area": 10.0, "point": 20.0}

UNRESOLVED_COLUMNS = ["plan", "place_id", "name", "reason", "candidates"]


@dataclass
class Candidate:
    """One named feature of a source, in the metric CRS."""

    name: str
    kind: str | None
    geometry: BaseGeometry  # metric
    source: str
    source_ref: str
    accuracy_m: float
    is_street: bool


@dataclass
class Sources:
    """Everything names can be resolved against, already projected to the region's metric CRS.

    Build with :func:`build_sources`. ``tiers`` is ordered by precedence (gazetteer first).
    """

    region: Region
    epsg: int
    tiers: list[list[Candidate]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    pois: gpd.GeoDataFrame | None = None  # every POI of every source, WGS84, for kind rules
    streets: gpd.GeoDataFrame | None = None  # merged streets of every source, WGS84 (spacing rules)

    @property
    def schematic(self) -> bool:
        """Whether any tier is the bundled schematic extract."""
        return "schematic" in self.labels

    def all_names(self) -> list[str]:
        """Every name known to the sources."""
        return sorted({c.name for tier in self.tiers for c in tier})


def _to_metric(gdf: gpd.GeoDataFrame, epsg: int) -> gpd.GeoSeries:
    return to_crs(gdf.geometry, epsg)


def _osm_candidates(data, epsg: int) -> list[Candidate]:
    from .osm import merge_streets

    out: list[Candidate] = []
    streets = data.streets
    if streets is not None and len(streets):
        merged = merge_streets(streets)
        geoms = _to_metric(merged, epsg)
        for (_, row), g in zip(merged.iterrows(), geoms, strict=True):
            ref = f"way/{row['osm_ids']}".replace(";", ";way/")
            out.append(Candidate(row["name"], "street", g, row["source"], ref, ACCURACY["street"], True))
    pois = data.pois
    if pois is not None and len(pois):
        named = pois[pois["name"].fillna("").astype(str).str.len() > 0]
        geoms = _to_metric(named, epsg)
        for (_, row), g in zip(named.iterrows(), geoms, strict=True):
            acc = ACCURACY["point"] if g.geom_type == "Point" else ACCURACY["area"]
            ref = f"{row['osm_type']}/{row['osm_id']}"
            out.append(Candidate(row["name"], row["kind"], g, row["source"], ref, acc, False))
    return out


def _gazetteer_candidates(layer: gpd.GeoDataFrame, epsg: int) -> list[Candidate]:
    geoms = _to_metric(layer, epsg)
    kinds = [None if pd.isna(k) else str(k) for k in layer["kind"].astype(object)]
    lines = shapely.get_type_id(geoms.array) if len(layer) else []
    return [
        Candidate(str(name), kind, g, "gazetteer", str(ref), float(acc), kind == "street" or t in (1, 5))
        for name, kind, g, ref, acc, t in zip(
            layer["name"], kinds, geoms, layer["source_ref"], layer["accuracy_m"], lines, strict=True
        )
    ]


def build_sources(
    region: Region | None,
    *,
    osm: Sequence[str | Path] = (),
    gazetteers: Sequence[str | Path] = (),
    schematic: bool | None = None,
) -> tuple[Sources, list]:
    """Load the sources for a region.

    Parameters
    ----------
    region : Region or None
        The region the names lie in; fixes the metric CRS and the bundled schematic extract.
        None: a region covering the given extracts (for data outside the declared regions).
    osm : sequence of paths
        OSM extracts (``.osm``, ``.osm.bz2``, ``.osm.pbf``) or fetched GeoPackages.
    gazetteers : sequence of paths
        The user's gazetteer files (CSV, XLSX, GeoJSON).
    schematic : bool, optional
        Use the bundled schematic extract. Default: only when no OSM source is given, so that a
        real extract's gaps show up as unresolved instead of being filled with schematic places.

    Returns
    -------
    sources : Sources
    problems : list of geo.errors.Problem
        Bad gazetteer rows (skipped, reported).
    """
    from .gazetteer import read_gazetteer
    from .osm import load_sources

    bounds = region.boundary.bounds if region is not None else None
    gaz = [read_gazetteer(g, region_bounds=bounds) for g in gazetteers]
    data = load_sources([Path(p) for p in osm]) if osm else None
    if region is None:
        from ..regions import region_from_bounds

        frames = [g.layer for g in gaz] + ([data.streets, data.pois] if data is not None else [])
        frames = [f for f in frames if f is not None and len(f)]
        if not frames:
            raise GeoError("no region given and the sources hold no features to take one from")
        b = pd.concat([f.geometry for f in frames]).total_bounds
        region = region_from_bounds(tuple(b), "extract")
    epsg = region.epsg
    src = Sources(region=region, epsg=epsg)
    problems: list = [p for g in gaz for p in g.problems]
    poi_frames = []
    for g in gaz:
        src.tiers.append(_gazetteer_candidates(g.layer, epsg))
        src.labels.append("gazetteer")
        # Row ids (g2, g3 …) repeat across files; the file:row reference does not.
        poi_frames.append(g.layer.assign(id=g.layer["source_ref"]))
    if data is not None:
        src.tiers.append(_osm_candidates(data, epsg))
        src.labels.append("osm")
        poi_frames.append(_pois_layer(data.pois))
    sdata = None
    if schematic or (schematic is None and not osm):
        if region.schematic is None:
            raise GeoError(f"no bundled schematic extract for {region.name}; give --osm or --gazetteer")
        sdata = load_sources([region.schematic])
        src.tiers.append(_osm_candidates(sdata, epsg))
        src.labels.append("schematic")
        poi_frames.append(_pois_layer(sdata.pois))
    frames = [f for f in poi_frames if f is not None and len(f)]
    src.pois = pd.concat(frames, ignore_index=True) if frames else None
    street_frames = [_streets_layer(d) for d in (data, sdata) if d is not None]
    street_frames = [f for f in street_frames if len(f)]
    src.streets = pd.concat(street_frames, ignore_index=True) if street_frames else None
    return src, problems


def _streets_layer(data) -> gpd.GeoDataFrame:
    """Merged streets as a standard layer with ``highway`` and plan-style ``tags``
    (``chengguan:tags`` on the ways, e.g. 商业大街)."""
    import json

    from .osm import merge_streets

    if data.streets is None or not len(data.streets):
        return make_layer([], geometry=[], extra=["highway", "tags"])
    merged = merge_streets(data.streets)
    tags_by_id = {
        int(i): json.loads(t).get("chengguan:tags", "")
        for i, t in zip(data.streets["osm_id"], data.streets["tags"], strict=True)
    }
    recs = []
    for _, r in merged.iterrows():
        ids = [int(x) for x in r["osm_ids"].split(";")]
        tags = sorted({t for i in ids for t in tags_by_id.get(i, "").split(";") if t})
        recs.append(
            {
                "id": f"way/{ids[0]}",
                "name": r["name"],
                "kind": "street",
                "source": r["source"],
                "source_ref": ";".join(f"way/{i}" for i in ids),
                "accuracy_m": float("nan") if r["source"] == "schematic" else ACCURACY["street"],
                "matched_by": "kind",
                "highway": r["highway"],
                "tags": join(tags),
            }
        )
    return make_layer(recs, geometry=list(merged.geometry), extra=["highway", "tags"])


def _pois_layer(pois: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """OSM POIs as a standard layer (for kind rules: every school, every market …)."""
    import json

    if pois is None or not len(pois):
        return None
    # The plan's categories an element carries (chengguan:tags=农贸市场), for tag-limited rules.
    plan_tags = [
        join(t for t in json.loads(raw).get("chengguan:tags", "").split(";") if t.strip()) if raw else ""
        for raw in pois["tags"].fillna("")
    ]
    recs = []
    for (_, r), tags in zip(pois.iterrows(), plan_tags, strict=True):
        recs.append(
            {
                "id": f"{r['osm_type']}/{r['osm_id']}",
                "name": r["name"] if isinstance(r["name"], str) else "",
                "kind": r["kind"],
                "source": r["source"],
                "source_ref": f"{r['osm_type']}/{r['osm_id']}",
                "accuracy_m": (
                    float("nan")  # schematic positions are not surveyed
                    if r["source"] == "schematic"
                    else ACCURACY["point"]
                    if r.geometry.geom_type == "Point"
                    else ACCURACY["area"]
                ),
                "matched_by": "kind",
                "tags": tags,
            }
        )
    return make_layer(recs, geometry=list(pois.geometry), extra=["tags"])


# ---------------------------------------------------------------------------------------------
# Matching


@dataclass
class Match:
    """A resolved name: geometry in the metric CRS with provenance."""

    geometry: BaseGeometry
    kind: str | None
    source: str
    source_ref: str
    accuracy_m: float
    matched_by: str
    note: str = ""
    radius_m: float | None = None


class Unresolved(Exception):
    """A name that could not be placed; carries the reason and close candidates."""

    def __init__(self, reason: str, candidates: Sequence[str] = ()):
        super().__init__(reason)
        self.reason = reason
        self.candidates = list(candidates)


def _find_street(name: str, tier: list[Candidate]) -> Match | None:
    """A street by name in one tier: exact, then normalised/suffix variant, then all its
    direction-split parts (凤台街 → 凤台东街 + 凤台西街)."""
    streets = [c for c in tier if c.is_street]
    n = canonical_street(name)
    exact = [c for c in streets if c.name == name]
    if not exact:
        exact = [c for c in streets if normalize(c.name) == n]
    rx = street_parts_pattern(n)
    parts = [c for c in streets if rx and rx.match(normalize(c.name))] if rx else []
    chosen = list({id(c): c for c in exact + parts}.values())
    if not chosen:
        return None
    chosen.sort(key=lambda c: c.name)
    geom = chosen[0].geometry if len(chosen) == 1 else _union([c.geometry for c in chosen])
    names = [c.name for c in chosen]
    if exact and len(chosen) == len(exact):
        how = "exact" if exact[0].name == name else "normalized"
    else:
        how = "directional"
    note = "" if names == [name] else "parts: " + "、".join(names)
    return Match(
        geom,
        "street",
        chosen[0].source,
        ";".join(c.source_ref for c in chosen),
        max(c.accuracy_m for c in chosen),
        how,
        note,
    )


def _union(geoms: list[BaseGeometry]) -> BaseGeometry:
    from shapely import line_merge, union_all

    u = union_all(geoms)
    return line_merge(u) if u.geom_type == "MultiLineString" else u


def _find_feature(name: str, tier: list[Candidate], near: BaseGeometry | None = None) -> Match | None:
    """A non-street feature by name: exact, normalised, then the name contained in a feature's
    name (游园 → 前进路游园) — fuzzy, and only when unique or nearest to ``near``."""
    feats = [c for c in tier if not c.is_street]
    n = normalize(name)
    exact = [c for c in feats if c.name == name] or [c for c in feats if normalize(c.name) == n]
    how = "exact" if exact and exact[0].name == name else "normalized"
    if not exact:
        exact = [c for c in feats if n and n in normalize(c.name)]
        how = "fuzzy"
        if len(exact) > 1 and near is None:
            return None
    if not exact:
        return None
    if near is not None:
        exact.sort(key=lambda c: c.geometry.distance(near))
    c = exact[0]
    note = f"matched {c.name}" if c.name != name else ""
    return Match(c.geometry, c.kind, c.source, c.source_ref, c.accuracy_m, how, note)


def _in_tiers(fn, sources: Sources, *args, **kw) -> Match | None:
    for tier in sources.tiers:
        m = fn(*args, tier, **kw)
        if m is not None:
            return m
    return None


def resolve_one(
    name: str,
    sources: Sources,
    *,
    street: str | None = None,
    anchor: str | None = None,
    relation: str | None = None,
    kind: str | None = None,
) -> Match:
    """Resolve one place.

    Parameters
    ----------
    name : str
        The place as written. A gazetteer entry with this exact name wins outright.
    sources : Sources
    street, anchor, relation : str, optional
        A parsed locator (from the plan); parsed from ``name`` when all are None.
    kind : str, optional
        The plan's kind for the place.

    Returns
    -------
    Match

    Raises
    ------
    Unresolved
        With the reason and the closest names the sources know.
    """
    # 1. The whole phrase as a named feature (a gazetteer row "文昌街望川楼路段", an OSM street).
    #    A bare street name also finds its direction-split parts (凤台街 → 凤台东街 + 凤台西街).
    plain_street = kind == "street" or (
        kind is None and street is None and anchor is None and parse_phrase(name).street == normalize(name)
    )
    for tier in sources.tiers:
        m = (_find_street(name, tier) if plain_street else None) or _find_whole(name, tier)
        if m is not None:
            return m
    if street is None and anchor is None and relation is None:
        p = parse_phrase(name)
        street, anchor, relation = p.street, p.anchor, p.relation
    if street is None and anchor is None:
        raise Unresolved("name not found", _close(name, sources))
    return _resolve_locator(name, sources, street, anchor, relation)


def _find_whole(name: str, tier: list[Candidate]) -> Match | None:
    n = normalize(name)
    hits = [c for c in tier if normalize(c.name) == n]
    if not hits:
        return None
    c = hits[0]
    how = "exact" if c.name == name else "normalized"
    return Match(c.geometry, c.kind, c.source, c.source_ref, c.accuracy_m, how)


def _resolve_locator(
    name: str, sources: Sources, street: str | None, anchor: str | None, relation: str | None
) -> Match:
    from .names import GATES

    st = _in_tiers(_find_street, sources, street) if street else None
    gate_side = next((g for g in GATES if anchor and anchor.endswith(g) and len(anchor) > len(g)), None)
    anchor_base = anchor[: -len(gate_side)] if gate_side else anchor
    an = None
    if anchor_base:
        near = st.geometry if st else None
        an = _in_tiers(_find_feature, sources, anchor_base, near=near)
        if an is None and relation == "巷口":
            an = _in_tiers(_find_street, sources, anchor_base)
    if street and st is None and (anchor is None or an is None):
        missing = street if an is not None or not anchor else f"{street} and {anchor}"
        raise Unresolved(f"street {missing} not found", _close(street, sources))
    if anchor and an is None and st is None:
        raise Unresolved(f"anchor {anchor_base} not found", _close(anchor_base or name, sources))

    anchor_geom = an.geometry if an else None
    gate_note = ""
    if an is not None and gate_side:
        g = locate.gate(an.geometry, gate_side)
        anchor_geom, gate_note = g.geometry, g.note

    def done(loc: locate.Located, base: Match, extra: str = "") -> Match:
        notes = "; ".join(x for x in (base.note, gate_note, loc.note, extra) if x)
        refs = ";".join(m.source_ref for m in (st, an) if m is not None)
        acc = max(loc.accuracy_m, base.accuracy_m)
        return Match(loc.geometry, None, base.source, refs, round(acc, 1), "locator", notes, loc.radius_m)

    if st is not None and an is None and anchor:
        # Only the street resolved: say so; the geometry is the whole street.
        loc = locate.Located(
            st.geometry, st.geometry.length / 2, f"anchor {anchor_base} not found; whole street {street}"
        )
        return done(loc, st)
    if relation in ("东段", "西段", "南段", "北段") and st is not None:
        return done(locate.street_end(st.geometry, relation), st)
    if relation == "周边" and an is not None:
        return done(locate.around(anchor_geom), an)
    if relation == "巷口" and st is not None and an is not None:
        return done(locate.lane_mouth(st.geometry, an.geometry), st)
    if relation in ("门前", "对面") and an is not None:
        road = st.geometry if st is not None else _nearest_street(sources, anchor_geom)
        if road is None:
            raise Unresolved(f"no street near {anchor_base}", [])
        return done(locate.frontage(road, anchor_geom, opposite=relation == "对面"), an)
    if relation == "路段" and an is not None:
        road = st.geometry if st is not None else _nearest_street(sources, anchor_geom)
        if road is None:
            return done(
                locate.around(anchor_geom, locate.SEGMENT_M), an, "no street found; area around the anchor"
            )
        base = st or an
        return done(
            locate.segment_near(road, anchor_geom), base, "" if st else "nearest street to the anchor"
        )
    if st is not None:
        return Match(st.geometry, "street", st.source, st.source_ref, st.accuracy_m, st.matched_by, st.note)
    assert an is not None
    loc = locate.Located(anchor_geom, an.accuracy_m, "")
    return done(loc, an)


def _nearest_street(sources: Sources, geom: BaseGeometry) -> BaseGeometry | None:
    best, dist = None, float("inf")
    for tier in sources.tiers:
        for c in tier:
            if c.is_street:
                d = c.geometry.distance(geom)
                if d < dist:
                    best, dist = c.geometry, d
        if best is not None:
            break
    return best


def _close(name: str, sources: Sources, n: int = 3) -> list[str]:
    """The names most like ``name`` (for the unresolved report)."""
    names = sources.all_names()
    close = difflib.get_close_matches(normalize(name), [normalize(x) for x in names], n=n, cutoff=0.4)
    by_norm = {normalize(x): x for x in names}
    return [by_norm[c] for c in close]


# ---------------------------------------------------------------------------------------------
# Batch resolution


def _records(items: Iterable[dict], sources: Sources) -> tuple[list[dict], list[BaseGeometry], list[dict]]:
    recs, geoms, missing = [], [], []
    for it in items:
        try:
            loc = it.get("locator") or {}
            m = resolve_one(it["name"], sources, kind=it.get("kind"), **loc)
        except Unresolved as u:
            missing.append(
                {
                    "plan": it.get("plan_id", ""),
                    "place_id": it.get("place_id", ""),
                    "name": it["name"],
                    "reason": u.reason,
                    "candidates": join(u.candidates),
                }
            )
            continue
        rec = {k: v for k, v in it.items() if k not in ("locator", "place_id")}
        rec.update(
            kind=it.get("kind") or m.kind,
            source=m.source,
            source_ref=m.source_ref,
            # Schematic positions are not surveyed: no accuracy can honestly be claimed for them.
            accuracy_m=float("nan") if m.source == "schematic" else m.accuracy_m,
            matched_by=m.matched_by,
            note=m.note,
            radius_m=m.radius_m,
        )
        recs.append(rec)
        geoms.append(m.geometry)
    return recs, geoms, missing


def _finish(recs, geoms, missing, sources: Sources) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    metric = gpd.GeoSeries(geoms, crs=sources.epsg)
    layer = make_layer(
        recs,
        geometry=list(to_crs(metric, 4326)) if len(geoms) else [],
        extra=["relation", "tags", "note", "radius_m"],
    )
    report = pd.DataFrame(missing, columns=UNRESOLVED_COLUMNS)
    return layer, report


def resolve_names(names: Sequence[str], sources: Sources) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Resolve free names (``泽州路``, ``金屯菜市场周边``).

    Returns
    -------
    layer : GeoDataFrame
        Standard columns plus ``relation``, ``note``, ``radius_m``; WGS84.
    unresolved : DataFrame
        Columns ``plan, place_id, name, reason, candidates``.
    """
    items = []
    for i, n in enumerate(names):
        p = parse_phrase(n)
        items.append({"id": normalize(n) or f"n{i}", "name": n, "relation": p.relation})
    return _finish(*_records(items, sources), sources)


def resolve_plan(plan, sources: Sources) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Resolve every place a plan names.

    Parameters
    ----------
    plan : geo.plan.Plan
    sources : Sources

    Returns
    -------
    layer : GeoDataFrame
        One row per resolved place: standard columns (``id`` = ``<plan>.<place>``), plus
        ``relation``, ``tags``, ``note``, ``radius_m``; WGS84.
    unresolved : DataFrame
        One row per place that could not be placed, with the reason and close candidates.
    """
    items = []
    for p in plan.places:
        loc = p.locator
        items.append(
            {
                "id": f"{plan.id}.{p.id}",
                "place_id": p.id,
                "name": p.name,
                "kind": p.kind,
                "plan_id": plan.id,
                "phase_id": join(p.phases),
                "batch": p.batch,
                "units": "",
                "relation": loc.relation if loc else None,
                "locator": loc.model_dump() if loc else None,
                "tags": join(p.tags),
            }
        )
    return _finish(*_records(items, sources), sources)
