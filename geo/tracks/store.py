"""Partitioned GeoParquet for tracks: ``geo tracks --to-parquet``.

Layout::

    OUT/
      tracks.json                 what the folder holds (CRS of headings, partitioning, synthetic?)
      day=2023-04-03/part-0000.parquet
      day=2023-04-03/part-0001.parquet
      day=2023-04-04/...

One folder per day (hive partitioning, so a reader can pick days); inside a day, fixes sorted
in Hilbert order of their position and cut into files of ``rows_per_file`` rows, so each file
covers a compact patch of the city and snapping a partition touches only the segments near it.

Why runs are not cut at partition edges: everything that needs a vehicle's fixes in time
order — dropping impossible jumps and giving each fix its heading — is done *before* the
spatial sort, per day, on the whole day in vehicle/time order (:func:`geo.tracks.read.clean`),
and stored with each fix (``hx, hy``). After that, snapping is per fix, and counting passes
needs only the fixes of one segment together; the Dask engine shuffles the snapped fixes by
segment before counting (:mod:`geo.tracks.dask_engine`). The only thing the day split cuts is a
run that crosses midnight, which the pass definition already splits (passes are per day).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._io import write_text
from .read import clean

__all__ = ["ROWS_PER_FILE", "hilbert_order", "write_parquet"]

#: Default rows per Parquet file (one Dask partition each): ~60 MB of fixes in memory.
ROWS_PER_FILE = 1_000_000
_HILBERT_LEVEL = 16


def hilbert_order(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Hilbert-curve distance of each point over the points' bounding box (uint64)."""
    # geopandas' implementation of the curve (the one dask-geopandas partitions with).
    from geopandas.tools.hilbert_curve import _hilbert_distance

    pts = gpd.GeoSeries(shapely.points(lon, lat)).array
    return _hilbert_distance(pts, total_bounds=None, level=_HILBERT_LEVEL)


def write_parquet(
    frame: pd.DataFrame,
    out: str | Path,
    *,
    epsg: int,
    rows_per_file: int = ROWS_PER_FILE,
    append: bool = False,
    note: str | None = None,
    cleaned: bool = False,
) -> dict:
    """Write fixes as GeoParquet partitioned by day and, inside a day, in Hilbert order.

    Parameters
    ----------
    frame : DataFrame
        Fixes: ``vehicle, time, lon, lat, task, speed`` (WGS84, local time) as read; cleaned
        here per day unless ``cleaned`` (then ``hx, hy`` must be there).
    out : path
        Folder to write. Each day is written to a temporary folder and renamed into place, so
        a failure leaves what was there intact.
    epsg : int
        Metric CRS of the headings.
    rows_per_file : int
        Rows per file inside a day.
    append : bool
        Keep days already in ``out`` (a day written again replaces its folder).
    note : str, optional
        Written to ``tracks.json`` (e.g. that the data is synthetic).
    cleaned : bool
        The frame already went through :func:`geo.tracks.read.clean`.

    Returns
    -------
    dict
        ``{"days": n, "files": n, "rows": n, "jumps_dropped": n}``.
    """
    root = Path(out)
    if root.exists() and not append and any(root.iterdir()):
        if not (root / "tracks.json").is_file():
            raise FileExistsError(f"{root} exists and is not a tracks folder; not overwriting it")
        for d in root.glob("day=*"):
            shutil.rmtree(d)
    root.mkdir(parents=True, exist_ok=True)
    frame = frame.assign(time=pd.to_datetime(frame["time"]))
    days = frame["time"].dt.date
    stats = {"days": 0, "files": 0, "rows": 0, "jumps_dropped": 0}
    synthetic = "synthetic" in frame.columns and bool(frame["synthetic"].any())
    for day, part in frame.groupby(days.to_numpy(), sort=True):
        if cleaned:
            f, jumps = part.reset_index(drop=True), 0
        else:
            f, jumps = clean(part, epsg)
        if synthetic:
            f["synthetic"] = True
        order = np.argsort(hilbert_order(f["lon"].to_numpy(), f["lat"].to_numpy()), kind="stable")
        f = f.iloc[order].reset_index(drop=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".day={day}."))
        try:
            for k, lo in enumerate(range(0, len(f), rows_per_file)):
                chunk = f.iloc[lo : lo + rows_per_file]
                gdf = gpd.GeoDataFrame(
                    chunk, geometry=shapely.points(chunk["lon"].to_numpy(), chunk["lat"].to_numpy()), crs=4326
                )
                gdf.to_parquet(tmp / f"part-{k:04d}.parquet", index=False)
                stats["files"] += 1
            final = root / f"day={day}"
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
        stats["days"] += 1
        stats["rows"] += len(f)
        stats["jumps_dropped"] += jumps
    meta_path = root / "tracks.json"
    meta = json.loads(meta_path.read_text("utf-8")) if (append and meta_path.is_file()) else {}
    meta.update(
        {
            "what": "GPS fixes, cleaned (impossible jumps dropped, headings hx/hy added)",
            "partitioning": "hive day=YYYY-MM-DD; inside a day, Hilbert order of position",
            "heading_epsg": epsg,
            "synthetic": synthetic or bool(meta.get("synthetic")),
        }
    )
    if note:
        meta["note"] = note
    meta["jumps_dropped"] = (
        int(meta.get("jumps_dropped", 0)) + stats["jumps_dropped"] if append else stats["jumps_dropped"]
    )
    write_text(meta_path, json.dumps(meta, ensure_ascii=False, indent=2) + "\n")
    return stats
