"""``geo resolve`` and ``geo fetch``: names to geometry, OSM into the cache."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from ._common import GazOpt, OsmOpt, _print_problems, app, err, out, schematic_note


@app.command("resolve")
def resolve_cmd(
    names: Annotated[
        list[str] | None, typer.Argument(help="Place names or phrases, e.g. 泽州路 金屯菜市场周边.")
    ] = None,
    plan: Annotated[
        str | None, typer.Option("--plan", help="Resolve every place of this plan (id or file).")
    ] = None,
    region: Annotated[
        str | None,
        typer.Option("--region", help="Region the names lie in (default: the plan's, else 晋城市城区)."),
    ] = None,
    osm: OsmOpt = None,
    gazetteer: GazOpt = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the unresolved report (CSV) here.")
    ] = None,
) -> None:
    """Resolve names to geometry; print a GeoJSON FeatureCollection to stdout.

    Sources are tried in order: --gazetteer, then --osm, then (only when no --osm is given) the
    bundled schematic (示意) extract of the region. Unresolved names are listed on stderr; the exit
    status is 3 when nothing resolved.
    """
    from .._io import check_out_file
    from ..plan import get_plan
    from ..regions import get_region
    from ..resolve import build_sources, resolve_names, resolve_plan

    if not names and not plan:
        err.print("error: give place names, or --plan PLAN")
        raise typer.Exit(2)
    for i, name in enumerate(names or (), start=1):
        if not name.strip():
            raise InputError.single("NAMES", f"name {i} is empty; expected a place name such as 泽州路")
    if report is not None:
        check_out_file(report, "--report")
    the_plan = get_plan(plan) if plan else None
    if region or the_plan is not None:
        reg = get_region(region or the_plan.document.region)
    elif osm:
        reg = None  # a region covering the extract(s)
    else:
        reg = get_region("晋城市城区")
    sources, problems = build_sources(reg, osm=osm or (), gazetteers=gazetteer or ())
    _print_problems(problems)
    frames = []
    if the_plan is not None:
        frames.append(resolve_plan(the_plan, sources))
    if names:
        frames.append(resolve_names(names, sources))
    import pandas as pd

    layer = pd.concat([f[0] for f in frames], ignore_index=True)
    missing = pd.concat([f[1] for f in frames], ignore_index=True)
    if sources.schematic:
        schematic_note()
    sys.stdout.write(layer.to_json(na="null", ensure_ascii=False, drop_id=True) + "\n")
    for _, row in missing.iterrows():
        near = f" (closest: {row['candidates'].replace(';', ', ')})" if row["candidates"] else ""
        err.print(f"unresolved: {row['name']}: {row['reason']}{near}", markup=False, highlight=False)
    if report is not None:
        from ..publish.files import write_csv

        write_csv(missing, report)  # formulas neutralised, UTF-8 with BOM as every CSV here
    if len(layer) == 0:
        raise typer.Exit(3)


@app.command("fetch")
def fetch_cmd(
    region: Annotated[str, typer.Argument(help="Region name as OSM/Nominatim knows it, e.g. 晋城市城区.")],
    timeout: Annotated[float | None, typer.Option(help="Network timeout in seconds (GEO_TIMEOUT).")] = None,
) -> None:
    """Download streets and the POI kinds the plans use for REGION into the local cache.

    Needs network access; endpoints come from GEO_OVERPASS_URL / GEO_NOMINATIM_URL (a mirror),
    the cache folder from GEO_CACHE_DIR. Use the result with --osm PATH.
    """
    import math

    from ..resolve.osm import fetch

    if timeout is not None and not (math.isfinite(timeout) and 0 < timeout <= 86_400):
        raise InputError.single("--timeout", f"expected seconds above 0 and at most 86400, got {timeout:g}")
    path = fetch(region, timeout=timeout)
    out.print(f"fetched {region} -> {path}", markup=False, highlight=False)
