"""Resolving plan places to geometry: the bundled schematic default, real OSM, the CLI."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import shape

from geo.layers import STANDARD_COLUMNS
from geo.plan import get_plan
from geo.regions import get_region
from geo.resolve import build_sources, resolve_names, resolve_plan

OAKLAND = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "osm" / "West-Oakland.osm.bz2"


@pytest.fixture(scope="module")
def jincheng():
    sources, problems = build_sources(get_region("晋城市城区"))
    assert problems == []
    return sources


def _metric(layer: gpd.GeoDataFrame, epsg: int) -> dict:
    return dict(zip(layer["name"], layer.to_crs(epsg).geometry, strict=True))


@pytest.mark.parametrize("plan_id", ["000", "001", "004"])
def test_every_jincheng_place_resolves_on_bundled_default(jincheng, plan_id):
    plan = get_plan(plan_id)
    layer, unresolved = resolve_plan(plan, jincheng)
    assert list(unresolved["name"]) == []
    assert sorted(layer["name"]) == sorted(p.name for p in plan.places)
    assert set(layer["source"]) == {"schematic"}
    assert list(layer.columns[: len(STANDARD_COLUMNS)]) == list(STANDARD_COLUMNS)
    assert layer.crs.to_epsg() == 4326
    assert layer.geometry.is_valid.all() and not layer.geometry.is_empty.any()
    # Batch and phase travel with the place.
    if plan_id == "001":
        assert (layer["batch"] == 1).sum() == 8 and (layer["batch"] == 2).sum() == 9


def test_direction_split_streets(jincheng):
    layer, _ = resolve_names(["凤台街", "凤台东街", "泽州路"], jincheng)
    rows = layer.set_index("name")
    assert rows.loc["凤台街", "matched_by"] == "directional"
    assert "凤台东街" in rows.loc["凤台街", "note"] and "凤台西街" in rows.loc["凤台街", "note"]
    assert rows.loc["凤台东街", "matched_by"] == "exact"
    g = _metric(layer, jincheng.epsg)
    # The whole street is longer than its eastern part, and contains it.
    assert g["凤台街"].length > g["凤台东街"].length * 1.5
    assert g["凤台街"].buffer(1).contains(g["凤台东街"])
    assert "泽州南路" in rows.loc["泽州路", "note"]


def test_locators_geometry(jincheng):
    names = [
        "文昌街望川楼路段",
        "百灵街东段",
        "建设路建东巷口",
        "金屯菜市场周边",
        "陈岭路新市医院东门路段",
        "望川楼",
        "文昌街",
        "百灵街",
        "建设路",
        "金屯菜市场",
        "新市医院",
    ]
    layer, unresolved = resolve_names(names, jincheng)
    assert unresolved.empty
    g = _metric(layer, jincheng.epsg)
    rel = layer.set_index("name")["relation"]
    # 路段: part of the street, near its anchor
    seg = g["文昌街望川楼路段"]
    assert rel["文昌街望川楼路段"] == "路段"
    assert g["文昌街"].buffer(1).contains(seg)
    assert seg.length <= 2 * 150 + 1
    assert seg.distance(g["望川楼"]) < 100
    # 东段: the eastern half of the street by its own extent
    east, whole = g["百灵街东段"], g["百灵街"]
    assert east.bounds[0] >= (whole.bounds[0] + whole.bounds[2]) / 2 - 1
    assert math.isclose(east.length, whole.length / 2, rel_tol=0.05)
    # 巷口: a point on the main street
    mouth = g["建设路建东巷口"]
    assert mouth.geom_type == "Point" and g["建设路"].distance(mouth) < 1
    # 周边: an area around the anchor with its radius flagged
    area = g["金屯菜市场周边"]
    assert area.contains(g["金屯菜市场"])
    assert layer.set_index("name").loc["金屯菜市场周边", "radius_m"] == 200
    # 东门路段: on 陈岭路, by the hospital's east side
    hosp = g["新市医院"]
    seg = g["陈岭路新市医院东门路段"]
    assert seg.centroid.x > hosp.centroid.x


def test_schematic_accuracy_is_not_claimed(jincheng):
    layer, _ = resolve_names(["泽州路"], jincheng)
    assert layer["accuracy_m"].isna().all()


def test_unresolved_is_reported_never_guessed(jincheng):
    layer, unresolved = resolve_names(["凤台路", "不存在的菜市场周边"], jincheng)
    assert layer.empty
    assert list(unresolved["name"]) == ["凤台路", "不存在的菜市场周边"]
    assert "not found" in unresolved.iloc[0]["reason"]


def test_street_only_when_anchor_missing(jincheng):
    layer, _ = resolve_names(["文昌街不存在楼路段"], jincheng)
    row = layer.iloc[0]
    assert row["matched_by"] == "locator"
    assert "not found" in row["note"] and "whole street" in row["note"]


def test_cli_resolve_bundled(geo_cli):
    res = geo_cli("resolve", "泽州路", "凤台街", "金屯菜市场周边")
    assert res.returncode == 0, res.stderr
    fc = json.loads(res.stdout)
    assert fc["type"] == "FeatureCollection"
    feats = {f["properties"]["name"]: f for f in fc["features"]}
    assert set(feats) == {"泽州路", "凤台街", "金屯菜市场周边"}
    for f in feats.values():
        assert set(STANDARD_COLUMNS) <= set(f["properties"])
        assert f["properties"]["source"] == "schematic"
        lon, lat = shape(f["geometry"]).centroid.coords[0]
        assert 112.7 < lon < 113.0 and 35.4 < lat < 35.6  # around 晋城
    assert feats["金屯菜市场周边"]["geometry"]["type"] == "Polygon"
    assert "示意" in res.stderr


def test_cli_nothing_resolved_exit_3(geo_cli):
    res = geo_cli("resolve", "不存在路")
    assert res.returncode == 3
    assert "unresolved: 不存在路" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.skipif(not OAKLAND.exists(), reason="shared OSM fixture absent")
def test_cli_resolve_real_osm(geo_cli, tmp_path):
    res = geo_cli("resolve", "7th Street", "Prescott School", "--osm", str(OAKLAND))
    assert res.returncode == 0, res.stderr
    feats = {f["properties"]["name"]: f["properties"] for f in json.loads(res.stdout)["features"]}
    assert feats["7th Street"]["source"] == "osm"
    assert len(feats["7th Street"]["source_ref"].split(";")) >= 2
    assert feats["Prescott School"]["kind"] == "school"
    assert feats["7th Street"]["accuracy_m"] == 10.0


@pytest.mark.skipif(not OAKLAND.exists(), reason="shared OSM fixture absent")
def test_unresolved_report_lists_what_real_extract_lacks(geo_cli, tmp_path):
    report = tmp_path / "unresolved.csv"
    res = geo_cli("resolve", "--plan", "001", "--osm", str(OAKLAND), "--report", str(report))
    assert res.returncode == 3  # a real extract of Oakland holds none of 晋城's places
    import pandas as pd

    df = pd.read_csv(report)
    assert list(df.columns) == ["plan", "place_id", "name", "reason", "candidates"]
    assert len(df) == len(get_plan("001").places)
    assert (df["plan"].astype(str).str.zfill(3) == "001").all()
    assert "schematic" not in res.stdout  # no fallback to the schematic when a real extract is given


def test_gazetteer_wins_over_osm(tmp_path, jincheng):
    csv = tmp_path / "places.csv"
    lon, lat = jincheng.region.centre
    csv.write_text(f"name,kind,lon,lat\n金屯菜市场,market,{lon:.6f},{lat:.6f}\n", encoding="utf-8")
    sources, problems = build_sources(get_region("晋城市城区"), gazetteers=[csv])
    assert problems == []
    layer, _ = resolve_names(["金屯菜市场", "凤台街"], sources)
    rows = layer.set_index("name")
    assert rows.loc["金屯菜市场", "source"] == "gazetteer"
    assert rows.loc["金屯菜市场", "source_ref"].endswith(":2")
    assert rows.loc["凤台街", "source"] == "schematic"


def test_fetch_offline_fails_fast(geo_cli, tmp_path):
    env = {
        "GEO_NOMINATIM_URL": "http://127.0.0.1:9/",
        "GEO_OVERPASS_URL": "http://127.0.0.1:9/api",
        "GEO_CACHE_DIR": str(tmp_path),
        "HTTPS_PROXY": "",
        "HTTP_PROXY": "",
        "https_proxy": "",
        "http_proxy": "",
    }
    t = time.monotonic()
    res = geo_cli("fetch", "晋城市城区", env=env, timeout=60)
    elapsed = time.monotonic() - t
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert "cannot reach" in res.stderr and "--osm" in res.stderr
    assert elapsed < 15
