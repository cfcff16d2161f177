"""Read GPS fixes: files in, clean fixes with a heading out.

Formats: CSV (UTF-8 with or without BOM, or GBK/GB18030 as Chinese Excel saves it), XLSX (first
sheet), GeoParquet, and a folder of partitioned GeoParquet (as :func:`write_parquet` makes).
Columns may be named in English or Chinese (``vehicle``/``车辆编号``, ``time``/``定位时间``,
``lon``/``经度``, ``lat``/``纬度``, ``task``/``作业类型``, ``speed``/``速度``); GeoParquet may carry a
``geometry`` column instead of lon/lat.

Cleaning happens here, while the fixes are in vehicle/time order, because it needs each fix's
neighbours on the same track:

* bad rows (no vehicle, a time that is not a time, a coordinate that is not a number or not
  in China) are reported as ``file:line: field`` and skipped;
* an *impossible jump* — a fix reached from the previous one and left to the next one both
  faster than ``max_speed_kmh`` — is a GPS spike: dropped and counted;
* every fix gets a heading (a unit vector ``hx, hy`` in the metric CRS) from its neighbours,
  where the vehicle moved far enough for the direction to mean something; parked or crawling
  vehicles get none (NaN), and the snapping then does not check heading for them.

After this, every later step works fix by fix (snapping) or on fixes grouped by segment
(passes), so the order of the rows no longer matters — which is what lets the Dask engine read
spatially partitioned files (see :mod:`geo.tracks.dask_engine`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj

from ..crs import check_lonlat, local_crs, norm_crs, to_wgs84
from ..errors import InputError, Problem

__all__ = [
    "FIX_COLUMNS",
    "Fixes",
    "add_heading",
    "clean",
    "read_fixes",
    "read_table",
]

#: Columns of a clean fixes frame, in order. ``time`` is local time (naive, China Standard Time).
FIX_COLUMNS = ["vehicle", "time", "lon", "lat", "task", "speed", "hx", "hy"]

# Accepted column names, folded (lower case, no spaces/underscores); first match wins.
_NAMES = {
    "vehicle": (
        "vehicle",
        "vehicleid",
        "car",
        "carid",
        "plate",
        "车辆编号",
        "车辆",
        "车牌号",
        "车牌",
        "设备号",
    ),
    "time": ("time", "timestamp", "datetime", "gpstime", "定位时间", "时间", "采集时间", "gps时间"),
    "lon": ("lon", "lng", "longitude", "经度"),
    "lat": ("lat", "latitude", "纬度"),
    "task": ("task", "tasktype", "作业类型", "任务类型", "作业", "类型"),
    "speed": ("speed", "速度", "车速"),
}

#: Default speed (km/h) above which a jump between two fixes is impossible for a city vehicle.
MAX_SPEED_KMH = 120.0
# A heading is taken over the two neighbours of a fix only when they are this far apart (m):
# with 5 m GPS noise a shorter baseline gives a direction off by more than the 45° allowed.
HEADING_MIN_M = 20.0
# ... and only when they are this close in time (s): a longer hole means the track broke.
HEADING_MAX_DT_S = 120.0
# Reported speeds below this (km/h) mean "not moving": no heading.
HEADING_MIN_SPEED_KMH = 3.0
_TABLE_SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm", ".parquet")


@dataclass
class Fixes:
    """Clean fixes and what reading them found.

    Attributes
    ----------
    frame : DataFrame
        :data:`FIX_COLUMNS`, sorted by vehicle then time; ``lon, lat`` WGS84.
    epsg : int
        Metric CRS the headings are expressed in.
    problems : list of Problem
        Bad rows, skipped.
    jumps : int
        Fixes dropped as impossible jumps.
    rows_read : int
        Data rows read, before any was skipped.
    """

    frame: pd.DataFrame
    epsg: int
    problems: list[Problem] = field(default_factory=list)
    jumps: int = 0
    rows_read: int = 0


def fold_key(name: object) -> str:
    return str(name).strip().lstrip("\ufeff").lower().replace(" ", "").replace("_", "").replace("-", "")


def _columns(columns: Sequence[object], source: str) -> dict[str, str]:
    """Map standard names to the file's column names; raise on a missing required column."""
    folded = {fold_key(c): str(c) for c in columns}
    found: dict[str, str] = {}
    for std, names in _NAMES.items():
        for n in names:
            if fold_key(n) in folded:
                found[std] = folded[fold_key(n)]
                break
    need = ["vehicle", "time"] + ([] if "geometry" in folded else ["lon", "lat"])
    missing = [m for m in need if m not in found]
    if missing:
        raise InputError.single(
            source,
            f"no {'/'.join(missing)} column; expected e.g. vehicle/车辆编号, time/定位时间, lon/经度, "
            f"lat/纬度; columns found: {', '.join(map(str, columns)) or 'none'}",
            line=1,
        )
    return found


def _read_csv(path: Path, source: str) -> pd.DataFrame:
    # pandas' C reader keeps this fast for millions of rows; strict UTF-8 first, then GB18030
    # (a superset of GBK), which is what Chinese Excel writes.
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=enc, skipinitialspace=True)
        except UnicodeDecodeError:
            continue
        except pd.errors.ParserError as e:
            raise InputError.single(source, f"not a readable CSV: {e}") from None
        except pd.errors.EmptyDataError:
            raise InputError.single(source, "the file is empty; expected a header row") from None
    raise InputError.single(source, "text is neither UTF-8 nor GBK/GB18030; save the file as UTF-8")


def _read_xlsx(path: Path, source: str) -> pd.DataFrame:
    try:
        return pd.read_excel(path, sheet_name=0, dtype=str, keep_default_na=False, engine="openpyxl")
    except Exception as e:  # openpyxl raises several types for damaged or foreign files
        raise InputError.single(source, f"cannot open the workbook ({type(e).__name__}): {e}") from None


def _read_parquet(path: Path, source: str) -> pd.DataFrame:
    """A GeoParquet file or a folder of them; geometry turned into lon/lat."""
    import pyarrow.dataset as ds
    import shapely

    try:
        dataset = ds.dataset(
            path, format="parquet", partitioning="hive", ignore_prefixes=[".", "_", "tracks.json"]
        )
        names = dataset.schema.names
        cols = [c for c in names if c != "geometry"] if {"lon", "lat"} <= set(names) else names
        table = dataset.to_table(columns=cols)
    except Exception as e:  # pyarrow raises several types for unreadable files
        raise InputError.single(source, f"cannot read the Parquet data ({type(e).__name__}): {e}") from None
    frame = table.to_pandas()
    if "geometry" in frame.columns:
        geoms = shapely.from_wkb(frame.pop("geometry").to_numpy())
        frame["lon"] = shapely.get_x(geoms)
        frame["lat"] = shapely.get_y(geoms)
    return frame


def read_table(path: str | Path) -> tuple[pd.DataFrame, pd.Series]:
    """The raw table of one input and each row's line number as the user sees it.

    Returns
    -------
    table : DataFrame
        All columns, text for CSV/XLSX.
    lines : Series of int
        CSV: line in the file (header = 1); XLSX: sheet row; Parquet: row number (1-based).
    """
    p = Path(path)
    source = str(path)
    if p.is_dir():
        table = _read_parquet(p, source)
        return table, pd.Series(np.arange(1, len(table) + 1))
    if not p.is_file():
        raise InputError.single(source, "file not found; expected a CSV, XLSX, GeoParquet file or folder")
    suffix = p.suffix.lower()
    if suffix not in _TABLE_SUFFIXES:
        raise InputError.single(
            source, f"unsupported file type {p.suffix!r}; expected one of {', '.join(_TABLE_SUFFIXES)}"
        )
    if suffix == ".parquet":
        table = _read_parquet(p, source)
        return table, pd.Series(np.arange(1, len(table) + 1))
    table = _read_csv(p, source) if suffix in (".csv", ".txt") else _read_xlsx(p, source)
    # Line of each record: header is line 1 (records spanning lines are not expected in GPS exports).
    return table, pd.Series(np.arange(2, len(table) + 2))


def _parse_time(values: pd.Series) -> pd.Series:
    """Local naive timestamps; NaT where a value is not a time. Aware times go to China time."""
    if pd.api.types.is_datetime64_any_dtype(values):
        t = values
    else:
        text = values.astype(str).str.strip()
        t = pd.to_datetime(text, errors="coerce", format="ISO8601")
        miss = t.isna() & (text != "")
        if miss.any():
            t[miss] = pd.to_datetime(text[miss], errors="coerce", format="mixed")
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    return t.astype("datetime64[ns]")


def _standardise(
    table: pd.DataFrame, lines: pd.Series, source: str, crs: str
) -> tuple[pd.DataFrame, list[Problem]]:
    """Standard columns from a raw table; bad rows reported and removed."""
    cols = _columns(list(table.columns), source)
    problems: list[Problem] = []
    bad = np.zeros(len(table), dtype=bool)
    line_arr = lines.to_numpy()

    def report(mask: np.ndarray, fld: str, what: str, values: pd.Series) -> None:
        for i in np.flatnonzero(mask & ~bad):
            problems.append(
                Problem(source, f"{what} {str(values.iloc[i]).strip()!r}", line=int(line_arr[i]), field=fld)
            )

    vehicle = table[cols["vehicle"]].astype(str).str.strip()
    miss_v = (vehicle == "") | table[cols["vehicle"]].isna().to_numpy()
    report(
        miss_v.to_numpy(),
        cols["vehicle"],
        "vehicle missing; expected a vehicle id, got",
        table[cols["vehicle"]],
    )
    bad |= miss_v.to_numpy()

    time = _parse_time(table[cols["time"]])
    miss_t = time.isna().to_numpy()
    report(miss_t, cols["time"], "not a time; expected e.g. 2023-04-03 08:15:30, got", table[cols["time"]])
    bad |= miss_t

    lon = pd.to_numeric(table[cols["lon"]], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(table[cols["lat"]], errors="coerce").to_numpy(dtype=float)
    for arr, c in ((lon, "lon"), (lat, "lat")):
        m = ~np.isfinite(arr)
        report(m, cols[c], "not a number; expected decimal degrees, got", table[cols[c]])
        bad |= m
    ok = ~bad
    if ok.any():
        try:
            check_lonlat(lon[ok], lat[ok], source=source, rows=line_arr[ok])
        except InputError as e:
            # Name the user's own columns (经度/纬度), not check_lonlat's generic lon/lat.
            names = {"lon": cols["lon"], "lat": cols["lat"], "lon,lat": f"{cols['lon']},{cols['lat']}"}
            for p in e.problems:
                p.field = names.get(p.field or "", p.field)
            problems.extend(e.problems)
            bad |= np.isin(line_arr, [p.line for p in e.problems])

    speed = (
        pd.to_numeric(table[cols["speed"]], errors="coerce").to_numpy(dtype=float)
        if "speed" in cols
        else np.full(len(table), np.nan)
    )
    task = table[cols["task"]].astype(str).str.strip() if "task" in cols else pd.Series([""] * len(table))
    keep = ~bad
    x, y = to_wgs84(lon[keep], lat[keep], crs)
    frame = pd.DataFrame(
        {
            "vehicle": vehicle[keep].to_numpy(),
            "time": time[keep].to_numpy(),
            "lon": x,
            "lat": y,
            "task": task[keep].to_numpy(),
            "speed": speed[keep],
        }
    )
    for c in ("hx", "hy"):  # prepared files (write_parquet) carry their headings
        if c in table.columns:
            frame[c] = pd.to_numeric(table[c], errors="coerce").to_numpy(dtype=float)[keep]
    problems.sort(key=lambda p: p.line or 0)
    return frame, problems


def _project(lon: np.ndarray, lat: np.ndarray, epsg: int) -> tuple[np.ndarray, np.ndarray]:
    tr = pyproj.Transformer.from_crs(4326, epsg, always_xy=True)
    return tr.transform(lon, lat)


def clean(frame: pd.DataFrame, epsg: int, max_speed_kmh: float = MAX_SPEED_KMH) -> tuple[pd.DataFrame, int]:
    """Sort by vehicle and time, drop impossible jumps, and add headings.

    Parameters
    ----------
    frame : DataFrame
        ``vehicle, time, lon, lat, task, speed`` (as read).
    epsg : int
        Metric CRS for distances and headings.
    max_speed_kmh : float
        A fix reached from its predecessor and left to its successor (same vehicle) both faster
        than this is a GPS spike and is dropped.

    Returns
    -------
    frame : DataFrame
        :data:`FIX_COLUMNS`, sorted by vehicle then time, index reset.
    jumps : int
        Fixes dropped.
    """
    f = frame.sort_values(["vehicle", "time"], kind="stable").reset_index(drop=True)
    x, y = _project(f["lon"].to_numpy(), f["lat"].to_numpy(), epsg)
    t = f["time"].to_numpy().astype("datetime64[ns]").astype(np.int64) / 1e9
    veh = pd.factorize(f["vehicle"])[0]
    same_prev = np.r_[False, veh[1:] == veh[:-1]]
    step = np.hypot(np.diff(x, prepend=np.nan), np.diff(y, prepend=np.nan))
    dt = np.maximum(np.diff(t, prepend=np.nan), 1.0)
    v_in = np.where(same_prev, step / dt * 3.6, np.nan)
    v_out = np.r_[v_in[1:], np.nan]
    with np.errstate(invalid="ignore"):
        spike = (v_in > max_speed_kmh) & (v_out > max_speed_kmh)
    jumps = int(spike.sum())
    if jumps:
        f = f.loc[~spike].reset_index(drop=True)
        x, y = x[~spike], y[~spike]
    hx, hy = add_heading(f, x, y)
    f["hx"], f["hy"] = hx, hy
    return f[FIX_COLUMNS], jumps


def add_heading(f: pd.DataFrame, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit heading of each fix from its neighbours on the same track (NaN where not moving).

    ``f`` must be sorted by vehicle then time; ``x, y`` are its metric coordinates.
    """
    n = len(f)
    if n == 0:
        return np.empty(0), np.empty(0)
    veh = pd.factorize(f["vehicle"])[0]
    t = f["time"].to_numpy().astype("datetime64[ns]").astype(np.int64) / 1e9
    idx = np.arange(n)
    prev = np.maximum(idx - 1, 0)
    nxt = np.minimum(idx + 1, n - 1)
    # A neighbour on another track, or too far back in time, is replaced by the fix itself.
    prev = np.where((veh[prev] == veh) & (t - t[prev] <= HEADING_MAX_DT_S), prev, idx)
    nxt = np.where((veh[nxt] == veh) & (t[nxt] - t <= HEADING_MAX_DT_S), nxt, idx)
    dx = x[nxt] - x[prev]
    dy = y[nxt] - y[prev]
    d = np.hypot(dx, dy)
    moving = d >= HEADING_MIN_M
    speed = f["speed"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        moving &= ~(speed < HEADING_MIN_SPEED_KMH)
    with np.errstate(invalid="ignore", divide="ignore"):
        hx = np.where(moving, dx / d, np.nan)
        hy = np.where(moving, dy / d, np.nan)
    return hx.astype(np.float32), hy.astype(np.float32)


def read_fixes(
    paths: Sequence[str | Path],
    *,
    crs: str = "wgs84",
    epsg: int | None = None,
    max_speed_kmh: float = MAX_SPEED_KMH,
) -> Fixes:
    """Read, check and clean GPS fixes from one or more files or partitioned folders.

    Parameters
    ----------
    paths : sequence of paths
        CSV, XLSX, GeoParquet files, or folders of (hive-partitioned) GeoParquet.
    crs : str
        System of lon/lat as given: ``wgs84`` (``cgcs2000``), ``gcj02`` or ``bd09``; converted
        to WGS84 (see :mod:`geo.crs`).
    epsg : int, optional
        Metric CRS for distances and headings (default: :func:`geo.crs.local_crs` of the fixes).
    max_speed_kmh : float
        Threshold for impossible jumps (see :func:`clean`).

    Returns
    -------
    Fixes

    Raises
    ------
    InputError
        When a file cannot be read at all (missing, unknown type, no vehicle/time/lon/lat column).
        Bad rows are not raised: they are in ``Fixes.problems``.
    """
    try:
        crs_name = norm_crs(crs)
    except ValueError as e:
        raise InputError.single("--crs", str(e)) from None
    frames, problems, rows = [], [], 0
    for p in paths:
        table, lines = read_table(p)
        rows += len(table)
        frame, probs = _standardise(table, lines, str(p), crs_name)
        frames.append(frame)
        problems.extend(probs)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FIX_COLUMNS)
    if epsg is None:
        epsg = local_crs(frame["lon"].to_numpy()) if len(frame) else 4547
    if {"hx", "hy"} <= set(frame.columns) and frame["hx"].notna().any():
        # Prepared by write_parquet: already cleaned, headings computed over whole tracks.
        f = frame.sort_values(["vehicle", "time"], kind="stable").reset_index(drop=True)
        return Fixes(f[FIX_COLUMNS], epsg, problems, 0, rows)
    f, jumps = clean(frame, epsg, max_speed_kmh)
    return Fixes(f, epsg, problems, jumps, rows)
