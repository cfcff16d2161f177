"""Point-in-zone queries: which rules, and which responsible units, apply at each point.

GIS staff ask this of thousands to millions of points a day (complaint cases, vendor sightings,
ad sites). :func:`query_points` answers it for points against zone layers built by
:func:`geo.rules.build_zones`; :func:`query_plan` wires in a built plan. Point files are read by
:func:`geo.tables.read_points` (CSV in UTF-8 or GBK, XLSX, GeoJSON, GeoPackage, GeoParquet, with
row-numbered problems).

How a point is tested (DESIGN.md, "Performance notes")
------------------------------------------------------
Points stay in WGS84: a million of them are never reprojected as a whole.

* A zone drawn around a *point* place with a straight-line (``euclidean``) distance is a
  circle in the metric CRS. Such zones are answered by distance to their centre: a numpy grid
  over the circles' WGS84 bounding boxes gives candidate pairs, a local tangent-plane distance in
  degrees (generous by 0.3 % + 0.5 m) drops most non-hits, and only the pairs left are projected
  to the Gauss-Krüger CRS and kept when the distance to the centre is at most the rule's
  ``distance_m``. That is the rule itself; the stored polygon is a 64-gon inscribed in the same
  circle (at most 0.12 % of the radius inside it).
* Every other zone (around lines and areas, or walked along the network) is tested against
  its WGS84 polygon: the same kind of grid over the polygons' bounding boxes gives candidates,
  and prepared polygons test them with ``shapely.intersects_xy`` (a point on the edge is in).
  Neither path makes a geometry object per input point.

Metres (``dist_to_place_m``: from the point to the zone's place, 0 inside it) are computed in
the zone's Gauss-Krüger CRS, for the hits only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry.base import BaseGeometry

from .crs import local_crs
from .layers import split
from .tables import NO_DATE as _NO_DATE
from .tables import parse_dates

if TYPE_CHECKING:
    from .build import PlanData

__all__ = [
    "ZONE_FIELDS",
    "query_plan",
    "query_points",
]

#: Zone fields of every result row, in order (``zone_id`` is the zone's ``id``).
ZONE_FIELDS = [
    "zone_id",
    "plan_id",
    "doc_number",
    "rule_id",
    "restriction",
    "place_id",
    "place_name",
    "place_kind",
    "distance_m",
    "dist_to_place_m",
    "lead",
    "units",
    "phase_id",
    "phase_names",
    "phase_dates",
]
# Zone fields copied from the zone layer (the rest are computed).
_COPIED = [f for f in ZONE_FIELDS if f not in ("zone_id", "dist_to_place_m")]


# WGS84 ellipsoid, for metres per degree in the candidate filter (not for reported distances).
_A = 6378137.0
_E2 = 0.00669437999014
# The tangent-plane distance may differ from the Gauss-Krüger one by the GK scale (≤ 0.1 % within
# a zone) and its own curvature error (~1e-4 at 500 m): keep candidates up to r·(1 + 0.3 %) + 0.5 m.
_PREFILTER_REL = 3e-3
_PREFILTER_ABS_M = 0.5
# Target grid cell: half a (median) circle radius, so that the grid's candidates are about twice
# the hits; fewer, larger cells make more candidates, more cells make the cell table bigger.
_CELL_PER_RADIUS = 0.5
_MAX_GRID_ENTRIES = 20_000_000
# Grids up to this many cells get a dense cell → entries table (16 MB at most).
_MAX_DENSE_CELLS = 4_000_000
_OPEN_END = np.iinfo(np.int64).max

#: Default number of points processed at once (bounds memory; drives the progress callback).
CHUNK_SIZE = 250_000


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------


def _day(value: Any) -> int:
    """Days since 1970-01-01 of a date given as ``date``, ``datetime``, ``Timestamp`` or ISO text."""
    if isinstance(value, dt.datetime):  # also pd.Timestamp
        value = value.date()
    elif not isinstance(value, dt.date):
        value = dt.date.fromisoformat(str(value).strip())
    return (value - dt.date(1970, 1, 1)).days


def _phase_intervals(phase_dates: Sequence[Any]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``start/end;start/end`` fields → (n, k) arrays of first and last day (padded with empty).

    The same reading as :func:`geo.rules.in_force`: a date is in force when some interval holds
    it, both ends included; an open end runs on.
    """
    parsed = []
    seen: dict[Any, list[tuple[int, int]]] = {}
    for field in phase_dates:
        if field in seen:  # thousands of zones share a handful of phase fields
            parsed.append(seen[field])
            continue
        ivs = []
        for iv in split(field):
            start, _, end = iv.partition("/")
            try:
                s = _day(start) if start else np.iinfo(np.int64).min + 1
                e = _day(end) if end else _OPEN_END
            except ValueError:
                continue
            ivs.append((s, e))
        seen[field] = ivs
        parsed.append(ivs)
    k = max((len(p) for p in parsed), default=0) or 1
    starts = np.full((len(parsed), k), _OPEN_END, dtype=np.int64)  # padding: empty interval
    ends = np.full((len(parsed), k), np.iinfo(np.int64).min, dtype=np.int64)
    for i, ivs in enumerate(parsed):
        for j, (s, e) in enumerate(ivs):
            starts[i, j], ends[i, j] = s, e
    return starts, ends


# --------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _transformer(epsg: int) -> pyproj.Transformer:
    from ._proj import transformer

    return transformer(4326, int(epsg))


def _metres_per_degree(lat: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Metres per degree of longitude and of latitude on the WGS84 ellipsoid at ``lat``."""
    phi = np.radians(lat)
    w = np.sqrt(1.0 - _E2 * np.sin(phi) ** 2)
    n = _A / w
    m = _A * (1.0 - _E2) / w**3
    return n * np.cos(phi) * np.pi / 180.0, m * np.pi / 180.0


def _unique_sorted(p: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``np.unique(p, return_inverse=True)``, in O(n) when ``p`` is already sorted (the usual case)."""
    if len(p) and np.all(p[1:] >= p[:-1]):
        first = np.empty(len(p), dtype=bool)
        first[0] = True
        np.not_equal(p[1:], p[:-1], out=first[1:])
        return p[first], np.cumsum(first) - 1
    return np.unique(p, return_inverse=True)


def _project_pairs(
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    pi: NDArray[np.int64],
    zone_epsg: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Metric x, y of the point of each pair, in the pair's zone CRS; each point projected once."""
    x = np.empty(len(pi))
    y = np.empty(len(pi))
    for epsg in np.unique(zone_epsg):
        sel = zone_epsg == epsg
        p = pi[sel] if not sel.all() else pi
        up, inv = _unique_sorted(p)
        ux, uy = _transformer(int(epsg)).transform(lon[up], lat[up])
        x[sel], y[sel] = np.asarray(ux)[inv], np.asarray(uy)[inv]
    return x, y


# --------------------------------------------------------------------------------------------
# Zone preparation
# --------------------------------------------------------------------------------------------


@dataclass
class _Grid:
    """A uniform lon/lat grid over boxes: for a point, the boxes whose cells hold it.

    Every box is listed in each cell it touches; a point looks up its one cell (in a dense
    table when the grid is small enough, else by binary search). All numpy: no geometry objects
    are made for the points.
    """

    x0: float
    y0: float
    cw: float
    ch: float
    nx: int
    ny: int
    keys: NDArray[np.int64]  # sorted unique cell keys
    starts: NDArray[np.int64]  # first entry of each key
    counts: NDArray[np.int64]
    entries: NDArray[np.int64]  # box index per entry, grouped by key, in box order
    lookup: NDArray[np.int32] | None  # cell key → index into keys, -1 for an empty cell

    @classmethod
    def build(cls, boxes: NDArray[np.float64], cell: tuple[float, float]) -> _Grid:
        """Grid over ``boxes`` ((n, 4): minx, miny, maxx, maxy) with cells of about ``cell`` degrees."""
        x0 = float(boxes[:, 0].min())
        y0 = float(boxes[:, 1].min())
        cw, ch = (max(float(c), 1e-9) for c in cell)
        while True:
            ix0 = np.floor((boxes[:, 0] - x0) / cw).astype(np.int64)
            ix1 = np.floor((boxes[:, 2] - x0) / cw).astype(np.int64)
            iy0 = np.floor((boxes[:, 1] - y0) / ch).astype(np.int64)
            iy1 = np.floor((boxes[:, 3] - y0) / ch).astype(np.int64)
            nxj = ix1 - ix0 + 1
            nyj = iy1 - iy0 + 1
            total = int(np.sum(nxj * nyj))
            if total <= _MAX_GRID_ENTRIES:
                break
            cw, ch = cw * 2, ch * 2  # a few huge boxes among small ones: coarser cells
        nx = int(ix1.max()) + 2
        ny = int(iy1.max()) + 2
        cnt = nxj * nyj
        owner = np.repeat(np.arange(len(boxes)), cnt)
        local = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        key = (iy0[owner] + local // nxj[owner]) * nx + ix0[owner] + local % nxj[owner]
        order = np.argsort(key, kind="stable")  # stable: boxes stay in order within a cell
        keys, starts, counts = np.unique(key[order], return_index=True, return_counts=True)
        lookup = None
        if nx * ny <= _MAX_DENSE_CELLS:  # a direct table beats a binary search per point
            lookup = np.full(nx * ny, -1, dtype=np.int32)
            lookup[keys] = np.arange(len(keys), dtype=np.int32)
        return cls(x0, y0, cw, ch, nx, ny, keys, starts, counts, owner[order], lookup)

    def candidates(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(point index, box index) pairs of points and the boxes listed in their cell, sorted by
        point, then box."""
        ix = np.floor((lon - self.x0) / self.cw)
        iy = np.floor((lat - self.y0) / self.ch)
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)  # NaN compares False
        pts = np.flatnonzero(inside)
        key = iy[pts].astype(np.int64) * self.nx + ix[pts].astype(np.int64)
        if self.lookup is not None:
            pos = self.lookup[key]
            hit = pos >= 0
        else:
            pos = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
            hit = self.keys[pos] == key
        pts, pos = pts[hit], pos[hit]
        cnt = self.counts[pos]
        total = int(cnt.sum())
        local = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        return np.repeat(pts, cnt), self.entries[np.repeat(self.starts[pos], cnt) + local]


@dataclass
class _Circles:
    """Circular zones answered by distance to their centre."""

    zone: NDArray[np.int64]  # zone row of each circle
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    cx: NDArray[np.float64]  # centre in the zone's metric CRS
    cy: NDArray[np.float64]
    r: NDArray[np.float64]
    kx: NDArray[np.float64]  # metres per degree at the centre
    ky: NDArray[np.float64]
    grid: _Grid

    @classmethod
    def build(
        cls,
        zone: NDArray[np.int64],
        lon: NDArray[np.float64],
        lat: NDArray[np.float64],
        cx: NDArray[np.float64],
        cy: NDArray[np.float64],
        r: NDArray[np.float64],
    ) -> _Circles:
        kx, ky = _metres_per_degree(lat)
        reach = r * (1 + _PREFILTER_REL) + _PREFILTER_ABS_M
        hy = reach / ky
        # Degrees of longitude shrink towards the pole: size the box at its poleward edge.
        edge = np.clip(np.abs(lat) + hy, 0, 89.9)
        hx = reach / _metres_per_degree(edge)[0]
        boxes = np.column_stack([lon - hx, lat - hy, lon + hx, lat + hy])
        cell = (float(np.median(hx)) * 2 * _CELL_PER_RADIUS, float(np.median(hy)) * 2 * _CELL_PER_RADIUS)
        return cls(zone, lon, lat, cx, cy, r, kx, ky, _Grid.build(boxes, cell))

    def candidates(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(point index, circle index) pairs within the circles' generous reach, sorted by point."""
        pi, ci = self.grid.candidates(lon, lat)
        # Tangent-plane distance at the centre: cheap, and drops most of the grid's extras.
        dx = (lon[pi] - self.lon[ci]) * self.kx[ci]
        dy = (lat[pi] - self.lat[ci]) * self.ky[ci]
        reach = self.r[ci] * (1 + _PREFILTER_REL) + _PREFILTER_ABS_M
        near = dx * dx + dy * dy <= reach * reach
        return pi[near], ci[near]


@dataclass
class _Polygons:
    """Zones answered by their WGS84 polygon (prepared, tested with ``intersects_xy``)."""

    zone: NDArray[np.int64]
    geometry: NDArray[np.object_]
    bounds: NDArray[np.float64]
    grid: _Grid

    @classmethod
    def build(cls, zone: NDArray[np.int64], geometry: NDArray[np.object_]) -> _Polygons:
        geometry = np.array(geometry, dtype=object)
        shapely.prepare(geometry)  # each polygon tests its many points fast
        bounds = shapely.bounds(geometry)
        size = np.median(bounds[:, 2:] - bounds[:, :2], axis=0)
        return cls(zone, geometry, bounds, _Grid.build(bounds, tuple(size * _CELL_PER_RADIUS)))

    def hits(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(point index, polygon index) of points in (or on the edge of) a polygon."""
        pi, gi = self.grid.candidates(lon, lat)
        b = self.bounds[gi]
        x, y = lon[pi], lat[pi]
        inbox = (x >= b[:, 0]) & (x <= b[:, 2]) & (y >= b[:, 1]) & (y <= b[:, 3])
        pi, gi = pi[inbox], gi[inbox]
        ok = shapely.intersects_xy(self.geometry[gi], lon[pi], lat[pi])
        return pi[ok], gi[ok]


@dataclass
class _Zones:
    """Zones ready to be queried: arrays, not rows."""

    frame: pd.DataFrame  # zone attributes, positional index
    geometry: NDArray[np.object_]  # WGS84 polygons
    epsg: NDArray[np.int64]
    place_metric: NDArray[np.object_]  # place geometry in the zone's metric CRS, or None
    has_place: NDArray[np.bool_]
    circle: NDArray[np.bool_]
    clon: NDArray[np.float64]
    clat: NDArray[np.float64]
    cx: NDArray[np.float64]
    cy: NDArray[np.float64]
    radius: NDArray[np.float64]
    starts: NDArray[np.int64]
    ends: NDArray[np.int64]

    def active(self, day: int | None) -> NDArray[np.bool_]:
        """Zones in force on ``day`` (all usable zones without a day)."""
        ok = np.array([g is not None and not g.is_empty for g in self.geometry], dtype=bool)
        if day is None:
            return ok
        return ok & np.any((self.starts <= day) & (day <= self.ends), axis=1)


def _place_geometries(zones: pd.DataFrame, places: Any) -> list[BaseGeometry | None]:
    """The WGS84 place geometry of each zone row (None when unknown)."""
    n = len(zones)
    if places is None:
        return [None] * n
    if isinstance(places, gpd.GeoDataFrame):
        if "id" not in places.columns:
            raise ValueError("places must have an 'id' column holding the zones' place_id")
        pl = places.to_crs(4326) if places.crs is not None and places.crs.to_epsg() != 4326 else places
        lookup: Mapping[str, BaseGeometry] = {}
        for pid, g in zip(pl["id"].astype(str), pl.geometry, strict=True):
            lookup.setdefault(pid, g)  # first wins, as in geo.rules.rule_places (drop_duplicates)
        return [lookup.get(str(p)) for p in zones["place_id"]]
    if isinstance(places, Mapping):
        return [places.get(str(p)) for p in zones["place_id"]]
    seq = list(places)
    if len(seq) != n:
        raise ValueError(f"places has {len(seq)} geometries for {n} zones; give one per zone, in order")
    return seq


def _prepare(zones: gpd.GeoDataFrame, places: Any, epsg: int | Sequence[int] | None) -> _Zones:
    if zones.crs is not None and zones.crs.to_epsg() != 4326:
        zones = zones.to_crs(4326)
    frame = pd.DataFrame(zones.drop(columns=zones.geometry.name)).reset_index(drop=True)
    geometry = np.asarray(zones.geometry.array, dtype=object)
    n = len(frame)
    for col in _COPIED:
        if col not in frame.columns:
            frame[col] = pd.NA
    if "id" not in frame.columns:
        frame["id"] = pd.NA
    if epsg is None:
        if n:
            bounds = shapely.bounds(geometry[[g is not None for g in geometry]])
            epsg = local_crs((bounds[:, 0] + bounds[:, 2]) / 2) if len(bounds) else 4547
        else:
            epsg = 4547
    zone_epsg = np.broadcast_to(np.asarray(epsg, dtype=np.int64), (n,)).copy()

    place_wgs = _place_geometries(frame, places)
    place_metric = np.full(n, None, dtype=object)
    for e in np.unique(zone_epsg):
        idx = [i for i in np.flatnonzero(zone_epsg == e) if place_wgs[i] is not None]
        if idx:
            tf = _transformer(int(e))
            geoms = np.array([place_wgs[i] for i in idx], dtype=object)
            place_metric[idx] = shapely.transform(
                geoms, lambda xy, tf=tf: np.column_stack(tf.transform(xy[:, 0], xy[:, 1]))
            )

    metric = (
        frame["metric"].astype(object).fillna("euclidean")
        if "metric" in frame
        else pd.Series(["euclidean"] * n)
    )
    radius = pd.to_numeric(frame["distance_m"], errors="coerce").to_numpy(dtype=float)
    is_point = np.array(
        [g is not None and g.geom_type == "Point" and not g.is_empty for g in place_wgs], dtype=bool
    )
    circle = is_point & (metric.to_numpy() == "euclidean") & np.isfinite(radius) & (radius > 0)
    clon = np.full(n, np.nan)
    clat = np.full(n, np.nan)
    cx = np.full(n, np.nan)
    cy = np.full(n, np.nan)
    for i in np.flatnonzero(circle):
        clon[i], clat[i] = place_wgs[i].x, place_wgs[i].y
        cx[i], cy[i] = place_metric[i].x, place_metric[i].y
    starts, ends = _phase_intervals(frame["phase_dates"].tolist())
    return _Zones(
        frame=frame,
        geometry=geometry,
        epsg=zone_epsg,
        place_metric=place_metric,
        has_place=np.array([g is not None for g in place_metric], dtype=bool),
        circle=circle,
        clon=clon,
        clat=clat,
        cx=cx,
        cy=cy,
        radius=radius,
        starts=starts,
        ends=ends,
    )


# --------------------------------------------------------------------------------------------
# Points
# --------------------------------------------------------------------------------------------


def _point_arrays(points: Any) -> tuple[pd.DataFrame, NDArray[np.float64], NDArray[np.float64], Any]:
    """(attribute frame, lon, lat, geometry array or None) of the points argument."""
    if isinstance(points, gpd.GeoDataFrame):
        pts = points
        if pts.crs is not None and not pts.crs.equals("EPSG:4326") and pts.crs.to_epsg() not in (4326, 4490):
            pts = pts.to_crs(4326)
        geoms = np.asarray(pts.geometry.array, dtype=object)
        types = shapely.get_type_id(geoms)
        if len(geoms) and not np.all(types == 0):
            bad = np.flatnonzero(types != 0)[:5]
            raise ValueError(f"points must be Point geometries; rows {bad.tolist()} are not (or are missing)")
        lon = shapely.get_x(geoms)
        lat = shapely.get_y(geoms)
        attrs = pd.DataFrame(pts.drop(columns=pts.geometry.name))
        return attrs, lon, lat, geoms
    if isinstance(points, np.ndarray) and points.ndim == 2 and points.shape[1] == 2:
        lon, lat = points[:, 0], points[:, 1]
    else:
        lon, lat = points
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if lon.shape != lat.shape or lon.ndim != 1:
        raise ValueError("lon and lat must be 1-D arrays of the same length")
    return pd.DataFrame({"lon": lon, "lat": lat}), lon, lat, None


# --------------------------------------------------------------------------------------------
# The query
# --------------------------------------------------------------------------------------------


def query_points(
    points: gpd.GeoDataFrame | tuple[ArrayLike, ArrayLike] | NDArray[np.float64],
    zones: gpd.GeoDataFrame,
    *,
    places: gpd.GeoDataFrame | Mapping[str, BaseGeometry] | Sequence[BaseGeometry | None] | None = None,
    date: dt.date | str | None = None,
    date_column: str | None = None,
    epsg: int | Sequence[int] | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
    attributes: pd.DataFrame | None = None,
    geometry: bool = True,
) -> gpd.GeoDataFrame | pd.DataFrame:
    """Which zones contain each point.

    Parameters
    ----------
    points : GeoDataFrame, (lon, lat) pair of arrays, or (n, 2) array
        Points in WGS84 (a GeoDataFrame in another CRS is converted; one without a CRS is taken as
        WGS84). Every geometry must be a non-empty Point.
    zones : GeoDataFrame
        Zone layer(s) from :func:`geo.rules.build_zones` (several plans may be concatenated).
    places : GeoDataFrame, mapping or sequence, optional
        The places the zones were drawn around, in WGS84: a GeoDataFrame with an ``id`` column,
        or a mapping, keyed by the zones' ``place_id``; or one geometry per zone row, in order
        (use this when several plans' place ids could collide). Needed for ``dist_to_place_m``
        and for answering circles by distance to their centre; without it every zone is tested
        against its polygon and ``dist_to_place_m`` is empty.
    date : date or ISO text, optional
        Keep only zones in force that day (:func:`geo.rules.in_force` on ``phase_dates``).
    date_column : str, optional
        Column of ``points`` holding each point's own date (a case's date); it overrides
        ``date`` where it is filled (a point with neither is not filtered by phase). Values
        that are not dates raise ValueError (see :func:`parse_dates` for the forms read).
    epsg : int or sequence of int, optional
        Metric CRS for distances, one for all zones or one per zone (default: the Gauss-Krüger
        zone of the zones' median longitude, :func:`geo.crs.local_crs`).
    chunk_size : int
        Points handled at once.
    progress : callable, optional
        Called with the number of points done after each chunk.
    attributes : DataFrame, optional
        The points' own columns, one row per point, when ``points`` are given as arrays (as
        :func:`read_point_table` returns them); default: ``lon`` and ``lat``.
    geometry : bool
        Give each result row its point geometry. Without it the result is a plain DataFrame
        with ``lon_wgs84`` and ``lat_wgs84`` instead: no geometry object is made per row, which
        a million-row table written to CSV does not need.

    Returns
    -------
    GeoDataFrame
        One row per (point, zone) hit, and one row for each point in no zone (``in_zone``
        False, zone fields empty); rows in point order, then zone order. Columns: the point's
        own columns (a name clashing with a result field gets the suffix ``_point``),
        ``point_row`` (0-based position in ``points``), ``in_zone``, :data:`ZONE_FIELDS`
        (``distance_m`` is the rule's distance, ``dist_to_place_m`` the metres from the point
        to the place, 0 inside it), and the point geometry (WGS84). Zone text fields are
        categoricals (a million rows share a few thousand values); ``astype(str)`` if needed.

    Notes
    -----
    See the module docstring for how points are tested. A point exactly on a zone's edge is
    in it.
    """
    attrs, lon, lat, geoms = _point_arrays(points)
    n = len(lon)
    if attributes is not None and not isinstance(points, gpd.GeoDataFrame):
        if len(attributes) != n:
            raise ValueError(f"attributes has {len(attributes)} rows for {n} points")
        attrs = attributes.reset_index(drop=True)
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(f"{len(rows)} point(s) have no usable coordinates, e.g. rows {rows[:5].tolist()}")

    point_day: NDArray[np.int64] | None = None
    global_day = _day(date) if date is not None else None
    if date_column is not None:
        if date_column not in attrs.columns:
            raise ValueError(f"no column {date_column!r} among the points' columns {list(attrs.columns)}")
        point_day, bad_dates = parse_dates(attrs[date_column])
        if bad_dates.any():
            rows = np.flatnonzero(bad_dates)
            raise ValueError(
                f"column {date_column!r}: {len(rows)} value(s) are not dates, e.g. rows {rows[:5].tolist()}"
            )
        if global_day is not None:
            point_day = np.where(point_day == _NO_DATE, global_day, point_day)

    z = _prepare(zones, places, epsg)
    # One date for all: drop zones out of force before testing; per-point dates filter the pairs.
    usable = z.active(global_day if point_day is None else None)
    circ = np.flatnonzero(usable & z.circle)
    poly = np.flatnonzero(usable & ~z.circle)
    grid = (
        _Circles.build(circ, z.clon[circ], z.clat[circ], z.cx[circ], z.cy[circ], z.radius[circ])
        if len(circ)
        else None
    )
    polys = _Polygons.build(poly, z.geometry[poly]) if len(poly) else None

    pis, zis, dists = [], [], []
    step = max(int(chunk_size), 1)
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        pi, zi, d = _chunk_pairs(lon[lo:hi], lat[lo:hi], z, grid, polys)
        if point_day is not None and len(pi):
            day = point_day[lo:hi][pi]
            ok = (day == _NO_DATE) | np.any(
                (z.starts[zi] <= day[:, None]) & (day[:, None] <= z.ends[zi]), axis=1
            )
            pi, zi, d = pi[ok], zi[ok], d[ok]
        pis.append(pi + lo)
        zis.append(zi)
        dists.append(d)
        if progress is not None:
            progress(hi - lo)
    pi = np.concatenate(pis) if pis else np.empty(0, np.int64)
    zi = np.concatenate(zis) if zis else np.empty(0, np.int64)
    dist = np.concatenate(dists) if dists else np.empty(0)
    return _assemble(attrs, lon, lat, geoms, z, pi, zi, dist, geometry=geometry)


def _chunk_pairs(
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    z: _Zones,
    circles: _Circles | None,
    polys: _Polygons | None,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Hits of one chunk: (point index, zone row, metres to the place), sorted by point then zone."""
    parts = []
    if circles is not None:
        pi, ci = circles.candidates(lon, lat)
        zi = circles.zone[ci]
        x, y = _project_pairs(lon, lat, pi, z.epsg[zi])
        d = np.hypot(x - circles.cx[ci], y - circles.cy[ci])
        ok = d <= circles.r[ci] * (1 + 1e-12)  # the rule: within distance_m of the centre
        parts.append((pi[ok], zi[ok], d[ok]))
    if polys is not None:
        pi, gi = polys.hits(lon, lat)
        zi = polys.zone[gi]
        d = np.full(len(pi), np.nan)
        known = z.has_place[zi]
        if known.any():
            x, y = _project_pairs(lon, lat, pi[known], z.epsg[zi[known]])
            d[known] = shapely.distance(shapely.points(x, y), z.place_metric[zi[known]])
        parts.append((pi, zi, d))
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    if len(parts) == 1:
        return parts[0]
    pi = np.concatenate([p[0] for p in parts])
    zi = np.concatenate([p[1] for p in parts])
    d = np.concatenate([p[2] for p in parts])
    order = np.lexsort((zi, pi))
    return pi[order], zi[order], d[order]


def _assemble(
    attrs: pd.DataFrame,
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    geoms: NDArray[np.object_] | None,
    z: _Zones,
    pi: NDArray[np.int64],
    zi: NDArray[np.int64],
    dist: NDArray[np.float64],
    *,
    geometry: bool = True,
) -> gpd.GeoDataFrame | pd.DataFrame:
    """Hits plus one row per point in no zone, in point order, as the result frame.

    ``pi`` must be sorted by point (then zone), as :func:`query_points` collects it. Every output
    column is one ``take`` on a small per-point or per-zone array, and the frame is built once
    without copying them (copying and consolidating a 7-million-row result costs seconds).
    """
    n = len(lon)
    nz = len(z.frame)
    counts = np.bincount(pi, minlength=n)
    miss = counts == 0  # a point in no zone gets one row of its own
    if miss.any():
        # Row of each pair in the output: its own index plus the points in no zone before it.
        point_row = np.repeat(np.arange(n, dtype=np.int64), counts + miss)
        pos = np.arange(len(pi)) + np.cumsum(miss)[pi]
        zone_row = np.full(len(point_row), nz, dtype=np.intp)  # nz: "no zone", the row past the end
        zone_row[pos] = zi
        d_out = np.full(len(point_row), np.nan)
        d_out[pos] = dist
    else:  # every point in some zone: the pairs are the rows
        point_row = pi.astype(np.int64, copy=False)
        zone_row = zi.astype(np.intp, copy=False)
        d_out = np.asarray(dist, dtype=np.float64)
    in_zone = zone_row < nz

    own = {"point_row", "in_zone", *ZONE_FIELDS, *(() if geometry else ("lon_wgs84", "lat_wgs84"))}
    renamed = {c: f"{c}_point" for c in attrs.columns if c in own}
    # Built column by column into one dict and framed once, without copies.
    cols: dict[str, Any] = {}
    for c in attrs.columns:
        cols[renamed.get(c, c)] = attrs[c].array.take(point_row)
    cols["point_row"] = point_row
    cols["in_zone"] = in_zone
    taken: dict[bytes, pd.Categorical] = {}
    for field in ZONE_FIELDS:
        if field == "dist_to_place_m":
            cols[field] = d_out
            continue
        col = z.frame["id" if field == "zone_id" else field]
        if field == "distance_m":
            vals = np.append(pd.to_numeric(col, errors="coerce").to_numpy(dtype=float), np.nan)
            cols[field] = vals.take(zone_row)
            continue
        # Zone attributes repeat: categorical codes are a cheap take, where a million strings
        # would each be checked and copied. Code -1 (the extra last row) is "no zone".
        codes, cats = pd.factorize(col.astype(object).where(col.notna(), None), use_na_sentinel=True)
        cats = pd.Index(cats, dtype="string") if len(cats) else pd.Index([], dtype="string")
        per_zone = pd.Categorical.from_codes(np.append(codes, -1), categories=cats)  # smallest code dtype
        key = per_zone.codes.dtype.str.encode() + per_zone.codes.tobytes()
        if key in taken:  # same codes as an earlier field (ids of one zone each, all-empty fields)
            cols[field] = pd.Categorical.from_codes(
                taken[key].codes.copy(), dtype=per_zone.dtype, validate=False
            )
        else:
            cols[field] = taken[key] = per_zone.take(zone_row)
    if not geometry:
        cols["lon_wgs84"] = lon.take(point_row)
        cols["lat_wgs84"] = lat.take(point_row)
        return pd.DataFrame(cols, copy=False)
    if geoms is None:
        geoms = shapely.points(lon, lat)
    cols["geometry"] = gpd.array.GeometryArray(geoms.take(point_row), crs="EPSG:4326")
    return gpd.GeoDataFrame(cols, geometry="geometry", copy=False)


def plan_places(data: PlanData) -> gpd.GeoDataFrame:
    """The places a plan's zones were drawn around: its named places and the kind places."""
    frames = [f[["id", "geometry"]] for f in (data.places, data.kind_places) if len(f)]
    if not frames:
        return gpd.GeoDataFrame({"id": []}, geometry=[], crs="EPSG:4326")
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs="EPSG:4326")


def plan_zone_inputs(
    datas: Iterable[PlanData],
) -> tuple[gpd.GeoDataFrame, list[BaseGeometry | None], list[int]]:
    """Zones of several plans concatenated, with each zone's place geometry and metric CRS."""
    zones, places, epsgs = [], [], []
    for d in datas:
        if not len(d.zones):
            continue
        zones.append(d.zones)
        places.extend(_place_geometries(d.zones, plan_places(d)))
        epsgs.extend([d.epsg] * len(d.zones))
    if not zones:
        from .layers import empty_layer
        from .rules import ZONE_COLUMNS

        return empty_layer(ZONE_COLUMNS), [], []
    frame = gpd.GeoDataFrame(pd.concat(zones, ignore_index=True), geometry="geometry", crs="EPSG:4326")
    return frame, places, epsgs


def query_plan(
    points: gpd.GeoDataFrame | tuple[ArrayLike, ArrayLike] | NDArray[np.float64],
    data: PlanData | Sequence[PlanData],
    date: dt.date | str | None = None,
    *,
    date_column: str | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
    attributes: pd.DataFrame | None = None,
    geometry: bool = True,
) -> gpd.GeoDataFrame | pd.DataFrame:
    """:func:`query_points` against the zones of one or more built plans.

    Each plan's places give the distances, and each plan's own metric CRS measures them.

    Parameters
    ----------
    points
        As for :func:`query_points`.
    data : PlanData or sequence of PlanData
        From :func:`geo.build.build_plan`.
    date, date_column, chunk_size, progress, attributes, geometry
        As for :func:`query_points`.

    Returns
    -------
    GeoDataFrame
        As :func:`query_points`.
    """
    datas = [data] if not isinstance(data, Sequence) else list(data)
    zones, places, epsgs = plan_zone_inputs(datas)
    return query_points(
        points,
        zones,
        places=places,
        date=date,
        date_column=date_column,
        epsg=epsgs or None,
        chunk_size=chunk_size,
        progress=progress,
        attributes=attributes,
        geometry=geometry,
    )


# --------------------------------------------------------------------------------------------
# Reading point files
# --------------------------------------------------------------------------------------------
