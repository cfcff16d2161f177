"""单元网格: import a grid from a 数字城管 system, or make square cells; DB11 codes; topology check.

A DB11-style cell code has 15 digits: 6-digit 区级行政区划代码 + 3-digit 街道 + 3-digit 社区 +
3-digit sequence, the sequence numbered west→east along each row of cells, rows north→south,
inside the 社区. Generated cells without community polygons are numbered over the whole region
and flagged ``standard = 0``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from ..errors import InputError, Problem
from .store import Store

__all__ = ["TopologyIssue", "check_topology", "make_grid", "read_grid", "save_grid"]

CODE_RE = re.compile(r"^\d{15}$")
GRID_ALIASES = {
    "code": ("网格编码", "网格编号", "单元网格编码", "code", "grid_code"),
    "district_code": ("区划代码", "区级行政区划代码", "district_code"),
    "subdistrict": ("街道", "街道名称", "subdistrict"),
    "subdistrict_code": ("街道代码", "街道编码", "subdistrict_code"),
    "community": ("社区", "社区名称", "community"),
    "community_code": ("社区代码", "社区编码", "community_code"),
    "units": ("责任主体", "责任单位", "units", "unit"),
}
#: Gaps and overlaps smaller than this are noise from digitising, not reported.
MIN_AREA_M2 = 1.0


@dataclass
class TopologyIssue:
    """An overlap between two cells or a gap inside the region."""

    kind: str  # overlap | gap
    area_m2: float
    lon: float
    lat: float
    cells: str = ""

    def __str__(self) -> str:
        what = f"overlap of {self.cells}" if self.kind == "overlap" else "gap"
        return f"{what}: {self.area_m2:.1f} m² at {self.lon:.6f},{self.lat:.6f}"


def _columns(df: pd.DataFrame) -> pd.DataFrame:
    from ..tables import fold_key

    index = {fold_key(a): c for c, names in GRID_ALIASES.items() for a in names}
    rename = {col: index[fold_key(str(col))] for col in df.columns if fold_key(str(col)) in index}
    return df.rename(columns=rename)


def read_grid(path: str | Path) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Read grid cells from a GIS file (GeoJSON, GeoPackage, Shapefile) with their codes.

    Returns
    -------
    cells : GeoDataFrame
        ``code, standard, district_code, subdistrict, subdistrict_code, community,
        community_code, units, source_ref``; WGS84 (Multi)Polygons.
    problems : list of Problem
        Rows skipped (no code, repeated code, not a polygon).
    """
    source = str(path)
    if not Path(path).is_file():
        raise InputError.single(
            source, "file not found; expected a GeoJSON/GeoPackage/Shapefile of grid cells"
        )
    try:
        gdf = gpd.read_file(path)
    except Exception as e:  # pyogrio/GDAL errors
        raise InputError.single(source, f"cannot read the file ({type(e).__name__}): {e}") from None
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs(4326)
    gdf = _columns(gdf)
    if "code" not in gdf.columns:
        raise InputError.single(source, "no grid code column (网格编码 or code)", line=1, field="code")
    problems: list[Problem] = []
    code = gdf["code"].astype(object).where(gdf["code"].notna(), "").astype(str).str.strip()
    types = shapely.get_type_id(np.asarray(gdf.geometry.array, dtype=object))
    bad = np.zeros(len(gdf), dtype=bool)
    for i in range(len(gdf)):
        fno = i + 1
        if not code.iloc[i]:
            problems.append(Problem(source, "no grid code; expected 网格编码", line=fno, field="code"))
            bad[i] = True
        elif types[i] not in (3, 6):
            problems.append(
                Problem(source, "not a polygon; expected a grid cell polygon", line=fno, field="geometry")
            )
            bad[i] = True
    dup = code.duplicated() & ~pd.Series(bad)
    for i in np.flatnonzero(dup.to_numpy()):
        problems.append(
            Problem(
                source, f"grid code {code.iloc[i]!r} repeats; expected unique codes", line=i + 1, field="code"
            )
        )
    bad |= dup.to_numpy()
    out = gdf[~bad].copy()
    out["code"] = code[~bad].to_numpy()
    out["standard"] = out["code"].str.fullmatch(CODE_RE.pattern).astype(int)
    for c in GRID_ALIASES:
        if c not in out.columns:
            out[c] = None
    if "district_code" in out.columns:
        std = out["standard"].astype(bool)
        out.loc[std, "district_code"] = out.loc[std, "code"].str[:6]
        out.loc[std, "subdistrict_code"] = out.loc[std, "code"].str[6:9]
        out.loc[std, "community_code"] = out.loc[std, "code"].str[9:12]
    out["source_ref"] = [f"{Path(source).name}:{i + 1}" for i in np.flatnonzero(~bad)]
    cols = ["code", "standard", *[c for c in GRID_ALIASES if c != "code"], "source_ref", "geometry"]
    return gpd.GeoDataFrame(out[cols], geometry="geometry", crs=4326), problems


def _number_cells(rows: np.ndarray, cols: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """1-based sequence per group: rows north→south (row 0 is the northernmost), then west→east."""
    order = np.lexsort((cols, rows, groups))
    seq = np.empty(len(rows), dtype=np.int64)
    g_sorted = groups[order]
    starts = np.r_[0, np.flatnonzero(g_sorted[1:] != g_sorted[:-1]) + 1]
    counts = np.diff(np.r_[starts, len(order)])
    seq[order] = np.arange(len(order)) - np.repeat(starts, counts) + 1
    return seq


def make_grid(
    boundary: BaseGeometry,
    size_m: float,
    epsg: int,
    *,
    communities: gpd.GeoDataFrame | None = None,
    units: str | None = None,
) -> gpd.GeoDataFrame:
    """Square cells of ``size_m`` in the metric CRS, clipped to the boundary (and to each 社区).

    Parameters
    ----------
    boundary : shapely geometry
        Region in WGS84.
    size_m : float
        Cell side in metres.
    epsg : int
        Metric CRS (:func:`geo.crs.local_crs`).
    communities : GeoDataFrame, optional
        社区 polygons with ``district_code`` (6 digits), ``subdistrict_code`` (3), ``community_code``
        (3) and optionally ``subdistrict``, ``community``, ``units``; cells then get DB11 codes.
    units : str, optional
        责任主体 for every cell (communities' own ``units`` win).

    Returns
    -------
    GeoDataFrame
        Columns as :func:`read_grid`.
    """
    if size_m <= 0:
        raise InputError.single("--size", f"cell size must be positive, got {size_m}")
    b = gpd.GeoSeries([boundary], crs=4326).to_crs(epsg).iloc[0]
    minx, miny, maxx, maxy = b.bounds
    nx = int(np.ceil((maxx - minx) / size_m))
    ny = int(np.ceil((maxy - miny) / size_m))
    if nx * ny > 5_000_000:
        raise InputError.single("--size", f"{nx * ny} cells of {size_m} m: too many; use a larger --size")
    col, row = np.meshgrid(np.arange(nx), np.arange(ny))  # row 0 = north
    col, row = col.ravel(), row.ravel()
    x0 = minx + col * size_m
    y1 = maxy - row * size_m
    boxes = shapely.box(x0, y1 - size_m, x0 + size_m, y1)
    if communities is None:
        parts = [(boxes, np.zeros(len(boxes), dtype=np.int64), b)]
        comm = None
    else:
        comm = communities.to_crs(epsg).reset_index(drop=True)
        for c in ("district_code", "subdistrict_code", "community_code"):
            if c not in comm.columns:
                raise InputError.single("--communities", f"community polygons need a {c!r} column", field=c)
        parts = [
            (boxes, np.full(len(boxes), k), shapely.intersection(g, b)) for k, g in enumerate(comm.geometry)
        ]
    geoms, rows, cols, groups = [], [], [], []
    tree = shapely.STRtree(boxes)
    for _, gid, area in parts:
        hit = tree.query(area, predicate="intersects")
        clipped = shapely.intersection(boxes[hit], area)
        keep = ~shapely.is_empty(clipped) & (shapely.area(clipped) > 0.01)
        clipped = shapely.make_valid(clipped[keep])
        # Clipping can leave line slivers in a collection: keep the polygonal part only.
        clipped = np.array([_polygonal(g) for g in clipped], dtype=object)
        geoms.append(clipped)
        rows.append(row[hit][keep])
        cols.append(col[hit][keep])
        groups.append(gid[hit][keep] if len(gid) == len(boxes) else np.full(keep.sum(), gid[0]))
    geoms_m = np.concatenate(geoms)
    r, c, g = np.concatenate(rows), np.concatenate(cols), np.concatenate(groups)
    seq = _number_cells(r, c, g)
    out = pd.DataFrame({"seq": seq})
    if comm is None:
        out["code"] = [f"X{s:06d}" for s in seq]
        out["standard"] = 0
        for k in ("district_code", "subdistrict", "subdistrict_code", "community", "community_code"):
            out[k] = None
        out["units"] = units
    else:
        if (seq > 999).any():
            raise InputError.single(
                "--size", "more than 999 cells in one 社区: a DB11 sequence has 3 digits; use a larger --size"
            )
        pick = comm.iloc[g].reset_index(drop=True)
        dc = pick["district_code"].astype(str).str.zfill(6)
        sc = pick["subdistrict_code"].astype(str).str.zfill(3)
        cc = pick["community_code"].astype(str).str.zfill(3)
        out["code"] = (dc + sc + cc + pd.Series(seq).map("{:03d}".format)).to_numpy()
        out["standard"] = 1
        out["district_code"] = dc.to_numpy()
        out["subdistrict"] = pick.get("subdistrict", pd.Series([None] * len(pick))).to_numpy()
        out["subdistrict_code"] = sc.to_numpy()
        out["community"] = pick.get("community", pd.Series([None] * len(pick))).to_numpy()
        out["community_code"] = cc.to_numpy()
        cu = pick["units"] if "units" in pick.columns else pd.Series([None] * len(pick))
        out["units"] = cu.where(cu.notna(), units).to_numpy()
    out["source_ref"] = f"generated {size_m:g} m"
    out = out.drop(columns="seq")
    cells = gpd.GeoDataFrame(out, geometry=list(geoms_m), crs=epsg).to_crs(4326)
    return cells


def _polygonal(g: BaseGeometry) -> BaseGeometry:
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    polys = [p for p in getattr(g, "geoms", []) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polys) if polys else shapely.Polygon()


def check_topology(
    cells: gpd.GeoDataFrame, epsg: int, region: BaseGeometry | None = None
) -> list[TopologyIssue]:
    """Overlaps between cells and gaps inside the region (holes in the cells' union if no region).

    Returns
    -------
    list of TopologyIssue
        Each with its area (m², metric CRS) and a WGS84 location inside it.
    """
    m = cells.to_crs(epsg)
    geoms = np.asarray(m.geometry.array, dtype=object)
    codes = cells["code"].to_numpy()
    issues: list[TopologyIssue] = []
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="overlaps")
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a):
        inter = shapely.intersection(geoms[a], geoms[b])
        areas = shapely.area(inter)
        for i in np.flatnonzero(areas >= MIN_AREA_M2):
            issues.append(_issue("overlap", inter[i], epsg, f"{codes[a[i]]} and {codes[b[i]]}"))
    # On a 1 cm precision grid: reprojected shared edges differ by float noise, which would
    # otherwise leave hairline slivers instead of one polygon with its real holes.
    union = shapely.union_all(shapely.make_valid(geoms), grid_size=0.01) if len(geoms) else shapely.Polygon()
    if region is not None:
        reg = gpd.GeoSeries([region], crs=4326).to_crs(epsg).iloc[0]
        gaps = shapely.difference(reg, union, grid_size=0.01)
    else:
        holes = [
            shapely.Polygon(r) for p in getattr(union, "geoms", [union]) for r in getattr(p, "interiors", [])
        ]
        gaps = shapely.union_all(holes) if holes else shapely.Polygon()
    for g in getattr(gaps, "geoms", [gaps]):
        if not g.is_empty and g.area >= MIN_AREA_M2:
            issues.append(_issue("gap", g, epsg))
    return issues


def _issue(kind: str, g: BaseGeometry, epsg: int, cells: str = "") -> TopologyIssue:
    p = gpd.GeoSeries([g.representative_point()], crs=epsg).to_crs(4326).iloc[0]
    return TopologyIssue(kind, float(g.area), float(p.x), float(p.y), cells)


def save_grid(store: Store, cells: gpd.GeoDataFrame, epsg: int) -> int:
    """Replace the ledger's grid with ``cells`` (one transaction); returns the number of cells."""
    from .store import GRID_COLUMNS

    df = pd.DataFrame(cells.drop(columns="geometry"))
    df["area_m2"] = cells.to_crs(epsg).area.to_numpy()
    for c in GRID_COLUMNS:
        if c not in df.columns:
            df[c] = None
    geoms = np.asarray(cells.geometry.array, dtype=object)
    # The table is MULTIPOLYGON: single polygons are wrapped.
    single = shapely.get_type_id(geoms) == 3
    geoms = geoms.copy()
    geoms[single] = [shapely.MultiPolygon([g]) for g in geoms[single]]
    with store.transaction():
        store.execute("DELETE FROM grids")
        store.insert_frame("grids", df[list(GRID_COLUMNS)], geoms)
    return len(df)


def read_communities(path: str | Path) -> gpd.GeoDataFrame:
    """社区 polygons with their codes (columns named as in :data:`GRID_ALIASES`)."""
    source = str(path)
    try:
        gdf = gpd.read_file(path)
    except Exception as e:  # pyogrio/GDAL errors
        raise InputError.single(source, f"cannot read the file ({type(e).__name__}): {e}") from None
    gdf = _columns(gdf)
    for c, width in (("district_code", 6), ("subdistrict_code", 3), ("community_code", 3)):
        if c not in gdf.columns:
            raise InputError.single(source, f"no {c} column (e.g. {GRID_ALIASES[c][0]})", line=1, field=c)
        v = gdf[c].astype(str).str.strip()
        badv = ~v.str.fullmatch(rf"\d{{1,{width}}}")
        for i in np.flatnonzero(badv.to_numpy()):
            raise InputError.single(
                source, f"{c} {v.iloc[i]!r} is not a code of {width} digits", line=i + 1, field=c
            )
        gdf[c] = v
    return gdf.to_crs(4326) if gdf.crs is not None else gdf.set_crs(4326)


def region_boundary(region: str | None, plans: Sequence[str] = ()) -> tuple[BaseGeometry, int, str]:
    """Boundary, metric CRS and name of a region given by name or by a plan's region."""
    from ..plan import get_plan
    from ..regions import get_region

    if region is None and plans:
        region = get_plan(plans[0]).document.region
    if region is None:
        raise InputError.single("--region", "give --region R or --plan ID")
    r = get_region(region)
    return r.boundary, r.epsg, r.name
