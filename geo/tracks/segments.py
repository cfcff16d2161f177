"""Streets cut into fixed-length segments in the metric CRS.

A pass is counted per segment, so a street that is swept only half-way shows as half its
segments reaching the target. Each segment carries its direction (a unit vector from its first
to its last point) for the heading check when fixes are snapped.
"""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import shapely
from shapely.ops import substring

__all__ = ["SEGMENT_M", "split_streets"]

#: Default segment length, metres.
SEGMENT_M = 50.0


def split_streets(streets: gpd.GeoDataFrame, epsg: int, length_m: float = SEGMENT_M) -> gpd.GeoDataFrame:
    """Cut every street into segments of about ``length_m`` metres.

    Parameters
    ----------
    streets : GeoDataFrame
        Lines with at least ``name`` (WGS84 or any CRS); an optional ``target`` column is carried.
    epsg : int
        The metric CRS (:func:`geo.crs.local_crs`).
    length_m : float
        Segment length; each line part of length L is cut into ``max(1, round(L / length_m))``
        equal pieces, so no piece is a sliver.

    Returns
    -------
    GeoDataFrame
        In ``epsg``: ``seg_id`` (0…n-1), ``street``, ``street_row`` (row of ``streets``),
        ``length_m``, ``dx, dy`` (unit direction), plus the street's ``target`` if given.
    """
    metric = streets.to_crs(epsg)
    recs: dict[str, list] = {"street": [], "street_row": [], "geometry": []}
    # One Python step per street part and piece: streets number thousands at most, and
    # substring keeps the bends of a curved street inside each piece.
    for row, (name, geom) in enumerate(zip(metric["name"], metric.geometry, strict=True)):
        if geom is None or geom.is_empty:
            continue
        for part in shapely.get_parts(
            shapely.line_merge(geom) if geom.geom_type == "MultiLineString" else geom
        ):
            total = part.length
            if total <= 0:
                continue
            n = max(1, round(total / length_m))
            cuts = np.linspace(0.0, total, n + 1)
            for a, b in itertools.pairwise(cuts):
                recs["street"].append(name)
                recs["street_row"].append(row)
                recs["geometry"].append(substring(part, a, b))
    geoms = np.asarray(recs["geometry"], dtype=object)
    start = shapely.get_point(geoms, 0) if len(geoms) else geoms
    end = shapely.get_point(geoms, -1) if len(geoms) else geoms
    dx = shapely.get_x(end) - shapely.get_x(start) if len(geoms) else np.empty(0)
    dy = shapely.get_y(end) - shapely.get_y(start) if len(geoms) else np.empty(0)
    norm = np.hypot(dx, dy)
    norm[norm == 0] = 1.0
    out = gpd.GeoDataFrame(
        {
            "seg_id": np.arange(len(geoms), dtype=np.int32),
            "street": recs["street"],
            "street_row": np.asarray(recs["street_row"], dtype=np.int32),
            "length_m": shapely.length(geoms) if len(geoms) else np.empty(0),
            "dx": dx / norm,
            "dy": dy / norm,
        },
        geometry=list(geoms),
        crs=epsg,
    )
    if "target" in streets.columns:
        out["target"] = streets["target"].to_numpy()[out["street_row"].to_numpy()]
    return out
