"""``geo build``, ``geo static`` and ``geo export`` (register themselves on ``geo.cli.app``).

``geo build`` is the main job: for every plan it writes, under ``DIR/<plan_id>/``::

    index.html      interactive map (works offline)
    map.png         A4 landscape, 300 dpi, for briefings
    map.pdf         the same as vector PDF
    layers.gpkg     every layer, one table each
    unresolved.csv  places that could not be placed, with the reason
    coverage.csv    what each responsible unit answers for (tasks, places, street km, zone km²)
    export/         GeoJSON, Shapefile, KML, CSV and XLSX (see geo.publish.files)

and ``DIR/index.html``, a page listing every plan built into ``DIR`` (kept in ``DIR/plans.json``
across runs). Everything is checked and computed before the first file is written, and every
file is replaced atomically, so bad input (exit 2) leaves an existing output folder as it was.
The same inputs give byte-identical files.
"""

from __future__ import annotations

import html
import json
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InputError
from ._common import GazOpt, OsmOpt, _fail_input, _print_problems, app, err, out, progress_bar, schematic_note
from .cases import AsOfOpt, CasesOpt
from .maps import map_page
from .tracks import TracksOpt

if TYPE_CHECKING:
    from ..build import PlanData
    from ..plan import Plan

BASEMAP_CHOICES = ("none", "osm", "tianditu", "amap")
EXPORT_FORMATS = ("geojson", "shp", "kml", "csv", "xlsx")

BasemapOpt = Annotated[
    str,
    typer.Option(
        "--basemap",
        help="none (offline, default) | osm | tianditu (needs TIANDITU_TOKEN) | amap. Interactive maps "
        "load these tiles; static maps draw osm tiles only with the optional contextily package.",
    ),
]


# ---------------------------------------------------------------------------------------------
# Shared steps


def _load_plans(refs: Sequence[str] | None) -> list[Plan]:
    """Plans by id or file (default: every bundled plan), all problems reported together."""
    from ..plan import load_plans

    if not refs:
        return load_plans()
    plans = load_plans(refs)
    seen: dict[str, str] = {}
    for p, ref in zip(plans, refs, strict=True):
        if p.id in seen:
            raise InputError.single(
                ref, f"plan id {p.id!r} given twice (also {seen[p.id]}); give each plan once"
            )
        seen[p.id] = ref
    return plans


def _check_inputs(osm: Sequence[Path], gazetteer: Sequence[Path]) -> None:
    problems = []
    for opt, files in (("--osm", osm), ("--gazetteer", gazetteer)):
        for f in files:
            if not Path(f).is_file():
                problems.append(InputError.single(opt, f"no such file: {f}").problems[0])
    if problems:
        raise InputError(problems)


def _check_env() -> None:
    """Environment settings that change what is written, checked before any work."""
    from .._io import source_date_epoch

    source_date_epoch()


def _check_basemap(basemap: str) -> str:
    bm = (basemap or "none").strip().lower()
    if bm not in BASEMAP_CHOICES:
        raise InputError.single(
            "--basemap", f"unknown basemap {basemap!r}; expected one of: {', '.join(BASEMAP_CHOICES)}"
        )
    if bm == "tianditu":
        try:
            from ..publish.html import _tianditu_token
        except ImportError:
            pass
        else:
            _tianditu_token()  # bad input before any work
    return bm


def _build_all(
    plans: Sequence[Plan], osm: Sequence[Path], gazetteer: Sequence[Path], step: Callable[[str], None]
):
    """PlanData for every plan; plans of one region share one Sources (built once)."""
    from ..build import build_plan
    from ..regions import get_region
    from ..resolve import build_sources

    by_region: dict[str, Any] = {}
    for p in plans:
        reg = get_region(p.document.region)
        if reg.id not in by_region:
            step(f"数据源 {reg.name}")
            sources, problems = build_sources(reg, osm=osm, gazetteers=gazetteer)
            _print_problems(problems)
            by_region[reg.id] = sources
    datas = []
    for p in plans:
        step(f"解析 {p.id}")
        reg = get_region(p.document.region)
        datas.append(build_plan(p, osm=osm, gazetteers=gazetteer, sources=by_region[reg.id]))
    return datas


@contextmanager
def _imports_frozen() -> Iterator[None]:
    """Import the writers, then keep every object alive so far (modules, classes, the loaded
    plans) out of the garbage collector's sight for the block: a build allocates enough to
    trigger full collections, each of which would otherwise walk the whole heap of imported
    libraries again (about 0.2 s per build). Objects created in the block are collected as
    usual; afterwards everything is visible to the collector again."""
    import gc

    from ..build import build_plan  # noqa: F401 (imported before the freeze)
    from ..publish import files, static  # noqa: F401

    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Show library warnings (missing glyphs, basemap fallbacks) as one-line CLI warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            seen = set()
            for w in caught:
                msg = str(w.message)
                if msg in seen or issubclass(w.category, (DeprecationWarning, ResourceWarning)):
                    continue
                seen.add(msg)
                err.print(f"warning: {msg}", markup=False, highlight=False)


# ---------------------------------------------------------------------------------------------
# The index page


def _summary(data: PlanData) -> dict[str, Any]:
    doc = data.plan.document
    return {
        "id": data.plan.id,
        "doc_number": doc.doc_number,  # null where the text prints none; shown 未载
        "title": doc.title,
        "issuer": doc.issuer,
        "issued": doc.issued.isoformat() if doc.issued else "",
        "region": doc.region,
        "places": len(data.places),
        "plan_places": len(data.plan.places),
        "rules": len(data.plan.rules),
        "zones": len(data.zones),
        "kind_places": len(data.kind_places),
        "unresolved": len(data.unresolved),
        "schematic": bool(data.schematic),
        "has_html": False,
    }


def index_html(entries: Sequence[dict[str, Any]]) -> str:
    """A static Chinese page listing built plans with links (no scripts, no external resources)."""
    e = html.escape
    rows = []
    for s in entries:
        pid = e(s["id"])
        title = e(s["title"])
        main = (
            f'<a href="{pid}/index.html">{title}</a>'
            if s.get("has_html")
            else f'<a href="{pid}/map.png">{title}</a>'
        )
        links = [
            *([f'<a href="{pid}/index.html">交互地图</a>'] if s.get("has_html") else []),
            f'<a href="{pid}/map.png">静态图 PNG</a>',
            f'<a href="{pid}/map.pdf">PDF</a>',
            f'<a href="{pid}/layers.gpkg">GeoPackage</a>',
            f'<a href="{pid}/export/">其他格式</a>',
            f'<a href="{pid}/unresolved.csv">未定位清单</a>',
            f'<a href="{pid}/coverage.csv">责任单位表</a>',
        ]
        note = '<span class="stamp">示意</span>' if s.get("schematic") else ""
        unresolved = f'<b class="warn">{s["unresolved"]}</b>' if s["unresolved"] else "0"
        rows.append(
            "<tr>"
            f"<td>{pid}</td><td>{e(s['doc_number'] or '未载')}</td>"
            f"<td>{main} {note}</td><td>{e(s['issuer'])}</td>"
            f"<td class=d>{e(s['issued']) or '—'}</td><td>{e(s['region'])}</td>"
            f"<td class=n>{s['places']}/{s['plan_places']}</td><td class=n>{s['rules']}</td>"
            f"<td class=n>{s['zones']}</td><td class=n>{unresolved}</td>"
            f"<td>{' · '.join(links)}</td>"
            "</tr>"
        )
    any_schematic = any(s.get("schematic") for s in entries)
    notice = (
        '<p class="notice">标注“示意”的方案，其地图位置取自内置示意数据，按方案文字示意布设，'
        "非实测，不得作为执法或测量依据。"
        "提供真实 OSM 数据（--osm）或地名表（--gazetteer）后重新生成即可替换。</p>"
        if any_schematic
        else ""
    )
    body = "\n".join(rows) if rows else '<tr><td colspan="11">尚无方案</td></tr>'
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>城管图 · 方案地图索引</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif;
       margin: 2em; color: #222; }}
h1 {{ font-size: 1.5em; margin-bottom: .2em; }}
p.sub {{ color: #5f6368; margin-top: 0; }}
p.notice {{ border-left: 4px solid #c62828; padding: .4em .8em; background: #fdecea; color: #8e1b1b; }}
table {{ border-collapse: collapse; width: 100%; font-size: .92em; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .45em .6em; text-align: left; vertical-align: top; }}
th {{ background: #f3f4f6; white-space: nowrap; }}
td.n {{ text-align: right; white-space: nowrap; }}
td.d {{ white-space: nowrap; }}
.stamp {{ border: 1px solid #c62828; color: #c62828; font-size: .8em; padding: 0 .3em; white-space: nowrap; }}
.warn {{ color: #b45309; }}
a {{ color: #1a56db; }}
</style>
</head>
<body>
<h1>城管图 · 方案地图索引</h1>
<p class="sub">城市管理行动方案的地点、距离规则区域与地图。
每个方案一行：交互地图可离线打开；静态图可直接用于汇报材料。</p>
{notice}
<table>
<thead><tr><th>编号</th><th>文号</th><th>方案</th><th>印发单位</th><th>印发日期</th><th>范围</th>
<th>已定位/点名地点</th><th>距离规则</th><th>规则区域</th><th>未定位</th><th>文件</th></tr></thead>
<tbody>
{body}
</tbody>
</table>
</body>
</html>
"""


def _merge_manifest(out_dir: Path, new: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries of earlier runs whose folders still exist, replaced by this run's, sorted by id."""
    path = out_dir / "plans.json"
    old: list[dict[str, Any]] = []
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8")).get("plans", [])
        except (ValueError, AttributeError):
            old = []  # an unreadable manifest is rebuilt from this run
    merged = {
        s["id"]: s for s in old if isinstance(s, dict) and "id" in s and (out_dir / str(s["id"])).is_dir()
    }
    merged.update({s["id"]: s for s in new})
    return [merged[k] for k in sorted(merged)]


def _write_all(
    datas: Sequence[PlanData],
    out_dir: Path,
    bm: str,
    write_map: Callable | None,
    step: Callable[[str], None],
    cases: str | None = None,
    as_of: str | None = None,
    tracks: Path | None = None,
) -> list[dict[str, Any]]:
    """Write every file of every plan and the index; returns the plans' summaries. With
    ``cases`` (a ledger), each interactive and printed map carries the 问题台账 layer judged at
    ``as_of``; with ``tracks`` (a ``geo tracks --segments`` GeoPackage), the passes layer."""
    from .._io import write_text
    from ..publish.files import layer_frames, write_coverage, write_layers, write_unresolved
    from ..publish.static import render_static_files
    from ..publish.static.cases import load_cases

    static_cases = load_cases(cases, as_of) if cases else None  # read once, drawn on every plan
    summaries = []
    for data in datas:
        pid = data.plan.id
        folder = out_dir / pid
        summary = _summary(data)
        if write_map is not None:
            step(f"交互地图 {pid}")
            page = map_page(data, basemap=bm, cases=cases, as_of=as_of, tracks=tracks)
            write_text(folder / "index.html", page)
            summary["has_html"] = True
        step(f"静态图 {pid}（PNG、PDF）")
        render_static_files(data, [folder / "map.png", folder / "map.pdf"], basemap=bm, cases=static_cases)
        step(f"GeoPackage {pid}")
        frames = layer_frames(data)  # once for the GeoPackage and the exports
        write_layers(data, folder / "layers.gpkg", frames=frames)
        step(f"导出 {pid}")
        write_layers(data, folder / "export", formats=EXPORT_FORMATS, frames=frames)
        step(f"未定位清单与责任单位表 {pid}")
        write_unresolved(data, folder / "unresolved.csv")
        write_coverage(data, folder / "coverage.csv")
        summaries.append(summary)
    step("索引")
    entries = _merge_manifest(out_dir, summaries)
    write_text(
        out_dir / "plans.json",
        json.dumps({"plans": entries}, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
    )
    write_text(out_dir / "index.html", index_html(entries))

    return summaries


# ---------------------------------------------------------------------------------------------
# Commands


@app.command("build")
def build_cmd(
    plans: Annotated[
        list[str] | None,
        typer.Argument(help="Plan ids (e.g. 000 002) or plan YAML files; default all bundled."),
    ] = None,
    osm: OsmOpt = None,
    gazetteer: GazOpt = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder (default maps/ here).")] = Path(
        "maps"
    ),
    basemap: BasemapOpt = "none",
    cases: CasesOpt = None,
    as_of: AsOfOpt = None,
    tracks: TracksOpt = None,
) -> None:
    """Build every plan: interactive map, A4 PNG/PDF, GeoPackage, exports and unresolved report.

    Writes DIR/<plan>/index.html, map.png, map.pdf, layers.gpkg, unresolved.csv and export/
    (GeoJSON, Shapefile, KML, CSV, XLSX), plus DIR/index.html listing the plans. Plans of one
    region share one set of sources. Nothing is written until every plan has been checked and
    built; files are replaced atomically, and the same inputs give byte-identical files.
    Without --osm the bundled schematic (示意) extract is used and every map says so.
    """
    from .._io import check_out_dir, check_out_file, staged

    osm_files, gaz_files = list(osm or ()), list(gazetteer or ())
    try:
        _check_env()
        bm = _check_basemap(basemap)
        _check_inputs(osm_files, gaz_files)
        the_plans = _load_plans(plans)
        check_out_dir(out_dir)
        for p in the_plans:
            check_out_dir(out_dir / p.id)
            for name in ("index.html", "map.png", "map.pdf", "layers.gpkg", "unresolved.csv", "coverage.csv"):
                check_out_file(out_dir / p.id / name)
            check_out_dir(out_dir / p.id / "export")
        for name in ("plans.json", "index.html"):
            check_out_file(out_dir / name)
    except InputError as exc:
        _fail_input(exc)
    try:
        from ..publish.html import write_map
    except ImportError as exc:  # the interactive-map stage not installed in this checkout
        write_map = None
        err.print(f"warning: interactive maps skipped ({exc})", markup=False, highlight=False)

    regions = len({p.document.region for p in the_plans})
    per_plan = 5 if write_map else 4
    with _imports_frozen(), progress_bar() as progress, _warnings_to_stderr():
        task = progress.add_task("开始", total=regions + len(the_plans) * (1 + per_plan) + 1)

        def step(what: str) -> None:
            progress.update(task, description=what, advance=1)
            if not err.is_terminal:
                err.print(what, markup=False, highlight=False)

        try:
            datas = _build_all(the_plans, osm_files, gaz_files, step)
            with staged():  # every file renamed into place only once all were written
                summaries = _write_all(datas, out_dir, bm, write_map, step, cases, as_of, tracks)
        except InputError as exc:
            progress.stop()
            _fail_input(exc)

    from rich.table import Table

    table = Table(title=f"built into {out_dir}", show_lines=False)
    for col in ("plan", "文号", "places", "zones", "unresolved", "示意"):
        table.add_column(col, justify="right" if col in ("places", "zones", "unresolved") else "left")
    for s in summaries:
        table.add_row(
            s["id"],
            s["doc_number"] or "未载",
            f"{s['places']}/{s['plan_places']}",
            str(s["zones"]),
            str(s["unresolved"]),
            "示意" if s["schematic"] else "",
        )
    out.print(table)
    if any(s["schematic"] for s in summaries):
        schematic_note()
    out.print(f"open {out_dir / 'index.html'}", markup=False, highlight=False)


@app.command("static")
def static_cmd(
    plan: Annotated[str, typer.Argument(help="Plan id (e.g. 001) or a plan YAML file.")],
    out_file: Annotated[
        Path, typer.Option("--out", "-o", help="The .png or .pdf to write (replaced atomically).")
    ],
    layers: Annotated[
        str | None,
        typer.Option(
            "--layers", help="Comma-separated: region,zones,spacing,places,kind_places,labels (default all)."
        ),
    ] = None,
    osm: OsmOpt = None,
    gazetteer: GazOpt = None,
    basemap: BasemapOpt = "none",
    dpi: Annotated[int, typer.Option("--dpi", min=50, max=1200, help="PNG resolution.")] = 300,
    cases: CasesOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """Write an A4 landscape map of PLAN for briefings: PNG (300 dpi) or vector PDF.

    Title with 文号, legend, scale bar, north arrow, source and date line, Chinese labels; a 示意
    stamp when positions come from the bundled schematic extract. With --cases, the ledger's
    cases by status at --as-of, and a note of the date and of the cases with no position.
    """
    from .._io import check_out_file
    from ..build import build_plan
    from ..plan import get_plan
    from ..publish.static import _norm_layers, render_static
    from ..publish.static.cases import load_cases

    try:
        if out_file.suffix.lower() not in (".png", ".pdf"):
            raise InputError.single("--out", f"expected a .png or .pdf file, got {str(out_file)!r}")
        check_out_file(out_file)
        _check_env()
        bm = _check_basemap(basemap)
        _norm_layers(layers)
        _check_inputs(list(osm or ()), list(gazetteer or ()))
        the_plan = get_plan(plan)
        if as_of is not None and not cases:
            raise InputError.single("--as-of", "needs --cases (the ledger whose cases it dates)")
        static_cases = load_cases(cases, as_of) if cases else None
        data = build_plan(the_plan, osm=osm or (), gazetteers=gazetteer or ())
    except InputError as exc:
        _fail_input(exc)
    _print_problems(data.problems)
    with _warnings_to_stderr():
        render_static(
            data,
            out_file,
            layers=layers,
            basemap=None if bm == "none" else bm,
            dpi=dpi,
            cases=static_cases,
        )
    if data.schematic:
        schematic_note()
    out.print(f"wrote {out_file}", markup=False, highlight=False)


@app.command("export")
def export_cmd(
    plan: Annotated[str, typer.Argument(help="Plan id (e.g. 001) or a plan YAML file.")],
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the files, or one .gpkg / .kml / .xlsx file.")
    ],
    formats: Annotated[
        str,
        typer.Option("--format", "-f", help="Comma-separated: gpkg,geojson,shp,kml,csv,xlsx (folder only)."),
    ] = "gpkg,geojson,shp,kml,csv,xlsx",
    osm: OsmOpt = None,
    gazetteer: GazOpt = None,
) -> None:
    """Write PLAN's layers (places, zones, dissolved zones, spacing streets, kind places, region)
    as GeoPackage, GeoJSON, Shapefile (UTF-8), KML, CSV (UTF-8 with BOM) and XLSX.

    A folder also gets unresolved.csv. All in WGS84 with the standard columns.
    """
    from .._io import check_out_dir, check_out_file, staged
    from ..build import build_plan
    from ..plan import get_plan
    from ..publish.files import FORMATS, write_layers, write_unresolved

    try:
        fmts = [f.strip().lower() for f in formats.split(",") if f.strip()]
        bad = [f for f in fmts if f not in FORMATS]
        if bad or not fmts:
            raise InputError.single(
                "--format",
                f"unknown format {', '.join(bad) or '(none)'}; expected some of: {', '.join(FORMATS)}",
            )
        if out_path.suffix and out_path.suffix.lower() not in (".gpkg", ".kml", ".xlsx"):
            raise InputError.single(
                "--out",
                f"a single file can be .gpkg, .kml or .xlsx, got {str(out_path)!r}; "
                "give a folder for other formats",
            )
        if out_path.suffix:
            check_out_file(out_path)
        else:
            check_out_dir(out_path)
        _check_env()
        _check_inputs(list(osm or ()), list(gazetteer or ()))
        data = build_plan(get_plan(plan), osm=osm or (), gazetteers=gazetteer or ())
    except InputError as exc:
        _fail_input(exc)
    _print_problems(data.problems)
    try:
        with _warnings_to_stderr(), staged():  # all files, or none
            written = write_layers(data, out_path, formats=fmts)
            if not out_path.suffix:
                written.append(write_unresolved(data, out_path / "unresolved.csv"))
    except InputError as exc:
        _fail_input(exc)
    if data.schematic:
        schematic_note()
    out.print(f"wrote {len(written)} file(s) to {out_path}", markup=False, highlight=False)
