"""Bad input is refused cleanly (exit 2, one positioned line, nothing written), and nothing a user
typed reaches their other tools as a formula or live markup (issue 9, items 1–10)."""

from __future__ import annotations

import csv
import html.parser
import json
import os
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
import test_html as th
import yaml
from _cli import geo, snapshot
from openpyxl import load_workbook
from test_html import browser as _browser  # noqa: F401 - the Chromium fixture, reused

from geo import _io
from geo._yaml import _StrictLoader, load_yaml
from geo.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
PLANS = ROOT / "data" / "plans"
FORMULA = "=cmd|' /C calc'!A0"
XSS = "<img src=x onerror=alert(1)>"
HOSTILE_TEXTS = (FORMULA, "+SUM(1,2)", "@SUM(A1)", "-2+3", "\t=1+1", XSS)


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("error:")]


def assert_bad_input(res, *needles: str) -> None:
    """Exit 2, no traceback, and the message says what it should."""
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    lines = error_lines(res.stderr)
    assert lines, res.stderr
    for n in needles:
        assert n in res.stderr, (n, res.stderr)


# ---------------------------------------------------------------------------------------------
# 1. YAML: alias bombs, deep nesting, self-references


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("text", "needle", "line"),
    [
        (BOMB, "expands to more than", None),
        ("a: " + "[" * 5000, "nest", 1),  # libyaml ≥ 0.2.5 stops at 1000 levels itself
        ("a: " + "[" * 300_000, "nest", 1),
        ("a: " + "[" * 100, "nest deeper than", 1),
        ("a:\n" + "".join(" " * i + "- \n" for i in range(0, 400, 2)), "nest deeper than", None),
        ("a: &r [*r]\n", "alias *r", 1),
        ("a: *nowhere\n", "alias *nowhere", 1),
    ],
    ids=[
        "alias-bomb",
        "flow-5000",
        "flow-300k",
        "flow-100",
        "block-deep",
        "self-reference",
        "undefined-alias",
    ],
)
def test_yaml_bombs_and_depth_are_refused_with_a_position(tmp_path, text, needle, line):
    f = tmp_path / "000.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_yaml(f)
    (p,) = info.value.problems
    assert needle in p.message and p.file == str(f) and p.line is not None
    if line is not None:
        assert p.line == line
    res = geo("check", f)
    assert_bad_input(res, f"{f}:", needle)


@pytest.mark.parametrize("command", ["map", "coverage", "build"])
def test_yaml_bomb_is_bad_input_for_every_command(tmp_path, command):
    f = tmp_path / "000.yaml"
    f.write_text(BOMB, encoding="utf-8")
    out = tmp_path / ("m.html" if command == "map" else "c.csv" if command == "coverage" else "out")
    res = geo(command, f, "--out", out)
    assert_bad_input(res, "expands to more than")
    assert not out.exists()


def test_yaml_single_parse_with_libyaml_keeps_anchors_of_bundled_plans():
    if yaml.__with_libyaml__:
        assert issubclass(_StrictLoader, yaml.CSafeLoader)
    data, positions = load_yaml(PLANS / "000.yaml")
    streets = {p["id"]: p for p in data["places"] if "id" in p}
    # 000 writes its streets with a merge key (<<: *shizong); the merged values arrive.
    assert streets["wenbo_lu"]["name"] == "文博路" and streets["wenbo_lu"]["kind"] == "street"
    assert positions[("places",)][0] > 1


def test_yaml_duplicate_keys_and_second_documents_are_refused(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("a: 1\nb: 2\na: 3\n", encoding="utf-8")
    with pytest.raises(InputError, match="duplicate key 'a'"):
        load_yaml(f)
    f.write_text("a: 1\n---\nb: 2\n", encoding="utf-8")
    with pytest.raises(InputError, match="second"):
        load_yaml(f)


# ---------------------------------------------------------------------------------------------
# 2. Output paths


@pytest.fixture
def points(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_text("name,lon,lat\na,112.85,35.49\n", encoding="utf-8")
    return p


def _commands(tmp: Path, points: Path, out: Path) -> dict[str, list]:
    return {
        "query": ["query", points, "--plan", "000", "--out", out.with_suffix(".csv")],
        "coverage": ["coverage", "000", "--out", out.with_suffix(".csv")],
        "spacing": ["spacing", "--ads", points, "--out", out.with_suffix(".csv")],
        "targets": ["targets", "002", "--out", out.with_suffix(".csv")],
        "map": ["map", "000", "--out", out.with_suffix(".html")],
        "static": ["static", "000", "--out", out.with_suffix(".png")],
        "export-file": ["export", "000", "--out", out.with_suffix(".gpkg")],
        "resolve-report": ["resolve", "泽州路", "--report", out.with_suffix(".csv")],
    }


COMMANDS = ["query", "coverage", "spacing", "targets", "map", "static", "export-file", "resolve-report"]


@pytest.mark.parametrize("command", COMMANDS)
def test_out_naming_an_existing_folder(tmp_path, points, command):
    args = _commands(tmp_path, points, tmp_path / "isdir")
    target = Path(args[command][-1])
    target.mkdir()
    before = snapshot(tmp_path)
    res = geo(*args[command])
    assert_bad_input(res, "is an existing folder")
    assert len(error_lines(res.stderr)) == 1
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", COMMANDS)
def test_out_under_a_file(tmp_path, points, command):
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    args = _commands(tmp_path, points, tmp_path / "afile" / "x")
    before = snapshot(tmp_path)
    res = geo(*args[command])
    assert_bad_input(res, "is a file, not a folder")
    assert snapshot(tmp_path) == before


def test_out_in_a_folder_that_refuses_writes():
    # /proc refuses new files even to root; a chmod'ed folder would not stop root.
    res = geo("coverage", "003", "--out", "/proc/geo-test-coverage.csv")
    assert_bad_input(res, "cannot write")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_a_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        res = geo("coverage", "003", "--out", ro / "c.csv")
        assert_bad_input(res, "not writable")
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("command", ["export", "build"])
def test_folder_output_naming_an_existing_file(tmp_path, command):
    f = tmp_path / "existing"
    f.write_text("keep me", encoding="utf-8")
    res = geo(command, "003", "--out", f)
    assert_bad_input(res, "is an existing file; expected a folder")
    assert f.read_text(encoding="utf-8") == "keep me"


def test_check_out_file_and_dir_directly(tmp_path):
    (tmp_path / "f").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="existing folder"):
        _io.check_out_file(tmp_path)
    with pytest.raises(InputError, match="is a file"):
        _io.check_out_file(tmp_path / "f" / "g" / "h.csv")
    assert _io.check_out_file(tmp_path / "new" / "deeper" / "x.csv")
    with pytest.raises(InputError, match="existing file"):
        _io.check_out_dir(tmp_path / "f")


# ---------------------------------------------------------------------------------------------
# 3. Nothing written before failing


@pytest.fixture(scope="module")
def built_003(tmp_path_factory):
    """An output folder from a successful build of plan 003 (no places: quick)."""
    out = tmp_path_factory.mktemp("built") / "maps"
    res = geo("build", "003", "--out", out)
    assert res.returncode == 0, res.stderr
    return out


@pytest.mark.parametrize("epoch", ["99999999999999999999", "99999999999", "-5", "1e9", "abc"])
def test_bad_source_date_epoch_writes_nothing(built_003, epoch):
    before = snapshot(built_003)
    res = geo("build", "003", "--out", built_003, env={"SOURCE_DATE_EPOCH": epoch})
    assert_bad_input(res, "SOURCE_DATE_EPOCH")
    assert snapshot(built_003) == before
    res = geo("export", "003", "--out", built_003 / "x", env={"SOURCE_DATE_EPOCH": epoch})
    assert_bad_input(res, "SOURCE_DATE_EPOCH")
    assert not (built_003 / "x").exists()


def test_a_folder_in_place_of_an_output_file_writes_nothing(built_003):
    (built_003 / "003" / "map.png").unlink()
    (built_003 / "003" / "map.png").mkdir()
    try:
        before = snapshot(built_003)
        res = geo("build", "003", "--out", built_003)
        assert_bad_input(res, "map.png is an existing folder")
        assert snapshot(built_003) == before
    finally:
        (built_003 / "003" / "map.png").rmdir()
        assert geo("build", "003", "--out", built_003).returncode == 0


def test_export_failing_half_way_leaves_nothing(tmp_path, monkeypatch):
    from geo.publish import files

    def broken(*a, **k):
        raise InputError.single("layers.kml", "disk said no")

    monkeypatch.setattr(files, "write_kml", broken)
    out = tmp_path / "exp"
    res = geo("export", "000", "--out", out)
    assert_bad_input(res, "disk said no")
    assert not out.exists(), snapshot(tmp_path)  # no layers.gpkg, no empty geojson/


def test_staged_writes_all_or_nothing(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "sub" / "b.txt"
    a.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), _io.staged():
        _io.write_text(a, "new")
        _io.write_text(b, "new")
        assert a.read_text(encoding="utf-8") == "old" and not b.exists()  # held back
        raise RuntimeError("late failure")
    assert a.read_text(encoding="utf-8") == "old"
    assert not (tmp_path / "sub").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]  # no temporary files left
    with _io.staged():
        _io.write_text(a, "new")
        _io.write_text(b, "new")
    assert a.read_text(encoding="utf-8") == b.read_text(encoding="utf-8") == "new"


def test_temp_files_of_a_killed_run_are_cleaned(tmp_path):
    dead = tmp_path / ".map.png.~999999999.k3j2ab_1.png"  # a pid that cannot exist
    legacy = tmp_path / ".map.png.ab12cd34.png"  # older unmarked leftover (mkstemp's 8 characters)
    live = tmp_path / f".map.png.~{os.getppid()}.zz000000.png"  # a running process's file
    mine = tmp_path / ".map.png.bak"  # the user's own file, whatever its age
    for p in (dead, legacy, live, mine):
        p.write_bytes(b"\x89PNG half")
    old = time.time() - 3600
    os.utime(legacy, (old, old))
    os.utime(mine, (old, old))
    _io.write_bytes(tmp_path / "map.png", b"png")
    assert not dead.exists() and not legacy.exists()
    assert live.exists() and mine.exists()
    assert (tmp_path / "map.png").read_bytes() == b"png"


# ---------------------------------------------------------------------------------------------
# 4. OSM extracts with impossible coordinates

BAD_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
 <node id="1" lat="95" lon="500"><tag k="name" v="凤台街"/><tag k="amenity" v="marketplace"/></node>
 <node id="2" lat="nan" lon="112.8"/>
 <node id="5" lat="inf" lon="-inf"/>
 <node id="3" lat="35.49" lon="112.85"/>
 <node id="4" lat="35.495" lon="112.86"/>
 <way id="10"><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="5"/>
  <tag k="highway" v="primary"/><tag k="name" v="凤台街"/></way>
 <way id="11"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/><tag k="name" v="坏路"/></way>
</osm>
"""


def _strict_json(text: str):
    def refuse(token):
        raise AssertionError(f"{token} in JSON output")

    return json.loads(text, parse_constant=refuse)


def test_osm_nodes_out_of_range_are_reported_and_dropped(tmp_path):
    osm = tmp_path / "o1.osm"
    osm.write_text(BAD_OSM, encoding="utf-8")
    res = geo("resolve", "凤台街", "--osm", osm)
    assert res.returncode == 0, res.stderr
    fc = _strict_json(res.stdout)
    (feat,) = fc["features"]
    assert feat["properties"]["source_ref"] == "way/10"
    assert feat["geometry"]["coordinates"] == [[112.85, 35.49], [112.86, pytest.approx(35.495)]]
    assert "node 1, 2, 5" in res.stderr and "dropped" in res.stderr
    out = tmp_path / "m.html"
    res = geo("map", "000", "--osm", osm, "--out", out)
    assert res.returncode == 0, res.stderr
    assert "Infinity" not in out.read_text(encoding="utf-8")
    res = geo("static", "000", "--osm", osm, "--out", tmp_path / "m.png")
    assert res.returncode == 0, res.stderr


# ---------------------------------------------------------------------------------------------
# 5. Empty names


@pytest.mark.parametrize("name", ["", " ", "\u3000\t"])
def test_empty_names_are_input_errors(name):
    res = geo("resolve", "泽州路", name)
    assert_bad_input(res, "is empty")
    assert res.stdout == ""


# ---------------------------------------------------------------------------------------------
# 6. Numeric options and figure files


@pytest.mark.parametrize("snap", ["0", "-5", "nan", "inf", "1e308"])
def test_spacing_snap_must_be_sane(tmp_path, points, snap):
    out = tmp_path / "s.csv"
    res = geo("spacing", "--ads", points, "--snap-m", snap, "--out", out)
    assert_bad_input(res, "--snap-m")
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "content", "needle", "line"),
    [
        ("empty.csv", b"", "empty", 1),
        ("blank.csv", b"\n\n", "empty", 1),
        ("ragged.csv", b"target,value\nmanhole,99\nmanhole,98,x,y\n", "Expected 2 fields", 3),
        ("quote.csv", b'target,value\n"manhole,99\n', "EOF inside string", 2),
        ("inf.csv", b"target,value\nmanhole,inf\n", "not a finite number", 2),
        ("big.csv", b"target,value\nmanhole,1e400\n", "not a finite number", 2),
        ("nan.csv", b"target,value\nmanhole,99\nmanhole,nan\n", "not a finite number", 3),
        ("corrupt.xlsx", b"PK\x03\x04 not really a workbook", "XLSX", None),
        ("text.xlsx", b"target,value\n", "XLSX", None),
    ],
)
def test_targets_figure_file_problems(tmp_path, name, content, needle, line):
    f = tmp_path / name
    f.write_bytes(content)
    out = tmp_path / "t.csv"
    res = geo("targets", "002", "--figures", f, "--out", out)
    assert_bad_input(res, needle)
    if line is not None:
        assert f"{f}:{line}:" in res.stderr
    assert not out.exists()


@pytest.mark.parametrize("timeout", ["-1", "0", "nan", "inf"])
def test_fetch_timeout_must_be_positive_and_finite(timeout):
    res = geo("fetch", "晋城市城区", "--timeout", timeout)
    assert_bad_input(res, "--timeout")


def test_huge_coordinates_and_null_island(tmp_path):
    pts = tmp_path / "p.csv"
    pts.write_text("name,lon,lat\nhuge,1e308,1e308\nzero,0,0\nok,112.85,35.49\n", encoding="utf-8")
    res = geo("query", pts, "--plan", "000", "--out", tmp_path / "q.csv")
    assert res.returncode == 0, res.stderr
    assert "RuntimeWarning" not in res.stderr and "overflow" not in res.stderr
    assert "row 2" in res.stderr and "outside [-180, 180]" in res.stderr
    assert "1 point(s) at exactly 0,0 (rows 3)" in res.stderr


# ---------------------------------------------------------------------------------------------
# 7. geo check: strict types, region at check time


def _plan_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (PLANS / "000.yaml").read_text(encoding="utf-8")
    assert old in text
    f = tmp_path / "000.yaml"
    f.write_text(text.replace(old, new, 1), encoding="utf-8")
    return f


def test_check_refuses_a_bool_as_a_number(tmp_path):
    f = _plan_with(tmp_path, "distance_m: 500", "distance_m: true")
    res = geo("check", f)
    assert_bad_input(res, "rules[0].distance_m", "valid number")
    line = next(
        i for i, ln in enumerate(f.read_text(encoding="utf-8").splitlines(), 1) if "distance_m: true" in ln
    )
    assert f"{f}:{line}:" in res.stderr


def test_check_refuses_an_infinite_distance(tmp_path):
    res = geo("check", _plan_with(tmp_path, "distance_m: 500", "distance_m: .inf"))
    assert_bad_input(res, "rules[0].distance_m")


def test_check_resolves_the_region_with_its_line(tmp_path):
    f = _plan_with(tmp_path, "region: 晋城市城区", "region: 火星市")
    res = geo("check", f)
    assert_bad_input(res, "document.region", "火星市")
    assert "--region" not in res.stderr
    line = next(i for i, ln in enumerate(f.read_text(encoding="utf-8").splitlines(), 1) if "火星市" in ln)
    assert f"{f}:{line}:" in res.stderr


def test_check_passes_the_bundled_plans():
    res = geo("check")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("ok  ") == len(list(PLANS.glob("*.yaml")))


# ---------------------------------------------------------------------------------------------
# 8–9. Formulas and markup: unit-level


def test_neutralise_keeps_numbers_numbers():
    import pandas as pd

    frame = pd.DataFrame({"n": [-3.5, 2.0], "t": ["-3.5", "ok"], FORMULA: ["@x", None]})
    out = _io.neutralise_formulas(frame)
    assert out["n"].tolist() == [-3.5, 2.0] and out["n"].dtype == float
    assert out["t"].tolist() == ["'-3.5", "ok"]
    assert out.iloc[0, 2] == "'@x" and pd.isna(out.iloc[1, 2])
    assert list(out.columns)[2] == "'" + FORMULA
    assert frame["t"].tolist() == ["-3.5", "ok"]  # the input is left alone


# ---------------------------------------------------------------------------------------------
# 10. Deterministic standalone tables; Shapefile truncation said once


def test_standalone_tables_are_byte_identical(tmp_path, points):
    figures = tmp_path / "f.csv"
    figures.write_text("target,area,value\nmanhole,东城区,97.5\n", encoding="utf-8")
    runs = {
        "q.xlsx": ["query", points, "--plan", "000"],
        "q.gpkg": ["query", points, "--plan", "000"],
        "c.xlsx": ["coverage", "003"],
        "t.xlsx": ["targets", "002", "--figures", figures],
        "s.xlsx": ["spacing", "--ads", points],
    }
    first = {}
    started = time.monotonic()
    for name, args in runs.items():
        res = geo(*args, "--out", tmp_path / name)
        assert res.returncode == 0, res.stderr
        first[name] = (tmp_path / name).read_bytes()
    # ZIP and GeoPackage clocks tick in 1–2 s steps: make sure a naive writer would differ.
    time.sleep(max(0.0, 2.2 - (time.monotonic() - started)))
    for name, args in runs.items():
        assert geo(*args, "--out", tmp_path / name).returncode == 0
        assert (tmp_path / name).read_bytes() == first[name], name
    with zipfile.ZipFile(tmp_path / "q.xlsx") as z:
        core = z.read("docProps/core.xml").decode()
    assert "2023-" in core  # the plan's date, not today's


def test_shapefile_truncation_is_said_once(tmp_path):
    long_name = "长" * 120 + "路"
    gaz = tmp_path / "g.csv"
    gaz.write_text(f"name,kind,lon,lat,crs\n{long_name},street,112.85,35.49,wgs84\n", encoding="utf-8")
    plan = _plan_with(tmp_path, "name: 文博路", f"name: {long_name}")
    out = tmp_path / "exp"
    res = geo("export", plan, "--gazetteer", gaz, "--format", "shp,gpkg", "--out", out)
    assert res.returncode == 0, res.stderr
    warn = [ln for ln in res.stderr.splitlines() if "DBF limit" in ln]
    assert len(warn) == 1 and "layers.gpkg" in warn[0], res.stderr
    import pyogrio

    gpkg = pyogrio.read_dataframe(out / "layers.gpkg", layer="places")
    assert long_name in set(gpkg["name"])


# ---------------------------------------------------------------------------------------------
# 8–9. Every writer, hostile text in


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Plan 002 with a unit named like a formula, and a gazetteer of schools named with
    formulas and HTML; built, and written in every format."""
    d = tmp_path_factory.mktemp("hostile")
    data = yaml.safe_load((PLANS / "002.yaml").read_text(encoding="utf-8"))
    data["units"][0]["name"] = "@SUM(A1)"
    data["units"][1]["name"] = XSS
    plan_file = d / "002.yaml"
    plan_file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    gaz = d / "schools.csv"
    rows = [
        f'"{FORMULA}",school,113.83,34.03,wgs84,"{XSS}"',
        f'"{XSS}",school,113.84,34.025,wgs84,"+SUM(1,2)"',
        '"-2+3",school,113.835,34.028,wgs84,"@SUM(A1)"',
    ]
    gaz.write_text("name,kind,lon,lat,crs,note\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = d / "exp"
    res = geo("export", plan_file, "--gazetteer", gaz, "--out", out)
    assert res.returncode == 0, res.stderr
    return {"dir": d, "plan": plan_file, "gaz": gaz, "out": out}


def _formula_like(v) -> bool:
    if not isinstance(v, str) or not v.startswith(_io.FORMULA_STARTS):
        return False
    try:
        float(v)
    except ValueError:
        return True
    return False  # a number such as -3.5, as text in a CSV


def _check_csv(path: Path) -> set[str]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        cells = [c for row in csv.reader(f) for c in row]
    assert not [c for c in cells if _formula_like(c)], path
    return set(cells)


def _check_xlsx(path: Path) -> set[str]:
    wb = load_workbook(path)
    texts = set()
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (path, ws.title, cell.coordinate, cell.value)
                assert not _formula_like(cell.value), (path, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    texts.add(cell.value)
    return texts


def test_csv_and_xlsx_exports_hold_no_formula(hostile):
    out = hostile["out"]
    seen = set()
    for f in sorted((out / "csv").glob("*.csv")) + [out / "unresolved.csv"]:
        seen |= _check_csv(f)
    assert {"'" + FORMULA, "'-2+3", "'@SUM(A1)"} <= seen
    texts = _check_xlsx(out / "layers.xlsx")
    assert {"'" + FORMULA, "'-2+3", "'+SUM(1,2)"} <= texts


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)


def test_kml_descriptions_hold_no_markup(hostile):
    root = ET.parse(hostile["out"] / "layers.kml").getroot()  # noqa: S314 - our own output
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    descs = [d.text or "" for d in root.iter("{http://www.opengis.net/kml/2.2}description")]
    assert descs
    joined = "\n".join(descs)
    assert "&lt;img" in joined  # the name is there, as text a renderer shows
    for text in descs:
        p = _Tags()
        p.feed(text)
        assert p.tags == [], text
    names = {n.text for n in root.findall(".//k:Placemark/k:name", ns)}
    assert XSS in names and FORMULA in names  # names are plain text in KML


def test_geojson_gpkg_shp_keep_text_exactly(hostile):
    import pyogrio

    out = hostile["out"]
    gj = json.loads((out / "geojson" / "kind_places.geojson").read_text(encoding="utf-8"))
    names = {f["properties"]["name"] for f in gj["features"]}
    assert {FORMULA, XSS, "-2+3"} <= names
    gp = pyogrio.read_dataframe(out / "layers.gpkg", layer="kind_places")
    assert {FORMULA, XSS, "-2+3"} <= set(gp["name"])
    shp = pyogrio.read_dataframe(out / "shp" / "kind_places_point.shp")
    assert {FORMULA, XSS, "-2+3"} <= set(shp["name"])


def test_cli_tables_hold_no_formula(hostile, tmp_path):
    pts = tmp_path / "p.csv"
    pts.write_text(
        f'name,note,lon,lat,theme\n"{FORMULA}","{XSS}",113.83,34.03,"+1"\n"-2+3","@x",113.84,34.025,"-1"\n',
        encoding="utf-8",
    )
    figures = tmp_path / "f.csv"
    figures.write_text(f'target,area,value\nmanhole,"{FORMULA}",-97.5\n', encoding="utf-8")
    plan = hostile["plan"]
    gaz = hostile["gaz"]
    runs = {
        "query": ["query", pts, "--plan", plan, "--gazetteer", gaz],
        "coverage": ["coverage", plan, "--gazetteer", gaz],
        "targets": ["targets", plan, "--figures", figures],
        "spacing": ["spacing", "--ads", pts, "--plan", plan, "--gazetteer", gaz],
    }
    for name, args in runs.items():
        for suffix in (".csv", ".xlsx"):
            out = tmp_path / f"{name}{suffix}"
            res = geo(*args, "--out", out)
            assert res.returncode == 0, (name, res.stderr)
            cells = _check_csv(out) if suffix == ".csv" else _check_xlsx(out)
            if name == "query":
                assert "'" + FORMULA in cells and "'-2+3" in cells
            if name == "targets":
                assert "'" + FORMULA in cells
                if suffix == ".xlsx":
                    wb = load_workbook(out)
                    ws = wb.active
                    header = [c.value for c in ws[1]]
                    value = ws.cell(row=2 + 0, column=header.index("value") + 1)
                    rows = [r for r in ws.iter_rows(min_row=2, values_only=True) if r[header.index("area")]]
                    assert rows and rows[0][header.index("value")] == -97.5  # a number stays a number
                    assert value.data_type == "n"
            if name == "coverage":
                assert "'@SUM(A1)" in cells


def test_html_map_runs_no_hostile_text(hostile, tmp_path, request):
    """The interactive map of the hostile plan in headless Chromium (test_html's harness)."""
    out = tmp_path / "m.html"
    res = geo("map", hostile["plan"], "--gazetteer", hostile["gaz"], "--out", out)
    assert res.returncode == 0, res.stderr
    driver = request.getfixturevalue("_browser")  # skips when Chromium is not installed
    th.open_map(driver, out)
    assert driver.execute_script("return Object.keys(CGT.byKey).length") > 0
    assert driver.execute_script("return document.querySelectorAll('img[src=\"x\"]').length") == 0
    th.check_clean(driver)  # no script error, no alert, nothing fetched


def test_unresolved_report_holds_no_formula(tmp_path):
    report = tmp_path / "r.csv"
    res = geo("resolve", "泽州路", FORMULA, "--report", report)
    assert res.returncode == 0, res.stderr
    assert "'" + FORMULA in _check_csv(report)
