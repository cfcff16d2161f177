"""Synthetic GPS tracks for tests and benchmarks — test data, never observed data.

Vehicles drive along the streets of an extract (the bundled schematic 示意 extracts by default)
at a steady speed, reporting a fix every ``interval_s`` seconds with Gaussian GPS noise of
``noise_m`` metres per axis. Each street gets a chosen number of passes per day, made by
trips along the whole street spaced well over the gap rule apart. Every row carries
``synthetic=True`` and written files say ``synthetic`` in their metadata, so nothing made here
can pass for observed data.

Usage::

    python scripts/make_tracks.py --region xuchang --fixes 1000000 --out /tmp/tracks_1m
    python scripts/make_tracks.py --region jincheng --passes 凤台东街=3 --passes 泽州路=1 --out day.csv
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

SYNTHETIC_NOTE = "synthetic test data made by scripts/make_tracks.py; not observed GPS fixes"


def region_streets(region: str = "jincheng", *, unnamed: bool = False) -> tuple[gpd.GeoDataFrame, int]:
    """Streets (WGS84, merged by name) of a region's schematic extract, and its metric CRS.

    ``unnamed``: keep streets without a name too, called by their OSM way (``way/12``).
    """
    from geo.regions import get_region
    from geo.resolve import build_sources

    src, _ = build_sources(get_region(region))
    streets = src.streets.copy()
    blank = streets["name"].astype(str).str.strip() == ""
    if unnamed:
        streets.loc[blank, "name"] = streets.loc[blank, "id"]
    else:
        streets = streets[~blank]
    return streets[["name", "geometry"]].reset_index(drop=True), src.epsg


def _parts(streets: gpd.GeoDataFrame, epsg: int) -> dict[str, list[shapely.LineString]]:
    metric = streets.to_crs(epsg)
    out: dict[str, list] = {}
    for name, geom in zip(metric["name"], metric.geometry, strict=True):
        merged = shapely.line_merge(geom) if geom.geom_type == "MultiLineString" else geom
        out.setdefault(name, []).extend(p for p in shapely.get_parts(merged) if p.length > 0)
    return out


def drive(
    parts: list,
    start: np.datetime64,
    *,
    interval_s: float,
    speed_ms: float,
    reverse: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.datetime64]:
    """Exact positions (metric) and times of one trip along a street's parts; returns the end time."""
    xs, ys, ts = [], [], []
    t = start
    seq = parts[::-1] if reverse else parts
    for part in seq:
        line = part.reverse() if reverse else part
        d = np.arange(0.0, line.length, speed_ms * interval_s)
        pts = shapely.line_interpolate_point(line, d)
        xs.append(shapely.get_x(pts))
        ys.append(shapely.get_y(pts))
        ts.append(t + (np.arange(len(d)) * interval_s * 1000).astype("timedelta64[ms]"))
        t = ts[-1][-1] + np.timedelta64(int(interval_s * 1000), "ms")
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ts), t


def make_day(
    streets: gpd.GeoDataFrame,
    epsg: int,
    passes: Mapping[str, int],
    date: dt.date | str,
    *,
    interval_s: float = 10.0,
    noise_m: float = 5.0,
    speed_kmh: float = 12.0,
    first_hour: float = 5.0,
    spacing_min: float = 150.0,
    task: str = "清扫",
    vehicle_prefix: str = "SWP",
    seed: int = 0,
) -> pd.DataFrame:
    """One day of sweeper fixes with a known number of passes per street.

    Each street named in ``passes`` gets its own vehicle, which drives the whole street that
    many times, trips starting ``spacing_min`` minutes apart from ``first_hour`` o'clock, in
    alternating directions.

    Returns
    -------
    DataFrame
        ``vehicle, time, lon, lat, task, speed, synthetic`` (``speed`` in km/h).
    """
    rng = np.random.default_rng(seed)
    parts = _parts(streets, epsg)
    day0 = np.datetime64(pd.Timestamp(date).date(), "ms")
    frames = []
    for k, (name, n) in enumerate(sorted(passes.items())):
        if name not in parts:
            raise KeyError(f"no street {name!r} in the extract")
        for i in range(int(n)):
            start = day0 + np.timedelta64(int((first_hour * 60 + i * spacing_min) * 60_000), "ms")
            x, y, t, _ = drive(
                parts[name], start, interval_s=interval_s, speed_ms=speed_kmh / 3.6, reverse=i % 2 == 1
            )
            frames.append(pd.DataFrame({"vehicle": f"{vehicle_prefix}-{k:03d}", "x": x, "y": y, "time": t}))
    return _finish(frames, epsg, rng, noise_m, speed_kmh, task)


def _finish(
    frames: list[pd.DataFrame], epsg: int, rng, noise_m: float, speed_kmh: float, task: str
) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=["vehicle", "time", "lon", "lat", "task", "speed", "synthetic"])
    f = pd.concat(frames, ignore_index=True)
    x = f["x"].to_numpy() + rng.normal(0.0, noise_m, len(f))
    y = f["y"].to_numpy() + rng.normal(0.0, noise_m, len(f))
    lon, lat = pyproj.Transformer.from_crs(epsg, 4326, always_xy=True).transform(x, y)
    return pd.DataFrame(
        {
            "vehicle": f["vehicle"].to_numpy(),
            "time": pd.to_datetime(f["time"].to_numpy()).astype("datetime64[ns]"),
            "lon": np.round(lon, 7),
            "lat": np.round(lat, 7),
            "task": task,
            "speed": np.round(speed_kmh + rng.normal(0.0, 1.0, len(f)), 1),
            "synthetic": True,
        }
    )


def park(
    lon: float, lat: float, epsg: int, start: str, minutes: float, *, vehicle: str, task: str,
    interval_s: float = 10.0, noise_m: float = 5.0, seed: int = 1,
) -> pd.DataFrame:  # fmt: skip
    """A vehicle standing still at (lon, lat) for ``minutes``, reporting noisy fixes."""
    rng = np.random.default_rng(seed)
    x0, y0 = pyproj.Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
    n = int(minutes * 60 / interval_s) + 1
    t = np.datetime64(pd.Timestamp(start), "ms") + (np.arange(n) * interval_s * 1000).astype(
        "timedelta64[ms]"
    )
    frame = pd.DataFrame({"vehicle": vehicle, "x": np.full(n, x0), "y": np.full(n, y0), "time": t})
    out = _finish([frame], epsg, rng, noise_m, 0.0, task)
    out["speed"] = 0.0
    return out


def make_fleet(
    streets: gpd.GeoDataFrame,
    epsg: int,
    n_fixes: int,
    *,
    start_date: str = "2023-04-03",
    fixes_per_day: int = 10_000_000,
    interval_s: float = 5.0,
    noise_m: float = 5.0,
    outlier_share: float = 1e-4,
    seed: int = 0,
):
    """Yield day frames of a fleet (random streets per vehicle) until ``n_fixes`` are made.

    For benchmarks: every vehicle drives random whole streets back to back all day.
    Spikes (a fix thrown 2 km off) are added at ``outlier_share``.
    """
    rng = np.random.default_rng(seed)
    parts = _parts(streets, epsg)
    names = sorted(parts)
    speed_ms = 15 / 3.6
    made, day = 0, 0
    while made < n_fixes:
        target = min(fixes_per_day, n_fixes - made)
        day0 = np.datetime64(pd.Timestamp(start_date).date() + dt.timedelta(days=day), "ms")
        per_vehicle = int(16 * 3600 / interval_s)  # a 16-hour shift
        frames, count, v = [], 0, 0
        while count < target:
            t = day0 + np.timedelta64(5 * 3600_000, "ms")
            end = t + np.timedelta64(16 * 3600_000, "ms")
            left = min(per_vehicle, target - count)
            while left > 0 and t < end:
                name = names[rng.integers(len(names))]
                x, y, ts, t = drive(
                    parts[name], t, interval_s=interval_s, speed_ms=speed_ms, reverse=bool(rng.integers(2))
                )
                x, y, ts = x[:left], y[:left], ts[:left]
                frames.append(pd.DataFrame({"vehicle": f"V{day:02d}-{v:04d}", "x": x, "y": y, "time": ts}))
                left -= len(x)
                count += len(x)
            v += 1
        out = _finish(frames, epsg, rng, noise_m, 15.0, "清扫")
        spikes = rng.random(len(out)) < outlier_share
        out.loc[spikes, "lon"] += 0.02
        made += len(out)
        day += 1
        yield out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--region", default="jincheng")
    ap.add_argument("--date", default="2023-04-03")
    ap.add_argument("--passes", action="append", default=[], help="STREET=N, repeatable (one day)")
    ap.add_argument("--fixes", type=int, default=0, help="make a fleet of this many fixes instead")
    ap.add_argument("--out", required=True, help=".csv/.parquet file, or a folder (partitioned GeoParquet)")
    args = ap.parse_args(argv)
    streets, epsg = region_streets(args.region)
    out = Path(args.out)
    if args.fixes:
        from geo.tracks.store import write_parquet

        total = 0
        for i, day in enumerate(make_fleet(streets, epsg, args.fixes, start_date=args.date)):
            write_parquet(day, out, epsg=epsg, append=i > 0, note=SYNTHETIC_NOTE)
            total += len(day)
            print(f"{total} fixes", file=sys.stderr)
        return 0
    passes = {k: int(v) for k, v in (p.split("=", 1) for p in args.passes)}
    frame = make_day(streets, epsg, passes, args.date)
    if out.suffix == ".parquet":
        frame.to_parquet(out)
    else:
        frame.to_csv(out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
