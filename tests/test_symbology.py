"""One symbology on paper, in QGIS and in KML: the printed map's artists, the GeoPackage's QGIS
styles and the style table agree class by class."""

from __future__ import annotations

import json
import re
import sqlite3
import xml.etree.ElementTree as ET

import pytest
from _figures import artist_colours
from matplotlib.colors import to_hex

from geo.build import build_plan
from geo.plan import get_plan
from geo.publish import style as S
from geo.publish.files import LAYER_NAMES, layer_frames, write_layers
from geo.publish.static import build_figure

PLAN_IDS = ("000", "001", "002", "004")


@pytest.fixture(scope="module")
def datas():
    return {pid: build_plan(get_plan(pid)) for pid in PLAN_IDS}


@pytest.fixture(scope="module")
def gpkgs(datas, tmp_path_factory):
    d = tmp_path_factory.mktemp("gpkg")
    return {pid: write_layers(data, d / f"{pid}.gpkg")[0] for pid, data in datas.items()}


def _styles(path) -> dict[str, tuple]:
    con = sqlite3.connect(path)
    try:
        rows = con.execute(
            "SELECT f_table_name, f_geometry_column, styleName, styleQML, useAsDefault, update_time "
            "FROM layer_styles ORDER BY id"
        ).fetchall()
    finally:
        con.close()
    return {r[0]: r for r in rows}


def _qml(path, layer) -> ET.Element:
    return ET.fromstring(_styles(path)[layer][3])  # noqa: S314 (our own file)


def _rgb(v: str) -> str:
    r, g, b, _a = (int(x) for x in v.split(","))
    return f"#{r:02x}{g:02x}{b:02x}"


def _symbol_colour(sym: ET.Element) -> str:
    """The colour a QGIS symbol draws its class in (the last symbol layer: over any casing)."""
    props = {p.get("k"): p.get("v") for p in sym.findall("layer")[-1].iter("prop")}
    key = {"marker": "color", "line": "line_color", "fill": "outline_color"}[sym.get("type")]
    return _rgb(props[key])


def _qml_classes(root: ET.Element) -> dict[str, set[str]]:
    """Style key (or category value) → colours of the symbols drawing it."""
    renderer = root.find("renderer-v2")
    symbols = {s.get("name"): s for s in renderer.find("symbols")}
    out: dict[str, set[str]] = {}
    if renderer.get("type") == "RuleRenderer":
        for rule in renderer.iter("rule"):
            f = rule.get("filter")
            m = re.search(r"END = '([^']+)'", f) or re.search(r"'kind:' \|\| \"kind\" = '([^']+)'", f)
            k = m.group(1)
            out.setdefault(k, set()).add(_symbol_colour(symbols[rule.get("symbol")]))
    elif renderer.get("type") == "categorizedSymbol":
        for cat in renderer.iter("category"):
            out.setdefault(cat.get("value"), set()).add(_symbol_colour(symbols[cat.get("symbol")]))
    return out


# --- the GeoPackage as QGIS reads it ---------------------------------------------------------


def test_every_layer_has_one_default_style(gpkgs):
    for pid, path in gpkgs.items():
        styles = _styles(path)
        assert list(styles) == list(LAYER_NAMES), pid
        con = sqlite3.connect(path)
        geom_cols = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
        contents = con.execute(
            "SELECT data_type, identifier FROM gpkg_contents WHERE table_name = 'layer_styles'"
        ).fetchone()
        titles = dict(con.execute("SELECT table_name, identifier FROM gpkg_contents"))
        con.close()
        assert contents == ("attributes", "layer_styles")  # registered as QGIS registers it
        for name, (_table, geom_col, _name, qml, default, when) in styles.items():
            assert default == 1 and geom_col == geom_cols[name]
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT00:00:00\.000Z", when)
            assert qml.startswith("<!DOCTYPE qgis")
            assert re.search(r"[\u4e00-\u9fff]", titles[name]), titles[name]  # Chinese layer name


def test_qml_renderers_label_on_name(gpkgs):
    path = gpkgs["001"]
    expected = {
        "places": "RuleRenderer",
        "kind_places": "RuleRenderer",
        "zones": "categorizedSymbol",
        "dissolved": "categorizedSymbol",
        "spacing": "categorizedSymbol",
        "region": "singleSymbol",
    }
    for layer, kind in expected.items():
        root = _qml(path, layer)
        assert root.find("renderer-v2").get("type") == kind, layer
        assert root.get("labelsEnabled") == "1"
        fields = {t.get("fieldName") for t in root.iter("text-style")}
        assert fields == {"name"}, layer
        aliases = {a.get("field"): a.get("name") for a in root.iter("alias")}
        assert aliases["name"] == "名称"
    places = _qml(path, "places")
    labels = [r.get("label") for r in places.find("renderer-v2").iter("rule")]
    assert any(lbl.startswith("严管街") for lbl in labels)
    assert any(lbl.startswith("第一批马路市场") for lbl in labels)
    assert all(re.search(r"[\u4e00-\u9fff]", lbl) and not re.search(r"[A-Za-z]", lbl) for lbl in labels)


def test_qml_has_a_rule_for_every_class_in_the_data(gpkgs, datas):
    for pid, path in gpkgs.items():
        frames = layer_frames(datas[pid])
        for layer in ("places", "kind_places"):
            present = {s.key for s in S.row_styles(layer, frames[layer])}
            assert set(_qml_classes(_qml(path, layer))) == present, (pid, layer)


def test_gpkg_styles_are_byte_identical_across_writes(datas, gpkgs, tmp_path):
    again = write_layers(datas["002"], tmp_path / "again.gpkg")[0]
    assert again.read_bytes() == gpkgs["002"].read_bytes()


# --- the same colour for the same class, everywhere ---------------------------------------------


@pytest.mark.parametrize("pid", PLAN_IDS)
def test_same_colour_on_paper_in_qgis_and_in_the_table(pid, datas, gpkgs):
    data = datas[pid]
    paper = artist_colours(build_figure(data))
    qgis: dict[str, set[str]] = {}
    for layer in ("places", "kind_places"):
        for k, v in _qml_classes(_qml(gpkgs[pid], layer)).items():
            qgis.setdefault(k, set()).update(v)
    checked = 0
    for key, colours in qgis.items():
        expected = S.style_for(key).colour
        assert colours == {expected}, (key, colours)
        if key in paper:
            assert paper[key] == {expected}, (key, paper[key])
            checked += 1
    assert checked >= 1
    # zones: QGIS categories (by rule id) and the map's zone artists, in the plan's colours
    zs = S.zone_styles(data.plan.rules)
    cats = _qml_classes(_qml(gpkgs[pid], "dissolved"))
    for rid, st in zs.items():
        assert cats[rid] == {st.colour}
        if len(data.dissolved) and rid in set(data.dissolved["rule_id"]):
            assert paper[st.key] == {st.colour}
    if len(data.spacing):
        assert paper["spacing"] == {S.SPACING.colour}
    if data.region.boundary is not None:
        assert paper["region"] == {S.BOUNDARY.colour}


def test_issue_examples_agree(datas):
    """The disagreements once seen: 001's batches, 000's 十纵十横 and its 100 m / 500 m zones."""
    p001 = artist_colours(build_figure(datas["001"]))
    assert p001["batch:1"] == {S.BATCHES[1].colour} and p001["batch:2"] == {S.BATCHES[2].colour}
    assert p001["street:严管街"] == {S.STREETS["严管街"].colour}
    fig = build_figure(datas["000"])
    p000 = artist_colours(fig)
    assert p000["street:十纵十横"] == {S.STREETS["十纵十横"].colour}
    zs = S.zone_styles(datas["000"].plan.rules)
    assert p000[zs["r_demo_100"].key] == {zs["r_demo_100"].colour}
    assert p000[zs["r_demo_500"].key] == {zs["r_demo_500"].colour}
    # the legend draws 示范区 as an area, as the map does
    legend = {a.get_gid(): a for a in fig.axes[1].patches if a.get_gid()}
    assert "legend:kind:demo_zone" in legend
    assert to_hex(legend["legend:kind:demo_zone"].get_edgecolor()) == S.KINDS["demo_zone"].colour


@pytest.mark.parametrize("pid", PLAN_IDS)
def test_printed_legend_is_plain_chinese(pid, datas):
    fig = build_figure(datas[pid])
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert texts
    for text in texts:
        plain = re.sub(r"unresolved\.csv", "", text)  # the file a note points to
        assert not re.search(r"[A-Za-z_]{2,}", plain), text
    rule_ids = {r.id for r in datas[pid].plan.rules}
    assert not any(rid in t for rid in rule_ids for t in texts)


# --- the interactive page -----------------------------------------------------------------------


def _page_colours(data) -> dict[str, set[str]]:
    """Style key → colours the interactive page gives its features (read from the page's own
    data: each feature's key and style index), classes found from the plan's layers."""
    from geo.publish.html import render_map

    page = render_map(data)
    m = re.search(r'<script type="application/json" id="cgt-data">(\{.*?\})</script>', page, re.DOTALL)
    cfg = json.loads(m.group(1))
    texts, styles = cfg["texts"], cfg["styles"]
    frames = layer_frames(data)
    by_id: dict[str, str] = {}
    for layer in ("places", "kind_places"):
        for pid, st in zip(frames[layer]["id"], S.row_styles(layer, frames[layer]), strict=True):
            by_id[str(pid)] = st.key
    zones = S.zone_styles(data.plan.rules)
    out: dict[str, set[str]] = {}
    for lay in cfg["layers"]:
        kp, ids, st = lay["kp"], lay["id"], lay["st"]
        sts = st if isinstance(st, list) else [st] * len(ids)
        for i, s in zip(ids, sts, strict=True):
            key = kp + texts[i]
            parts = key.split("|")
            if parts[1] == "p":
                cls = by_id[parts[2]]
            elif parts[1] == "z":
                rule = parts[2].split(".")[1]
                cls = zones[rule].key
            elif parts[1] == "s":
                cls = "spacing"
            else:
                cls = "region"
            style = styles[s]
            colour = style["fillColor"] if lay["c"] == "points" else style["color"]
            out.setdefault(cls, set()).add(colour.lower())
    return out


@pytest.mark.parametrize("pid", PLAN_IDS)
def test_same_colour_on_screen_on_paper_and_in_qgis(pid, datas, gpkgs):
    data = datas[pid]
    screen = _page_colours(data)
    paper = artist_colours(build_figure(data))
    qgis: dict[str, set[str]] = {}
    for layer in ("places", "kind_places"):
        for k, v in _qml_classes(_qml(gpkgs[pid], layer)).items():
            qgis.setdefault(k, set()).update(v)
    zs = S.zone_styles(data.plan.rules)
    for rid, colours in _qml_classes(_qml(gpkgs[pid], "dissolved")).items():
        qgis.setdefault(zs[rid].key, set()).update(colours)
    assert screen
    for key, colours in screen.items():
        assert colours == {S.style_for(key).colour}, (key, colours)
        if key in paper:
            assert paper[key] == colours, (key, paper[key], colours)
        if key in qgis:
            assert qgis[key] == colours, (key, qgis[key], colours)
    assert len(set(screen) & set(paper) & set(qgis)) >= 1
