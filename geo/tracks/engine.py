"""The in-process tracks engine, and the plan context both engines share.

:func:`plan_context` turns plans into what tracks are judged against: the streets of the same
sources the plans resolve against (``--osm`` extracts, or the bundled schematic 示意 extract),
cut into segments, each street carrying the daily target of the task that names it (matched
through the plan's places and tags, e.g. 000's 十纵十横 streets → 3 次/天), and the zones of
rules that call for a daily patrol (000's 500 m 示范区 ring). :func:`run_tracks` computes the
tables in this process with numpy and a shapely STRtree — the default, and the fastest for
what fits in memory; :mod:`geo.tracks.dask_engine` does the same on Dask.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .passes import GAP_MIN, HEADING_DEG, TOLERANCE_M, patrol_days, segment_passes, snap, street_days
from .read import Fixes, _project
from .segments import SEGMENT_M, split_streets

__all__ = ["PlanContext", "TracksResult", "plan_context", "run_tracks"]

# A task target counted in passes per day, and a rule that asks for a daily patrol.
_DAILY_UNIT = "次/天"
_PATROL_RE = re.compile(r"(每日|每天).{0,6}巡查|巡查.{0,6}(每日|每天)")
# A source street takes a plan place's target when this share of its length lies within
# _MATCH_M of the place's resolved geometry (a 凤台街 in the plan is 凤台东街 + 凤台西街 on the ground).
_MATCH_SHARE = 0.5
_MATCH_M = 5.0


@dataclass
class PlanContext:
    """What tracks are judged against.

    Attributes
    ----------
    epsg : int
        Metric CRS.
    streets : GeoDataFrame
        WGS84 streets: ``name, target, op, target_text, plan_place, plan_id`` (target NaN: none).
    segments : GeoDataFrame
        :func:`geo.tracks.segments.split_streets` of ``streets`` (metric), with the targets.
    patrol_zones : GeoDataFrame
        Zones (WGS84, :func:`geo.rules.build_zones` rows) of the rules that call for daily patrols.
    schematic : bool
        Streets come from the bundled schematic (示意) extract.
    """

    epsg: int
    streets: gpd.GeoDataFrame
    segments: gpd.GeoDataFrame
    patrol_zones: gpd.GeoDataFrame
    schematic: bool = False


@dataclass
class TracksResult:
    """The tables of one run (see :func:`geo.tracks.passes.street_days`)."""

    streets: pd.DataFrame
    segments: pd.DataFrame
    patrol: pd.DataFrame
    summary: dict = field(default_factory=dict)


def _street_targets(datas: Sequence, streets: gpd.GeoDataFrame, epsg: int) -> gpd.GeoDataFrame:
    """Give each source street the daily target of the plan task whose places cover it."""
    out = streets.assign(target=np.nan, op="", target_text="", plan_place="", plan_id="")
    metric = out.geometry.to_crs(epsg)
    lengths = metric.length.to_numpy()
    for data in datas:
        plan = data.plan
        for task in plan.tasks:
            targets = [t for t in task.targets if t.unit == _DAILY_UNIT]
            if not targets:
                continue
            ids = set(task.places) | {
                p.id for p in plan.places if p.kind == "street" and set(p.tags) & set(task.tags) - {""}
            }
            full_ids = {f"{plan.id}.{i}" for i in ids}
            places = data.places[data.places["id"].isin(full_ids) & (data.places["kind"] == "street")]
            if not len(places):
                continue
            tgt = targets[0]
            for name, geom in zip(places["name"], places.geometry.to_crs(epsg), strict=True):
                if geom is None or geom.is_empty:
                    continue
                near = shapely.length(shapely.intersection(metric.to_numpy(), geom.buffer(_MATCH_M)))
                hit = near >= _MATCH_SHARE * lengths
                out.loc[hit, ["target", "op", "target_text", "plan_place", "plan_id"]] = [
                    float(tgt.value),
                    tgt.op,
                    f"{tgt.text}（{plan.id} {task.number}）",
                    name,
                    plan.id,
                ]
    return out


def _patrol_zones(datas: Sequence) -> gpd.GeoDataFrame:
    frames = []
    for data in datas:
        plan = data.plan
        rules = [r.id for r in plan.rules if r.type == "buffer" and _PATROL_RE.search(r.restriction)]
        if rules and len(data.zones):
            frames.append(data.zones[data.zones["rule_id"].isin(rules)])
    if not frames:
        return gpd.GeoDataFrame({"id": [], "rule_id": [], "place_name": []}, geometry=[], crs=4326)
    zones = pd.concat(frames, ignore_index=True)
    # Zones drawn around every place of a kind may have an unnamed place: say what and which.
    label = zones["place_name"].astype(str)
    fallback = zones["label"].astype(str) + " " + zones["place_id"].astype(str)
    zones["place_name"] = label.where(label != "", fallback)
    return zones


def plan_context(datas: Sequence, *, segment_m: float = SEGMENT_M) -> PlanContext:
    """Streets with targets, segments and patrol zones for built plans of one region.

    Parameters
    ----------
    datas : sequence of PlanData
        Plans of one region built with :func:`geo.build.build_plan` (their tasks give the
        targets, their rules the patrol zones). Streets are those of the first plan's sources:
        the ``--osm`` extracts given, or the bundled schematic extract (``schematic`` True).
    segment_m : float
        Segment length in metres.

    Returns
    -------
    PlanContext
    """
    src = datas[0].sources
    streets = (
        src.streets
        if src.streets is not None
        else gpd.GeoDataFrame({"name": [], "source": []}, geometry=[], crs=4326)
    )
    streets = streets[streets["name"].astype(str).str.strip() != ""].reset_index(drop=True)
    streets = _street_targets(datas, streets[["name", "source", "geometry"]], src.epsg)
    segments = split_streets(streets, src.epsg, segment_m)
    for c in ("op", "target_text", "plan_place"):
        segments[c] = streets[c].to_numpy()[segments["street_row"].to_numpy()]
    return PlanContext(
        epsg=src.epsg,
        streets=streets,
        segments=segments,
        patrol_zones=_patrol_zones(datas),
        schematic=src.schematic,
    )


def fix_days(time: pd.Series) -> list:
    """The days a series of local times covers."""
    return sorted(pd.Series(pd.to_datetime(time).dt.date).unique().tolist())


def run_tracks(
    fixes: Fixes,
    ctx: PlanContext,
    *,
    tolerance_m: float = TOLERANCE_M,
    heading_deg: float = HEADING_DEG,
    gap_min: float = GAP_MIN,
) -> TracksResult:
    """Passes per segment and per street per day, and patrol entries, in this process.

    Parameters
    ----------
    fixes : Fixes
        From :func:`geo.tracks.read.read_fixes` (read with ``epsg=ctx.epsg``, so headings are in
        the same CRS as the segments).
    ctx : PlanContext
    tolerance_m, heading_deg, gap_min : float
        Snapping tolerance, heading check and gap rule (see :mod:`geo.tracks.passes`).

    Returns
    -------
    TracksResult
    """
    f = fixes.frame
    x, y = _project(f["lon"].to_numpy(), f["lat"].to_numpy(), ctx.epsg)
    seg = snap(
        np.asarray(x),
        np.asarray(y),
        f["hx"].to_numpy(dtype=float),
        f["hy"].to_numpy(dtype=float),
        ctx.segments,
        tolerance_m=tolerance_m,
        heading_deg=heading_deg,
    )
    t = f["time"].to_numpy().astype("datetime64[ns]").astype(np.int64)
    seg_days = segment_passes(f["vehicle"].to_numpy(), seg, t, gap_min=gap_min)
    dates = fix_days(f["time"])
    seg_out, st_out = street_days(seg_days, ctx.segments, dates)
    patrol = patrol_days(f, ctx.patrol_zones, dates, gap_min=gap_min)
    summary = {
        "fixes": len(f),
        "snapped": int((seg >= 0).sum()),
        "bad_rows": len(fixes.problems),
        "jumps_dropped": fixes.jumps,
        "days": len(dates),
    }
    return TracksResult(streets=st_out, segments=seg_out, patrol=patrol, summary=summary)
