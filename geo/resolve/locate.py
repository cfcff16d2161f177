"""Geometry of locator phrases, in a metric CRS.

Every function takes and returns shapely geometries in metres (the local Gauss-Krüger CRS) and
returns the located geometry with an honest accuracy estimate in metres. Plain geometry only:
which street or anchor to use is decided by the resolver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shapely import box, line_merge, shortest_line
from shapely.geometry import LineString, MultiLineString, Point
from shapely.geometry.base import BaseGeometry

#: Half-length of a 路段 around its anchor (m): a plan's "X路段" is the stretch of street an anchor
#: fronts, typically one block.
SEGMENT_M = 150.0
#: Radius of 周边 (m) when the plan gives none.
AROUND_M = 200.0
#: Half-length of the frontage in front of (门前) or opposite (对面) an anchor (m).
FRONTAGE_M = 60.0

_DIRS = {"东": (1.0, 0.0), "西": (-1.0, 0.0), "北": (0.0, 1.0), "南": (0.0, -1.0)}


@dataclass(frozen=True)
class Located:
    """A located geometry (metric CRS) with its accuracy and a note saying what was done."""

    geometry: BaseGeometry
    accuracy_m: float
    note: str = ""
    radius_m: float | None = None


def _lines(geom: BaseGeometry) -> BaseGeometry:
    merged = line_merge(geom) if isinstance(geom, MultiLineString) else geom
    return merged


def segment_near(street: BaseGeometry, anchor: BaseGeometry, half_m: float = SEGMENT_M) -> Located:
    """The part of ``street`` within ``half_m`` of the point where ``anchor`` meets it (X路段)."""
    near = street.interpolate(street.project(anchor.centroid)) if not street.is_empty else anchor
    part = _lines(street.intersection(near.buffer(half_m)))
    gap = street.distance(anchor)
    if part.is_empty:
        return Located(street, street.length / 2, "anchor far from street; whole street")
    return Located(part, half_m + gap / 2, f"street within {half_m:.0f} m of the anchor ({gap:.0f} m away)")


def _axis(street: BaseGeometry) -> tuple[float, float]:
    """Unit vector of the street's main orientation (first to last point, else bounds)."""
    minx, miny, maxx, maxy = street.bounds
    if maxx - minx >= maxy - miny:
        return (1.0, 0.0)
    return (0.0, 1.0)


def street_end(street: BaseGeometry, relation: str) -> Located:
    """东段/西段/南段/北段: the half of the street toward that side, by its own orientation.

    An east–west street has 东段 and 西段; for a north–south street 东段 falls back to its
    orientation's nearer meaning (the whole street) with a note, because the phrase does not fit.
    """
    d = _DIRS[relation[0]]
    ax = _axis(street)
    minx, miny, maxx, maxy = street.bounds
    if abs(d[0] * ax[0] + d[1] * ax[1]) < 0.5:
        return Located(
            street, street.length / 2, f"{relation} does not fit a street running the other way; whole street"
        )
    midx, midy = (minx + maxx) / 2, (miny + maxy) / 2
    big = 1e7
    if d == (1.0, 0.0):
        half = box(midx, -big, big, big)
    elif d == (-1.0, 0.0):
        half = box(-big, -big, midx, big)
    elif d == (0.0, 1.0):
        half = box(-big, midy, big, big)
    else:
        half = box(-big, -big, big, midy)
    part = _lines(street.intersection(half))
    # Where the 东段 begins is a matter of reading: the honest error is a quarter of the length.
    return Located(part, street.length / 4, f"{relation}: half of the street by its own extent")


def around(anchor: BaseGeometry, radius_m: float = AROUND_M) -> Located:
    """周边: the anchor's area grown by ``radius_m``, flagged with that radius."""
    return Located(
        anchor.buffer(radius_m), radius_m, f"周边 read as {radius_m:.0f} m around the anchor", radius_m
    )


def frontage(
    street: BaseGeometry, anchor: BaseGeometry, half_m: float = FRONTAGE_M, opposite: bool = False
) -> Located:
    """门前/对面: the street frontage at the anchor (对面: the same stretch, across the street)."""
    foot = street.interpolate(street.project(anchor.centroid))
    part = _lines(street.intersection(foot.buffer(half_m)))
    side = "across the street from" if opposite else "in front of"
    return Located(
        part, half_m + street.distance(anchor) / 2, f"street {side} the anchor, {2 * half_m:.0f} m"
    )


def lane_mouth(street: BaseGeometry, lane: BaseGeometry) -> Located:
    """巷口: where the lane meets the street (their crossing, else the closest point)."""
    hit = street.intersection(lane)
    if not hit.is_empty:
        p = hit if isinstance(hit, Point) else hit.centroid
        return Located(p, 10.0, "lane meets street")
    link = shortest_line(street, lane)
    p = Point(link.coords[0])
    return Located(p, 10.0 + link.length, f"lane ends {link.length:.0f} m from the street; closest point")


def gate(anchor: BaseGeometry, side: str) -> Located:
    """东门/南门…: the point of the anchor's outline on that side.

    For an area, the middle of its outline facing that way; for a point, the point itself with an
    accuracy saying the side is unknown.
    """
    if side[0] not in _DIRS:
        return Located(anchor.centroid, 50.0, f"{side}: side unknown; anchor centre")
    if anchor.geom_type in ("Point", "MultiPoint"):
        return Located(anchor.centroid, 100.0, f"{side}: anchor is a point; its {side} is not known")
    dx, dy = _DIRS[side[0]]
    c = anchor.centroid
    reach = math.hypot(anchor.bounds[2] - anchor.bounds[0], anchor.bounds[3] - anchor.bounds[1]) + 10
    ray = LineString([(c.x, c.y), (c.x + dx * reach, c.y + dy * reach)])
    hit = ray.intersection(anchor.boundary)
    p = hit if isinstance(hit, Point) else (hit.geoms[-1] if hasattr(hit, "geoms") and len(hit.geoms) else c)
    width = (anchor.bounds[3] - anchor.bounds[1]) if dx else (anchor.bounds[2] - anchor.bounds[0])
    return Located(p, max(width / 2, 10.0), f"{side}: middle of the anchor's {side[0]} side")
