"""Ledger figures at a date, computed in SQL (the same text on GeoPackage and PostGIS).

Definitions at the as-of day D (cases reported on or before D):

* received — cases reported;
* closed — status 已结案/已销号 with a closing day on or before D (or no closing time given);
* closed on time — closed on or before its deadline;
* open — not closed at D;
* open and overdue — open with a deadline before D;
* 结案率 = closed / received;
* 按期结案率 = closed on time / cases due (closed, or open past their deadline), as 应结案数;
* mean days to close — mean of (closing day − report day) over closed cases with a closing time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from .cases import CLOSED_STATUSES, STATUS_LABELS
from .store import Store

__all__ = ["EXPORT_COLUMNS", "as_of_day", "export_frame", "overdue_cases", "summary", "write_report"]

#: Columns of ``geo cases export`` (first the issue's list, then the rest of the case).
EXPORT_COLUMNS = [
    "case_id", "status", "reported_at", "deadline", "closed_at", "overdue", "days_overdue",
    "grid_code", "street", "street_chief", "rule_ids", "restrictions", "units", "assigned_by",
    "category", "description", "address", "located_by", "location_note", "lon", "lat",
]  # fmt: skip

MEASURES = ["received", "closed", "closed_on_time", "open", "open_overdue", "mean_days_to_close"]
CN_HEADERS = {
    "unit": "责任单位",
    "grid_code": "网格编码",
    "received": "受理数",
    "closed": "结案数",
    "closed_on_time": "按期结案数",
    "open": "未结案数",
    "open_overdue": "超期未结案数",
    "close_rate": "结案率",
    "on_time_rate": "按期结案率",
    "mean_days_to_close": "平均结案天数",
}


def as_of_day(date: dt.date | str | None) -> int:
    """Days since 1970-01-01 of the as-of date (default today)."""
    if date is None:
        d = dt.date.today()
    elif isinstance(date, dt.date):
        d = date
    else:
        d = dt.date.fromisoformat(str(date).strip())
    return (d - dt.date(1970, 1, 1)).days


def _closed_expr(d: int) -> str:
    statuses = ", ".join(f"'{s}'" for s in CLOSED_STATUSES)
    return f"(c.status IN ({statuses}) AND (c.closed_day IS NULL OR c.closed_day <= {int(d)}))"


def _select(d: int) -> str:
    closed = _closed_expr(d)
    return f"""
        COUNT(*) AS received,
        SUM(CASE WHEN {closed} THEN 1 ELSE 0 END) AS closed,
        SUM(CASE WHEN {closed} AND c.closed_day <= c.deadline_day THEN 1 ELSE 0 END) AS closed_on_time,
        SUM(CASE WHEN NOT {closed} THEN 1 ELSE 0 END) AS open,
        SUM(CASE WHEN NOT {closed} AND c.deadline_day < {int(d)} THEN 1 ELSE 0 END) AS open_overdue,
        AVG(CASE WHEN {closed} THEN c.closed_day - c.reported_day END) AS mean_days_to_close
    """


def summary(store: Store, by: str, date: dt.date | str | None = None) -> pd.DataFrame:
    """Measures per unit (``by='unit'``) or per grid cell (``by='grid_code'``) at the date.

    Returns
    -------
    DataFrame
        ``unit|grid_code, received, closed, closed_on_time, open, open_overdue,
        mean_days_to_close, close_rate, on_time_rate``; a case with several units counts for
        each; cases with no unit / outside every cell are grouped under ``(未分配)``.
    """
    d = as_of_day(date)
    if by == "unit":
        sql = (
            f"SELECT COALESCE(u.unit, '(未分配)') AS unit, {_select(d)} FROM cases c "
            f"LEFT JOIN case_units u ON u.case_id = c.case_id WHERE c.reported_day <= {d} "
            "GROUP BY COALESCE(u.unit, '(未分配)') ORDER BY 1"
        )
    elif by == "grid_code":
        sql = (
            f"SELECT COALESCE(c.grid_code, '(未分配)') AS grid_code, {_select(d)} FROM cases c "
            f"WHERE c.reported_day <= {d} GROUP BY COALESCE(c.grid_code, '(未分配)') ORDER BY 1"
        )
    else:
        raise ValueError(f"by must be 'unit' or 'grid_code', got {by!r}")
    df = store.frame(sql)
    for c in MEASURES[:-1]:
        df[c] = pd.to_numeric(df[c]).fillna(0).astype(np.int64)
    df["mean_days_to_close"] = pd.to_numeric(df["mean_days_to_close"], errors="coerce").astype(float).round(2)
    due = df["closed"] + df["open_overdue"]
    df["close_rate"] = (df["closed"] / df["received"].where(df["received"] > 0)).round(4)
    df["on_time_rate"] = (df["closed_on_time"] / due.where(due > 0)).round(4)
    return df


def overdue_cases(store: Store, date: dt.date | str | None = None) -> pd.DataFrame:
    """Cases open at the date and past their deadline, most overdue first."""
    d = as_of_day(date)
    sql = (
        "SELECT c.case_id, c.status, c.reported_at, c.deadline, "
        f"{d} - c.deadline_day AS days_overdue, c.grid_code, c.street, c.street_chief, c.units, "
        "c.assigned_by, c.category, c.description, c.address "
        f"FROM cases c WHERE c.reported_day <= {d} AND NOT {_closed_expr(d)} AND c.deadline_day < {d} "
        "ORDER BY days_overdue DESC, c.case_id"
    )
    df = store.frame(sql)
    df["status"] = df["status"].map(STATUS_LABELS).fillna(df["status"])
    return df


def export_frame(store: Store, date: dt.date | str | None = None):
    """Every case with ``overdue`` and ``days_overdue`` judged at the date, as a GeoDataFrame."""
    import geopandas as gpd
    import shapely

    d = as_of_day(date)
    closed = _closed_expr(d)
    sql = (
        "SELECT c.*, "
        f"CASE WHEN NOT {closed} AND c.deadline_day < {d} THEN 1 ELSE 0 END AS overdue, "
        f"CASE WHEN NOT {closed} AND c.deadline_day < {d} THEN {d} - c.deadline_day END AS days_overdue, "
        f"CASE WHEN {closed} THEN 1 ELSE 0 END AS closed_now "
        "FROM cases c ORDER BY c.case_id"
    )
    df = store.frame(sql)
    df["overdue"] = pd.to_numeric(df["overdue"]).astype(bool)
    df["closed_now"] = pd.to_numeric(df["closed_now"]).astype(bool)
    df["days_overdue"] = pd.to_numeric(df["days_overdue"], errors="coerce").astype("Int64")
    df = df.drop(columns=[c for c in ("geom", "fid") if c in df.columns])
    lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy(dtype=float)
    geoms = np.where(np.isfinite(lon), shapely.points(np.nan_to_num(lon), np.nan_to_num(lat)), None)
    return gpd.GeoDataFrame(df, geometry=list(geoms), crs=4326)


def write_report(store: Store, path: str | Path, date: dt.date | str | None = None) -> list[Path]:
    """Write per-unit and per-grid tables and the overdue list.

    ``.xlsx``: one workbook, sheets 按单位 / 按网格 / 超期案件. ``.csv``: ``FILE`` holds both tables
    (a ``level`` column says which), ``FILE_overdue.csv`` the overdue list (UTF-8 with BOM so
    Excel shows Chinese). Files are replaced atomically.
    """
    from .._io import atomic_path

    p = Path(path)
    units = summary(store, "unit", date).rename(columns=CN_HEADERS)
    grids = summary(store, "grid_code", date).rename(columns=CN_HEADERS)
    over = overdue_cases(store, date)
    if p.suffix.lower() == ".xlsx":
        with atomic_path(p) as tmp, pd.ExcelWriter(tmp, engine="openpyxl") as xw:
            units.to_excel(xw, sheet_name="按单位", index=False)
            grids.to_excel(xw, sheet_name="按网格", index=False)
            over.to_excel(xw, sheet_name="超期案件", index=False)
        return [p]
    if p.suffix.lower() == ".csv":
        both = pd.concat(
            [units.assign(level="unit").rename(columns={"责任单位": "key"}),
             grids.assign(level="grid").rename(columns={"网格编码": "key"})],
            ignore_index=True,
        )  # fmt: skip
        both = both[["level", "key", *[c for c in both.columns if c not in ("level", "key")]]]
        with atomic_path(p) as tmp:
            both.to_csv(tmp, index=False, encoding="utf-8-sig")
        q = p.with_name(p.stem + "_overdue.csv")
        with atomic_path(q) as tmp:
            over.to_csv(tmp, index=False, encoding="utf-8-sig")
        return [p, q]
    from ..errors import InputError

    raise InputError.single("--out", f"expected a .xlsx or .csv file, got {str(p)!r}")


def write_export(gdf, path: str | Path, date: dt.date | str | None = None) -> Path:
    """Write the export (:func:`export_frame` columns) as CSV, XLSX, GeoPackage or GeoJSON, atomically."""
    from ..errors import InputError
    from ..publish.files import write_csv, write_geojson, write_gpkg, write_xlsx

    p = Path(path)
    suffix = p.suffix.lower()
    when = dt.date(1970, 1, 1) + dt.timedelta(days=as_of_day(date))
    table = pd.DataFrame(gdf.drop(columns="geometry"))
    for c in ("lon", "lat"):  # the flat writers print floats short; degrees need 6 decimals (~0.1 m)
        v = pd.to_numeric(table[c], errors="coerce")
        table[c] = v.map(lambda x: None if pd.isna(x) else f"{x:.6f}")
    if suffix == ".csv":
        return write_csv(table, p)
    if suffix == ".xlsx":
        return write_xlsx({"问题台账": table}, p, when, title="问题台账")
    layer = gdf.assign(overdue=gdf["overdue"].astype(int), days_overdue=gdf["days_overdue"].astype(float))
    placed = layer[layer.geometry.notna()]
    if suffix == ".gpkg":
        return write_gpkg({"cases": layer}, p, when)
    if suffix == ".geojson":
        return write_geojson(placed, p, "cases")
    raise InputError.single("--out", f"expected .csv, .xlsx, .gpkg or .geojson, got {str(p)!r}")
