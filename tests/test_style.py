"""The one symbology table: complete, consistent, and translated alike for every writer."""

import re
import xml.etree.ElementTree as ET

import pytest
from matplotlib.colors import to_hex, to_rgba

from geo.plan import PLACE_KINDS, get_plan
from geo.publish import style as S

HEX = re.compile(r"^#[0-9a-f]{6}$")
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_place_kind_has_a_style_with_chinese_words():
    assert set(S.KINDS) == set(PLACE_KINDS)
    for kind, st in S.KINDS.items():
        assert st.label == PLACE_KINDS[kind]


@pytest.mark.parametrize("st", S.all_styles(), ids=lambda s: s.key)
def test_styles_are_well_formed(st):
    assert HEX.match(st.colour), st
    assert HEX.match(st.fill_colour), st
    assert st.geometry in ("point", "line", "area")
    assert st.marker in S.MARKERS
    assert 0 <= st.opacity <= 1 and 0 <= st.fill_opacity <= 1
    assert not re.search(r"[A-Za-z]", st.label) and CJK.search(st.label), st.label or st.key


def test_classes_do_not_share_colours_within_a_legend_section():
    for table in (S.KINDS, S.BATCHES, S.STREETS, S.CASE_STATUS, S.PASS_STATUS):
        colours = [s.colour for s in table.values()]
        assert len(set(colours)) == len(colours)
    assert len(set(S.ZONE_PALETTE)) == len(S.ZONE_PALETTE)


@pytest.mark.parametrize("st", S.all_styles(), ids=lambda s: s.key)
def test_translations_carry_the_same_colour(st):
    leaf = S.to_leaflet(st)
    mpl = S.to_mpl(st)
    if st.geometry == "point":
        assert leaf["fillColor"] == st.colour
        assert to_hex(mpl["facecolor"]) == st.colour
    elif st.geometry == "line":
        assert leaf["color"] == st.colour
        assert to_hex(mpl["color"]) == st.colour
    else:
        assert leaf["color"] == st.colour and leaf["fillColor"] == st.fill_colour
        assert to_hex(mpl["edgecolor"]) == st.colour
        assert to_rgba(mpl["facecolor"])[3] == pytest.approx(st.fill_opacity)
    # KML: aabbggrr
    kml = ET.fromstring(S.to_kml(st))  # noqa: S314 (our own text)
    line = kml.find("LineStyle/color").text
    assert "#" + line[6:8] + line[4:6] + line[2:4] == st.colour
    # QML: r,g,b,a
    sym = ET.fromstring(S.to_qml(st))  # noqa: S314 (our own text)
    props = {p.get("k"): p.get("v") for p in sym.iter("prop")}
    key = {"point": "color", "line": "line_color", "area": "outline_color"}[st.geometry]
    r, g, b, _a = (int(v) for v in props[key].split(","))
    assert f"#{r:02x}{g:02x}{b:02x}" == st.colour
    ET.fromstring(S.legend_svg(st))  # noqa: S314 (our own text)


def test_dash_patterns_agree_between_screen_and_paper():
    st = S.STREETS["背街小巷"]
    assert S.to_leaflet(st)["dashArray"] == " ".join(f"{d * st.weight:g}" for d in st.dash)
    assert S.to_mpl(st)["linestyle"] == (0, st.dash)
    assert "dashArray" not in S.to_leaflet(S.STREETS["严管街"])
    assert S.to_mpl(S.STREETS["严管街"])["linestyle"] == "-"


def test_place_classes():
    assert S.place_key("street", ["十纵十横", "主次干道"]) == "street:十纵十横"
    assert S.place_key("street", ["城市主干道"]) == "street:主次干道"
    assert S.place_key("street", ["锚点"]) == "street:anchor"
    assert S.place_key("street", []) == "street:plan"
    assert S.place_key("market", ["马路市场"], 2.0) == "batch:2"
    assert S.place_key("market", [], None) == "kind:market"
    assert S.place_key("park", ["锚点"]) == "anchor"
    assert S.place_key("hospital", []) == "kind:hospital"
    for key in ("kind:school", "street:严管街", "batch:1", "zone:1:outer", "spacing", "region", "case:销号"):
        assert S.style_for(key).colour


def test_zone_styles_follow_plan_order_and_dash_the_outer_ring():
    plan = get_plan("000")
    zs = S.zone_styles(plan.rules)
    assert list(zs) == ["r_demo_500", "r_demo_100"]
    assert zs["r_demo_500"].dash and not zs["r_demo_100"].dash
    assert zs["r_demo_500"].colour != zs["r_demo_100"].colour
    assert zs["r_demo_100"].label == "示范区周边 100 米"
    plan2 = get_plan("002")
    zs2 = S.zone_styles(plan2.rules)
    assert set(zs2) == {"r_school_200", "r_market_station_hospital_500"}
    assert not any(s.dash for s in zs2.values())  # different targets: no inner/outer pair
