"""Passes from GPS fixes at 1M / 10M / 30M fixes: in-process vs Dask vs DuckDB spatial;
and ``geo query`` in process vs on Dask for 10M points.

Data (synthetic, scripts/make_tracks.py): a fleet driving the streets of the bundled 晋城
schematic (示意) extract (named and unnamed streets), one fix every 5 s, σ 5 m noise, 1 in
10,000 fixes a 2 km spike; 10M fixes per day, so 30M is three days. Each size is written once with
:func:`geo.tracks.store.write_parquet` (partitioned by day, Hilbert order, 1M rows per file) —
the prepared input every engine reads.

Engines, each answering "passes per segment per day" (50 m segments, 20 m snap with the 45°
heading check, 30-min gap rule) from that folder, in a fresh subprocess:

* ``inprocess`` — :func:`geo.tracks.read.read_fixes` + :func:`geo.tracks.engine.run_tracks`;
* ``dask``      — :func:`geo.tracks.dask_engine.run_tracks_dask` on a ``distributed.LocalCluster``
  of 2 worker processes (1 thread each, 3 GB limit each); cluster start-up is included;
* ``duckdb``    — DuckDB spatial doing the same snap-and-count in SQL: ``ST_Transform`` to
  EPSG:4547, ``ST_DWithin`` join to the segments with the heading test, nearest segment per fix
  (``QUALIFY row_number()``), then the gap rule with ``lag()`` per (segment, day, vehicle);
  2 threads, 5 GB memory limit.

Memory: the peak of the sum of PSS over the case's process tree (Dask workers included),
sampled every 50 ms, minus the tree's memory when the subprocess started. A case whose tree
passes ``--max-gb`` is stopped and recorded as such. The segment-day pass totals must agree
across engines (recorded as ``passes_total`` and ``agree``).

``geo query``: 10M uniform points over 许昌's extent (as bench_query.py) in 10 GeoParquet files,
1k circular 200 m zones (bench_query.py's generator); ``query_points`` in process (whole result) vs
:func:`geo.tracks.dask_engine.query_plan_dask`'s per-partition ``query_points`` on the same
LocalCluster, reduced to hits per zone (the whole result would not fit one client either).

Usage::

    python benchmarks/bench_tracks.py [--sizes 1000000 10000000 30000000] [--max-gb 6]

Writes benchmarks/tracks_results.json. The machine is shared: the load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "scripts"))

REGION = "jincheng"
EPSG = 4547
FIXES_PER_DAY = 10_000_000
ROWS_PER_FILE = 1_000_000
# Zones of the geo query case: 1k circles of 200 m over 魏都区 give ~0.7 hits per point, so the
# in-process result for 10M points (~7M rows) still fits the memory cap; 10k would give ~74M rows.
N_ZONES = 1_000


def _folder(n: int) -> Path:
    return DATA / f"tracks_{n}"


def prepare(n: int) -> dict:
    """Write the fleet of ``n`` fixes once (cached in benchmarks/data)."""
    from make_tracks import SYNTHETIC_NOTE, make_fleet, region_streets

    from geo.tracks.store import write_parquet

    out = _folder(n)
    if (out / "tracks.json").is_file():
        return json.loads((out / "tracks.json").read_text("utf-8"))
    streets, epsg = region_streets(REGION, unnamed=True)
    t0 = time.perf_counter()
    for i, day in enumerate(make_fleet(streets, epsg, n, fixes_per_day=FIXES_PER_DAY, seed=n % 9973)):
        write_parquet(day, out, epsg=epsg, rows_per_file=ROWS_PER_FILE, append=i > 0, note=SYNTHETIC_NOTE)
        del day
    meta = json.loads((out / "tracks.json").read_text("utf-8"))
    meta["prepare_s"] = round(time.perf_counter() - t0, 1)
    (out / "tracks.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), "utf-8")
    return meta


def replicate(n: int, base: int) -> dict:
    """``n`` fixes as the ``base`` set's days repeated on the following dates (times shifted by
    whole days, vehicles renamed per copy): the same fleet on more days, made in minutes instead
    of generating every fix again."""
    import shutil

    import geopandas as gpd
    import pandas as pd
    import pyarrow.parquet as pq

    src, out = _folder(base), _folder(n)
    if (out / "tracks.json").is_file():
        return json.loads((out / "tracks.json").read_text("utf-8"))
    copies = n // base
    days = sorted(src.glob("day=*"))
    for k in range(copies):
        for d in days:
            day = pd.Timestamp(d.name.split("=", 1)[1]) + pd.Timedelta(days=k * len(days))
            tmp = out / f".day={day.date()}"
            tmp.mkdir(parents=True, exist_ok=True)
            for f in sorted(d.glob("*.parquet")):
                table = pq.read_table(f)
                frame = table.to_pandas()
                frame["time"] = frame["time"] + pd.Timedelta(days=k * len(days))
                frame["vehicle"] = frame["vehicle"].astype(str) + f"-c{k}"
                points = gpd.GeoSeries.from_wkb(frame.pop("geometry"))
                gpd.GeoDataFrame(frame, geometry=points, crs=4326).to_parquet(tmp / f.name, index=False)
            shutil.move(tmp, out / f"day={day.date()}")
    meta = json.loads((src / "tracks.json").read_text("utf-8"))
    meta["jumps_dropped"] = meta.get("jumps_dropped", 0) * copies
    meta["made_from"] = f"{src.name} repeated {copies}x on the following dates"
    (out / "tracks.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), "utf-8")
    return meta


def context():
    """Segments of the 晋城 schematic streets (no targets: the benchmark counts passes)."""
    import geopandas as gpd
    from make_tracks import region_streets

    from geo.tracks.engine import PlanContext
    from geo.tracks.segments import split_streets

    streets, epsg = region_streets(REGION, unnamed=True)
    streets = streets.assign(target=float("nan"), op="", target_text="", plan_place="")
    segs = split_streets(streets, epsg)
    for c in ("op", "target_text", "plan_place"):
        segs[c] = ""
    zones = gpd.GeoDataFrame({"id": [], "rule_id": [], "place_name": []}, geometry=[], crs=4326)
    return PlanContext(epsg=epsg, streets=streets, segments=segs, patrol_zones=zones, schematic=True)


# --------------------------------------------------------------------------------------------
# cases (each in its own subprocess)
# --------------------------------------------------------------------------------------------


def case_inprocess(n: int) -> dict:
    from geo.tracks.engine import run_tracks
    from geo.tracks.read import read_fixes

    ctx = context()
    t0 = time.perf_counter()
    fixes = read_fixes([_folder(n)], epsg=ctx.epsg)
    res = run_tracks(fixes, ctx)
    dt = time.perf_counter() - t0
    return {"time_s": dt, "passes_total": int(res.segments["passes"].sum()), "fixes": res.summary["fixes"]}


def case_dask(n: int) -> dict:
    from geo.tracks.dask_engine import run_tracks_dask

    ctx = context()
    t0 = time.perf_counter()
    res = run_tracks_dask([_folder(n)], ctx, n_workers=2, processes=True)
    dt = time.perf_counter() - t0
    return {
        "time_s": dt,
        "passes_total": int(res.segments["passes"].sum()),
        "fixes": res.summary["fixes"],
        "partitions": res.summary["partitions"],
    }


def case_duckdb(n: int) -> dict:
    import math
    import tempfile

    import pandas as pd
    import shapely
    from bench_query import duckdb_connect

    from geo.tracks.passes import GAP_MIN, HEADING_DEG, TOLERANCE_M

    ctx = context()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as ext:
        con = duckdb_connect(ext)
        con.execute("SET threads = 2")
        con.execute("SET memory_limit = '5GB'")
        con.execute(f"SET temp_directory = '{ext}'")
        segs = pd.DataFrame(
            {
                "seg_id": ctx.segments["seg_id"].to_numpy(),
                "dx": ctx.segments["dx"].to_numpy(),
                "dy": ctx.segments["dy"].to_numpy(),
                "wkb": shapely.to_wkb(ctx.segments.geometry.to_numpy()),
            }
        )
        con.register("segs_df", segs)
        con.execute("CREATE TABLE segs AS SELECT seg_id, dx, dy, ST_GeomFromWKB(wkb) AS geom FROM segs_df")
        cos_min = math.cos(math.radians(HEADING_DEG))
        files = f"{_folder(n)}/day=*/*.parquet"
        con.execute(
            f"""
            CREATE TABLE seg_days AS
            WITH p AS (
              SELECT row_number() OVER () AS fid, vehicle, time, hx, hy,
                     ST_Transform(ST_Point(lon, lat), 'EPSG:4326', 'EPSG:{ctx.epsg}', always_xy := true) AS g
              FROM read_parquet('{files}')
            ),
            c AS (
              SELECT p.fid, p.vehicle, p.time, s.seg_id, ST_Distance(p.g, s.geom) AS d
              FROM p JOIN segs s ON ST_DWithin(p.g, s.geom, {TOLERANCE_M})
              WHERE p.hx IS NULL OR isnan(p.hx) OR abs(p.hx * s.dx + p.hy * s.dy) >= {cos_min}
            ),
            snapped AS (
              SELECT vehicle, time, seg_id FROM c
              QUALIFY row_number() OVER (PARTITION BY fid ORDER BY d, seg_id) = 1
            ),
            runs AS (
              SELECT seg_id, vehicle, time, CAST(time AS DATE) AS day,
                     lag(time) OVER (PARTITION BY seg_id, CAST(time AS DATE), vehicle ORDER BY time) AS prev
              FROM snapped
            )
            SELECT seg_id, day,
                   sum(CASE WHEN prev IS NULL OR time - prev >= INTERVAL '{int(GAP_MIN)} minutes'
                       THEN 1 ELSE 0 END) AS passes,
                   count(DISTINCT vehicle) AS vehicles, min(time) AS first, max(time) AS last
            FROM runs GROUP BY seg_id, day
            """  # noqa: S608 - numbers and a path of our own, no user input
        )
        total = con.execute("SELECT sum(passes) FROM seg_days").fetchone()[0]
    dt = time.perf_counter() - t0
    return {"time_s": dt, "passes_total": int(total or 0)}


def _query_points_folder(n: int) -> Path:
    """``n`` uniform points over 许昌's extent (bench_query's generator) in 10 GeoParquet files."""
    import geopandas as gpd
    from bench_query import make_points_xy, region_bounds

    out = DATA / f"points_{n}"
    if (out / "done").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    x, y = make_points_xy(n, region_bounds())
    step = -(-n // 10)
    for k, lo in enumerate(range(0, n, step)):
        gdf = gpd.GeoDataFrame(
            {"pid": range(lo, min(lo + step, n))},
            geometry=gpd.points_from_xy(x[lo : lo + step], y[lo : lo + step]),
            crs=4326,
        )
        gdf.to_parquet(out / f"part-{k:02d}.parquet")
    (out / "done").write_text("ok")
    return out


def _zones():
    from bench_query import METRIC_EPSG, make_zones, region_bounds, zone_centres

    b = region_bounds()
    return make_zones(N_ZONES, b), list(zone_centres(N_ZONES, b)), METRIC_EPSG


def case_query_inprocess(n: int) -> dict:
    import geopandas as gpd
    import pandas as pd

    from geo.query import query_points

    folder = _query_points_folder(n)
    zones, places, epsg = _zones()
    t0 = time.perf_counter()
    pts = pd.concat([gpd.read_parquet(f) for f in sorted(folder.glob("*.parquet"))], ignore_index=True)
    res = query_points(pts, zones, places=places, epsg=epsg)
    hits = int(res["in_zone"].sum())
    return {"time_s": time.perf_counter() - t0, "hits": hits}


def case_query_dask(n: int) -> dict:
    import dask
    import dask_geopandas

    from geo.tracks.dask_engine import _query_partition, dask_client

    folder = _query_points_folder(n)
    zones, places, epsg = _zones()
    t0 = time.perf_counter()
    with dask_client(n_workers=2, processes=True):
        gdf = dask_geopandas.read_parquet(sorted(str(p) for p in folder.glob("*.parquet")))
        z = dask.delayed(zones, traverse=False)
        p = dask.delayed(places, traverse=False)

        def hits(part, zz, pp):
            import pandas as pd

            res = _query_partition(part, zz, pp, [epsg] * len(zz), None)
            return pd.DataFrame({"hits": [int(res["in_zone"].sum())]})

        per = gdf.map_partitions(hits, z, p, meta={"hits": "int64"}, align_dataframes=False)
        total = int(per["hits"].sum().compute())
    return {"time_s": time.perf_counter() - t0, "hits": total}


CASES = {
    "inprocess": case_inprocess,
    "dask": case_dask,
    "duckdb": case_duckdb,
    "query/inprocess": case_query_inprocess,
    "query/dask": case_query_dask,
}


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------


def run_case(case: str, n: int, max_gb: float, timeout_s: float) -> dict:
    from bench_query import TreeSampler

    cmd = [sys.executable, __file__, "--worker", case, str(n)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
    sampler = TreeSampler(proc.pid)
    sampler.start()
    t0 = time.perf_counter()
    stopped = None
    while proc.poll() is None:
        time.sleep(0.2)
        if sampler.peak / 2**30 > max_gb:
            stopped = f"stopped: process tree passed {max_gb:g} GB"
        elif time.perf_counter() - t0 > timeout_s:
            stopped = f"stopped: ran over {timeout_s:.0f} s"
        if stopped:
            import psutil

            for c in psutil.Process(proc.pid).children(recursive=True):
                c.kill()
            proc.kill()
            break
    out, err = proc.communicate()
    peak = sampler.stop()
    rec = {"case": case, "n": n, "peak_mb": round(peak), "subprocess_s": round(time.perf_counter() - t0, 1)}
    if stopped:
        rec["status"] = stopped
        return rec
    if proc.returncode != 0:
        rec["status"] = f"failed: {err.strip().splitlines()[-1] if err.strip() else proc.returncode}"
        return rec
    res = json.loads(out.strip().splitlines()[-1])
    res["time_s"] = round(res["time_s"], 2)
    rec.update(res, status="ok")
    return rec


def machine() -> dict:
    import psutil

    return {
        "cpu_model": platform.processor() or platform.machine(),
        "logical_cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "note": "shared machine: other jobs ran during the measurements (see load averages)",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000, 30_000_000])
    ap.add_argument("--cases", nargs="+", default=["inprocess", "dask", "duckdb"])
    ap.add_argument("--query", type=int, default=10_000_000, help="points for the geo query case (0: skip)")
    ap.add_argument("--max-gb", type=float, default=6.0)
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--out", default=str(HERE / "tracks_results.json"))
    ap.add_argument("--worker", nargs=2, metavar=("CASE", "N"))
    args = ap.parse_args()
    if args.worker:
        case, n = args.worker[0], int(args.worker[1])
        print(json.dumps(CASES[case](n)))
        return 0

    out_path = Path(args.out)
    doc = json.loads(out_path.read_text("utf-8")) if out_path.is_file() else {}
    doc.setdefault("runs", [])
    doc["machine"] = machine()
    doc["data"] = {
        "fixes": "synthetic fleet on the 晋城 schematic (示意) streets, scripts/make_tracks.py make_fleet: "
        "5 s sampling, σ 5 m noise, 1e-4 spikes, 10M fixes per day",
        "layout": "geo.tracks.store.write_parquet: day=…/part-*.parquet, Hilbert order, 1M rows per file",
        "rules": "50 m segments, 20 m snap, 45° heading check, 30 min gap",
    }
    for n in args.sizes:
        base = FIXES_PER_DAY
        meta = replicate(n, base) if n > base and (_folder(base) / "tracks.json").is_file() else prepare(n)
        for case in args.cases:
            rec = run_case(case, n, args.max_gb, args.timeout)
            rec["loadavg"] = [round(v, 2) for v in os.getloadavg()]
            rec["prepared"] = {k: meta.get(k) for k in ("jumps_dropped", "prepare_s")}
            rec["when"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            print(json.dumps(rec, ensure_ascii=False), flush=True)
            doc["runs"] = [r for r in doc["runs"] if not (r["case"] == case and r["n"] == n)] + [rec]
            out_path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", "utf-8")
    if args.query:
        for case in ("query/inprocess", "query/dask"):
            rec = run_case(case, args.query, args.max_gb, args.timeout)
            rec["loadavg"] = [round(v, 2) for v in os.getloadavg()]
            rec["when"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            print(json.dumps(rec, ensure_ascii=False), flush=True)
            doc["runs"] = [r for r in doc["runs"] if not (r["case"] == case and r["n"] == args.query)] + [rec]
            out_path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
