"""``geo build`` / ``geo static`` / ``geo export`` as a user runs them: every output written,
byte-identical on a re-run, and bad input refused with exit 2 without touching earlier output."""

from __future__ import annotations

import hashlib
import html
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import ROOT, run_geo
from PIL import Image

from geo.plan import load_plans

PER_PLAN = ("index.html", "map.png", "map.pdf", "layers.gpkg", "unresolved.csv", "coverage.csv")
EXPORTS = ("export/layers.kml", "export/layers.xlsx", "export/geojson/places.geojson", "export/csv/zones.csv")


def _hashes(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """The bundled default built twice, into two folders, side by side (one per core)."""
    base = tmp_path_factory.mktemp("build")
    dirs = [base / "a", base / "b"]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda d: run_geo("build", "--out", str(d), cwd=base), dirs))
    for res in results:
        assert res.returncode == 0, res.stderr
        assert "Traceback" not in res.stderr
    return dirs, results


def test_build_writes_every_output(builds):
    (a, _), (res, _) = builds
    for plan in load_plans():
        folder = a / plan.id
        for name in PER_PLAN + EXPORTS:
            assert (folder / name).is_file(), f"{plan.id}/{name}"
        assert Image.open(folder / "map.png").size == (3508, 2480)
        assert (
            (folder / "unresolved.csv")
            .read_bytes()
            .startswith("\ufeffplan,place_id,name,reason,candidates".encode())
        )
    assert "000" in res.stdout and "示意" in res.stdout


def test_coverage_names_every_unit(builds):
    """The coverage table and the map's 责任单位 panel name every unit a task or rule names (a
    unit the plan lists but gives nothing is not a row), figures from 示意 geometry marked."""
    import csv

    (a, _), _ = builds
    for plan in load_plans():
        with open(a / plan.id / "coverage.csv", encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
        named = {u for t in plan.tasks for u in t.lead + t.units} | {
            u for r in plan.rules for u in r.lead + r.units
        }
        assert [r["unit"] for r in rows] == [u.name for u in plan.units if u.id in named]
        assert {r["schematic"] for r in rows} <= {"示意", ""}
        listed = {r["unit"] for r in rows}
        page = (a / plan.id / "index.html").read_text(encoding="utf-8")
        assert "责任单位" in page
        # The panel's rows are exactly the units given work.
        for u in plan.units:
            row = f"<th>{html.escape(u.name)}</th>"
            assert (row in page) == (u.name in listed), (plan.id, u.name)


def test_index_lists_every_plan_offline_and_escaped(builds):
    (a, _), _ = builds
    page = (a / "index.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'lang="zh-CN"' in page
    for plan in load_plans():
        d = plan.document
        assert html.escape(d.doc_number) in page
        assert html.escape(d.title) in page
        assert f'href="{plan.id}/index.html"' in page
        assert f'href="{plan.id}/map.pdf"' in page
    assert "示意" in page
    # nothing loaded from anywhere: no scripts, no stylesheets, no images, no remote links
    assert not re.search(r"<script|<link|<img|src=|url\(|https?://", page)
    assert (a / "plans.json").is_file()


def test_rebuild_is_byte_identical(builds):
    (a, b), _ = builds
    ha, hb = _hashes(a), _hashes(b)
    assert ha.keys() == hb.keys()
    differ = sorted(k for k in ha if ha[k] != hb[k])
    assert not differ, f"files differ between two builds: {differ}"
    assert not [k for k in ha if "/." in k or k.startswith(".")]  # no temporary files left behind


def test_bad_plan_exits_2_and_leaves_output_intact(builds, tmp_path, geo_cli):
    (a, _), _ = builds
    before = _hashes(a)
    text = (ROOT / "data" / "plans" / "000.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "000.yaml"
    bad.write_text(text.replace("kind: street", "kind: streeet", 1), encoding="utf-8")
    res = geo_cli("build", "002", str(bad), "--out", str(a))
    assert res.returncode == 2, res.stderr
    assert "streeet" in res.stderr and str(bad) in res.stderr
    assert "Traceback" not in res.stderr
    assert _hashes(a) == before


def test_unknown_plan_and_bad_options_are_bad_input(tmp_path, geo_cli):
    for args in (
        ("build", "999", "--out", str(tmp_path / "x")),
        ("build", "000", "--basemap", "bing", "--out", str(tmp_path / "x")),
        ("build", "000", "--osm", str(tmp_path / "missing.osm"), "--out", str(tmp_path / "x")),
    ):
        res = geo_cli(*args)
        assert res.returncode == 2, (args, res.stderr)
        assert "error" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "x").exists()


def test_static_command(tmp_path, geo_cli):
    res = geo_cli("static", "003", "--out", str(tmp_path / "m.png"))
    assert res.returncode == 0, res.stderr
    assert Image.open(tmp_path / "m.png").size == (3508, 2480)
    res = geo_cli("static", "000", "--layers", "region,zones", "--out", str(tmp_path / "m.pdf"))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "m.pdf").read_bytes().startswith(b"%PDF")
    assert "示意" in res.stderr
    for args in (("--out", str(tmp_path / "m.jpg")), ("--layers", "roads", "--out", str(tmp_path / "n.png"))):
        res = geo_cli("static", "000", *args)
        assert res.returncode == 2 and "Traceback" not in res.stderr


def test_export_command(tmp_path, geo_cli):
    out = tmp_path / "exp"
    res = geo_cli("export", "002", "--out", str(out), "--format", "gpkg,kml,csv")
    assert res.returncode == 0, res.stderr
    assert {"layers.gpkg", "layers.kml", "csv/zones.csv", "unresolved.csv"} <= set(_hashes(out))
    assert not (out / "shp").exists()
    res = geo_cli("export", "002", "--out", str(tmp_path / "one.xlsx"))
    assert res.returncode == 0 and (tmp_path / "one.xlsx").is_file()
    res = geo_cli("export", "002", "--out", str(out), "--format", "dwg")
    assert res.returncode == 2 and "unknown format" in res.stderr
