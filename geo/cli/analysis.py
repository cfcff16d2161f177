"""``geo query``, ``geo coverage`` and ``geo spacing`` (register themselves on ``geo.cli.app``)."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ..errors import InputError
from ._common import GazOpt, OsmOpt, _fail_input, _print_problems, app, err, out, progress_bar, schematic_note
from .tracks import Engine, EngineOpt, SchedulerOpt, query_on_dask

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from ..build import PlanData
    from ..plan import Plan, PlanSummary

    P = TypeVar("P", Plan, PlanSummary)

#: Rows an XLSX sheet holds below its header.
XLSX_MAX_ROWS = 1_048_575

#: Largest --snap-m: farther than this an ad is not "on" a street.
MAX_SNAP_M = 1000.0

_TABLE_SUFFIXES = (".csv", ".xlsx")
_QUERY_SUFFIXES = (".csv", ".xlsx", ".gpkg", ".parquet")
#: Bad rows printed one by one before the rest are counted in one summary line.
MAX_WARNINGS = 20

LonOpt = Annotated[
    str | None,
    typer.Option("--lon-col", help="Longitude column of a CSV/XLSX (default: lon, lng, longitude or 经度)."),
]
LatOpt = Annotated[
    str | None,
    typer.Option("--lat-col", help="Latitude column of a CSV/XLSX (default: lat, latitude or 纬度)."),
]
CrsOpt = Annotated[
    str,
    typer.Option(
        "--crs",
        help="System of the input coordinates: wgs84 (also cgcs2000, 天地图), gcj02 (高德/腾讯) or "
        "bd09 (百度); converted to WGS84.",
    ),
]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Fail (exit 2) on any bad row instead of skipping it.")
]


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _check_suffix(path: Path, allowed: Sequence[str]) -> str:
    """The output's format from its suffix, after checking the path can be written."""
    from .._io import check_out_file

    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise InputError.single(
            str(path),
            f"cannot tell the output format from {path.suffix or 'no suffix'!r}; use {', '.join(allowed)}",
        )
    check_out_file(path)
    return suffix


def _file_date(plans: Sequence[Plan]) -> dt.date:
    """The date stamped into XLSX/GPKG metadata, so equal inputs give equal files:
    SOURCE_DATE_EPOCH when set, else the latest issue (or start) date of the plans."""
    from .._io import source_date_epoch

    epoch = source_date_epoch()
    if epoch is not None:
        return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).date()
    days = [p.document.issued or p.document.span.start for p in plans]
    return max(days) if days else dt.date(1980, 1, 1)


def _parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InputError.single("--date", f"{value!r} is not a date; expected YYYY-MM-DD") from None


def _build_plans(
    refs: Sequence[str | Plan], osm: Sequence[Path], gazetteers: Sequence[Path], *, zones_only: bool = False
) -> list[PlanData]:
    """Build plans (ids, files or loaded plans), loading each region's sources once
    (``zones_only``: skip the dissolved zones and spacing streets, as a query needs neither)."""
    from ..build import build_plan
    from ..plan import Plan, get_plan
    from ..regions import get_region
    from ..resolve import build_sources

    plans = [r if isinstance(r, Plan) else get_plan(r) for r in refs]
    sources: dict[str, Any] = {}
    datas = []
    for plan in plans:
        region = get_region(plan.document.region)
        if region.id not in sources:
            src, problems = build_sources(region, osm=osm, gazetteers=gazetteers)
            _print_problems(problems[:MAX_WARNINGS])
            if len(problems) > MAX_WARNINGS:
                err.print(
                    f"warning: {len(problems) - MAX_WARNINGS} more bad gazetteer rows for {region.name} "
                    f"(first {MAX_WARNINGS} shown)",
                    markup=False,
                    highlight=False,
                )
            sources[region.id] = src
        src = sources[region.id]
        datas.append(build_plan(plan, osm=osm, gazetteers=gazetteers, sources=src, zones_only=zones_only))
    if any(d.schematic for d in datas):
        schematic_note()
    return datas


def _flat(frame: pd.DataFrame, empty: str | None = "") -> pd.DataFrame:
    """Plain columns for writers, geometry dropped: categoricals and string arrays as text, with
    ``empty`` for none ("" in CSV/XLSX cells, NULL in a GeoPackage)."""
    import pandas as pd

    res = pd.DataFrame(frame.drop(columns=[c for c in frame.columns if c == "geometry"]))
    for c in res.columns:
        s = res[c]
        if isinstance(s.dtype, (pd.CategoricalDtype, pd.StringDtype)):
            res[c] = s.astype(object).where(s.notna(), empty)
    return res


def _write_tables(path: Path, sheets: dict[str, pd.DataFrame], when: dt.date) -> None:
    """CSV (the first table, UTF-8 with BOM so Excel reads the Chinese) or XLSX (one sheet each),
    written atomically and reproducibly (metadata dated ``when``), formulas neutralised.
    """
    from ..publish.files import write_csv, write_xlsx

    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        too_big = [n for n, f in sheets.items() if len(f) > XLSX_MAX_ROWS]
        if too_big:
            raise InputError.single(
                str(path),
                f"{len(sheets[too_big[0]])} rows do not fit an XLSX sheet ({XLSX_MAX_ROWS}); "
                "write .csv or .gpkg",
            )
        write_xlsx({name: _flat(frame) for name, frame in sheets.items()}, path, when)
        return
    write_csv(_flat(next(iter(sheets.values()))), path)


def _write_gpkg(path: Path, layers: dict[str, gpd.GeoDataFrame], when: dt.date) -> None:
    """Layers as one GeoPackage, atomically, with metadata dated ``when`` (reproducible)."""
    import geopandas as gpd

    from ..publish.files import write_gpkg

    frames = {
        name: gpd.GeoDataFrame(
            _flat(layer, empty=None), geometry=list(layer.geometry), crs=layer.crs or "EPSG:4326"
        )
        for name, layer in layers.items()
    }
    write_gpkg(frames, path, when)


def _report(problems, strict: bool) -> None:
    if not problems:
        return
    if strict:
        _fail_input(InputError(list(problems)))
    for p in problems[:MAX_WARNINGS]:
        err.print(f"warning: {p} (row skipped)", markup=False, highlight=False)
    if len(problems) > MAX_WARNINGS:
        err.print(
            f"warning: {len(problems) - MAX_WARNINGS} more bad rows skipped (first {MAX_WARNINGS} shown; "
            "--strict lists them all)",
            markup=False,
            highlight=False,
        )


def _warn_null_island(table: pd.DataFrame, lon, lat, source: Path) -> None:
    """Warn once about points at exactly 0,0: almost always blank coordinates saved as zeros."""
    if not len(table):
        return
    at_zero = (lon == 0) & (lat == 0)
    if at_zero.any():
        rows = table.loc[at_zero, "source_row"].head(5).astype(str) if "source_row" in table else []
        more = " …" if at_zero.sum() > 5 else ""
        err.print(
            f"warning: {source}: {int(at_zero.sum())} point(s) at exactly 0,0 "
            f"(rows {', '.join(rows)}{more}); usually blank coordinates saved as zeros",
            markup=False,
            highlight=False,
        )


def _default_buffer_plans() -> list[Plan]:
    from ..plan import load_plans

    return [p for p in load_plans() if any(r.type == "buffer" for r in p.rules)]


def _buffer_plan_summaries() -> list[PlanSummary]:
    """The bundled plans with a buffer rule, as summaries: only the plans near the points are
    then loaded in full (each bundled plan is still validated whenever its file changes)."""
    from ..plan import plan_summaries

    return [s for s in plan_summaries() if s.has_buffer_rules]


# --------------------------------------------------------------------------------------------
# geo query
# --------------------------------------------------------------------------------------------


@app.command("query")
def query_cmd(
    points: Annotated[
        Path,
        typer.Argument(
            help="Points: CSV (UTF-8 or GBK), XLSX, GeoJSON, GeoPackage, Shapefile or "
            "GeoParquet (needs pyarrow)."
        ),
    ],
    out_file: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Result: .csv (UTF-8 with BOM; the zone lookup goes to <name>.zones.csv), .xlsx "
            "(sheets query, zones), .gpkg (layers query, zones) or .parquet (GeoParquet; "
            "<name>.zones.parquet); replaced atomically.",
        ),
    ],
    plan: Annotated[
        list[str] | None,
        typer.Option(
            "--plan",
            help="Plan id or YAML file; repeatable (default: every bundled plan with zones whose "
            "region is near the points).",
        ),
    ] = None,
    lon_col: LonOpt = None,
    lat_col: LatOpt = None,
    crs: CrsOpt = "wgs84",
    date: Annotated[
        str | None, typer.Option("--date", help="Only zones in force that day (YYYY-MM-DD).")
    ] = None,
    date_col: Annotated[
        str | None,
        typer.Option("--date-col", help="Column with each point's own date; overrides --date where filled."),
    ] = None,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide",
            help="One table with every zone field (restriction, 牵头 units, phases, 文号 …) on every "
            "row, instead of the compact table and its zone lookup.",
        ),
    ] = False,
    osm: OsmOpt = None,
    gazetteer: GazOpt = None,
    strict: StrictOpt = False,
    engine: EngineOpt = Engine.inprocess,
    scheduler: SchedulerOpt = None,
) -> None:
    """Which rule zones contain each point, and who is responsible there.

    Writes one row per (point, zone) hit with the point's own columns,
    source_row (the row in POINTS), in_zone, zone_id, plan_id, rule_id,
    place_id, metres from the point to the place (dist_to_place_m, 0.1 m)
    and the responsible units; a point in no zone gets one row with in_zone
    false. The zones' texts (rule distance, restriction, place name, 牵头
    units, phases, 文号) are written once per zone in a lookup (zones), or on
    every row with --wide. Multi-valued fields are joined with ';'.
    Bad rows (empty, not numbers, out of range, lat/lon swapped) are reported
    with their row numbers and skipped (--strict: exit 2, nothing written).
    """
    from ..crs import norm_crs
    from ..query import query_plan
    from ..tables import read_point_table

    _release_arrow_memory()
    if engine is Engine.dask:  # partitioned GeoParquet points on Dask (geo/cli/tracks.py)
        return query_on_dask(points, out_file, plan, date, osm, gazetteer, scheduler)
    try:
        suffix = _check_suffix(out_file, _QUERY_SUFFIXES)
        day = _parse_date(date)
        with progress_bar() as bar:
            t_read = bar.add_task("reading points", total=None)
            table, lon, lat, problems = read_point_table(
                points, lon_col=lon_col, lat_col=lat_col, crs=crs, date_col=date_col
            )
            bar.update(t_read, completed=1, total=1)
            _report(problems, strict)
            _warn_null_island(table, lon, lat, points)
            if not len(table):
                raise InputError.single(str(points), "no usable points in the file")
            t_build = bar.add_task("building zones", total=None)
            bounds = (lon.min(), lat.min(), lon.max(), lat.max())
            refs = plan or [s.path for s in _plans_near(_buffer_plan_summaries(), bounds)]
            datas = _build_plans(refs, osm or (), gazetteer or (), zones_only=True)
            bar.update(t_build, completed=1, total=1)
            t_query = bar.add_task("querying", total=len(table))
            result = query_plan(
                (lon, lat),
                datas,
                day,
                date_column=date_col,
                progress=lambda n: bar.advance(t_query, n),
                attributes=table,
                # Point objects only for the formats that store geometry.
                geometry=suffix in (".gpkg", ".parquet"),
            )
            t_write = bar.add_task(f"writing {out_file.name}", total=None)
            when = _file_date([d.plan for d in datas])
            written = _write_result(out_file, suffix, result, when, wide=wide, wgs84=norm_crs(crs) != "wgs84")
            bar.update(t_write, completed=1, total=1)
    except InputError as exc:
        _fail_input(exc)
    in_zone = result["in_zone"].to_numpy()
    hits = int(in_zone.sum())
    nozone = len(in_zone) - hits
    zones_hit = result["zone_id"].nunique()
    plans = ", ".join(d.plan.id for d in datas) or "none near the points"
    also = f" (+ {', '.join(str(p) for p in written[1:])})" if len(written) > 1 else ""
    out.print(
        f"{len(table)} points, {hits} hits in {zones_hit} zones (plans {plans}), {nozone} points in no zone"
        f"{f', {len(problems)} rows skipped' if problems else ''} → {out_file}{also}",
        markup=False,
        highlight=False,
    )


def _release_arrow_memory() -> None:
    """Let Arrow hand freed memory back to the system (unless ARROW_DEFAULT_MEMORY_POOL says
    otherwise): its default allocator keeps freed pages for reuse, tens of MB after reading and
    answering 200k points, which a command that runs once never reuses."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


def _plans_near(plans: Sequence[P], bounds: Sequence[float]) -> list[P]:
    """The plans (or plan summaries) whose region lies within reach of the points' box.

    Reach: the gazetteer's screening distance (places more than 50 km outside a region are
    refused) plus the plan's largest rule distance, so no zone a plan could draw is left out.
    """
    from ..plan import PlanSummary
    from ..regions import get_region
    from ..resolve.gazetteer import DEFAULT_MAX_KM

    if not plans:
        return []
    px0, py0, px1, py1 = (float(v) for v in bounds)
    near = []
    for p in plans:
        if isinstance(p, PlanSummary):
            region, max_m = p.region, p.max_distance_m
        else:
            region, max_m = p.document.region, max((r.distance_m or 0 for r in p.rules), default=0)
        rx0, ry0, rx1, ry1 = get_region(region).boundary.bounds
        reach_m = DEFAULT_MAX_KM * 1000 + max_m
        dlat = reach_m / 110_000  # a degree of latitude is ≥ 110.5 km
        dlon = reach_m / (110_000 * math.cos(math.radians(min(max(abs(ry0), abs(ry1)) + dlat, 89))))
        if px0 <= rx1 + dlon and rx0 - dlon <= px1 and py0 <= ry1 + dlat and ry0 - dlat <= py1:
            near.append(p)
    return near


def _write_result(
    path: Path, suffix: str, result: pd.DataFrame, when: dt.date, *, wide: bool, wgs84: bool
) -> list[Path]:
    """Write a query result (compact table + zone lookup, or --wide); the files written, their
    metadata dated ``when`` so reruns are byte-identical."""
    from ..publish.results import companion_path, result_tables, write_gpkg, write_parquet

    tables = result_tables(result, wide=wide, wgs84_columns=wgs84)
    if suffix == ".gpkg":
        return [write_gpkg(tables, path, when)]
    if suffix == ".parquet":
        write_parquet(tables, path)
        return [path] + [path.with_name(f"{path.stem}.{n}.parquet") for n in list(tables)[1:]]
    if suffix == ".xlsx":
        _write_tables(path, tables, when)
        return [path]
    written = []
    for i, (name, frame) in enumerate(tables.items()):
        target = path if i == 0 else companion_path(path, name)
        written.append(_write_csv(frame, target))
    return written


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    from ..publish.results import write_csv

    return write_csv(frame, path)


# --------------------------------------------------------------------------------------------
# geo coverage
# --------------------------------------------------------------------------------------------


@app.command("coverage")
def coverage_cmd(
    plans: Annotated[
        list[str] | None, typer.Argument(help="Plan ids or YAML files (default: every bundled plan).")
    ] = None,
    out_file: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Per-unit table: .csv, or .xlsx with sheets coverage, overlaps and gaps."
        ),
    ] = Path("coverage.xlsx"),
    osm: OsmOpt = None,
    gazetteer: GazOpt = None,
) -> None:
    """Who answers for what: per unit (牵头/责任) its tasks, rules, streets (km), places and zone
    area (km²); where two teams answer for the same ground (overlaps: zones of rules with
    different unit sets, with the area in m²); and where nobody does (gaps: rules with no unit,
    rules that found nothing, targeted places left outside every zone, unresolved places).
    """
    import pandas as pd

    from ..analysis import coverage, gaps, overlaps
    from ..plan import load_plans

    try:
        _check_suffix(out_file, _TABLE_SUFFIXES)
        refs = plans or load_plans()
        datas = _build_plans(refs, osm or (), gazetteer or ())
        cov = pd.concat([coverage(d) for d in datas], ignore_index=True)
        ov = overlaps(datas)
        gp = pd.concat([gaps(d) for d in datas], ignore_index=True)
        _write_tables(
            out_file, {"coverage": cov, "overlaps": ov, "gaps": gp}, _file_date([d.plan for d in datas])
        )
    except InputError as exc:
        _fail_input(exc)
    out.print(
        f"{len(cov)} units in {len(datas)} plan(s), {len(ov)} overlap(s), {len(gp)} gap(s) → {out_file}",
        markup=False,
        highlight=False,
    )


# --------------------------------------------------------------------------------------------
# geo spacing
# --------------------------------------------------------------------------------------------


def _theme_column(columns: Sequence[str], wanted: str | None) -> str | None:
    from ..tables import fold_key

    if wanted is not None:
        if wanted not in columns:
            raise InputError.single("--theme-col", f"no column {wanted!r}; columns: {', '.join(columns)}")
        return wanted
    return next((c for c in columns if fold_key(str(c)) in ("theme", "主题", "主题类别")), None)


@app.command("spacing")
def spacing_cmd(
    ads: Annotated[
        Path, typer.Option("--ads", help="Ad sites (公益广告): CSV, XLSX, GeoJSON or GeoPackage.")
    ],
    out_file: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Per-street table .csv, or .xlsx (sheets streets, gaps, summary), or .gpkg (layers).",
        ),
    ],
    plan: Annotated[str, typer.Option("--plan", help="Plan with a spacing rule (id or YAML file).")] = "002",
    lon_col: LonOpt = None,
    lat_col: LatOpt = None,
    crs: CrsOpt = "wgs84",
    theme_col: Annotated[
        str | None, typer.Option("--theme-col", help="Column with each ad's theme (default: theme or 主题).")
    ] = None,
    theme: Annotated[
        str | None,
        typer.Option("--theme", help="Theme to count (default: the rule's, e.g. 未成年人思想道德建设)."),
    ] = None,
    snap_m: Annotated[
        float, typer.Option("--snap-m", help="Ads farther than this from every street count for none.")
    ] = 30.0,
    osm: OsmOpt = None,
    gazetteer: GazOpt = None,
    strict: StrictOpt = False,
) -> None:
    """Check a spacing rule (每隔 100 米至少有 1 处公益广告) along the streets it governs.

    Each ad is snapped to the nearest street within --snap-m; the ads and the
    street's ends cut it into stretches, and every stretch longer than the
    rule's spacing is a gap. Compliance is the share of street length not in
    gaps; the theme share (e.g. 未成年人思想道德建设 ≥ 30%) is the share of
    snapped ads whose theme column contains the theme (by default the
    rule's theme without its trailing 主题).
    """
    import geopandas as gpd
    import pandas as pd

    from ..analysis import spacing_check
    from ..tables import read_points

    try:
        suffix = _check_suffix(out_file, (".csv", ".xlsx", ".gpkg"))
        if not (math.isfinite(snap_m) and 0 < snap_m <= MAX_SNAP_M):
            raise InputError.single(
                "--snap-m", f"expected metres above 0 and at most {MAX_SNAP_M:g}, got {snap_m:g}"
            )
        pts, problems = read_points(ads, lon_col=lon_col, lat_col=lat_col, crs=crs)
        _report(problems, strict)
        _warn_null_island(pts, pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy(), ads)
        (data,) = _build_plans([plan], osm or (), gazetteer or ())
        rules = [r for r in data.plan.rules if r.type == "spacing"]
        if not rules:
            raise InputError.single(plan, f"plan {data.plan.id} has no spacing rule")
        tcol = _theme_column(list(pts.columns), theme_col)
        streets_out, gaps_out, summaries = [], [], []
        for r in rules:
            streets = data.spacing[data.spacing["rule_id"] == r.id]
            want = theme or (r.share.theme.removesuffix("主题") if r.share else None)
            per, gp = spacing_check(
                streets,
                pts,
                r.distance_m,
                epsg=data.epsg,
                theme_column=tcol if want else None,
                theme=want,
                min_share_pct=r.share.min_pct if r.share else 30,
                snap_m=snap_m,
            )
            per.insert(0, "rule_id", r.id)
            gp.insert(0, "rule_id", r.id)
            per["geometry"] = list(streets.geometry)
            streets_out.append(per)
            gaps_out.append(gp)
            summaries.append({"rule_id": r.id, **per.attrs["summary"]})
        per_all = pd.concat(streets_out, ignore_index=True)
        gaps_all = gpd.GeoDataFrame(
            pd.concat(gaps_out, ignore_index=True), geometry="geometry", crs="EPSG:4326"
        )
        summary = pd.DataFrame(summaries)
        when = _file_date([data.plan])
        if suffix == ".gpkg":
            layer = gpd.GeoDataFrame(per_all, geometry="geometry", crs="EPSG:4326")
            _write_gpkg(out_file, {"streets": layer, "gaps": gaps_all}, when)
        else:
            _write_tables(out_file, {"streets": per_all, "gaps": gaps_all, "summary": summary}, when)
    except InputError as exc:
        _fail_input(exc)
    for s in summaries:
        share = s["theme_share_pct"]
        verdict = "达标" if s["theme_ok"] else "未达标"
        theme_txt = (
            f"; theme share {share:.1f}% (need ≥ {s['min_share_pct']:g}%: {verdict})"
            if isinstance(share, float) and not math.isnan(share)
            else "; no theme column, theme share not checked"
        )
        out.print(
            f"{s['rule_id']}: {s['n_streets']} streets, {s['length_m'] / 1000:.2f} km, "
            f"gaps {s['gap_m'] / 1000:.2f} km, compliance {s['compliance_pct']:.1f}%; "
            f"{s['n_snapped']} of {s['n_ads']} ads on a street{theme_txt} → {out_file}",
            markup=False,
            highlight=False,
        )


# --------------------------------------------------------------------------------------------
# geo targets
# --------------------------------------------------------------------------------------------


def _read_table(path: Path) -> pd.DataFrame:
    """A CSV (UTF-8, BOM or GBK, decoded as gazetteers are) or the first sheet of an XLSX."""
    import io

    import pandas as pd

    from ..tables import decode_text

    suffix = path.suffix.lower()
    if suffix not in _TABLE_SUFFIXES:
        raise InputError.single(
            str(path), f"expected a .csv or .xlsx file, got {path.suffix or 'no suffix'!r}"
        )
    if not path.is_file():
        raise InputError.single(str(path), "no such file")
    if suffix == ".xlsx":
        try:
            frame = pd.read_excel(path, dtype=str)
        except Exception as exc:  # openpyxl and zipfile raise many types for a damaged workbook
            raise InputError.single(
                str(path), f"cannot read as an XLSX workbook ({type(exc).__name__}); save it again from Excel"
            ) from None
    else:
        text, _ = decode_text(path.read_bytes(), str(path))
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str)
        except pd.errors.EmptyDataError:
            raise InputError.single(str(path), "the file is empty; expected a header row", line=1) from None
        except pd.errors.ParserError as exc:
            msg = str(exc).removeprefix("Error tokenizing data. C error: ").strip()
            m = re.search(r"(?:line|row) (\d+)", msg)
            line = int(m.group(1)) + (1 if "row" in m.group(0) else 0) if m else None
            raise InputError.single(str(path), f"not a well-formed CSV table: {msg}", line=line) from None
    if frame.columns.empty:
        raise InputError.single(str(path), "the file has no columns; expected a header row", line=1)
    return frame


@app.command("targets")
def targets_cmd(
    plan: Annotated[str, typer.Argument(help="Plan id (e.g. 002) or a plan YAML file.")],
    figures: Annotated[
        Path | None,
        typer.Option(
            "--figures",
            help="Measured figures (CSV/XLSX): value, and target (target id) or metric; "
            "optionally area or street.",
        ),
    ] = None,
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Table: .csv or .xlsx.")] = Path(
        "targets.csv"
    ),
) -> None:
    """The plan's measurable targets (3 次/天 清扫, 窨井盖完好率 ≥ 98% …) against measured figures.

    Without --figures, lists every target with empty values, as a form to fill in.
    """
    import pandas as pd

    from ..analysis import target_table
    from ..plan import get_plan

    try:
        _check_suffix(out_file, _TABLE_SUFFIXES)
        the_plan = get_plan(plan)
        fig = _read_table(figures) if figures else pd.DataFrame({"target": [], "value": []})
        try:
            table = target_table(the_plan, fig)
        except ValueError as exc:
            m = re.search(r"row (\d+)", str(exc))  # data row n is line n + 1 below the header
            raise InputError.single(str(figures), str(exc), line=int(m.group(1)) + 1 if m else None) from None
        _write_tables(out_file, {"targets": table}, _file_date([the_plan]))
    except InputError as exc:
        _fail_input(exc)
    met = table["met"].eq(True).sum() if "met" in table else 0
    measured = table["value"].notna().sum() if "value" in table else 0
    out.print(
        f"{len(table)} row(s): {measured} measured, {met} met → {out_file}", markup=False, highlight=False
    )
