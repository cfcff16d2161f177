"""Plan loading: ``geo._yaml.load_yaml`` against what a user would otherwise write.

Side by side, in one run, over the five bundled plans (best of N rounds, each round loading all
five):

- ``pyyaml-python-twice``: PyYAML's pure-Python SafeLoader, composing once for positions and
  loading once for data (what ``load_yaml`` did before it parsed once with libyaml);
- ``pyyaml-c-load``: ``yaml.load(text, Loader=yaml.CSafeLoader)``, data only, no positions and no
  duplicate-key, depth or alias checks (the fastest plain PyYAML answer);
- ``geo-load_yaml``: one libyaml parse, positions, duplicate keys refused, depth and alias
  expansion capped.

Writes ``benchmarks/yaml_load.json``. Run: ``python benchmarks/bench_yaml.py [--rounds N]``.
The machine is shared; the load average at the start is recorded with the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

import yaml

from geo._yaml import load_yaml
from geo.plan import plan_files

HERE = Path(__file__).resolve().parent


def _python_twice(path: Path) -> None:
    text = path.read_text(encoding="utf-8-sig")
    yaml.compose(text, Loader=yaml.SafeLoader)
    yaml.load(text, Loader=yaml.SafeLoader)


def _c_load(path: Path) -> None:
    yaml.load(path.read_text(encoding="utf-8-sig"), Loader=yaml.CSafeLoader)


CASES = {"pyyaml-python-twice": _python_twice, "pyyaml-c-load": _c_load, "geo-load_yaml": load_yaml}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    files = plan_files()
    load = os.getloadavg()
    results = {}
    for name, fn in CASES.items():
        best = float("inf")
        for _ in range(args.rounds):
            t = time.perf_counter()
            for f in files:
                fn(f)
            best = min(best, time.perf_counter() - t)
        results[name] = {"best_ms_all_plans": round(best * 1000, 1)}
    data = {
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "what": "load the five bundled plan YAML files once (best of rounds)",
        "rounds": args.rounds,
        "plans": [f.name for f in files],
        "plan_bytes": sum(f.stat().st_size for f in files),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "pyyaml": yaml.__version__,
            "libyaml": yaml.__with_libyaml__,
            "loadavg_at_start": [round(v, 2) for v in load],
            "note": "shared machine, other jobs running",
        },
        "results": results,
    }
    out = HERE / "yaml_load.json"
    out.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    for name, r in results.items():
        print(f"{name:22s} {r['best_ms_all_plans']:8.1f} ms")


if __name__ == "__main__":
    main()
