"""Responsibility analysis: coverage per unit, overlaps, gaps, ad spacing, targets.

Synthetic cases are laid out in Gauss-Krüger metres (EPSG:4547) around an obvious test origin
near 许昌's centre and converted to WGS84, so the expected answers are exact.
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, MultiLineString, Point

from geo.analysis import coverage, coverage_layers, gaps, overlaps, spacing_check, target_table
from geo.build import build_plan
from geo.layers import STANDARD_COLUMNS
from geo.plan import get_plan, load_plan
from geo.regions import get_region

EPSG = 4547
TO_WGS = Transformer.from_crs(EPSG, 4326, always_xy=True)
X0, Y0 = 482_000.0, 3_767_000.0
R = 200.0  # both circles
D = 200.0  # between their centres


def _lonlat(x: float, y: float) -> tuple[float, float]:
    return TO_WGS.transform(x, y)


def _lens_area(r: float, d: float) -> float:
    """Area shared by two circles of radius r whose centres are d apart."""
    return 2 * r * r * math.acos(d / (2 * r)) - (d / 2) * math.sqrt(4 * r * r - d * d)


SYNTHETIC_PLAN = """\
schema_version: 1
id: t_cover
document:
  doc_number: 测试〔2023〕2号
  title: 覆盖测试方案
  issuer: 测试单位
  issued: 2023-01-01
  region: 许昌市中心城区
  source_file: test.txt
  span: {start: 2023-01-01, end: 2023-12-31}
units:
  - {id: a, name: 甲单位}
  - {id: b, name: 乙单位}
  - {id: c, name: 丙单位}
phases:
  - {id: p1, name: 全年, start: 2023-01-01, end: 2023-12-31, clause: 全年}
places:
  - {id: p_a, name: 测试甲点, kind: landmark}
  - {id: p_b, name: 测试乙点, kind: landmark}
  - {id: p_c, name: 测试丙点, kind: landmark}
  - {id: s1, name: 测试大街, kind: street}
rules:
  - id: r_a
    applies_to: {places: [p_a], label: 测试甲点}
    distance_m: 200
    restriction: 甲限制
    clause: 甲条文
    phases: [p1]
    lead: [a]
  - id: r_b
    applies_to: {places: [p_b], label: 测试乙点}
    distance_m: 200
    restriction: 乙限制
    clause: 乙条文
    phases: [p1]
    units: [b]
  - id: r_nobody
    applies_to: {places: [p_c], label: 测试丙点}
    distance_m: 200
    restriction: 无人负责
    clause: 丙条文
    phases: [p1]
tasks:
  - {id: t1, number: "1", title: 甲任务, clause: 甲任务条文, lead: [a], units: [c], places: [s1]}
  - {id: t2, number: "2", title: 乙任务, clause: 乙任务条文, units: [b]}
"""


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> object:
    tmp: Path = tmp_path_factory.mktemp("cover")
    rows = ["name,kind,lon,lat,wkt"]
    for name, x in (("测试甲点", X0), ("测试乙点", X0 + D), ("测试丙点", X0 + 3000)):
        lon, lat = _lonlat(x, Y0)
        rows.append(f"{name},landmark,{lon:.9f},{lat:.9f},")
    street = ", ".join("{:.9f} {:.9f}".format(*_lonlat(x, Y0 - 1000)) for x in np.linspace(X0, X0 + 1500, 4))
    rows.append(f'测试大街,street,,,"LINESTRING ({street})"')
    gaz = tmp / "gaz.csv"
    gaz.write_text("\n".join(rows) + "\n", encoding="utf-8")
    plan_file = tmp / "t_cover.yaml"
    plan_file.write_text(SYNTHETIC_PLAN, encoding="utf-8")
    return build_plan(load_plan(plan_file), gazetteers=[gaz])


def test_synthetic_overlap_is_the_lens(synthetic):
    ov = overlaps(synthetic)
    assert len(ov) == 1
    row = ov.iloc[0]
    assert (row["rule_a"], row["rule_b"]) == ("r_a", "r_b")
    assert (row["units_a"], row["units_b"], row["shared"]) == ("甲单位", "乙单位", "")
    expected = _lens_area(R, D)
    assert abs(row["area_m2"] - expected) / expected < 0.01
    # The geometry is the lens, in WGS84.
    assert ov.crs.to_epsg() == 4326
    assert abs(ov.to_crs(EPSG).area.iloc[0] - expected) / expected < 0.01


def test_synthetic_gap_is_the_rule_without_unit(synthetic):
    g = gaps(synthetic)
    assert list(g["gap"]) == ["rule_without_unit"]
    assert list(g["rule_id"]) == ["r_nobody"]
    assert g.geometry.iloc[0] is not None and g.geometry.iloc[0].area > 0


def test_same_units_are_not_an_overlap():
    data = build_plan(get_plan("000"))
    # 示范区 100 m inside 500 m: same unit set, so not two teams on one spot.
    assert len(overlaps(data)) == 0


def test_synthetic_coverage(synthetic):
    cov = coverage(synthetic).set_index("unit_id")
    assert list(cov.index) == ["a", "b", "c"]
    assert cov.loc["a", "role"] == "牵头" and cov.loc["c", "role"] == "责任"
    assert cov.loc["a", "task_ids"] == "t1" and cov.loc["a", "rule_ids"] == "r_a"
    assert cov.loc["b", "n_tasks"] == 1 and cov.loc["b", "rule_ids"] == "r_b"
    circle_km2 = math.pi * R * R / 1e6
    assert cov.loc["a", "zone_area_km2"] == pytest.approx(circle_km2, rel=0.005)
    assert cov.loc["c", "zone_area_km2"] == 0
    # The street of task t1 counts for its lead and its responsible unit, 1.5 km long.
    for unit in ("a", "c"):
        assert cov.loc[unit, "streets"] == "测试大街"
        assert cov.loc[unit, "street_km"] == pytest.approx(1.5, abs=0.002)
    assert cov.loc["b", "streets"] == "" and cov.loc["b", "street_km"] == 0
    layers = coverage_layers(synthetic)
    assert set(layers) == {"unit_zones", "unit_streets", "overlaps", "gaps"}
    for layer in layers.values():
        assert list(layer.columns[: len(STANDARD_COLUMNS)]) == list(STANDARD_COLUMNS)
        assert layer.crs.to_epsg() == 4326
    assert sorted(layers["unit_zones"]["units"]) == ["乙单位", "甲单位"]
    assert len(layers["overlaps"]) == 1 and len(layers["gaps"]) == 1


def test_jincheng_coverage_names_every_unit():
    for plan_id in ("000", "001", "004"):
        data = build_plan(get_plan(plan_id))
        cov = coverage(data)
        named = {u for t in data.plan.tasks for u in t.lead + t.units} | {
            u for r in data.plan.rules for u in r.lead + r.units
        }
        # every unit a task or rule names is a row; a unit given nothing is not
        assert set(cov["unit_id"]) == named, plan_id
        assert (cov["schematic"] == "示意").any() and set(cov["schematic"]) <= {"示意", ""}
        for _, row in cov.iterrows():
            assert bool(row["role"]) == (row["unit_id"] in named)
            assert row["n_tasks"] == len([t for t in data.plan.tasks if row["unit_id"] in t.lead + t.units])
        if plan_id == "000":
            row = cov.set_index("unit_id").loc["qu_huanwei_zhongxin"]
            assert "凤台街" in row["streets"] and row["street_km"] > 0
            demo = cov.set_index("unit_id").loc["qu_shengtai_huanjing_fenju"]
            assert demo["zone_area_km2"] > 0 and demo["rule_ids"] == "r_demo_500;r_demo_100"


# --------------------------------------------------------------------------------------------
# Spacing


def _street(xs: list[float], y: float) -> LineString:
    return LineString([_lonlat(x, y) for x in np.linspace(xs[0], xs[1], 21)])


def _ads(positions, y_offset=5.0, themes=None) -> gpd.GeoDataFrame:
    pts = [Point(*_lonlat(X0 + p, Y0 + y_offset)) for p in positions]
    data = {"theme": themes} if themes is not None else {}
    return gpd.GeoDataFrame(data, geometry=pts, crs=4326)


def test_spacing_gaps_on_a_straight_street():
    street = gpd.GeoDataFrame(
        {"id": ["s1"], "name": ["测试大街"]}, geometry=[_street([X0, X0 + 1000], Y0)], crs=4326
    )
    positions = [50, 120, 300, 350, 600]
    themes = ["未成年人思想道德建设", "诚信", "未成年人思想道德建设主题", "文明交通", "节约"]
    ads = _ads(positions, themes=themes)
    far = _ads([500], y_offset=100.0, themes=["未成年人思想道德建设"])  # beyond the 30 m snap
    ads = gpd.GeoDataFrame(pd.concat([ads, far], ignore_index=True), crs=4326)
    per, gp = spacing_check(
        street, ads, 100, epsg=EPSG, theme_column="theme", theme="未成年人思想道德建设", min_share_pct=30
    )
    expected = [(120, 300), (350, 600), (600, 1000)]
    assert len(gp) == len(expected)
    for (_, g), (a, b) in zip(gp.iterrows(), expected, strict=True):
        assert g["from_m"] == pytest.approx(a, abs=0.5) and g["to_m"] == pytest.approx(b, abs=0.5)
        assert gpd.GeoSeries([g.geometry], crs=4326).to_crs(EPSG).length.iloc[0] == pytest.approx(
            b - a, abs=0.5
        )
    row = per.iloc[0]
    assert row["length_m"] == pytest.approx(1000, abs=0.5)
    assert row["n_ads"] == 5 and row["n_gaps"] == 3 and not row["spacing_ok"]
    assert row["compliance_pct"] == pytest.approx(100 * (1 - 830 / 1000), abs=0.1)
    assert row["longest_stretch_m"] == pytest.approx(400, abs=0.5)
    assert row["n_theme"] == 2 and row["theme_share_pct"] == pytest.approx(40.0) and row["theme_ok"]
    summary = per.attrs["summary"]
    assert summary["n_ads"] == 6 and summary["n_snapped"] == 5 and summary["n_unsnapped"] == 1


def test_spacing_multipart_street_and_full_compliance():
    part1 = [_lonlat(x, Y0) for x in np.linspace(X0, X0 + 300, 7)]
    part2 = [_lonlat(x, Y0) for x in np.linspace(X0 + 500, X0 + 700, 5)]
    street = gpd.GeoDataFrame({"id": ["m"]}, geometry=[MultiLineString([part1, part2])], crs=4326)
    ads = _ads([90, 180, 270, 600])  # part 1 every 90 m; part 2 one ad in the middle
    per, gp = spacing_check(street, ads, 100, epsg=EPSG)
    row = per.iloc[0]
    assert row["n_parts"] == 2 and row["n_ads"] == 4
    assert row["length_m"] == pytest.approx(500, abs=0.5)
    assert len(gp) == 0 and row["spacing_ok"] and row["compliance_pct"] == pytest.approx(100)
    assert pd.isna(row["theme_share_pct"])
    # Without the middle ad, part 2 (200 m) is one gap from 0 to 200 along that part.
    per, gp = spacing_check(street, _ads([90, 180, 270]), 100, epsg=EPSG)
    assert list(gp["part"]) == [1]
    assert gp["from_m"].iloc[0] == pytest.approx(0, abs=0.5) and gp["to_m"].iloc[0] == pytest.approx(
        200, abs=0.5
    )
    assert per["compliance_pct"].iloc[0] == pytest.approx(60, abs=0.1)


# --------------------------------------------------------------------------------------------
# Targets


def test_target_table_met_and_margin():
    plan = get_plan("002")
    figures = pd.DataFrame(
        {
            "target": ["manhole", "manhole", "t9.ad_minor_share", "负面清单情形发生数"],
            "area": ["魏都区", "建安区", "中心城区", ""],
            "value": [98.5, 97.0, 30, 1],
        }
    )
    table = target_table(plan, figures)
    got = table[table["value"].notna()].set_index(["target_id", "area"])
    assert bool(got.loc[("manhole", "魏都区"), "met"]) and got.loc[
        ("manhole", "魏都区"), "margin"
    ] == pytest.approx(0.5)
    assert not bool(got.loc[("manhole", "建安区"), "met"])
    assert got.loc[("manhole", "建安区"), "margin"] == pytest.approx(-1.0)
    assert bool(got.loc[("ad_minor_share", "中心城区"), "met"])
    neg = got.loc[("negative_list", "")]
    assert not bool(neg["met"]) and neg["margin"] == pytest.approx(-1)
    # Every target appears; unmeasured ones have no verdict.
    n_targets = sum(len(t.targets) for t in plan.tasks)
    assert table["target_id"].nunique() == n_targets
    assert table.loc[table["value"].isna(), "met"].isna().all()
    with pytest.raises(ValueError, match="row 1"):
        target_table(plan, pd.DataFrame({"target": ["nope"], "value": [1]}))


def test_school_just_outside_the_region_is_a_gap(tmp_path):
    plan = get_plan("002")
    boundary_m = gpd.GeoSeries([get_region(plan.document.region).boundary], crs=4326).to_crs(EPSG).iloc[0]
    coords = shapely.get_coordinates(boundary_m)
    ex, ey = coords[np.argmax(coords[:, 0])]  # the region's eastmost vertex
    rows = ["name,kind,lon,lat"]
    for name, dx in (("测试边界外学校", 100.0), ("测试远处学校", 5000.0)):
        lon, lat = _lonlat(ex + dx, ey)
        rows.append(f"{name},school,{lon:.9f},{lat:.9f}")
    gaz = tmp_path / "schools.csv"
    gaz.write_text("\n".join(rows) + "\n", encoding="utf-8")
    data = build_plan(plan, gazetteers=[gaz])
    assert not data.zones["place_name"].isin(["测试边界外学校", "测试远处学校"]).any()
    g = gaps(data)
    near = g[g["name"] == "测试边界外学校"]
    assert list(near["gap"]) == ["place_outside_zones"] and list(near["rule_id"]) == ["r_school_200"]
    assert near["distance_to_region_m"].iloc[0] == pytest.approx(100, abs=0.5)
    assert "测试远处学校" not in set(g["name"])
