"""``geo build`` of the five bundled plans, and its static-map stage alone, against a baseline.

Compares this checkout with another source tree of the toolkit (``--baseline``, e.g. an export
of ``main``: ``git archive main | tar -x -C /tmp/main_src``), in the same run, on the same
machine, round-robin (baseline, this, baseline, this …), each run a fresh process using this
venv's packages with the tree first on ``PYTHONPATH``, ``SOURCE_DATE_EPOCH`` fixed:

* ``build``  — ``python -m geo build -o <tmp>``: the whole command, interpreter start and
  imports included. Wall time, and CPU time (user + system) of the process.
* ``work``   — the same build, after imports: the process first imports every module a build
  imports (Python, geopandas, matplotlib, folium, osmnx, GDAL bindings, the toolkit; the list
  is taken from ``sys.modules`` at the end of an untimed build of the same tree), then times
  the ``geo build`` command itself (``geo.cli.main``) — wall and CPU. What stays in it is the
  command's own work: checking inputs, resolving, drawing, writing.
* ``static`` — inside one process: the five plans built once (not timed), then
  ``render_static_files(data, [map.png, map.pdf])`` for each, timed together (wall).

Reported: every run, min and median per case, the load average before and after each run
(the machine is shared), and whether the two trees' builds give the same files, byte for byte
(sha256 of every file). No figure here is asserted by any test.

Usage::

    python benchmarks/bench_build.py --baseline /tmp/main_src [--repeat 3]
        → benchmarks/build.json

Recorded: ``build.json`` and ``build-merged.json`` were written by an earlier version of this
script (``build`` wall time and ``static`` only): the symbology/static-map branch alone, and
after merging the interactive-map work, each against ``main``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PLANS = ("000", "001", "002", "003", "004")

STATIC_SNIPPET = """
import time, tempfile
from pathlib import Path
from geo.build import build_plan
from geo.plan import get_plan
from geo.publish.static import render_static_files
datas = [build_plan(get_plan(p)) for p in ("000", "001", "002", "003", "004")]
out = Path(tempfile.mkdtemp())
t = time.perf_counter()
for d in datas:
    render_static_files(d, [out / f"{d.plan.id}.png", out / f"{d.plan.id}.pdf"])
print(time.perf_counter() - t)
"""

# an untimed build that leaves the names of every module it imported in argv[1]
MODULES_SNIPPET = """
import atexit, sys
listing = sys.argv[1]
def dump():
    with open(listing, "w") as f:
        f.write("\\n".join(m for m in sys.modules if not m.startswith("__")))
atexit.register(dump)
from geo.cli import main
sys.argv = ["geo", "build", "-o", sys.argv[2]]
main()
"""

# imports argv[1]'s modules, then times the build command alone; prints its wall and CPU seconds
WORK_SNIPPET = """
import importlib, json, sys, time
for name in open(sys.argv[1]).read().split():
    try:
        importlib.import_module(name)
    except Exception:
        pass  # a module only importable in its parent's context; imported again if needed
from geo.cli import main
sys.argv = ["geo", "build", "-o", sys.argv[2]]
wall, cpu = time.perf_counter(), time.process_time()
try:
    main()
except SystemExit as exc:
    if exc.code:
        raise
print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}))
"""


def _env(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    env["SOURCE_DATE_EPOCH"] = "1700000000"
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _run(tree: Path, argv: list[str], cwd: str) -> tuple[float, float, str]:
    """Wall and CPU (user + system) seconds of a child process, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    res = subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, *argv], cwd=cwd, env=_env(tree), check=True, capture_output=True, text=True
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, res.stdout


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _run_build(tree: Path) -> tuple[float, float, dict[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        wall, cpu, _ = _run(tree, ["-m", "geo", "build", "-o", str(out)], tmp)
        return wall, cpu, _digests(out)


def _module_list(tree: Path, listing: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _run(tree, ["-c", MODULES_SNIPPET, str(listing), str(Path(tmp) / "out")], tmp)


def _run_work(tree: Path, listing: Path) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        _, _, stdout = _run(tree, ["-c", WORK_SNIPPET, str(listing), str(Path(tmp) / "out")], tmp)
    got = json.loads(stdout.strip().splitlines()[-1])
    return got["wall"], got["cpu"]


def _run_static(tree: Path) -> float:
    _, _, stdout = _run(tree, ["-c", STATIC_SNIPPET], tempfile.gettempdir())
    return float(stdout.strip().splitlines()[-1])


def _stats(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3), "n": len(values)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", type=Path, required=True, help="source tree to compare with")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "build.json")
    args = ap.parse_args()
    trees = {"baseline": args.baseline.resolve(), "this": ROOT}
    runs: list[dict] = []
    digests: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as listings:
        modules = {name: Path(listings) / f"{name}.txt" for name in trees}
        for name, tree in trees.items():
            _module_list(tree, modules[name])
        for i in range(args.repeat):
            for case in ("build", "work", "static"):
                for name, tree in trees.items():
                    before = os.getloadavg()
                    cpu = None
                    if case == "build":
                        wall, cpu, digests[name] = _run_build(tree)
                    elif case == "work":
                        wall, cpu = _run_work(tree, modules[name])
                    else:
                        wall = _run_static(tree)
                    run = {"round": i, "case": case, "tree": name, "seconds": round(wall, 3)}
                    if cpu is not None:
                        run["cpu_seconds"] = round(cpu, 3)
                    run["loadavg_before"] = [round(x, 2) for x in before]
                    run["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
                    runs.append(run)
                    print(runs[-1], flush=True)
    summary = {}
    for case in ("build", "work", "static"):
        for name in trees:
            mine = [r for r in runs if r["case"] == case and r["tree"] == name]
            summary[f"{case}/{name}"] = {"wall": _stats([r["seconds"] for r in mine])}
            if "cpu_seconds" in mine[0]:
                summary[f"{case}/{name}"]["cpu"] = _stats([r["cpu_seconds"] for r in mine])
    base, this = digests.get("baseline", {}), digests.get("this", {})
    result = {
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "logical_cores": os.cpu_count(),
            "python": platform.python_version(),
            "note": "shared machine: other jobs ran during the measurement (see loadavg per run)",
        },
        "method": "round-robin, fresh process per run, SOURCE_DATE_EPOCH=1700000000; "
        "build = whole `geo build` command (wall, CPU of the process); work = the same command "
        "after importing every module a build imports (wall, CPU of the command alone); "
        "static = render_static_files of the five plans (PNG+PDF), plans built beforehand",
        "baseline": str(trees["baseline"]),
        "files": {
            "count": len(this),
            "identical": sum(1 for k, v in this.items() if base.get(k) == v),
            "differ": sorted(k for k in this if k in base and base[k] != this[k]),
            "new": sorted(set(this) - set(base)),
            "gone": sorted(set(base) - set(this)),
        },
        "summary": summary,
        "runs": runs,
    }
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"files": {k: v for k, v in result["files"].items()}, **summary}, indent=2))


if __name__ == "__main__":
    main()
