"""``geo query`` end to end against a plain geopandas script and DuckDB spatial.

The question is the one GIS staff run every day: a CSV of points (complaint cases) and a
gazetteer CSV of schools; which points lie within 200 m of a school (plan 002's rule
``r_school_200``), and who is responsible there. Each engine reads the CSV files, answers,
and writes a CSV result; the whole process is timed, from start to exit.

* ``geo`` — ``geo query pts.csv --gazetteer gaz.csv --date 2023-06-01 --out res.csv`` as a user
  types it (every bundled plan with a buffer rule; the fixed setup included).
* ``geopandas`` — the script a user would write instead (:func:`plain_geopandas`):
  ``pandas.read_csv``, schools and points projected to CGCS2000 Gauss-Krüger (EPSG:4547),
  ``geopandas.sjoin(..., predicate="dwithin", distance=200)``, metres to the school,
  ``to_csv``.
* ``duckdb`` — the same in DuckDB spatial (:func:`plain_duckdb`): ``read_csv``,
  ``ST_Transform`` to EPSG:4547, ``ST_DWithin`` join, ``COPY … TO`` CSV.

Data: points uniform over the bounds of 许昌's district polygon; 2,000 schools uniform inside
the polygon itself (``geo`` only draws zones around places in the region). Fixed seeds.

Checks: the (point, school) hits of the school rule must be the same in every engine (count
and checksum: Σpoint, Σschool, Σpoint·school, with the school as its gazetteer line).

Each case runs in a fresh process, round-robin over engines; wall time, CPU time and peak RSS
(``ru_maxrss`` of the child from ``wait4``, spawned by a small launcher: see :data:`LAUNCHER`)
are recorded per run, with the load average and the CPU time other processes took during the
run (the machine is shared).

Usage::

    python benchmarks/bench_cli.py                         # 200k and 1M points → benchmarks/results-cli.json
    python benchmarks/bench_cli.py --sizes 20000 --rounds 1 --out /tmp/r.json
    python benchmarks/bench_cli.py --geo-root /tmp/geo-main --label before   # another checkout
    python benchmarks/bench_cli.py --before-root /tmp/geo-main   # before and after in one run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEED_POINTS = 20230308
SEED_SCHOOLS = 411002
N_SCHOOLS = 2_000
RADIUS_M = 200.0
METRIC_EPSG = 4547
DATE = "2023-06-01"
RULE = "r_school_200"
UNITS = "五区城管（环卫、园林）部门"
ENGINES = ("geo", "geopandas", "duckdb")
DATA = HERE / "data" / "cli"


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def make_data(n_points: int) -> tuple[Path, Path]:
    """``pts-<n>.csv`` (id, lon, lat) and ``gaz.csv`` (name, kind, lon, lat) in benchmarks/data/cli."""
    import numpy as np
    import pandas as pd
    import shapely

    from geo.regions import get_region

    DATA.mkdir(parents=True, exist_ok=True)
    boundary = get_region("许昌").boundary
    b = boundary.bounds
    gaz = DATA / "gaz.csv"
    if not gaz.exists():
        rng = np.random.default_rng(SEED_SCHOOLS)
        lon, lat = [], []
        while len(lon) < N_SCHOOLS:
            x = rng.uniform(b[0], b[2], 4 * N_SCHOOLS)
            y = rng.uniform(b[1], b[3], 4 * N_SCHOOLS)
            inside = shapely.contains_xy(boundary, x, y)
            lon.extend(x[inside].tolist())
            lat.extend(y[inside].tolist())
        frame = pd.DataFrame(
            {
                "name": [f"第{i + 1}学校" for i in range(N_SCHOOLS)],
                "kind": "school",
                "lon": np.round(lon[:N_SCHOOLS], 7),
                "lat": np.round(lat[:N_SCHOOLS], 7),
            }
        )
        frame.to_csv(gaz, index=False, encoding="utf-8")
    pts = DATA / f"pts-{n_points}.csv"
    if not pts.exists():
        rng = np.random.default_rng(SEED_POINTS)
        xy = rng.uniform((b[0], b[1]), (b[2], b[3]), size=(n_points, 2)).round(7)
        pd.DataFrame({"id": np.arange(1, n_points + 1), "lon": xy[:, 0], "lat": xy[:, 1]}).to_csv(
            pts, index=False, encoding="utf-8"
        )
    return pts, gaz


# --------------------------------------------------------------------------------------------
# The plain scripts (what a user would write without geo)
# --------------------------------------------------------------------------------------------


def plain_geopandas(pts_csv: str, gaz_csv: str, out_csv: str) -> None:
    """Points within 200 m of a school, with geopandas: read, project, sjoin dwithin, write."""
    import geopandas as gpd
    import numpy as np
    import pandas as pd

    pts = pd.read_csv(pts_csv)
    gaz = pd.read_csv(gaz_csv)
    schools = gaz[gaz["kind"] == "school"]
    p = gpd.GeoDataFrame(pts, geometry=gpd.points_from_xy(pts["lon"], pts["lat"]), crs=4326).to_crs(
        METRIC_EPSG
    )
    s = gpd.GeoDataFrame(
        {"school_line": schools.index.to_numpy() + 2, "school": schools["name"]},
        geometry=gpd.points_from_xy(schools["lon"], schools["lat"]),
        crs=4326,
    ).to_crs(METRIC_EPSG)
    hits = gpd.sjoin(p, s, predicate="dwithin", distance=RADIUS_M)
    dist = hits.geometry.distance(s.geometry.loc[hits["index_right"]], align=False)
    out = pd.DataFrame(
        {
            "id": hits["id"].to_numpy(),
            "lon": hits["lon"].to_numpy(),
            "lat": hits["lat"].to_numpy(),
            "school_line": hits["school_line"].to_numpy(),
            "school": hits["school"].to_numpy(),
            "rule_id": RULE,
            "dist_m": np.round(dist.to_numpy(), 1),
            "units": UNITS,
        }
    )
    out.to_csv(out_csv, index=False, encoding="utf-8-sig")


def plain_duckdb(pts_csv: str, gaz_csv: str, out_csv: str) -> None:
    """The same in DuckDB spatial: read_csv, ST_Transform, ST_DWithin join, COPY to CSV."""
    import tempfile

    from bench_query import duckdb_connect

    con = duckdb_connect(tempfile.mkdtemp(prefix="duckdb-ext-"))
    con.execute("SET threads = 2")
    con.execute(  # paths and constants of this script, not user input
        f"""
        CREATE TABLE p AS SELECT id, lon, lat,
            ST_Transform(ST_Point(lon, lat), 'EPSG:4326', 'EPSG:{METRIC_EPSG}', always_xy := true) AS g
        FROM read_csv('{pts_csv}');
        CREATE TABLE s AS SELECT row_number() OVER () + 1 AS school_line, name AS school,
            ST_Transform(ST_Point(lon, lat), 'EPSG:4326', 'EPSG:{METRIC_EPSG}', always_xy := true) AS g
        FROM read_csv('{gaz_csv}') WHERE kind = 'school';
        COPY (
            SELECT p.id, p.lon, p.lat, s.school_line, s.school, '{RULE}' AS rule_id,
                   round(ST_Distance(p.g, s.g), 1) AS dist_m, '{UNITS}' AS units
            FROM p JOIN s ON ST_DWithin(p.g, s.g, {RADIUS_M})
        ) TO '{out_csv}' (HEADER, DELIMITER ',');
        """  # noqa: S608
    )
    con.close()


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def hit_checksum(engine: str, out_csv: Path) -> dict:
    """Count and checksum of the school rule's (point id, school gazetteer line) pairs."""
    import numpy as np
    import pandas as pd

    if engine in ("geo", "geo_before"):
        t = pd.read_csv(out_csv, encoding="utf-8-sig", usecols=["id", "rule_id", "place_id"], dtype=str)
        t = t[(t["rule_id"] == RULE) & t["place_id"].str.startswith("gaz.csv:", na=False)]
        pid = t["id"].astype(np.int64).to_numpy()
        sid = t["place_id"].str.removeprefix("gaz.csv:").astype(np.int64).to_numpy()
    else:
        t = pd.read_csv(out_csv, encoding="utf-8-sig", usecols=["id", "school_line"])
        pid = t["id"].to_numpy(np.int64)
        sid = t["school_line"].to_numpy(np.int64)
    pid_o = pid.astype(object)
    sid_o = sid.astype(object)
    return {
        "hits": len(pid),
        "checksum": [len(pid), int(pid.sum()), int(sid.sum()), int(sum(pid_o * sid_o))],
    }


# --------------------------------------------------------------------------------------------
# Running one case in a fresh process
# --------------------------------------------------------------------------------------------


def _cpu_busy_s() -> float | None:
    from bench_query import _cpu_busy_s as busy

    return busy()


def command(engine: str, pts: Path, gaz: Path, out: Path, python: str) -> list[str]:
    if engine in ("geo", "geo_before"):
        return [
            python, "-m", "geo", "query", str(pts), "--gazetteer", str(gaz), "--date", DATE, "--out", str(out)
        ]  # fmt: skip
    return [python, str(Path(__file__)), "--run", engine, str(pts), str(gaz), str(out)]


def run_case(engine: str, pts: Path, gaz: Path, out: Path, python: str, env: dict) -> dict:
    """Run one case in a fresh process: wall time, the child's CPU time and peak RSS (``wait4``),
    load average and the CPU other processes took meanwhile."""
    if out.exists():
        out.unlink()
    rec = measure(command(engine, pts, gaz, out, python), env, out.with_suffix(".stderr"), engine)
    rec["out_mb"] = round(out.stat().st_size / 1e6, 1)
    return rec


#: Started by :func:`measure` (``python -S``, a few MB): it spawns the measured command and
#: reports the child's wall time, CPU time and peak RSS from ``wait4``. Linux starts a child's
#: ``ru_maxrss`` at the peak RSS of the process it was spawned from, so spawning straight from
#: this script (hundreds of MB after reading 1M-row results) would put a floor under every
#: small figure.
LAUNCHER = """
import json, os, sys, time
cmd, report = json.loads(sys.argv[1]), sys.argv[2]
t0 = time.perf_counter()
pid = os.posix_spawn(cmd[0], cmd, os.environ)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(report, "w") as f:
    json.dump({"status": os.waitstatus_to_exitcode(status), "wall": wall,
               "cpu": ru.ru_utime + ru.ru_stime, "maxrss_kb": ru.ru_maxrss}, f)
"""


def measure(cmd: list[str], env: dict, stderr_file: Path, what: str) -> dict:
    """One fresh process: wall, CPU (user + sys) and peak RSS of the child, load meanwhile."""
    load_before = os.getloadavg()
    busy0 = _cpu_busy_s()
    report = stderr_file.with_suffix(".rusage.json")
    launch = [sys.executable, "-S", "-c", LAUNCHER, json.dumps(cmd), str(report)]
    with open(os.devnull, "w") as devnull, open(stderr_file, "w") as errf:
        # cwd outside the checkout: `python -m geo` must find geo through PYTHONPATH/the install.
        subprocess.run(launch, env=env, cwd=DATA, stdout=devnull, stderr=errf, check=True)  # noqa: S603
    got = json.loads(report.read_text(encoding="utf-8"))
    wall, cpu = got["wall"], got["cpu"]
    busy1 = _cpu_busy_s()
    stderr = stderr_file.read_text(encoding="utf-8", errors="replace")
    if got["status"]:
        raise RuntimeError(f"{what} failed ({got['status']}): {stderr[-2000:]}")
    rec = {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 2),
        "peak_rss_mb": round(got["maxrss_kb"] / 1024, 1),
        "stderr_lines": len(stderr.splitlines()),
        "loadavg_before": [round(v, 2) for v in load_before],
    }
    if busy0 is not None and busy1 is not None:
        # CPU the rest of the machine used meanwhile (cores), this case's own CPU taken out.
        rec["other_load_cores"] = round(max(busy1 - busy0 - cpu, 0.0) / wall, 2)
    return rec


# --------------------------------------------------------------------------------------------
# The fixed setup: a 2-point query against the geopandas import
# --------------------------------------------------------------------------------------------

SETUP_POINTS = "id,lon,lat\n1,113.80,34.03\n2,113.85,34.05\n"


def setup_case(envs: dict[str, dict], rounds: int) -> dict:
    """What ``geo`` costs before it has any points to answer: a 2-point ``geo query`` (warm
    caches) per checkout in ``envs``, and ``python -c "import geopandas"``, which every
    geopandas script pays; fresh processes, round-robin. ``beyond_geopandas_cpu_s`` is the
    difference of the medians."""
    import statistics

    pts = DATA / "setup-2pts.csv"
    pts.write_text(SETUP_POINTS, encoding="utf-8")
    cases: dict[str, tuple[list[str], dict]] = {
        name: (
            [
                sys.executable,
                "-m",
                "geo",
                "query",
                str(pts),
                "--date",
                DATE,
                "--out",
                str(DATA / f"setup-{name}.csv"),
            ],
            env,
        )
        for name, env in envs.items()
    }
    cases["import geopandas"] = ([sys.executable, "-c", "import geopandas"], envs["geo"])
    for name, (cmd, env) in cases.items():  # warm-up: caches and page cache, not recorded
        measure(cmd, env, DATA / "setup.stderr", name)
    runs: dict[str, list[dict]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (cmd, env) in cases.items():
            runs[name].append(measure(cmd, env, DATA / "setup.stderr", name))
    med = {name: statistics.median(r["cpu_s"] for r in rs) for name, rs in runs.items()}
    return {
        "what": "2-point geo query (warm caches) vs python -c 'import geopandas', fresh processes",
        "engines": {
            name: {
                "cpu_s": _stats(rs, "cpu_s"),
                "wall_s": _stats(rs, "wall_s"),
                "peak_rss_mb": _stats(rs, "peak_rss_mb"),
                "runs": rs,
            }
            for name, rs in runs.items()
        },
        "beyond_geopandas_cpu_s": {name: round(med[name] - med["import geopandas"], 2) for name in envs},
    }


# --------------------------------------------------------------------------------------------
# Where the time goes: cProfile and -X importtime of one geo run
# --------------------------------------------------------------------------------------------

#: Phases of a ``geo query`` run, as (label, file suffix, function name) of the profiled call.
PHASES = (
    ("read points", "geo/query.py", ("read_points", "read_point_table")),
    ("load plans (YAML)", "geo/cli/analysis.py", ("_default_buffer_plans", "_buffer_plan_summaries")),
    ("build plans", "geo/cli/analysis.py", ("_build_plans",)),
    ("  region polygons", "geo/regions.py", ("regions",)),
    ("  read gazetteer", "geo/resolve/gazetteer.py", ("read_gazetteer",)),
    ("  gazetteer candidates", "geo/resolve/resolver.py", ("_gazetteer_candidates",)),
    ("  read OSM extract", "geo/resolve/osm.py", ("read_osm",)),
    ("  osmnx import", "osmnx/__init__.py", ("<module>",)),
    ("  PROJ operation search", "pyproj/transformer.py", ("from_crs",)),
    ("  build zones", "geo/rules.py", ("build_zones",)),
    ("  dissolve zones", "geo/rules.py", ("dissolve_zones",)),
    ("  spacing streets", "geo/rules.py", ("spacing_streets",)),
    ("query", "geo/query.py", ("query_plan",)),
    ("write result", "geo/cli/analysis.py", ("_write_tables", "_write_gpkg", "_write_result")),
    ("whole command", "geo/cli/analysis.py", ("query_cmd",)),
)


def profile_geo(pts: Path, gaz: Path, env: dict, tag: str) -> dict:
    """Cumulative seconds per phase of one ``geo query`` run under cProfile (slower than a plain
    run), and the import time of the modules the command loads (``-X importtime``)."""
    import pstats

    prof = DATA / f"profile-{tag}.prof"
    out = DATA / f"profile-{tag}.csv"
    cmd = command("geo", pts, gaz, out, sys.executable)
    cmd = [cmd[0], "-m", "cProfile", "-o", str(prof), *cmd[1:]]
    subprocess.run(cmd, env=env, cwd=DATA, check=True, capture_output=True)  # noqa: S603
    stats = pstats.Stats(str(prof)).stats  # type: ignore[attr-defined]
    phases: dict[str, float] = {}
    for label, suffix, names in PHASES:
        total = 0.0
        for (file, _, func), (_, _, _, cum, _) in stats.items():
            if file.endswith(suffix) and func in names:
                total += cum
        phases[label] = round(total, 2)
    imp = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import geo.cli, geo.query, geo.build"],
        env=env,
        cwd=DATA,
        capture_output=True,
        text=True,
    )
    rows = [
        line.split("|")
        for line in imp.stderr.splitlines()
        if line.startswith("import time:") and line.split("|")[1].strip().isdigit()
    ]
    # Outermost imports (one space before the name) add up to the whole import time.
    total_us = sum(int(r[1]) for r in rows if not r[2].startswith("  "))
    top = sorted(((r[2].strip(), int(r[1])) for r in rows), key=lambda t: -t[1])
    return {
        "n_points": sum(1 for _ in open(pts, encoding="utf-8")) - 1,
        "seconds_under_cprofile": phases,
        "import_s": {
            "geo.cli + geo.query + geo.build": round(total_us / 1e6, 2),
            "slowest (cumulative)": {name: round(us / 1e6, 2) for name, us in top[:8]},
        },
        "loadavg": [round(v, 2) for v in os.getloadavg()],
    }


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def precompile(env: dict) -> str:
    """Byte-compile the geo package the runs import, as ``pip install`` does: with
    PYTHONDONTWRITEBYTECODE set (as on some CI machines) it would otherwise compile its modules
    from source on every run, about 0.1 s that no installed copy pays."""
    where = subprocess.run(
        [sys.executable, "-c", "import geo, os; print(os.path.dirname(geo.__file__))"],
        env=env,
        cwd=DATA,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run([sys.executable, "-m", "compileall", "-q", where], check=True)  # noqa: S603
    return where


def _shown(path: str) -> str:
    """A path as the results file records it: relative to the checkout when inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return path


def _stats(runs: list[dict], key: str) -> dict:
    import statistics

    vals = [r[key] for r in runs]
    return {"min": min(vals), "median": round(statistics.median(vals), 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="200000,1000000", help="point counts, comma-separated")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--rounds", type=int, default=3, help="runs of each case (round-robin)")
    ap.add_argument("--geo-root", default=None, help="run `geo` from this checkout (PYTHONPATH)")
    ap.add_argument("--label", default="after", help="name of this run in the results file")
    ap.add_argument("--out", default=str(HERE / "results-cli.json"))
    ap.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also profile one geo run on N points (cProfile, -X importtime), before (--before-root) "
        "and after",
    )
    ap.add_argument(
        "--before-root",
        default=None,
        help="checkout of the code before the change: adds the engine geo_before to every case "
        "(round-robin with the others) and to the setup runs",
    )
    ap.add_argument("--setup-rounds", type=int, default=5, help="runs of the 2-point setup case (0: none)")
    ap.add_argument("--run", nargs=4, metavar=("ENGINE", "PTS", "GAZ", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.run:
        engine, pts, gaz, out = args.run
        {"geopandas": plain_geopandas, "duckdb": plain_duckdb}[engine](pts, gaz, out)
        return 0

    from bench_query import machine_info

    DATA.mkdir(parents=True, exist_ok=True)
    engines = [e for e in args.engines.split(",") if e]
    sizes = [int(s) for s in args.sizes.split(",") if s]
    env = dict(os.environ)
    if args.geo_root:
        env["PYTHONPATH"] = str(Path(args.geo_root).resolve())
    geo_file = subprocess.run(
        [sys.executable, "-c", "import geo; print(geo.__file__)"],
        env=env,
        cwd=DATA,
        capture_output=True,
        text=True,
    ).stdout.strip()
    precompiled = precompile(env)
    envs = {"geo": env}
    if args.before_root:
        envs["geo_before"] = dict(os.environ, PYTHONPATH=str(Path(args.before_root).resolve()))
        precompile(envs["geo_before"])
        if "geo_before" not in engines:
            engines.insert(1, "geo_before")
    info = machine_info()
    result: dict = {
        "what": "geo query CLI end to end vs a plain geopandas script and DuckDB spatial",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "label": args.label,
        "geo_package": _shown(geo_file),
        "precompiled": _shown(precompiled),
        "machine": info,
        "note": "shared 2-core machine, loaded by other work while measuring: see loadavg_before and "
        "other_load_cores of every run",
        "question": f"points within {RADIUS_M:g} m of {N_SCHOOLS} gazetteer schools (rule {RULE}), "
        f"date {DATE}",
        "cases": [],
    }
    for n in sizes:
        pts, gaz = make_data(n)
        # Warm-up (page cache; geo's caches of region polygons, parsed OSM extracts, plan
        # summaries and PROJ pipelines); not recorded.
        for e in envs:
            run_case(e, pts, gaz, DATA / f"warm-{args.label}-{e}.csv", sys.executable, envs[e])
        runs: dict[str, list[dict]] = {e: [] for e in engines}
        checks: dict[str, dict] = {}
        for r in range(args.rounds):
            for e in engines:
                out = DATA / f"res-{args.label}-{e}-{n}.csv"
                rec = run_case(e, pts, gaz, out, sys.executable, envs.get(e, env))
                runs[e].append(rec)
                print(f"{n:>8} {e:<10} round {r + 1}: {rec}", flush=True)
                if r == 0:
                    checks[e] = hit_checksum(e, out)
        sums = {e: c["checksum"] for e, c in checks.items()}
        agree = len({tuple(v) for v in sums.values()}) == 1
        case = {
            "n_points": n,
            "n_schools": N_SCHOOLS,
            "school_hits": checks,
            "checksums_agree": agree,
            "engines": {
                e: {
                    "wall_s": _stats(rs, "wall_s"),
                    "cpu_s": _stats(rs, "cpu_s"),
                    "peak_rss_mb": _stats(rs, "peak_rss_mb"),
                    "runs": rs,
                }
                for e, rs in runs.items()
            },
        }
        result["cases"].append(case)
        if not agree:
            print(f"checksums differ: {sums}", file=sys.stderr)
    if args.setup_rounds:
        result["setup"] = setup_case(envs, args.setup_rounds)
        print(json.dumps(result["setup"]["beyond_geopandas_cpu_s"]), flush=True)
    if args.profile:
        pts, gaz = make_data(args.profile)
        result["profile"] = {}
        if args.before_root:
            result["profile"]["before"] = profile_geo(pts, gaz, envs["geo_before"], "before")
        result["profile"][args.label] = profile_geo(pts, gaz, env, args.label)
        print(json.dumps(result["profile"], ensure_ascii=False, indent=1))
    result["loadavg_at_end"] = [round(v, 2) for v in os.getloadavg()]
    Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"→ {args.out}")
    return 0 if all(c["checksums_agree"] for c in result["cases"]) else 1


if __name__ == "__main__":
    sys.exit(main())
