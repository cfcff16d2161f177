"""Coordinate systems used around Chinese city data, and the shifts between them.

Systems
-------
WGS84 (EPSG:4326)
    The storage and exchange system of this toolkit. GPS, OpenStreetMap and Tianditu use it.
CGCS2000 (EPSG:4490)
    China's official geodetic system. It differs from WGS84 by well under a metre, so it is
    treated as WGS84 here (see DESIGN.md, "Coordinates"); ``"cgcs2000"`` is an alias of ``"wgs84"``.
GCJ-02 ("Mars coordinates")
    The obfuscated system required for published maps in China (Amap/高德, Tencent/腾讯). It adds
    a smooth, non-linear offset of a few hundred metres to WGS84, defined by a published formula
    on the Krasovsky 1940 ellipsoid. The formula has no closed-form inverse, so GCJ-02 → WGS84 is
    solved by iteration.
BD-09
    Baidu's system: a further, closed-form distortion of GCJ-02 (the ``x_pi`` formulas).

The shifts only apply inside a rough bounding box of China (lon 72.004–137.8347,
lat 0.8293–55.8271), as in every public implementation; points outside it pass through
unchanged. The test is made per point, on the coordinates as given.

All of these are angular systems: never buffer or measure in degrees. Metric work (buffers,
lengths, areas, distances) happens in the CGCS2000 3-degree Gauss-Krüger zone whose central
meridian is nearest the data; :func:`local_crs` gives its EPSG code.

Conversions are vectorised with numpy; :func:`check_lonlat` screens user-supplied coordinates
before they go anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geo.errors import InputError, Problem

__all__ = [
    "CHINA_BBOX",
    "check_lonlat",
    "convert",
    "from_wgs84",
    "local_crs",
    "to_wgs84",
]

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 formula (not WGS84's: that is part of the recipe).
_A = 6378245.0
_EE = 0.00669342162296594323
# Baidu's constant: pi * 3000 / 180.
_X_PI = math.pi * 3000.0 / 180.0

#: Rough bounding box of China (minx, miny, maxx, maxy) used by every public GCJ-02 implementation.
CHINA_BBOX: tuple[float, float, float, float] = (72.004, 0.8293, 137.8347, 55.8271)

# Stop the GCJ-02 inversion when the forward residual is below ~0.01 m (1e-7° of latitude is
# 0.011 m), well inside the 0.1 m promised; 30 rounds is far more than the 3–6 it takes.
_INVERSE_TOL_DEG = 1e-7
_INVERSE_MAX_ITER = 30

_ALIASES = {
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "epsg:4326": "wgs84",
    # CGCS2000 and WGS84 agree to well under a metre; DESIGN.md treats them as equal.
    "cgcs2000": "wgs84",
    "epsg:4490": "wgs84",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "bd09ll": "bd09",
}

# CGCS2000 3-degree Gauss-Krüger "CM" zones: EPSG:4534 (CM 75°E) … EPSG:4554 (CM 135°E).
_GK_FIRST_EPSG = 4534
_GK_MIN_CM = 75
_GK_MAX_CM = 135

# Approximate length of one degree, in km, for distance screening (not for measurement).
_KM_PER_DEG_LAT = 110.574
_KM_PER_DEG_LON_EQUATOR = 111.320


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def norm_crs(crs: str) -> str:
    """Canonical name (``"wgs84"``, ``"gcj02"`` or ``"bd09"``) for a user-given system name."""
    key = str(crs).strip().lower().replace("_", "-")
    try:
        return _ALIASES[key]
    except KeyError:
        raise ValueError(
            f"unknown coordinate system {crs!r}; expected one of 'wgs84', 'cgcs2000', 'gcj02', 'bd09'"
        ) from None


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Float64 copies of lon and lat broadcast to one shape (copies, so callers' data is never touched)."""
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    x, y = np.broadcast_arrays(x, y)
    return np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)


def _in_china(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Per-point test against :data:`CHINA_BBOX` (NaN compares False, so NaN is 'outside')."""
    minx, miny, maxx, maxy = CHINA_BBOX
    return (lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy)


def _gcj_offset(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """GCJ-02 minus WGS84, in degrees, at WGS84 point (lon, lat) — the published formula."""
    x = lon - 105.0
    y = lat - 35.0
    # The periodic terms shared by both components.
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0

    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0

    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0

    # The offsets above are in metres on the Krasovsky ellipsoid; turn them into degrees using
    # the meridian and prime-vertical radii of curvature at this latitude.
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return dlon, dlat


def _wgs_to_gcj(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    inside = _in_china(lon, lat)
    dlon, dlat = _gcj_offset(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def _gcj_to_wgs(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    inside = _in_china(lon, lat)
    glon, glat = lon[inside], lat[inside]
    # Fixed-point iteration w <- w - (F(w) - g). The offset changes slowly with position (its
    # derivative is ~1e-5), so each round shrinks the error by orders of magnitude.
    dlon, dlat = _gcj_offset(glon, glat)
    wlon, wlat = glon - dlon, glat - dlat
    for _ in range(_INVERSE_MAX_ITER):
        dlon, dlat = _gcj_offset(wlon, wlat)
        rlon = wlon + dlon - glon
        rlat = wlat + dlat - glat
        if rlon.size == 0 or max(np.max(np.abs(rlon)), np.max(np.abs(rlat))) < _INVERSE_TOL_DEG:
            break
        wlon -= rlon
        wlat -= rlat
    out_lon, out_lat = lon.copy(), lat.copy()
    out_lon[inside], out_lat[inside] = wlon, wlat
    return out_lon, out_lat


def _gcj_to_bd(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    inside = _in_china(lon, lat)
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    blon = z * np.cos(theta) + 0.0065
    blat = z * np.sin(theta) + 0.006
    return np.where(inside, blon, lon), np.where(inside, blat, lat)


def _bd_to_gcj(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    inside = _in_china(lon, lat)
    x = lon - 0.0065
    y = lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    glon = z * np.cos(theta)
    glat = z * np.sin(theta)
    return np.where(inside, glon, lon), np.where(inside, glat, lat)


# --------------------------------------------------------------------------------------------
# Public conversions
# --------------------------------------------------------------------------------------------


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Convert coordinates given in `crs` to WGS84.

    Parameters
    ----------
    lon, lat : float or array_like
        Longitude and latitude in decimal degrees in `crs`. They are broadcast together.
    crs : str
        System of the input, case-insensitive: ``"wgs84"`` (or ``"cgcs2000"``, treated as the
        same), ``"gcj02"`` (Amap, Tencent) or ``"bd09"`` (Baidu). Hyphenated spellings such as
        ``"GCJ-02"`` are accepted too.

    Returns
    -------
    lon, lat : numpy.ndarray of float64
        WGS84 coordinates, with the broadcast shape of the inputs. Scalar inputs give 0-d arrays
        (use ``float(lon)`` to unwrap). Inputs are never modified.

    Notes
    -----
    GCJ-02 → WGS84 has no closed form; it is solved by fixed-point iteration until the forward
    residual is below 1e-7° (about 0.01 m). BD-09 goes through GCJ-02 with the standard
    closed-form BD-09 → GCJ-02 formula, which is itself only approximately the inverse of
    GCJ-02 → BD-09 (off by up to about 0.2 m); that, not the iteration, bounds the BD-09
    round trip. Points outside the rough China bounding box (:data:`CHINA_BBOX`) and NaNs pass
    through unchanged.

    Examples
    --------
    >>> lon, lat = to_wgs84(116.41024449916938, 39.91640428150164, "gcj02")
    >>> round(float(lon), 6), round(float(lat), 6)
    (116.404, 39.915)
    """
    return convert(lon, lat, crs, "wgs84")


def from_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Convert WGS84 coordinates to `crs`.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS84 longitude and latitude in decimal degrees. They are broadcast together.
    crs : str
        Target system, case-insensitive: ``"wgs84"``/``"cgcs2000"``, ``"gcj02"`` or ``"bd09"``.

    Returns
    -------
    lon, lat : numpy.ndarray of float64
        Coordinates in `crs`, with the broadcast shape of the inputs; scalar inputs give 0-d
        arrays. Points outside :data:`CHINA_BBOX` and NaNs pass through unchanged.

    Examples
    --------
    >>> lon, lat = from_wgs84([116.404], [39.915], "gcj02")
    >>> lon.round(6).tolist(), lat.round(6).tolist()
    ([116.410244], [39.916404])
    """
    return convert(lon, lat, "wgs84", crs)


def convert(
    lon: ArrayLike, lat: ArrayLike, src: str, dst: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Convert coordinates between any two of WGS84, GCJ-02 and BD-09.

    GCJ-02 ↔ BD-09 is done directly with Baidu's formulas (not through WGS84, which would add
    the iteration's error for nothing); every other pair goes through WGS84.

    Parameters
    ----------
    lon, lat : float or array_like
        Coordinates in decimal degrees in `src`; broadcast together.
    src, dst : str
        Systems, as for :func:`to_wgs84`.

    Returns
    -------
    lon, lat : numpy.ndarray of float64
        Coordinates in `dst`, broadcast shape of the inputs; scalar inputs give 0-d arrays.
    """
    s, d = norm_crs(src), norm_crs(dst)
    x, y = _as_arrays(lon, lat)
    if s == d:
        return x, y
    if (s, d) == ("gcj02", "bd09"):
        return _gcj_to_bd(x, y)
    if (s, d) == ("bd09", "gcj02"):
        return _bd_to_gcj(x, y)
    # To WGS84 first ...
    if s == "bd09":
        x, y = _gcj_to_wgs(*_bd_to_gcj(x, y))
    elif s == "gcj02":
        x, y = _gcj_to_wgs(x, y)
    # ... then out of it.
    if d == "gcj02":
        x, y = _wgs_to_gcj(x, y)
    elif d == "bd09":
        x, y = _gcj_to_bd(*_wgs_to_gcj(x, y))
    return x, y


# --------------------------------------------------------------------------------------------
# Metric CRS
# --------------------------------------------------------------------------------------------


def local_crs(lon: ArrayLike) -> int:
    """EPSG code of the CGCS2000 3-degree Gauss-Krüger zone (CM variant) nearest a longitude.

    The central meridian is ``CM = 3 * round(lon / 3)`` (a longitude exactly halfway between two
    meridians goes to the eastern one) and the code is ``4534 + (CM - 75) / 3``. These "CM"
    variants have no false-easting zone prefix, which is what GIS tools expect.

    Parameters
    ----------
    lon : float or array_like
        Longitude in decimal degrees east. For an array, the median of its finite values is
        used, so a few stray points do not move a whole layer into another zone.

    Returns
    -------
    int
        EPSG code, e.g. 4547 (CM 114°E) for 晋城 and 许昌, 4546 (CM 111°E) for 临县.

    Raises
    ------
    ValueError
        If there is no finite longitude, or the nearest central meridian is outside
        75°E–135°E (the range China's zones cover).

    Examples
    --------
    >>> local_crs(112.85)
    4547
    >>> local_crs([110.9, 110.99, 111.1])
    4546
    """
    arr = np.asarray(lon, dtype=np.float64).ravel()
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        raise ValueError("local_crs needs at least one finite longitude, got none")
    value = float(np.median(finite))
    # floor(x + 0.5) rather than round(): Python and numpy round halves to even, which would
    # send the two edges of one zone in different directions.
    cm = 3 * math.floor(value / 3.0 + 0.5)
    if not _GK_MIN_CM <= cm <= _GK_MAX_CM:
        raise ValueError(
            f"longitude {value:g} is nearest central meridian {cm}°, but CGCS2000 3-degree "
            f"Gauss-Krüger zones only cover central meridians {_GK_MIN_CM}°E to {_GK_MAX_CM}°E "
            f"(longitudes {_GK_MIN_CM - 1.5:g} to {_GK_MAX_CM + 1.5:g}); is this longitude in China, "
            "and is it really a longitude?"
        )
    return _GK_FIRST_EPSG + (cm - _GK_MIN_CM) // 3


# --------------------------------------------------------------------------------------------
# Input sanity
# --------------------------------------------------------------------------------------------


def _as_float_1d(values: ArrayLike) -> NDArray[np.float64]:
    """1-D float64 array; entries that are not numbers (``None``, ``"abc"``) become NaN."""
    try:
        return np.atleast_1d(np.asarray(values, dtype=np.float64)).ravel()
    except (TypeError, ValueError):
        pass
    out = []
    for v in np.atleast_1d(np.asarray(values, dtype=object)).ravel():
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            out.append(math.nan)
    return np.asarray(out, dtype=np.float64)


def _km_outside(
    lon: NDArray[np.float64], lat: NDArray[np.float64], bounds: Sequence[float]
) -> NDArray[np.float64]:
    """Approximate distance in km from each point to a lon/lat box (0 inside).

    Equirectangular at the latitude of the nearest box point: good to a few per cent at the
    scale of a city, which is all a screening test needs.
    """
    minx, miny, maxx, maxy = (float(b) for b in bounds)
    dx = np.maximum(np.maximum(minx - lon, lon - maxx), 0.0)
    dy = np.maximum(np.maximum(miny - lat, lat - maxy), 0.0)
    ref_lat = np.clip(lat, miny, maxy)
    with np.errstate(over="ignore", invalid="ignore"):  # 1e308 degrees: inf km is the right answer
        kx = dx * _KM_PER_DEG_LON_EQUATOR * np.cos(np.radians(ref_lat))
        ky = dy * _KM_PER_DEG_LAT
        return np.hypot(kx, ky)


def _fmt(v: float) -> str:
    return "missing" if math.isnan(v) else f"{v:g}"


def check_lonlat(
    lon: ArrayLike,
    lat: ArrayLike,
    *,
    source: str = "input",
    region_bounds: Sequence[float] | None = None,
    max_km: float | None = None,
    rows: Sequence[int] | None = None,
) -> None:
    """Check user-supplied WGS84 longitudes and latitudes; raise one report of every bad row.

    A row is reported (once, for the first of these that applies) when:

    1. lon or lat is missing, not a number, or not finite;
    2. latitude and longitude look swapped: the point as given is outside the expected area but
       the swapped point is inside it. The expected area is `region_bounds` (widened by
       `max_km` when given) or, without `region_bounds`, the rough bounding box of China —
       this toolkit's data is Chinese, so there it is the natural default;
    3. lon is outside [-180, 180] or lat outside [-90, 90];
    4. `region_bounds` and `max_km` are both given and the point is more than `max_km` km from
       the region (distance measured approximately, equirectangular).

    Parameters
    ----------
    lon, lat : float or array_like
        Longitudes and latitudes, same length. Non-numeric entries count as missing.
    source : str, optional
        Name of the file (or other source) the values came from; goes in each Problem.
    region_bounds : (minx, miny, maxx, maxy), optional
        WGS84 bounding box where the points are expected, e.g. the city's extent.
    max_km : float, optional
        How far outside `region_bounds` a point may lie. Ignored without `region_bounds`.
    rows : sequence of int, optional
        Row number to report for each point (e.g. the line in the CSV). Defaults to 1, 2, 3, ...

    Returns
    -------
    None
        When every row is fine.

    Raises
    ------
    geo.errors.InputError
        With one :class:`~geo.errors.Problem` per bad row: ``file=source``, ``line`` the row
        number, ``field`` ``"lon"``, ``"lat"`` or ``"lon,lat"``.
    ValueError
        If lon, lat and rows differ in length, or `region_bounds` is malformed (caller errors,
        not bad input data).
    """
    x = _as_float_1d(lon)
    y = _as_float_1d(lat)
    if x.shape != y.shape:
        raise ValueError(f"lon and lat differ in length: {x.size} vs {y.size}")
    if rows is None:
        row_nums = np.arange(1, x.size + 1)
    else:
        row_nums = np.asarray(rows) if isinstance(rows, np.ndarray) else np.asarray(list(rows))
    if row_nums.shape != x.shape:
        raise ValueError(f"rows has {row_nums.size} entries for {x.size} points")
    if region_bounds is not None:
        if len(region_bounds) != 4:
            raise ValueError("region_bounds must be (minx, miny, maxx, maxy)")
        minx, miny, maxx, maxy = (float(b) for b in region_bounds)
        if not (minx <= maxx and miny <= maxy):
            raise ValueError(f"region_bounds {tuple(region_bounds)} has min greater than max")

    # Work out each row's first problem with array masks; only bad rows are visited in Python.
    bad_x = ~np.isfinite(x)
    bad_y = ~np.isfinite(y)
    not_finite = bad_x | bad_y

    area = tuple(region_bounds) if region_bounds is not None else CHINA_BBOX
    slack = float(max_km) if (region_bounds is not None and max_km is not None) else 0.0
    with np.errstate(invalid="ignore"):
        given_km = _km_outside(x, y, area)
        near_given = given_km <= slack
        # Only points not near as given can be swapped ones: usually none, so no second pass.
        maybe = np.flatnonzero(~not_finite & ~near_given)
        swapped = np.zeros(x.shape, dtype=bool)
        swapped[maybe] = _km_outside(y[maybe], x[maybe], area) <= slack

    lon_range = ~bad_x & ((x < -180.0) | (x > 180.0))
    lat_range = ~bad_y & ((y < -90.0) | (y > 90.0))
    out_of_range = ~not_finite & ~swapped & (lon_range | lat_range)

    far = np.zeros(x.shape, dtype=bool)
    dist = np.zeros(x.shape)
    if region_bounds is not None and max_km is not None:
        dist = given_km
        with np.errstate(invalid="ignore"):
            far = ~not_finite & ~swapped & ~out_of_range & (dist > float(max_km))

    problems: list[Problem] = []
    area_txt = f"lon {area[0]:g}–{area[2]:g}, lat {area[1]:g}–{area[3]:g}"
    where_txt = "the region" if region_bounds is not None else "China"
    for i in np.flatnonzero(not_finite | swapped | out_of_range | far):
        r = int(row_nums[i])
        xi, yi = float(x[i]), float(y[i])
        got = f"lon={_fmt(xi)}, lat={_fmt(yi)}"
        if not_finite[i]:
            fld = "lon,lat" if (bad_x[i] and bad_y[i]) else ("lon" if bad_x[i] else "lat")
            msg = (
                f"row {r}: coordinate missing or not a number ({got}); "
                "expected decimal degrees for both longitude and latitude"
            )
        elif swapped[i]:
            fld = "lon,lat"
            msg = (
                f"row {r}: latitude and longitude look swapped ({got}); expected a point in "
                f"{where_txt} ({area_txt}) — swap the two columns"
            )
        elif out_of_range[i]:
            parts = []
            if lon_range[i]:
                parts.append(f"longitude {xi:g} is outside [-180, 180]")
            if lat_range[i]:
                parts.append(f"latitude {yi:g} is outside [-90, 90]")
            fld = "lon,lat" if (lon_range[i] and lat_range[i]) else ("lon" if lon_range[i] else "lat")
            msg = f"row {r}: {' and '.join(parts)}; expected WGS84 decimal degrees"
        else:
            fld = "lon,lat"
            msg = (
                f"row {r}: point ({got}) is about {dist[i]:.0f} km from the region "
                f"({area_txt}); expected within {float(max_km):g} km — check the row and "
                "its coordinate system"
            )
        problems.append(Problem(file=source, message=msg, line=r, field=fld))
    if problems:
        raise InputError(problems)
