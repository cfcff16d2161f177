"""geo.resolve.gazetteer: reading the user's own place list (CSV/XLSX/GeoJSON) into a layer.

All coordinates are obvious test values near 晋城 (112.85°E, 35.50°N); none is a surveyed
position of a real place.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod

from geo.crs import to_wgs84
from geo.errors import InputError
from geo.layers import STANDARD_COLUMNS
from geo.resolve.gazetteer import Gazetteer, read_gazetteer

GEOD = Geod(ellps="WGS84")
# A box around the test points, for the region checks.
JINCHENG = (112.80, 35.45, 112.90, 35.55)


def _csv(tmp_path: Path, text: str, name: str = "places.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def _by_name(g: Gazetteer) -> dict[str, pd.Series]:
    return {row["name"]: row for _, row in g.layer.iterrows()}


def _lines(g: Gazetteer, field: str | None = None) -> list[int | None]:
    return [p.line for p in g.problems if field is None or p.field == field]


# --------------------------------------------------------------------------------------------
# Encodings
# --------------------------------------------------------------------------------------------

GOOD_CSV = "name,kind,lon,lat,crs,note\n凤台街,street,112.85,35.50,wgs84,测试\n中原街,market,112.86,35.49,,\n"


def test_utf8_csv_loads_with_standard_columns(tmp_path):
    path = _csv(tmp_path, GOOD_CSV)
    g = read_gazetteer(path)
    assert g.problems == []
    assert g.encoding == "utf-8"
    layer = g.layer
    assert list(layer.columns[: len(STANDARD_COLUMNS)]) == list(STANDARD_COLUMNS)
    assert {"note", "crs_in"} <= set(layer.columns)
    assert layer.crs.to_epsg() == 4326
    assert layer["id"].tolist() == ["g2", "g3"]
    assert layer["name"].tolist() == ["凤台街", "中原街"]
    assert layer["kind"].tolist() == ["street", "market"]
    assert set(layer["source"]) == {"gazetteer"}
    assert layer["source_ref"].tolist() == ["places.csv:2", "places.csv:3"]
    assert layer["accuracy_m"].tolist() == [20.0, 20.0]
    assert layer["matched_by"].isna().all()
    assert layer["crs_in"].tolist() == ["wgs84", "wgs84"]
    assert layer["note"].iloc[0] == "测试"
    assert pd.isna(layer["note"].iloc[1])
    pt = layer.geometry.iloc[0]
    assert (pt.x, pt.y) == (112.85, 35.50)


def test_utf8_bom_csv_header_recognised(tmp_path):
    path = _csv(tmp_path, GOOD_CSV, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    g = read_gazetteer(path)
    assert g.problems == []
    assert g.encoding == "utf-8-sig"
    assert g.layer["name"].tolist() == ["凤台街", "中原街"]


def test_gbk_csv_from_chinese_excel_decodes_exactly(tmp_path):
    text = (
        "名称,类型,经度,纬度,坐标系,备注\r\n"
        "凤台街,街路,112.85,35.50,wgs84,（东段）示意—测试\r\n"
        "中原街,市场,112.86,35.49,,高德拾取，待核实\r\n"
    )
    path = tmp_path / "gbk.csv"
    path.write_text(text, encoding="gbk", newline="")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # really not UTF-8
    g = read_gazetteer(path)
    assert g.problems == []
    assert g.encoding == "gb18030"
    assert g.layer["name"].tolist() == ["凤台街", "中原街"]
    assert g.layer["kind"].tolist() == ["street", "market"]
    assert g.layer["note"].tolist() == ["（东段）示意—测试", "高德拾取，待核实"]


def test_undecodable_file_names_the_byte_offset_and_line(tmp_path):
    # 0x80 on its own is neither UTF-8 nor GBK/GB18030.
    path = tmp_path / "bad.csv"
    path.write_bytes(b"name,lon,lat\nab\x80c,112.85,35.5\n")
    with pytest.raises(InputError) as exc:
        read_gazetteer(path)
    (prob,) = exc.value.problems
    assert prob.file == str(path)
    assert prob.line == 2
    assert "offset 15" in prob.message


def test_utf8_file_with_pasted_gbk_rows_is_not_silently_misread(tmp_path):
    data = "name,lon,lat\n凤台街,112.85,35.5\n".encode() + "中原街,112.86,35.5\n".encode("gbk")
    path = tmp_path / "mixed.csv"
    path.write_bytes(data)
    with pytest.raises(InputError) as exc:
        read_gazetteer(path)
    assert exc.value.problems[0].line == 3
    assert "mixes encodings" in exc.value.problems[0].message


# --------------------------------------------------------------------------------------------
# XLSX and GeoJSON
# --------------------------------------------------------------------------------------------


def test_xlsx_first_sheet_with_sheet_row_numbers(tmp_path):
    path = tmp_path / "places.xlsx"
    df = pd.DataFrame(
        {
            "name": ["凤台街", "", "泽州路"],
            "kind": ["street", "street", "street"],
            "lon": [112.85, 112.86, 112.87],
            "lat": [35.50, 35.49, 35.51],
            "crs": ["wgs84", "wgs84", "gcj02"],
        }
    )
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        df.to_excel(xw, sheet_name="地名", index=False)
        pd.DataFrame({"name": ["不读"], "lon": [0.0], "lat": [0.0]}).to_excel(
            xw, sheet_name="其他", index=False
        )
    g = read_gazetteer(path)
    assert g.encoding is None
    # The header is sheet row 1, so the data rows are 2, 3, 4; row 3 has no name.
    assert _lines(g) == [3]
    assert g.problems[0].field == "name"
    assert g.layer["id"].tolist() == ["g2", "g4"]
    assert g.layer["source_ref"].tolist() == ["places.xlsx:2", "places.xlsx:4"]
    assert g.layer["crs_in"].tolist() == ["wgs84", "gcj02"]
    pt = g.layer.geometry.iloc[1]
    x, y = to_wgs84(112.87, 35.51, "gcj02")
    assert (pt.x, pt.y) == (float(x), float(y))


def test_geojson_point_and_linestring(tmp_path):
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "金屯菜市场", "kind": "market", "note": "示意"},
                "geometry": {"type": "Point", "coordinates": [112.85, 35.50]},
            },
            {
                "type": "Feature",
                "properties": {"name": "凤台街", "kind": "街路"},
                "geometry": {"type": "LineString", "coordinates": [[112.84, 35.50], [112.86, 35.50]]},
            },
            {
                "type": "Feature",
                "properties": {"name": "不明", "kind": "spaceport"},
                "geometry": {"type": "Point", "coordinates": [112.85, 35.51]},
            },
        ],
    }
    path = tmp_path / "places.geojson"
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    g = read_gazetteer(path)
    # Feature numbers are 1-based indexes; the third has an unknown kind.
    assert [(p.line, p.field) for p in g.problems] == [(3, "kind")]
    layer = g.layer
    assert layer["id"].tolist() == ["g1", "g2"]
    assert layer.geometry.geom_type.tolist() == ["Point", "LineString"]
    assert layer["kind"].tolist() == ["market", "street"]
    assert layer["accuracy_m"].tolist() == [20.0, 10.0]
    assert layer["note"].iloc[0] == "示意"
    assert list(layer.geometry.iloc[1].coords) == [(112.84, 35.50), (112.86, 35.50)]


# --------------------------------------------------------------------------------------------
# Coordinate systems
# --------------------------------------------------------------------------------------------


def test_gcj02_and_bd09_rows_land_in_wgs84(tmp_path):
    path = _csv(
        tmp_path,
        "name,lon,lat,crs\n"
        "高德点,112.851,35.501,GCJ02\n"
        "百度点,112.852,35.502,bd09\n"
        "天地图点,112.853,35.503,CGCS2000\n",
    )
    g = read_gazetteer(path, region_bounds=JINCHENG)
    assert g.problems == []
    rows = _by_name(g)

    gcj = rows["高德点"].geometry
    x, y = to_wgs84(112.851, 35.501, "gcj02")
    assert (gcj.x, gcj.y) == (float(x), float(y))
    # GCJ-02 moves points by a few hundred metres in this part of China.
    assert 100 < _metres(112.851, 35.501, gcj.x, gcj.y) < 700
    assert rows["高德点"]["crs_in"] == "gcj02"

    bd = rows["百度点"].geometry
    x, y = to_wgs84(112.852, 35.502, "bd09")
    assert (bd.x, bd.y) == (float(x), float(y))
    # BD-09 adds Baidu's own shift on top of GCJ-02: roughly a kilometre in all.
    assert 300 < _metres(112.852, 35.502, bd.x, bd.y) < 1500
    assert rows["百度点"]["crs_in"] == "bd09"

    # CGCS2000 is taken as WGS84: no shift, but the input system is recorded.
    tdt = rows["天地图点"]
    assert (tdt.geometry.x, tdt.geometry.y) == (112.853, 35.503)
    assert tdt["crs_in"] == "cgcs2000"


def test_wkt_linestring_in_gcj02_converted_vertex_by_vertex(tmp_path):
    verts = [(112.84, 35.50), (112.85, 35.505), (112.86, 35.51)]
    wkt = "LINESTRING (" + ", ".join(f"{x} {y}" for x, y in verts) + ")"
    path = _csv(tmp_path, f'name,kind,lon,lat,crs,wkt\n凤台街,street,,,gcj02,"{wkt}"\n')
    g = read_gazetteer(path, region_bounds=JINCHENG)
    assert g.problems == []
    row = g.layer.iloc[0]
    assert row.geometry.geom_type == "LineString"
    lon, lat = to_wgs84([v[0] for v in verts], [v[1] for v in verts], "gcj02")
    np.testing.assert_array_equal(np.asarray(row.geometry.coords), np.column_stack([lon, lat]))
    # Each vertex got its own shift (the offset varies with position), all of a plausible size.
    shifts = [_metres(vx, vy, wx, wy) for (vx, vy), (wx, wy) in zip(verts, row.geometry.coords, strict=True)]
    assert all(100 < s < 700 for s in shifts)
    assert len({round(s, 3) for s in shifts}) == 3
    assert row["accuracy_m"] == 10.0
    assert row["crs_in"] == "gcj02"


def test_wkt_polygon_and_bad_wkt(tmp_path):
    path = _csv(
        tmp_path,
        "name,wkt\n"
        '示范区,"POLYGON ((112.84 35.49, 112.86 35.49, 112.86 35.51, 112.84 35.51, 112.84 35.49))"\n'
        '坏几何,"LINESTRING (112.84 35.50, oops)"\n'
        "无几何,\n",
    )
    g = read_gazetteer(path)
    assert g.layer["name"].tolist() == ["示范区"]
    assert g.layer.geometry.iloc[0].geom_type == "Polygon"
    assert [(p.line, p.field) for p in g.problems] == [(3, "wkt"), (4, "wkt")]


def test_unknown_crs_reported(tmp_path):
    path = _csv(tmp_path, "name,lon,lat,crs\n甲,112.85,35.50,mars\n乙,112.86,35.50,wgs84\n")
    g = read_gazetteer(path)
    assert [(p.line, p.field) for p in g.problems] == [(2, "crs")]
    assert g.layer["name"].tolist() == ["乙"]


# --------------------------------------------------------------------------------------------
# Bad rows
# --------------------------------------------------------------------------------------------


def test_swapped_lat_lon_rejected_with_its_line_good_rows_load(tmp_path):
    path = _csv(
        tmp_path,
        "name,lon,lat\n"
        "凤台街,112.85,35.50\n"
        "中原街,35.49,112.86\n"  # line 3: swapped
        "泽州路,112.87,35.51\n",
    )
    for bounds in (None, JINCHENG):
        g = read_gazetteer(path, region_bounds=bounds)
        assert len(g.problems) == 1
        prob = g.problems[0]
        assert prob.line == 3
        assert prob.file == str(path)
        assert "swapped" in prob.message
        assert g.layer["name"].tolist() == ["凤台街", "泽州路"]


def test_point_far_from_region_reported(tmp_path):
    path = _csv(tmp_path, "name,lon,lat\n近,112.85,35.50\n远,116.40,39.90\n")
    g = read_gazetteer(path, region_bounds=JINCHENG, max_km=50.0)
    assert _lines(g) == [3]
    assert "km" in g.problems[0].message
    assert g.layer["name"].tolist() == ["近"]
    # Without a region only China's extent is checked, so the same row loads.
    assert read_gazetteer(path).problems == []


BAD_ROWS_CSV = (
    "name,kind,lon,lat\n"
    "凤台街,street,112.85,35.50\n"  # 2 good
    "中原街,street,abc,35.49\n"  # 3 non-numeric lon
    ",street,112.86,35.50\n"  # 4 empty name
    "泽州路,spaceport,112.87,35.51\n"  # 5 unknown kind
    "\n"  # 6 blank line: skipped, still counted
    "书院街,street,112.84,35.52\n"  # 7 good
    "白水街,street,112.84,95.0\n"  # 8 latitude out of range
)


def test_bad_rows_reported_with_line_numbers_good_rows_load(tmp_path):
    path = _csv(tmp_path, BAD_ROWS_CSV)
    g = read_gazetteer(path)
    assert [(p.line, p.field) for p in g.problems] == [(3, "lon"), (4, "name"), (5, "kind"), (8, "lat")]
    assert "abc" in g.problems[0].message
    assert "spaceport" in g.problems[2].message
    assert all(p.file == str(path) for p in g.problems)
    assert g.layer["name"].tolist() == ["凤台街", "书院街"]
    assert g.layer["id"].tolist() == ["g2", "g7"]


def test_strict_raises_with_every_problem(tmp_path):
    path = _csv(tmp_path, BAD_ROWS_CSV)
    with pytest.raises(InputError) as exc:
        read_gazetteer(path, strict=True)
    assert [p.line for p in exc.value.problems] == [3, 4, 5, 8]
    # A clean file is fine under strict too.
    assert read_gazetteer(_csv(tmp_path, GOOD_CSV, name="ok.csv"), strict=True).problems == []


def test_line_numbers_count_quoted_multiline_fields(tmp_path):
    path = _csv(
        tmp_path,
        'name,lon,lat,note\n甲,112.85,35.50,"第一行\n第二行"\n,112.86,35.50,\n',
    )
    g = read_gazetteer(path)
    assert g.layer["note"].iloc[0] == "第一行\n第二行"
    # The empty name is on line 4 of the file, as an editor shows it.
    assert _lines(g) == [4]


def test_unquoted_comma_shifting_columns_is_reported(tmp_path):
    path = _csv(tmp_path, "name,lon,lat,note\n甲,112.85,35.50,路口,东侧\n乙,112.86,35.50,\n")
    g = read_gazetteer(path)
    assert _lines(g) == [2]
    assert "comma" in g.problems[0].message
    assert g.layer["name"].tolist() == ["乙"]


def test_accuracy_column_used_when_given(tmp_path):
    path = _csv(tmp_path, "name,lon,lat,accuracy_m\n甲,112.85,35.50,5\n乙,112.86,35.50,\n丙,112.87,35.5,-1\n")
    g = read_gazetteer(path)
    assert g.layer["accuracy_m"].tolist() == [5.0, 20.0]
    assert [(p.line, p.field) for p in g.problems] == [(4, "accuracy_m")]


# --------------------------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------------------------


def test_missing_lat_column_is_fatal_and_named(tmp_path):
    path = _csv(tmp_path, "name,kind,lon\n凤台街,street,112.85\n")
    with pytest.raises(InputError) as exc:
        read_gazetteer(path)
    (prob,) = exc.value.problems
    assert prob.file == str(path)
    assert prob.field == "lat"
    assert "'lat'" in prob.message
    assert "name, kind, lon" in prob.message  # the columns found


def test_chinese_headers_and_kind_labels(tmp_path):
    path = _csv(
        tmp_path,
        "名称,类型,经度,纬度\n凤鸣小学,中小学校,112.85,35.50\n人民医院,医院,112.86,35.50\n某街,Street,112.87,35.50\n",
    )
    g = read_gazetteer(path)
    assert g.problems == []
    assert g.layer["name"].tolist() == ["凤鸣小学", "人民医院", "某街"]
    assert g.layer["kind"].tolist() == ["school", "hospital", "street"]


def test_headers_case_insensitive_and_category_alias(tmp_path):
    path = _csv(tmp_path, "Name,类别,LON,Lat,CRS,备注\n甲,公园,112.85,35.50,Gcj-02,x\n")
    g = read_gazetteer(path)
    assert g.problems == []
    row = g.layer.iloc[0]
    assert (row["kind"], row["crs_in"], row["note"]) == ("park", "gcj02", "x")


def test_unsupported_suffix_and_missing_file(tmp_path):
    with pytest.raises(InputError):
        read_gazetteer(tmp_path / "nope.csv")
    other = tmp_path / "places.kml"
    other.write_text("<kml/>")
    with pytest.raises(InputError):
        read_gazetteer(other)


def test_header_only_file_gives_empty_layer(tmp_path):
    g = read_gazetteer(_csv(tmp_path, "name,lon,lat\n"))
    assert g.problems == []
    assert len(g.layer) == 0
    assert {"note", "crs_in", *STANDARD_COLUMNS} <= set(g.layer.columns)
