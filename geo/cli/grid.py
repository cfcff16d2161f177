"""``geo grid``: 单元网格 — import cells from a 数字城管 system or make square cells.

Registers on ``geo.cli.app``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from ._common import _fail_input, app, err, out

grid_app = typer.Typer(
    help="Unit grid cells (单元网格): import or make, with a topology check.", no_args_is_help=True
)
app.add_typer(grid_app, name="grid")


def _report_topology(issues) -> None:
    for i in issues:
        err.print(f"topology: {i}", markup=False, highlight=False)


@grid_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="Cells with codes (GeoJSON, GeoPackage, Shapefile).")],
    db: Annotated[str, typer.Option("--db", help="Ledger (.gpkg or postgresql:// URL).")],
    region: Annotated[
        str | None, typer.Option("--region", help="Region for the gap check (default: holes between cells).")
    ] = None,
) -> None:
    """Replace the ledger's grid with FILE's cells; report overlaps and gaps with area and place."""
    from ..crs import local_crs
    from ..ledger.grid import check_topology, read_grid, region_boundary, save_grid
    from ..ledger.store import open_store

    try:
        cells, problems = read_grid(file)
        if not len(cells):
            raise InputError.single(str(file), "no usable cells")
        boundary, epsg = None, local_crs(float(cells.union_all().centroid.x))
        if region:
            boundary, epsg, _ = region_boundary(region)
        issues = check_topology(cells, epsg, boundary)
        with open_store(db) as store:
            n = save_grid(store, cells, epsg)
    except InputError as exc:
        _fail_input(exc)
    for p in problems:
        err.print(f"error: {p}", markup=False, highlight=False)
    _report_topology(issues)
    std = int(cells["standard"].sum())
    out.print(
        f"imported {n} cells into {db} ({std} with 15-digit DB11 codes), {len(issues)} topology issues",
        markup=False,
        highlight=False,
    )
    if problems:
        raise typer.Exit(2)


@grid_app.command("make")
def make_cmd(
    size: Annotated[float, typer.Option("--size", help="Cell side in metres.")] = 100.0,
    region: Annotated[str | None, typer.Option("--region", help="Region name (e.g. 许昌).")] = None,
    plan: Annotated[str | None, typer.Option("--plan", help="Use this plan's region.")] = None,
    communities: Annotated[
        Path | None,
        typer.Option("--communities", help="社区 polygons with district/街道/社区 codes: DB11 cell codes."),
    ] = None,
    units: Annotated[str | None, typer.Option("--units", help="责任主体 of every cell.")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Ledger to store the cells in.")] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Or write them to a .gpkg/.geojson file.")
    ] = None,
) -> None:
    """Square cells in the metric CRS, clipped to the region (and each 社区); topology checked."""
    from ..ledger.grid import check_topology, make_grid, read_communities, region_boundary, save_grid
    from ..ledger.store import open_store

    try:
        if db is None and out_file is None:
            raise InputError.single("--db", "give --db LEDGER or --out FILE")
        boundary, epsg, name = region_boundary(region, [plan] if plan else [])
        comm = read_communities(communities) if communities else None
        cells = make_grid(boundary, size, epsg, communities=comm, units=units)
        issues = check_topology(cells, epsg, None if comm is not None else boundary)
        if db is not None:
            with open_store(db) as store:
                save_grid(store, cells, epsg)
        if out_file is not None:
            from ..publish.files import write_geojson, write_gpkg

            if out_file.suffix.lower() == ".gpkg":
                import datetime as dt

                write_gpkg({"grids": cells}, out_file, dt.date.today())
            elif out_file.suffix.lower() == ".geojson":
                write_geojson(cells, out_file, "grids")
            else:
                raise InputError.single("--out", f"expected .gpkg or .geojson, got {str(out_file)!r}")
    except InputError as exc:
        _fail_input(exc)
    _report_topology(issues)
    std = "DB11 15-digit codes" if comm is not None else "numbered over the region, not standard-coded"
    out.print(f"{len(cells)} cells of {size:g} m over {name} ({std})", markup=False, highlight=False)
