"""HTML maps (geo.publish.html): offline, stable, escaped — and working in a real headless Chromium.

The browser tests drive Debian's ``chromium`` through Debian's ``chromedriver`` with selenium,
with the network cut off (host resolver maps every name to nothing, and DevTools emulates an
offline connection). They are skipped when ``/usr/bin/chromium`` is absent. Screenshots go to
the pytest temporary folder (``…/pytest-of-<user>/pytest-current/screens*/``).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from _figures import artist_colours

from geo.build import build_plan
from geo.crs import from_wgs84
from geo.errors import InputError
from geo.layers import split
from geo.plan import get_plan
from geo.publish import assets
from geo.publish.html import render_map, write_map

PLANS = ["000", "001", "002", "003", "004"]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
XSS = "<img src=x onerror=alert(1)>"
TEMPLATE_NAME = "{{ 7*7 }}号学校"


@pytest.fixture(scope="module")
def built():
    """Every bundled plan built from the schematic default."""
    return {pid: build_plan(get_plan(pid)) for pid in PLANS}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Plan 002 (许昌) with a gazetteer of schools whose names are HTML and template code."""
    d = tmp_path_factory.mktemp("gaz")
    csv = d / "schools.csv"
    csv.write_text(
        "name,kind,lon,lat,crs,note\n"
        f'"{XSS}",school,113.83,34.03,wgs84,"<b>bold</b> {{{{x}}}} note"\n'
        f'"{TEMPLATE_NAME}",school,113.84,34.025,wgs84,\n',
        encoding="utf-8",
    )
    return build_plan(get_plan("002"), gazetteers=[csv])


def expected_groups(d) -> int:
    kinds = set(d.places["kind"]) | set(d.kind_places["kind"])
    rules = set(d.zones["rule_id"]) | set(d.spacing["rule_id"])
    return len(kinds) + len(rules) + 1  # + the region's boundary


def expected_features(d) -> int:
    return len(d.places) + len(d.kind_places) + len(d.zones) + len(d.spacing) + 1


def n_features(cfg: dict) -> int:
    """Features with a popup in a page's data (the boundary has none)."""
    return sum(len(lay["id"]) for lay in cfg["layers"] if cfg["groups"][lay["g"]]["i"])


def config_of(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="cgt-data">(\{.*?\})</script>', html, re.DOTALL)
    assert m, "page configuration not found"
    return json.loads(m.group(1))


# --------------------------------------------------------------------------------------------
# Without a browser


@pytest.mark.parametrize("pid", PLANS)
def test_offline_and_stable(built, pid):
    d = built[pid]
    html = render_map(d)
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in html
    assert assets.remote_references(html) == []
    assert assets.SCHEME not in html
    for cdn in ("cdn.jsdelivr", "cdnjs", "code.jquery", "bootstrapcdn", "unpkg"):
        assert cdn not in html
    # Byte-identical on a second render, and from a second build of the same plan.
    assert render_map(d) == html
    assert render_map(build_plan(get_plan(pid))) == html
    cfg = config_of(html)
    assert n_features(cfg) == expected_features(d) - 1  # the boundary has no popup
    assert ("示意图：本图位置为示意布设" in html) == d.schematic


def test_assert_offline_catches_remote_resources():
    for bad in (
        '<script src="https://cdn.example/x.js"></script>',
        '<link rel="stylesheet" href="//cdn.example/x.css"/>',
        '<img src="http://example.com/a.png">',
        "<style>.a{background:url(https://example.com/a.png)}</style>",
    ):
        with pytest.raises(assets.NotOffline):
            assets.assert_offline(f"<html><head>{bad}</head></html>")
    assets.assert_offline('<a href="https://www.openstreetmap.org/copyright">OSM</a>')


def test_unknown_folium_resource_is_refused():
    import folium

    m = folium.Map(tiles=None)
    m.default_js = [*m.default_js, ("something_new", "https://cdn.example/new.js")]
    with pytest.raises(assets.UnknownResource):
        assets.localize(m.get_root())


def test_text_is_escaped_in_the_source(hostile):
    html = render_map(hostile)
    assert XSS not in html
    assert "<b>bold</b>" not in html
    assert "49号学校" not in html  # template code in a name is never evaluated
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in html  # inside the JSON data, < and > escaped
    cfg = config_of(html)
    # Raw in the data (written by script with textContent), never as pre-built HTML.
    assert XSS in cfg["texts"] and TEMPLATE_NAME in cfg["texts"]
    assert "<b>bold</b> {{x}} note" in cfg["texts"]


def test_phase_argument(built):
    d = built["001"]
    # 001's p2 changes nothing on the map (every place is in p1 and p2), so the map opens on all.
    assert config_of(render_map(d, phase="p2"))["options"]["phase"] == ""
    by_name = render_map(d, phase="第三阶段：巩固阶段成果，保证整治效果")
    assert config_of(by_name)["options"]["phase"] == "001:p3"
    with pytest.raises(InputError, match="unknown phase"):
        render_map(d, phase="p9")


def test_basemaps(built, monkeypatch):
    d = built["001"]
    with pytest.raises(InputError, match="unknown basemap"):
        render_map(d, basemap="google")
    monkeypatch.delenv("TIANDITU_TOKEN", raising=False)
    with pytest.raises(InputError, match="TIANDITU_TOKEN"):
        render_map(d, basemap="tianditu")
    monkeypatch.setenv("TIANDITU_TOKEN", "0123456789abcdef0123456789abcdef")
    tdt = render_map(d, basemap="tianditu")
    assert "vec_w/wmts" in tdt and "cva_w/wmts" in tdt
    assert "tile.openstreetmap.org" in render_map(d, basemap="osm")
    # Amap tiles are GCJ-02: every overlay is shifted (about 550 m to the east in 晋城).
    wgs = config_of(render_map(d))["options"]["bounds"]
    amap_html = render_map(d, basemap="amap")
    gcj = config_of(amap_html)["options"]["bounds"]
    lon, lat = from_wgs84(wgs[0][1], wgs[0][0], "gcj02")
    assert abs(gcj[0][1] - float(lon)) < 2e-5 and abs(gcj[0][0] - float(lat)) < 2e-5
    assert abs(gcj[0][1] - wgs[0][1]) > 0.004
    assert "GCJ-02" in amap_html


def test_several_plans_on_one_map(built):
    html = render_map([built["000"], built["001"]], phase="001:p1")
    cfg = config_of(html)
    assert cfg["options"]["phase"] == "001:p1"
    assert {p["k"] for p in cfg["phases"]} >= {"000:p1", "001:p3"}
    with pytest.raises(InputError, match="ambiguous"):
        render_map([built["000"], built["001"]], phase="p1")


def test_write_map_and_cli(built, tmp_path, geo_cli, monkeypatch):
    from typer.testing import CliRunner

    from geo.cli import app

    path = write_map(built["000"], tmp_path / "m.html")
    assert path.read_text(encoding="utf-8") == render_map(built["000"])
    out = tmp_path / "cli.html"
    r = geo_cli("map", "000", "--phase", "p2", "--out", str(out))  # the installed command
    assert r.returncode == 0, r.stderr
    assert out.read_text(encoding="utf-8") == render_map(built["000"], phase="p2")
    runner = CliRunner()
    bad = tmp_path / "x.html"
    r = runner.invoke(app, ["map", "000", "--basemap", "nope", "--out", str(bad)])
    assert r.exit_code == 2 and "unknown basemap" in r.output
    monkeypatch.delenv("TIANDITU_TOKEN", raising=False)
    r = runner.invoke(app, ["map", "000", "--basemap", "tianditu", "--out", str(bad)])
    assert r.exit_code == 2 and "TIANDITU_TOKEN" in r.output
    r = runner.invoke(app, ["map", "000", "--phase", "p7", "--out", str(bad)])
    assert r.exit_code == 2 and "unknown phase" in r.output
    assert not bad.exists()


def test_source_references_in_words():
    """The popup's 来源编号 for a whole column: gazetteer lines, OSM ids, lists, text as is."""
    import pandas as pd

    from geo.publish.map_data import _ref_texts

    refs = pd.Series(
        ["schools.csv:7", " a.csv:12 ", "osm:way/12", "node/-5", "relation/3;a.csv:2", "", "note", "f.csv:x"],
        dtype=object,
    )
    assert _ref_texts(refs).tolist() == [
        "schools.csv 第 7 行",
        "a.csv 第 12 行",
        "路径 12",
        "节点 -5",
        "关系 3；a.csv 第 2 行",
        "",
        "note",
        "f.csv:x",
    ]


# --------------------------------------------------------------------------------------------
# In a real headless Chromium, offline

PROBE = """
window.__errors = []; window.__alerts = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  if (t && t !== window && (t.src || t.href)) { window.__errors.push('resource ' + (t.src || t.href)); }
  else { window.__errors.push(String(e.message)); }
}, true);
window.addEventListener('unhandledrejection', function (e) { window.__errors.push(String(e.reason)); });
window.alert = function (m) { window.__alerts.push(String(m)); };
window.confirm = window.alert; window.prompt = window.alert;
"""

# Paths drawn in the main map (not the overview), without the dots standing in for small places.
MAIN_PATHS = (
    "return CGT.map.getContainer().querySelectorAll(':scope > .leaflet-map-pane path:not(.cgt-proxy)').length"
)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian chromium is not installed (/usr/bin/chromium): apt-get install chromium chromium-driver"
        )
    if not CHROMEDRIVER.exists():
        pytest.skip("Debian chromium-driver is not installed (/usr/bin/chromedriver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:  # pragma: no cover
        pytest.fail("the browser tests need the 'selenium' package (test extra)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--no-first-run",
        "--no-pings",
        "--lang=zh-CN",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0},
    )
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE})
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def screens(tmp_path_factory):
    return tmp_path_factory.mktemp("screens")


def open_map(driver, path: Path) -> None:
    driver.get_log("browser")
    driver.get_log("performance")
    driver.get(path.as_uri())
    for _ in range(100):
        if driver.execute_script("return !!(window.CGT && CGT.ready)"):
            time.sleep(0.3)  # let the overview map settle: it re-centres the map when it moves
            return
        time.sleep(0.05)
    raise AssertionError(f"map did not initialise; errors: {driver.execute_script('return window.__errors')}")


def check_clean(driver) -> None:
    """No JavaScript errors, no dialogs, and nothing requested except the file and data: URIs."""
    errors = driver.execute_script("return window.__errors")
    assert errors == [], errors
    assert driver.execute_script("return window.__alerts") == []
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe
    urls = set()
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.add(msg["params"]["request"]["url"])
    left = sorted(u for u in urls if not u.startswith(("file:", "data:")))
    assert left == [], f"requests left the machine: {left}"


def click_feature(driver, key: str) -> None:
    """Click a feature where it is drawn, as a user would (after checking nothing covers it)."""
    from selenium.webdriver.common.action_chains import ActionChains

    point = driver.execute_script(
        """
        var e = CGT.byKey[arguments[0]], l = e.layer, map = CGT.map;
        var ll = l.getLatLng ? l.getLatLng() : l.getCenter();
        map.setView(ll, 16, {animate: false});
        var p = map.latLngToContainerPoint(ll), r = map.getContainer().getBoundingClientRect();
        var x = r.left + p.x, y = r.top + p.y;
        return [x, y, document.elementFromPoint(x, y) === l._path];
        """,
        key,
    )
    x, y, on_top = point
    assert on_top, f"feature {key} is covered at its centre"
    actions = ActionChains(driver)
    actions.w3c_actions.pointer_action.move_to_location(int(x), int(y))
    actions.w3c_actions.pointer_action.click()
    actions.perform()
    time.sleep(0.3)


def popup_text(driver) -> str:
    return driver.execute_script(
        "var p = document.querySelector('.leaflet-popup-content'); return p ? p.textContent : null"
    )


@pytest.mark.parametrize("pid", PLANS)
def test_map_in_browser(browser, built, screens, tmp_path, pid):
    d = built[pid]
    path = write_map(d, tmp_path / f"{pid}.html")
    open_map(browser, path)
    assert (
        browser.execute_script("return document.querySelectorAll('.folium-map.leaflet-container').length")
        == 1
    )
    n_layers = browser.execute_script(
        "return document.querySelectorAll('.leaflet-control-layers-overlays input').length"
    )
    assert n_layers == expected_groups(d)
    counts = browser.execute_script("return CGT.counts()")
    assert counts == {"total": expected_features(d), "visible": expected_features(d)}
    assert browser.execute_script(MAIN_PATHS) == expected_features(d)
    banner = browser.execute_script(
        "var b = document.getElementById('cgt-banner'); return b && b.offsetParent ? b.textContent : null"
    )
    assert (banner == "示意图：本图位置为示意布设，非实测数据") == d.schematic
    legend = browser.execute_script("return document.getElementById('cgt-legend').textContent")
    assert "图例" in legend
    panel = browser.execute_script("return document.getElementById('cgt-panel').textContent")
    assert d.plan.document.doc_label in panel
    for ph in d.plan.phases:
        assert ph.name in panel and ph.dates_text in panel
    browser.save_screenshot(str(screens / f"map_{pid}.png"))
    check_clean(browser)


def test_popup_shows_units(browser, built, screens, tmp_path):
    d = built["001"]
    open_map(browser, write_map(d, tmp_path / "001.html"))
    key = "001|p|001.wenchang_jie_wangchuanlou"  # a first-batch 马路市场, task 三(一)2
    click_feature(browser, key)
    text = popup_text(browser)
    assert text and "文昌街望川楼路段" in text
    assert "牵头单位" in text and "责任单位" in text
    assert "各执法大队" in text and "交警部门" in text
    assert "第一批" in text and "晋市城字〔2024〕17号" in text
    assert "示意数据，精度不适用" in text and "匹配方式" in text
    browser.save_screenshot(str(screens / "popup_001.png"))
    # Search by name opens the same kind of popup.
    browser.find_element("css selector", ".cgt-search-button").click()  # the search box unfolds
    box = browser.find_element("css selector", ".cgt-search input")
    box.send_keys("龙度华府")
    items = browser.find_elements("css selector", ".cgt-search li")
    texts = [i.text for i in items]
    assert len(texts) == 2 and all(t.startswith("龙度华府小区") for t in texts), texts
    items[[t.startswith("龙度华府小区门前") for t in texts].index(True)].click()
    time.sleep(0.3)
    assert "龙度华府小区门前" in popup_text(browser)
    check_clean(browser)


def test_phase_toggle_hides_other_phases(browser, built, screens, tmp_path):
    d = built["001"]
    open_map(browser, write_map(d, tmp_path / "001.html"))
    total = expected_features(d)
    in_p3 = sum("p3" in split(v) for v in d.places["phase_id"]) + 1  # + boundary
    assert 1 < in_p3 < total
    browser.find_element("css selector", '#cgt-panel [data-phase="001:p3"]').click()
    assert browser.execute_script("return CGT.counts().visible") == in_p3
    assert browser.execute_script(MAIN_PATHS) == in_p3
    hidden = browser.execute_script(
        "var l = CGT.byKey['001|p|001.wenchang_jie_wangchuanlou'].layer;"
        "return !!(l._path && l._path.isConnected)"
    )
    assert hidden is False  # a first-batch market (phases 1 and 2) is not drawn in the third
    status = browser.execute_script("return document.getElementById('cgt-phase-status').textContent")
    assert "第三阶段" in status and f"显示 {in_p3} / {total}" in status
    browser.save_screenshot(str(screens / "phase_001_p3.png"))
    browser.find_element("css selector", '#cgt-panel [data-phase=""]').click()
    assert browser.execute_script(MAIN_PATHS) == total
    check_clean(browser)


def test_hostile_names_stay_text(browser, hostile, screens, tmp_path):
    open_map(browser, write_map(hostile, tmp_path / "002.html"))
    schools = hostile.kind_places[hostile.kind_places["name"] == XSS]
    assert len(schools) == 1
    key = f"002|p|{schools['id'].iloc[0]}"
    click_feature(browser, key)
    text = popup_text(browser)
    assert text and XSS in text and "<b>bold</b> {{x}} note" in text
    made = browser.execute_script(
        "var c = document.querySelector('.leaflet-popup-content');"
        "return [c.querySelectorAll('img').length,"
        " Array.prototype.some.call(c.querySelectorAll('b'),"
        "   function (b) { return b.textContent === 'bold'; })]"
    )
    assert made == [0, False]  # neither the name nor the note became elements
    # The tooltip, and the zone drawn around the school, show the name as text too.
    tip = browser.execute_script(
        "var l = CGT.tooltip(arguments[0]); l.openTooltip();return l.getTooltip().getElement().textContent",
        key,
    )
    assert XSS in tip
    browser.save_screenshot(str(screens / "hostile_002.png"))
    browser.find_element("css selector", ".cgt-search-button").click()  # the search box unfolds
    box = browser.find_element("css selector", ".cgt-search input")
    box.send_keys("<img")
    items = browser.find_elements("css selector", ".cgt-search li")
    assert items and items[0].text.startswith(XSS)
    box.clear()
    box.send_keys("7*7")
    items = browser.find_elements("css selector", ".cgt-search li")
    assert items and items[0].text.startswith(TEMPLATE_NAME)
    items[0].click()
    time.sleep(0.3)
    assert TEMPLATE_NAME in popup_text(browser)
    assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"]').length") == 0
    check_clean(browser)
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018


def with_many_points(d, n: int = 2100):
    """``d`` with ``n`` extra named school points (more than CANVAS_POINTS)."""
    import dataclasses

    import geopandas as gpd
    import numpy as np
    from shapely.geometry import Point

    rng = np.random.default_rng(7)
    lon0, lat0 = d.region.centre
    pts = [Point(lon0 + dx, lat0 + dy) for dx, dy in rng.uniform(-0.03, 0.03, size=(n, 2))]
    rows = d.kind_places.iloc[[0] * n].drop(columns="geometry").reset_index(drop=True)
    rows["id"] = [f"pt{i:05d}" for i in range(n)]
    rows["name"] = [f"测试学校{i}" for i in range(n)]
    rows["kind"] = "school"
    extra = gpd.GeoDataFrame(rows, geometry=pts, crs="EPSG:4326")
    import pandas as pd

    kind_places = gpd.GeoDataFrame(pd.concat([d.kind_places, extra], ignore_index=True), crs="EPSG:4326")
    return dataclasses.replace(d, kind_places=kind_places)


def test_many_points_use_canvas(browser, built, screens, tmp_path):
    d = with_many_points(built["002"])
    t0 = time.perf_counter()
    html = render_map(d)
    elapsed = time.perf_counter() - t0
    assert '"preferCanvas": true' in html
    print(f"rendered {len(d.kind_places)} kind places in {elapsed:.2f} s, {len(html) / 1e6:.1f} MB")
    path = tmp_path / "many.html"
    path.write_text(html, encoding="utf-8")
    open_map(browser, path)
    assert browser.execute_script("return CGT.counts().total") == expected_features(d)
    assert browser.execute_script("return CGT.focus('002|p|pt01234')") is True
    time.sleep(0.3)
    assert "测试学校1234" in popup_text(browser)
    assert browser.execute_script("return CGT.hlKey") == "002|p|pt01234"
    # A click on a point drawn on the shared canvas finds that point (hit test, not DOM).
    from selenium.webdriver.common.action_chains import ActionChains

    x, y = browser.execute_script(
        "CGT.map.closePopup(); var e = CGT.byKey['002|p|pt00042']; CGT.map.setView(CGT.latLng(e), 18,"
        " {animate: false}); var p = CGT.map.latLngToContainerPoint(CGT.latLng(e)),"
        " r = CGT.map.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y];"
    )
    time.sleep(0.2)
    actions = ActionChains(browser)
    actions.w3c_actions.pointer_action.move_to_location(int(x), int(y))
    actions.w3c_actions.pointer_action.click()
    actions.perform()
    time.sleep(0.3)
    title = browser.execute_script(
        "var t = document.querySelector('.cgt-pop-title'); return t && t.textContent"
    )
    assert title == "测试学校42"
    browser.save_screenshot(str(screens / "many_points.png"))
    check_clean(browser)


def test_many_schools_with_zones_on_canvas(browser, screens, tmp_path):
    """2,100 gazetteer schools, each with its 200 m zone: both drawn on canvases, the page's
    columns written as runs, a click on a school gives the school (not the zone under it)."""
    import numpy as np
    import shapely

    from geo.regions import get_region

    poly = get_region("许昌").boundary
    b = poly.bounds
    xy = np.random.default_rng(11).uniform((b[0], b[1]), (b[2], b[3]), size=(6000, 2))
    xy = xy[shapely.contains_xy(poly, xy[:, 0], xy[:, 1])][:2100]
    gaz = tmp_path / "schools.csv"
    gaz.write_text(
        "name,kind,lon,lat,crs\n"
        + "".join(f"校{i}号,school,{x:.6f},{y:.6f},wgs84\n" for i, (x, y) in enumerate(xy)),
        encoding="utf-8",
    )
    d = build_plan(get_plan("002"), gazetteers=[gaz])
    html = render_map(d)
    cfg = config_of(html)
    big = [lay for lay in cfg["layers"] if lay["c"] in ("points", "circles") and isinstance(lay["id"], dict)]
    assert {lay["c"] for lay in big} == {"points", "circles"}
    # The zones around the schools take the schools' coordinates instead of repeating them.
    assert [lay["c"] for lay in big if "xy" in lay] == ["circles"]
    path = tmp_path / "schools.html"
    path.write_text(html, encoding="utf-8")
    open_map(browser, path)
    assert browser.execute_script("return CGT.counts().total") == expected_features(d)
    assert browser.execute_script("return CGT.bulks.length") == 2
    # Every school is found by name, and the key of what is found is that school's.
    found = browser.execute_script("return CGT.search.filter(function (s) { return s[0] === '校1234号'; })")
    assert len(found) == 1
    key = found[0][2]
    x, y = browser.execute_script(
        "var e = CGT.byKey[arguments[0]]; CGT.map.setView(CGT.latLng(e), 17, {animate: false});"
        " var p = CGT.map.latLngToContainerPoint(CGT.latLng(e)),"
        " r = CGT.map.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y];",
        key,
    )
    time.sleep(0.3)
    from selenium.webdriver.common.action_chains import ActionChains

    actions = ActionChains(browser)
    actions.w3c_actions.pointer_action.move_to_location(int(x), int(y))
    actions.w3c_actions.pointer_action.click()
    actions.perform()
    time.sleep(0.3)
    title = browser.execute_script(
        "var t = document.querySelector('.cgt-pop-title'); return t && t.textContent"
    )
    assert title == "校1234号"
    # Zones are drawn: the zones' canvas has coloured pixels around the school.
    painted = browser.execute_script(
        "var b = CGT.bulks.filter(function (b) { return b.Ld.c === 'circles'; })[0], c = b._canvas;"
        " var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, n = 0;"
        " for (var i = 3; i < d.length; i += 4) { if (d[i]) { n++; } } return n / (d.length / 4);"
    )
    assert painted > 0.05
    browser.save_screenshot(str(screens / "many_schools_zones.png"))
    check_clean(browser)


# --------------------------------------------------------------------------------------------
# Reading the map at a glance: labels, search highlight, layout, empty plans, plain Chinese

SIZES = [(1600, 1000), (1280, 720)]


def set_viewport(driver, width: int, height: int) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def named_places(d) -> set[str]:
    names = set(d.places["name"].dropna()) | set(d.spacing["name"].dropna()) if len(d.spacing) else set()
    return {n for n in (names | set(d.places["name"].dropna())) if n}


LABELS = """
return Array.prototype.map.call(document.querySelectorAll('.cgt-label'), function (n) {
  var r = n.getBoundingClientRect();
  return [n.textContent, r.left, r.top, r.right, r.bottom];
});
"""

# Container-pixel boxes of every drawn feature (not the boundary) and of the furniture.
BOXES = """
var map = CGT.map, out = [];
CGT.entries.forEach(function (e) {
  if (!e.layer || !CGT.data.groups[CGT.data.layers[e.li].g].i) { return; }
  if (!e.parent.hasLayer(e.layer)) { return; }
  var l = e.layer, b = l.getBounds ? l.getBounds() : L.latLngBounds([l.getLatLng(), l.getLatLng()]);
  var p1 = map.latLngToContainerPoint(b.getSouthWest()), p2 = map.latLngToContainerPoint(b.getNorthEast());
  var r = l.options.radius && !(l instanceof L.Circle) ? l.options.radius : 0;
  out.push([e.key, Math.min(p1.x, p2.x) - r, Math.min(p1.y, p2.y) - r, Math.max(p1.x, p2.x) + r,
            Math.max(p1.y, p2.y) + r]);
});
var c = map.getContainer().getBoundingClientRect(), furn = {};
[['overview', '.leaflet-control-minimap'], ['legend', '#cgt-legend']].forEach(function (s) {
  var n = document.querySelector(s[1]);
  if (!n) { return; }
  var r = n.getBoundingClientRect();
  if (r.width && r.height) {
    furn[s[0]] = [r.left - c.left, r.top - c.top, r.right - c.left, r.bottom - c.top];
  }
});
return [out, furn];
"""


def overlap(a, b) -> bool:
    return a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("pid", PLANS)
def test_labels_layout_and_search(browser, built, screens, tmp_path, pid, size):
    d = built[pid]
    set_viewport(browser, *size)
    try:
        open_map(browser, write_map(d, tmp_path / f"{pid}.html"))
        # Nothing drawn sits under the overview map or the legend at the opening view.
        boxes, furniture = browser.execute_script(BOXES)
        assert "legend" in furniture
        for key, *box in boxes:
            for what, rect in furniture.items():
                assert not overlap(box, rect), f"{key} is under the {what} at {size}"
        # Names on the map: at the opening zoom or one level in, as DOM text, not overlapping.
        names = named_places(d)
        labels = browser.execute_script(LABELS)
        if names and not labels:
            browser.execute_script("CGT.map.zoomIn(1, {animate: false})")
            time.sleep(0.3)
            labels = browser.execute_script(LABELS)
        if names:
            texts = [lab[0] for lab in labels]
            assert texts, f"no labels on plan {pid}"
            assert set(texts) <= names | set(d.kind_places["name"].dropna())
            # Most named places are labelled at this zoom (the rest would collide).
            assert len(set(texts) & names) >= min(3, len(names)), texts
            for i, a in enumerate(labels):
                for b in labels[i + 1 :]:
                    assert not overlap(a[1:], b[1:]), f"labels {a[0]} and {b[0]} overlap"
        browser.save_screenshot(str(screens / f"labels_{pid}_{size[0]}x{size[1]}.png"))
        # Searching a name highlights exactly that feature, in view.
        search = [
            (n, k)
            for n, k in browser.execute_script("return CGT.search.map(function (s) { return [s[0], s[2]]; })")
        ]
        if search:
            name, key = next((n, k) for n, k in search if sum(1 for m, _ in search if m == n) == 1)
            browser.find_element("css selector", ".cgt-search-button").click()
            box = browser.find_element("css selector", ".cgt-search input")
            box.send_keys(name)
            items = browser.find_elements("css selector", ".cgt-search li")
            hit = [i for i in items if i.text.split("\n")[0] == name or i.text.startswith(name)]
            hit[0].click()
            time.sleep(0.3)
            assert browser.execute_script("return CGT.hlKey") == key
            assert browser.execute_script("return document.querySelectorAll('path.cgt-halo').length") == 1
            inview = browser.execute_script(
                "var e = CGT.byKey[arguments[0]]; return CGT.map.getBounds().contains(CGT.latLng(e))", key
            )
            assert inview
            assert name in popup_text(browser)
        # No focus rectangle on clicked shapes.
        outline = browser.execute_script(
            "var p = document.querySelector('path.leaflet-interactive');"
            "if (!p) { return 'none'; } p.setAttribute('tabindex', '0'); p.focus();"
            "return getComputedStyle(p).outlineStyle"
        )
        assert outline == "none"
        check_clean(browser)
    finally:
        set_viewport(browser, 1400, 900)


def test_empty_plan_says_so(browser, built, screens, tmp_path):
    d = built["003"]
    html = render_map(d)
    assert "乡镇界缺" in html  # the 临县 polygon stands in for 临泉镇, and the label says so
    open_map(browser, write_map(d, tmp_path / "003.html"))
    panel = browser.execute_script("return document.getElementById('cgt-panel').textContent")
    for t in d.plan.tasks:
        assert t.title in panel
    from geo.analysis import coverage

    cov = coverage(d)
    for unit in cov.loc[cov["n_tasks"] > 0, "unit"]:
        assert unit in panel
    assert d.region.boundary_label == "临县（乡镇界缺，以县界示意）"
    assert d.region.boundary_label in panel
    layers = browser.execute_script("return document.querySelector('.leaflet-control-layers').textContent")
    assert "以县界示意" in layers
    # No phase button that changes nothing; the phases are still listed.
    assert browser.execute_script("return document.querySelectorAll('[data-phase]').length") == 0
    for ph in d.plan.phases:
        assert ph.name in panel
    msg = browser.execute_script(
        "var m = document.querySelector('.cgt-empty'); return m && m.offsetParent ? m.textContent : null"
    )
    assert msg and "未列出可上图的具体地点" in msg
    browser.save_screenshot(str(screens / "empty_003.png"))
    check_clean(browser)


def test_schematic_figures_are_marked(built):
    html = render_map(built["002"])
    assert "<small>示意</small>" in html  # 街路km / 范围km² computed from schematic geometry
    assert "数字化 — 0 0" not in html


def test_units_without_work_are_not_rows(built):
    from geo.analysis import coverage

    d = built["001"]
    cov = coverage(d)
    idle = cov[(cov["n_tasks"] == 0) & (cov["n_rules"] == 0) & (cov["n_places"] == 0)]
    html = render_map(d)
    for unit in idle["unit"]:
        assert f"<th>{unit}</th>" not in html


# Words a map may show in Latin letters: units, coordinate systems, data sources.
ASCII_OK = {"km", "m", "WGS", "CGCS", "GCJ", "OpenStreetMap", "fast", "geocn", "csv"}

TEXTS = """
var out = [];
['#cgt-panel', '#cgt-legend', '.leaflet-control-layers'].forEach(function (s) {
  var n = document.querySelector(s); if (n) { out.push(n.textContent); }
});
CGT.entries.forEach(function (e) {
  if (!CGT.data.groups[CGT.data.layers[e.li].g].i) { return; }
  out.push(CGT.popupNode(e).textContent);
  out.push(CGT.tipNode(e).textContent);
});
return out;
"""


@pytest.mark.parametrize("pid", PLANS)
def test_plain_chinese(browser, built, tmp_path, pid):
    d = built[pid]
    open_map(browser, write_map(d, tmp_path / f"{pid}.html"))
    texts = browser.execute_script(TEXTS)
    # Latin words the plan itself prints (LED, PPP …) and names from the data may appear.
    own = json.dumps(d.plan.model_dump(mode="json"), ensure_ascii=False)
    allowed = ASCII_OK | set(re.findall(r"[A-Za-z]+", own))
    for layer in (d.places, d.kind_places, d.spacing):
        if len(layer) and "name" in layer:
            allowed |= set(re.findall(r"[A-Za-z]+", " ".join(layer["name"].dropna())))
    words = {w for t in texts for w in re.findall(r"[A-Za-z]{2,}", t)} - allowed
    assert words == set(), sorted(words)
    check_clean(browser)


def test_spacing_popup_counts_ads(browser, built, tmp_path):
    d = built["002"]
    open_map(browser, write_map(d, tmp_path / "002.html"))
    sp = d.spacing.sort_values("id").iloc[0]
    rule = next(r for r in d.plan.rules if r.id == sp["rule_id"])
    key = f"002|s|{rule.id}|{sp['id']}"
    text = browser.execute_script("return CGT.popupNode(CGT.byKey[arguments[0]]).textContent", key)
    import math

    import geopandas as gpd

    length = float(gpd.GeoSeries([sp.geometry], crs=4326).to_crs(d.region.epsg).length.iloc[0])
    need = max(math.ceil(round(length, 1) / rule.distance_m), 1)
    assert f"{round(length):,} 米" in text
    assert f"至少 {need} 处" in text
    assert (
        f"{rule.share.min_pct:g}%" in text and f"至少 {math.ceil(need * rule.share.min_pct / 100)} 处" in text
    )


# --------------------------------------------------------------------------------------------
# One symbology: the screen draws each class in the colour the printed map uses


@pytest.mark.parametrize("pid", ["000", "001", "002", "004"])
def test_same_colour_on_screen_and_on_paper(built, pid):
    from geo.publish import style as S
    from geo.publish.static import build_figure

    d = built[pid]
    cfg = config_of(render_map(d))
    paper = artist_colours(build_figure(d))
    rows = {}
    for frame, named in ((d.places, True), (d.kind_places, False)):
        for r in frame.to_dict("records"):
            tags = split(r.get("tags")) if isinstance(r.get("tags"), str) else []
            key = S.place_key(r["kind"], tags, r.get("batch")) if named else f"kind:{r['kind']}"
            rows[r["id"]] = key
    checked = 0
    for lay in cfg["layers"]:
        ids = [cfg["texts"][i] for i in lay["id"]]
        sts = lay["st"] if isinstance(lay["st"], list) else [lay["st"]] * len(ids)
        for pid_, si in zip(ids, sts, strict=True):
            style = cfg["styles"][si]
            screen = style["fillColor"] if lay["c"] == "points" else style["color"]
            if lay["kp"].endswith("|p|"):
                key = rows[pid_]
            elif "|z|" in lay["kp"]:
                rule = lay["kp"].split("|z|")[1].split(".")[1] if lay["kp"].count(".") >= 2 else None
                if rule is None:
                    continue
                key = S.zone_styles(d.plan.rules)[rule].key
            elif "|s|" in lay["kp"]:
                key = "spacing"
            else:
                key = "region"
            assert screen == S.style_for(key).colour or key.startswith("zone"), (pid_, key, screen)
            if key.startswith("zone"):
                assert screen == next(s.colour for s in S.zone_styles(d.plan.rules).values() if s.key == key)
            if key in paper:
                assert paper[key] == {screen}, (key, paper[key], screen)
                checked += 1
    assert checked >= 3
