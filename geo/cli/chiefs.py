"""``geo chiefs``: 街(路)长 — who answers for which street (registers on ``geo.cli.app``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from ._common import GazOpt, OsmOpt, _fail_input, _print_problems, app, err, out, schematic_note

chiefs_app = typer.Typer(help="Street chiefs (街长/路长): import.", no_args_is_help=True)
app.add_typer(chiefs_app, name="chiefs")


@chiefs_app.command("import")
def import_cmd(
    file: Annotated[
        Path, typer.Argument(help="CSV/XLSX: street (or segment such as 凤台街望川楼路段), unit, role.")
    ],
    db: Annotated[str, typer.Option("--db", help="Ledger (.gpkg or postgresql:// URL).")],
    region: Annotated[str | None, typer.Option("--region", help="Region the streets lie in.")] = None,
    plan: Annotated[str | None, typer.Option("--plan", help="Use this plan's region.")] = None,
    osm: OsmOpt = None,
    gazetteer: GazOpt = None,
) -> None:
    """Resolve each street like a plan place and store it with its chief's unit and role."""
    from ..ledger.assign import context_for
    from ..ledger.chiefs import import_chiefs
    from ..ledger.store import open_store

    try:
        if region is None and plan is None and not osm:
            raise InputError.single(
                "--region", "give --region R or --plan ID (or --osm) to resolve the streets"
            )
        reg = region or (_plan_region(plan) if plan else None)
        osm_files = [str(p) for p in osm or ()]
        gaz_files = [str(p) for p in gazetteer or ()]
        ctx, gp = context_for((), region=reg, osm=osm_files, gazetteers=gaz_files)
        _print_problems(gp)
        with open_store(db) as store:
            n, problems = import_chiefs(store, file, ctx.sources)
    except InputError as exc:
        _fail_input(exc)
    for p in problems:
        err.print(f"error: {p}", markup=False, highlight=False)
    if ctx.schematic:
        schematic_note()
    out.print(
        f"stored {n} street chiefs in {db}; {len(problems)} rows not taken", markup=False, highlight=False
    )
    if problems:
        raise typer.Exit(2)


def _plan_region(plan: str) -> str:
    from ..plan import get_plan

    return get_plan(plan).document.region
