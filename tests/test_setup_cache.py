"""The caches behind a fast ``geo query`` start: parsed OSM extracts and PROJ pipelines.

Each cache must give exactly what the slow path gives, be rebuilt when damaged or stale, and a
warm ``geo query`` must not import osmnx or matplotlib at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from geo import _proj, settings
from geo.resolve import osm, osm_cache

ROOT = Path(__file__).resolve().parents[1]
SCHEMATIC = sorted((ROOT / "data" / "osm").glob("*.schematic.osm"))

SMALL_OSM = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
  <node id="1" lat="35.4900" lon="112.8400"/>
  <node id="2" lat="35.4900" lon="112.8450"/>
  <node id="3" lat="35.4901" lon="112.8500"/>
  <node id="4" lat="35.4950" lon="112.8400"/>
  <node id="5" lat="35.4950" lon="112.8450"/>
  <node id="6" lat="35.4980" lon="112.8420"/>
  <node id="7" lat="35.4920" lon="112.8430">
    <tag k="amenity" v="school"/>
    <tag k="name" v="实验小学"/>
  </node>
  <way id="10"><nd ref="1"/><nd ref="2"/>
    <tag k="highway" v="secondary"/><tag k="name" v="凤台东街"/></way>
  <way id="11"><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="secondary"/><tag k="name" v="凤台东街"/><tag k="lanes" v="4"/></way>
  <way id="12"><nd ref="4"/><nd ref="5"/><nd ref="6"/><nd ref="4"/>
    <tag k="amenity" v="marketplace"/><tag k="name" v="东街市场"/></way>
</osm>
"""


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEO_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.osm"
    path.write_text(SMALL_OSM, encoding="utf-8")
    return path


def _fresh(path: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """What osmnx and the splitter give, without any cache."""
    return osm._split_features(osm._features_from_xml(path, "xml", str(path)))


def _same_layer(got: gpd.GeoDataFrame, want: gpd.GeoDataFrame) -> None:
    assert_geodataframe_equal(got, want, check_dtype=True, check_index_type=True, check_crs=True)
    assert list(got["osm_id"]) == list(want["osm_id"])
    assert list(got["tags"]) == list(want["tags"])
    # Exact coordinates, not merely equal shapes.
    assert list(shapely.to_wkb(got.geometry.values)) == list(shapely.to_wkb(want.geometry.values))


def _cache_files() -> list[Path]:
    return sorted((settings.cache_dir() / "osm").glob("*.arrow"))


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = osm._features_from_xml

    def counted(path, fmt, display):
        calls.append(Path(path))
        return real(path, fmt, display)

    monkeypatch.setattr(osm, "_features_from_xml", counted)
    return calls


@pytest.mark.parametrize("path", [*SCHEMATIC, None], ids=[p.stem for p in SCHEMATIC] + ["small"])
def test_cached_extract_gives_the_features_of_a_fresh_parse(path, small, monkeypatch):
    path = path or small
    want_streets, want_pois = _fresh(path)
    assert len(want_streets) and len(want_pois)
    first = osm.read_osm(path)  # parses and stores
    assert len(_cache_files()) == 1
    calls = _count_parses(monkeypatch)
    warm = osm.read_osm(path)
    assert calls == [], "the second read parsed the XML again"
    for data in (first, warm):
        _same_layer(data.streets, want_streets)
        _same_layer(data.pois, want_pois)
    assert warm.source_label == first.source_label
    assert osm.merge_streets(warm.streets).equals(osm.merge_streets(want_streets))


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(b"not an arrow file"),
        lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
        lambda p: p.write_bytes(b""),
    ],
    ids=["garbage", "truncated", "empty"],
)
def test_damaged_cache_is_parsed_again_and_rewritten(small, monkeypatch, damage):
    want_streets, want_pois = _fresh(small)
    osm.read_osm(small)
    (cache,) = _cache_files()
    damage(cache)
    calls = _count_parses(monkeypatch)
    data = osm.read_osm(small)
    assert calls == [small]
    _same_layer(data.streets, want_streets)
    _same_layer(data.pois, want_pois)
    # The rewritten file serves the next read.
    key = osm_cache.cache_key(small, "xml")
    assert osm_cache.read_layers(cache, key) is not None
    osm.read_osm(small)
    assert calls == [small]


def test_stale_cache_is_never_read(small, monkeypatch):
    osm.read_osm(small)
    calls = _count_parses(monkeypatch)
    # Another osmnx (or parser source) gives another key: the old entry is not used.
    monkeypatch.setattr(osm_cache, "_parser_id", lambda: "another osmnx")
    osm.read_osm(small)
    assert calls == [small]
    assert len(_cache_files()) == 2
    # The file changed: its new content is read, not the cached one.
    small.write_text(SMALL_OSM.replace("凤台东街", "凤台西街"), encoding="utf-8")
    data = osm.read_osm(small)
    assert calls == [small, small]
    assert set(data.streets["name"]) == {"凤台西街"}


def test_entry_for_another_key_is_ignored(small, monkeypatch):
    want_streets, _ = _fresh(small)
    key = osm_cache.cache_key(small, "xml")
    path = osm_cache.cache_path(small, key)
    # A well-formed file at the right place, but written for other content.
    other = want_streets.assign(name="别的街")
    osm_cache.write_layers(path, "0" * 64, {"streets": other, "pois": other.iloc[:0]})
    calls = _count_parses(monkeypatch)
    data = osm.read_osm(small)
    assert calls == [small]
    _same_layer(data.streets, want_streets)


def test_parse_that_warns_is_not_cached(tmp_path):
    odd = tmp_path / "odd.osm"
    text = SMALL_OSM.replace('k="amenity" v="marketplace"', 'k="chengguan:kind" v="no_such_kind"')
    odd.write_text(text, encoding="utf-8")
    for _ in range(2):  # the warning names the file and is given on every read
        with pytest.warns(UserWarning, match="no_such_kind"):
            osm.read_osm(odd)
    assert _cache_files() == []


def test_cache_write_failure_is_not_an_error(small, tmp_path, monkeypatch):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("GEO_CACHE_DIR", str(blocker))
    want_streets, _ = _fresh(small)
    _same_layer(osm.read_osm(small).streets, want_streets)


# --- PROJ pipelines -------------------------------------------------------------------------


def _points(n: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.uniform(112.6, 115.4, n), rng.uniform(22.0, 45.0, n)


@pytest.mark.parametrize(("src", "dst"), [(4326, 4547), (4326, 4546), (4326, 32650)])
def test_cached_pipeline_gives_the_coordinates_of_the_searched_one(src, dst):
    searched = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    back = pyproj.Transformer.from_crs(dst, src, always_xy=True)
    _proj.transformer.cache_clear()
    _proj.transformer(src, dst)  # searches and stores
    _proj.transformer(dst, src)
    stored = sorted((settings.cache_dir() / "proj").glob("*.json"))
    assert len(stored) == 2
    _proj.transformer.cache_clear()
    fwd, inv = _proj.transformer(src, dst), _proj.transformer(dst, src)  # from the stored pipelines
    x, y = _points()
    want = searched.transform(x, y)
    assert np.array_equal(fwd.transform(x, y), want)
    assert np.array_equal(inv.transform(*want), back.transform(*want))


def test_to_crs_matches_geopandas():
    x, y = _points(2_000)
    pts = gpd.GeoSeries(shapely.points(x, y), crs="EPSG:4326", name="where")
    shapes = gpd.GeoSeries(
        [
            *shapely.buffer(pts.values[:50], 0.01),
            None,
            shapely.Point(113.0, 34.0, 7.0),
            shapely.LineString([(113, 34), (114, 35)]),
        ],
        crs=4326,
    )
    for series in (pts, shapes):
        for there in (4547, 32650):
            want = series.to_crs(there)
            got = _proj.to_crs(series, there)
            assert got.crs == want.crs and got.name == want.name and got.index.equals(want.index)
            assert [None if g is None else shapely.to_wkb(g) for g in got] == [
                None if g is None else shapely.to_wkb(g) for g in want
            ]
            back = _proj.to_crs(got, 4326)
            assert [None if g is None else shapely.to_wkb(g) for g in back] == [
                None if g is None else shapely.to_wkb(g) for g in want.to_crs(4326)
            ]


@pytest.mark.parametrize(
    "damage",
    [
        lambda e: {**e, "pipeline": e["pipeline"].replace("x_0=500000", "x_0=500001")},
        lambda e: {**e, "tx": e["tx"][:-1]},
        lambda e: {**e, "key": "another PROJ"},
        lambda e: "not json {",
    ],
    ids=["wrong-pipeline", "short-check", "other-key", "garbage"],
)
def test_damaged_pipeline_is_searched_again(damage):
    _proj.transformer.cache_clear()
    _proj.transformer(4326, 4547)
    (entry_path,) = (settings.cache_dir() / "proj").glob("*.json")
    entry = json.loads(entry_path.read_text(encoding="utf-8"))
    bad = damage(entry)
    entry_path.write_text(bad if isinstance(bad, str) else json.dumps(bad), encoding="utf-8")
    _proj.transformer.cache_clear()
    tr = _proj.transformer(4326, 4547)
    x, y = _points()
    want = pyproj.Transformer.from_crs(4326, 4547, always_xy=True).transform(x, y)
    assert np.array_equal(tr.transform(x, y), want)
    assert json.loads(entry_path.read_text(encoding="utf-8")) == entry  # rewritten as it was


# --- the command ---------------------------------------------------------------------------

_WATCH = """
import json, sys
from geo.cli import main
sys.argv = ["geo", *sys.argv[1:]]
try:
    main()
except SystemExit as e:
    code = e.code
else:
    code = 0
print(json.dumps({"code": code, "loaded": sorted(m for m in ("osmnx", "matplotlib", "networkx")
                                                  if m in sys.modules)}), file=sys.stderr)
"""


def _query(tmp_path: Path, out: Path) -> dict:
    pts = tmp_path / "p2.csv"
    pts.write_text("id,lon,lat\n1,113.80,34.03\n2,113.85,34.05\n", encoding="utf-8")
    env = {**os.environ, "GEO_CACHE_DIR": str(tmp_path / "cache")}
    args = [str(pts), "--date", "2023-06-01", "--out", str(out)]
    res = subprocess.run(
        [sys.executable, "-c", _WATCH, "query", *args], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    return json.loads(res.stderr.strip().splitlines()[-1]) | {"stderr": res.stderr}


def test_warm_query_imports_neither_osmnx_nor_matplotlib(tmp_path):
    cold = _query(tmp_path, tmp_path / "cold.csv")
    assert cold["code"] == 0, cold["stderr"]
    assert "osmnx" in cold["loaded"]  # the first run parses the schematic extract
    warm = _query(tmp_path, tmp_path / "warm.csv")
    assert warm["code"] == 0, warm["stderr"]
    assert warm["loaded"] == []
    assert "示意" in warm["stderr"]  # still says the geometry is schematic
    for name in ("", ".zones"):
        cold_file = (tmp_path / f"cold{name}.csv").read_bytes()
        assert cold_file == (tmp_path / f"warm{name}.csv").read_bytes()
    assert b'"1","113.80","34.03"' in (tmp_path / "warm.csv").read_bytes()


# --- plan summaries ------------------------------------------------------------------------


def _summary_tuple(s) -> tuple:
    return (s.path, s.id, s.region, s.has_buffer_rules, s.max_distance_m)


def test_plan_summaries_say_what_the_full_plans_say():
    from geo.plan import load_plans, plan_summaries

    plans = load_plans()
    cold = plan_summaries()  # validates every plan and stores the summaries
    assert len(list((settings.cache_dir() / "plans").glob("*.json"))) == len(plans)
    warm = plan_summaries()
    want = [
        (
            p.path,
            p.id,
            p.document.region,
            any(r.type == "buffer" for r in p.rules),
            float(max((r.distance_m or 0 for r in p.rules), default=0)),
        )
        for p in plans
    ]
    assert [_summary_tuple(s) for s in cold] == want
    assert [_summary_tuple(s) for s in warm] == want


def test_query_picks_the_same_plans_from_summaries():
    from geo.cli.analysis import _buffer_plan_summaries, _default_buffer_plans, _plans_near

    for bounds in [(113.80, 34.00, 113.85, 34.05), (112.8, 34.0, 113.85, 35.6), (100.0, 20.0, 100.1, 20.1)]:
        by_plan = [p.id for p in _plans_near(_default_buffer_plans(), bounds)]
        assert [s.id for s in _plans_near(_buffer_plan_summaries(), bounds)] == by_plan
        assert [s.id for s in _plans_near(_buffer_plan_summaries(), bounds)] == by_plan  # warm


@pytest.mark.parametrize(
    "breaks",
    [
        lambda text: text + "\n  : [\n",  # a YAML syntax error
        lambda text: text.replace('id: "002"', 'id: "00x"', 1),  # an id that is not the file name
    ],
    ids=["yaml", "id"],
)
def test_changed_plan_is_validated_again(tmp_path, breaks):
    from geo.errors import InputError
    from geo.plan import load_plans, plan_summaries

    src = settings.plans_dir() / "002.yaml"
    target = tmp_path / "002.yaml"
    target.write_bytes(src.read_bytes())
    (first,) = plan_summaries([target])
    assert first.id == "002"
    # Broken after it was summarised: the same problems as load_plans, not the old summary.
    broken = breaks(src.read_text(encoding="utf-8"))
    assert broken != src.read_text(encoding="utf-8")
    target.write_text(broken, encoding="utf-8")
    with pytest.raises(InputError) as want:
        load_plans([target])
    with pytest.raises(InputError) as got:
        plan_summaries([target])
    assert [str(p) for p in got.value.problems] == [str(p) for p in want.value.problems]


def test_damaged_summary_is_rebuilt():
    from geo.plan import plan_summaries

    want = [_summary_tuple(s) for s in plan_summaries()]
    for i, path in enumerate(sorted((settings.cache_dir() / "plans").glob("*.json"))):
        entry = json.loads(path.read_text(encoding="utf-8"))
        if i == 0:
            path.write_text("{ not json", encoding="utf-8")
        elif i == 1:
            path.write_text(json.dumps({**entry, "max_distance_m": "far"}), encoding="utf-8")
        elif i == 2:
            path.write_text(json.dumps({**entry, "key": "0" * 64, "region": "别处"}), encoding="utf-8")
    assert [_summary_tuple(s) for s in plan_summaries()] == want


def test_query_works_when_the_cache_folder_cannot_be_written(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    pts = tmp_path / "p2.csv"
    pts.write_text("id,lon,lat\n1,113.80,34.03\n2,113.85,34.05\n", encoding="utf-8")
    out = tmp_path / "r.csv"
    env = {**os.environ, "GEO_CACHE_DIR": str(blocker)}
    cmd = [sys.executable, "-m", "geo", "query", str(pts), "--date", "2023-06-01", "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "2 points" in res.stdout and out.exists()
