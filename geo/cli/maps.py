"""``geo map``: one plan as a standalone interactive HTML map (registers itself on ``geo.cli.app``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import InputError
from ._common import GazOpt, OsmOpt, _fail_input, _print_problems, app, err, out, schematic_note
from .cases import AsOfOpt, CasesOpt
from .tracks import TracksOpt, tracks_on_page

if TYPE_CHECKING:
    from ..build import PlanData


def map_page(
    data: PlanData,
    *,
    phase: str | None = None,
    basemap: str = "none",
    cases: str | None = None,
    as_of: str | None = None,
    tracks: Path | None = None,
) -> str:
    """The interactive map page of one plan, with the field layers asked for: the 问题台账 of a
    ledger (``cases``, overdue judged at ``as_of``) and the passes of a ``geo tracks --segments``
    GeoPackage (``tracks``). Shared by ``geo map`` and ``geo build``."""
    from ..publish.html import render_map

    page = render_map(data, phase=phase, basemap=basemap)
    if cases:
        from ..publish.cases_layer import add_ledger_layer

        page = add_ledger_layer(page, cases, as_of)
    if tracks is not None:
        page = tracks_on_page(page, tracks, schematic=data.schematic)
    return page


@app.command("map")
def map_cmd(
    plan: Annotated[str, typer.Argument(help="Plan id (e.g. 001) or a plan YAML file.")],
    out_file: Annotated[
        Path, typer.Option("--out", "-o", help="The .html file to write (replaced atomically).")
    ],
    phase: Annotated[
        str | None,
        typer.Option("--phase", help="Phase the map opens with (id such as p2, or its name); default all."),
    ] = None,
    basemap: Annotated[
        str,
        typer.Option(
            "--basemap",
            help="none (offline, default) | osm | tianditu (needs TIANDITU_TOKEN) | amap (GCJ-02; "
            "overlays are shifted to match).",
        ),
    ] = "none",
    osm: OsmOpt = None,
    gazetteer: GazOpt = None,
    cases: CasesOpt = None,
    as_of: AsOfOpt = None,
    tracks: TracksOpt = None,
) -> None:
    """Write an interactive map of PLAN: layers per kind and rule zone, phases, popups, legend.

    With --basemap none the page needs no network at all: every script is inside the file.
    Without --osm the bundled schematic (示意) extract is used and the map says so.
    """
    from .._io import check_out_file
    from ..build import build_plan
    from ..plan import get_plan
    from ..publish.html import BASEMAPS, phase_key, tianditu_token

    try:
        if out_file.suffix.lower() not in (".html", ".htm"):
            raise InputError.single("--out", f"expected an .html file, got {str(out_file)!r}")
        check_out_file(out_file)
        bm = basemap.strip().lower()
        if bm not in BASEMAPS:
            raise InputError.single(
                "--basemap", f"unknown basemap {basemap!r}; expected one of: {', '.join(BASEMAPS)}"
            )
        if bm == "tianditu":
            tianditu_token()  # fail before the (slower) build
        the_plan = get_plan(plan)
        phases = [{"k": f"{the_plan.id}:{p.id}", "id": p.id, "name": p.name} for p in the_plan.phases]
        phase_key(phases, phase, multi=False)
        data = build_plan(the_plan, osm=osm or (), gazetteers=gazetteer or ())
        _print_problems(data.problems)
        html = map_page(data, phase=phase, basemap=bm, cases=cases, as_of=as_of, tracks=tracks)
    except InputError as exc:
        _fail_input(exc)
    from .._io import write_text

    write_text(out_file, html)
    n_features = len(data.places) + len(data.kind_places) + len(data.zones) + len(data.spacing)
    if data.schematic:
        schematic_note()
    for _, row in data.unresolved.iterrows():
        err.print(f"unresolved: {row['name']}: {row['reason']}", markup=False, highlight=False)
    out.print(
        f"wrote {out_file} ({n_features} features, {len(data.unresolved)} unresolved, basemap {bm})",
        markup=False,
        highlight=False,
    )
