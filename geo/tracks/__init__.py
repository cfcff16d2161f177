"""GPS tracks of sweepers, washers and patrol cars, judged against the plans' rules.

The flow, one module per step:

* :mod:`geo.tracks.read` — read fixes (CSV in UTF-8 or GBK, XLSX, GeoParquet, a folder of
  partitioned GeoParquet), report bad rows by ``file:line: field``, drop impossible jumps, and
  give every fix its heading while the fixes are in vehicle/time order;
* :mod:`geo.tracks.segments` — cut streets into fixed-length segments in the metric CRS;
* :mod:`geo.tracks.passes` — snap fixes to segments, count passes with the gap rule, aggregate
  per segment, per street and day, and patrol-zone entries per day;
* :mod:`geo.tracks.engine` — the in-process engine and the plan context (streets, targets,
  patrol zones) both engines share;
* :mod:`geo.tracks.dask_engine` — the same computation on Dask (a ``distributed.LocalCluster``
  or an existing cluster), over partitioned GeoParquet.
"""

from __future__ import annotations

from .engine import PlanContext, TracksResult, plan_context, run_tracks
from .read import Fixes, read_fixes

__all__ = ["Fixes", "PlanContext", "TracksResult", "plan_context", "read_fixes", "run_tracks"]
