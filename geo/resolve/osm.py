"""OpenStreetMap data: local extracts and online downloads, as street and place layers.

Two tables come out of every source, both in EPSG:4326:

``streets``
    One row per named OSM way carrying a road ``highway`` value, with its own way id, so that
    a street split over many ways (as nearly all are) can be merged back by
    :func:`merge_streets` and still say which elements it is made of.
``pois``
    One row per element matching :data:`POI_TAGS` whose place kind :func:`kind_of` can name;
    nodes are Points, closed ways and multipolygon relations are Polygons.

Sources are a local extract (``.osm``, ``.osm.bz2``, ``.osm.gz``, ``.osm.pbf``, see
:func:`read_osm`), or an online download by region name (:func:`fetch`, cached on disk and
read back with :func:`read_fetched`). Elements tagged ``source=schematic`` (the bundled 示意
extract) keep ``source='schematic'`` so that every map built from them can say so.
"""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import hashlib
import json
import math
import os
import re
import socket
import threading
import uuid
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import ParseError, XMLPullParser
from xml.sax import SAXException

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Polygon

from .. import settings
from ..errors import GeoError, InputError
from ..plan import PLACE_KINDS

WGS84 = "EPSG:4326"


def _osmnx() -> Any:
    """The osmnx module, imported on first use: it takes most of a second (and pulls in
    matplotlib), which commands that never read OSM XML or fetch should not pay."""
    import osmnx

    return osmnx


def __getattr__(name: str) -> Any:
    # ``osm.ox`` still names osmnx for callers (and tests) that reach it through this module.
    if name == "ox":
        return _osmnx()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: The osmnx ``tags`` filter for the places the plans name. osmnx ORs its filters key by key,
#: so this is a superset: :func:`kind_of` makes the exact decision (names required, kindergartens
#: out, ``highway=pedestrian`` only as an area).
POI_TAGS: dict[str, bool | str | list[str]] = {
    "amenity": [
        "school",
        "college",
        "university",
        "hospital",
        "clinic",
        "marketplace",
        "bus_station",
        "toilets",
    ],
    "shop": ["supermarket", "mall"],
    "public_transport": "station",
    "railway": ["station", "halt"],
    "leisure": ["park", "garden"],
    "place": ["square", "locality"],
    "highway": "pedestrian",
    "entrance": True,
    "barrier": "gate",
    "landuse": ["residential", "industrial"],
    "tourism": "attraction",
    "historic": True,
    "office": "company",
    # Project tag: names the kind outright (示范区, 单元网格, 建筑工地 have no OSM tagging).
    "chengguan:kind": True,
}

#: ``highway`` values that are roads or named walkways, highest class first (used to pick the
#: class of a merged street).
ROAD_HIGHWAYS: tuple[str, ...] = (
    "motorway",
    "trunk",
    "primary",
    "secondary",
    "tertiary",
    "unclassified",
    "residential",
    "motorway_link",
    "trunk_link",
    "primary_link",
    "secondary_link",
    "tertiary_link",
    "living_street",
    "service",
    "pedestrian",
    "road",
    "busway",
    "construction",
    "track",
    "footway",
    "cycleway",
    "path",
    "bridleway",
    "steps",
)
_ROAD_RANK = {h: i for i, h in enumerate(ROAD_HIGHWAYS)}

STREET_COLUMNS = ("name", "highway", "osm_id", "tags", "source", "geometry")
POI_COLUMNS = ("name", "kind", "osm_type", "osm_id", "tags", "source", "geometry")
MERGED_COLUMNS = ("name", "highway", "osm_ids", "n_ways", "source", "geometry")

# Columns of osmnx's features frame that are element attributes, not tags (OSM XML attributes
# such as JOSM's action/visible land in the same frame as the tags).
_NOT_TAGS = frozenset(
    {"element", "id", "geometry", "nodes", "members", "lat", "lon", "visible", "action"}
    | {"changeset", "timestamp", "uid", "user", "version"}
)

_SUFFIXES = {
    ".osm": "xml",
    ".xml": "xml",
    ".osm.bz2": "bz2",
    ".bz2": "bz2",
    ".osm.gz": "gz",
    ".gz": "gz",
    ".osm.pbf": "pbf",
    ".pbf": "pbf",
}
_MAGIC = {b"BZh": "bz2", b"\x1f\x8b": "gz"}
_FORMAT_NAMES = {"xml": "plain OSM XML", "bz2": "bzip2", "gz": "gzip", "pbf": "OSM PBF"}
_FORMAT_SUFFIX = {"xml": ".osm", "bz2": ".osm.bz2", "gz": ".osm.gz", "pbf": ".osm.pbf"}

_KINDERGARTEN = re.compile(r"(幼儿园|幼稚园|托儿所|kindergarten|pre-?school|nursery)$", re.IGNORECASE)
_TRAILING_NOTE = re.compile(r"\s*[（(][^（）()]*[）)]\s*$")

FETCH_GPKG = "extract.gpkg"
FETCH_META = "meta.json"
PROBE_TIMEOUT = 3.0


@dataclass
class OsmData:
    """Streets and places read from one or more OSM sources.

    Attributes
    ----------
    streets : geopandas.GeoDataFrame
        Columns :data:`STREET_COLUMNS`, one row per named road way.
    pois : geopandas.GeoDataFrame
        Columns :data:`POI_COLUMNS`, one row per place element.
    path : pathlib.Path or None
        The file read; None when several sources were combined.
    source_label : str
        Attribution line for maps and reports, saying when geometry is schematic (示意).
    """

    streets: gpd.GeoDataFrame
    pois: gpd.GeoDataFrame
    path: Path | None
    source_label: str


# --------------------------------------------------------------------------------------------
# place kinds


def _is_kindergarten(tags: Mapping[str, str]) -> bool:
    if tags.get("school") == "kindergarten" or tags.get("isced:level") == "0":
        return True
    name = _TRAILING_NOTE.sub("", str(tags.get("name", "")).strip())
    return bool(_KINDERGARTEN.search(name))


def kind_of(tags: Mapping[str, str]) -> str | None:
    """The place kind (a key of ``geo.plan.PLACE_KINDS``) that OSM tags describe.

    A ``chengguan:kind`` tag wins when present; a value that is not a known kind gives None
    rather than a guess. Otherwise the first matching rule below decides, specific before
    broad (a school inside a residential landuse is a school).

    Parameters
    ----------
    tags : mapping of str to str
        The element's OSM tags.

    Returns
    -------
    str or None
        The kind, or None if the tags describe none of the kinds the plans use.
    """
    explicit = str(tags.get("chengguan:kind") or "").strip()
    if explicit:
        return explicit if explicit in PLACE_KINDS else None

    amenity = tags.get("amenity")
    if amenity == "school":
        # 中小学校: the plans' school rules do not cover 幼儿园.
        return None if _is_kindergarten(tags) else "school"
    by_amenity = {
        "college": "college",
        "university": "college",
        "hospital": "hospital",
        "clinic": "hospital",
        "marketplace": "market",
        "bus_station": "station",
        "toilets": "toilet",
    }
    if amenity in by_amenity:
        return by_amenity[amenity]
    if tags.get("shop") in ("supermarket", "mall"):
        return "mall"
    if tags.get("public_transport") == "station" or tags.get("railway") in ("station", "halt"):
        return "station"
    leisure = tags.get("leisure")
    if leisure == "park":
        return "park"
    if leisure == "garden":
        return "garden"
    if tags.get("place") == "square" or (tags.get("highway") == "pedestrian" and tags.get("area") == "yes"):
        return "square"
    # Landmarks before gates: a historic city gate is a landmark, not a 小区出入口.
    historic = tags.get("historic")
    if (
        tags.get("tourism") == "attraction"
        or historic not in (None, "", "no")
        or tags.get("place") == "locality"
    ):
        return "landmark"
    if tags.get("barrier") == "gate" or tags.get("entrance") not in (None, "", "no"):
        return "residential_gate"
    has_name = bool(str(tags.get("name") or "").strip())
    if tags.get("office") == "company" or (tags.get("landuse") == "industrial" and has_name):
        return "enterprise"
    if tags.get("landuse") == "residential" and has_name:
        return "residential"
    return None


# --------------------------------------------------------------------------------------------
# features frame → streets / pois


def _empty(columns: Iterable[str]) -> gpd.GeoDataFrame:
    cols = [c for c in columns if c != "geometry"]
    df = pd.DataFrame({c: pd.Series(dtype="int64" if c in ("osm_id", "n_ways") else object) for c in cols})
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)


def _source_of(tags: Mapping[str, str]) -> str:
    values = {v.strip().lower() for v in str(tags.get("source", "")).split(";")}
    return "schematic" if "schematic" in values else "osm"


def _name_of(tags: Mapping[str, str]) -> str:
    return str(tags.get("name") or tags.get("name:zh") or "").strip()


def _tag_dicts(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Rebuild each row's tag dict from osmnx's wide frame (one column per tag key)."""
    cols = [c for c in frame.columns if c not in _NOT_TAGS]
    # Only keys some of these rows use: a city extract has thousands of tag columns.
    sub = frame[cols].dropna(axis="columns", how="all")
    keys = np.asarray(sub.columns, dtype=object)
    values = sub.to_numpy(dtype=object)
    present = pd.notna(values)
    return [
        {str(k): str(v) for k, v in zip(keys[row_present], row[row_present], strict=True)}
        for row, row_present in zip(values, present, strict=True)
    ]


def _as_area(geom: Any, tags: Mapping[str, str]) -> Any:
    # osmnx makes a closed way an area only for tags it knows (not chengguan:kind, entrance);
    # a closed place outline is an area here unless tagged area=no.
    if isinstance(geom, LineString) and geom.is_ring and tags.get("area") != "no":
        return Polygon(geom.coords)
    return geom


def _split_features(gdf: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Streets and pois from an osmnx features frame (indexed by element, id)."""
    if len(gdf) == 0:
        return _empty(STREET_COLUMNS), _empty(POI_COLUMNS)
    df = gdf.to_crs(WGS84).reset_index()
    cols = set(df.columns)

    def col(name: str) -> pd.Series:
        return df[name] if name in cols else pd.Series(np.nan, index=df.index, dtype=object)

    col("name").where(col("name").notna(), col("name:zh"))
    is_line = df.geometry.geom_type == "LineString"
    street_mask = (
        (df["element"] == "way") & col("highway").isin(ROAD_HIGHWAYS) & is_line & col("area").ne("yes")
    )
    poi_mask = pd.Series(False, index=df.index)
    for key in POI_TAGS:
        poi_mask |= col(key).notna()

    streets = _empty(STREET_COLUMNS)
    sdf = df[street_mask]
    if len(sdf):
        tags = _tag_dicts(sdf)
        streets = gpd.GeoDataFrame(
            {
                "name": [_name_of(t) or "" for t in tags],
                "highway": [t["highway"] for t in tags],
                "osm_id": sdf["id"].astype("int64").to_numpy(),
                "tags": [json.dumps(t, ensure_ascii=False, sort_keys=True) for t in tags],
                "source": [_source_of(t) for t in tags],
            },
            geometry=list(sdf.geometry),
            crs=WGS84,
        )
        streets = streets.sort_values(["name", "osm_id"], kind="stable").reset_index(drop=True)

    pois = _empty(POI_COLUMNS)
    pdf = df[poi_mask]
    if len(pdf):
        tags = _tag_dicts(pdf)
        kinds = [kind_of(t) for t in tags]
        _warn_unknown_kinds(tags)
        keep = np.array([k is not None for k in kinds], dtype=bool)
        if keep.any():
            kept = [t for t, k in zip(tags, keep, strict=True) if k]
            pois = gpd.GeoDataFrame(
                {
                    "name": [_name_of(t) for t in kept],
                    "kind": [k for k in kinds if k is not None],
                    "osm_type": pdf["element"].to_numpy()[keep].astype(str),
                    "osm_id": pdf["id"].astype("int64").to_numpy()[keep],
                    "tags": [json.dumps(t, ensure_ascii=False, sort_keys=True) for t in kept],
                    "source": [_source_of(t) for t in kept],
                },
                geometry=[_as_area(g, t) for g, t in zip(pdf.geometry.to_numpy()[keep], kept, strict=True)],
                crs=WGS84,
            )
            order = pois["osm_type"].map({"node": 0, "way": 1, "relation": 2})
            pois = pois.iloc[np.lexsort((pois["osm_id"].to_numpy(), order.to_numpy()))]
            pois = pois.reset_index(drop=True)
    return streets, pois


def _warn_unknown_kinds(tags: list[dict[str, str]]) -> None:
    unknown = sorted({v for t in tags if (v := t.get("chengguan:kind", "").strip()) and v not in PLACE_KINDS})
    if unknown:
        warnings.warn(
            f"chengguan:kind values that are not place kinds were skipped: {', '.join(unknown)}",
            UserWarning,
            stacklevel=4,
        )


def _source_label(name: str, sources: Iterable[str]) -> str:
    present = set(sources)
    if present == {"schematic"}:
        return f"示意 schematic data, not surveyed — {name}"
    if "schematic" in present:
        return f"© OpenStreetMap contributors, with 示意 schematic (not surveyed) elements — {name}"
    return f"© OpenStreetMap contributors — {name}"


# --------------------------------------------------------------------------------------------
# local extracts


def _format_of(path: Path, display: str) -> str:
    name = path.name.lower()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return _SUFFIXES[suffix]
    raise InputError.single(
        display, "not an OSM extract: expected a .osm, .osm.bz2, .osm.gz or .osm.pbf file"
    )


@contextmanager
def _open_binary(path: Path, fmt: str) -> Iterator[IO[bytes]]:
    if fmt == "bz2":
        with bz2.open(path, "rb") as f:
            yield f
    elif fmt == "gz":
        with gzip.open(path, "rb") as f:
            yield f
    else:
        with path.open("rb") as f:
            yield f


def _decompress_problem(fmt: str, exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return f"the {fmt} stream ends early; the file looks truncated (download it again)"
    if fmt in ("bz2", "gz"):
        return f"cannot decompress as {fmt} ({exc})"
    return f"cannot read the file ({exc})"


def _xml_problem(display: str, what: str, e: ParseError) -> InputError:
    line, col = e.position
    # expat puts the position in the message too; the Problem carries it already.
    msg = re.sub(r":? line \d+, column \d+$", "", str(e))
    return InputError.single(display, f"{what}: {msg}", line=line, column=col + 1)


def _sniff_xml(path: Path, fmt: str, display: str) -> None:
    """Fail early, with one line, unless the file starts as OSM XML (root element ``<osm>``)."""
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError as e:
        raise InputError.single(display, _decompress_problem("xml", e)) from None
    actual = next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)
    if b"OSMHeader" in head[:32]:
        actual = "pbf"
    if actual and actual != fmt:
        raise InputError.single(
            display,
            f"the content is {_FORMAT_NAMES[actual]} but the name says {_FORMAT_NAMES[fmt]}; "
            f"rename it to end in {_FORMAT_SUFFIX[actual]}",
        )
    if not head:
        raise InputError.single(display, "the file is empty")
    # Only the start of the stream: enough to see the root element.
    parser = XMLPullParser(events=("start",))
    try:
        with _open_binary(path, fmt) as f:
            for _ in range(16):
                chunk = f.read(65536)
                if not chunk:
                    break
                parser.feed(chunk)
                for _event, elem in parser.read_events():
                    if elem.tag != "osm":
                        raise InputError.single(
                            display, f"not OSM XML: the root element is <{elem.tag}>, expected <osm>"
                        )
                    return
    except ParseError as e:
        raise _xml_problem(display, "not OSM XML", e) from None
    except (OSError, EOFError) as e:
        raise InputError.single(display, _decompress_problem(fmt, e)) from None
    raise InputError.single(display, "not OSM XML: the file holds no XML element")


def _pbf_cache_path(path: Path) -> Path:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    stem = path.name.split(".")[0] or "extract"
    return settings.cache_dir() / "pbf" / f"{stem}-{digest}.osm"


def _pbf_to_xml(path: Path, display: str) -> Path:
    """Convert a ``.osm.pbf`` to OSM XML once (osmnx reads XML only); later calls reuse it."""
    out = _pbf_cache_path(path)
    if out.exists():
        return out
    try:
        import osmium  # optional: only .osm.pbf needs it
    except ImportError:
        raise GeoError(
            f"{display}: reading .osm.pbf needs pyosmium; install it with `pip install osmium`, "
            "or convert the file to .osm/.osm.bz2 (e.g. `osmium cat in.osm.pbf -o out.osm.bz2`)"
        ) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        # The writer is itself a handler, so the copy runs in C++ without a Python loop.
        writer = osmium.SimpleWriter(osmium.io.File(str(tmp), "osm"), overwrite=True)
        try:
            osmium.apply(osmium.io.File(str(path), "pbf"), writer)
        finally:
            writer.close()
        os.replace(tmp, out)
    except RuntimeError as e:
        raise InputError.single(display, f"not a readable OSM PBF file ({e})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _drop_bad_nodes(elements: list[dict[str, Any]], display: str) -> list[dict[str, Any]]:
    """Elements without nodes whose lat/lon is not finite or out of range (reported by id), and
    without references to them in ways, so no Infinity reaches a map or a GEOS call."""
    bad: list[Any] = []
    keep = []
    for e in elements:
        if e.get("type") == "node":
            lat, lon = e.get("lat"), e.get("lon")
            if not (
                isinstance(lat, float)
                and isinstance(lon, float)
                and math.isfinite(lat)
                and math.isfinite(lon)
                and -90 <= lat <= 90
                and -180 <= lon <= 180
            ):
                bad.append(e.get("id"))
                continue
        keep.append(e)
    if bad:
        gone = set(bad)
        for e in keep:
            if e.get("type") == "way" and "nodes" in e:
                e["nodes"] = [n for n in e["nodes"] if n not in gone]
        # a way left with fewer than two nodes has no shape
        keep = [e for e in keep if not (e.get("type") == "way" and len(e.get("nodes", ())) < 2)]
        shown = ", ".join(str(i) for i in bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        warnings.warn(
            f"{display}: {len(bad)} node(s) with a latitude/longitude that is not a number in range "
            f"were dropped: node {shown}",
            UserWarning,
            stacklevel=2,
        )
    return keep


def _read_features(xml_path: Path, tags: dict[str, bool | str | list[str]], display: str) -> gpd.GeoDataFrame:
    """``ox.features_from_xml`` with bad nodes dropped between reading the XML and building
    geometries (through osmnx's own two steps, when this osmnx has them)."""
    from osmnx import _osm_xml
    from osmnx import features as ox_features

    if not (hasattr(_osm_xml, "_overpass_json_from_xml") and hasattr(ox_features, "_create_gdf")):
        return _osmnx().features_from_xml(xml_path, tags=tags)  # pragma: no cover - other osmnx layout
    response = _osm_xml._overpass_json_from_xml(Path(xml_path), "utf-8")
    response["elements"] = _drop_bad_nodes(response.get("elements", []), display)
    gdf = ox_features._create_gdf([response], Polygon(), tags)
    return gdf.drop(columns=list(set(gdf.columns) & {"changeset", "timestamp", "uid", "user", "version"}))


def _features_from_xml(xml_path: Path, fmt: str, display: str) -> gpd.GeoDataFrame:
    from osmnx._errors import InsufficientResponseError

    tags: dict[str, bool | str | list[str]] = {**POI_TAGS, "highway": True}
    try:
        with warnings.catch_warnings():
            # osmnx warns about OSMnx-written XML; a schematic extract may well be one.
            warnings.filterwarnings("ignore", message=".*generated by OSMnx.*")
            return _read_features(xml_path, tags, display)
    except InsufficientResponseError:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
    except ParseError as e:
        raise _xml_problem(display, "malformed OSM XML", e) from None
    except SAXException as e:
        raise InputError.single(display, f"malformed OSM XML: {e}") from None
    except (OSError, EOFError) as e:
        raise InputError.single(display, _decompress_problem(fmt, e)) from None
    except (KeyError, ValueError, TypeError) as e:
        raise InputError.single(display, f"malformed OSM element ({e!r})") from None


def read_osm(path: str | os.PathLike[str]) -> OsmData:
    """Read the streets and places of a local OSM extract.

    Parameters
    ----------
    path : str or path-like
        An OSM XML file (``.osm``), compressed (``.osm.bz2``, ``.osm.gz``; osmnx picks the
        decompressor from the last suffix), or a ``.osm.pbf`` (converted once with pyosmium to
        XML under ``cache_dir()/pbf/``, keyed by the file's path, size and mtime). What a file
        parses to is kept in ``cache_dir()/osm/`` (see :mod:`geo.resolve.osm_cache`): the same
        bytes are parsed once per machine, and a warm read imports neither osmnx nor matplotlib.

    Returns
    -------
    OsmData

    Raises
    ------
    geo.errors.InputError
        Missing file, unsupported name, not OSM XML, corrupt or truncated compression.
    geo.errors.GeoError
        A ``.osm.pbf`` given but pyosmium is not installed.
    """
    display = str(path)
    p = Path(path)
    if not p.is_file():
        raise InputError.single(display, "no such file" if not p.exists() else "not a file")
    fmt = _format_of(p, display)
    if fmt != "pbf":
        _sniff_xml(p, fmt, display)
    streets, pois = _parsed_layers(p, fmt, display)
    label = _source_label(p.name, [*streets["source"], *pois["source"]])
    return OsmData(streets=streets, pois=pois, path=p, source_label=label)


def _parsed_layers(p: Path, fmt: str, display: str) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Streets and pois of an extract: from the parse cache (:mod:`geo.resolve.osm_cache`) when
    it holds this file's bytes, else parsed with osmnx and stored there.

    A parse that warned (bad nodes dropped, unknown kinds skipped) is not stored, so the
    warning, which names the file, is given on every read.
    """
    from . import osm_cache

    try:
        key = osm_cache.cache_key(p, fmt)
    except OSError as e:
        raise InputError.single(display, _decompress_problem(fmt, e)) from None
    store = osm_cache.cache_path(p, key)
    cached = osm_cache.read_layers(store, key)
    if cached is not None and set(cached) == {"streets", "pois"}:
        streets, pois = cached["streets"], cached["pois"]
        return (
            streets if len(streets) else _empty(STREET_COLUMNS),
            pois if len(pois) else _empty(POI_COLUMNS),
        )
    if fmt == "pbf":
        xml_path, xml_fmt = _pbf_to_xml(p, display), "xml"
    else:
        xml_path, xml_fmt = p, fmt
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        streets, pois = _split_features(_features_from_xml(xml_path, xml_fmt, display))
    for w in caught:  # given on as if never caught
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    if not any(issubclass(w.category, UserWarning) for w in caught):
        osm_cache.write_layers(store, key, {"streets": streets, "pois": pois})
    return streets, pois


# --------------------------------------------------------------------------------------------
# merging streets


def _highest(highways: Iterable[str]) -> str:
    counts = Counter(highways)
    return min(counts, key=lambda h: (_ROAD_RANK.get(h, len(_ROAD_RANK)), -counts[h], h))


def merge_streets(streets: gpd.GeoDataFrame, names: Iterable[str] | None = None) -> gpd.GeoDataFrame:
    """Merge all ways of the same name into one geometry per street.

    Parameters
    ----------
    streets : geopandas.GeoDataFrame
        The ``streets`` table of :class:`OsmData`.
    names : iterable of str, optional
        Only these names (matched exactly; normalisation is ``geo.resolve.names``' job), in this
        order. Names with no ways are absent from the result. Default: every name, sorted.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`MERGED_COLUMNS`: ``osm_ids`` is the ``;``-joined sorted way ids,
        ``highway`` the highest road class among the parts, ``source`` is ``schematic`` if any
        part is (so a map says 示意), geometry the ``line_merge`` of the union: a LineString
        where the ways join up, else a MultiLineString (gaps, dual carriageways, branches).
    """
    df = streets
    order: list[str] | None = None
    if names is not None:
        order = list(dict.fromkeys(names))
        df = df[df["name"].isin(order)]
    if len(df) == 0:
        return _empty(MERGED_COLUMNS)
    rows = []
    # Unnamed roads still count (a 主次干道 rule governs them); each stays its own row.
    df = df.assign(name=df["name"].fillna("").astype(str))
    unnamed = df["name"].str.strip() == ""
    keys = df["name"].where(~unnamed, "\x00way/" + df["osm_id"].astype(str))
    for key, grp in df.groupby(keys, sort=True):
        name = "" if key.startswith("\x00") else key
        geom = shapely.line_merge(shapely.union_all(np.asarray(grp.geometry)))
        ids = sorted(int(i) for i in grp["osm_id"])
        sources = set(grp["source"])
        rows.append(
            {
                "name": name,
                "highway": _highest(grp["highway"]),
                "osm_ids": ";".join(str(i) for i in ids),
                "n_ways": len(ids),
                "source": "schematic" if "schematic" in sources else sorted(sources)[0],
                "geometry": geom,
            }
        )
    if order is not None:
        rank = {n: i for i, n in enumerate(order)}
        rows.sort(key=lambda r: rank[r["name"]])
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=streets.crs or WGS84)
    out["n_ways"] = out["n_ways"].astype("int64")
    return out[list(MERGED_COLUMNS)]


# --------------------------------------------------------------------------------------------
# online download


def _slug(region: str) -> str:
    # Readable (CJK kept) and collision-free (hash of the exact query).
    readable = re.sub(r"[^\w]+", "-", region, flags=re.UNICODE).strip("-")[:60]
    digest = hashlib.sha256(region.encode("utf-8")).hexdigest()[:8]
    return f"{readable}-{digest}" if readable else digest


def _endpoint(url: str) -> tuple[str, int, str]:
    """Host and port a request to ``url`` first connects to (its proxy, if one is set)."""
    import requests  # osmnx's HTTP client: its proxy rules are the ones that apply

    proxies = requests.utils.get_environ_proxies(url)
    proxy = requests.utils.select_proxy(url, proxies)
    target = urlsplit(proxy if proxy else url)
    if not target.hostname:
        raise GeoError(f"not a usable URL: {url!r} (check GEO_NOMINATIM_URL / GEO_OVERPASS_URL)")
    port = target.port or (443 if target.scheme == "https" else 80)
    via = f"proxy {target.hostname}:{port}" if proxy else ""
    return target.hostname, port, via


def _probe(host: str, port: int, timeout: float) -> str | None:
    """Why ``host:port`` cannot be reached within ``timeout`` seconds, or None if it can."""
    result: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(None)
        except OSError as e:
            result.append(e.strerror or str(e) or type(e).__name__)

    # A thread, because the DNS lookup inside create_connection ignores the timeout.
    t = threading.Thread(target=connect, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    return result[0] if result else f"no answer within {timeout:g} s"


def _check_reachable(urls: Iterable[str], timeout: float = PROBE_TIMEOUT) -> None:
    endpoints = [(url, *_endpoint(url)) for url in dict.fromkeys(urls)]
    reasons: dict[int, str | None] = {}

    def run(i: int, host: str, port: int) -> None:
        reasons[i] = _probe(host, port, timeout)

    threads = [
        threading.Thread(target=run, args=(i, host, port), daemon=True)
        for i, (_url, host, port, _via) in enumerate(endpoints)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 1.0)
    for i, (url, _host, _port, via) in enumerate(endpoints):
        reason = reasons.get(i, f"no answer within {timeout:g} s")
        if reason is not None:
            shown = urlsplit(url).netloc or url
            how = f"via {via}: " if via else ""
            raise GeoError(
                f"cannot reach {shown} ({how}{reason}); geo fetch needs network access. "
                "Set GEO_NOMINATIM_URL / GEO_OVERPASS_URL for a mirror, "
                "or use --osm FILE with a local extract."
            )


@contextmanager
def _osmnx_settings(cache_root: Path, timeout: float) -> Iterator[None]:
    """Point osmnx at geo.settings for the duration, then put the caller's settings back."""
    wanted = {
        "overpass_url": settings.overpass_url,
        "nominatim_url": settings.nominatim_url,
        "requests_timeout": timeout,
        "cache_folder": str(cache_root / "osmnx"),
        "use_cache": True,
    }
    ox = _osmnx()
    saved = {k: getattr(ox.settings, k) for k in wanted}
    for k, v in wanted.items():
        setattr(ox.settings, k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(ox.settings, k, v)


def _write_atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_gpkg_atomic(path: Path, layers: Mapping[str, gpd.GeoDataFrame]) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.gpkg")
    try:
        for layer, gdf in layers.items():
            gdf.to_file(tmp, layer=layer, driver="GPKG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def fetch(
    region: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> Path:
    """Download the streets and places of a region from OpenStreetMap and store them.

    The region is geocoded with Nominatim to its boundary polygon, then one Overpass query
    gets every ``highway`` element and every :data:`POI_TAGS` match inside it. The result is
    written as ``<cache>/fetch/<slug>/extract.gpkg`` (layers ``streets`` and ``pois``, as in
    :class:`OsmData`) beside ``meta.json`` (query, UTC time, osmnx version, endpoints).

    Parameters
    ----------
    region : str
        A place name Nominatim resolves to a polygon, e.g. ``"晋城市城区"``.
    cache_dir : str or path-like, optional
        Root of the cache; default ``geo.settings.cache_dir()``.
    timeout : float, optional
        Seconds per HTTP request (also the Overpass server timeout); default
        ``geo.settings.timeout``. A whole district may need a minute or more.

    Returns
    -------
    pathlib.Path
        The GeoPackage written.

    Raises
    ------
    geo.errors.GeoError
        Network unreachable (found within seconds by a connection probe), request timed out,
        region not found or without a boundary polygon.
    """
    region = region.strip()
    if not region:
        raise GeoError("geo fetch needs a region name, e.g. 晋城市城区")
    timeout = settings.timeout if timeout is None else float(timeout)
    # Fail within seconds when offline, before osmnx's own retries and DNS-over-HTTPS waits.
    _check_reachable([settings.nominatim_url, settings.overpass_url])

    root = Path(cache_dir) if cache_dir is not None else settings.cache_dir()
    out_dir = root / "fetch" / _slug(region)
    ox = _osmnx()
    import requests
    from osmnx._errors import InsufficientResponseError, ResponseStatusCodeError

    tags: dict[str, bool | str | list[str]] = {**POI_TAGS, "highway": True}
    try:
        with _osmnx_settings(root, timeout):
            gdf = ox.features_from_place(region, tags=tags)
    except InsufficientResponseError as e:
        raise GeoError(f"OpenStreetMap returned nothing for {region!r} ({e})") from None
    except (TypeError, ValueError) as e:
        # osmnx's geocoder: no result, or a result that is a point rather than an area.
        raise GeoError(
            f"cannot use {region!r} as a region: {e}. Try the full name with its city, "
            "e.g. 晋城市城区 or 山西省晋城市城区."
        ) from None
    except requests.Timeout:
        raise GeoError(
            f"the OSM servers did not answer within {timeout:g} s for {region!r}; "
            "set GEO_TIMEOUT (e.g. 180) or pass a larger timeout, or try a mirror."
        ) from None
    except (requests.RequestException, ResponseStatusCodeError) as e:
        raise GeoError(f"download for {region!r} failed ({e}); try again later or use a mirror.") from None

    streets, pois = _split_features(gdf)
    out_dir.mkdir(parents=True, exist_ok=True)
    gpkg = out_dir / FETCH_GPKG
    _write_gpkg_atomic(gpkg, {"streets": streets, "pois": pois})
    meta = {
        "query": region,
        "tags": tags,
        "fetched_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "osmnx_version": ox.__version__,
        "nominatim_url": settings.nominatim_url,
        "overpass_url": settings.overpass_url,
        "timeout": timeout,
        "n_streets": len(streets),
        "n_pois": len(pois),
    }
    _write_atomic_text(out_dir / FETCH_META, json.dumps(meta, ensure_ascii=False, indent=2) + "\n")
    return gpkg


def read_fetched(path_or_region: str | os.PathLike[str]) -> OsmData:
    """Load an extract stored by :func:`fetch`.

    Parameters
    ----------
    path_or_region : str or path-like
        The GeoPackage, its folder, or the region name as given to :func:`fetch`.

    Returns
    -------
    OsmData

    Raises
    ------
    geo.errors.GeoError
        Nothing fetched yet for that region.
    geo.errors.InputError
        The file is not a readable fetched extract.
    """
    p = Path(path_or_region)
    if p.is_dir():
        p = p / FETCH_GPKG
    elif not p.exists():
        region = str(path_or_region).strip()
        p = settings.cache_dir() / "fetch" / _slug(region) / FETCH_GPKG
        if not p.exists():
            raise GeoError(
                f"no fetched extract for {region!r} (looked in {p.parent}); run `geo fetch {region}` "
                "with network access first, or use --osm FILE with a local extract."
            )
    display = str(p)
    try:
        streets = gpd.read_file(p, layer="streets")
        pois = gpd.read_file(p, layer="pois")
    except Exception as e:  # pyogrio raises several types for one cause: not that GeoPackage
        raise InputError.single(
            display, f"not a fetched extract with layers streets and pois ({e})"
        ) from None
    for frame in (streets, pois):
        frame["osm_id"] = frame["osm_id"].astype("int64")
        frame["name"] = frame["name"].fillna("").astype(str)
        if frame.crs is None:
            frame.set_crs(WGS84, inplace=True)
    streets = streets.to_crs(WGS84)[list(STREET_COLUMNS)]
    pois = pois.to_crs(WGS84)[list(POI_COLUMNS)]
    meta_path = p.with_name(FETCH_META)
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    when = str(meta.get("fetched_at", ""))[:10]
    what = f"{meta.get('query', p.parent.name)}, fetched {when}" if when else p.parent.name
    label = _source_label(what, [*streets["source"], *pois["source"]])
    return OsmData(streets=streets, pois=pois, path=p, source_label=label)


# --------------------------------------------------------------------------------------------
# several sources


def load_sources(paths: Iterable[str | os.PathLike[str]]) -> OsmData:
    """Read several extracts (OSM files or fetched GeoPackages) into one :class:`OsmData`.

    Elements present in more than one extract (overlapping clips) are kept once, by source,
    element type and id, the first file winning.

    Parameters
    ----------
    paths : iterable of str or path-like
        ``.osm``/``.osm.bz2``/``.osm.gz``/``.osm.pbf`` files and ``.gpkg`` files from
        :func:`fetch`.

    Returns
    -------
    OsmData
        ``path`` is the file when only one was given, else None; ``source_label`` joins the
        labels with ``; ``.
    """
    parts = [read_fetched(p) if str(p).lower().endswith(".gpkg") else read_osm(p) for p in paths]
    if not parts:
        return OsmData(_empty(STREET_COLUMNS), _empty(POI_COLUMNS), None, "")
    if len(parts) == 1:
        return parts[0]

    def concat(frames: list[gpd.GeoDataFrame], key: list[str], columns: tuple[str, ...]) -> gpd.GeoDataFrame:
        frames = [f for f in frames if len(f)]
        if not frames:
            return _empty(columns)
        out = pd.concat(frames, ignore_index=True)
        out = out.drop_duplicates(subset=key, keep="first").reset_index(drop=True)
        return gpd.GeoDataFrame(out, geometry="geometry", crs=WGS84)

    streets = concat([d.streets for d in parts], ["source", "osm_id"], STREET_COLUMNS)
    pois = concat([d.pois for d in parts], ["source", "osm_type", "osm_id"], POI_COLUMNS)
    label = "; ".join(dict.fromkeys(d.source_label for d in parts))
    return OsmData(streets=streets, pois=pois, path=None, source_label=label)
