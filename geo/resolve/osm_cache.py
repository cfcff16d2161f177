"""A disk cache of parsed OSM extracts, so a warm run reads no XML and never imports osmnx.

Parsing even the small bundled schematic extract costs over a second, almost all of it
``import osmnx`` (which pulls in matplotlib). The layers that parsing gives (streets and places,
see :mod:`geo.resolve.osm`) are stored once in ``cache_dir()/osm/`` as one Arrow IPC file, with
exact geometry as WKB, and read back in milliseconds.

The file is found by a key over the extract's bytes, its format and the parser: the installed
osmnx version, the source of :mod:`geo.resolve.osm` and the place kinds it sorts into. Any
change to one of these gives a new key, so a stale entry is never read. The key is also stored
inside the file and checked; an unreadable or mismatched file counts as no cache and is
rewritten. Files are written to a temporary name and renamed, so a reader never sees half of
one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

import geopandas as gpd
import pyarrow as pa
import shapely

from .. import settings

#: Bump when the file layout below changes.
FORMAT = "geo-osm-cache-1"
_LAYER = "__layer__"
_GEOMETRY = "geometry"
_WGS84 = "EPSG:4326"


@cache
def _parser_id() -> str:
    """What the parsed layers depend on besides the file: osmnx, this parser, the place kinds."""
    from importlib.metadata import PackageNotFoundError, version

    from ..plan import PLACE_KINDS

    try:
        osmnx_version = version("osmnx")
    except PackageNotFoundError:  # pragma: no cover - osmnx is a dependency
        osmnx_version = "none"
    osm_source = Path(__file__).with_name("osm.py").read_bytes()
    parts = [FORMAT, osmnx_version, hashlib.sha256(osm_source).hexdigest(), ",".join(sorted(PLACE_KINDS))]
    return "|".join(parts)


def cache_key(path: Path, fmt: str) -> str:
    """Hex key of an extract: SHA-256 over the parser id, the format and the file's bytes.

    Parameters
    ----------
    path : pathlib.Path
        The extract as given (for ``.osm.pbf``, the PBF itself, not its converted XML).
    fmt : str
        Its format (``xml``, ``bz2``, ``gz``, ``pbf``).

    Returns
    -------
    str
        64 hex digits.
    """
    h = hashlib.sha256(f"{_parser_id()}|{fmt}|".encode())
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def cache_path(path: Path, key: str) -> Path:
    """Where the parsed layers of ``path`` with ``key`` are kept."""
    stem = path.name.split(".")[0] or "extract"
    return settings.cache_dir() / "osm" / f"{stem}-{key[:32]}.arrow"


def read_layers(file: Path, key: str) -> dict[str, gpd.GeoDataFrame] | None:
    """The layers stored in ``file``, or None when it is missing, unreadable or for another key.

    Each layer comes back with the columns and order it was written with, a RangeIndex and
    EPSG:4326 geometry.
    """
    try:
        # Read into memory (not mapped), so the file can be replaced while the layers live.
        with pa.OSFile(str(file), "rb") as source:
            table = pa.ipc.open_file(source).read_all()
        meta = table.schema.metadata or {}
        if meta.get(b"key") != key.encode() or meta.get(b"format") != FORMAT.encode():
            return None
        columns: dict[str, list[str]] = json.loads(meta[b"columns"])
        layer_of = table.column(_LAYER).to_numpy(zero_copy_only=False)
        out = {}
        for name, cols in columns.items():
            part = table.filter(pa.array(layer_of == name))
            attrs = [c for c in cols if c != _GEOMETRY]
            frame = part.select(attrs).to_pandas()
            geoms = shapely.from_wkb(part.column(_GEOMETRY).to_numpy(zero_copy_only=False))
            out[name] = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=_WGS84), crs=_WGS84)[cols]
        return out
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException, shapely.errors.ShapelyError):
        return None  # damaged (truncated, overwritten, foreign): parse again and rewrite it


def write_layers(file: Path, key: str, layers: Mapping[str, gpd.GeoDataFrame]) -> None:
    """Store ``layers`` (GeoDataFrames in EPSG:4326) in ``file`` atomically.

    A cache that cannot be written (read-only folder, full disk) is skipped silently: it only
    costs a parse next time.
    """
    tables = []
    columns: dict[str, Sequence[str]] = {}
    for name, frame in layers.items():
        columns[name] = [str(c) for c in frame.columns]
        attrs = frame.drop(columns=[_GEOMETRY])
        table = pa.Table.from_pandas(attrs, preserve_index=False)
        wkb = pa.array(shapely.to_wkb(frame.geometry.to_numpy()), pa.binary())
        table = table.append_column(_GEOMETRY, wkb)
        tables.append(table.append_column(_LAYER, pa.array([name] * len(frame), pa.string())))
    table = pa.concat_tables(tables, promote_options="permissive")
    meta = {b"key": key.encode(), b"format": FORMAT.encode(), b"columns": json.dumps(columns).encode()}
    table = table.replace_schema_metadata(meta)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        os.chmod(tmp, 0o644)
        os.replace(tmp, file)
    except (OSError, pa.ArrowException):
        pass
    finally:
        Path(tmp).unlink(missing_ok=True)
