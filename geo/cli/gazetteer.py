"""``geo gazetteer template``: a sheet of the plans' unplaced places for staff to fill in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from ._common import GazOpt, OsmOpt, _fail_input, _print_problems, app, out

gazetteer_app = typer.Typer(
    help="Gazetteers: your own list of places, which wins over OSM.", no_args_is_help=True
)
app.add_typer(gazetteer_app, name="gazetteer")


@gazetteer_app.command("template")
def template_cmd(
    plans: Annotated[
        list[str] | None, typer.Argument(help="Plan ids or YAML files (default: every bundled plan).")
    ] = None,
    out_file: Annotated[
        Path,
        typer.Option("--out", "-o", help="The workbook to write (.xlsx); a GBK .csv is written beside it."),
    ] = Path("places.xlsx"),
    osm: OsmOpt = None,
    gazetteer: GazOpt = None,
) -> None:
    """Write a gazetteer template: one row per place of the plans that no real source resolves.

    Each row gives the name exactly as written, its kind, the parsed street/anchor/relation
    and the clause, with empty 经度/纬度 and a 坐标系 column set to gcj02 (points picked on
    高德/腾讯 maps). A second sheet explains how to fill it in; the same rows are written as
    GBK CSV beside the workbook. Real sources given with --osm/--gazetteer are tried first
    (the bundled schematic extract never is). Fill it in and pass it back with --gazetteer.
    """
    from ..plan import load_plans
    from ..resolve.gazetteer import read_gazetteer
    from ..resolve.template import csv_path, template_rows, write_template

    try:
        if out_file.suffix.lower() != ".xlsx":
            raise InputError.single("--out", f"{out_file}: expected a .xlsx file name")
        for g in gazetteer or ():
            _print_problems(read_gazetteer(g).problems)
        if {out_file.resolve(), csv_path(out_file).resolve()} & {Path(g).resolve() for g in gazetteer or ()}:
            msg = f"{out_file}: would replace a --gazetteer input; choose another name"
            raise InputError.single("--out", msg)
        chosen = load_plans(plans or None)
        rows = template_rows(chosen, osm=osm or (), gazetteers=gazetteer or ())
        xlsx, csv = write_template(rows, out_file)
    except InputError as exc:
        _fail_input(exc)
    ids = ", ".join(p.id for p in chosen)
    out.print(
        f"{len(rows)} places to locate (plans {ids}) → {xlsx} and {csv} (GBK); "
        f"fill in 经度/纬度, then pass it back with --gazetteer",
        markup=False,
        highlight=False,
    )
