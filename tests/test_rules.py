"""Distance rules → zones: sizes measured in metres, membership at the edges, completeness.

Positions are built in the Gauss-Krüger CRS (EPSG:4547) from the bundled plans' own geometry or
from obvious test coordinates near 许昌's centre, never hard-coded lon/lat of real places.
"""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point

from geo.build import build_plan
from geo.layers import make_layer
from geo.plan import get_plan, load_plan
from geo.query import query_plan
from geo.regions import get_region
from geo.rules import ZONE_COLUMNS, build_zones, in_force

EPSG = 4547
TO_GK = Transformer.from_crs(4326, EPSG, always_xy=True)
TO_WGS = Transformer.from_crs(EPSG, 4326, always_xy=True)
# An obvious test origin near 许昌's centre (GK metres), inside the region.
X0, Y0 = 482_000.0, 3_767_000.0


def _wgs(x: float, y: float) -> Point:
    lon, lat = TO_WGS.transform(x, y)
    return Point(lon, lat)


@pytest.fixture(scope="module")
def xuchang():
    return build_plan(get_plan("002"))


@pytest.fixture(scope="module")
def jincheng():
    return build_plan(get_plan("000"))


def test_circle_areas_in_metres():
    plan = get_plan("002")
    region = get_region(plan.document.region)
    pts = [_wgs(X0 + 700 * i, Y0 + 300 * (i % 2)) for i in range(6)]
    pois = make_layer(
        [
            {
                "id": f"user/{i}",
                "name": f"测试农贸市场{i}" if kind == "market" else f"测试点{i}",  # 002 reaches 农贸市场
                "kind": kind,
                "source": "user",
                "source_ref": f"t:{i}",
                "accuracy_m": 1.0,
                "matched_by": "exact",
            }
            for i, kind in enumerate(["school", "school", "school", "market", "station", "hospital"])
        ],
        geometry=pts,
    )
    zones = build_zones(plan, pois.iloc[0:0], pois, EPSG, boundary=region.boundary)
    assert sorted(zones["place_kind"]) == ["hospital", "market", "school", "school", "school", "station"]
    areas = zones.to_crs(EPSG).area
    for (_, z), area in zip(zones.iterrows(), areas, strict=True):
        expected = math.pi * z["distance_m"] ** 2
        assert abs(area - expected) / expected < 0.005, (z["place_kind"], area, expected)
    assert set(zones["distance_m"]) == {200.0, 500.0}


def _synthetic_street_plan(tmp_path: Path):
    """A one-rule plan: 200 m corridor around a straight 1 km street from a gazetteer."""
    xs = np.linspace(X0, X0 + 1000, 11)
    lonlat = [TO_WGS.transform(x, Y0) for x in xs]
    wkt = "LINESTRING (" + ", ".join(f"{lo:.9f} {la:.9f}" for lo, la in lonlat) + ")"
    gaz = tmp_path / "gaz.csv"
    gaz.write_text(f'name,kind,wkt\n测试大街,street,"{wkt}"\n', encoding="utf-8")
    yaml = textwrap.dedent(
        """\
        schema_version: 1
        id: t_street
        document:
          doc_number: 测试〔2023〕1号
          title: 测试方案
          issuer: 测试单位
          issued: 2023-01-01
          region: 许昌市中心城区
          source_file: test.txt
          span: {start: 2023-01-01, end: 2023-12-31}
        units:
          - {id: a, name: 甲单位}
        phases:
          - {id: p1, name: 全年, start: 2023-01-01, end: 2023-12-31, clause: 全年}
        places:
          - {id: s1, name: 测试大街, kind: street}
        rules:
          - id: r_street_200
            applies_to: {places: [s1], label: 测试大街}
            distance_m: 200
            restriction: 测试限制
            clause: 测试条文
            phases: [p1]
            units: [a]
        tasks:
          - {id: t1, number: "1", title: 测试, clause: 测试条文, units: [a]}
        """
    )
    path = tmp_path / "t_street.yaml"
    path.write_text(yaml, encoding="utf-8")
    return build_plan(load_plan(path), gazetteers=[gaz])


def test_corridor_width(tmp_path):
    data = _synthetic_street_plan(tmp_path)
    assert list(data.zones["rule_id"]) == ["r_street_200"]
    zone = data.zones.geometry.iloc[0]
    street_m = data.places.to_crs(EPSG).geometry.iloc[0]
    mid = street_m.interpolate(0.5, normalized=True)
    inside, outside = _wgs(mid.x, mid.y + 199), _wgs(mid.x, mid.y - 201)
    assert zone.contains(inside) and not zone.contains(outside)
    # The query engine agrees, and measures the 199 m.
    res = query_plan(gpd.GeoDataFrame(geometry=[inside, outside], crs=4326), data)
    assert list(res["in_zone"]) == [True, False]
    assert res["dist_to_place_m"].iloc[0] == pytest.approx(199, abs=0.05)


def _point_at_distance(poly_m, metres: float) -> Point:
    """A GK point due east of the place's centroid, ``metres`` from the place (bisection)."""
    c = poly_m.centroid
    lo, hi = 0.0, metres + (poly_m.bounds[2] - c.x) + 10
    for _ in range(80):
        mid = (lo + hi) / 2
        if poly_m.distance(Point(c.x + mid, c.y)) < metres:
            lo = mid
        else:
            hi = mid
    return Point(c.x + hi, c.y)


def test_school_zone_edge(xuchang):
    school = xuchang.zones[xuchang.zones["rule_id"] == "r_school_200"].iloc[0]
    place = xuchang.kind_places.set_index("id").loc[school["place_id"]]
    place_m = gpd.GeoSeries([place.geometry], crs=4326).to_crs(EPSG).iloc[0]
    near_m, far_m = _point_at_distance(place_m, 150), _point_at_distance(place_m, 250)
    assert place_m.distance(near_m) == pytest.approx(150, abs=0.01)
    near, far = _wgs(near_m.x, near_m.y), _wgs(far_m.x, far_m.y)
    assert school.geometry.contains(near)
    assert not school.geometry.contains(far)
    res = query_plan(gpd.GeoDataFrame({"case": ["near", "far"]}, geometry=[near, far], crs=4326), xuchang)
    hits = res[res["zone_id"] == school["id"]]
    assert list(hits["case"]) == ["near"]
    assert hits["dist_to_place_m"].iloc[0] == pytest.approx(150, abs=0.05)


def test_demo_zone_100_inside_500(jincheng):
    zones = jincheng.zones.to_crs(EPSG)
    inner = zones[zones["rule_id"] == "r_demo_100"].set_index("place_id").geometry
    outer = zones[zones["rule_id"] == "r_demo_500"].set_index("place_id").geometry
    assert len(inner) == len(outer) >= 1 and set(inner.index) == set(outer.index)
    for pid, ring in inner.items():
        assert ring.within(outer[pid].buffer(0.01)), pid
        # Nested rings of one place: the gap between them is 400 m all round.
        assert ring.exterior.distance(outer[pid].exterior) == pytest.approx(400, abs=1.0)


@pytest.mark.parametrize("plan_fixture", ["jincheng", "xuchang"])
def test_every_zone_is_complete(request, plan_fixture):
    data = request.getfixturevalue(plan_fixture)
    zones = data.zones
    assert len(zones) and set(ZONE_COLUMNS) <= set(zones.columns)
    for _, z in zones.iterrows():
        for col in (
            "rule_id",
            "restriction",
            "clause",
            "phase_id",
            "units",
            "source",
            "source_ref",
        ):
            assert isinstance(z[col], str) and z[col], (z["id"], col)
        # The 文号 as printed; 002's text prints none, and none is stored (maps show 未载).
        doc_number = data.plan.document.doc_number
        assert z["doc_number"] == doc_number if doc_number else pd.isna(z["doc_number"])
        intervals = z["phase_dates"].split(";")
        assert len(intervals) == len(z["phase_id"].split(";"))
        # start/end, start/ (runs on) or /end (a deadline only: “3月8日前”)
        date = r"\d{4}-\d{2}-\d{2}"
        assert all(re.fullmatch(rf"({date}/({date})?|/{date})", iv) for iv in intervals), intervals
        assert z["matched_by"] and z["source"] in ("osm", "gazetteer", "schematic", "user")
        assert z.geometry.is_valid and not z.geometry.is_empty
        rule = next(r for r in data.plan.rules if r.id == z["rule_id"])
        assert z["clause"] == rule.clause and z["distance_m"] == rule.distance_m
    assert zones.crs.to_epsg() == 4326


def test_in_force_reads_phase_dates(jincheng):
    field = jincheng.zones["phase_dates"].iloc[0]
    assert in_force(field, "2023-03-15") and in_force(field, "2023-04-15")
    assert not in_force(field, "2023-03-14") and not in_force(field, "2023-05-01")
    assert in_force("2023-01-01/", "2030-01-01")


def test_zone_geometry_is_wgs84_lonlat(xuchang):
    b = shapely.total_bounds(np.asarray(xuchang.zones.geometry.array))
    region = get_region("许昌")
    rb = region.boundary.bounds
    assert rb[0] - 0.05 < b[0] < b[2] < rb[2] + 0.05 and rb[1] - 0.05 < b[1] < b[3] < rb[3] + 0.05
    # Stored in degrees, measured in metres: a 200 m school zone is about 400 m across in GK.
    school = xuchang.zones[xuchang.zones["rule_id"] == "r_school_200"].to_crs(EPSG).iloc[0].geometry
    minx, _, maxx, _ = school.bounds
    assert 400 < maxx - minx < 1000
