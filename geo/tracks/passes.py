"""Passes: fixes snapped to street segments, runs counted with the gap rule, tables per day.

Definitions (DESIGN.md, issue 13)
---------------------------------
*Snap.* A fix belongs to the nearest segment within ``tolerance_m`` whose direction agrees
with the fix's heading to within ``heading_deg`` (either way along the street); a fix with no
heading (parked, crawling, isolated) is snapped to the nearest segment, unchecked.

*Pass.* One vehicle's continuous run along a segment. Two runs of the same vehicle on the same
segment are two passes only when the later one starts at least ``gap`` after the earlier one's
last fix there. So, per (segment, day, vehicle), the fixes on the segment sorted by time start
a new pass where the time since the previous fix *on that segment* is ≥ gap. A vehicle parked
on a segment all morning is one pass; a sweeper wobbling across a segment boundary is one pass
on each. Passes are counted within a day (the plans' targets are per day): a run crossing
midnight counts on both days.

Because of that definition, the count needs only the fixes of one segment together — not a
vehicle's whole track in one place — which is what the Dask engine relies on (it shuffles
snapped fixes by segment; see :mod:`geo.tracks.dask_engine`).
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

__all__ = [
    "GAP_MIN",
    "HEADING_DEG",
    "TOLERANCE_M",
    "patrol_days",
    "segment_passes",
    "snap",
    "street_days",
]

#: Default snapping tolerance, metres.
TOLERANCE_M = 20.0
#: Default largest angle between a fix's heading and the segment, degrees.
HEADING_DEG = 45.0
#: Default gap that separates two passes of one vehicle on one segment, minutes.
GAP_MIN = 30.0
_DAY_NS = 86_400 * 10**9
# Fixes snapped at once (bounds the memory of the candidate pairs).
_SNAP_CHUNK = 500_000


def snap(
    x: np.ndarray,
    y: np.ndarray,
    hx: np.ndarray,
    hy: np.ndarray,
    segments: gpd.GeoDataFrame,
    *,
    tolerance_m: float = TOLERANCE_M,
    heading_deg: float = HEADING_DEG,
    tree: shapely.STRtree | None = None,
) -> np.ndarray:
    """Segment row of each fix, or -1.

    Parameters
    ----------
    x, y : arrays
        Fixes in the segments' metric CRS.
    hx, hy : arrays
        Unit heading of each fix (NaN: unknown, not checked).
    segments : GeoDataFrame
        From :func:`geo.tracks.segments.split_streets` (``dx, dy`` columns).
    tolerance_m, heading_deg : float
        See the module docstring.
    tree : STRtree, optional
        A tree over ``segments.geometry`` built already (it is reused across chunks).

    Returns
    -------
    ndarray of int32
        Row in ``segments`` (equal to ``seg_id``) per fix, -1 where none qualifies.
    """
    geoms = np.asarray(segments.geometry.array, dtype=object)
    tree = tree or shapely.STRtree(geoms)
    sdx = segments["dx"].to_numpy()
    sdy = segments["dy"].to_numpy()
    cos_min = math.cos(math.radians(heading_deg))
    out = np.full(len(x), -1, dtype=np.int32)
    for lo in range(0, len(x), _SNAP_CHUNK):
        hi = min(lo + _SNAP_CHUNK, len(x))
        pts = shapely.points(x[lo:hi], y[lo:hi])
        pi, si = tree.query(pts, predicate="dwithin", distance=tolerance_m)
        if not len(pi):
            continue
        d = shapely.distance(pts[pi], geoms[si])
        h_x = hx[lo:hi][pi]
        h_y = hy[lo:hi][pi]
        agree = np.abs(h_x * sdx[si] + h_y * sdy[si])
        ok = np.isnan(agree) | (agree >= cos_min)
        pi, si, d = pi[ok], si[ok], d[ok]
        if not len(pi):
            continue
        # Nearest qualifying segment per fix: sort by (fix, distance), keep each fix's first.
        order = np.lexsort((si, d, pi))
        pi, si = pi[order], si[order]
        first = np.r_[True, pi[1:] != pi[:-1]]
        out[lo + pi[first]] = si[first]
    return out


def segment_passes(
    vehicle: np.ndarray | pd.Series,
    seg: np.ndarray,
    time_ns: np.ndarray,
    *,
    gap_min: float = GAP_MIN,
) -> pd.DataFrame:
    """Passes per segment per day from snapped fixes.

    Parameters
    ----------
    vehicle : array
        Vehicle id per fix (any hashable values).
    seg : array of int
        Segment per fix (-1: not on a segment; ignored).
    time_ns : array of int64
        Local time per fix, nanoseconds since the epoch (naive, so that day = floor(t / 1 day)).
    gap_min : float
        Minutes that separate two passes of one vehicle on one segment.

    Returns
    -------
    DataFrame
        ``seg_id, date, passes, vehicles, vehicle_ids, first, last`` for every segment-day with
        at least one pass; ``vehicle_ids`` sorted, ``;``-joined.
    """
    on = np.asarray(seg) >= 0
    v_codes, v_names = pd.factorize(np.asarray(vehicle)[on], sort=True)
    s = np.asarray(seg)[on].astype(np.int64)
    t = np.asarray(time_ns)[on].astype(np.int64)
    day = t // _DAY_NS
    order = np.lexsort((t, v_codes, day, s))
    s, day, v, t = s[order], day[order], v_codes[order], t[order]
    same = np.r_[False, (s[1:] == s[:-1]) & (day[1:] == day[:-1]) & (v[1:] == v[:-1])]
    gap_ns = int(gap_min * 60 * 10**9)
    new = ~same | (np.diff(t, prepend=0) >= gap_ns)
    frame = pd.DataFrame({"seg_id": s, "day": day, "v": v, "t": t, "new": new})
    per_vehicle = frame.groupby(["seg_id", "day", "v"], sort=True).agg(
        passes=("new", "sum"), first=("t", "min"), last=("t", "max")
    )
    per_vehicle = per_vehicle.reset_index()
    per_vehicle["vehicle"] = np.asarray(v_names)[per_vehicle["v"].to_numpy()].astype(str)
    out = per_vehicle.groupby(["seg_id", "day"], sort=True).agg(
        passes=("passes", "sum"),
        vehicles=("v", "size"),
        vehicle_ids=("vehicle", ";".join),
        first=("first", "min"),
        last=("last", "max"),
    )
    out = out.reset_index()
    out["date"] = pd.to_datetime(out.pop("day") * _DAY_NS).dt.date
    out["first"] = pd.to_datetime(out["first"])
    out["last"] = pd.to_datetime(out["last"])
    out["passes"] = out["passes"].astype(np.int64)
    return out[["seg_id", "date", "passes", "vehicles", "vehicle_ids", "first", "last"]]


def _met(values: np.ndarray, op: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Element-wise ``values <op> target`` (False where there is no target)."""
    res = np.zeros(len(values), dtype=bool)
    for sym, fn in (
        (">=", np.greater_equal),
        (">", np.greater),
        ("<=", np.less_equal),
        ("<", np.less),
        ("=", np.equal),
    ):
        m = op == sym
        res[m] = fn(values[m], target[m])
    return res & ~np.isnan(target)


def street_days(
    seg_days: pd.DataFrame, segments: gpd.GeoDataFrame, dates: list
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per segment per day (every segment, zeros included) and per street per day.

    Parameters
    ----------
    seg_days : DataFrame
        From :func:`segment_passes`.
    segments : GeoDataFrame
        From :func:`geo.tracks.segments.split_streets`, with ``target`` (float, NaN: none),
        ``op`` and ``target_text`` columns (see :func:`geo.tracks.engine.plan_context`).
    dates : list of date
        Days the fixes cover; every street gets a row for each.

    Returns
    -------
    segments_out : DataFrame
        ``seg_id, street, date, passes, vehicles, vehicle_ids, first, last, target, met, length_m``.
    streets_out : DataFrame
        ``street, date, passes, target, met, share_met, segments, length_m, vehicles,
        vehicle_ids, first, last, target_text``; ``passes`` is the median over the street's
        segments (the lower one of an even count, so it stays a whole number of passes).
    """
    grid = pd.MultiIndex.from_product(
        [segments["seg_id"].to_numpy(), sorted(dates)], names=["seg_id", "date"]
    )
    seg = seg_days.set_index(["seg_id", "date"]).reindex(grid).reset_index()
    seg["passes"] = seg["passes"].fillna(0).astype(np.int64)
    seg["vehicles"] = seg["vehicles"].fillna(0).astype(np.int64)
    seg["vehicle_ids"] = seg["vehicle_ids"].fillna("")
    attrs = segments.set_index("seg_id")
    for c in ("street", "length_m", "target", "op", "target_text"):
        seg[c] = attrs[c].reindex(seg["seg_id"]).to_numpy()
    seg["met"] = _met(seg["passes"].to_numpy(float), seg["op"].to_numpy(), seg["target"].to_numpy(float))
    seg["met_len"] = np.where(seg["met"], seg["length_m"], 0.0)

    def low_median(v: pd.Series) -> int:
        a = np.sort(v.to_numpy())
        return int(a[(len(a) - 1) // 2])

    def join_ids(v: pd.Series) -> str:
        return ";".join(sorted({x for s in v for x in s.split(";") if x}))

    g = seg.groupby(["street", "date"], sort=True)
    st = g.agg(
        passes=("passes", low_median),
        segments=("seg_id", "size"),
        length_m=("length_m", "sum"),
        met_len=("met_len", "sum"),
        vehicle_ids=("vehicle_ids", join_ids),
        first=("first", "min"),
        last=("last", "max"),
        target=("target", "first"),
        op=("op", "first"),
        target_text=("target_text", "first"),
    ).reset_index()
    st["vehicles"] = st["vehicle_ids"].map(lambda s: len(s.split(";")) if s else 0)
    has_target = st["target"].notna().to_numpy()
    st["met"] = _met(st["passes"].to_numpy(float), st["op"].to_numpy(), st["target"].to_numpy(float))
    st["share_met"] = np.where(has_target, st["met_len"] / st["length_m"], np.nan)
    st["met"] = st["met"].where(has_target, None)
    seg["met"] = seg["met"].where(seg["target"].notna(), None)
    seg_cols = [
        "seg_id",
        "street",
        "date",
        "passes",
        "vehicles",
        "vehicle_ids",
        "first",
        "last",
        "target",
        "met",
        "length_m",
    ]
    st_cols = [
        "street", "date", "passes", "target", "met", "share_met", "segments", "length_m",
        "vehicles", "vehicle_ids", "first", "last", "target_text",
    ]  # fmt: skip
    return seg[seg_cols], st[st_cols]


def patrol_days(
    fixes: pd.DataFrame,
    zones: gpd.GeoDataFrame,
    dates: list,
    *,
    task: str = "巡查",
    gap_min: float = GAP_MIN,
) -> pd.DataFrame:
    """Per patrol zone per day: did a patrol track enter it, and for how long.

    Parameters
    ----------
    fixes : DataFrame
        Clean fixes (:data:`geo.tracks.read.FIX_COLUMNS`), sorted by vehicle and time.
    zones : GeoDataFrame
        Zone rows from :func:`geo.rules.build_zones` for the rules that call for patrols.
    dates : list of date
        Days to report (every zone gets a row for each).
    task : str
        Task value of patrol fixes (fixes whose task contains it). With no task column at all,
        every fix counts.
    gap_min : float
        A hole longer than this between two fixes inside a zone is not counted as time in it.

    Returns
    -------
    DataFrame
        ``zone_id, rule_id, place_name, date, entered, minutes, vehicles, vehicle_ids``.
    """
    from ..query import query_points

    cols = ["zone_id", "rule_id", "place_name", "date", "entered", "minutes", "vehicles", "vehicle_ids"]
    if not len(zones):
        return pd.DataFrame(columns=cols)
    tasks = fixes["task"].astype(str)
    mask = (
        tasks.str.contains(task, regex=False) if (tasks != "").any() else pd.Series(True, index=fixes.index)
    )
    pf = fixes.loc[mask.to_numpy()].reset_index(drop=True)
    hits = query_points((pf["lon"].to_numpy(), pf["lat"].to_numpy()), zones) if len(pf) else None
    grid = pd.MultiIndex.from_product(
        [zones["id"].astype(str).to_numpy(), sorted(dates)], names=["zone_id", "date"]
    )
    if hits is not None and hits["in_zone"].any():
        h = pd.DataFrame(
            {
                "row": hits.loc[hits["in_zone"], "point_row"].to_numpy(),
                "zone_id": hits.loc[hits["in_zone"], "zone_id"].astype(str).to_numpy(),
            }
        )
        t = pf["time"].to_numpy().astype("datetime64[ns]").astype(np.int64)
        veh = pf["vehicle"].to_numpy()
        # Time inside: each step from a fix inside to the next fix of the same vehicle also inside.
        nxt = h["row"].to_numpy() + 1
        valid = nxt < len(pf)
        nxt_c = np.minimum(nxt, len(pf) - 1)
        step = np.where(
            valid & (veh[nxt_c] == veh[h["row"].to_numpy()]), t[nxt_c] - t[h["row"].to_numpy()], -1
        )
        # Is the next fix inside the same zone? A merge on (row + 1, zone), not a Python loop.
        nxt_in = h.assign(row=h["row"] - 1).assign(flag=True)
        inside_next = h.merge(nxt_in, on=["row", "zone_id"], how="left")["flag"].fillna(False).to_numpy(bool)
        ok = (step >= 0) & (step < gap_min * 60e9) & inside_next
        h["sec"] = np.where(ok, step / 1e9, 0.0)
        h["date"] = pd.to_datetime(t[h["row"].to_numpy()] // _DAY_NS * _DAY_NS).date
        h["vehicle"] = veh[h["row"].to_numpy()].astype(str)
        agg = h.groupby(["zone_id", "date"]).agg(
            minutes=("sec", lambda s: round(float(s.sum()) / 60.0, 1)),
            vehicle_ids=("vehicle", lambda v: ";".join(sorted(set(v)))),
        )
    else:
        agg = pd.DataFrame(
            columns=["minutes", "vehicle_ids"], index=pd.MultiIndex.from_tuples([], names=["zone_id", "date"])
        )
    out = agg.reindex(grid).reset_index()
    out["entered"] = out["vehicle_ids"].notna()
    out["minutes"] = out["minutes"].fillna(0.0).astype(float)
    out["vehicle_ids"] = out["vehicle_ids"].fillna("")
    out["vehicles"] = out["vehicle_ids"].map(lambda s: len(s.split(";")) if s else 0)
    info = zones.assign(zone_id=zones["id"].astype(str)).set_index("zone_id")
    out["rule_id"] = info["rule_id"].reindex(out["zone_id"]).to_numpy()
    out["place_name"] = info["place_name"].reindex(out["zone_id"]).to_numpy()
    return out[cols]
