"""The tracks computation, and ``geo query``, on Dask (dask + distributed + dask-geopandas).

``--engine dask`` without ``--scheduler`` starts a :class:`distributed.LocalCluster` on this
machine (2 worker processes by default) and closes it afterwards; with ``--scheduler
tcp://host:8786`` the same code runs on an existing cluster (:class:`distributed.Client` by
address), whose workers must have this package installed and see the input paths.

How the work is arranged
------------------------
Input: a folder written by ``geo tracks --to-parquet`` (:mod:`geo.tracks.store`): one folder
per day, inside it files of fixes in Hilbert order, each already cleaned and carrying its
heading. Each file is one partition.

1. *Snap* (``map_partitions``): each partition snaps its fixes to the street segments, which
   are small and broadcast to every worker (one graph key, fetched once per worker). The
   shapely STRtree over the segments is the same one the in-process engine uses
   (:func:`geo.tracks.passes.snap`). Snapping is per fix, so any partitioning is correct;
   Hilbert order only makes it cheap (a file touches few segments).
2. *Shuffle* the snapped fixes (vehicle, segment, time) by segment: afterwards every fix of a
   segment is in one partition, so each (segment, day, vehicle) run is whole there and the gap
   rule sees every fix it needs — no run is cut at a partition edge, however the input was
   partitioned.
3. *Count* (``map_partitions``): :func:`geo.tracks.passes.segment_passes` per partition, the
   same function the in-process engine calls. The per segment-day table (one row per segment
   and day, small) comes back to the client, which aggregates streets
   (:func:`geo.tracks.passes.street_days`) and patrols in process.

Peak memory is bounded by partition size (``--to-parquet`` rows per file), not input size.
A folder of plain GeoParquet (no ``hx, hy``) is read with dask-geopandas and cleaned per
partition; such partitions should hold whole vehicle-days (partition by day and vehicle
group, sorted by vehicle and time), otherwise the fixes at a partition edge lose their
heading check and a spike there is not recognised.
Other inputs (CSV, XLSX) are read and cleaned in this process first, then partitioned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .engine import PlanContext, TracksResult, fix_days
from .passes import GAP_MIN, HEADING_DEG, TOLERANCE_M, patrol_days, segment_passes, snap, street_days
from .read import FIX_COLUMNS, _project, add_heading, read_fixes

__all__ = ["dask_client", "query_plan_dask", "run_tracks_dask"]

#: Workers of the LocalCluster started when no scheduler is given.
N_WORKERS = 2
# Each worker's memory limit on a LocalCluster; Dask spills and pauses before going past it.
WORKER_MEMORY = "3GB"
_READ_COLS = ["vehicle", "time", "lon", "lat", "task", "hx", "hy"]


def require_dask() -> None:
    """Refuse ``--engine dask`` cleanly where the optional Dask packages are not installed.

    Raises
    ------
    InputError
        Naming the extra that brings them.
    """
    import importlib.util

    missing = [m for m in ("dask", "distributed", "dask_geopandas") if importlib.util.find_spec(m) is None]
    if missing:
        from ..errors import InputError

        raise InputError.single(
            "--engine dask",
            f"needs {', '.join(missing)}: pip install 'chengguan-geo[dask]' (or use the default engine)",
        )


@contextlib.contextmanager
def dask_client(
    scheduler: str | None = None,
    *,
    n_workers: int = N_WORKERS,
    processes: bool = True,
    memory_limit: str = WORKER_MEMORY,
) -> Iterator:
    """A :class:`distributed.Client`: to ``scheduler`` if given, else to a new LocalCluster.

    The LocalCluster (if any) and the client are closed on leaving the block.
    """
    from distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=processes,
        memory_limit=memory_limit,
        dashboard_address=None,
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _parquet_files(path: Path) -> list[str]:
    if path.is_file():
        return [str(path)]
    return sorted(str(p) for p in path.rglob("*.parquet") if not p.name.startswith("."))


def _clean_partition(part, epsg: int) -> pd.DataFrame:
    """Headings inside one partition (plain GeoParquet without hx/hy): see the module notes."""
    f = pd.DataFrame(
        {
            "vehicle": part["vehicle"].astype(str).to_numpy(),
            "time": pd.to_datetime(part["time"]).to_numpy(),
            "lon": part.geometry.x.to_numpy(),
            "lat": part.geometry.y.to_numpy(),
            "task": part["task"].astype(str).to_numpy() if "task" in part.columns else "",
            "speed": part["speed"].to_numpy(dtype=float) if "speed" in part.columns else np.nan,
        }
    ).sort_values(["vehicle", "time"], kind="stable")
    x, y = _project(f["lon"].to_numpy(), f["lat"].to_numpy(), epsg)
    f["hx"], f["hy"] = add_heading(f, np.asarray(x), np.asarray(y))
    return f[_READ_COLS].reset_index(drop=True)


def _fixes_frame(paths: Sequence[str | Path], ctx: PlanContext, crs: str, rows_per_partition: int):
    """(dask DataFrame of fixes with headings, bad-row problems, jumps dropped)."""
    import dask.dataframe as dd

    ps = [Path(p) for p in paths]
    if len(ps) == 1 and (ps[0].is_dir() or ps[0].suffix.lower() == ".parquet"):
        files = _parquet_files(ps[0])
        import pyarrow.parquet as pq

        names = set(pq.read_schema(files[0]).names) if files else set()
        if {"hx", "hy", "lon", "lat"} <= names:
            return dd.read_parquet(files, columns=_READ_COLS), [], 0
        if "geometry" in names:
            import dask_geopandas

            gdf = dask_geopandas.read_parquet(files)
            meta = pd.DataFrame(
                {
                    c: pd.Series(dtype=t)
                    for c, t in zip(
                        _READ_COLS,
                        [object, "datetime64[ns]", float, float, object, np.float32, np.float32],
                        strict=True,
                    )
                }
            )
            return gdf.map_partitions(_clean_partition, ctx.epsg, meta=meta), [], 0
    fixes = read_fixes(ps, crs=crs, epsg=ctx.epsg)
    frame = fixes.frame[_READ_COLS]
    nparts = max(1, -(-len(frame) // rows_per_partition))
    return dd.from_pandas(frame, npartitions=nparts, sort=False), fixes.problems, fixes.jumps


def _snap_partition(
    part: pd.DataFrame, segments, epsg: int, tolerance_m: float, heading_deg: float
) -> pd.DataFrame:
    x, y = _project(part["lon"].to_numpy(dtype=float), part["lat"].to_numpy(dtype=float), epsg)
    seg = snap(
        np.asarray(x),
        np.asarray(y),
        part["hx"].to_numpy(dtype=float),
        part["hy"].to_numpy(dtype=float),
        segments,
        tolerance_m=tolerance_m,
        heading_deg=heading_deg,
    )
    on = seg >= 0
    return pd.DataFrame(
        {
            "vehicle": part["vehicle"].astype(str).to_numpy()[on],
            "seg": seg[on],
            "t": pd.to_datetime(part["time"]).to_numpy().astype("datetime64[ns]").astype(np.int64)[on],
        }
    )


def _count_partition(part: pd.DataFrame, gap_min: float) -> pd.DataFrame:
    out = segment_passes(
        part["vehicle"].to_numpy(), part["seg"].to_numpy(), part["t"].to_numpy(), gap_min=gap_min
    )
    out["date"] = pd.to_datetime(
        out["date"]
    )  # datetime64 travels between workers; dates as objects do not type well
    return out


def run_tracks_dask(
    paths: Sequence[str | Path],
    ctx: PlanContext,
    *,
    crs: str = "wgs84",
    scheduler: str | None = None,
    client=None,
    n_workers: int = N_WORKERS,
    processes: bool = True,
    tolerance_m: float = TOLERANCE_M,
    heading_deg: float = HEADING_DEG,
    gap_min: float = GAP_MIN,
    rows_per_partition: int = 1_000_000,
    patrol_task: str = "巡查",
) -> TracksResult:
    """:func:`geo.tracks.engine.run_tracks` on Dask; same tables, same answers.

    Parameters
    ----------
    paths : sequence of paths
        A ``--to-parquet`` folder (the scalable input), a GeoParquet file/folder, or CSV/XLSX
        files (read here, then partitioned).
    ctx : PlanContext
    crs : str
        System of lon/lat in CSV/XLSX input.
    scheduler : str, optional
        Address of an existing Dask scheduler; default: a LocalCluster of ``n_workers``.
    client : distributed.Client, optional
        Use this client instead (tests share one).
    processes : bool
        LocalCluster workers as processes (True) or threads in this process.
    tolerance_m, heading_deg, gap_min : float
        As for :func:`geo.tracks.engine.run_tracks`.
    rows_per_partition : int
        Partition size for CSV/XLSX input.

    Returns
    -------
    TracksResult
    """
    require_dask()
    import dask

    def compute(cl) -> TracksResult:
        ddf, problems, jumps = _fixes_frame(paths, ctx, crs, rows_per_partition)
        segs = ctx.segments[["seg_id", "dx", "dy", "geometry"]].reset_index(drop=True)
        # One graph key for the segments: each worker fetches them once (a broadcast).
        segs_d = dask.delayed(segs, traverse=False)
        meta_snap = pd.DataFrame(
            {
                "vehicle": pd.Series(dtype=object),
                "seg": pd.Series(dtype=np.int32),
                "t": pd.Series(dtype=np.int64),
            }
        )
        snapped = ddf.map_partitions(
            _snap_partition, segs_d, ctx.epsg, tolerance_m, heading_deg, meta=meta_snap
        )
        by_seg = snapped.shuffle(on="seg")
        meta_count = pd.DataFrame(
            {
                "seg_id": pd.Series(dtype=np.int64),
                "date": pd.Series(dtype="datetime64[ns]"),
                "passes": pd.Series(dtype=np.int64),
                "vehicles": pd.Series(dtype=np.int64),
                "vehicle_ids": pd.Series(dtype=object),
                "first": pd.Series(dtype="datetime64[ns]"),
                "last": pd.Series(dtype="datetime64[ns]"),
            }
        )
        counted = by_seg.map_partitions(_count_partition, gap_min, meta=meta_count)
        days = ddf["time"].dt.floor("D").unique()
        n_fix = ddf.map_partitions(len, meta=(None, np.int64)).sum()
        n_snap = snapped.map_partitions(len, meta=(None, np.int64)).sum()
        patrol = ddf[ddf["task"].astype(str).str.contains(patrol_task, regex=False)]
        seg_days, day_values, n_fix, n_snap, patrol_fixes = dask.compute(counted, days, n_fix, n_snap, patrol)
        seg_days = seg_days.reset_index(drop=True)
        seg_days["date"] = seg_days["date"].dt.date
        dates = fix_days(pd.Series(day_values))
        seg_out, st_out = street_days(seg_days, ctx.segments, dates)
        pf = patrol_fixes.sort_values(["vehicle", "time"], kind="stable").reset_index(drop=True)
        pf["speed"] = np.nan
        patrol_out = patrol_days(pf[FIX_COLUMNS], ctx.patrol_zones, dates, task=patrol_task, gap_min=gap_min)
        summary = {
            "fixes": int(n_fix),
            "snapped": int(n_snap),
            "bad_rows": len(problems),
            "jumps_dropped": jumps,
            "days": len(dates),
            "partitions": ddf.npartitions,
            "workers": len(cl.scheduler_info()["workers"]),
        }
        return TracksResult(streets=st_out, segments=seg_out, patrol=patrol_out, summary=summary), problems

    if client is not None:
        result, problems = compute(client)
    else:
        with dask_client(scheduler, n_workers=n_workers, processes=processes) as cl:
            result, problems = compute(cl)
    result.summary["problems"] = problems
    return result


# --------------------------------------------------------------------------------------------
# geo query --engine dask
# --------------------------------------------------------------------------------------------


def _query_partition(part, zones, places, epsgs, date) -> pd.DataFrame:
    from ..query import query_points

    res = pd.DataFrame(query_points(part, zones, places=places, epsg=epsgs or None, date=date))
    # Categories differ between partitions; plain text concatenates cleanly.
    for c in res.columns:
        if isinstance(res[c].dtype, pd.CategoricalDtype):
            res[c] = res[c].astype(object)
    return res


def query_plan_dask(
    points: str | Path,
    datas: Sequence,
    date=None,
    *,
    scheduler: str | None = None,
    client=None,
    n_workers: int = N_WORKERS,
    processes: bool = True,
    collect: bool = True,
):
    """:func:`geo.query.query_plan` over partitioned GeoParquet points, on Dask.

    Parameters
    ----------
    points : path
        A GeoParquet file or a folder of them (WGS84 points); each file is a partition, read
        with dask-geopandas.
    datas : sequence of PlanData
        Built plans; their zones (with place geometries and metric CRS) are broadcast.
    date : date, optional
        Only zones in force that day.
    scheduler, client, n_workers, processes
        As for :func:`run_tracks_dask`.
    collect : bool
        True: return the whole result (a GeoDataFrame, as :func:`geo.query.query_plan`, with
        ``point_row`` counted over all partitions in order). False: return only hits per zone
        (``zone_id, hits``), which stays small however many points there are.

    Returns
    -------
    GeoDataFrame or DataFrame
    """
    require_dask()
    import dask
    import dask_geopandas
    import geopandas as gpd

    from ..query import plan_zone_inputs

    zones, places, epsgs = plan_zone_inputs(list(datas))
    files = _parquet_files(Path(points))

    def compute(cl):
        gdf = dask_geopandas.read_parquet(files)
        z = dask.delayed(zones, traverse=False)
        p = dask.delayed(places, traverse=False)
        sizes = gdf.map_partitions(len, meta=(None, np.int64)).compute()
        sample = _query_partition(gdf.get_partition(0).head(1), zones, places, epsgs, date)
        res = gdf.map_partitions(
            _query_partition, z, p, epsgs, date, meta=sample.iloc[0:0], align_dataframes=False
        )
        if not collect:
            hits = res[res["in_zone"]].groupby("zone_id", observed=True).size()
            return hits.compute().rename("hits").reset_index()
        parts = res.to_delayed()
        frames = dask.compute(*parts)
        offsets = np.r_[0, np.cumsum(sizes.to_numpy())[:-1]]
        for f, off in zip(frames, offsets, strict=True):
            f["point_row"] = f["point_row"].to_numpy() + off
        out = pd.concat(frames, ignore_index=True)
        return gpd.GeoDataFrame(out, geometry="geometry", crs=4326)

    if client is not None:
        return compute(client)
    with dask_client(scheduler, n_workers=n_workers, processes=processes) as cl:
        return compute(cl)
