"""Rules measured along the street network (``metric: network``) with osmnx."""

from __future__ import annotations

from pathlib import Path

import pytest
from shapely.geometry import Point

from geo.build import build_plan
from geo.plan import load_plan
from geo.regions import get_region
from geo.resolve import build_sources, resolve_names
from geo.rules import load_network, network_zone

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup():
    region = get_region("晋城市城区")
    graph = load_network([region.schematic], region.epsg)
    sources, _ = build_sources(region)
    layer, _ = resolve_names(["晋城二中", "文博路"], sources)
    geoms = dict(zip(layer["name"], layer.to_crs(region.epsg).geometry, strict=True))
    return graph, geoms


def test_network_zone_follows_streets(setup):
    graph, g = setup
    school, street = g["晋城二中"], g["文博路"]
    zone = network_zone(graph, school, 300, width_m=20)
    # Never reaches further than the straight line would.
    assert school.buffer(300 + 10 + 1).contains(zone)
    # Far smaller than the 300 m disc: only the streets a walker reaches.
    assert zone.area < 0.5 * school.buffer(300).area
    # Along the nearest street: the entry point is in; walking along it, 250 m in, 350 m out.
    at = street.project(school.centroid)
    entry = street.interpolate(at)
    gap = street.distance(school)
    assert zone.contains(entry)
    north = 1 if street.interpolate(at + 1).y > entry.y else -1
    inside = street.interpolate(at + north * (250 - gap))
    outside = street.interpolate(at + north * (350 - gap))
    assert zone.contains(inside)
    assert not zone.contains(outside)
    # A point 200 m from the school straight across the block, off every street, is not reached.
    off = Point(school.centroid.x + 200, school.centroid.y)
    assert not zone.contains(off)


def test_plan_rule_with_network_metric(tmp_path):
    text = (ROOT / "data" / "plans" / "000.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "    distance_m: 100\n    restriction:", "    distance_m: 100\n    metric: network\n    restriction:"
    )
    path = tmp_path / "000.yaml"
    path.write_text(text, encoding="utf-8")
    data = build_plan(load_plan(path))
    z = data.zones.to_crs(data.epsg)
    net = z[data.zones["rule_id"] == "r_demo_100"]
    euc = z[data.zones["rule_id"] == "r_demo_500"]
    assert len(net) == len(euc) == 2
    assert set(data.zones.loc[net.index, "metric"]) == {"network"}
    for (_, n), (_, e) in zip(net.iterrows(), euc.iterrows(), strict=True):
        assert e.geometry.contains(n.geometry.buffer(-1))
