"""Layer files: GeoPackage with every layer and the standard columns, GeoJSON, Shapefile that
keeps Chinese (UTF-8 .cpg, 10-character fields), KML that parses, CSV/XLSX for Excel, the
unresolved report — all reproducible to the byte."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import xml.etree.ElementTree as ET

import geopandas as gpd
import openpyxl
import pandas as pd
import pyogrio
import pytest

from geo.build import build_plan
from geo.errors import InputError
from geo.layers import STANDARD_COLUMNS
from geo.plan import get_plan
from geo.publish import style
from geo.publish.files import (
    LAYER_NAMES,
    UNRESOLVED_COLUMNS,
    layer_frames,
    shp_field_names,
    write_layers,
    write_unresolved,
)

KML = "{http://www.opengis.net/kml/2.2}"


@pytest.fixture(scope="module")
def datas():
    return {pid: build_plan(get_plan(pid)) for pid in ("001", "002", "003")}


@pytest.fixture(scope="module")
def out002(datas, tmp_path_factory):
    d = tmp_path_factory.mktemp("files002")
    write_layers(datas["002"], d)
    return d


@pytest.fixture(scope="module")
def out001(datas, tmp_path_factory):
    d = tmp_path_factory.mktemp("files001")
    write_layers(datas["001"], d, formats="shp,kml")
    return d


def _hashes(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_folder_layout(out002):
    names = set(_hashes(out002))
    assert {"layers.gpkg", "layers.kml", "layers.xlsx", "shp/fields.csv"} <= names
    for layer in LAYER_NAMES:
        assert f"geojson/{layer}.geojson" in names
        assert f"csv/{layer}.csv" in names
    assert not [n for n in names if n.startswith(".") or "/." in n]  # no temporary files left


def test_gpkg_has_every_layer_with_standard_columns(out002, datas):
    path = out002 / "layers.gpkg"
    # the layers, and QGIS's style table (non-spatial, as QGIS itself writes it)
    assert [name for name, _ in pyogrio.list_layers(path)] == [*LAYER_NAMES, "layer_styles"]
    frames = layer_frames(datas["002"])
    for layer in LAYER_NAMES:
        back = gpd.read_file(path, layer=layer)
        assert list(back.columns[: len(STANDARD_COLUMNS)]) == list(STANDARD_COLUMNS), layer
        assert back.crs is None or back.crs.to_epsg() == 4326
        assert len(back) == len(frames[layer]), layer
    zones = gpd.read_file(path, layer="zones")
    assert list(zones["id"]) == list(datas["002"].zones["id"])  # stable order, stable ids
    assert {"restriction", "clause", "lead", "distance_m"} <= set(zones.columns)
    region = gpd.read_file(path, layer="region")
    assert region.loc[0, "name"] == datas["002"].region.name


def test_gpkg_bytes_are_reproducible(datas, out002, tmp_path):
    time.sleep(1.1)  # a second later: any embedded clock time would differ
    write_layers(datas["002"], tmp_path)
    assert _hashes(tmp_path) == _hashes(out002)


def test_geojson_per_layer(out002, datas):
    fc = json.loads((out002 / "geojson" / "zones.geojson").read_text(encoding="utf-8"))
    assert fc["type"] == "FeatureCollection" and fc["name"] == "zones"
    assert len(fc["features"]) == len(datas["002"].zones)
    lon, lat = fc["features"][0]["geometry"]["coordinates"][0][0][:2]
    assert 113 < lon < 114.5 and 33.5 < lat < 34.5  # 许昌, WGS84 degrees
    places = json.loads((out002 / "geojson" / "places.geojson").read_text(encoding="utf-8"))
    assert places["features"][0]["properties"]["name"] == "中央公园"


def test_shapefile_round_trip_keeps_chinese(out001, datas):
    places = datas["001"].places
    shp = out001 / "shp"
    back = pd.concat(
        [
            gpd.read_file(shp / f"places_{t}.shp")
            for t in ("point", "line", "polygon")
            if (shp / f"places_{t}.shp").exists()
        ],
        ignore_index=True,
    )
    assert sorted(back["name"]) == sorted(places["name"])
    assert "文昌街望川楼路段" in set(back["name"])
    for cpg in shp.glob("*.cpg"):
        assert cpg.read_text().strip() == "UTF-8"
    for dbf in shp.glob("*.shp"):
        fields = pyogrio.read_info(dbf)["fields"]
        assert all(len(f) <= 10 for f in fields)


def test_shapefile_field_mapping_and_long_text(out002, datas):
    assert shp_field_names(["restriction", "phase_dates", "phase_names", "name"]) == {
        "restriction": "restrict",
        "phase_dates": "ph_dates",
        "phase_names": "ph_names",
        "name": "name",
    }
    m = shp_field_names(["abcdefghijk1", "abcdefghijk2"])
    assert len(set(m.values())) == 2 and all(len(v) <= 10 for v in m.values())
    assert "zones,restriction,restrict" in (out002 / "shp" / "fields.csv").read_text(encoding="utf-8")
    zones = gpd.read_file(out002 / "shp" / "zones_polygon.shp")
    assert "restrict" in zones.columns
    clause = zones.loc[0, "clause"]
    full = datas["002"].zones.loc[0, "clause"]
    assert len(clause.encode("utf-8")) <= 254
    assert clause.endswith("…") and full.startswith(clause[:-1])


def test_kml_parses_with_placemarks(out002, datas):
    root = ET.parse(out002 / "layers.kml").getroot()  # noqa: S314 (our own file)
    folders = root.findall(f"{KML}Document/{KML}Folder")
    assert folders[0].find(f"{KML}name").text == "方案点名地点"
    marks = root.iter(f"{KML}Placemark")
    d = datas["002"]
    expected = sum(len(df) for df in layer_frames(d).values())
    marks = list(marks)
    assert len(marks) == expected
    names = [m.find(f"{KML}name").text for m in marks]
    assert "中央公园" in names
    zone = folders[1].find(f"{KML}Placemark")
    desc = zone.find(f"{KML}description").text
    assert "条款原文：" in desc and "要求：" in desc and "示意" in desc
    assert zone.find(f".//{KML}Polygon") is not None
    # styled as on the maps: the zone's <Style> carries its rule's colour (KML aabbggrr)
    styles = {s.get("id"): s for s in root.iter(f"{KML}Style")}
    st = styles[zone.find(f"{KML}styleUrl").text.lstrip("#")]
    rule_id = next(
        dd.find(f"{KML}value").text for dd in zone.iter(f"{KML}Data") if dd.get("name") == "rule_id"
    )
    colour = style.zone_styles(d.plan.rules)[rule_id].colour
    line = st.find(f"{KML}LineStyle/{KML}color").text
    assert "#" + line[6:8] + line[4:6] + line[2:4] == colour


def test_csv_and_xlsx_for_excel(out002, datas):
    raw = (out002 / "csv" / "zones.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8 Chinese
    table = pd.read_csv(out002 / "csv" / "zones.csv", encoding="utf-8-sig")
    assert list(table.columns[: len(STANDARD_COLUMNS)]) == list(STANDARD_COLUMNS)
    assert {"lon", "lat"} <= set(table.columns)
    assert len(table) == len(datas["002"].zones)
    assert table.loc[0, "restriction"] == datas["002"].zones.loc[0, "restriction"]
    wb = openpyxl.load_workbook(out002 / "layers.xlsx")
    assert wb.sheetnames == list(LAYER_NAMES)
    ws = wb["zones"]
    assert ws.max_row == len(datas["002"].zones) + 1
    assert [c.value for c in ws[1]][:3] == ["id", "name", "kind"]


def test_unresolved_report(datas, tmp_path):
    path = write_unresolved(datas["002"], tmp_path / "unresolved.csv")
    assert path.read_bytes() == ("\ufeff" + ",".join(UNRESOLVED_COLUMNS) + "\r\n").encode("utf-8")
    missing = pd.DataFrame(
        [
            {
                "plan": "002",
                "place_id": "002.b",
                "name": "不存在路",
                "reason": "no match",
                "candidates": "存在路;在路",
            },
            {"plan": "002", "place_id": "002.a", "name": "某市场", "reason": "no match", "candidates": ""},
        ]
    )
    data = dataclasses.replace(datas["002"], unresolved=missing)
    back = pd.read_csv(
        write_unresolved(data, tmp_path / "u2.csv"), encoding="utf-8-sig", keep_default_na=False
    )
    assert list(back.columns) == UNRESOLVED_COLUMNS
    assert list(back["place_id"]) == ["002.a", "002.b"]
    assert back.loc[1, "name"] == "不存在路" and back.loc[1, "candidates"] == "存在路;在路"


def test_plan_without_geometry(datas, tmp_path):
    write_layers(datas["003"], tmp_path)
    layers = dict(pyogrio.list_layers(tmp_path / "layers.gpkg"))
    assert list(layers) == [*LAYER_NAMES, "layer_styles"]
    assert len(gpd.read_file(tmp_path / "layers.gpkg", layer="places")) == 0
    assert len(gpd.read_file(tmp_path / "layers.gpkg", layer="region")) == 1
    assert sorted(p.stem for p in (tmp_path / "shp").glob("*.shp")) == ["region_polygon"]
    root = ET.parse(tmp_path / "layers.kml").getroot()  # noqa: S314 (our own file)
    assert len(list(root.iter(f"{KML}Placemark"))) == 1


def test_single_file_targets_and_bad_formats(datas, tmp_path):
    [kml] = write_layers(datas["002"], tmp_path / "one.kml")
    assert kml.name == "one.kml" and sorted(p.name for p in tmp_path.iterdir()) == ["one.kml"]
    [gpkg] = write_layers(datas["002"], tmp_path / "one.gpkg")
    assert len(pyogrio.list_layers(gpkg)) == len(LAYER_NAMES) + 1  # and QGIS's layer_styles
    with pytest.raises(InputError, match="unknown format"):
        write_layers(datas["002"], tmp_path / "x", formats="gpkg,dwg")
    with pytest.raises(InputError, match="single file"):
        write_layers(datas["002"], tmp_path / "x.geojson")
