"""The ``geo`` command: a thin shell over the package's public functions.

Exit status: 0 success, 2 bad input (clear message, no traceback), 1 internal error.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .errors import GeoError, InputError

app = typer.Typer(
    name="geo",
    help="Turn urban-management action plans into map layers, zones and maps.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Wide when piped, so tables of Chinese text are not cut to 80 columns in logs.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)


def progress_bar():
    """A rich progress display on stderr, shown only on a terminal so logs and pipes stay clean."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def schematic_note() -> None:
    """Say on stderr that the geometry is the bundled schematic (示意) extract, not surveyed."""
    err.print(
        "note: geometry from the bundled schematic (示意) extract, not surveyed data",
        markup=False,
        highlight=False,
    )


def _fail_input(exc: InputError) -> None:
    for p in exc.problems:
        err.print(f"[bold red]error:[/] {p}", markup=True, highlight=False)
    raise typer.Exit(2)


@app.command("plans")
def plans_cmd() -> None:
    """List the bundled plans: id, 文号, issuer, date and counts."""
    from .plan import load_plans

    try:
        plans = load_plans()
    except InputError as exc:
        _fail_input(exc)
    table = Table(title="Bundled plans", show_lines=False)
    for col in ("id", "文号", "issuer", "date", "phases", "places", "rules", "tasks"):
        table.add_column(col, justify="right" if col in ("phases", "places", "rules", "tasks") else "left")
    for p in plans:
        d = p.document
        table.add_row(
            p.id,
            d.doc_number,
            d.issuer,
            str(d.issued or "—"),
            str(len(p.phases)),
            str(len(p.places)),
            str(len(p.rules)),
            str(len(p.tasks)),
        )
    out.print(table)


@app.command("check")
def check_cmd(
    plan_files: Annotated[
        list[Path] | None, typer.Argument(help="Plan YAML files (default: all bundled plans).")
    ] = None,
) -> None:
    """Validate plan files; exit 0 when valid, 2 with file:line messages when not."""
    from .plan import load_plan
    from .plan import plan_files as bundled

    files = plan_files or bundled()
    if not files:
        err.print("error: no plan files found")
        raise typer.Exit(2)
    bad = 0
    for f in files:
        try:
            plan = load_plan(f)
        except InputError as exc:
            bad += 1
            for p in exc.problems:
                err.print(f"error: {p}", markup=False, highlight=False)
            continue
        out.print(
            f"ok  {f}  ({len(plan.phases)} phases, {len(plan.places)} places, "
            f"{len(plan.rules)} rules, {len(plan.tasks)} tasks)",
            markup=False,
            highlight=False,
        )
    if bad:
        err.print(f"{bad} of {len(files)} plan file(s) invalid", markup=False)
        raise typer.Exit(2)


OsmOpt = Annotated[
    list[Path] | None,
    typer.Option("--osm", help="OSM extract (.osm, .osm.bz2, .osm.pbf) or fetched .gpkg; repeatable."),
]
GazOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--gazetteer", help="Your own list of places (CSV, XLSX, GeoJSON); wins over OSM; repeatable."
    ),
]


def _print_problems(problems) -> None:
    for p in problems:
        err.print(f"warning: {p}", markup=False, highlight=False)


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
    from ._io import write_text
    from .plan import get_plan
    from .regions import get_region
    from .resolve import build_sources, resolve_names, resolve_plan

    if not names and not plan:
        err.print("error: give place names, or --plan PLAN")
        raise typer.Exit(2)
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
        write_text(report, missing.to_csv(index=False))
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
    from .resolve.osm import fetch

    path = fetch(region, timeout=timeout)
    out.print(f"fetched {region} -> {path}", markup=False, highlight=False)


# Commands of later stages live in their own modules and register themselves on ``app``.
for _module in ("cli_analysis", "cli_map", "cli_build"):
    try:
        importlib.import_module(f"geo.{_module}")
    except ModuleNotFoundError as _exc:  # a stage not installed in this checkout
        if _exc.name != f"geo.{_module}":
            raise


def main() -> None:
    """Entry point for the console script."""
    try:
        app()
    except InputError as exc:
        for p in exc.problems:
            err.print(f"error: {p}", markup=False, highlight=False)
        sys.exit(2)
    except GeoError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("GEO_DEBUG"):
            raise
        err.print(
            f"internal error: {type(exc).__name__}: {exc} (set GEO_DEBUG=1 to see the traceback)",
            markup=False,
            highlight=False,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
