"""城管图 chengguan-geo: urban-management action plans → layers, rule zones, queries and maps.

The flow, one way: plan → resolve → layers → rules → analysis → publish. The main functions are
importable from here (loaded on first use, so ``import geo`` stays fast)::

    import geo
    plan = geo.get_plan("002")
    data = geo.build_plan(plan)                  # places resolved, zones built
    hits = geo.query_plan(points, data, date="2023-05-01")
    geo.write_map(data, "002.html")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "get_plan": "plan",
    "load_plan": "plan",
    "load_plans": "plan",
    "get_region": "regions",
    "build_sources": "resolve",
    "resolve_names": "resolve",
    "resolve_plan": "resolve",
    "build_zones": "rules",
    "build_plan": "build",
    "query_points": "query",
    "query_plan": "query",
    "coverage": "analysis",
    "overlaps": "analysis",
    "gaps": "analysis",
    "spacing_check": "analysis",
    "target_table": "analysis",
    "render_map": "publish.html",
    "write_map": "publish.html",
    "render_static": "publish.static",
    "write_layers": "publish.files",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'geo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
