"""Layers: GeoDataFrames with the standard columns every feature the toolkit writes carries.

Standard columns (DESIGN.md, "Layers: standard columns"), geometry in EPSG:4326:

``id, name, kind, plan_id, phase_id, batch, units`` and provenance
``source, source_ref, accuracy_m, matched_by``.

Multi-valued fields (several phases or units) are joined with ``;`` so that every flat format
(CSV, Shapefile, GeoPackage) holds them the same way; :func:`split` reads them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import pandas as pd

WGS84 = "EPSG:4326"

#: The standard columns, in order, with their pandas dtypes.
STANDARD_COLUMNS: dict[str, str] = {
    "id": "string",
    "name": "string",
    "kind": "string",
    "plan_id": "string",
    "phase_id": "string",
    "batch": "Int64",
    "units": "string",
    "source": "string",
    "source_ref": "string",
    "accuracy_m": "float64",
    "matched_by": "string",
}

#: Allowed provenance values.
SOURCES = ("osm", "gazetteer", "schematic", "user")
MATCHED_BY = ("exact", "normalized", "directional", "locator", "fuzzy", "kind")

SEP = ";"


def join(values: Iterable[Any] | None) -> str:
    """Join several values into one flat-file field (``a;b``); empty for none."""
    if values is None:
        return ""
    if isinstance(values, str):
        return values
    return SEP.join(str(v) for v in values if v is not None and str(v) != "")


def split(value: Any) -> list[str]:
    """Inverse of :func:`join`."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return []
    return [v for v in str(value).split(SEP) if v]


def make_layer(
    records: Sequence[Mapping[str, Any]] | pd.DataFrame,
    *,
    geometry: Sequence[Any] | None = None,
    extra: Sequence[str] = (),
) -> gpd.GeoDataFrame:
    """Build a layer with the standard columns (missing ones filled empty) in EPSG:4326.

    Parameters
    ----------
    records : sequence of mappings or DataFrame
        One mapping per feature. List values of ``phase_id`` / ``units`` are joined with ``;``.
        A ``geometry`` key is used unless ``geometry`` is passed.
    geometry : sequence of shapely geometries, optional
        Geometries in WGS84 (lon, lat).
    extra : sequence of str
        Further columns to keep after the standard ones, in this order. Other keys are kept
        too, after these.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    df = pd.DataFrame(list(records)) if not isinstance(records, pd.DataFrame) else records.copy()
    if geometry is None:
        geometry = df.pop("geometry") if "geometry" in df else [None] * len(df)
    elif "geometry" in df:
        df = df.drop(columns="geometry")
    for col in ("phase_id", "units"):
        if col in df:
            df[col] = [join(v) if isinstance(v, (list, tuple)) else v for v in df[col]]
    for col, dtype in STANDARD_COLUMNS.items():
        if col not in df:
            df[col] = float("nan") if dtype == "float64" else pd.NA
        elif dtype == "float64":
            df[col] = pd.to_numeric(df[col], errors="coerce")  # NA/None → NaN
        df[col] = df[col].astype(dtype)
    for c in extra:
        if c not in df:
            df[c] = pd.NA  # an empty layer still has every column its writers expect
    rest = [c for c in extra if c not in STANDARD_COLUMNS]
    others = [c for c in df.columns if c not in STANDARD_COLUMNS and c not in rest]
    df = df[list(STANDARD_COLUMNS) + rest + others]
    return gpd.GeoDataFrame(df, geometry=list(geometry), crs=WGS84)


def empty_layer(extra: Sequence[str] = ()) -> gpd.GeoDataFrame:
    """An empty layer with the standard columns."""
    return make_layer([], geometry=[], extra=extra)
