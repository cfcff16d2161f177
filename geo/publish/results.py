"""Query results as files: a compact hit table plus a zone lookup, typed columns throughout.

A query result (:func:`geo.query.query_points`) has one row per (point, zone) hit. The zone's
texts (rule, restriction, 牵头 units, phases, 文号) are the same on every hit of that zone, so by
default they are written once per zone, in a lookup table, and each hit row keeps the ids, the
metres and the responsible units:

========== ======================================================================================
table      columns
========== ======================================================================================
hits       the point's own columns, ``source_row``, ``in_zone``, ``zone_id``, ``plan_id``,
           ``rule_id``, ``place_id``, ``dist_to_place_m`` (0.1 m), ``units``
           (+ ``lon_wgs84``/``lat_wgs84`` when the input was not WGS84)
zones      one row per zone hit: ``zone_id`` and every other zone field
========== ======================================================================================

``wide=True`` gives the old single table: every zone field on every row, plus ``point_row``,
``lon_wgs84`` and ``lat_wgs84``.

Text columns stay categoricals or Arrow strings and are written by pyarrow (CSV, GeoParquet)
or GDAL through Arrow (GeoPackage): no column of Python objects is made for a million rows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa

from .._io import FORMULA_STARTS, atomic_path, neutralise_cell
from ..query import ZONE_FIELDS

__all__ = ["HIT_FIELDS", "result_tables", "write_csv", "write_gpkg", "write_parquet"]

#: Zone fields kept on every row of the compact table.
HIT_FIELDS = ["zone_id", "plan_id", "rule_id", "place_id", "dist_to_place_m", "units"]
#: Metres are written to 0.1 m: the rule distances are whole metres and the inputs are no finer.
DIST_DECIMALS = 1


def result_tables(
    result: gpd.GeoDataFrame, *, wide: bool = False, wgs84_columns: bool = False
) -> dict[str, gpd.GeoDataFrame | pd.DataFrame]:
    """The tables written for a query result.

    Parameters
    ----------
    result : GeoDataFrame or DataFrame
        From :func:`geo.query.query_points` (point columns, ``source_row`` if read from a file,
        ``point_row``, ``in_zone``, zone fields, and the geometry or ``lon_wgs84``/``lat_wgs84``).
    wide : bool
        One table with every zone field on every row (and ``lon_wgs84``/``lat_wgs84``).
    wgs84_columns : bool
        Add ``lon_wgs84``/``lat_wgs84`` to the compact table (for inputs in GCJ-02/BD-09,
        whose own lon/lat differ from the WGS84 geometry).

    Returns
    -------
    dict
        ``{"query": hits}`` (GeoDataFrame of WGS84 points if ``result`` has geometry), plus
        ``"zones"`` (DataFrame, one row per zone hit, sorted by ``zone_id``) unless ``wide``.
    """
    spatial = isinstance(result, gpd.GeoDataFrame)
    if spatial:
        geom = result.geometry
        xy = {"lon_wgs84": geom.x.to_numpy(), "lat_wgs84": geom.y.to_numpy()}
        skip = {geom.name}
    else:  # a result made without geometry (query_points(..., geometry=False)) carries the columns
        xy = {k: result[k].to_numpy(dtype=float) for k in ("lon_wgs84", "lat_wgs84")}
        skip = set(xy)
    xy = {k: np.round(v, 7) for k, v in xy.items()}
    dist = np.round(result["dist_to_place_m"].to_numpy(dtype=float), DIST_DECIMALS)
    point_cols = [c for c in result.columns if c not in (*ZONE_FIELDS, "point_row", "in_zone", *skip)]
    cols: dict[str, Any] = {c: result[c] for c in point_cols}
    if wide:
        cols["point_row"] = result["point_row"]
        cols["in_zone"] = result["in_zone"]
        for f in ZONE_FIELDS:
            cols[f] = dist if f == "dist_to_place_m" else result[f]
        cols.update(xy)
    else:
        cols["in_zone"] = result["in_zone"]
        for f in HIT_FIELDS:
            cols[f] = dist if f == "dist_to_place_m" else result[f]
        if wgs84_columns:
            cols.update(xy)
    hits: pd.DataFrame = (
        gpd.GeoDataFrame(cols, geometry=geom.array, crs=result.crs, copy=False)
        if spatial
        else pd.DataFrame(cols, copy=False)
    )
    if wide:
        return {"query": hits}
    fields = [f for f in ZONE_FIELDS if f != "dist_to_place_m"]
    zone_codes = result["zone_id"].cat.codes.to_numpy()
    first = np.unique(zone_codes[zone_codes >= 0], return_index=True)[1]
    rows = np.flatnonzero(zone_codes >= 0)[first] if len(first) else np.empty(0, np.int64)
    zones = pd.DataFrame({f: result[f].iloc[rows].reset_index(drop=True) for f in fields})
    zones = zones.sort_values("zone_id", key=lambda s: s.astype(str), kind="stable").reset_index(drop=True)
    return {"query": hits, "zones": zones}


# --------------------------------------------------------------------------------------------
# Typed columns → Arrow
# --------------------------------------------------------------------------------------------


def _arrow_column(s: pd.Series, *, decode: bool) -> pa.Array:
    """One column as Arrow without Python objects: categoricals as dictionaries (or decoded to
    plain strings for writers that need them), ``in_zone``-style booleans as ``True``/``False``
    text (as pandas writes them), NaN as null."""
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy()
        cats = s.cat.categories
        values = pa.array(cats.to_numpy(dtype=object) if cats.dtype == object else cats, type=pa.string())
        arr = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), values)
        return arr.dictionary_decode() if decode else arr
    if pd.api.types.is_bool_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        codes = s.to_numpy().astype(np.int8)
        arr = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(["False", "True"]))
        return arr.dictionary_decode() if decode else arr
    if isinstance(dtype, pd.StringDtype):
        return pa.array(s, type=pa.large_string(), from_pandas=True)
    if pd.api.types.is_object_dtype(dtype):
        try:
            return pa.array(s, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed cells (XLSX): all as text
            return pa.array(s.astype("str"), type=pa.large_string(), from_pandas=True)
    return pa.array(s, from_pandas=True)


#: A text cell a spreadsheet would run as a formula (see :data:`geo._io.FORMULA_STARTS`).
_FORMULA_RE = "^[" + "".join("\\" + c if c in "-\\]^" else c for c in FORMULA_STARTS) + "]"


def _neutralise(arr: pa.Array) -> pa.Array:
    """Text cells that start like a formula, prefixed with ``'`` (as :func:`geo._io.neutralise_cell`
    does cell by cell), in Arrow compute: for a dictionary only its values are looked at."""
    import pyarrow.compute as pc

    if pa.types.is_dictionary(arr.type):
        values = _neutralise(arr.dictionary)
        return pa.DictionaryArray.from_arrays(arr.indices, values) if values is not arr.dictionary else arr
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return arr
    hit = pc.match_substring_regex(arr, _FORMULA_RE)
    if not pc.any(hit).as_py():
        return arr
    quote, empty = pa.scalar("'", arr.type), pa.scalar("", arr.type)
    return pc.if_else(hit, pc.binary_join_element_wise(quote, arr, empty), arr)


def to_arrow(frame: pd.DataFrame, *, decode: bool = False, neutralise: bool = False) -> pa.Table:
    """The frame's non-geometry columns as an Arrow table (see :func:`_arrow_column`);
    ``neutralise`` prefixes formula-like text cells and names for spreadsheet formats (CSV)."""
    geo = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    names = [str(c) for c in frame.columns if c != geo]
    columns = [_arrow_column(frame[c], decode=decode) for c in names]
    if neutralise:
        columns = [_neutralise(c) for c in columns]
        names = [neutralise_cell(n) for n in names]
    return pa.table(columns, names=names)


# --------------------------------------------------------------------------------------------
# Writers (each atomic: a temporary file renamed over the target)
# --------------------------------------------------------------------------------------------


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """UTF-8 CSV with BOM (Excel reads the Chinese), geometry dropped; empty cells for none;
    text that a spreadsheet would run as a formula is prefixed with ``'``."""
    import pyarrow.csv as pcsv

    table = to_arrow(frame, neutralise=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write("\ufeff".encode())
        pcsv.write_csv(table, f, pcsv.WriteOptions(quoting_style="needed"))
    return Path(path)


def write_gpkg(layers: dict[str, pd.DataFrame], path: str | Path, date: dt.date) -> Path:
    """A GeoPackage, one layer per frame (a plain DataFrame becomes an attribute table),
    written through Arrow, its metadata dated ``date`` so the same result gives the same bytes."""
    import pyogrio

    from .files import gdal_options

    stamp = f"{date.isoformat()}T00:00:00.000Z"
    with gdal_options(OGR_CURRENT_DATE=stamp), atomic_path(path, suffix=".gpkg") as tmp:
        for name, frame in layers.items():
            table = to_arrow(frame, decode=True)
            if isinstance(frame, gpd.GeoDataFrame):
                wkb = pa.array(frame.geometry.to_wkb(), type=pa.binary())
                table = table.append_column("geometry", wkb)
                pyogrio.write_arrow(
                    table,
                    tmp,
                    layer=name,
                    driver="GPKG",
                    geometry_name="geometry",
                    geometry_type="Point",
                    crs=frame.crs.to_string() if frame.crs is not None else "EPSG:4326",
                    append=tmp.exists(),
                )
            else:
                pyogrio.write_arrow(table, tmp, layer=name, driver="GPKG", append=tmp.exists())
    return Path(path)


def write_parquet(layers: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """GeoParquet of the first (hits) table; further tables beside it as
    ``<stem>.<name>.parquet``."""
    import pyarrow.parquet as pq

    target = Path(path)
    items = list(layers.items())
    for i, (name, frame) in enumerate(items):
        out = target if i == 0 else target.with_name(f"{target.stem}.{name}.parquet")
        with atomic_path(out) as tmp:
            if isinstance(frame, gpd.GeoDataFrame):
                frame.to_parquet(tmp, index=False)
            else:
                pq.write_table(to_arrow(frame), tmp)
    return target


def companion_path(path: str | Path, name: str) -> Path:
    """``result.csv`` → ``result.<name>.csv``: where a CSV result's lookup table goes."""
    p = Path(path)
    return p.with_name(f"{p.stem}.{name}{p.suffix}")
