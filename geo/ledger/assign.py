"""Assignment of cases to grid cell, street, street chief, plan rules and responsible units.

Precedence of ``units`` (``assigned_by`` names the step that decided):

1. ``case`` — the case's own 责任单位 column;
2. ``street_chief`` — the unit of the 街(路)长 whose street or segment lies within the
   tolerance of the case (nearest one);
3. ``grid`` — the 责任主体 of the 单元网格 containing the case;
4. ``rule`` — the responsible units of the plan rules whose zones contain the case on its
   report date;
5. empty — none of these (``assigned_by`` empty).

``rule_ids``, ``restrictions`` and ``rule_units`` list every rule in force there whatever
decided ``units``. All steps are vectorised (STRtree queries, :func:`geo.query.query_plan`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely

from .store import Store

__all__ = ["PRECEDENCE", "STREET_TOLERANCE_M", "Context", "assign"]

#: The order in which ``units`` is decided.
PRECEDENCE = ("case", "street_chief", "grid", "rule")
#: Default distance to the nearest named street (and street chief) for a case to be on it.
STREET_TOLERANCE_M = 30.0


@dataclass
class Context:
    """What cases are assigned against.

    Attributes
    ----------
    plans : list of PlanData
        Built plans whose rule zones apply (``--plan``).
    sources : geo.resolve.Sources or None
        Place sources: named streets, and the resolver for addresses.
    epsg : int or None
        Metric CRS (default: the sources' or the first plan's, else from the cases' longitude).
    tolerance_m : float
    """

    plans: list = field(default_factory=list)
    sources: Any = None
    epsg: int | None = None
    tolerance_m: float = STREET_TOLERANCE_M
    grids: pd.DataFrame | None = None
    grid_geoms: np.ndarray | None = None
    chiefs: pd.DataFrame | None = None
    chief_geoms: np.ndarray | None = None

    @property
    def schematic(self) -> bool:
        """Whether streets or zones come from the schematic (示意) extract."""
        return bool(self.sources is not None and "schematic" in self.sources.labels) or any(
            d.schematic for d in self.plans
        )

    def load_ledger(self, store: Store) -> None:
        """Read the ledger's grids and street chiefs (once)."""
        if self.grids is None:
            g = store.frame(f"SELECT code, units, {store.geom_select()} FROM grids")
            self.grid_geoms = store.geometries(g["geom"].tolist())
            self.grids = g.drop(columns="geom")
        if self.chiefs is None:
            c = store.frame(f"SELECT street, chief, role, unit, {store.geom_select()} FROM street_chiefs")
            self.chief_geoms = store.geometries(c["geom"].tolist())
            self.chiefs = c.drop(columns="geom")


def _metric(lon: np.ndarray, lat: np.ndarray, epsg: int) -> np.ndarray:
    tr = pyproj.Transformer.from_crs(4326, epsg, always_xy=True)
    x, y = tr.transform(lon, lat)
    return shapely.points(x, y)


def _to_metric(geoms: np.ndarray, epsg: int) -> np.ndarray:
    tr = pyproj.Transformer.from_crs(4326, epsg, always_xy=True)
    return shapely.transform(geoms, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def _nearest(points_m: np.ndarray, geoms_m: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest geometry within ``tol`` metres for each point (-1: none) and the distance."""
    idx = np.full(len(points_m), -1, dtype=np.int64)
    dist = np.full(len(points_m), np.nan)
    if not len(points_m) or not len(geoms_m):
        return idx, dist
    tree = shapely.STRtree(geoms_m)
    (pi, gi), d = tree.query_nearest(points_m, max_distance=tol, return_distance=True, all_matches=False)
    idx[pi] = gi
    dist[pi] = d
    return idx, dist


def _join_unique(keys: np.ndarray, values: pd.Series, n: int) -> np.ndarray:
    """Per point 0..n-1: the distinct non-empty ``;``-separated values of its rows, joined by ';'."""
    out = np.full(n, None, dtype=object)
    if not len(keys):
        return out
    s = pd.Series(values.astype(object).fillna("").astype(str).to_numpy(), index=keys)
    s = s.str.split(";").explode().str.strip()
    s = s[s != ""]
    if not len(s):
        return out
    df = pd.DataFrame({"k": s.index.to_numpy(), "v": s.to_numpy()}).drop_duplicates()
    joined = df.groupby("k", sort=False)["v"].agg(";".join)
    out[joined.index.to_numpy(dtype=np.int64)] = joined.to_numpy()
    return out


def assign(frame: pd.DataFrame, ctx: Context, progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Fill the assignment columns of a case frame (``lon``, ``lat``, ``reported_day``, ``unit_given``).

    Returns
    -------
    DataFrame
        The frame with ``grid_code, street, street_chief, rule_ids, restrictions, rule_units,
        units, assigned_by``. Cases without coordinates get only the case's own unit.
    """
    from ..crs import local_crs
    from ..query import query_plan

    n = len(frame)
    lon = frame["lon"].to_numpy(dtype=float)
    lat = frame["lat"].to_numpy(dtype=float)
    has = np.isfinite(lon) & np.isfinite(lat)
    hi = np.flatnonzero(has)
    epsg = ctx.epsg or (ctx.sources.epsg if ctx.sources is not None else None)
    if epsg is None and ctx.plans:
        epsg = ctx.plans[0].epsg
    if epsg is None and len(hi):
        epsg = local_crs(float(np.median(lon[hi])))
    pts_m = _metric(lon[hi], lat[hi], epsg) if len(hi) else np.empty(0, dtype=object)

    grid_code = np.full(n, None, dtype=object)
    grid_units = np.full(n, None, dtype=object)
    if ctx.grids is not None and len(ctx.grids) and len(hi):
        tree = shapely.STRtree(ctx.grid_geoms)
        pi, gi = tree.query(shapely.points(lon[hi], lat[hi]), predicate="intersects")
        first = np.unique(pi, return_index=True)[1]  # a point on a shared edge: the first cell
        pi, gi = pi[first], gi[first]
        grid_code[hi[pi]] = ctx.grids["code"].to_numpy()[gi]
        grid_units[hi[pi]] = ctx.grids["units"].to_numpy()[gi]

    street = np.full(n, None, dtype=object)
    streets = ctx.sources.streets if ctx.sources is not None else None
    if streets is not None and len(streets) and len(hi):
        named = streets[streets["name"].fillna("").astype(str).str.len() > 0]
        sm = _to_metric(np.asarray(named.geometry.array, dtype=object), epsg)
        si, _ = _nearest(pts_m, sm, ctx.tolerance_m)
        ok = si >= 0
        street[hi[ok]] = named["name"].to_numpy()[si[ok]]

    chief = np.full(n, None, dtype=object)
    chief_unit = np.full(n, None, dtype=object)
    if ctx.chiefs is not None and len(ctx.chiefs) and len(hi):
        cm = _to_metric(ctx.chief_geoms, epsg)
        ci, _ = _nearest(pts_m, cm, ctx.tolerance_m)
        ok = ci >= 0
        c = ctx.chiefs
        label = (
            c["street"].astype(str)
            + " "
            + c["role"].fillna("").astype(str)
            + " "
            + c["chief"].fillna("").astype(str)
        ).str.strip()
        chief[hi[ok]] = label.to_numpy()[ci[ok]]
        chief_unit[hi[ok]] = c["unit"].to_numpy()[ci[ok]]
        if streets is None:
            street[hi[ok]] = c["street"].to_numpy()[ci[ok]]

    rule_ids = np.full(n, None, dtype=object)
    restrictions = np.full(n, None, dtype=object)
    rule_units = np.full(n, None, dtype=object)
    if ctx.plans and len(hi):
        days = frame["reported_day"].to_numpy(dtype=float)[hi].astype("int64").astype("datetime64[D]")
        pts = pd.DataFrame({"lon": lon[hi], "lat": lat[hi], "day": pd.Series(days).dt.strftime("%Y-%m-%d")})
        import geopandas as gpd

        gpts = gpd.GeoDataFrame(pts[["day"]], geometry=shapely.points(lon[hi], lat[hi]), crs=4326)
        hits = query_plan(gpts, ctx.plans, date_column="day", progress=progress)
        hits = hits[hits["in_zone"].to_numpy()]
        keys = hits["point_row"].to_numpy(dtype=np.int64)
        m = len(hi)
        rule_ids[hi] = _join_unique(keys, hits["rule_id"].astype(object), m)
        restrictions[hi] = _join_unique(keys, hits["restriction"].astype(object), m)
        both = (
            hits["lead"].astype(object).fillna("").astype(str)
            + ";"
            + hits["units"].astype(object).fillna("").astype(str)
        )
        rule_units[hi] = _join_unique(keys, both, m)

    own = (
        frame["unit_given"].to_numpy(dtype=object)
        if "unit_given" in frame.columns
        else np.full(n, None, object)
    )
    choices = [
        ("case", own),
        ("street_chief", chief_unit),
        ("grid", grid_units),
        ("rule", rule_units),
    ]
    units = np.full(n, None, dtype=object)
    by = np.full(n, None, dtype=object)
    for name, vals in choices:
        filled = (
            pd.notna(vals)
            & (pd.Series(vals, dtype=object).fillna("").astype(str).str.strip() != "").to_numpy()
        )
        take = filled & pd.isna(units)
        units[take] = vals[take]
        by[take] = name
    out = frame.copy()
    out["grid_code"] = grid_code
    out["street"] = street
    out["street_chief"] = chief
    out["rule_ids"] = rule_ids
    out["restrictions"] = restrictions
    out["rule_units"] = rule_units
    out["units"] = units
    out["assigned_by"] = by
    return out


def context_for(
    plans: Sequence[str] = (),
    *,
    region: str | None = None,
    osm: Sequence[str] = (),
    gazetteers: Sequence[str] = (),
    tolerance_m: float = STREET_TOLERANCE_M,
) -> tuple[Context, list]:
    """Build plans and place sources once for an import.

    Returns
    -------
    context : Context
    problems : list of Problem
        Bad gazetteer rows.
    """
    from ..build import build_plan
    from ..plan import get_plan
    from ..regions import get_region
    from ..resolve import build_sources

    the_plans = [get_plan(p) for p in plans]
    reg = get_region(region) if region else (get_region(the_plans[0].document.region) if the_plans else None)
    problems: list = []
    sources = None
    if reg is not None or osm or gazetteers:
        sources, problems = build_sources(reg, osm=osm, gazetteers=gazetteers)
    datas = [build_plan(p, osm=osm, gazetteers=gazetteers, sources=sources) for p in the_plans]
    return Context(plans=datas, sources=sources, tolerance_m=tolerance_m), problems
