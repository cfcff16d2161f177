"""``geo tracks``: GPS tracks against the plans' rules (registers itself on ``geo.cli.app``)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import InputError
from ._common import GazOpt, OsmOpt, _fail_input, app, err, out, progress_bar

if TYPE_CHECKING:
    import pandas as pd

    from ..tracks.engine import PlanContext


class Engine(str, Enum):
    """Where the computation runs."""

    inprocess = "inprocess"
    dask = "dask"


EngineOpt = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="inprocess (default, fastest for what fits in memory) or dask (partitioned GeoParquet, "
        "a LocalCluster or --scheduler).",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Address of an existing Dask scheduler (tcp://host:8786) for --engine dask; "
        "default: a LocalCluster on this machine.",
    ),
]
_OUT_SUFFIXES = (".csv", ".xlsx", ".gpkg")


def _write(path: Path, frame: pd.DataFrame, geometry, layer: str) -> None:
    """Write one table as CSV/XLSX, or as a GeoPackage layer with ``geometry`` (WGS84)."""
    import geopandas as gpd
    import pandas as pd

    from .._io import source_date_epoch
    from .analysis import _check_suffix, _file_date, _write_gpkg, _write_tables

    suffix = _check_suffix(path, _OUT_SUFFIXES)
    # File metadata dated by SOURCE_DATE_EPOCH, else by the last day of the fixes: reruns agree.
    days = pd.to_datetime(frame["date"], errors="coerce").dropna() if len(frame) else []
    when = _file_date([]) if source_date_epoch() is not None or not len(days) else days.max().date()
    flat = frame.copy()
    for c in ("first", "last"):
        if c in flat.columns:
            flat[c] = flat[c].astype(str).replace("NaT", "")
    flat["date"] = flat["date"].astype(str)
    if suffix == ".gpkg":
        _write_gpkg(path, {layer: gpd.GeoDataFrame(flat, geometry=list(geometry), crs=4326)}, when)
    else:
        _write_tables(path, {layer: flat}, when)


def _street_geometry(ctx: PlanContext, frame: pd.DataFrame):
    geo = ctx.streets.drop_duplicates("name").set_index("name").geometry
    return geo.reindex(frame["street"]).to_numpy()


def _segment_geometry(ctx: PlanContext, frame: pd.DataFrame):
    geo = ctx.segments.set_index("seg_id").geometry.to_crs(4326)
    return geo.reindex(frame["seg_id"]).to_numpy()


@app.command("tracks")
def tracks_cmd(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="GPS fixes: CSV (UTF-8 or GBK), XLSX, GeoParquet, or a folder of partitioned GeoParquet "
            "(as --to-parquet writes). Columns vehicle/车辆编号, time/定位时间, lon/经度, lat/纬度 "
            "(or geometry), optional task/作业类型 and speed/速度."
        ),
    ],
    crs: Annotated[
        str,
        typer.Option("--crs", help="System of lon/lat: wgs84 (cgcs2000), gcj02 (高德/腾讯) or bd09 (百度)."),
    ] = "wgs84",
    plan: Annotated[
        list[str] | None,
        typer.Option("--plan", help="Plan id or YAML file whose targets and patrol rules apply; repeatable."),
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="One row per street per day: .csv, .xlsx or .gpkg (replaced atomically)."
        ),
    ] = None,
    segments_file: Annotated[
        Path | None, typer.Option("--segments", help="One row per segment per day: .csv, .xlsx or .gpkg.")
    ] = None,
    patrol_file: Annotated[
        Path | None, typer.Option("--patrol", help="One row per patrol zone per day: .csv, .xlsx or .gpkg.")
    ] = None,
    png: Annotated[
        Path | None,
        typer.Option(
            "--png",
            help="Static map (.png or .pdf) of the last day: the targeted streets' segments coloured "
            "达标 / 未达标 / 无作业, for a briefing.",
        ),
    ] = None,
    to_parquet: Annotated[
        Path | None,
        typer.Option(
            "--to-parquet",
            help="Instead of judging: write the fixes, cleaned, as GeoParquet partitioned by day and in "
            "Hilbert order inside a day (the input for --engine dask).",
        ),
    ] = None,
    rows_per_file: Annotated[
        int, typer.Option("--rows-per-file", help="Rows per file with --to-parquet.")
    ] = 1_000_000,
    segment_m: Annotated[float, typer.Option("--segment-m", help="Segment length, metres.")] = 50.0,
    tolerance_m: Annotated[float, typer.Option("--tolerance-m", help="Snapping tolerance, metres.")] = 20.0,
    gap_min: Annotated[
        float,
        typer.Option("--gap-min", help="Minutes that separate two passes of one vehicle on one segment."),
    ] = 30.0,
    max_speed: Annotated[
        float,
        typer.Option("--max-speed", help="km/h above which a jump between fixes is dropped as impossible."),
    ] = 120.0,
    engine: EngineOpt = Engine.inprocess,
    scheduler: SchedulerOpt = None,
    osm: OsmOpt = None,
    gazetteer: GazOpt = None,
) -> None:
    """Were the streets swept as often as the plans say? Passes per street per day.

    Streets (from --osm, or the bundled schematic 示意 extract) are cut into
    segments; fixes are snapped to the nearest segment within --tolerance-m
    whose direction agrees with the heading; a pass is one vehicle's run
    along a segment, and runs closer than --gap-min count once. A street's
    passes are the median over its segments; target and met come from the
    plan task naming the street (000: 十纵十横 3 次/天). Patrol zones (每日巡查
    rules) get, per day, whether a 巡查 track entered and for how long.
    Bad rows are reported as file:line: field and skipped; exit status 2
    if there were any (the tables are still written from the good rows).
    """
    from ..tracks.read import read_fixes

    problems: list = []
    try:
        if to_parquet is not None:
            from ..crs import local_crs
            from ..tracks.store import write_parquet

            fixes = read_fixes(files, crs=crs, max_speed_kmh=max_speed)
            problems = fixes.problems
            epsg = local_crs(fixes.frame["lon"].to_numpy()) if len(fixes.frame) else 4547
            stats = write_parquet(
                fixes.frame, to_parquet, epsg=epsg, rows_per_file=rows_per_file, cleaned=True
            )
            for p in problems:
                err.print(f"warning: {p} (row skipped)", markup=False, highlight=False)
            out.print(
                f"{stats['rows']} fixes in {stats['files']} files over {stats['days']} days → {to_parquet}"
                f" ({fixes.jumps} impossible jumps dropped, {len(problems)} bad rows skipped)",
                markup=False,
                highlight=False,
            )
            if problems:
                raise typer.Exit(2)
            return
        from ..tracks.engine import plan_context, run_tracks
        from .analysis import _build_plans

        with progress_bar() as bar:
            t = bar.add_task("building streets and zones", total=None)
            datas = _build_plans(plan or ["000"], osm or (), gazetteer or ())
            ctx = plan_context(datas, segment_m=segment_m)
            bar.update(t, completed=1, total=1)
            t = bar.add_task(f"passes ({engine.value})", total=None)
            if engine is Engine.dask:
                from ..tracks.dask_engine import run_tracks_dask

                result = run_tracks_dask(
                    files, ctx, crs=crs, scheduler=scheduler, tolerance_m=tolerance_m, gap_min=gap_min
                )
                problems = result.summary.pop("problems", [])
            else:
                fixes = read_fixes(files, crs=crs, epsg=ctx.epsg, max_speed_kmh=max_speed)
                problems = fixes.problems
                result = run_tracks(fixes, ctx, tolerance_m=tolerance_m, gap_min=gap_min)
            bar.update(t, completed=1, total=1)
        for p in problems:
            err.print(f"warning: {p} (row skipped)", markup=False, highlight=False)
        if out_file is not None:
            _write(out_file, result.streets, _street_geometry(ctx, result.streets), "streets")
        if segments_file is not None:
            _write(segments_file, result.segments, _segment_geometry(ctx, result.segments), "segments")
        if patrol_file is not None:
            zones = ctx.patrol_zones.assign(zone_id=ctx.patrol_zones["id"].astype(str)).set_index("zone_id")
            _write(
                patrol_file,
                result.patrol,
                zones.geometry.reindex(result.patrol["zone_id"]).to_numpy(),
                "patrol",
            )
        if png is not None:
            import geopandas as gpd

            from ..publish.tracks_layer import draw_static

            lines = _segment_geometry(ctx, result.segments)
            segs = gpd.GeoDataFrame(result.segments, geometry=lines, crs=4326)
            draw_static(segs, png, schematic=ctx.schematic)
    except InputError as exc:
        _fail_input(exc)
    _print_summary(result, ctx)
    if problems:
        raise typer.Exit(2)


def _print_summary(result, ctx: PlanContext) -> None:
    from rich.table import Table

    s = result.summary
    targeted = result.streets[result.streets["target"].notna()]
    table = Table(title="streets with a daily target" + ("（示意 streets）" if ctx.schematic else ""))
    for c in ("street", "date", "passes", "target", "met", "share_met"):
        table.add_column(c)
    for r in targeted.itertuples(index=False):
        table.add_row(
            r.street,
            str(r.date),
            str(r.passes),
            f"{r.target:g}",
            "yes" if r.met else "no",
            f"{r.share_met:.0%}",
        )
    if len(targeted):
        out.print(table)
    for r in result.patrol.itertuples(index=False):
        state = f"entered, {r.minutes:g} min, {r.vehicles} vehicle(s)" if r.entered else "not entered"
        out.print(f"patrol {r.rule_id} {r.place_name} {r.date}: {state}", markup=False, highlight=False)
    met = int(targeted["met"].fillna(False).astype(bool).sum())
    out.print(
        f"{s['fixes']} fixes ({s['snapped']} on streets, {s['jumps_dropped']} impossible jumps dropped, "
        f"{s['bad_rows']} bad rows skipped) over {s['days']} day(s); {met} of {len(targeted)} street-days "
        "with a target met",
        markup=False,
        highlight=False,
    )


def query_on_dask(
    points: Path,
    out_file: Path,
    plan: list[str] | None,
    date: str | None,
    osm: list[Path] | None,
    gazetteer: list[Path] | None,
    scheduler: str | None,
) -> None:
    """``geo query --engine dask``: the query over partitioned GeoParquet points, on Dask.

    Each GeoParquet file of ``points`` (a file or a folder) is a partition, read with
    dask-geopandas; the zones are broadcast and every partition goes through
    :func:`geo.query.query_points` (:func:`geo.tracks.dask_engine.query_plan_dask`).
    The result is written as by the in-process ``geo query``.
    """
    from .analysis import (
        _QUERY_SUFFIXES,
        _build_plans,
        _check_suffix,
        _default_buffer_plans,
        _file_date,
        _parse_date,
        _write_gpkg,
        _write_tables,
    )

    try:
        suffix = _check_suffix(out_file, _QUERY_SUFFIXES)
        day = _parse_date(date)
        if not (points.is_dir() or points.suffix.lower() == ".parquet"):
            raise InputError.single(
                str(points), "--engine dask reads GeoParquet points (a .parquet file or a folder of them)"
            )
        if not points.exists():
            raise InputError.single(str(points), "not found; expected a GeoParquet file or folder")
        from ..tracks.dask_engine import query_plan_dask

        with progress_bar() as bar:
            t = bar.add_task("building zones", total=None)
            datas = _build_plans(plan or _default_buffer_plans(), osm or (), gazetteer or ())
            bar.update(t, completed=1, total=1)
            t = bar.add_task("querying on Dask", total=None)
            result = query_plan_dask(points, datas, day, scheduler=scheduler)
            bar.update(t, completed=1, total=1)
        when = _file_date([d.plan for d in datas])
        if suffix == ".gpkg":
            _write_gpkg(out_file, {"query": result}, when)
        else:
            flat = result.copy()
            flat["lon_wgs84"] = result.geometry.x.round(7)
            flat["lat_wgs84"] = result.geometry.y.round(7)
            _write_tables(out_file, {"query": flat}, when)
    except InputError as exc:
        _fail_input(exc)
    hits = int(result["in_zone"].sum())
    n_points = result["point_row"].nunique()
    out.print(
        f"{n_points} points, {hits} hits in {result.loc[result['in_zone'], 'zone_id'].nunique()} zones "
        f"(Dask) → {out_file}",
        markup=False,
        highlight=False,
    )


TracksOpt = Annotated[
    Path | None,
    typer.Option(
        "--tracks",
        help="Passes per segment (the .gpkg of `geo tracks --segments`): adds a layer of the plan's "
        "streets coloured met / short / none for its last day.",
    ),
]


def tracks_on_page(page: str, segments_file: Path, *, schematic: bool) -> str:
    """Add the passes layer of a `geo tracks --segments` GeoPackage to a rendered map page."""
    import geopandas as gpd

    from ..publish.tracks_layer import add_tracks_layer

    if not segments_file.is_file() or segments_file.suffix.lower() != ".gpkg":
        raise InputError.single(
            str(segments_file), "expected the .gpkg written by `geo tracks --segments FILE.gpkg`"
        )
    segs = gpd.read_file(segments_file)
    missing = {"street", "date", "passes", "target", "vehicles", "vehicle_ids"} - set(segs.columns)
    if missing:
        raise InputError.single(
            str(segments_file), f"not a `geo tracks --segments` file: no {', '.join(sorted(missing))} column"
        )
    segs["vehicle_ids"] = segs["vehicle_ids"].fillna("")
    return add_tracks_layer(page, segs, schematic=schematic)
