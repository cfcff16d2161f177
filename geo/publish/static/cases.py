"""The 问题台账 on the printed map: cases as markers by status at an as-of date.

:func:`load_cases` reads a ledger once (through :func:`geo.ledger.report.export_frame`, as the
interactive layer does) into a :class:`StaticCases`; :func:`draw_cases` draws it on a plan's map
in the plan's metric CRS, one scatter per status class in the shared styles
(:func:`geo.publish.style.style_for_case`), above the zones and below the labels. Cases reported
after the as-of day are not on the map; cases with no position are counted, never placed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from shapely.geometry.base import BaseGeometry

from .. import style as S
from .draw import draw_markers
from .legend import Entry

__all__ = ["CASE_CLASSES", "SECTION", "StaticCases", "case_classes", "draw_cases", "load_cases"]

#: Legend section of the cases.
SECTION = "问题台账"
#: Status classes in drawing order (the last on top): overdue cases are never hidden.
CASE_CLASSES = ("written_off", "closed", "open", "overdue")
#: z of the case markers: above zones (3), spacing (6) and place markers (≤ 21), below labels (29+).
CASE_Z = 24.0
#: Words under a class's legend line.
_SUB = {"open": "含处置中，未超处置时限", "overdue": "未结案且已过处置时限"}


@dataclass(frozen=True)
class StaticCases:
    """The cases of a ledger at a date, as the printed map needs them.

    Attributes
    ----------
    as_of : datetime.date
        Day at which status and overdue are judged.
    lon, lat : ndarray of float
        Position (WGS 84) of each placed case reported on or before ``as_of``.
    status : ndarray of str
        Its class at ``as_of``: one of :data:`CASE_CLASSES`.
    unplaced : int
        Cases reported on or before ``as_of`` with no position (not drawn).
    """

    as_of: dt.date
    lon: np.ndarray
    lat: np.ndarray
    status: np.ndarray
    unplaced: int

    @property
    def received(self) -> int:
        """Cases reported on or before the date, placed or not."""
        return len(self.status) + self.unplaced


def case_classes(frame) -> np.ndarray:
    """The status class of each case of :func:`geo.ledger.report.export_frame` at its date:
    overdue (open past its deadline), open (待处置/处置中), closed (已结案) or written_off (已销号)."""
    closed = frame["closed_now"].to_numpy(dtype=bool)
    overdue = frame["overdue"].to_numpy(dtype=bool)
    struck = (frame["status"].astype(str) == "struck_off").to_numpy(dtype=bool)
    classes = np.select([overdue, ~closed, struck], ["overdue", "open", "written_off"], default="closed")
    return classes.astype(object)


def load_cases(db: str, as_of: str | dt.date | None = None) -> StaticCases:
    """Read a ledger (``.gpkg`` path or PostGIS URL) at ``as_of`` (ISO date; default today).

    Raises
    ------
    InputError
        When ``as_of`` is not a date or the ledger cannot be opened.
    """
    from ...errors import InputError
    from ...ledger.report import as_of_day, export_frame
    from ...ledger.store import open_store

    try:
        day = as_of_day(as_of)
    except ValueError:
        raise InputError.single("--as-of", f"{as_of!r} is not a date; expected YYYY-MM-DD") from None
    date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    with open_store(db, create=False) as store:
        frame = export_frame(store, date.isoformat())
    import pandas as pd

    reported = pd.to_numeric(frame["reported_day"], errors="coerce").to_numpy(dtype=float)
    frame = frame[reported <= day]  # a case reported after the date is not yet in the ledger
    lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(dtype=float)
    placed = np.isfinite(lon) & np.isfinite(lat)
    return StaticCases(
        as_of=date,
        lon=lon[placed],
        lat=lat[placed],
        status=case_classes(frame)[placed],
        unplaced=int((~placed).sum()),
    )


def project(cases: StaticCases, epsg: int) -> np.ndarray:
    """(n, 2) positions of the placed cases in the map's CRS."""
    from pyproj import Transformer

    tr = Transformer.from_crs(4326, epsg, always_xy=True)
    x, y = tr.transform(cases.lon, cases.lat)
    return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])


def in_region(xy: np.ndarray, boundary_m: BaseGeometry | None) -> np.ndarray:
    """Which positions lie in the region (all when the region is unknown)."""
    if boundary_m is None or boundary_m.is_empty or not len(xy):
        return np.ones(len(xy), dtype=bool)
    import shapely

    return shapely.contains_xy(boundary_m, xy[:, 0], xy[:, 1]) | shapely.intersects_xy(
        boundary_m.boundary, xy[:, 0], xy[:, 1]
    )


def draw_cases(ax, xy: np.ndarray, status: np.ndarray, frame: BaseGeometry) -> tuple[list[Entry], int]:
    """Draw the cases inside the map ``frame`` (metric box), one scatter per status class.

    Returns
    -------
    (entries, outside)
        Legend entries of the classes drawn, with their counts, and how many placed cases fall
        outside the frame (not drawn).
    """
    x0, y0, x1, y1 = frame.bounds
    inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
    entries: list[Entry] = []
    for i, cls in enumerate(CASE_CLASSES):
        pts = xy[inside & (status == cls)]
        if not len(pts):
            continue
        st = S.style_for_case(cls)
        draw_markers(ax, pts, st, CASE_Z + i * 0.1)
        entries.append(Entry(SECTION, st, "point", f"{st.label}（{len(pts)} 件）", _SUB.get(cls, "")))
    # legend: the most urgent first
    entries.sort(key=lambda e: -CASE_CLASSES.index(e.style.key[5:]))
    return entries, int((~inside).sum())


def cases_note(cases: StaticCases, outside: int) -> str:
    """The note under the legend: the as-of date, cases received, unplaced and off the map."""
    text = (
        f"问题台账截至 {cases.as_of.isoformat()}：受理 {cases.received} 件；"
        f"{cases.unplaced} 件未定位，未绘入图中"
    )
    if outside:
        text += f"；{outside} 件在本图范围外"
    return text + "。"
