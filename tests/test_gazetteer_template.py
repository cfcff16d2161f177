"""``geo gazetteer template``: the plans' unplaced places as a sheet to fill in, and back.

The round trip is what a user does: write the template, fill each row with a point picked on a
GCJ-02 map (高德/腾讯), pass it back with ``--gazetteer``, and find every place where it was
picked and no 示意 notice left. The "truth" points are an obvious test grid (300 m steps in the
Gauss-Krüger CRS around the region's centre), converted to GCJ-02 with :mod:`geo.crs`.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import openpyxl
import pytest
import shapely
from pyproj import Transformer

from geo.build import build_plan
from geo.crs import from_wgs84
from geo.plan import PLACE_KINDS, get_plan
from geo.regions import get_region
from geo.resolve.gazetteer import read_gazetteer

HEADERS = [
    "名称",
    "类型",
    "经度",
    "纬度",
    "坐标系",
    "几何",
    "备注",
    "街路",
    "参照物",
    "方位关系",
    "标签",
    "方案",
    "地点编号",
    "条文",
]


def _rows(xlsx: Path) -> list[dict]:
    ws = openpyxl.load_workbook(xlsx)["地点"]
    values = list(ws.iter_rows(values_only=True))
    assert list(values[0]) == HEADERS
    return [dict(zip(values[0], (v if v is not None else "" for v in r), strict=True)) for r in values[1:]]


@pytest.fixture(scope="module")
def template_001(tmp_path_factory):
    from tests.conftest import run_geo

    d = tmp_path_factory.mktemp("tpl")
    res = run_geo("gazetteer", "template", "001", "--out", str(d / "places.xlsx"))
    assert res.returncode == 0, res.stderr
    return d / "places.xlsx"


def test_template_lists_every_place_as_written(template_001):
    plan = get_plan("001")
    rows = _rows(template_001)
    assert [r["名称"] for r in rows] == [p.name for p in plan.places]  # no real source given: all
    by_name = {r["名称"]: r for r in rows}
    r = by_name["文昌街望川楼路段"]
    assert (r["街路"], r["参照物"], r["方位关系"]) == ("文昌街", "望川楼", "路段")
    assert r["类型"] == PLACE_KINDS["market"] and r["地点编号"] == "001.wenchang_jie_wangchuanlou"
    assert r["条文"] == plan.place("wenchang_jie_wangchuanlou").clause
    assert all(r["坐标系"] == "gcj02" and r["经度"] == "" and r["纬度"] == "" for r in rows)
    wb = openpyxl.load_workbook(template_001)
    assert wb.sheetnames == ["地点", "填写说明"]
    help_text = "\n".join(str(c.value) for c in wb["填写说明"]["A"] if c.value)
    assert "gcj02" in help_text and "高德" in help_text and "--gazetteer" in help_text
    # Text cells only: nothing the plan says can become a spreadsheet formula.
    assert all(c.data_type == "s" for row in wb["地点"].iter_rows() for c in row if c.value is not None)


def test_template_csv_is_gbk_with_the_same_rows(template_001):
    data = template_001.with_suffix(".csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # GBK, as Chinese Excel saves and opens CSV
    rows = list(csv.DictReader(io.StringIO(data.decode("gbk"))))
    assert rows == _rows(template_001)


def test_template_leaves_out_what_a_real_source_places(tmp_path, geo_cli):
    region = get_region("晋城市城区")
    lon, lat = region.centre
    gaz = tmp_path / "known.csv"
    gaz.write_text(f"名称,类型,经度,纬度\n泽州路,街路,{lon:.6f},{lat:.6f}\n", encoding="utf-8")
    out = tmp_path / "t.xlsx"
    res = geo_cli("gazetteer", "template", "000", "001", "--gazetteer", str(gaz), "--out", str(out))
    assert res.returncode == 0, res.stderr
    rows = _rows(out)
    names = [r["名称"] for r in rows]
    assert "泽州路" not in names and "凤台街" in names
    assert len(names) == len(set(names))  # 凤台街 is in both plans: one row
    assert next(r for r in rows if r["名称"] == "凤台街")["方案"] == "000;001"


def test_template_bad_input(tmp_path, geo_cli):
    res = geo_cli("gazetteer", "template", "001", "--out", str(tmp_path / "x.csv"))
    assert res.returncode == 2 and "xlsx" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "x.csv").exists()
    res = geo_cli("gazetteer", "template", "999", "--out", str(tmp_path / "x.xlsx"))
    assert res.returncode == 2 and "999" in res.stderr
    assert not (tmp_path / "x.xlsx").exists() and not (tmp_path / "x.csv").exists()


def _fill(template: Path, out: Path, skip: set[str] = frozenset()) -> dict[str, tuple[float, float]]:
    """Fill the template with GCJ-02 points of a test grid; returns the WGS84 truth by name."""
    region = get_region("晋城市城区")
    to_m = Transformer.from_crs(4326, region.epsg, always_xy=True)
    to_ll = Transformer.from_crs(region.epsg, 4326, always_xy=True)
    x0, y0 = to_m.transform(*region.centre)
    wb = openpyxl.load_workbook(template)
    ws = wb["地点"]
    col = {c.value: i for i, c in enumerate(ws[1])}
    truth = {}
    for k, row in enumerate(ws.iter_rows(min_row=2)):
        name = row[col["名称"]].value
        if name in skip:
            continue
        lon, lat = to_ll.transform(x0 - 900 + 300 * (k % 7), y0 - 900 + 300 * (k // 7))
        glon, glat = from_wgs84(lon, lat, "gcj02")
        row[col["经度"]].value, row[col["纬度"]].value = float(glon), float(glat)
        truth[name] = (lon, lat)
    wb.save(out)
    return truth


def test_round_trip_places_where_picked(template_001, tmp_path):
    filled = tmp_path / "filled.xlsx"
    truth = _fill(template_001, filled)
    gaz = read_gazetteer(filled)
    assert gaz.problems == [] and set(gaz.layer["crs_in"]) == {"gcj02"}
    data = build_plan(get_plan("001"), gazetteers=[filled])
    assert len(data.unresolved) == 0
    assert set(data.places["source"]) == {"gazetteer"}
    epsg = data.epsg
    got = data.places.to_crs(epsg)
    want = gpd.GeoSeries([shapely.Point(truth[n]) for n in data.places["name"]], crs=4326).to_crs(epsg)
    err = got.geometry.distance(want, align=False)
    assert err.max() <= 1.0, err.max()
    assert not data.schematic and data.sources_used == ["gazetteer"]


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def test_round_trip_build_carries_no_schematic_notice(template_001, tmp_path, geo_cli):
    filled = tmp_path / "filled.xlsx"
    _fill(template_001, filled)
    res = geo_cli("build", "001", "--gazetteer", str(filled), "--out", str(tmp_path / "real"))
    assert res.returncode == 0, res.stderr
    assert "schematic" not in res.stderr  # no "geometry from the bundled schematic" note
    out = tmp_path / "real"
    assert "示意" not in (out / "001" / "index.html").read_text(encoding="utf-8")
    assert "示意" not in (out / "index.html").read_text(encoding="utf-8")
    summary = json.loads((out / "plans.json").read_text(encoding="utf-8"))["plans"]
    assert [p["schematic"] for p in summary] == [False]
    if shutil.which("pdftotext"):
        assert "示意" not in _pdf_text(out / "001" / "map.pdf")
    # Control: one row left empty falls back to the schematic extract, and the maps say so.
    partial = tmp_path / "partial.xlsx"
    _fill(template_001, partial, skip={"英雄公园"})
    res = geo_cli("map", "001", "--gazetteer", str(partial), "--out", str(tmp_path / "p.html"))
    assert res.returncode == 0, res.stderr
    assert "示意" in (tmp_path / "p.html").read_text(encoding="utf-8")
