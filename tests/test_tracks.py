"""geo tracks: passes per street per day against plan 000's targets, on synthetic tracks.

The tracks are made by scripts/make_tracks.py (test data, σ 5 m noise, a fix every 10 s) on the
bundled schematic extract of 晋城, with a known number of passes per street.
"""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from test_html import browser  # noqa: F401 - the shared headless Chromium fixture

from geo.build import build_plan
from geo.crs import from_wgs84
from geo.plan import get_plan
from geo.tracks.engine import plan_context, run_tracks
from geo.tracks.read import read_fixes

DAY = "2023-04-03"
DAY2 = "2023-04-04"
# Passes made on DAY; every other street with a target gets none (红星街, 文昌街 …).
PASSES = {"凤台东街": 3, "凤台西街": 3, "文博路": 3, "泽州路": 1, "黄华街": 1}


def _make_tracks():
    spec = importlib.util.spec_from_file_location("make_tracks", ROOT / "scripts" / "make_tracks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def mt():
    return _make_tracks()


@pytest.fixture(scope="module")
def data000():
    return build_plan(get_plan("000"))


@pytest.fixture(scope="module")
def ctx(data000):
    return plan_context([data000])


def _zone_point(ctx, rule="r_demo_500") -> tuple[float, float]:
    z = ctx.patrol_zones[ctx.patrol_zones["rule_id"] == rule].iloc[0]
    c = z.geometry.representative_point()
    return c.x, c.y


@pytest.fixture(scope="module")
def fixes_frame(mt, ctx):
    """DAY: sweeps per PASSES and a patrol car 20 min inside the 500 m ring; DAY2: one sweep of
    文博路 and a patrol car standing 3 km away from every 示范区."""
    streets = ctx.streets[["name", "geometry"]]
    lon, lat = _zone_point(ctx)
    frames = [
        mt.make_day(streets, ctx.epsg, PASSES, DAY, seed=1),
        mt.park(lon, lat, ctx.epsg, f"{DAY} 09:00", 20, vehicle="XC-01", task="巡查"),
        mt.make_day(streets, ctx.epsg, {"文博路": 1}, DAY2, seed=2),
    ]
    zones = ctx.patrol_zones.geometry.union_all()
    far = (lon + 0.06, lat)  # about 5.4 km east
    from shapely.geometry import Point

    assert zones.distance(Point(far)) > 0.02
    frames.append(mt.park(*far, ctx.epsg, f"{DAY2} 09:00", 20, vehicle="XC-01", task="巡查"))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def day_csv(fixes_frame, tmp_path_factory):
    path = tmp_path_factory.mktemp("tracks") / "day.csv"
    fixes_frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def result(day_csv, ctx):
    return run_tracks(read_fixes([day_csv], epsg=ctx.epsg), ctx)


def _targeted(streets: pd.DataFrame, day: str) -> dict[str, int]:
    s = streets[(streets["target"].notna()) & (streets["date"].astype(str) == day)]
    return dict(zip(s["street"], s["passes"], strict=True))


def test_known_passes_per_street(result):
    got = _targeted(result.streets, DAY)
    expected = {s: PASSES.get(s, 0) for s in got}
    assert got == expected
    assert {"红星街", "文昌街"} <= {s for s, n in got.items() if n == 0}
    day = result.streets[result.streets["date"].astype(str) == DAY].set_index("street")
    assert day.loc["凤台东街", "met"]
    assert not day.loc["泽州路", "met"]
    assert day.loc["文博路", "share_met"] > 0.95
    assert day.loc["红星街", "share_met"] == 0
    assert day.loc["文博路", "target"] == 3
    # Second day: only 文博路, once.
    day2 = _targeted(result.streets, DAY2)
    assert day2 == {s: (1 if s == "文博路" else 0) for s in day2}


def test_segments_table_covers_every_segment_day(result, ctx):
    seg = result.segments
    assert len(seg) == 2 * len(ctx.segments)
    wenbo = seg[(seg["street"] == "文博路") & (seg["date"].astype(str) == DAY)]
    assert (wenbo["passes"] == 3).mean() > 0.95
    assert set(wenbo["vehicle_ids"]) >= {"SWP-002"}


def test_patrol_entering_500m_ring_per_day(result):
    p = result.patrol
    ring = p[p["rule_id"] == "r_demo_500"]
    day1 = ring[ring["date"].astype(str) == DAY]
    day2 = ring[ring["date"].astype(str) == DAY2]
    assert day1["entered"].any()
    entered = day1[day1["entered"]].iloc[0]
    assert entered["vehicle_ids"] == "XC-01"
    assert 19 <= entered["minutes"] <= 20.1
    assert not day2["entered"].any()
    assert (day2["minutes"] == 0).all()


def _park_frame(mt, ctx, gap_min: float) -> pd.DataFrame:
    """One vehicle parked 10 min on the middle of a 文博路 segment, away gap_min, back 10 min."""
    seg = ctx.segments[ctx.segments["street"] == "文博路"].iloc[40]
    mid = seg.geometry.interpolate(0.5, normalized=True)
    import pyproj

    lon, lat = pyproj.Transformer.from_crs(ctx.epsg, 4326, always_xy=True).transform(mid.x, mid.y)
    a = mt.park(lon, lat, ctx.epsg, f"{DAY} 08:00", 10, vehicle="P-1", task="清扫", noise_m=3)
    b = mt.park(
        lon,
        lat,
        ctx.epsg,
        f"{DAY} 08:{10 + gap_min:02.0f}",
        10,
        vehicle="P-1",
        task="清扫",
        noise_m=3,
        seed=7,
    )
    return pd.concat([a, b], ignore_index=True), int(seg["seg_id"])


@pytest.mark.parametrize(("gap_min", "passes"), [(29, 1), (31, 2)])
def test_gap_rule(mt, ctx, tmp_path, gap_min, passes):
    frame, seg_id = _park_frame(mt, ctx, gap_min)
    path = tmp_path / "gap.csv"
    frame.to_csv(path, index=False)
    res = run_tracks(read_fixes([path], epsg=ctx.epsg), ctx)
    row = res.segments[res.segments["seg_id"] == seg_id].iloc[0]
    assert row["passes"] == passes
    assert row["vehicles"] == 1


def test_parked_vehicle_is_one_pass(mt, ctx, tmp_path):
    seg = ctx.segments[ctx.segments["street"] == "泽州路"].iloc[10]
    mid = seg.geometry.interpolate(0.5, normalized=True)
    import pyproj

    lon, lat = pyproj.Transformer.from_crs(ctx.epsg, 4326, always_xy=True).transform(mid.x, mid.y)
    frame = mt.park(lon, lat, ctx.epsg, f"{DAY} 06:00", 180, vehicle="P-2", task="清扫", noise_m=3)
    assert len(frame) > 1000
    path = tmp_path / "parked.csv"
    frame.to_csv(path, index=False)
    res = run_tracks(read_fixes([path], epsg=ctx.epsg), ctx)
    on = res.segments[res.segments["passes"] > 0]
    assert int(seg["seg_id"]) in set(on["seg_id"])
    assert (on["passes"] == 1).all()
    assert on["passes"].sum() <= 3  # the segment, and at most its neighbours at a boundary


def test_gcj02_input(fixes_frame, ctx, result, tmp_path):
    g = fixes_frame.copy()
    g["lon"], g["lat"] = from_wgs84(g["lon"].to_numpy(), g["lat"].to_numpy(), "gcj02")
    path = tmp_path / "gcj.csv"
    g.to_csv(path, index=False)
    res = run_tracks(read_fixes([path], crs="gcj02", epsg=ctx.epsg), ctx)
    assert _targeted(res.streets, DAY) == _targeted(result.streets, DAY)
    # Taken as WGS84 the same file is a few hundred metres off, and the passes are lost.
    wrong = run_tracks(read_fixes([path], epsg=ctx.epsg), ctx)
    assert _targeted(wrong.streets, DAY) != _targeted(result.streets, DAY)


def test_bad_rows_gbk_chinese_columns_and_spikes(fixes_frame, ctx, result, tmp_path):
    f = fixes_frame.drop(columns=["synthetic"]).copy()
    f["time"] = f["time"].dt.strftime("%Y-%m-%d %H:%M:%S")
    f = f.astype(object)
    # Two GPS spikes 2 km off inside a 文博路 trip.
    trip = f.index[(f["vehicle"] == "SWP-002")][50:52]
    f.loc[trip[0], "lon"] = float(f.loc[trip[0], "lon"]) + 0.02
    f.loc[trip[1] + 10, "lat"] = float(f.loc[trip[1] + 10, "lat"]) - 0.02
    bad = [
        {"vehicle": "", "time": f"{DAY} 10:00:00", "lon": 112.85, "lat": 35.5, "task": "清扫", "speed": 10},
        {"vehicle": "SWP-009", "time": "上午十点", "lon": 112.85, "lat": 35.5, "task": "清扫", "speed": 10},
        {
            "vehicle": "SWP-009",
            "time": f"{DAY} 10:00:10",
            "lon": "abc",
            "lat": 35.5,
            "task": "清扫",
            "speed": 10,
        },
        {
            "vehicle": "SWP-009",
            "time": f"{DAY} 10:00:20",
            "lon": 112.85,
            "lat": 135.5,
            "task": "清扫",
            "speed": 10,
        },
    ]
    f = pd.concat([f.iloc[:5], pd.DataFrame(bad), f.iloc[5:]], ignore_index=True)
    f.columns = ["车辆编号", "定位时间", "经度", "纬度", "作业类型", "速度"]
    path = tmp_path / "gbk.csv"
    f.to_csv(path, index=False, encoding="gbk")
    fixes = read_fixes([path], epsg=ctx.epsg)
    where = [(p.line, p.field) for p in fixes.problems]
    assert where == [(7, "车辆编号"), (8, "定位时间"), (9, "经度"), (10, "纬度")]
    assert all(p.file == str(path) for p in fixes.problems)
    assert fixes.jumps == 2
    res = run_tracks(fixes, ctx)
    assert _targeted(res.streets, DAY) == _targeted(result.streets, DAY)


def test_cli_writes_tables_and_exits_2_on_bad_rows(geo_cli, day_csv, tmp_path):
    path = tmp_path / "with_bad.csv"
    text = day_csv.read_text(encoding="utf-8").splitlines()
    text.insert(3, "SWP-000,not-a-time,112.85,35.5,清扫,10,True")
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    out = tmp_path / "streets.csv"
    seg = tmp_path / "segments.gpkg"
    r = geo_cli(
        "tracks", str(path), "--out", str(out), "--segments", str(seg), "--patrol", str(tmp_path / "p.csv")
    )
    assert r.returncode == 2, r.stderr
    assert f"{path}:4: [time]" in r.stderr
    assert "Traceback" not in r.stderr
    streets = pd.read_csv(out, encoding="utf-8-sig")
    assert {"street", "date", "passes", "target", "met", "share_met"} <= set(streets.columns)
    day = streets[(streets["date"] == DAY) & streets["target"].notna()]
    got = dict(zip(day["street"], day["passes"], strict=True))
    assert got == {s: PASSES.get(s, 0) for s in got}
    import geopandas as gpd

    segs = gpd.read_file(seg)
    assert len(segs) and segs.crs.to_epsg() == 4326
    # The segments file goes onto every map of a build, as onto one map
    built = tmp_path / "built"
    r = geo_cli("build", "000", "--tracks", str(seg), "--out", str(built))
    assert r.returncode == 0, r.stderr
    page = (built / "000" / "index.html").read_text(encoding="utf-8")
    assert page.count("\nCGTTracks.add({") == 1 and "文博路" in page
    r = geo_cli("build", "000", "--tracks", str(out), "--out", str(tmp_path / "built2"))
    assert r.returncode == 2 and "geo tracks --segments" in r.stderr
    assert not (tmp_path / "built2" / "000" / "index.html").exists()


# --------------------------------------------------------------------------------------------
# The Dask engine gives the same answers (LocalCluster, 2 workers, threads to stay fast)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("dask_geopandas")
    from geo.tracks.dask_engine import dask_client

    with dask_client(n_workers=2, processes=False) as c:
        yield c


def test_dask_engine_same_answers_csv_and_parquet(client, day_csv, ctx, result, tmp_path):
    from geo.tracks.dask_engine import run_tracks_dask
    from geo.tracks.store import write_parquet

    assert len(client.scheduler_info()["workers"]) == 2
    on_csv = run_tracks_dask([day_csv], ctx, client=client, rows_per_partition=700)
    assert on_csv.summary["partitions"] > 2
    pd.testing.assert_frame_equal(on_csv.streets, result.streets)
    pd.testing.assert_frame_equal(on_csv.segments, result.segments)
    pd.testing.assert_frame_equal(on_csv.patrol, result.patrol)

    fixes = read_fixes([day_csv], epsg=ctx.epsg)
    folder = tmp_path / "pq"
    stats = write_parquet(fixes.frame, folder, epsg=ctx.epsg, rows_per_file=400, cleaned=True)
    assert stats["days"] == 2 and stats["files"] >= 5
    assert sorted(p.name for p in folder.glob("day=*")) == [f"day={DAY}", f"day={DAY2}"]
    on_pq = run_tracks_dask([folder], ctx, client=client)
    pd.testing.assert_frame_equal(on_pq.streets, result.streets)
    pd.testing.assert_frame_equal(on_pq.patrol, result.patrol)
    # The same folder read in process agrees too.
    again = run_tracks(read_fixes([folder], epsg=ctx.epsg), ctx)
    pd.testing.assert_frame_equal(again.streets, result.streets)
    shutil.rmtree(folder)


def test_to_parquet_is_hilbert_ordered_and_says_synthetic(fixes_frame, ctx, tmp_path):
    import json

    import pyarrow.parquet as pq

    from geo.tracks.store import hilbert_order, write_parquet

    folder = tmp_path / "pq"
    write_parquet(fixes_frame, folder, epsg=ctx.epsg, rows_per_file=10_000)
    meta = json.loads((folder / "tracks.json").read_text("utf-8"))
    assert meta["synthetic"] is True
    part = pq.read_table(next((folder / f"day={DAY}").glob("*.parquet"))).to_pandas()
    assert part["synthetic"].all()
    h = hilbert_order(part["lon"].to_numpy(), part["lat"].to_numpy())
    assert np.all(np.diff(h.astype(np.int64)) >= 0)


def test_query_on_dask_matches_in_process(client, data000, tmp_path):
    import geopandas as gpd

    from geo.query import query_plan
    from geo.tracks.dask_engine import query_plan_dask

    data = data000
    minx, miny, maxx, maxy = data.zones.total_bounds
    rng = np.random.default_rng(5)
    n = 3000
    pts = gpd.GeoDataFrame(
        {"pid": np.arange(n)},
        geometry=gpd.points_from_xy(rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)),
        crs=4326,
    )
    folder = tmp_path / "points"
    folder.mkdir()
    for k in range(3):
        pts.iloc[k * 1000 : (k + 1) * 1000].to_parquet(folder / f"part-{k}.parquet")
    local = query_plan(pts, [data])
    dist = query_plan_dask(folder, [data], client=client)
    key = ["point_row", "zone_id"]
    cols = [*key, "pid", "in_zone", "rule_id", "dist_to_place_m"]
    a = pd.DataFrame(local)[cols].astype({"zone_id": str, "rule_id": str})
    b = pd.DataFrame(dist)[cols].astype({"zone_id": str, "rule_id": str})
    a = a.sort_values(key).reset_index(drop=True)
    b = b.sort_values(key).reset_index(drop=True)
    assert a["in_zone"].sum() > 50
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    counts = query_plan_dask(folder, [data], client=client, collect=False)
    assert int(counts["hits"].sum()) == int(a["in_zone"].sum())


# --------------------------------------------------------------------------------------------
# Map layer (HTML in Chromium) and the static briefing map
# --------------------------------------------------------------------------------------------


def _segments_gdf(result, ctx):
    import geopandas as gpd

    geo = ctx.segments.set_index("seg_id").geometry.to_crs(4326)
    lines = geo.reindex(result.segments["seg_id"]).to_numpy()
    return gpd.GeoDataFrame(result.segments, geometry=lines, crs=4326)


def test_tracks_layer_in_browser(browser, data000, result, ctx, tmp_path):  # noqa: F811
    from test_html import check_clean, open_map

    from geo._io import write_text
    from geo.publish.html import render_map
    from geo.publish.tracks_layer import add_tracks_layer

    segs = _segments_gdf(result, ctx)
    page = add_tracks_layer(render_map(data000), segs, date=DAY, schematic=True)
    path = write_text(tmp_path / "tracks.html", page)
    open_map(browser, path)
    import time

    for _ in range(100):
        if browser.execute_script("return !!(window.CGTTracks && CGTTracks.ready)"):
            break
        time.sleep(0.05)
    day = segs[(segs["date"].astype(str) == DAY) & segs["target"].notna()]
    drawn = browser.execute_script("return CGTTracks.layer.getLayers().length")
    assert drawn == len(day)
    legend = browser.execute_script("return document.querySelector('.cgt-tracks-legend').textContent")
    assert "4月3日 清扫达标情况" in legend and "示意" in legend
    met = int((day["passes"] >= day["target"]).sum())
    assert f"达标（{met}）" in legend
    popup = browser.execute_script(
        """
        var l = CGTTracks.layer.getLayers().find(function (x) {
          return x.getPopup().getContent().indexOf('文博路') >= 0; });
        l.openPopup(); return document.querySelector('.leaflet-popup-content').textContent;
        """
    )
    assert "文博路" in popup and "作业次数：3" in popup and "SWP-002" in popup
    check_clean(browser)


def test_static_briefing_map(result, ctx, tmp_path):
    from PIL import Image

    from geo.publish.tracks_layer import draw_static

    out = draw_static(_segments_gdf(result, ctx), tmp_path / "brief.png", date=DAY, schematic=True)
    with Image.open(out) as im:
        assert im.width > 800 and im.height > 800


def test_dask_engine_without_dask_is_a_clear_input_error(monkeypatch):
    import importlib.util

    from geo.errors import InputError
    from geo.tracks.dask_engine import require_dask

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "dask" else real(name, *a)
    )
    with pytest.raises(InputError, match=r"chengguan-geo\[dask\]"):
        require_dask()
