"""Case files in: read, check row by row, place, assign, upsert into the ledger in one transaction.

A case export from a 数字城管 platform (CSV in UTF-8/BOM/GBK, XLSX, GeoJSON) with Chinese or
English column names. Rows that cannot be taken are reported as ``file:line: [field] …`` and
skipped; the rest is imported. Every insert or change writes a ``case_events`` row; a row equal
to what the ledger holds changes nothing, so importing the same file twice is a no-op.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from ..errors import InputError, Problem
from .store import Store, object_column, whole_floats_as_ints

__all__ = [
    "CLOSED_STATUSES",
    "STATUS_LABELS",
    "ImportResult",
    "import_cases",
    "read_cases",
]

#: Column aliases (folded: NFKC, lower case) → canonical name.
ALIASES = {
    "case_id": ("案件编号", "案件号", "编号", "case_id", "caseid", "id"),
    "reported_at": ("上报时间", "发现时间", "立案时间", "reported_at", "reported"),
    "category": ("问题类型", "案件类型", "问题类别", "类型", "category"),
    "description": ("问题描述", "案件描述", "描述", "description"),
    "lon": ("经度", "lon", "lng", "longitude"),
    "lat": ("纬度", "lat", "latitude"),
    "gcj_lon": ("高德经度", "gcj_lon", "gcj02_lon"),
    "gcj_lat": ("高德纬度", "gcj_lat", "gcj02_lat"),
    "address": ("地址", "问题地址", "发生地点", "address"),
    "status": ("状态", "案件状态", "status"),
    "deadline": ("处置时限", "截止时间", "办结时限", "deadline"),
    "limit_days": ("时限(天)", "处置时限(天)", "时限天数", "limit_days"),
    "closed_at": ("结案时间", "办结时间", "closed_at"),
    "unit": ("责任单位", "处置单位", "unit", "units"),
}

#: Status words → canonical status. 销号 is a case closed and struck off the list after checking.
STATUS_WORDS = {
    "open": ("open", "new", "待处置", "未处置", "待受理", "已受理", "立案", "已立案", "新建", "待办"),
    "in_progress": ("in_progress", "处置中", "办理中", "整改中", "处理中"),
    "closed": ("closed", "已处置", "已结案", "结案", "办结", "已办结", "已完成"),
    "struck_off": ("struck_off", "销号", "已销号"),
}
#: Chinese labels of the canonical statuses (map and report text).
STATUS_LABELS = {"open": "待处置", "in_progress": "处置中", "closed": "已结案", "struck_off": "已销号"}
#: Statuses that end a case.
CLOSED_STATUSES = ("closed", "struck_off")

# Fields compared on re-import: a change in any of them is an update with an event.
TRACKED = [
    "reported_at", "category", "description", "address", "lon", "lat", "located_by", "location_note",
    "status", "deadline", "limit_days", "closed_at", "unit_given", "grid_code", "street",
    "street_chief", "rule_ids", "restrictions", "rule_units", "units", "assigned_by",
]  # fmt: skip


def fold_key(s: str) -> str:
    from ..tables import fold_key as fold

    return fold(s)


_ALIAS_INDEX = {fold_key(a): canon for canon, names in ALIASES.items() for a in names}
_STATUS_INDEX = {fold_key(w): canon for canon, words in STATUS_WORDS.items() for w in words}


@dataclass
class CaseTable:
    """Checked rows of one file, ready to place and assign.

    Attributes
    ----------
    frame : DataFrame
        One row per good case: canonical columns (text normalised, day numbers), ``source_row``.
    problems : list of Problem
        One per skipped row.
    source : str
    """

    frame: pd.DataFrame
    problems: list[Problem]
    source: str


@dataclass
class ImportResult:
    """What one import did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    unresolved: int = 0
    problems: list[Problem] = field(default_factory=list)
    schematic: bool = False


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _raw_table(path: Path, source: str) -> tuple[pd.DataFrame, list[int], list[Problem]]:
    """All columns as objects with each row's line (CSV line, XLSX row, feature number)."""
    # The point reader's tables: the gazetteer's decoding (BOM, UTF-8, GBK/GB18030) and row numbers.
    from ..tables import csv_table, vector_table, xlsx_table

    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return csv_table(path, source)
    if suffix in (".xlsx", ".xlsm"):
        table, lines = xlsx_table(path, source)
        return table, lines, []
    if suffix in (".geojson", ".json", ".gpkg"):
        gdf, lines = vector_table(path, source, None)
        if gdf.crs is not None and not gdf.crs.is_geographic:
            gdf = gdf.to_crs(4326)
        geoms = np.asarray(gdf.geometry.array, dtype=object)
        point = shapely.get_type_id(geoms) == 0
        table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(object)
        table["lon"] = np.where(point, shapely.get_x(np.where(point, geoms, None)), np.nan)
        table["lat"] = np.where(point, shapely.get_y(np.where(point, geoms, None)), np.nan)
        return table, lines, []
    raise InputError.single(
        source, f"unsupported file type {path.suffix!r}; expected .csv, .xlsx, .geojson or .gpkg"
    )


def _canonical_columns(table: pd.DataFrame, source: str) -> pd.DataFrame:
    rename: dict[str, str] = {}
    seen: dict[str, str] = {}
    for col in table.columns:
        canon = _ALIAS_INDEX.get(fold_key(str(col)))
        if canon is None:
            continue
        if canon in seen and seen[canon] != col:
            raise InputError.single(
                source, f"columns {seen[canon]!r} and {col!r} both mean {canon!r}; keep only one", line=1
            )
        seen[canon] = col
        rename[col] = canon
    out = table[list(rename)].rename(columns=rename)
    if "case_id" not in out.columns:
        raise InputError.single(
            source,
            "missing the case id column (案件编号 or case_id); columns found: "
            + ", ".join(map(str, table.columns)),
            line=1,
            field="case_id",
        )
    if "reported_at" not in out.columns:
        raise InputError.single(
            source, "missing the report time column (上报时间 or reported_at)", line=1, field="reported_at"
        )
    has_xy = {"lon", "lat"} <= set(out.columns) or {"gcj_lon", "gcj_lat"} <= set(out.columns)
    if not has_xy and "address" not in out.columns:
        raise InputError.single(
            source,
            "no location columns: expected 经度/纬度 (lon/lat) or 地址 (address)",
            line=1,
            field="lon",
        )
    return out


def _text(col: pd.Series) -> pd.Series:
    """Stripped text with blanks as None (XLSX numbers like 12.0 back to '12')."""
    from ..tables import cell_text

    if col.dtype == object and len(col):
        # Plain strings in one vectorised pass; other cell types one by one (they are few).
        is_str = col.map(type).eq(str).to_numpy()
        out = pd.Series(np.full(len(col), None, dtype=object), index=col.index)
        s = col[is_str].str.strip()
        out[is_str] = s.where(s != "", None)
        if (~is_str).any():
            other = col[~is_str].map(cell_text)
            out[~is_str] = other.where(other != "", None)
        return out
    s = col.map(cell_text)
    return s.where(s != "", None)


def _parse_times(col: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(Timestamps, bad mask) of a text/date column; blanks are NaT and not bad."""
    blank = col.isna().to_numpy()
    s = col.astype(object).where(~blank, None)
    text = s.map(lambda v: v if isinstance(v, str) else (v.isoformat() if hasattr(v, "isoformat") else v))
    t = pd.to_datetime(text, errors="coerce", format="ISO8601")
    retry = t.isna().to_numpy() & ~blank
    if retry.any():  # hand-typed forms (2024/5/1, 2024年5月1日, 20240501): the few left, one by one
        from ..tables import lenient_date

        t = t.astype("datetime64[ns]").copy()
        for i in np.flatnonzero(retry):
            v = lenient_date(text.iloc[i])
            if v is not None:
                t.iloc[i] = v
    t = pd.to_datetime(t, errors="coerce")
    return t, t.isna().to_numpy() & ~blank


def _days(t: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 as float (NaN for NaT)."""
    out = np.full(len(t), np.nan)
    ok = t.notna().to_numpy()
    out[ok] = t[ok].to_numpy().astype("datetime64[D]").astype(np.int64)
    return out


def read_cases(path: str | Path, *, crs: str = "wgs84") -> CaseTable:
    """Read and check one case file.

    Parameters
    ----------
    path : str or Path
        CSV (UTF-8, UTF-8 with BOM, GBK/GB18030), XLSX (first sheet), GeoJSON or GeoPackage points.
    crs : {"wgs84", "gcj02", "bd09"}
        System of the lon/lat columns (Amap/Tencent give GCJ-02, Baidu BD-09); converted to WGS84.

    Returns
    -------
    CaseTable
        Good rows and one Problem per bad row (skipped).

    Raises
    ------
    InputError
        When the file cannot be read at all or lacks the required columns.
    """
    from ..crs import check_lonlat, norm_crs, to_wgs84
    from ..tables import cell_number

    p = Path(path)
    source = str(path)
    if not p.is_file():
        raise InputError.single(source, "file not found; expected a CSV, XLSX or GeoJSON case file")
    try:
        crs_name = norm_crs(crs)
    except ValueError as e:
        raise InputError.single("--crs", str(e)) from None
    raw, lines, problems = _raw_table(p, source)
    t = _canonical_columns(raw, source)
    n = len(t)
    line = np.asarray(lines, dtype=np.int64)
    bad = np.zeros(n, dtype=bool)

    def flag(mask: np.ndarray, fld: str, message) -> None:
        for i in np.flatnonzero(mask & ~bad):
            problems.append(Problem(source, message(i), line=int(line[i]), field=fld))
        bad[:] |= mask

    out = pd.DataFrame(index=range(n))
    for c in ("case_id", "category", "description", "address", "unit"):
        out[c] = _text(t[c]).to_numpy() if c in t.columns else None
    flag(out["case_id"].isna().to_numpy(), "case_id", lambda i: "case id is empty; expected 案件编号")
    dup = out["case_id"].duplicated(keep="first").to_numpy() & out["case_id"].notna().to_numpy()
    if dup.any():
        first = {v: int(line[i]) for i, v in enumerate(out["case_id"]) if v is not None and not dup[i]}
        flag(
            dup,
            "case_id",
            lambda i: (
                f"case id {out['case_id'].iloc[i]!r} repeats line {first.get(out['case_id'].iloc[i])}; "
                "expected one row per case"
            ),
        )

    # Status
    status_text = _text(t["status"]) if "status" in t.columns else pd.Series([None] * n)
    codes, uniq = pd.factorize(status_text, use_na_sentinel=True)  # a handful of distinct words
    lookup = np.array([_STATUS_INDEX.get(fold_key(v)) for v in uniq] + ["open"], dtype=object)
    canon = pd.Series(lookup[codes], dtype=object)  # code -1 (blank) → the last entry, "open"
    words = "、".join(w for ws in STATUS_WORDS.values() for w in ws[1:4])
    flag(
        canon.isna().to_numpy(),
        "status",
        lambda i: (
            f"unknown status {status_text.iloc[i]!r}; expected one of {words} "
            "(or open/in_progress/closed/struck_off)"
        ),
    )
    out["status"] = canon.to_numpy()

    # Dates
    rep, _ = _parse_times(_text(t["reported_at"]))
    flag(
        rep.isna().to_numpy(),
        "reported_at",
        lambda i: f"report time {t['reported_at'].iloc[i]!r} is not a date; expected YYYY-MM-DD [HH:MM]",
    )
    out["reported_at"] = rep.dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy()
    out["reported_day"] = _days(rep)
    out["deadline"] = None
    out["deadline_day"] = np.nan
    out["limit_days"] = np.nan
    if "limit_days" in t.columns:
        ld_text = _text(t["limit_days"])
        ld = pd.to_numeric(ld_text, errors="coerce").to_numpy(dtype=float)
        ld_bad = ld_text.notna().to_numpy() & ~(np.isfinite(ld) & (ld >= 0) & (np.mod(ld, 1) == 0))
        flag(
            ld_bad,
            "limit_days",
            lambda i: f"time limit {ld_text.iloc[i]!r} is not a whole number of days; expected e.g. 3",
        )
        ok = ~ld_bad & np.isfinite(ld)
        out.loc[ok, "limit_days"] = ld[ok]
        out.loc[ok, "deadline_day"] = out["reported_day"].to_numpy()[ok] + ld[ok]
    if "deadline" in t.columns:
        dl, dl_bad = _parse_times(_text(t["deadline"]))
        flag(
            dl_bad,
            "deadline",
            lambda i: f"deadline {t['deadline'].iloc[i]!r} is not a date; expected YYYY-MM-DD",
        )
        given = dl.notna().to_numpy()
        out.loc[given, "deadline_day"] = _days(dl)[given]
    has_dl = np.isfinite(out["deadline_day"].to_numpy(dtype=float))
    dl_dates = pd.to_datetime(np.where(has_dl, out["deadline_day"].fillna(0), 0).astype("int64"), unit="D")
    out["deadline"] = np.where(has_dl, dl_dates.strftime("%Y-%m-%d"), None)
    out["closed_at"] = None
    out["closed_day"] = np.nan
    if "closed_at" in t.columns:
        cl, cl_bad = _parse_times(_text(t["closed_at"]))
        flag(
            cl_bad,
            "closed_at",
            lambda i: f"closing time {t['closed_at'].iloc[i]!r} is not a date; expected YYYY-MM-DD [HH:MM]",
        )
        early = (cl < rep).to_numpy() & cl.notna().to_numpy()
        flag(
            early,
            "closed_at",
            lambda i: "closed before it was reported; expected a closing time after 上报时间",
        )
        out["closed_at"] = np.where(cl.notna(), cl.dt.strftime("%Y-%m-%d %H:%M:%S"), None)
        out["closed_day"] = _days(cl)

    # Coordinates
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    xy_cols = None
    if {"gcj_lon", "gcj_lat"} <= set(t.columns):
        if crs_name != "gcj02":
            raise InputError.single(
                source,
                "the coordinates are Amap/GCJ-02 (高德经度/高德纬度); expected --crs gcj02",
                line=1,
                field="gcj_lon",
            )
        xy_cols = ("gcj_lon", "gcj_lat")
    elif {"lon", "lat"} <= set(t.columns):
        xy_cols = ("lon", "lat")
    has_xy = np.zeros(n, dtype=bool)
    if xy_cols is not None:
        for col, arr in zip(xy_cols, (lon, lat), strict=True):
            values = t[col]
            fast = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
            arr[:] = fast
            not_number = np.zeros(n, dtype=bool)
            for i in np.flatnonzero(np.isnan(fast)):  # full-width digits, blanks: the few left
                num = cell_number(values.iloc[i])
                if num is None:
                    not_number[i] = True
                else:
                    arr[i] = num
            flag(
                not_number,
                col,
                lambda i, c=col: (
                    f"{c} {str(t[c].iloc[i]).strip()!r} is not a number; expected decimal degrees"
                ),
            )
        given = np.isfinite(lon) | np.isfinite(lat)
        has_xy = given & ~bad
        if has_xy.any():
            try:
                check_lonlat(lon[has_xy], lat[has_xy], source=source, rows=line[has_xy])
            except InputError as e:
                for pr in e.problems:
                    pr.field = pr.field or "lon/lat"
                problems.extend(e.problems)
                bad |= np.isin(line, [pr.line for pr in e.problems])
        has_xy = given & ~bad
        if has_xy.any():
            x, y = to_wgs84(lon[has_xy], lat[has_xy], crs_name)
            lon[has_xy], lat[has_xy] = x, y
    no_where = ~has_xy & out["address"].isna().to_numpy()
    flag(no_where, "lon", lambda i: "no coordinates and no address; expected 经度/纬度 or 地址")
    out["lon"] = np.where(has_xy, lon, np.nan)
    out["lat"] = np.where(has_xy, lat, np.nan)
    out["located_by"] = np.where(has_xy, "coordinates", "address")
    out["location_source"] = np.where(has_xy, crs_name, None)
    out["location_note"] = None
    out["source_row"] = line
    out["source_file"] = Path(source).name
    keep = ~bad
    problems.sort(key=lambda pr: pr.line or 0)
    frame = out.loc[keep].reset_index(drop=True)
    frame = frame.rename(columns={"unit": "unit_given"})
    return CaseTable(frame=frame, problems=problems, source=source)


# --------------------------------------------------------------------------------------------
# Placing addresses
# --------------------------------------------------------------------------------------------


def place_addresses(frame: pd.DataFrame, sources) -> None:
    """Resolve the ``address`` of rows without coordinates, in place.

    Each distinct address is resolved once with the plan places' resolver (gazetteer → OSM →
    schematic); a street or area stands for its centre. Unresolvable addresses stay without
    coordinates, ``located_by = 'unresolved'`` and the reason in ``location_note``.
    """
    import geopandas as gpd

    from ..resolve import Unresolved, resolve_one

    todo = frame["located_by"].eq("address").to_numpy()
    if not todo.any():
        return
    addrs = pd.unique(frame.loc[todo, "address"])
    found: dict[str, tuple[float, float, str]] = {}
    reasons: dict[str, str] = {}
    for a in addrs:
        if sources is None:
            reasons[a] = "no place sources (give --plan, --region, --gazetteer or --osm)"
            continue
        try:
            m = resolve_one(a, sources)
        except Unresolved as u:
            near = f"; closest: {'、'.join(u.candidates)}" if u.candidates else ""
            reasons[a] = f"{u.reason}{near}"
            continue
        pt = m.geometry if m.geometry.geom_type == "Point" else m.geometry.point_on_surface()
        if m.geometry.geom_type in ("LineString", "MultiLineString"):
            pt = shapely.line_interpolate_point(shapely.line_merge(m.geometry), 0.5, normalized=True)
            if pt.is_empty:
                pt = m.geometry.representative_point()
        g = gpd.GeoSeries([pt], crs=sources.epsg).to_crs(4326).iloc[0]
        found[a] = (g.x, g.y, m.source)
    idx = np.flatnonzero(todo)
    a = frame["address"].to_numpy()[idx]
    hit = np.array([v in found for v in a], dtype=bool)
    frame.loc[idx[hit], "lon"] = [found[v][0] for v in a[hit]]
    frame.loc[idx[hit], "lat"] = [found[v][1] for v in a[hit]]
    frame.loc[idx[hit], "location_source"] = [found[v][2] for v in a[hit]]
    frame.loc[idx[~hit], "located_by"] = "unresolved"
    frame.loc[idx[~hit], "location_note"] = [reasons[v] for v in a[~hit]]


# --------------------------------------------------------------------------------------------
# Upsert
# --------------------------------------------------------------------------------------------


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise equality with None == None and floats compared to 1e-9."""
    an, bn = a.isna().to_numpy(), b.isna().to_numpy()
    if a.dtype.kind in "fi" or b.dtype.kind in "fi":
        av = pd.to_numeric(a, errors="coerce").to_numpy(dtype=float)
        bv = pd.to_numeric(b, errors="coerce").to_numpy(dtype=float)
        eq = np.abs(np.nan_to_num(av) - np.nan_to_num(bv)) <= 1e-9
    else:
        eq = a.astype(str).to_numpy() == b.astype(str).to_numpy()
    return (an & bn) | (~an & ~bn & eq)


def upsert(store: Store, frame: pd.DataFrame, now: str) -> tuple[int, int, int]:
    """Insert new cases, update changed ones (with events), leave equal ones alone.

    Must run inside :meth:`Store.transaction`. Returns (created, updated, unchanged).
    """
    from .store import CASE_COLUMNS

    ids = frame["case_id"].tolist()
    existing = _existing(store, ids)
    is_new = ~frame["case_id"].isin(existing["case_id"]).to_numpy()
    cols = [c for c in CASE_COLUMNS if c != "updated_at"]
    for c in cols:
        if c not in frame.columns:
            frame[c] = None
    frame = frame[cols].copy()
    frame["updated_at"] = now
    new = frame[is_new]
    geoms_new = shapely.points(new["lon"].to_numpy(dtype=float), new["lat"].to_numpy(dtype=float))
    geoms_new = np.where(np.isfinite(new["lon"].to_numpy(dtype=float)), geoms_new, None)
    store.insert_frame("cases", new, geoms_new)
    ev = pd.DataFrame(
        {
            "case_id": new["case_id"].to_numpy(),
            "at": now,
            "kind": "created",
            "old_status": None,
            "new_status": new["status"].to_numpy(),
            "changes": None,
            "source_file": new["source_file"].to_numpy(),
            "source_row": new["source_row"].to_numpy(),
        }
    )
    store.insert_frame("case_events", ev)
    _write_units(store, new)

    old = frame[~is_new].merge(existing, on="case_id", how="left", suffixes=("", "__old"))
    changed = np.zeros(len(old), dtype=bool)
    diffs = {}
    for c in TRACKED:
        d = ~_same(old[c], old[f"{c}__old"])
        diffs[c] = d
        changed |= d
    upd = old[changed]
    if len(upd):
        n_changed = np.flatnonzero(changed)
        changes = [
            json.dumps(
                {
                    c: [_plain(old[f"{c}__old"].iloc[i]), _plain(old[c].iloc[i])]
                    for c in TRACKED
                    if diffs[c][i]
                },
                ensure_ascii=False,
            )
            for i in n_changed
        ]
        ev = pd.DataFrame(
            {
                "case_id": upd["case_id"].to_numpy(),
                "at": now,
                "kind": "updated",
                "old_status": upd["status__old"].to_numpy(),
                "new_status": upd["status"].to_numpy(),
                "changes": changes,
                "source_file": upd["source_file"].to_numpy(),
                "source_row": upd["source_row"].to_numpy(),
            }
        )
        store.insert_frame("case_events", ev)
        set_cols = [c for c in cols if c != "case_id"] + ["updated_at"]
        lon = upd["lon"].to_numpy(dtype=float)
        geoms = np.where(np.isfinite(lon), shapely.points(lon, upd["lat"].to_numpy(dtype=float)), None)
        _update_cases(store, upd, set_cols, geoms)
        _write_units(store, upd)
    return int(is_new.sum()), len(upd), int((~changed).sum())


def _update_cases(store: Store, upd: pd.DataFrame, set_cols: list[str], geoms: np.ndarray) -> None:
    """Overwrite changed cases and drop their unit rows (re-written by the caller)."""
    if store.kind == "postgis":
        vals = whole_floats_as_ints(upd[set_cols])
        vals = vals.astype(object).where(vals.notna(), None)
        # One COPY into a temporary table and one UPDATE … FROM, not a statement per case.
        store.execute(
            "CREATE TEMPORARY TABLE case_updates ON COMMIT DROP AS SELECT case_id, geom, "
            + ", ".join(set_cols)
            + " FROM cases WITH NO DATA"
        )
        vals.insert(0, "geom", object_column(store.copy_geoms(geoms), vals.index))
        vals.insert(0, "case_id", upd["case_id"].to_numpy())
        store.copy_rows("case_updates", list(vals.columns), vals)
        store.execute(
            "UPDATE cases SET geom = u.geom, "
            + ", ".join(f"{c} = u.{c}" for c in set_cols)
            + " FROM case_updates u WHERE cases.case_id = u.case_id"
        )
        store.execute("DELETE FROM case_units WHERE case_id IN (SELECT case_id FROM case_updates)")
        store.execute("DROP TABLE case_updates")
        return
    vals = upd[set_cols].astype(object).where(upd[set_cols].notna(), None)
    vals.insert(0, "__geom", object_column(store.geom_values(geoms), vals.index))
    vals["__id"] = upd["case_id"].to_numpy()
    sql = "UPDATE cases SET geom = ?, " + ", ".join(f"{c} = ?" for c in set_cols) + " WHERE case_id = ?"
    store.con.executemany(sql, list(vals.itertuples(index=False, name=None)))
    store.executemany("DELETE FROM case_units WHERE case_id = ?", [(v,) for v in upd["case_id"]])


def _plain(v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


def _existing(store: Store, ids: Sequence[str]) -> pd.DataFrame:
    cols = ["case_id", *TRACKED]
    n = store.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
    if n == 0:
        return pd.DataFrame(columns=cols)
    df = store.frame(f"SELECT {', '.join(cols)} FROM cases")
    return df[df["case_id"].isin(set(ids))]


def _write_units(store: Store, frame: pd.DataFrame) -> None:
    """One ``case_units`` row per (case, unit): the report groups by unit with plain SQL."""
    units = frame["units"].fillna("").astype(str).reset_index(drop=True)
    s = units.str.split(";").explode().str.strip()
    s = s[s != ""]
    ids = frame["case_id"].to_numpy()
    cu = pd.DataFrame({"case_id": ids[s.index.to_numpy(dtype=np.int64)], "unit": s.to_numpy()})
    cu = cu.drop_duplicates()
    store.insert_frame("case_units", cu)


# --------------------------------------------------------------------------------------------
# The whole import
# --------------------------------------------------------------------------------------------


def import_cases(
    store: Store,
    paths: Sequence[str | Path],
    *,
    crs: str = "wgs84",
    context=None,
    now: str | None = None,
    progress=None,
) -> ImportResult:
    """Read, place, assign and upsert case files into the ledger in one transaction.

    Parameters
    ----------
    store : Store
    paths : sequence of paths
        Case files (see :func:`read_cases`).
    crs : str
        Coordinate system of the files' lon/lat.
    context : geo.ledger.assign.Context, optional
        Plans, place sources, grids and street chiefs for assignment; default: what the ledger
        holds (grids, street chiefs) without plans or streets.
    now : str, optional
        Event time (ISO); default the current time.

    Returns
    -------
    ImportResult
        Counts and the bad rows (skipped). Nothing is written when reading fails outright.
    """
    from .assign import Context, assign

    now = now or dt.datetime.now().replace(microsecond=0).isoformat(sep=" ")
    res = ImportResult()
    tables = []
    for p in paths:
        t = read_cases(p, crs=crs)
        res.problems.extend(t.problems)
        tables.append(t.frame)
    frame = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if len(frame):
        dup = frame["case_id"].duplicated(keep="last").to_numpy()
        frame = frame[~dup].reset_index(drop=True)  # a later file wins over an earlier one
    ctx = context or Context()
    ctx.load_ledger(store)
    if len(frame):
        place_addresses(frame, ctx.sources)
        frame = assign(frame, ctx, progress=progress)
        res.unresolved = int(frame["located_by"].eq("unresolved").sum())
        res.schematic = bool(frame["location_source"].eq("schematic").any()) or ctx.schematic
    with store.transaction():
        if len(frame):
            res.created, res.updated, res.unchanged = upsert(store, frame, now)
    return res
