"""The speed goals of ``geo query``, the interactive map and ``geo build``, measured in one run.

Runs the three benchmarks one after the other on the same machine, each writing its own
results file as when run alone, then writes ``benchmarks/speed.json``: the machine, the load
average before and after every part, and each goal with the figures it is judged on.

* ``bench_cli.py``  — ``geo query`` end to end (200k and 1M points) against a plain geopandas
  script and DuckDB spatial, and the fixed setup (a 2-point query against ``import geopandas``);
  with ``--before`` the old checkout runs in the same round-robin → ``results-cli.json``.
* ``bench_map.py``  — the 10k- and 100k-school maps against folium ``GeoJson`` and
  ``FastMarkerCluster``, opened in headless Chromium with the network cut off
  → ``map_results.json``.
* ``bench_build.py`` — ``geo build`` of the five plans, whole and after imports, against
  ``--before`` → ``build.json``.

Usage::

    git archive <old commit> | tar -x -C /tmp/geo-before
    python benchmarks/bench_speed.py --before /tmp/geo-before          # about 6 min on 2 cores
    python benchmarks/bench_speed.py --before /tmp/geo-before --parts build   # one part again

No test reads these figures; they are for the reader of ``benchmarks/README.md``.
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
sys.path.insert(0, str(HERE))


def _run(args: list[str]) -> dict:
    """One benchmark script in its own process; its load before and after."""
    before = [round(v, 2) for v in os.getloadavg()]
    start = datetime.now(timezone.utc).isoformat(timespec="seconds")
    proc = subprocess.run([sys.executable, *args], cwd=HERE.parent)  # noqa: S603
    return {
        "command": " ".join(["python", *args]),
        "started": start,
        "exit_status": proc.returncode,
        "loadavg_before": before,
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
    }


def _get(d: dict, *keys, default=None):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def query_goals(cli: dict) -> list[dict]:
    """At least as fast as the geopandas script (CPU), within 2× DuckDB, peak RSS below geopandas'."""
    goals = []
    for case in cli.get("cases", []):
        n = case["n_points"]
        eng = case["engines"]
        cpu = {e: _get(v, "cpu_s", "median") for e, v in eng.items()}
        rss = {e: _get(v, "peak_rss_mb", "median") for e, v in eng.items()}
        goals += [
            {
                "goal": f"geo query {n:,} points: CPU ≤ plain geopandas script",
                "figures_cpu_s_median": cpu,
                "met": cpu["geo"] <= cpu["geopandas"],
            },
            {
                "goal": f"geo query {n:,} points: within 2× DuckDB (CPU)",
                "figures_cpu_s_median": {"geo": cpu["geo"], "duckdb": cpu.get("duckdb")},
                "met": cpu.get("duckdb") is not None and cpu["geo"] <= 2 * cpu["duckdb"],
            },
            {
                "goal": f"geo query {n:,} points: peak RSS below geopandas'",
                "figures_peak_rss_mb_median": rss,
                "met": rss["geo"] < rss["geopandas"],
            },
            {
                "goal": f"geo query {n:,} points: same school pairs in every engine",
                "met": bool(case.get("checksums_agree")),
            },
        ]
    setup = cli.get("setup")
    if setup:
        beyond = setup["beyond_geopandas_cpu_s"]
        goals.append(
            {
                "goal": "fixed setup under 1 s (2-point geo query minus `import geopandas`, CPU medians)",
                "figures_cpu_s": beyond,
                "figures_total_cpu_s_median": {e: v["cpu_s"]["median"] for e, v in setup["engines"].items()},
                "met": beyond["geo"] < 1.0,
            }
        )
    return goals


def map_goals(maps: dict) -> list[dict]:
    """100k schools: opens in under 3 s and under 20 MB; 10k: under 1 s."""
    limits = {10_000: (1.0, None), 100_000: (3.0, 20.0)}
    goals = []
    for case in maps.get("cases", []):
        n = case["schools"]
        if n not in limits:
            continue
        t_max, mb_max = limits[n]
        pages = case["pages"]
        geo = pages["geo"]
        figures = {
            k: {"open_s_median": v.get("open_s_median"), "size_mb": v.get("size_mb")}
            for k, v in pages.items()
        }
        goals.append(
            {
                "goal": f"map of {n:,} schools opens in under {t_max:g} s (Chromium, median)",
                "figures": figures,
                "met": geo["open_s_median"] < t_max,
            }
        )
        if mb_max:
            goals.append(
                {
                    "goal": f"map of {n:,} schools under {mb_max:g} MB",
                    "figures": {"size_mb": geo["size_mb"]},
                    "met": geo["size_mb"] < mb_max,
                }
            )
    return goals


def build_goals(build: dict) -> list[dict]:
    """``geo build`` of the five plans under 6 s after imports."""
    work = _get(build, "summary", "work/this")
    if not work:
        return []
    return [
        {
            "goal": "geo build of the five plans under 6 s after imports (median wall)",
            "figures": {k: v for k, v in build["summary"].items() if k.startswith(("work/", "build/"))},
            "met": work["wall"]["median"] < 6.0,
        },
        {
            "goal": "geo build: which files differ from before (sha256 of every file; information)",
            "figures": build.get("files", {}),
            "met": None,
        },
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, required=True, help="source tree of the code before the change")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each case in every benchmark")
    ap.add_argument("--out", type=Path, default=HERE / "speed.json")
    ap.add_argument(
        "--parts",
        default="query,map,build",
        help="benchmarks to run (comma-separated); the goals are judged from all three results "
        "files, and the parts not run keep their entry from the previous speed.json",
    )
    args = ap.parse_args(argv)

    from bench_query import machine_info

    before = str(args.before.resolve())
    r = str(args.rounds)
    parts = {
        "query": (
            ["benchmarks/bench_cli.py", "--before-root", before, "--rounds", r],
            HERE / "results-cli.json",
        ),
        "map": (["benchmarks/bench_map.py", "--repeat", str(max(args.rounds, 5))], HERE / "map_results.json"),
        "build": (["benchmarks/bench_build.py", "--baseline", before, "--repeat", r], HERE / "build.json"),
    }
    result: dict = {
        "what": "issue 10's speed goals, measured in one run",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "before": before,
        "parts": {},
        "goals": [],
    }
    wanted = [p for p in args.parts.split(",") if p]
    previous = json.loads(args.out.read_text(encoding="utf-8")).get("parts", {}) if args.out.exists() else {}
    for name, (cmd, out) in parts.items():
        if name not in wanted:
            if name in previous:
                result["parts"][name] = previous[name]
            continue
        print(f"== {name}: {' '.join(cmd)}", flush=True)
        result["parts"][name] = {**_run(cmd), "results_file": out.name}
    cli = json.loads((HERE / "results-cli.json").read_text(encoding="utf-8"))
    maps = json.loads((HERE / "map_results.json").read_text(encoding="utf-8"))
    build = json.loads((HERE / "build.json").read_text(encoding="utf-8"))
    result["goals"] = query_goals(cli) + map_goals(maps) + build_goals(build)
    result["loadavg_at_end"] = [round(v, 2) for v in os.getloadavg()]
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for g in result["goals"]:
        print(f"{ {True: 'met    ', False: 'NOT MET', None: '       '}[g['met']] }  {g['goal']}")
    print(f"→ {args.out}")
    return 0 if all(p.get("exit_status") == 0 for p in result["parts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
