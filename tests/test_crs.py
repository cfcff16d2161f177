"""geo.crs: WGS84/GCJ-02/BD-09 shifts, the Gauss-Krüger zone picker and coordinate screening.

Reference pairs are copied from other projects' own test suites (cited next to each), never
computed here: a test that recomputes the formula would only test the code against itself.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from pyproj import CRS, Geod

from geo.crs import CHINA_BBOX, check_lonlat, convert, from_wgs84, local_crs, to_wgs84
from geo.errors import InputError

GEOD = Geod(ellps="WGS84")

# Tolerances (degrees). Forward shifts are closed formulas, so published values agree to
# floating-point noise; 1e-6° (~0.1 m) leaves room for sources printing fewer digits. Inverse
# directions are iterative or approximate in the sources, so allow 1e-5° (~1 m).
FWD_TOL = 1e-6
INV_TOL = 1e-5


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance in metres (pyproj), independent of the code under test."""
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# ---------------------------------------------------------------------------------------------
# Published reference pairs
# ---------------------------------------------------------------------------------------------

# Glatzel/pyxis, python/tests/test_crypto.py: the same place in the three systems.
PYXIS_WGS = (121.0917077, 30.6107779)
PYXIS_GCJ = (121.09626935575027, 30.608604331756705)
PYXIS_BD = (121.10271732371203, 30.61484572185035)

# (src, dst, (lon, lat) in, (lon, lat) expected, tolerance)
REFERENCE = [
    # googollee/eviltransform, python/test.py and go/transform_test.go (stored there as lat, lng;
    # reordered to lon, lat here). The source asserts wgs2gcj to 6 decimals and gcj2wgs_exact
    # to < 0.5 m. Its TESTS_bd pairs are not used: they do not follow from its own formulas.
    ("wgs84", "gcj02", (121.5272106, 31.1774276), (121.531541859215, 31.17530398364597), FWD_TOL),
    ("wgs84", "gcj02", (113.912316, 22.543847), (113.9171764808363, 22.540796131694766), FWD_TOL),
    ("wgs84", "gcj02", (116.377817, 39.911954), (116.38404722455657, 39.91334545536069), FWD_TOL),
    ("gcj02", "wgs84", (121.531541859215, 31.17530398364597), (121.5272106, 31.1774276), INV_TOL),
    ("gcj02", "wgs84", (113.9171764808363, 22.540796131694766), (113.912316, 22.543847), INV_TOL),
    ("gcj02", "wgs84", (116.38404722455657, 39.91334545536069), (116.377817, 39.911954), INV_TOL),
    # wyxloading/coordtransform-rs, tests/tests.rs (asserts exact equality). Its gcj02_to_wgs84 and
    # bd09_to_wgs84 pairs are not used: that library inverts with a single approximate step.
    ("wgs84", "gcj02", (116.404, 39.915), (116.41024449916938, 39.91640428150164), FWD_TOL),
    ("gcj02", "bd09", (116.404, 39.915), (116.41036949371029, 39.92133699351021), FWD_TOL),
    ("bd09", "gcj02", (116.404, 39.915), (116.39762729119315, 39.90865673957631), FWD_TOL),
    ("wgs84", "bd09", (116.404, 39.915), (116.41662724378733, 39.922699552216216), FWD_TOL),
    # Glatzel/pyxis, python/tests/test_crypto.py: one point through all six directions
    # (the source checks with pytest.approx, i.e. relative 1e-6).
    ("wgs84", "gcj02", PYXIS_WGS, PYXIS_GCJ, FWD_TOL),
    ("wgs84", "bd09", PYXIS_WGS, PYXIS_BD, FWD_TOL),
    ("gcj02", "bd09", PYXIS_GCJ, PYXIS_BD, FWD_TOL),
    ("gcj02", "wgs84", PYXIS_GCJ, PYXIS_WGS, INV_TOL),
    ("bd09", "gcj02", PYXIS_BD, PYXIS_GCJ, INV_TOL),
    ("bd09", "wgs84", PYXIS_BD, PYXIS_WGS, INV_TOL),
    # hujiulong/gcoord, test/unit/crs/{WGS84,GCJ02,BD09}.spec.ts at (123, 45); the source uses
    # toBeCloseTo(x, 5), i.e. |difference| < 5e-6, and iterates GCJ-02 -> WGS84 to 1e-6°.
    ("wgs84", "gcj02", (123.0, 45.0), (123.00607541, 45.00197815), 5e-6),
    ("wgs84", "bd09", (123.0, 45.0), (123.0124491, 45.0083293), 5e-6),
    ("gcj02", "wgs84", (123.0, 45.0), (122.99395597, 44.99804071), 5e-6),
    ("gcj02", "bd09", (123.0, 45.0), (123.00636499, 45.00636899), 5e-6),
    ("bd09", "gcj02", (123.0, 45.0), (122.99363304, 44.99365430), 5e-6),
    ("bd09", "wgs84", (123.0, 45.0), (122.98762210, 44.99171540), 5e-6),
]


@pytest.mark.parametrize(("src", "dst", "given", "expected", "tol"), REFERENCE)
def test_published_reference_pairs(src, dst, given, expected, tol):
    lon, lat = convert(given[0], given[1], src, dst)
    assert abs(float(lon) - expected[0]) < tol
    assert abs(float(lat) - expected[1]) < tol


@pytest.mark.parametrize(
    ("src", "dst", "given", "expected", "tol"), [r for r in REFERENCE if "wgs84" in r[:2]]
)
def test_reference_pairs_through_public_wgs84_api(src, dst, given, expected, tol):
    """The same pairs through to_wgs84/from_wgs84, where one end is WGS84."""
    if src == "wgs84":
        lon, lat = from_wgs84(given[0], given[1], dst)
    else:
        lon, lat = to_wgs84(given[0], given[1], src)
    assert abs(float(lon) - expected[0]) < tol
    assert abs(float(lat) - expected[1]) < tol


def test_eviltransform_exact_inverse_within_half_metre():
    """googollee/eviltransform's own criterion for gcj2wgs_exact: < 0.5 m from the WGS84 point."""
    wgs = np.array([(121.5272106, 31.1774276), (113.912316, 22.543847), (116.377817, 39.911954)])
    gcj = np.array(
        [
            (121.531541859215, 31.17530398364597),
            (113.9171764808363, 22.540796131694766),
            (116.38404722455657, 39.91334545536069),
        ]
    )
    lon, lat = to_wgs84(gcj[:, 0], gcj[:, 1], "gcj02")
    assert np.all(_metres(lon, lat, wgs[:, 0], wgs[:, 1]) < 0.5)


# ---------------------------------------------------------------------------------------------
# Round trips and inverse accuracy
# ---------------------------------------------------------------------------------------------


def _random_china(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points spread over mainland China's extent, kept clear of the shift bounding box edges."""
    rng = np.random.default_rng(seed)
    return rng.uniform(73.6, 134.7, n), rng.uniform(18.2, 53.5, n)


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_round_trip_under_half_metre(crs):
    lon, lat = _random_china(20_000, seed=1)
    sx, sy = from_wgs84(lon, lat, crs)
    # The shift itself must be real (hundreds of metres), or the round trip proves nothing.
    assert np.median(_metres(lon, lat, sx, sy)) > 100
    bx, by = to_wgs84(sx, sy, crs)
    err = _metres(lon, lat, bx, by)
    print(f"\n{crs}: round-trip error max {err.max():.4f} m, mean {err.mean():.4f} m")
    assert err.max() < 0.5


def test_gcj_inverse_residual_under_a_tenth_of_a_metre():
    """Forward-shifting the inverse must land back on the GCJ-02 input to < 0.1 m."""
    glon, glat = _random_china(20_000, seed=2)
    wlon, wlat = to_wgs84(glon, glat, "gcj02")
    flon, flat = from_wgs84(wlon, wlat, "gcj02")
    assert _metres(glon, glat, flon, flat).max() < 0.1


def test_hundred_thousand_points_vectorised():
    lon, lat = _random_china(100_000, seed=3)
    t0 = time.perf_counter()
    glon, glat = from_wgs84(lon, lat, "gcj02")
    wlon, wlat = to_wgs84(glon, glat, "gcj02")
    blon, blat = from_wgs84(lon, lat, "bd09")
    b2lon, b2lat = to_wgs84(blon, blat, "bd09")
    elapsed = time.perf_counter() - t0
    # Timing is reported, never asserted (machines differ).
    print(f"\n100k points: wgs->gcj->wgs and wgs->bd->wgs in {elapsed:.3f} s")
    for arr in (glon, glat, wlon, wlat, blon, blat, b2lon, b2lat):
        assert arr.shape == (100_000,)
        assert arr.dtype == np.float64
    assert _metres(lon, lat, wlon, wlat).max() < 0.5
    assert _metres(lon, lat, b2lon, b2lat).max() < 0.5


# ---------------------------------------------------------------------------------------------
# Outside China, shapes, names
# ---------------------------------------------------------------------------------------------

OUTSIDE = np.array(
    [
        (0.0, 0.0),  # Gulf of Guinea
        (-74.006, 40.7128),  # New York
        (139.6917, 35.6895),  # Tokyo: east of the box
        (100.0, 60.0),  # Siberia: north of the box
        (60.0, 30.0),  # Iran: west of the box
        (179.9, -45.0),
    ]
)
PAIRS = [(s, d) for s in ("wgs84", "gcj02", "bd09") for d in ("wgs84", "gcj02", "bd09") if s != d]


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_outside_china_unchanged(src, dst):
    lon, lat = convert(OUTSIDE[:, 0], OUTSIDE[:, 1], src, dst)
    np.testing.assert_array_equal(lon, OUTSIDE[:, 0])
    np.testing.assert_array_equal(lat, OUTSIDE[:, 1])


def test_bounding_box_applied_per_point():
    lon = np.array([116.404, -74.006, 121.4737, 139.6917])
    lat = np.array([39.915, 40.7128, 31.2304, 35.6895])
    glon, glat = from_wgs84(lon, lat, "gcj02")
    moved = (glon != lon) | (glat != lat)
    assert moved.tolist() == [True, False, True, False]
    minx, miny, maxx, maxy = CHINA_BBOX
    assert (minx, miny, maxx, maxy) == (72.004, 0.8293, 137.8347, 55.8271)


def test_nan_passes_through():
    lon, lat = from_wgs84([np.nan, 116.404], [39.9, np.nan], "bd09")
    assert np.isnan(lon[0]) and lat[0] == 39.9
    assert lon[1] == 116.404 and np.isnan(lat[1])


def test_scalar_gives_zero_d_arrays():
    lon, lat = from_wgs84(116.404, 39.915, "gcj02")
    assert isinstance(lon, np.ndarray) and lon.shape == () and lon.dtype == np.float64
    assert isinstance(lat, np.ndarray) and lat.shape == ()
    assert isinstance(float(lon), float)


def test_shape_preserved_and_inputs_untouched():
    lon, lat = _random_china(12, seed=4)
    lon2, lat2 = lon.reshape(3, 4), lat.reshape(3, 4)
    keep = lon2.copy()
    out_lon, out_lat = to_wgs84(lon2, lat2, "bd09")
    assert out_lon.shape == (3, 4) and out_lat.shape == (3, 4)
    np.testing.assert_array_equal(lon2, keep)
    # Identity conversions return copies, too.
    same_lon, _ = to_wgs84(lon2, lat2, "wgs84")
    same_lon[0, 0] = -1.0
    np.testing.assert_array_equal(lon2, keep)


def test_lists_and_integers_accepted():
    lon, lat = from_wgs84([116, 117], [39, 40], "gcj02")
    assert lon.dtype == np.float64 and lon.shape == (2,)
    assert lat.dtype == np.float64 and lat.shape == (2,)


@pytest.mark.parametrize("name", ["GCJ02", "gcj-02", "Gcj02"])
def test_crs_names_case_insensitive(name):
    a = from_wgs84(116.404, 39.915, name)
    b = from_wgs84(116.404, 39.915, "gcj02")
    assert float(a[0]) == float(b[0]) and float(a[1]) == float(b[1])


@pytest.mark.parametrize("name", ["cgcs2000", "CGCS2000", "WGS84", "wgs-84"])
def test_cgcs2000_is_wgs84(name):
    lon, lat = to_wgs84(116.404, 39.915, name)
    assert float(lon) == 116.404 and float(lat) == 39.915
    g_from_cgcs = convert(116.404, 39.915, name, "gcj02")
    g_from_wgs = from_wgs84(116.404, 39.915, "gcj02")
    assert float(g_from_cgcs[0]) == float(g_from_wgs[0])


def test_unknown_crs_rejected():
    with pytest.raises(ValueError, match="unknown coordinate system 'utm'"):
        to_wgs84(116.4, 39.9, "utm")


# ---------------------------------------------------------------------------------------------
# local_crs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("place", "lon", "epsg"),
    [("晋城", 112.85, 4547), ("许昌", 113.85, 4547), ("临县", 110.99, 4546)],
)
def test_local_crs_design_examples(place, lon, epsg):
    assert local_crs(lon) == epsg, place


@pytest.mark.parametrize("cm", range(75, 136, 3))
def test_local_crs_matches_epsg_names(cm):
    """The EPSG database (via pyproj) must name the zone we pick for every CM, 75°E to 135°E."""
    code = local_crs(cm + 1.2)
    name = CRS.from_epsg(code).name
    assert name.startswith("CGCS2000 / 3-degree Gauss-Kruger CM"), name
    assert name.endswith(f"CM {cm}E"), name


def test_local_crs_array_uses_median():
    # Mostly 晋城, with one stray point in 临县: the median keeps the 114°E zone.
    assert local_crs(np.array([112.7, 112.85, 113.0, 110.99, np.nan])) == 4547
    assert local_crs([110.9, 110.99, 111.1]) == 4546


def test_local_crs_half_zone_goes_east():
    assert local_crs(112.5) == 4547  # CM 114, not 111
    assert local_crs(115.5) == 4548  # CM 117


@pytest.mark.parametrize("lon", [10.0, 72.0, 137.0, -116.4, 39.9])
def test_local_crs_outside_zones_raises(lon):
    with pytest.raises(ValueError, match=r"only cover central meridians 75°E to 135°E"):
        local_crs(lon)


def test_local_crs_no_finite_value_raises():
    with pytest.raises(ValueError, match="finite longitude"):
        local_crs([np.nan, np.inf])


# ---------------------------------------------------------------------------------------------
# check_lonlat
# ---------------------------------------------------------------------------------------------

# Rough extent of 晋城 city (WGS84).
JINCHENG = (111.9, 35.2, 113.6, 36.1)


def _problems(excinfo) -> list:
    return excinfo.value.problems


def test_check_lonlat_good_rows_pass():
    lon = [112.85, 112.0, 113.5]
    lat = [35.49, 35.3, 36.0]
    assert check_lonlat(lon, lat, source="pts.csv") is None
    assert check_lonlat(lon, lat, source="pts.csv", region_bounds=JINCHENG, max_km=20) is None
    # Scalars are fine too.
    assert check_lonlat(112.85, 35.49) is None


def test_check_lonlat_swapped_default_rows():
    with pytest.raises(InputError) as ei:
        check_lonlat([112.85, 35.49, 112.9], [35.49, 112.85, 35.5], source="pts.csv")
    (p,) = _problems(ei)
    assert p.file == "pts.csv"
    assert p.line == 2
    assert "latitude and longitude look swapped" in p.message
    assert "row 2" in p.message
    assert "pts.csv:2:" in str(ei.value)


def test_check_lonlat_swapped_caller_rows_and_region():
    with pytest.raises(InputError) as ei:
        check_lonlat(
            [112.85, 35.49, 112.9],
            [35.49, 112.85, 35.5],
            source="pts.csv",
            rows=[10, 11, 12],
            region_bounds=JINCHENG,
            max_km=30,
        )
    (p,) = _problems(ei)
    assert p.line == 11
    assert "look swapped" in p.message
    assert "row 11" in p.message


def test_check_lonlat_swapped_in_range_pair():
    # Both values valid as given (lon 35.5 is in Africa), but the region says they are swapped.
    with pytest.raises(InputError) as ei:
        check_lonlat([35.49], [112.85], region_bounds=JINCHENG)
    assert "look swapped" in _problems(ei)[0].message


@pytest.mark.parametrize(
    ("lon", "lat", "field", "text"),
    [
        (200.0, 35.0, "lon", "longitude 200 is outside [-180, 180]"),
        (-181.0, 35.0, "lon", "longitude -181 is outside [-180, 180]"),
        (112.0, -95.0, "lat", "latitude -95 is outside [-90, 90]"),
        (500.0, 95.0, "lon,lat", "latitude 95 is outside [-90, 90]"),
    ],
)
def test_check_lonlat_out_of_range(lon, lat, field, text):
    with pytest.raises(InputError) as ei:
        check_lonlat([112.85, lon], [35.49, lat], source="in.csv")
    (p,) = _problems(ei)
    assert p.line == 2
    assert p.field == field
    assert text in p.message
    assert "row 2" in p.message


@pytest.mark.parametrize("bad", [np.nan, np.inf, None, "abc"])
def test_check_lonlat_not_a_number(bad):
    with pytest.raises(InputError) as ei:
        check_lonlat([112.85, bad], [35.49, 35.5], rows=[2, 3])
    (p,) = _problems(ei)
    assert p.line == 3
    assert p.field == "lon"
    assert "not a number" in p.message


def test_check_lonlat_far_from_region():
    # Beijing is ~450 km from 晋城.
    with pytest.raises(InputError) as ei:
        check_lonlat([112.85, 116.404], [35.49, 39.915], source="pts.csv", region_bounds=JINCHENG, max_km=50)
    (p,) = _problems(ei)
    assert p.line == 2
    assert "km from the region" in p.message
    assert "within 50 km" in p.message


def test_check_lonlat_distance_is_roughly_metric():
    # A point 30 km due east of the region's edge (placed with pyproj's geodesic).
    mid_lat = (JINCHENG[1] + JINCHENG[3]) / 2
    lon30, lat30, _ = GEOD.fwd(JINCHENG[2], mid_lat, 90.0, 30_000.0)
    assert check_lonlat([lon30], [lat30], region_bounds=JINCHENG, max_km=32) is None
    with pytest.raises(InputError):
        check_lonlat([lon30], [lat30], region_bounds=JINCHENG, max_km=28)


def test_check_lonlat_one_problem_per_bad_row():
    lon = [112.85, 35.49, 200.0, np.nan, 116.404, 112.9]
    lat = [35.49, 112.85, 35.0, 35.0, 39.915, 35.5]
    with pytest.raises(InputError) as ei:
        check_lonlat(lon, lat, source="p.csv", region_bounds=JINCHENG, max_km=50)
    probs = _problems(ei)
    assert [p.line for p in probs] == [2, 3, 4, 5]
    assert "swapped" in probs[0].message
    assert "outside [-180, 180]" in probs[1].message
    assert "not a number" in probs[2].message
    assert "km from the region" in probs[3].message


def test_check_lonlat_caller_errors():
    with pytest.raises(ValueError, match="differ in length"):
        check_lonlat([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="rows"):
        check_lonlat([112.0], [35.0], rows=[1, 2])
