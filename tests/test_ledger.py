"""The case ledger (geo.ledger) on a real GeoPackage file: store, import, upsert, assignment, grids,
report, and a kill -9 in the middle of an import."""

from __future__ import annotations

import csv
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from geo.crs import from_wgs84
from geo.errors import InputError
from geo.ledger.assign import Context, context_for
from geo.ledger.cases import import_cases, read_cases
from geo.ledger.grid import check_topology, make_grid, save_grid
from geo.ledger.report import export_frame, overdue_cases, summary, write_report
from geo.ledger.store import SCHEMA_VERSION, open_store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
HEADER = [
    "案件编号",
    "上报时间",
    "问题类型",
    "问题描述",
    "经度",
    "纬度",
    "地址",
    "状态",
    "时限(天)",
    "结案时间",
    "责任单位",
]


def write_csv(path: Path, rows: list[list], header=HEADER, encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def cases_table(store) -> pd.DataFrame:
    return store.frame("SELECT * FROM cases ORDER BY case_id").drop(columns=["fid"])


# A few cases with answers known by hand (as of 2023-04-20):
#   K1 closed on day 2 of a 3-day limit (on time), K2 closed 2 days late, K3 open and overdue by 5 days,
#   K4 open, due after the as-of date, K5 struck off (销号) on time, K6 reported after the as-of date.
KNOWN = [
    [
        "K1",
        "2023-04-01 09:00",
        "占道经营",
        "d1",
        "112.85",
        "35.50",
        "",
        "已结案",
        "3",
        "2023-04-03 10:00",
        "甲单位",
    ],
    [
        "K2",
        "2023-04-01 09:00",
        "占道经营",
        "d2",
        "112.85",
        "35.50",
        "",
        "已结案",
        "3",
        "2023-04-06 10:00",
        "甲单位",
    ],
    ["K3", "2023-04-10 09:00", "垃圾满溢", "d3", "112.85", "35.50", "", "待处置", "5", "", "甲单位"],
    ["K4", "2023-04-18 09:00", "垃圾满溢", "d4", "112.85", "35.50", "", "处置中", "7", "", "乙单位"],
    [
        "K5",
        "2023-04-02 09:00",
        "井盖缺失",
        "d5",
        "112.85",
        "35.50",
        "",
        "销号",
        "3",
        "2023-04-04 09:00",
        "乙单位",
    ],
    ["K6", "2023-04-25 09:00", "井盖缺失", "d6", "112.85", "35.50", "", "待处置", "3", "", "乙单位"],
]


def check_known_report(store) -> None:
    u = summary(store, "unit", "2023-04-20").set_index("unit")
    a, b = u.loc["甲单位"], u.loc["乙单位"]
    assert (a.received, a.closed, a.closed_on_time, a.open, a.open_overdue) == (3, 2, 1, 1, 1)
    assert a.mean_days_to_close == pytest.approx((2 + 5) / 2)
    assert a.close_rate == pytest.approx(2 / 3, abs=1e-4)
    assert a.on_time_rate == pytest.approx(1 / 3, abs=1e-4)  # 1 on time of 3 due (2 closed + 1 overdue)
    assert (b.received, b.closed, b.closed_on_time, b.open, b.open_overdue) == (2, 1, 1, 1, 0)
    over = overdue_cases(store, "2023-04-20")
    assert over["case_id"].tolist() == ["K3"]
    assert over["days_overdue"].tolist() == [5]


def test_store_is_a_geopackage_qgis_can_read(tmp_path):
    db = tmp_path / "ledger.gpkg"
    with open_store(db) as store:
        import_cases(store, [write_csv(tmp_path / "k.csv", KNOWN)], now="2023-04-20 12:00:00")
        assert store.version() == SCHEMA_VERSION
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
    con.close()
    layers = dict(pyogrio.list_layers(db))
    assert layers["cases"] == "Point" and layers["grids"] == "MultiPolygon"
    g = gpd.read_file(db, layer="cases")
    assert g.crs.to_epsg() == 4326
    assert sorted(g["case_id"]) == [f"K{i}" for i in range(1, 7)]
    assert g.geometry.iloc[0].x == pytest.approx(112.85)
    # Reopening does not migrate again; a newer schema is refused.
    with open_store(db) as store:
        assert store.version() == SCHEMA_VERSION
        store.execute("UPDATE ledger_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(InputError, match="newer"):
        open_store(db)


def test_report_figures_by_hand(tmp_path):
    with open_store(tmp_path / "l.gpkg") as store:
        import_cases(store, [write_csv(tmp_path / "k.csv", KNOWN)])
        check_known_report(store)
        paths = write_report(store, tmp_path / "r.xlsx", "2023-04-20")
    sheets = pd.read_excel(paths[0], sheet_name=None)
    assert set(sheets) == {"按单位", "按网格", "超期案件"}
    assert sheets["超期案件"]["case_id"].tolist() == ["K3"]


def test_upsert_idempotence_and_events(tmp_path):
    db = tmp_path / "l.gpkg"
    first = write_csv(tmp_path / "a.csv", KNOWN)
    with open_store(db) as store:
        r1 = import_cases(store, [first], now="2023-04-20 12:00:00")
    assert (r1.created, r1.updated, r1.unchanged) == (6, 0, 0)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    with open_store(db) as store:
        r2 = import_cases(store, [first], now="2023-04-21 12:00:00")
    assert (r2.created, r2.updated, r2.unchanged) == (0, 0, 6)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before  # the same file twice: nothing changed
    newer = [list(r) for r in KNOWN]
    newer[2][7], newer[2][9] = "已结案", "2023-04-21 08:00"  # K3 closed in a newer export
    with open_store(db) as store:
        r3 = import_cases(store, [write_csv(tmp_path / "b.csv", newer)], now="2023-04-22 12:00:00")
        assert (r3.created, r3.updated, r3.unchanged) == (0, 1, 5)
        ev = store.frame("SELECT * FROM case_events WHERE case_id = 'K3' ORDER BY fid")
        assert ev["kind"].tolist() == ["created", "updated"]
        assert ev[["old_status", "new_status"]].iloc[1].tolist() == ["open", "closed"]
        assert ev["source_file"].iloc[1] == "b.csv" and int(ev["source_row"].iloc[1]) == 4
        assert '"closed_at": [null, "2023-04-21 08:00:00"]' in ev["changes"].iloc[1]
        assert store.execute("SELECT COUNT(*) FROM case_events").fetchone()[0] == 7


def test_bad_rows_reported_rest_imported(tmp_path, geo_cli):
    rows = [
        KNOWN[0],
        ["B1", "2023-04-01 09:00", "x", "", "112.85", "35.50", "", "不知道", "3", "", ""],  # line 3
        ["B2", "2023-13-45", "x", "", "112.85", "35.50", "", "待处置", "3", "", ""],  # line 4
        ["B3", "2023-04-01", "x", "", "212.85", "35.50", "", "待处置", "3", "", ""],  # line 5
        ["K1", "2023-04-01", "x", "", "112.85", "35.50", "", "待处置", "3", "", ""],  # line 6 repeats 2
        ["B4", "2023-04-01", "x", "", "", "", "", "待处置", "3", "", ""],  # line 7 nowhere
        ["B5", "2023-04-01", "x", "", "112.85", "35.50", "", "待处置", "三", "", ""],  # line 8
        KNOWN[1],
    ]
    f = write_csv(tmp_path / "bad.csv", rows)
    t = read_cases(f)
    assert sorted(t.frame["case_id"]) == ["K1", "K2"]
    got = [(p.line, p.field) for p in t.problems]
    assert got == [
        (3, "status"),
        (4, "reported_at"),
        (5, "lon"),
        (6, "case_id"),
        (7, "lon"),
        (8, "limit_days"),
    ]
    db = tmp_path / "l.gpkg"
    res = geo_cli("cases", "import", str(f), "--db", str(db))
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert f"{f}:3: [status] unknown status '不知道'" in res.stderr
    assert f"{f}:8: [limit_days]" in res.stderr
    with open_store(db) as store:
        assert sorted(cases_table(store)["case_id"]) == ["K1", "K2"]


def test_gbk_and_xlsx_input(tmp_path):
    rows = [[*r[:3], "问题描述：占道", *r[4:]] for r in KNOWN]
    utf8 = read_cases(write_csv(tmp_path / "u.csv", rows)).frame
    gbk = read_cases(write_csv(tmp_path / "g.csv", rows, encoding="gbk")).frame
    bom = read_cases(write_csv(tmp_path / "b.csv", rows, encoding="utf-8-sig")).frame
    xlsx_path = tmp_path / "x.xlsx"
    df = pd.DataFrame(rows, columns=HEADER)
    df["经度"] = df["经度"].astype(float)
    df["纬度"] = df["纬度"].astype(float)
    df["时限(天)"] = df["时限(天)"].astype(int)
    df["上报时间"] = pd.to_datetime(df["上报时间"])  # Excel date cells, not text
    df.to_excel(xlsx_path, index=False)
    xlsx = read_cases(xlsx_path).frame
    cols = ["case_id", "reported_at", "description", "lon", "lat", "status", "deadline", "closed_at"]
    for other in (gbk, bom, xlsx):
        pd.testing.assert_frame_equal(utf8[cols], other[cols], check_dtype=False)
    assert utf8["description"].iloc[0] == "问题描述：占道"


def test_english_columns_and_geojson(tmp_path):
    header = ["case_id", "reported_at", "category", "description", "lon", "lat", "address", "status",
              "limit_days", "closed_at", "unit"]  # fmt: skip
    eng = read_cases(write_csv(tmp_path / "e.csv", KNOWN, header=header)).frame
    g = gpd.GeoDataFrame(
        {
            "case_id": [r[0] for r in KNOWN],
            "reported_at": [r[1] for r in KNOWN],
            "status": [r[7] for r in KNOWN],
        },
        geometry=shapely.points([float(r[4]) for r in KNOWN], [float(r[5]) for r in KNOWN]),
        crs=4326,
    )
    g.to_file(tmp_path / "c.geojson", driver="GeoJSON")
    gj = read_cases(tmp_path / "c.geojson").frame
    assert eng["case_id"].tolist() == gj["case_id"].tolist()
    np.testing.assert_allclose(eng["lon"].astype(float), gj["lon"].astype(float))
    assert gj["status"].tolist() == eng["status"].tolist()


def test_gcj02_input_lands_on_wgs84_truth(tmp_path):
    from pyproj import Geod

    truth = (112.851234, 35.498765)  # WGS84
    gx, gy = from_wgs84([truth[0]], [truth[1]], "gcj02")  # as picked on Amap
    rows = [["G1", "2023-04-01", "x", "", f"{gx[0]:.7f}", f"{gy[0]:.7f}", "", "待处置", "3", "", ""]]
    f = write_csv(tmp_path / "g.csv", rows)
    t = read_cases(f, crs="gcj02")
    lon, lat = float(t.frame["lon"].iloc[0]), float(t.frame["lat"].iloc[0])
    _, _, d = Geod(ellps="WGS84").inv(lon, lat, *truth)
    assert d < 1.0
    _, _, raw = Geod(ellps="WGS84").inv(gx[0], gy[0], *truth)
    assert raw > 100  # the conversion mattered
    # Amap columns without --crs gcj02 are refused.
    g2 = write_csv(tmp_path / "g2.csv", [[r[0], r[1], r[4], r[5], r[7]] for r in rows],
                   header=["案件编号", "上报时间", "高德经度", "高德纬度", "状态"])  # fmt: skip
    with pytest.raises(InputError, match="--crs gcj02"):
        read_cases(g2)
    assert read_cases(g2, crs="gcj02").frame["lon"].iloc[0] == pytest.approx(lon)


@pytest.fixture(scope="module")
def jc_ctx():
    ctx, problems = context_for((), region="晋城市城区")
    assert problems == []
    return ctx


def test_address_resolution_keeps_unresolved(tmp_path, jc_ctx):
    ctx = jc_ctx
    rows = [
        ["A1", "2023-04-02 09:15", "占道经营", "", "", "", "金屯菜市场", "待处置", "3", "", ""],
        ["A2", "2023-04-02 09:15", "占道经营", "", "", "", "幸福里小区东门", "待处置", "3", "", ""],
    ]
    with open_store(tmp_path / "l.gpkg") as store:
        res = import_cases(store, [write_csv(tmp_path / "a.csv", rows)], context=ctx)
        df = cases_table(store).set_index("case_id")
    assert res.unresolved == 1 and res.schematic
    a1, a2 = df.loc["A1"], df.loc["A2"]
    assert a1.located_by == "address" and a1.location_source == "schematic"
    market = ctx.sources.pois[ctx.sources.pois["name"] == "金屯菜市场"].geometry.iloc[0]
    assert shapely.Point(a1.lon, a1.lat).distance(market.representative_point()) < 0.002
    assert a2.located_by == "unresolved" and a2.status == "open"
    assert pd.isna(a2.lon) and "not found" in a2.location_note


def test_street_chiefs_with_segment_phrases(tmp_path, jc_ctx):
    from geo.ledger.chiefs import import_chiefs

    bad = tmp_path / "chiefs.csv"
    bad.write_text(
        (EXAMPLES / "chiefs.csv").read_text(encoding="utf-8") + "无此路,某人,路长,某单位,示例数据\n",
        encoding="utf-8",
    )
    with open_store(tmp_path / "l.gpkg") as store:
        n, problems = import_chiefs(store, bad, jc_ctx.sources)
        df = store.frame("SELECT street, unit, matched_by, geom FROM street_chiefs")
    assert n == 4
    assert [(p.line, p.field) for p in problems] == [(6, "street")] and "无此路" in problems[0].message
    geoms = dict(zip(df["street"], gpd.GeoSeries(list(store.geometries(df["geom"].tolist())), crs=4326)
                     .to_crs(jc_ctx.sources.epsg).length, strict=True))  # fmt: skip
    whole = jc_ctx.sources.streets
    wenchang = whole[whole["name"] == "文昌街"].to_crs(jc_ctx.sources.epsg).length.sum()
    assert 0 < geoms["文昌街望川楼路段"] < wenchang / 2  # a segment, not the whole street
    assert df.set_index("street").loc["凤台街", "unit"] == "城区城管局凤台中队"


def test_grid_import_codes_and_problems(tmp_path, geo_cli):
    import pyproj

    inv = pyproj.Transformer.from_crs(4547, 4326, always_xy=True)

    def sq(x, y):
        return shapely.Polygon(
            [inv.transform(*p) for p in [(x, y), (x + 100, y), (x + 100, y + 100), (x, y + 100)]]
        )

    x0, y0 = 500_000.0, 3_930_000.0
    cells = gpd.GeoDataFrame(
        {
            "网格编码": ["411002007012001", "411002007012002", "411002007012002", "A-3"],
            "责任主体": ["甲", "乙", "丙", "丁"],
        },
        geometry=[sq(x0, y0), sq(x0 + 100, y0), sq(x0 + 200, y0), sq(x0 + 300, y0)],
        crs=4326,
    )
    f = tmp_path / "cells.geojson"
    cells.to_file(f, driver="GeoJSON")
    from geo.ledger.grid import read_grid

    got, problems = read_grid(f)
    assert got["code"].tolist() == ["411002007012001", "411002007012002", "A-3"]
    assert got["standard"].tolist() == [1, 1, 0]
    assert got["community_code"].iloc[0] == "012" and got["units"].tolist() == ["甲", "乙", "丁"]
    assert [(p.line, p.field) for p in problems] == [(3, "code")]
    db = tmp_path / "l.gpkg"
    res = geo_cli("grid", "import", str(f), "--db", str(db))
    assert res.returncode == 2 and f"{f}:3: [code] grid code '411002007012002' repeats" in res.stderr
    assert "imported 3 cells" in res.stdout and "2 with 15-digit DB11 codes" in res.stdout
    assert sorted(gpd.read_file(db, layer="grids")["code"]) == ["411002007012001", "411002007012002", "A-3"]


# --------------------------------------------------------------------------------------------
# Assignment precedence and plan 002's 200 m school zone
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def school_setup(tmp_path_factory):
    """Plan 002 with a gazetteer school placed away from the schematic schools."""
    import pyproj

    from geo.regions import get_region

    tmp = tmp_path_factory.mktemp("school")
    region = get_region("许昌市中心城区")
    epsg = region.epsg
    fwd = pyproj.Transformer.from_crs(4326, epsg, always_xy=True)
    inv = pyproj.Transformer.from_crs(epsg, 4326, always_xy=True)
    base, _ = context_for((), region="许昌市中心城区")
    # A spot clear of every place a rule of 002 can reach (500 m is its widest ring), so the
    # only zone near it is the new school's.
    pois = base.sources.pois.to_crs(epsg)
    cx, cy = fwd.transform(*region.centre)
    offsets = [(dx, dy) for r in range(0, 6001, 1500) for dx in (-r, 0, r) for dy in (-r, 0, r)]
    for dx, dy in offsets:
        sx, sy = cx + dx, cy + dy
        if region.boundary.contains(shapely.Point(*inv.transform(sx, sy))) and (
            pois.distance(shapely.Point(sx, sy)).min() > 1200
        ):
            break
    else:
        raise AssertionError("no spot in 许昌 clear of the schematic places")
    slon, slat = inv.transform(sx, sy)
    gaz = tmp / "gaz.csv"
    gaz.write_text(f"name,kind,lon,lat\n示例第一小学,school,{slon:.7f},{slat:.7f}\n", encoding="utf-8")
    ctx, problems = context_for(["002"], gazetteers=[str(gaz)])
    assert problems == []

    def at(east_m: float, north_m: float = 0.0) -> tuple[float, float]:
        return inv.transform(sx + east_m, sy + north_m)

    return ctx, at, epsg


def test_school_zone_200m_rule_and_units(school_setup, tmp_path):
    ctx, at, _ = school_setup
    inside, outside = at(150), at(230)
    rows = [
        [cid, "2023-05-10 09:00", "占道经营", "", f"{x:.7f}", f"{y:.7f}", "", "待处置", "3", "", ""]
        for cid, (x, y) in (("S150", inside), ("S230", outside))
    ]
    with open_store(tmp_path / "l.gpkg") as store:
        import_cases(store, [write_csv(tmp_path / "s.csv", rows)], context=ctx)
        df = cases_table(store).set_index("case_id")
    zones = ctx.plans[0].zones
    school = zones[zones["rule_id"] == "r_school_200"].iloc[0]
    assert "r_school_200" in df.loc["S150", "rule_ids"].split(";")
    expected_units = {u for u in f"{school['lead']};{school['units']}".split(";") if u}
    assert len(expected_units) >= 2
    assert expected_units <= set(df.loc["S150", "units"].split(";"))
    assert df.loc["S150", "assigned_by"] == "rule"
    assert pd.isna(df.loc["S230", "rule_ids"]) or "r_school_200" not in df.loc["S230", "rule_ids"]
    assert pd.isna(df.loc["S230", "units"]) and pd.isna(df.loc["S230", "assigned_by"])


def test_assignment_precedence_case_by_case(school_setup, tmp_path):
    ctx, at, epsg = school_setup
    db = tmp_path / "l.gpkg"
    # A grid cell with its 责任主体 covering points north of the school; a street chief's line
    # running north-south 150 m east of the school.
    cell_w = shapely.Polygon([at(-300, 100), at(300, 100), at(300, 400), at(-300, 400)])
    chief_line = shapely.LineString([at(150, -300), at(150, -50)])
    cells = gpd.GeoDataFrame(
        {"code": ["411002001001001"], "standard": [1], "units": ["网格责任单位"]}, geometry=[cell_w], crs=4326
    )
    with open_store(db) as store:
        save_grid(store, cells, epsg)
        store.insert_frame(
            "street_chiefs",
            pd.DataFrame({"street": ["示例路"], "chief": ["张三"], "role": ["路长"], "unit": ["街长单位"]}),
            [chief_line],
        )
    ctx = Context(plans=ctx.plans, sources=ctx.sources)
    pts = {
        "own": at(150, -100),  # on the chief's line and in the school zone, but gives its own unit
        "chief": at(150, -100),  # on the chief's line
        "grid": at(0, 150),  # in the grid cell, no chief near
        "rule": at(-150, 0),  # only the school zone
        "none": at(-260, -200),  # nothing
    }
    rows = [
        [
            k,
            "2023-05-10 09:00",
            "x",
            "",
            f"{x:.7f}",
            f"{y:.7f}",
            "",
            "待处置",
            "3",
            "",
            "自报单位" if k == "own" else "",
        ]
        for k, (x, y) in pts.items()
    ]
    with open_store(db) as store:
        import_cases(store, [write_csv(tmp_path / "p.csv", rows)], context=ctx)
        df = cases_table(store).set_index("case_id")
    assert df.loc["own", ["units", "assigned_by"]].tolist() == ["自报单位", "case"]
    assert df.loc["chief", ["units", "assigned_by"]].tolist() == ["街长单位", "street_chief"]
    assert "示例路" in df.loc["chief", "street_chief"]
    assert df.loc["grid", ["units", "assigned_by", "grid_code"]].tolist() == [
        "网格责任单位",
        "grid",
        "411002001001001",
    ]
    assert df.loc["rule", "assigned_by"] == "rule" and "r_school_200" in df.loc["rule", "rule_ids"]
    assert pd.isna(df.loc["none", "assigned_by"]) and pd.isna(df.loc["none", "units"])
    # Rules are listed whatever decided the units.
    for k in ("own", "chief", "grid"):
        assert "r_school_200" in df.loc[k, "rule_ids"]
    # Per-unit report rows through case_units.
    with open_store(db) as store:
        u = summary(store, "unit", "2023-05-20").set_index("unit")
    assert u.loc["街长单位", "received"] == 1 and u.loc["(未分配)", "received"] == 1


# --------------------------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------------------------


def test_db11_codes_numbered_west_east_north_south():
    epsg = 4547
    import pyproj

    inv = pyproj.Transformer.from_crs(epsg, 4326, always_xy=True)
    x0, y0 = 500_000.0, 3_930_000.0
    # A 社区 450 m wide, 350 m tall with a notch: 5 columns × 4 rows of 100 m cells, clipped.
    ring = [
        (x0, y0),
        (x0 + 450, y0),
        (x0 + 450, y0 + 350),
        (x0 + 200, y0 + 350),
        (x0 + 200, y0 + 250),
        (x0, y0 + 250),
    ]
    poly = shapely.Polygon([inv.transform(x, y) for x, y in ring])
    comm = gpd.GeoDataFrame(
        {"district_code": ["411002"], "subdistrict_code": ["7"], "community_code": ["12"],
         "community": ["示例社区"], "units": ["示例社区网格站"]},
        geometry=[poly], crs=4326,
    )  # fmt: skip
    cells = make_grid(poly, 100, epsg, communities=comm)
    codes = cells["code"].tolist()
    assert all(len(c) == 15 and c.isdigit() for c in codes)
    assert all(c.startswith("411002" + "007" + "012") for c in codes)
    seq = [int(c[12:]) for c in codes]
    assert sorted(seq) == list(range(1, len(codes) + 1))
    c = cells.to_crs(epsg).centroid
    order = np.argsort(seq)
    xs, ys = c.x.to_numpy()[order], c.y.to_numpy()[order]
    rows = (y0 + 350 - ys) // 100  # row index from the north edge of the 社区
    assert np.all(np.diff(rows) >= 0)  # north → south
    for r in np.unique(rows):
        assert np.all(np.diff(xs[rows == r]) > 0)  # west → east within a row
    # Top row (y 300-350) only right of the notch: cells 001-003 there, then the next row.
    assert len(codes) == 3 + 5 + 5 + 5 - 0  # 3 in the notch row, 5 in each of the other three
    assert check_topology(cells, epsg) == []
    assert cells["units"].eq("示例社区网格站").all()


def test_topology_reports_overlap_and_gap():
    epsg = 4547
    import pyproj

    inv = pyproj.Transformer.from_crs(epsg, 4326, always_xy=True)

    def sq(x, y, s=100):
        return shapely.Polygon([inv.transform(*p) for p in [(x, y), (x + s, y), (x + s, y + s), (x, y + s)]])

    x0, y0 = 500_000.0, 3_930_000.0
    cells = gpd.GeoDataFrame(
        {"code": list("ABCDEFGHI")},
        geometry=[
            sq(x0 + i * 100 - (10 if i == 2 and j == 0 else 0), y0 + j * 100)
            for j in range(3)
            for i in range(3)
        ],
        crs=4326,
    )
    cells = cells.drop(index=4).reset_index(drop=True)  # a hole in the middle
    issues = check_topology(cells, epsg)
    kinds = sorted((i.kind, round(i.area_m2)) for i in issues)
    assert ("overlap", 1000) in kinds  # cell C shifted 10 m west over B: 10 × 100 m²
    assert ("gap", 10000) in kinds  # the missing middle cell
    gap = next(i for i in issues if i.kind == "gap")
    assert gap.lon == pytest.approx(inv.transform(x0 + 150, y0 + 150)[0], abs=5e-4)


# --------------------------------------------------------------------------------------------
# A killed import leaves the ledger exactly as it was
# --------------------------------------------------------------------------------------------


def test_kill_9_mid_import_leaves_ledger_unchanged(tmp_path):
    db = tmp_path / "l.gpkg"
    with open_store(db) as store:
        import_cases(store, [write_csv(tmp_path / "k.csv", KNOWN)])
    with open_store(db) as store:
        rows_before = cases_table(store)
        events_before = store.frame("SELECT * FROM case_events ORDER BY fid")
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    n = 60_000  # enough for the inserts to take seconds; small enough for CI
    rng = np.random.default_rng(1)
    big = pd.DataFrame(
        {
            "案件编号": [f"N{i:07d}" for i in range(n)],
            "上报时间": "2023-04-01 09:00",
            "经度": np.round(112.8 + rng.random(n) * 0.1, 6),
            "纬度": np.round(35.45 + rng.random(n) * 0.1, 6),
            "状态": "待处置",
            "时限(天)": 3,
        }
    )
    big_csv = tmp_path / "big.csv"
    big.to_csv(big_csv, index=False)
    journal = Path(str(db) + "-journal")
    proc = subprocess.Popen(
        [sys.executable, "-m", "geo", "cases", "import", str(big_csv), "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while not journal.exists():  # the write transaction has begun
            assert proc.poll() is None, "the import finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        time.sleep(0.2)  # well into the inserts
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert journal.exists()  # a hot journal: the next open rolls the transaction back
    with open_store(db) as store:
        pd.testing.assert_frame_equal(cases_table(store), rows_before)
        pd.testing.assert_frame_equal(store.frame("SELECT * FROM case_events ORDER BY fid"), events_before)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest


# --------------------------------------------------------------------------------------------
# The bundled example, end to end through the CLI
# --------------------------------------------------------------------------------------------


def test_example_flow_cli(tmp_path, geo_cli):
    db = tmp_path / "ledger.gpkg"
    steps = [
        ("grid", "make", "--plan", "000", "--size", "500", "--units", "示例网格站", "--db", str(db)),
        ("chiefs", "import", str(EXAMPLES / "chiefs.csv"), "--plan", "000", "--db", str(db)),
        ("cases", "import", str(EXAMPLES / "cases.csv"), "--plan", "000", "--db", str(db)),
    ]
    for s in steps:
        res = geo_cli(*s)
        assert res.returncode == 0, (s, res.stderr)
        if s[0] == "grid":
            assert "not standard-coded" in res.stdout
    g = gpd.read_file(db, layer="grids")
    assert len(g) > 10 and g["code"].str.match(r"^X\d{6}$").all() and (g["standard"] == 0).all()
    assert "示意" in res.stderr
    assert "38 new" in res.stdout and "1 without a location" in res.stdout
    out = tmp_path / "export.csv"
    res = geo_cli("cases", "export", "--db", str(db), "--as-of", "2023-04-20", "--out", str(out))
    assert res.returncode == 0, res.stderr
    ex = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    for col in ("case_id", "status", "reported_at", "deadline", "closed_at", "overdue", "grid_code", "street",
                "rule_ids", "units", "assigned_by"):  # fmt: skip
        assert col in ex.columns
    assert set(ex["assigned_by"].dropna()) == {"case", "street_chief", "grid"}
    assert ex.loc[ex["case_id"] == "EX20230006", "units"].item() == "城区市场监管局"
    with open_store(db) as store:
        frame = export_frame(store, "2023-04-20")
    assert int(frame["overdue"].sum()) == int(ex["overdue"].eq("True").sum()) > 0
    rep = tmp_path / "report.csv"
    res = geo_cli("cases", "report", "--db", str(db), "--as-of", "2023-04-20", "--out", str(rep))
    assert res.returncode == 0, res.stderr
    r = pd.read_csv(rep, encoding="utf-8-sig")
    units = r[r["level"] == "unit"]
    assert units["受理数"].sum() >= 38
    over = pd.read_csv(tmp_path / "report_overdue.csv", encoding="utf-8-sig")
    assert len(over) == int(frame["overdue"].sum())
