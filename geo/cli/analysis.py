"""``geo query``, ``geo coverage`` and ``geo spacing`` (register themselves on ``geo.cli.app``)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InputError
from ._common import GazOpt, OsmOpt, _fail_input, _print_problems, app, err, out, progress_bar, schematic_note
from .tracks import Engine, EngineOpt, SchedulerOpt, query_on_dask

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from ..build import PlanData
    from ..plan import Plan

#: Rows an XLSX sheet holds below its header.
XLSX_MAX_ROWS = 1_048_575

_TABLE_SUFFIXES = (".csv", ".xlsx")
_QUERY_SUFFIXES = (".csv", ".xlsx", ".gpkg")

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
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise InputError.single(
            str(path),
            f"cannot tell the output format from {path.suffix or 'no suffix'!r}; use {', '.join(allowed)}",
        )
    return suffix


def _parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InputError.single("--date", f"{value!r} is not a date; expected YYYY-MM-DD") from None


def _build_plans(
    refs: Sequence[str | Plan], osm: Sequence[Path], gazetteers: Sequence[Path]
) -> list[PlanData]:
    """Build plans (ids, files or loaded plans), loading each region's sources once."""
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
            _print_problems(problems)
            sources[region.id] = src
        datas.append(build_plan(plan, osm=osm, gazetteers=gazetteers, sources=sources[region.id]))
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


def _write_tables(path: Path, sheets: dict[str, pd.DataFrame]) -> None:
    """CSV (the first table, UTF-8 with BOM so Excel reads the Chinese) or XLSX (one sheet each),
    written atomically.
    """
    import pandas as pd

    from .._io import atomic_path

    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        too_big = [n for n, f in sheets.items() if len(f) > XLSX_MAX_ROWS]
        if too_big:
            raise InputError.single(
                str(path),
                f"{len(sheets[too_big[0]])} rows do not fit an XLSX sheet ({XLSX_MAX_ROWS}); "
                "write .csv or .gpkg",
            )
        with atomic_path(path) as tmp, pd.ExcelWriter(tmp, engine="openpyxl") as xw:
            for name, frame in sheets.items():
                _flat(frame).to_excel(xw, sheet_name=name, index=False)
        return
    first = next(iter(sheets.values()))
    with atomic_path(path) as tmp:
        _flat(first).to_csv(tmp, index=False, encoding="utf-8-sig")


def _write_gpkg(path: Path, layers: dict[str, gpd.GeoDataFrame]) -> None:
    import geopandas as gpd

    from .._io import atomic_path

    with atomic_path(path) as tmp:
        for name, layer in layers.items():
            flat = _flat(layer, empty=None)
            gpd.GeoDataFrame(flat, geometry=list(layer.geometry), crs=layer.crs or "EPSG:4326").to_file(
                tmp, layer=name, driver="GPKG"
            )


def _report(problems, strict: bool) -> None:
    if not problems:
        return
    if strict:
        _fail_input(InputError(list(problems)))
    for p in problems:
        err.print(f"warning: {p} (row skipped)", markup=False, highlight=False)


def _default_buffer_plans() -> list[Plan]:
    from ..plan import load_plans

    return [p for p in load_plans() if any(r.type == "buffer" for r in p.rules)]


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
            "--out", "-o", help="Result: .csv (UTF-8 with BOM), .xlsx or .gpkg; replaced atomically."
        ),
    ],
    plan: Annotated[
        list[str] | None,
        typer.Option(
            "--plan", help="Plan id or YAML file; repeatable (default: every bundled plan with zones)."
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
    osm: OsmOpt = None,
    gazetteer: GazOpt = None,
    strict: StrictOpt = False,
    engine: EngineOpt = Engine.inprocess,
    scheduler: SchedulerOpt = None,
) -> None:
    """Which rule zones contain each point, and who is responsible there.

    Writes one row per (point, zone) hit with the point's own columns,
    point_row (0-based) and source_row (the row in POINTS), and the zone's
    rule, restriction, place, rule distance, metres from the point to the
    place (dist_to_place_m), 牵头/责任 units, phases and 文号; a point in no zone
    gets one row with in_zone false. Multi-valued fields are joined with ';'.
    Bad rows (empty, not numbers, out of range, lat/lon swapped) are reported
    with their row numbers and skipped (--strict: exit 2, nothing written).
    """
    from ..query import query_plan, read_points

    if engine is Engine.dask:  # partitioned GeoParquet points on Dask (geo/cli/tracks.py)
        return query_on_dask(points, out_file, plan, date, osm, gazetteer, scheduler)
    try:
        suffix = _check_suffix(out_file, _QUERY_SUFFIXES)
        day = _parse_date(date)
        with progress_bar() as bar:
            t_read = bar.add_task("reading points", total=None)
            pts, problems = read_points(points, lon_col=lon_col, lat_col=lat_col, crs=crs, date_col=date_col)
            bar.update(t_read, completed=1, total=1)
            _report(problems, strict)
            if not len(pts):
                raise InputError.single(str(points), "no usable points in the file")
            t_build = bar.add_task("building zones", total=None)
            datas = _build_plans(plan or _default_buffer_plans(), osm or (), gazetteer or ())
            bar.update(t_build, completed=1, total=1)
            t_query = bar.add_task("querying", total=len(pts))
            result = query_plan(
                pts,
                datas,
                day,
                date_column=date_col,
                progress=lambda n: bar.advance(t_query, n),
            )
            t_write = bar.add_task(f"writing {out_file.name}", total=None)
            if suffix == ".gpkg":
                _write_gpkg(out_file, {"query": result})
            else:
                flat = result.copy()
                flat["lon_wgs84"] = result.geometry.x.round(7)
                flat["lat_wgs84"] = result.geometry.y.round(7)
                _write_tables(out_file, {"query": flat})
            bar.update(t_write, completed=1, total=1)
    except InputError as exc:
        _fail_input(exc)
    hits = int(result["in_zone"].sum())
    nozone = int((~result["in_zone"]).sum())
    zones_hit = result.loc[result["in_zone"], "zone_id"].nunique()
    plans = ", ".join(d.plan.id for d in datas)
    out.print(
        f"{len(pts)} points, {hits} hits in {zones_hit} zones (plans {plans}), {nozone} points in no zone"
        f"{f', {len(problems)} rows skipped' if problems else ''} → {out_file}",
        markup=False,
        highlight=False,
    )


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
        _write_tables(out_file, {"coverage": cov, "overlaps": ov, "gaps": gp})
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
    from ..resolve.gazetteer import _fold

    if wanted is not None:
        if wanted not in columns:
            raise InputError.single("--theme-col", f"no column {wanted!r}; columns: {', '.join(columns)}")
        return wanted
    return next((c for c in columns if _fold(str(c)) in ("theme", "主题", "主题类别")), None)


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
    from ..query import read_points

    try:
        suffix = _check_suffix(out_file, (".csv", ".xlsx", ".gpkg"))
        pts, problems = read_points(ads, lon_col=lon_col, lat_col=lat_col, crs=crs)
        _report(problems, strict)
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
        if suffix == ".gpkg":
            layer = gpd.GeoDataFrame(per_all, geometry="geometry", crs="EPSG:4326")
            _write_gpkg(out_file, {"streets": layer, "gaps": gaps_all})
        else:
            _write_tables(out_file, {"streets": per_all, "gaps": gaps_all, "summary": summary})
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

    from ..resolve.gazetteer import _decode

    suffix = _check_suffix(path, _TABLE_SUFFIXES)
    if not path.is_file():
        raise InputError.single(str(path), "no such file")
    if suffix == ".xlsx":
        return pd.read_excel(path, dtype=str)
    text, _ = _decode(path.read_bytes(), str(path))
    return pd.read_csv(io.StringIO(text), dtype=str)


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
            raise InputError.single(str(figures), str(exc)) from None
        _write_tables(out_file, {"targets": table})
    except InputError as exc:
        _fail_input(exc)
    met = table["met"].eq(True).sum() if "met" in table else 0
    measured = table["value"].notna().sum() if "value" in table else 0
    out.print(
        f"{len(table)} row(s): {measured} measured, {met} met → {out_file}", markup=False, highlight=False
    )
