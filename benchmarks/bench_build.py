"""``geo build`` of the five bundled plans, and its static-map stage alone, against a baseline.

Compares this checkout with another source tree of the toolkit (``--baseline``, e.g. an export
of ``main``: ``git archive main | tar -x -C /tmp/main_src``), in the same run, on the same
machine, round-robin (baseline, this, baseline, this …), each run a fresh process using this
venv's packages with the tree first on ``PYTHONPATH``:

* ``build``  — ``python -m geo build -o <tmp>`` (wall time of the whole command, imports
  included, ``SOURCE_DATE_EPOCH`` fixed);
* ``static`` — inside one process: the five plans built once (not timed), then
  ``render_static_files(data, [map.png, map.pdf])`` for each, timed together.

Reported: every run, min and median per case, the load average before and after each run
(the machine is shared), and whether the two trees' builds give the same set of files. No
figure here is asserted by any test.

Usage::

    python benchmarks/bench_build.py --baseline /tmp/main_src [--repeat 3]
        → benchmarks/build.json

Recorded: ``build.json`` — the symbology/static-map branch alone against ``main``;
``build-merged.json`` — the same branch after merging the interactive-map work, against ``main``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

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


def _env(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    env["SOURCE_DATE_EPOCH"] = "1700000000"
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _run_build(tree: Path) -> tuple[float, list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
            [sys.executable, "-m", "geo", "build", "-o", tmp],
            cwd=tmp,
            env=_env(tree),
            check=True,
            capture_output=True,
        )
        wall = time.perf_counter() - t
        files = sorted(str(p.relative_to(tmp)) for p in Path(tmp).rglob("*") if p.is_file())
    return wall, files


def _run_static(tree: Path) -> float:
    res = subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, "-c", STATIC_SNIPPET],
        cwd=tempfile.gettempdir(),
        env=_env(tree),
        check=True,
        capture_output=True,
        text=True,
    )
    return float(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", type=Path, required=True, help="source tree to compare with")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "build.json")
    args = ap.parse_args()
    trees = {"baseline": args.baseline.resolve(), "this": ROOT}
    runs: list[dict] = []
    files: dict[str, list[str]] = {}
    for i in range(args.repeat):
        for case in ("build", "static"):
            for name, tree in trees.items():
                before = os.getloadavg()
                if case == "build":
                    wall, files[name] = _run_build(tree)
                else:
                    wall = _run_static(tree)
                runs.append(
                    {
                        "round": i,
                        "case": case,
                        "tree": name,
                        "seconds": round(wall, 3),
                        "loadavg_before": [round(x, 2) for x in before],
                        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                    }
                )
                print(runs[-1], flush=True)
    summary = {}
    for case in ("build", "static"):
        for name in trees:
            s = [r["seconds"] for r in runs if r["case"] == case and r["tree"] == name]
            summary[f"{case}/{name}"] = {"min": min(s), "median": round(statistics.median(s), 3), "n": len(s)}
    result = {
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "logical_cores": os.cpu_count(),
            "python": platform.python_version(),
            "note": "shared machine: other jobs ran during the measurement (see loadavg per run)",
        },
        "method": "round-robin, fresh process per run; build = whole `geo build` command; "
        "static = render_static_files of the five plans (PNG+PDF), plans built beforehand",
        "baseline": str(trees["baseline"]),
        "new_files": sorted(set(files.get("this", [])) - set(files.get("baseline", []))),
        "summary": summary,
        "runs": runs,
    }
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
