"""Transformers between EPSG systems, with PROJ's search for the operation done once per machine.

``pyproj.Transformer.from_crs(4326, 4547)`` spends about 60 ms searching PROJ's database for
the ways from WGS84 to CGCS2000 before it settles on the operation (a null datum shift and the
Gauss-Krüger projection); a query needs two of them, every run. The operation it finds is
written down once, as its PROJ pipeline, in ``cache_dir()/proj/``, and later runs build the
transformer from that pipeline in well under a millisecond.

A pipeline is only stored when the transformer built from it gives bit-for-bit the same
coordinates as the searched one on a grid over the area of use, and it is checked against
those reference coordinates again each time it is read: a damaged, foreign or stale entry
(another PROJ or its database) is never used, only searched again and rewritten.
:func:`to_crs` applies a transformer the way ``GeoSeries.to_crs`` does, so it gives the same
coordinates.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import settings

if TYPE_CHECKING:
    import geopandas as gpd
    import pyproj

#: Bump when the stored entry changes shape.
FORMAT = "geo-proj-pipeline-1"
_GRID = 24  # reference points per side of the area-of-use grid


def _proj_id() -> str:
    """What the operation found depends on: pyproj, PROJ and PROJ's database."""
    import pyproj

    db = Path(pyproj.datadir.get_data_dir()) / "proj.db"
    try:
        st = db.stat()
        stamp = f"{st.st_size}-{st.st_mtime_ns}"
    except OSError:
        stamp = "no-db"
    return f"{FORMAT}|{pyproj.__version__}|{pyproj.proj_version_str}|{db}|{stamp}"


def _entry_path(src: int, dst: int, key: str) -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return settings.cache_dir() / "proj" / f"{src}-{dst}-{digest}.json"


def _reference_points(tr: pyproj.Transformer, src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """Points in ``src`` coordinates over the area of use of the two systems (a grid in degrees,
    taken through ``tr``'s inverse when ``src`` is projected)."""
    import pyproj

    area = pyproj.CRS.from_epsg(dst).area_of_use or pyproj.CRS.from_epsg(src).area_of_use
    w, s, e, n = area.bounds if area is not None else (-180.0, -80.0, 180.0, 80.0)
    lon, lat = np.meshgrid(np.linspace(w, e, _GRID), np.linspace(s, n, _GRID))
    lon, lat = lon.ravel(), lat.ravel()
    if pyproj.CRS.from_epsg(src).is_geographic:
        return lon, lat
    x, y = tr.transform(lon, lat, direction="INVERSE")
    ok = np.isfinite(x) & np.isfinite(y)
    return np.asarray(x)[ok], np.asarray(y)[ok]


def _same(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> bool:
    return all(
        np.array_equal(np.asarray(p), np.asarray(q), equal_nan=True) for p, q in zip(a, b, strict=True)
    )


def _read(path: Path, key: str) -> pyproj.Transformer | None:
    import pyproj

    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        if entry["key"] != key:
            return None
        tr = pyproj.Transformer.from_pipeline(entry["pipeline"])
        x, y, want_x, want_y = (
            np.array([float.fromhex(v) for v in entry[k]]) for k in ("x", "y", "tx", "ty")
        )
        if not len(x) or not _same(tr.transform(x, y), (want_x, want_y)):
            return None
        return tr
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, pyproj.exceptions.ProjError):
        return None  # damaged or foreign: search again and rewrite it


def _write(path: Path, key: str, tr: pyproj.Transformer, src: int, dst: int) -> None:
    """Store ``tr``'s pipeline when the transformer built from it gives the same coordinates."""
    import pyproj

    try:
        pipeline = tr.definition
        fast = pyproj.Transformer.from_pipeline(pipeline)
        x, y = _reference_points(tr, src, dst)
        want = tr.transform(x, y)
        if not len(x) or not _same(fast.transform(x, y), want):
            return  # the pipeline text does not carry the whole operation: keep searching
    except pyproj.exceptions.ProjError:
        return
    entry = {
        "key": key,
        "pipeline": pipeline,
        **{
            k: [float(v).hex() for v in arr]
            for k, arr in (("x", x), ("y", y), ("tx", want[0]), ("ty", want[1]))
        },
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError:
        return  # a cache that cannot be written only costs the search next time
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(entry, f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError:
        pass
    finally:
        Path(tmp).unlink(missing_ok=True)


@lru_cache(maxsize=64)
def transformer(src: int, dst: int) -> pyproj.Transformer:
    """The ``always_xy`` transformer from EPSG ``src`` to EPSG ``dst``.

    Parameters
    ----------
    src, dst : int
        EPSG codes.

    Returns
    -------
    pyproj.Transformer
        Gives the same coordinates as ``Transformer.from_crs(src, dst, always_xy=True)``.
    """
    import pyproj

    key = f"{_proj_id()}|{int(src)}|{int(dst)}"
    path = _entry_path(int(src), int(dst), key)
    cached = _read(path, key)
    if cached is not None:
        return cached
    tr = pyproj.Transformer.from_crs(int(src), int(dst), always_xy=True)
    _write(path, key, tr, int(src), int(dst))
    return tr


def to_crs(series: gpd.GeoSeries, epsg: int) -> gpd.GeoSeries:
    """``series.to_crs(epsg)`` through :func:`transformer`: the same coordinates, without PROJ's
    search on every run. A CRS that is not exactly an EPSG system goes through geopandas itself.

    Parameters
    ----------
    series : geopandas.GeoSeries
        With a CRS.
    epsg : int
        The target system.

    Returns
    -------
    geopandas.GeoSeries
        Like ``series.to_crs(epsg)``: same index, name and coordinates.
    """
    import geopandas as gpd
    import shapely

    crs = series.crs
    src = crs.to_epsg(min_confidence=100) if crs is not None else None
    if src is None:
        return series.to_crs(epsg)
    if src == int(epsg):
        return series
    tr = transformer(src, int(epsg))
    geoms = np.asarray(series.values, dtype=object)
    # What GeoSeries.to_crs does with its transformer (geopandas.array.transform).
    has_z = shapely.has_z(geoms)
    out = np.empty_like(geoms)
    flat = shapely.get_coordinates(geoms[~has_z], include_z=False)
    moved = tr.transform(flat[:, 0], flat[:, 1])
    out[~has_z] = shapely.set_coordinates(geoms[~has_z].copy(), np.array(moved).T)
    if has_z.any():
        deep = shapely.get_coordinates(geoms[has_z], include_z=True)
        moved = tr.transform(deep[:, 0], deep[:, 1], deep[:, 2])
        out[has_z] = shapely.set_coordinates(geoms[has_z].copy(), np.array(moved).T)
    return gpd.GeoSeries(out, index=series.index, crs=int(epsg), name=series.name)
