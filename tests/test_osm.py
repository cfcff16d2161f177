"""OSM extracts: reading .osm / .osm.bz2 / .osm.pbf, street merging, place kinds, fetch offline."""

from __future__ import annotations

import bz2
import json
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import shapely

from geo import settings
from geo.errors import GeoError, InputError
from geo.plan import PLACE_KINDS
from geo.resolve import osm

OAKLAND = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "osm" / "West-Oakland.osm.bz2"

# A tiny schematic extract in the style of the bundled one: JOSM-like negative ids, a street
# split over two ways, a demo zone only the project tag can name, a school and a kindergarten.
TINY_OSM = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
  <node id="-1" version="1" lat="35.4900" lon="112.8400"/>
  <node id="-2" version="1" lat="35.4900" lon="112.8450"/>
  <node id="-3" version="1" lat="35.4901" lon="112.8500"/>
  <node id="-4" version="1" lat="35.4950" lon="112.8400"/>
  <node id="-5" version="1" lat="35.4950" lon="112.8450"/>
  <node id="-6" version="1" lat="35.4980" lon="112.8420"/>
  <node id="-7" version="1" lat="35.4920" lon="112.8430">
    <tag k="amenity" v="school"/>
    <tag k="name" v="晋城市实验小学"/>
    <tag k="source" v="schematic"/>
  </node>
  <node id="-8" version="1" lat="35.4925" lon="112.8435">
    <tag k="amenity" v="school"/>
    <tag k="name" v="晋城市第一幼儿园"/>
    <tag k="source" v="schematic"/>
  </node>
  <way id="-10" version="1">
    <nd ref="-1"/><nd ref="-2"/>
    <tag k="highway" v="secondary"/>
    <tag k="name" v="凤台东街"/>
    <tag k="source" v="schematic"/>
  </way>
  <way id="-11" version="1">
    <nd ref="-2"/><nd ref="-3"/>
    <tag k="highway" v="secondary"/>
    <tag k="name" v="凤台东街"/>
    <tag k="source" v="schematic"/>
  </way>
  <way id="-12" version="1">
    <nd ref="-4"/><nd ref="-5"/><nd ref="-6"/><nd ref="-4"/>
    <tag k="chengguan:kind" v="demo_zone"/>
    <tag k="name" v="垃圾分类示范片区"/>
    <tag k="source" v="schematic"/>
  </way>
</osm>
"""


@pytest.fixture
def oakland() -> Path:
    if not OAKLAND.is_file():
        pytest.skip(f"shared fixture not present: {OAKLAND}")
    return OAKLAND


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.osm"
    path.write_text(TINY_OSM, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Converted pbf files and fetched extracts go to the test's folder, not the user's cache.
    monkeypatch.setenv("GEO_CACHE_DIR", str(tmp_path / "cache"))


def _oakland_ways() -> list[ET.Element]:
    with bz2.open(OAKLAND) as f:
        return ET.parse(f).getroot().findall("way")  # noqa: S314 (our own fixture)


def _tags(elem: ET.Element) -> dict[str, str]:
    return {t.get("k"): t.get("v") for t in elem.findall("tag")}


# --- real extract ------------------------------------------------------------------------


def test_7th_street_merges_into_one_geometry_with_all_way_ids(oakland: Path) -> None:
    expected = {int(w.get("id")) for w in _oakland_ways() if _tags(w).get("name") == "7th Street"}
    assert len(expected) >= 2, "the fixture splits 7th Street over several ways"

    data = osm.read_osm(oakland)
    ways = data.streets[data.streets["name"] == "7th Street"]
    assert set(ways["osm_id"]) == expected

    merged = osm.merge_streets(data.streets, ["7th Street"])
    assert len(merged) == 1
    row = merged.iloc[0]
    assert {int(i) for i in row["osm_ids"].split(";")} == expected
    assert row["osm_ids"] == ";".join(str(i) for i in sorted(expected))
    assert row["n_ways"] == len(expected)
    assert row["geometry"].geom_type in ("LineString", "MultiLineString")
    for part in ways.geometry:
        assert part.difference(row["geometry"]).length < 1e-9
    assert merged.crs.to_epsg() == 4326


def test_school_resolves_from_its_tags(oakland: Path) -> None:
    schools = [w for w in _oakland_ways() if _tags(w).get("amenity") == "school"]
    assert schools, "the fixture has a school"
    way = schools[0]
    data = osm.read_osm(oakland)
    hit = data.pois[(data.pois["osm_type"] == "way") & (data.pois["osm_id"] == int(way.get("id")))]
    assert len(hit) == 1
    row = hit.iloc[0]
    assert row["kind"] == "school"
    assert row["name"] == _tags(way)["name"]
    assert row["source"] == "osm"
    assert row["geometry"].geom_type == "Polygon"
    assert json.loads(row["tags"])["amenity"] == "school"


def test_streets_columns_and_crs(oakland: Path) -> None:
    data = osm.read_osm(oakland)
    assert list(data.streets.columns) == list(osm.STREET_COLUMNS)
    assert list(data.pois.columns) == list(osm.POI_COLUMNS)
    assert data.streets.crs.to_epsg() == 4326
    assert (data.streets.geometry.geom_type == "LineString").all()
    # Unnamed roads are kept (a 主次干道 rule governs them too), with an empty name.
    assert data.streets["name"].notna().all()
    assert data.streets["name"].str.len().gt(0).any()
    assert set(data.pois["kind"]) <= set(PLACE_KINDS)
    assert data.path == oakland
    assert "OpenStreetMap" in data.source_label


# --- place kinds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "kind"),
    [
        ({"amenity": "school", "name": "晋城一中"}, "school"),
        ({"amenity": "school", "name": "城区第二幼儿园"}, None),
        ({"amenity": "kindergarten", "name": "城区第二幼儿园"}, None),
        ({"amenity": "university"}, "college"),
        ({"amenity": "clinic"}, "hospital"),
        ({"amenity": "marketplace", "name": "东街农贸市场"}, "market"),
        ({"shop": "mall"}, "mall"),
        ({"railway": "halt"}, "station"),
        ({"public_transport": "station"}, "station"),
        ({"leisure": "park"}, "park"),
        ({"leisure": "garden"}, "garden"),
        ({"highway": "pedestrian", "area": "yes"}, "square"),
        ({"highway": "pedestrian"}, None),
        ({"amenity": "toilets"}, "toilet"),
        ({"barrier": "gate"}, "residential_gate"),
        ({"landuse": "residential", "name": "凤台小区"}, "residential"),
        ({"landuse": "residential"}, None),
        ({"landuse": "industrial", "name": "兰花集团"}, "enterprise"),
        ({"historic": "memorial"}, "landmark"),
        ({"highway": "primary", "name": "泽州路"}, None),
        ({}, None),
        # the project tag wins over whatever else the element says
        ({"chengguan:kind": "demo_zone", "landuse": "residential", "name": "示范区"}, "demo_zone"),
        ({"chengguan:kind": "construction_site", "amenity": "school"}, "construction_site"),
        ({"chengguan:kind": "grid"}, "grid"),
        ({"chengguan:kind": "no_such_kind", "amenity": "school"}, None),
    ],
)
def test_kind_of(tags: dict[str, str], kind: str | None) -> None:
    assert osm.kind_of(tags) == kind


def test_poi_tags_cover_every_kind_rule() -> None:
    # Every kind_of rule must be reachable through the osmnx filter used to select elements.
    for key in ("amenity", "shop", "railway", "leisure", "place", "barrier", "entrance", "landuse"):
        assert key in osm.POI_TAGS
    assert osm.POI_TAGS["chengguan:kind"] is True
    assert "kindergarten" not in osm.POI_TAGS["amenity"]


# --- schematic extract, merging ------------------------------------------------------------


def test_schematic_source_and_project_kinds(tiny: Path) -> None:
    data = osm.read_osm(tiny)
    assert list(data.streets["osm_id"]) == [-11, -10]
    assert set(data.streets["source"]) == {"schematic"}
    assert "示意" in data.source_label

    merged = osm.merge_streets(data.streets)
    assert list(merged["name"]) == ["凤台东街"]
    assert merged.iloc[0]["osm_ids"] == "-11;-10"
    assert merged.iloc[0]["source"] == "schematic"
    assert merged.iloc[0]["geometry"].geom_type == "LineString"

    pois = data.pois.set_index("osm_id")
    assert pois.loc[-7, "kind"] == "school"
    assert -8 not in pois.index  # a kindergarten is not a 中小学校
    assert pois.loc[-12, "kind"] == "demo_zone"
    assert pois.loc[-12, "geometry"].geom_type == "Polygon"
    assert set(pois["source"]) == {"schematic"}


def test_merge_streets_names_filter_and_order(oakland: Path) -> None:
    streets = osm.read_osm(oakland).streets
    merged = osm.merge_streets(streets, ["Wood Street", "No Such Street", "7th Street"])
    assert list(merged["name"]) == ["Wood Street", "7th Street"]
    assert list(merged.columns) == list(osm.MERGED_COLUMNS)
    assert osm.merge_streets(streets, []).empty


def test_mixed_sources_merge_as_schematic() -> None:
    streets = osm._empty(osm.STREET_COLUMNS)
    streets.loc[0] = ["X路", "primary", 1, "{}", "osm", shapely.LineString([(0, 0), (1, 0)])]
    streets.loc[1] = ["X路", "secondary", 2, "{}", "schematic", shapely.LineString([(1, 0), (2, 0)])]
    row = osm.merge_streets(streets).iloc[0]
    assert row["source"] == "schematic"
    assert row["highway"] == "primary"
    assert row["geometry"].equals(shapely.LineString([(0, 0), (1, 0), (2, 0)]))


def test_load_sources_concatenates_and_deduplicates(oakland: Path, tiny: Path) -> None:
    one = osm.read_osm(oakland)
    both = osm.load_sources([oakland, tiny, oakland])
    assert len(both.streets) == len(one.streets) + 2
    assert set(both.streets["source"]) == {"osm", "schematic"}
    assert both.path is None
    assert "OpenStreetMap" in both.source_label and "示意" in both.source_label


# --- bad input -----------------------------------------------------------------------------


def _problem_text(exc: pytest.ExceptionInfo[InputError]) -> str:
    text = str(exc.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_garbage_bz2_is_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.osm.bz2"
    bad.write_bytes(b"\x00\x01garbage, not bzip2 at all\xff" * 10)
    with pytest.raises(InputError) as exc:
        osm.read_osm(bad)
    assert "garbage.osm.bz2" in _problem_text(exc)


def test_truncated_bz2_is_input_error(tmp_path: Path, oakland: Path) -> None:
    cut = tmp_path / "cut.osm.bz2"
    cut.write_bytes(oakland.read_bytes()[:4000])
    with pytest.raises(InputError) as exc:
        osm.read_osm(cut)
    text = _problem_text(exc)
    assert "cut.osm.bz2" in text and "truncated" in text


def test_missing_file_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        osm.read_osm(tmp_path / "nowhere.osm")
    assert "nowhere.osm" in _problem_text(exc)


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("page.osm", b"<html><body>404</body></html>", "<html>"),
        ("broken.osm", TINY_OSM.encode()[:900], "malformed"),
        ("empty.osm", b"", "empty"),
        ("data.csv", b"name,lon,lat\n", "not an OSM extract"),
    ],
)
def test_not_osm_xml_is_input_error(tmp_path: Path, name: str, content: bytes, says: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as exc:
        osm.read_osm(path)
    text = _problem_text(exc)
    assert name in text and says in text


# --- .osm.pbf ------------------------------------------------------------------------------


def test_read_pbf(tmp_path: Path, tiny: Path) -> None:
    osmium = pytest.importorskip("osmium", reason="pyosmium (pip install osmium) not installed")
    pbf = tmp_path / "tiny.osm.pbf"
    writer = osmium.SimpleWriter(str(pbf))
    try:
        for obj in osmium.FileProcessor(str(tiny)):
            writer.add(obj)
    finally:
        writer.close()

    from_xml = osm.read_osm(tiny)
    from_pbf = osm.read_osm(pbf)
    assert list(from_pbf.streets["osm_id"]) == list(from_xml.streets["osm_id"])
    assert list(from_pbf.pois["kind"]) == list(from_xml.pois["kind"])
    assert set(from_pbf.streets["source"]) == {"schematic"}
    cached = list((settings.cache_dir() / "pbf").glob("*.osm"))
    assert len(cached) == 1
    before = cached[0].stat().st_mtime_ns
    osm.read_osm(pbf)  # second read reuses the converted file
    assert cached[0].stat().st_mtime_ns == before
    assert len(list((settings.cache_dir() / "pbf").iterdir())) == 1


def test_pbf_without_osmium_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "osmium", None)  # import osmium now fails
    pbf = tmp_path / "x.osm.pbf"
    pbf.write_bytes(b"\x00\x00\x00\x0d\x0a\x09OSMHeader")
    with pytest.raises(GeoError, match="pip install osmium"):
        osm.read_osm(pbf)


def test_corrupt_pbf_is_input_error(tmp_path: Path) -> None:
    pytest.importorskip("osmium", reason="pyosmium (pip install osmium) not installed")
    pbf = tmp_path / "junk.osm.pbf"
    pbf.write_bytes(b"this is not a pbf" * 20)
    with pytest.raises(InputError) as exc:
        osm.read_osm(pbf)
    assert "junk.osm.pbf" in _problem_text(exc)


# --- fetch ---------------------------------------------------------------------------------


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy in the environment would be probed instead of the endpoint itself.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.usefixtures("no_proxy_env")
def test_fetch_fails_fast_without_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Port 9 (discard) on localhost: nothing listens, as when the network is unreachable.
    monkeypatch.setattr(settings, "nominatim_url", "http://127.0.0.1:9/")
    monkeypatch.setattr(settings, "overpass_url", "http://127.0.0.1:9/api")
    start = time.monotonic()
    with pytest.raises(GeoError) as exc:
        osm.fetch("晋城市城区", cache_dir=tmp_path)
    elapsed = time.monotonic() - start
    assert elapsed < 10, f"fetch took {elapsed:.1f} s to notice there is no network"
    text = str(exc.value)
    assert "cannot reach 127.0.0.1:9" in text
    assert "GEO_NOMINATIM_URL" in text and "--osm FILE" in text
    assert not (tmp_path / "fetch").exists()


def test_fetch_writes_and_reads_back(monkeypatch: pytest.MonkeyPatch, oakland: Path) -> None:
    # The download itself is replaced by the local fixture; everything after it is real.
    calls = []

    def fake_features_from_place(region: str, tags: dict) -> object:
        calls.append((region, tags))
        return osm.ox.features_from_xml(oakland, tags=tags)

    monkeypatch.setattr(osm, "_check_reachable", lambda urls: None)
    monkeypatch.setattr(osm.ox, "features_from_place", fake_features_from_place)
    path = osm.fetch("West Oakland, California")
    assert path.name == "extract.gpkg" and path.parent.parent == settings.cache_dir() / "fetch"
    assert calls[0][1]["highway"] is True and calls[0][1]["amenity"] == osm.POI_TAGS["amenity"]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary left

    meta = json.loads((path.parent / "meta.json").read_text(encoding="utf-8"))
    assert meta["query"] == "West Oakland, California"
    assert meta["fetched_at"].endswith("+00:00")
    assert meta["osmnx_version"] == osm.ox.__version__
    assert meta["overpass_url"] == settings.overpass_url

    local = osm.read_osm(oakland)
    for key in ("West Oakland, California", path, path.parent):
        back = osm.read_fetched(key)
        assert list(back.streets["osm_id"]) == list(local.streets["osm_id"])
        assert list(back.pois["kind"]) == list(local.pois["kind"])
        assert list(back.streets.columns) == list(osm.STREET_COLUMNS)
    merged = osm.merge_streets(back.streets, ["7th Street"])
    assert merged.iloc[0]["osm_ids"] == osm.merge_streets(local.streets, ["7th Street"]).iloc[0]["osm_ids"]
    assert set(osm.load_sources([path]).streets["osm_id"]) == set(local.streets["osm_id"])


def test_read_fetched_unknown_region() -> None:
    with pytest.raises(GeoError, match="geo fetch"):
        osm.read_fetched("没有下载过的区")
