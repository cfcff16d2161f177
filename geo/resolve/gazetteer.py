"""The user's own list of places (a gazetteer): reading, checking, and turning it into a layer.

A gazetteer holds what OpenStreetMap lacks (many 马路市场 and 路段 exist only in a plan) and it
wins over OSM. It comes as

CSV
    UTF-8 (with or without BOM), or GBK/GB18030 as saved by Chinese Excel ("CSV (逗号分隔)").
XLSX
    The first sheet; the first non-empty row is the header.
GeoJSON
    A FeatureCollection of Point/LineString/Polygon (or Multi-) features with properties
    ``name``, ``kind``, ``note`` (and optionally ``crs``, ``accuracy_m``).

Columns of CSV/XLSX (header names case-insensitive; Chinese headers accepted):

========== ===================== =====================================================
column     also accepted         meaning
========== ===================== =====================================================
name       名称                  required; kept as written (stripped)
kind       类型, 类别            optional; a key of ``PLACE_KINDS`` or its Chinese label
lon, lat   经度, 纬度, lng, ...  required unless ``wkt`` is given
crs        坐标系                wgs84 (default), cgcs2000, gcj02, bd09
wkt        geometry, 几何        optional line/area (or point), in the row's crs
note       备注                  optional
tags       标签                  optional; the plan's categories (农贸市场), split on ; 、 ,
accuracy_m                       optional, metres
========== ===================== =====================================================

A bad row is reported as a :class:`~geo.errors.Problem` with the row number the user sees
(CSV line number with the header as line 1, XLSX row number, GeoJSON feature index) and
skipped; the good rows still load. A file that cannot be read at all (undecodable text, a
required column missing) is an :class:`~geo.errors.InputError`.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo.crs import check_lonlat, to_wgs84
from geo.errors import InputError, Problem
from geo.layers import make_layer
from geo.plan import PLACE_KINDS
from geo.tables import cell_number, cell_text, csv_records, decode_text, fold_key, is_blank

__all__ = ["DEFAULT_ACCURACY_GEOMETRY_M", "DEFAULT_ACCURACY_POINT_M", "Gazetteer", "read_gazetteer"]

#: How far (km) outside the region's box a gazetteer place may lie before its row is refused.
DEFAULT_MAX_KM = 50.0
#: Accuracy (m) given to a point without ``accuracy_m``: a coordinate picked by hand on a web map.
DEFAULT_ACCURACY_POINT_M = 20.0
#: Accuracy (m) given to a line or area without ``accuracy_m``: traced along a basemap, where
#: the vertices sit on visible features.
DEFAULT_ACCURACY_GEOMETRY_M = 10.0

SOURCE = "gazetteer"
EXTRA_COLUMNS = ("note", "crs_in", "tags")

# Header spellings → canonical column. Keys are compared after NFKC folding and lower-casing,
# so full-width letters and any capitalisation match.
_HEADER_ALIASES: dict[str, str] = {
    "name": "name",
    "名称": "name",
    "kind": "kind",
    "类型": "kind",
    "类别": "kind",
    "lon": "lon",
    "lng": "lon",
    "longitude": "lon",
    "经度": "lon",
    "lat": "lat",
    "latitude": "lat",
    "纬度": "lat",
    "crs": "crs",
    "坐标系": "crs",
    "note": "note",
    "备注": "note",
    "wkt": "wkt",
    "geometry": "wkt",
    "几何": "wkt",
    "accuracy_m": "accuracy_m",
    "tags": "tags",
    "标签": "tags",
}

# Input systems accepted in the crs column (after folding case, '-', '_' and spaces).
# CGCS2000 is kept distinct here so that crs_in records what the user wrote; geo.crs treats it
# as WGS84.
_CRS_NAMES: dict[str, str] = {
    "wgs84": "wgs84",
    "cgcs2000": "cgcs2000",
    "gcj02": "gcj02",
    "bd09": "bd09",
    "bd09ll": "bd09",
}

# Chinese labels of the kinds (the values of PLACE_KINDS) → kind key, so 中小学校 means school.
_KIND_LABELS: dict[str, str] = {label: key for key, label in PLACE_KINDS.items()}

_GEOMETRY_TYPES = ("Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon")


@dataclass
class Gazetteer:
    """A gazetteer as read from a file.

    Attributes
    ----------
    layer : geopandas.GeoDataFrame
        The good rows, with the standard layer columns plus ``note`` and ``crs_in``, in EPSG:4326.
    problems : list of geo.errors.Problem
        One entry per problem found in a skipped row, in file order.
    encoding : str or None
        Text encoding the file was read with (CSV and GeoJSON), ``None`` for XLSX.
    """

    layer: gpd.GeoDataFrame
    problems: list[Problem] = field(default_factory=list)
    encoding: str | None = None


@dataclass
class _Row:
    """One data row before checking: its user-visible number and raw values by canonical column."""

    line: int
    values: dict[str, Any]
    # GeoJSON only: the feature's geometry, or the reason it could not be read.
    geometry: BaseGeometry | None = None
    geometry_error: str | None = None
    # A problem that makes the whole row unreadable (e.g. misaligned CSV fields).
    row_error: str | None = None
    # How messages name the row: "row" (CSV line, sheet row) or "feature" (GeoJSON).
    unit: str = "row"


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def read_gazetteer(
    path: str | Path,
    *,
    region_bounds: Sequence[float] | None = None,
    max_km: float = DEFAULT_MAX_KM,
    strict: bool = False,
) -> Gazetteer:
    """Read a gazetteer file (CSV, XLSX or GeoJSON) into a layer, reporting bad rows.

    Parameters
    ----------
    path : str or pathlib.Path
        The file. Its format is taken from the suffix: ``.csv``/``.txt``, ``.xlsx``/``.xlsm``,
        ``.geojson``/``.json``.
    region_bounds : (minx, miny, maxx, maxy), optional
        WGS84 box where the places are expected (e.g. the city's extent). Rows more than
        `max_km` from it, or that fit it only with latitude and longitude swapped, are reported.
        Without it, coordinates are only screened against China's rough extent.
    max_km : float, default 50.0
        How far outside `region_bounds` a place may lie.
    strict : bool, default False
        Raise :class:`~geo.errors.InputError` listing every bad row, instead of skipping them.

    Returns
    -------
    Gazetteer
        ``layer``: one feature per good row, with ``id`` ``g<row>``, ``name``, ``kind``,
        ``source`` ``"gazetteer"``, ``source_ref`` ``"<file name>:<row>"``, ``accuracy_m``,
        empty ``matched_by``, and the extra columns ``note`` and ``crs_in``; geometry in
        EPSG:4326. ``problems``: one :class:`~geo.errors.Problem` per problem in a skipped row.

    Raises
    ------
    geo.errors.InputError
        If the file is missing, of an unsupported type, undecodable (the message names the byte
        offset and line), lacks a required column (the message lists the columns found), or —
        with ``strict=True`` — has any bad row (then it carries every row's problems).

    Notes
    -----
    Row numbers are those the user sees: the CSV line number counting the header as line 1
    (quoted fields spanning lines are counted as lines), the XLSX row number, or the GeoJSON
    feature's 1-based index. A row with a ``wkt`` value takes its geometry from it, and any
    ``lon``/``lat`` in that row is ignored. Coordinates are screened as given, before
    conversion: the GCJ-02/BD-09 shift (under a kilometre) does not matter at screening scale,
    and the messages then quote exactly what the user typed.
    """
    p = Path(path)
    source = str(path)
    if not p.is_file():
        raise InputError.single(
            source, "file not found (or not a file); expected a gazetteer CSV, XLSX or GeoJSON"
        )
    suffix = p.suffix.lower()
    encoding: str | None = None
    if suffix in (".csv", ".txt"):
        rows, encoding = _read_csv(p, source)
    elif suffix in (".xlsx", ".xlsm"):
        rows = _read_xlsx(p, source)
    elif suffix in (".geojson", ".json"):
        rows, encoding = _read_geojson(p, source)
    elif suffix == ".xls":
        raise InputError.single(
            source, "old Excel .xls workbooks are not read; save it as .xlsx (or as CSV UTF-8) and try again"
        )
    else:
        raise InputError.single(
            source, f"unsupported file type {p.suffix!r}; expected .csv, .xlsx or .geojson"
        )

    layer, problems = _build(rows, source, p.name, region_bounds=region_bounds, max_km=max_km)
    if strict and problems:
        raise InputError(problems)
    return Gazetteer(layer=layer, problems=problems, encoding=encoding)


# --------------------------------------------------------------------------------------------
# Text decoding
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Readers: each returns _Row objects keyed by canonical column
# --------------------------------------------------------------------------------------------


def _map_header(cells: Sequence[Any], source: str, line: int) -> dict[int, str]:
    """Column index → canonical name; checks that the required columns are there."""
    found: list[str] = []
    index: dict[int, str] = {}
    seen: dict[str, str] = {}
    for i, cell in enumerate(cells):
        raw = "" if cell is None else str(cell).strip()
        if not raw:
            continue
        found.append(raw)
        canon = _HEADER_ALIASES.get(fold_key(raw))
        if canon is None:
            continue  # columns of the user's own are allowed and ignored
        if canon in seen:
            raise InputError.single(
                source,
                f"columns {seen[canon]!r} and {raw!r} both mean {canon!r}; keep only one",
                line=line,
                field=canon,
            )
        seen[canon] = raw
        index[i] = canon

    have = set(index.values())
    required = ["name"] if "wkt" in have else ["name", "lon", "lat"]
    for col in required:
        if col not in have:
            also = [k for k, v in _HEADER_ALIASES.items() if v == col and k != col]
            raise InputError.single(
                source,
                f"missing required column {col!r} (also accepted: {', '.join(also)}); "
                f"columns found: {', '.join(found) or 'none'}",
                line=line,
                field=col,
            )
    return index


def _read_csv(path: Path, source: str) -> tuple[list[_Row], str]:
    text, encoding = decode_text(path.read_bytes(), source)
    if "\x00" in text:
        raise InputError.single(source, "the file contains NUL characters: it is not a text CSV")

    header: dict[int, str] | None = None
    width = 0
    rows: list[_Row] = []
    for start, cells in csv_records(text, source):
        if header is None:
            header = _map_header(cells, source, start)
            width = len(cells)
            continue
        # Short rows (trailing empty cells left out by hand) read as blank.
        values = {canon: (cells[i] if i < len(cells) else "") for i, canon in header.items()}
        row = _Row(line=start, values=values)
        if len(cells) > width and any(not is_blank(c) for c in cells[width:]):
            # More cells than headers: almost always an unquoted comma in a name or note, so
            # every later cell of the row is in the wrong column.
            row.row_error = (
                f"row {start}: {len(cells)} fields but the header has {width}; "
                "is there an unquoted comma in a name or note? Quote that field or use ，"
            )
        rows.append(row)
    if header is None:
        raise InputError.single(
            source, "the file is empty; expected a header row such as name,kind,lon,lat,crs"
        )
    return rows, encoding


def _read_xlsx(path: Path, source: str) -> list[_Row]:
    # openpyxl directly rather than pandas.read_excel: it gives each row's real sheet row
    # number, which is what the user sees, even around blank rows.
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = openpyxl.load_workbook(path, read_only=False, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as err:
        raise InputError.single(source, f"cannot open the workbook: {err}") from None
    except Exception as err:  # zipfile.BadZipFile and friends from a damaged file
        raise InputError.single(source, f"cannot open the workbook ({type(err).__name__}): {err}") from None
    try:
        if not wb.worksheets:
            raise InputError.single(source, "the workbook has no sheets")
        ws = wb.worksheets[0]
        header: dict[int, str] | None = None
        rows: list[_Row] = []
        for number, cells in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
            if all(is_blank(c) for c in cells):
                continue
            if header is None:
                header = _map_header(cells, source, number)
                continue
            values = {canon: (cells[i] if i < len(cells) else None) for i, canon in header.items()}
            rows.append(_Row(line=number, values=values))
    finally:
        wb.close()
    if header is None:
        raise InputError.single(source, f"the first sheet ({ws.title!r}) is empty; expected a header row")
    return rows


def _read_geojson(path: Path, source: str) -> tuple[list[_Row], str]:
    text, encoding = decode_text(path.read_bytes(), source)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError.single(
            source, f"not valid JSON: {err.msg}", line=err.lineno, column=err.colno
        ) from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InputError.single(source, "expected a GeoJSON FeatureCollection")
    crs_member = doc.get("crs")
    if crs_member is not None:
        # Pre-RFC 7946 files may name their CRS; only WGS84/CGCS2000 geographic is accepted.
        name = str(
            ((crs_member.get("properties") or {}) if isinstance(crs_member, dict) else {}).get("name", "")
        )
        if not any(tag in name.upper() for tag in ("CRS84", "4326", "4490")):
            raise InputError.single(
                source,
                f"the FeatureCollection declares crs {name or crs_member!r}; expected WGS84 lon/lat "
                "(give GCJ-02/BD-09 features a 'crs' property instead)",
                field="crs",
            )
    features = doc.get("features")
    if not isinstance(features, list):
        raise InputError.single(source, "the FeatureCollection has no 'features' list", field="features")

    rows: list[_Row] = []
    for number, feat in enumerate(features, start=1):
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            rows.append(
                _Row(number, {}, row_error=f"feature {number}: not a GeoJSON Feature", unit="feature")
            )
            continue
        props = feat.get("properties") or {}
        values: dict[str, Any] = {}
        if isinstance(props, dict):
            for key, val in props.items():
                canon = _HEADER_ALIASES.get(fold_key(str(key)))
                if canon in ("name", "kind", "crs", "note", "accuracy_m"):
                    values.setdefault(canon, val)
        row = _Row(number, values, unit="feature")
        geom = feat.get("geometry")
        if not geom:
            row.geometry_error = f"feature {number}: no geometry; expected a Point, LineString or Polygon"
        else:
            try:
                row.geometry = shape(geom)
            except Exception as err:  # shapely raises several types for malformed coordinates
                row.geometry_error = f"feature {number}: geometry cannot be read ({err})"
        rows.append(row)
    return rows, encoding


# --------------------------------------------------------------------------------------------
# Checking and building the layer
# --------------------------------------------------------------------------------------------


def _tags(v: Any) -> str | None:
    """A tags cell (``农贸市场；菜市场``, ``a、b``, ``a,b``) as ``;``-joined tags, or None."""
    text = unicodedata.normalize("NFKC", cell_text(v))
    parts = [t.strip() for t in re.split(r"[;、,]", text)]
    return ";".join(t for t in parts if t) or None


def _kinds_hint() -> str:
    return ", ".join(f"{k} ({v})" for k, v in PLACE_KINDS.items())


def _geometry_from_wkt(wkt: str, where: str) -> tuple[BaseGeometry | None, str | None]:
    try:
        geom = shapely.from_wkt(wkt)
    except Exception as err:  # shapely's GEOSException, but be safe against odd input
        return (
            None,
            f"{where}: WKT cannot be read ({err}); expected e.g. LINESTRING (112.85 35.5, 112.86 35.5)",
        )
    return geom, None


def _geometry_problem(geom: BaseGeometry, where: str) -> str | None:
    if geom.geom_type not in _GEOMETRY_TYPES:
        expected = ", ".join(_GEOMETRY_TYPES)
        return f"{where}: geometry type {geom.geom_type} is not supported; expected {expected}"
    if geom.is_empty:
        return f"{where}: geometry is empty"
    if not geom.is_valid:
        return f"{where}: geometry is not valid ({shapely.is_valid_reason(geom)}); fix the outline"
    return None


def _to_wgs84_geometry(geom: BaseGeometry, crs: str) -> BaseGeometry:
    if crs in ("wgs84", "cgcs2000"):
        return geom

    def shift(xy: np.ndarray) -> np.ndarray:
        lon, lat = to_wgs84(xy[:, 0], xy[:, 1], crs)
        return np.column_stack([lon, lat])

    # Vertex by vertex: the shift varies with position, so a whole-geometry offset would be wrong.
    return shapely.transform(geom, shift)


def _build(
    rows: Iterable[_Row],
    source: str,
    file_name: str,
    *,
    region_bounds: Sequence[float] | None,
    max_km: float,
) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    problems: dict[int, list[Problem]] = {}

    def report(line: int, fld: str | None, message: str) -> None:
        problems.setdefault(line, []).append(Problem(file=source, message=message, line=line, field=fld))

    parsed: list[dict[str, Any]] = []
    # Coordinates to screen, one entry per point or vertex, with their row number.
    check_lon: list[float] = []
    check_lat: list[float] = []
    check_rows: list[int] = []

    for row in rows:
        n = row.line
        v = row.values
        where = f"{row.unit} {n}"
        if row.row_error:
            report(n, None, row.row_error)
            continue

        name = cell_text(v.get("name"))
        if not name:
            report(n, "name", f"{where}: name is empty; every place needs a name")

        kind_raw = cell_text(v.get("kind"))
        kind: str | None = None
        if kind_raw:
            folded = unicodedata.normalize("NFKC", kind_raw)
            kind = folded.lower() if folded.lower() in PLACE_KINDS else _KIND_LABELS.get(folded)
            if kind is None:
                report(n, "kind", f"{where}: unknown kind {kind_raw!r}; expected one of {_kinds_hint()}")

        crs_raw = cell_text(v.get("crs"))
        crs = "wgs84"
        if crs_raw:
            key = fold_key(crs_raw).replace("-", "").replace("_", "").replace(" ", "")
            if key in _CRS_NAMES:
                crs = _CRS_NAMES[key]
            else:
                crs = ""
                report(
                    n,
                    "crs",
                    f"{where}: unknown coordinate system {crs_raw!r}; "
                    "expected wgs84, cgcs2000, gcj02 or bd09",
                )

        accuracy = math.nan
        acc_raw = v.get("accuracy_m")
        if not is_blank(acc_raw):
            acc = cell_number(acc_raw)
            if acc is None or not math.isfinite(acc) or acc < 0:
                report(
                    n,
                    "accuracy_m",
                    f"{where}: accuracy_m {acc_raw!r} is not a distance in metres (a number ≥ 0)",
                )
            else:
                accuracy = acc

        geom: BaseGeometry | None = None
        wkt = cell_text(v.get("wkt"))
        if row.geometry_error:
            report(n, "geometry", row.geometry_error)
        elif row.geometry is not None or wkt:
            geom_field = "geometry" if row.geometry is not None else "wkt"
            err: str | None = None
            geom = row.geometry
            if geom is None:
                geom, err = _geometry_from_wkt(wkt, where)
            if geom is not None and err is None:
                err = _geometry_problem(geom, where)
            if err:
                report(n, geom_field, err)
                geom = None
            else:
                xy = shapely.get_coordinates(geom)
                check_lon.extend(xy[:, 0].tolist())
                check_lat.extend(xy[:, 1].tolist())
                check_rows.extend([n] * len(xy))
        elif "lon" not in v and "lat" not in v:
            # The file has a wkt column but no lon/lat columns, and this row's wkt is empty.
            report(
                n, "wkt", f"{where}: wkt is empty and the file has no lon/lat columns; give a WKT geometry"
            )
        else:
            lon, lat = cell_number(v.get("lon")), cell_number(v.get("lat"))
            for fld, val, raw in (("lon", lon, v.get("lon")), ("lat", lat, v.get("lat"))):
                if val is None:
                    msg = f"{where}: {fld} {cell_text(raw)!r} is not a number; expected decimal degrees"
                    report(n, fld, msg)
            if lon is not None and lat is not None:
                # Blank values stay NaN here; check_lonlat reports them as missing.
                check_lon.append(lon)
                check_lat.append(lat)
                check_rows.append(n)
                geom = shapely.Point(lon, lat) if math.isfinite(lon) and math.isfinite(lat) else None

        parsed.append(
            {
                "line": n,
                "name": name,
                "kind": kind,
                "crs": crs,
                "accuracy": accuracy,
                "geom": geom,
                "note": cell_text(v.get("note")) or None,
                "tags": _tags(v.get("tags")),
            }
        )

    if check_rows:
        try:
            check_lonlat(
                check_lon,
                check_lat,
                source=source,
                region_bounds=region_bounds,
                max_km=max_km if region_bounds is not None else None,
                rows=check_rows,
            )
        except InputError as err:
            seen: set[int] = set()
            for prob in err.problems:
                # A line or area gives one problem per bad vertex; its first one says enough.
                if prob.line is not None and prob.line not in seen:
                    seen.add(prob.line)
                    problems.setdefault(prob.line, []).append(prob)

    records: list[dict[str, Any]] = []
    geoms: list[BaseGeometry] = []
    good = [r for r in parsed if r["line"] not in problems and r["geom"] is not None]
    # Points are converted in one vectorised call per input system; lines and areas per row.
    wgs: dict[int, BaseGeometry] = {}
    for crs in {r["crs"] for r in good}:
        pts = [r for r in good if r["crs"] == crs and r["geom"].geom_type == "Point"]
        if pts:
            lon, lat = to_wgs84([r["geom"].x for r in pts], [r["geom"].y for r in pts], crs)
            for r, x, y in zip(pts, lon.tolist(), lat.tolist(), strict=True):
                wgs[r["line"]] = shapely.Point(x, y)
    for r in good:
        n = r["line"]
        geom = wgs[n] if n in wgs else _to_wgs84_geometry(r["geom"], r["crs"])
        accuracy = r["accuracy"]
        if math.isnan(accuracy):
            is_point = geom.geom_type == "Point"
            accuracy = DEFAULT_ACCURACY_POINT_M if is_point else DEFAULT_ACCURACY_GEOMETRY_M
        records.append(
            {
                "id": f"g{n}",
                "name": r["name"],
                "kind": r["kind"],
                "source": SOURCE,
                "source_ref": f"{file_name}:{n}",
                "accuracy_m": accuracy,
                "matched_by": None,
                "note": r["note"],
                "crs_in": r["crs"],
                "tags": r["tags"],
            }
        )
        geoms.append(geom)

    columns = ["id", "name", "kind", "source", "source_ref", "accuracy_m", "matched_by", *EXTRA_COLUMNS]
    layer = make_layer(pd.DataFrame(records, columns=columns), geometry=geoms, extra=EXTRA_COLUMNS)
    for col in EXTRA_COLUMNS:
        layer[col] = layer[col].astype("string")
    flat = [p for line in sorted(problems) for p in problems[line]]
    return layer, flat
