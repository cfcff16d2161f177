"""Point-in-zone queries: the engine against brute force, dates, and ``geo query`` end to end.

Test points are made from the bundled plans' own zones (a point inside each zone) or laid out
in Gauss-Krüger metres around an obvious test origin near 许昌's centre.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

import geo.query as query_module
from geo.build import build_plan
from geo.crs import from_wgs84
from geo.plan import get_plan
from geo.query import ZONE_FIELDS, _phase_intervals, query_plan, query_points
from geo.rules import in_force
from geo.tables import read_points

EPSG = 4547
TO_WGS = Transformer.from_crs(EPSG, 4326, always_xy=True)
TO_GK = Transformer.from_crs(4326, EPSG, always_xy=True)
X0, Y0 = 482_000.0, 3_767_000.0


@pytest.fixture(scope="module")
def plans():
    return {"000": build_plan(get_plan("000")), "002": build_plan(get_plan("002"))}


def _inside_points(plans) -> pd.DataFrame:
    """One point inside every zone of plans 000 and 002 (WGS84), with the zone it was made from."""
    rows = []
    for d in plans.values():
        for _, z in d.zones.iterrows():
            p = z.geometry.representative_point()
            rows.append({"zone": z["id"], "plan": z["plan_id"], "lon": p.x, "lat": p.y})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# The engine


def _synthetic_zones(rng, n=60):
    """Circles (point places) and rounded squares (area places) of 100/200/500 m, in WGS84."""
    cx = rng.uniform(X0 - 3000, X0 + 3000, n)
    cy = rng.uniform(Y0 - 3000, Y0 + 3000, n)
    r = rng.choice([100.0, 200.0, 500.0], n)
    place_m = [
        shapely.Point(x, y) if i % 3 else shapely.box(x - 40, y - 30, x + 40, y + 30)
        for i, (x, y) in enumerate(zip(cx, cy, strict=True))
    ]
    zones_m = [g.buffer(d, quad_segs=16) for g, d in zip(place_m, r, strict=True)]
    zones = gpd.GeoDataFrame(
        {
            "id": [f"z{i}" for i in range(n)],
            "place_id": [f"p{i}" for i in range(n)],
            "distance_m": r,
            "rule_id": "r",
            "phase_dates": "2023-01-01/2023-12-31",
        },
        geometry=list(gpd.GeoSeries(zones_m, crs=EPSG).to_crs(4326)),
        crs=4326,
    )
    places = gpd.GeoDataFrame(
        {"id": [f"p{i}" for i in range(n)]},
        geometry=list(gpd.GeoSeries(place_m, crs=EPSG).to_crs(4326)),
        crs=4326,
    )
    return zones, places, place_m, r


@pytest.mark.parametrize("dense", [True, False], ids=["dense-grid", "sorted-grid"])
def test_engine_matches_brute_force(dense, monkeypatch):
    if not dense:  # the binary-search lookup used for grids too large for a table
        monkeypatch.setattr(query_module, "_MAX_DENSE_CELLS", 0)
    rng = np.random.default_rng(7)
    zones, places, place_m, r = _synthetic_zones(rng)
    n = 20_000
    x = rng.uniform(X0 - 3600, X0 + 3600, n)
    y = rng.uniform(Y0 - 3600, Y0 + 3600, n)
    lon, lat = TO_WGS.transform(x, y)
    res = query_points((lon, lat), zones, places=places, epsg=EPSG, chunk_size=3000)
    hits = res[res["in_zone"]]
    got = set(zip(hits["point_row"], hits["zone_id"].astype(str), strict=True))
    # Truth: the rule itself, distance to the place in GK metres ≤ distance_m (circles), and the
    # drawn polygon for area places (a 64-gon inscribed in the rounded corners).
    pts_m = shapely.points(x, y)
    truth = set()
    zone_polys = np.asarray(zones.geometry.array)
    pts_wgs = shapely.points(lon, lat)
    for j, (g, d) in enumerate(zip(place_m, r, strict=True)):
        if g.geom_type == "Point":
            inside = np.flatnonzero(shapely.distance(pts_m, g) <= d)
        else:
            inside = np.flatnonzero(shapely.intersects(zone_polys[j], pts_wgs))
        truth |= {(int(i), f"z{j}") for i in inside}
    assert got == truth
    # Metres to the place, for every hit, against a direct GK computation.
    idx = hits["point_row"].to_numpy()
    zj = hits["zone_id"].astype(str).str[1:].astype(int).to_numpy()
    direct = shapely.distance(pts_m[idx], np.array(place_m, dtype=object)[zj])
    assert np.allclose(hits["dist_to_place_m"], direct, atol=0.01)
    assert (hits["dist_to_place_m"] <= hits["distance_m"] + 1e-6).all()
    # Points in no zone appear once each, in order, with empty zone fields.
    assert res["point_row"].is_monotonic_increasing
    none = res[~res["in_zone"]]
    assert set(none["point_row"]) == set(range(n)) - {i for i, _ in truth}
    assert none["zone_id"].isna().all() and none["dist_to_place_m"].isna().all()


def test_without_places_uses_the_polygons():
    rng = np.random.default_rng(3)
    zones, _, _, _ = _synthetic_zones(rng, n=30)
    x = rng.uniform(X0 - 3600, X0 + 3600, 5000)
    y = rng.uniform(Y0 - 3600, Y0 + 3600, 5000)
    lon, lat = TO_WGS.transform(x, y)
    pts = gpd.GeoDataFrame({"case": np.arange(5000)}, geometry=shapely.points(lon, lat), crs=4326)
    res = query_points(pts, zones)
    hits = res[res["in_zone"]]
    tree = shapely.STRtree(np.asarray(zones.geometry.array))
    pi, zi = tree.query(np.asarray(pts.geometry.array), predicate="intersects")
    assert set(zip(hits["case"], hits["zone_id"].astype(str), strict=True)) == {
        (int(p), f"z{z}") for p, z in zip(pi, zi, strict=True)
    }
    assert hits["dist_to_place_m"].isna().all()


def _column_buffers(res: pd.DataFrame) -> dict[str, np.ndarray]:
    out = {}
    for c in res.columns:
        arr = res[c].array
        if isinstance(arr, pd.Categorical):
            out[c] = np.asarray(arr.codes)
        elif hasattr(arr, "_ndarray"):
            out[c] = arr._ndarray
        elif hasattr(arr, "_data"):
            out[c] = arr._data
        else:
            out[c] = np.asarray(arr)
    return out


@pytest.mark.parametrize("with_misses", [True, False], ids=["some-points-in-no-zone", "all-in-zones"])
def test_result_rows_match_a_plain_join(with_misses):
    """Rows equal a plain pandas join of the hits with the zone table; columns share no memory."""
    rng = np.random.default_rng(11)
    zones, places, _, _ = _synthetic_zones(rng, n=40)
    zones["units"] = [None if i % 7 == 0 else f"u{i % 3};u{i % 5}" for i in range(len(zones))]
    x = rng.uniform(X0 - 3600, X0 + 3600, 3000)
    y = rng.uniform(Y0 - 3600, Y0 + 3600, 3000)
    lon, lat = TO_WGS.transform(x, y)
    pts = gpd.GeoDataFrame({"case": np.arange(3000) * 10}, geometry=shapely.points(lon, lat), crs=4326)
    if not with_misses:
        pts = pts[query_points(pts, zones, places=places, epsg=EPSG).groupby("point_row")["in_zone"].all()]
        pts = pts.reset_index(drop=True)
        assert len(pts)
    res = query_points(pts, zones, places=places, epsg=EPSG, chunk_size=700)
    assert res["in_zone"].all() != with_misses
    assert isinstance(res.index, pd.RangeIndex)
    assert res["point_row"].dtype == np.int64 and res["distance_m"].dtype == np.float64
    hits = res[res["in_zone"]].reset_index(drop=True)
    table = pd.DataFrame(zones.drop(columns="geometry")).set_index("id")
    want = table.loc[hits["zone_id"].astype(str)].reset_index(drop=True)
    for field in ("place_id", "rule_id", "units", "phase_dates"):
        assert isinstance(res[field].dtype, pd.CategoricalDtype)
        got = [None if pd.isna(v) else v for v in hits[field].tolist()]
        assert got == [None if pd.isna(v) else v for v in want[field].tolist()], field
    assert np.array_equal(hits["distance_m"].to_numpy(), want["distance_m"].to_numpy())
    assert (hits["case"].to_numpy() == pts["case"].to_numpy()[hits["point_row"]]).all()
    assert shapely.equals(
        np.asarray(hits.geometry.array), np.asarray(pts.geometry.array)[hits["point_row"]]
    ).all()
    none = res[~res["in_zone"]]
    assert len(none) == len(set(range(len(pts))) - set(hits["point_row"]))
    for field in ZONE_FIELDS:
        assert none[field].isna().all(), field
    # zone_id and place_id hold the same codes here: each column still owns its own buffer.
    bufs = _column_buffers(res)
    names = list(bufs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not np.shares_memory(bufs[a], bufs[b]), (a, b)
    before = res["place_id"].copy()
    res.loc[res.index[-1], "zone_id"] = res["zone_id"].iloc[0]
    pd.testing.assert_series_equal(res["place_id"], before)


def test_result_columns_and_name_clashes(plans):
    inside = _inside_points(plans).iloc[:3]
    pts = gpd.GeoDataFrame(
        {"rule_id": ["mine1", "mine2", "mine3"], "note": ["a", "b", "c"]},
        geometry=gpd.points_from_xy(inside["lon"], inside["lat"]),
        crs=4326,
    )
    res = query_plan(pts, list(plans.values()))
    assert list(res.columns) == ["rule_id_point", "note", "point_row", "in_zone", *ZONE_FIELDS, "geometry"]
    assert res.crs.to_epsg() == 4326 and res["in_zone"].all()
    assert set(res["rule_id_point"]) == {"mine1", "mine2", "mine3"}
    # Zone fields come from the zone layer, multi-valued ones ;-joined.
    z = plans["000"].zones.set_index("id")
    for _, row in res.iterrows():
        src = z.loc[row["zone_id"]] if row["zone_id"] in z.index else None
        if src is not None:
            assert row["units"] == src["units"] and ";" in row["phase_id"]
            assert row["doc_number"] == "城政办发〔2023〕5号"


def test_phase_intervals_read_like_in_force(plans):
    fields = [f for d in plans.values() for f in d.zones["phase_dates"]] + ["2023-01-01/", ""]
    starts, ends = _phase_intervals(fields)
    for day in pd.date_range("2023-01-01", "2023-12-31", freq="9D").date:
        n = (day - dt.date(1970, 1, 1)).days
        vec = np.any((starts <= n) & (n <= ends), axis=1)
        assert list(vec) == [in_force(f, day) for f in fields]


def test_date_filter(plans):
    inside = _inside_points(plans)
    pts = gpd.GeoDataFrame(inside, geometry=gpd.points_from_xy(inside["lon"], inside["lat"]), crs=4326)
    data = list(plans.values())
    after = query_plan(pts, data, "2023-05-01")  # plan 000 ended on 2023-04-15
    assert not (after["plan_id"] == "000").any()
    assert (after["plan_id"] == "002").any()
    during = query_plan(pts, data, dt.date(2023, 3, 20))
    assert set(inside.loc[inside["plan"] == "000", "zone"]) <= set(during["zone_id"].dropna())
    # Each point's own date wins over the query date; a blank one falls back to it.
    own = pts.assign(case_date=np.where(np.arange(len(pts)) % 2 == 0, "2023-03-20", ""))
    res = query_plan(own, data, "2023-05-01", date_column="case_date")
    got_000 = set(res.loc[res["plan_id"] == "000", "point_row"])
    expected = {i for i in range(len(pts)) if i % 2 == 0 and inside["plan"].iloc[i] == "000"}
    assert got_000 and got_000 >= expected
    assert all(i % 2 == 0 for i in got_000)


# --------------------------------------------------------------------------------------------
# Reading point files


def test_read_points_reports_bad_rows(tmp_path):
    path = tmp_path / "pts.csv"
    path.write_text(
        "id,lon,lat\n1,113.81,34.04\n2,abc,34.04\n3,34.04,113.81\n4,,\n5,200,34\n6,113.82,34.05\n",
        encoding="utf-8",
    )
    pts, problems = read_points(path)
    assert list(pts["id"]) == ["1", "6"] and list(pts["source_row"]) == [2, 7]
    assert [p.line for p in problems] == [3, 4, 5, 6]
    text = " ".join(str(p) for p in problems)
    assert "not a number" in text and "swapped" in text and "missing" in text and "outside" in text


# --------------------------------------------------------------------------------------------
# geo query, end to end


def _gcj_csv(plans, path: Path, encoding: str = "utf-8", chinese: bool = False) -> pd.DataFrame:
    inside = _inside_points(plans)
    # And one point in no zone: 6 km from the origin, far from every schematic place.
    far_lon, far_lat = TO_WGS.transform(X0 + 6000, Y0 - 6000)
    inside.loc[len(inside)] = {"zone": "", "plan": "", "lon": far_lon, "lat": far_lat}
    glon, glat = from_wgs84(inside["lon"].to_numpy(), inside["lat"].to_numpy(), "gcj02")
    inside["id"] = [f"c{i}" for i in range(len(inside))]
    cols = ("编号", "经度", "纬度") if chinese else ("id", "lon", "lat")
    frame = pd.DataFrame({cols[0]: inside["id"], cols[1]: glon.round(9), cols[2]: glat.round(9)})
    frame.to_csv(path, index=False, encoding=encoding)
    # The shift is real (hundreds of metres): converting matters.
    gx, gy = TO_GK.transform(glon, glat)
    wx, wy = TO_GK.transform(inside["lon"].to_numpy(), inside["lat"].to_numpy())
    assert np.hypot(gx - wx, gy - wy).min() > 100
    return inside


def test_cli_gcj02_csv_lands_in_expected_zones(plans, geo_cli, tmp_path):
    src = tmp_path / "cases.csv"
    inside = _gcj_csv(plans, src)
    out = tmp_path / "result.csv"
    res = geo_cli("query", str(src), "--crs", "gcj02", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "points in no zone" in res.stdout and "Traceback" not in res.stderr
    table = pd.read_csv(out, encoding="utf-8-sig", dtype={"id": str})
    for _, p in inside.iterrows():
        rows = table[table["id"] == p["id"]]
        assert len(rows) >= 1
        if p["zone"]:
            assert p["zone"] in set(rows["zone_id"]), p["id"]
            assert rows["lon_wgs84"].iloc[0] == pytest.approx(p["lon"], abs=1e-6)
        else:
            assert list(rows["in_zone"]) == [False] and rows["zone_id"].isna().all()
    # Compact by default: ids, metres and units on every row; the zones' texts once per zone.
    assert {"zone_id", "rule_id", "place_id", "units", "dist_to_place_m"} <= set(table.columns)
    assert not {"lead", "restriction", "phase_dates", "doc_number"} & set(table.columns)
    assert table["units"].dropna().str.contains("五区城管").any()
    d = table["dist_to_place_m"].dropna()
    assert (d == d.round(1)).all() and (d <= 500).all()
    zones = pd.read_csv(out.with_name("result.zones.csv"), encoding="utf-8-sig")
    assert {"lead", "restriction", "phase_dates", "doc_number", "units"} <= set(zones.columns)
    assert set(zones["zone_id"]) == set(table["zone_id"].dropna())
    # --wide: every zone field on every row, the same hits.
    wide_out = tmp_path / "wide.csv"
    res = geo_cli("query", str(src), "--crs", "gcj02", "--wide", "--out", str(wide_out))
    assert res.returncode == 0, res.stderr
    wide = pd.read_csv(wide_out, encoding="utf-8-sig", dtype={"id": str})
    assert {"units", "lead", "restriction", "dist_to_place_m", "phase_dates", "doc_number"} <= set(
        wide.columns
    )
    pd.testing.assert_frame_equal(wide[table.columns], table)
    by_zone = zones.set_index("zone_id")
    for col in ("lead", "restriction", "doc_number"):
        hit = wide[wide["in_zone"]]
        looked_up = by_zone.loc[hit["zone_id"], col].fillna("").to_numpy()
        assert (hit[col].fillna("").to_numpy() == looked_up).all()


def test_cli_gbk_chinese_columns_bad_rows_xlsx(plans, geo_cli, tmp_path):
    src = tmp_path / "gbk.csv"
    inside = _gcj_csv(plans, src, encoding="gbk", chinese=True)
    with src.open("a", encoding="gbk", newline="") as f:
        f.write("坏1,不是数字,34.04\n坏2,34.04,113.81\n坏3,,\n")
    n = len(inside)
    bad_rows = [n + 2, n + 3, n + 4]  # the header is row 1
    out = tmp_path / "result.xlsx"
    res = geo_cli("query", str(src), "--crs", "gcj02", "--out", str(out))
    assert res.returncode == 0, res.stderr
    for row in bad_rows:
        assert f"{src}:{row}:" in res.stderr and f"row {row}" in res.stderr
    assert "3 rows skipped" in res.stdout
    table = pd.read_excel(out, sheet_name="query", dtype={"编号": str})
    assert set(table["编号"]) == set(inside["id"])
    assert not table["编号"].str.startswith("坏").any()
    assert table["in_zone"].sum() >= len(inside) - 1


def test_cli_strict_fails_and_leaves_output_alone(plans, geo_cli, tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text("id,lon,lat\n1,113.81,34.04\n2,xx,34.04\n", encoding="utf-8")
    out = tmp_path / "result.gpkg"
    out.write_bytes(b"previous result")
    res = geo_cli("query", str(src), "--out", str(out), "--strict")
    assert res.returncode == 2
    assert f"{src}:3:" in res.stderr and "Traceback" not in res.stderr
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "result.gpkg"]


def test_cli_xlsx_in_gpkg_out(plans, geo_cli, tmp_path):
    inside = _inside_points(plans)
    src = tmp_path / "cases.xlsx"
    pd.DataFrame({"name": inside["zone"], "lng": inside["lon"], "latitude": inside["lat"]}).to_excel(
        src, index=False
    )
    out = tmp_path / "result.gpkg"
    res = geo_cli("query", str(src), "--plan", "002", "--date", "2023-06-01", "--out", str(out))
    assert res.returncode == 0, res.stderr
    layer = gpd.read_file(out, layer="query")
    assert layer.crs.to_epsg() == 4326 and (layer.geom_type == "Point").all()
    assert set(layer["plan_id"].dropna()) == {"002"}
    hits = layer[layer["in_zone"].astype(bool)]
    for zone in inside.loc[inside["plan"] == "002", "zone"]:
        assert zone in set(hits.loc[hits["name"] == zone, "zone_id"])
    assert list(layer["source_row"][:2]) == [2, 3]


def test_cli_write_failure_leaves_no_partial_file(plans, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from geo.cli import app

    src = tmp_path / "ok.csv"
    src.write_text("id,lon,lat\n1,113.81,34.04\n", encoding="utf-8")
    out = tmp_path / "result.csv"
    out.write_text("previous", encoding="utf-8")

    def broken(table, sink, *args, **kw):  # the writer dies half-way: part of the file is on disk
        sink.write(b"half a table")
        sink.flush()
        raise OSError("disk full")

    import pyarrow.csv

    monkeypatch.setattr(pyarrow.csv, "write_csv", broken)
    result = CliRunner().invoke(app, ["query", str(src), "--plan", "002", "--out", str(out)])
    assert isinstance(result.exception, OSError)
    assert out.read_text(encoding="utf-8") == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.csv", "result.csv"]


def test_cli_coverage_and_spacing(tmp_path):
    # In-process (the subprocess path is covered by the query tests): the same commands, faster.
    from typer.testing import CliRunner

    from geo.cli import app

    out = tmp_path / "coverage.xlsx"
    res = CliRunner().invoke(app, ["coverage", "000", "002", "--out", str(out)])
    assert res.exit_code == 0, res.output
    sheets = pd.read_excel(out, sheet_name=None)
    assert list(sheets) == ["coverage", "overlaps", "gaps"]
    assert {"区生态环境分局", "五区城管（环卫、园林）部门"} <= set(sheets["coverage"]["unit"])
    # Ads along 许昌's governed streets: two per street, one of them on the theme.
    data = build_plan(get_plan("002"))
    streets = data.spacing.to_crs(EPSG)
    rows = []
    for _, s in streets.iterrows():
        for k, frac in enumerate((0.25, 0.75)):
            p = s.geometry.interpolate(frac, normalized=True)
            lon, lat = TO_WGS.transform(p.x, p.y)
            rows.append({"lon": lon, "lat": lat, "主题": "未成年人思想道德建设" if k == 0 else "文明交通"})
    ads = tmp_path / "ads.csv"
    pd.DataFrame(rows).to_csv(ads, index=False, encoding="utf-8")
    out = tmp_path / "spacing.csv"
    res = CliRunner().invoke(app, ["spacing", "--ads", str(ads), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "theme share 50.0%" in res.output and "达标" in res.output
    table = pd.read_csv(out, encoding="utf-8-sig")
    assert len(table) == len(streets) and (table["n_ads"] == 2).all()
    assert (table["compliance_pct"] < 100).all()
