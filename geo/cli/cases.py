"""``geo cases``: the 问题台账 — import case files, report and export (registers on ``geo.cli.app``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from ._common import GazOpt, OsmOpt, _fail_input, _print_problems, app, err, out, schematic_note

cases_app = typer.Typer(help="The case ledger (问题台账): import, report, export.", no_args_is_help=True)
app.add_typer(cases_app, name="cases")

DbOpt = Annotated[
    str, typer.Option("--db", help="Ledger: a .gpkg file, or a postgresql:// URL (needs [postgis]).")
]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="Day at which overdue is judged (YYYY-MM-DD); default today.")
]
#: ``--cases`` of ``geo map`` and ``geo build`` (with ``--as-of``): the 问题台账 layer on a map.
CasesOpt = Annotated[
    str | None, typer.Option("--cases", help="Add the 问题台账 layer from this ledger (.gpkg or URL).")
]


def _check_date(value: str | None) -> None:
    import datetime as dt

    if value is None:
        return
    try:
        dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InputError.single("--as-of", f"{value!r} is not a date; expected YYYY-MM-DD") from None


@cases_app.command("import")
def import_cmd(
    files: Annotated[list[Path], typer.Argument(help="Case files: CSV (UTF-8/GBK), XLSX, GeoJSON.")],
    db: DbOpt,
    crs: Annotated[
        str, typer.Option("--crs", help="wgs84 | gcj02 (Amap, Tencent) | bd09 (Baidu).")
    ] = "wgs84",
    plan: Annotated[
        list[str] | None, typer.Option("--plan", help="Plan whose rule zones apply (id or YAML); repeatable.")
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="Region for streets and addresses (default: the plan's).")
    ] = None,
    tolerance: Annotated[
        float, typer.Option("--street-tolerance", help="Metres to the nearest named street / street chief.")
    ] = 30.0,
    osm: OsmOpt = None,
    gazetteer: GazOpt = None,
) -> None:
    """Import cases into the ledger: upsert by case id, every change recorded as an event.

    Bad rows are reported (file:line: [field] …) and skipped, the rest is imported, and the exit
    status is 2. The whole import is one transaction. Each case is assigned a grid cell, street,
    street chief, plan rules and responsible units (precedence: the case's own unit, the street
    chief's, the grid's 责任主体, the rules' units; assigned_by says which).
    """
    from ..ledger.assign import context_for
    from ..ledger.cases import import_cases
    from ..ledger.store import open_store

    try:
        ctx, gaz_problems = context_for(
            plan or (), region=region, osm=[str(p) for p in osm or ()],
            gazetteers=[str(p) for p in gazetteer or ()], tolerance_m=tolerance,
        )  # fmt: skip
        _print_problems(gaz_problems)
        with open_store(db) as store:
            res = import_cases(store, files, crs=crs, context=ctx)
    except InputError as exc:
        _fail_input(exc)
    for p in res.problems:
        err.print(f"error: {p}", markup=False, highlight=False)
    if res.schematic:
        schematic_note()
    out.print(
        f"imported into {db}: {res.created} new, {res.updated} updated, {res.unchanged} unchanged, "
        f"{res.unresolved} without a location (kept), {len(res.problems)} bad rows skipped",
        markup=False,
        highlight=False,
    )
    if res.problems:
        raise typer.Exit(2)


@cases_app.command("report")
def report_cmd(
    db: DbOpt,
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Report file: .xlsx or .csv.")],
    as_of: AsOfOpt = None,
) -> None:
    """Per unit and per grid: received, closed, closed on time, open, overdue, 结案率, 按期结案率,
    mean days to close; and the overdue cases."""
    from ..ledger.report import write_report
    from ..ledger.store import open_store

    try:
        _check_date(as_of)
        with open_store(db, create=False) as store:
            paths = write_report(store, out_file, as_of)
    except InputError as exc:
        _fail_input(exc)
    out.print("wrote " + ", ".join(map(str, paths)), markup=False, highlight=False)


@cases_app.command("export")
def export_cmd(
    db: DbOpt,
    out_file: Annotated[Path, typer.Option("--out", "-o", help=".csv, .xlsx, .gpkg or .geojson.")],
    as_of: AsOfOpt = None,
) -> None:
    """Every case with overdue judged at --as-of, grid, street, rules, units and assigned_by."""
    from ..ledger.report import EXPORT_COLUMNS, export_frame, write_export
    from ..ledger.store import open_store

    try:
        _check_date(as_of)
        suffix = out_file.suffix.lower()
        if suffix not in (".csv", ".xlsx", ".gpkg", ".geojson"):
            raise InputError.single(
                "--out", f"expected .csv, .xlsx, .gpkg or .geojson, got {str(out_file)!r}"
            )
        with open_store(db, create=False) as store:
            gdf = export_frame(store, as_of)
        gdf = gdf[[*EXPORT_COLUMNS, "geometry"]]
        write_export(gdf, out_file, as_of)
    except InputError as exc:
        _fail_input(exc)
    out.print(f"wrote {out_file} ({len(gdf)} cases)", markup=False, highlight=False)
