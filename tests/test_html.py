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


def config_of(html: str) -> dict:
    m = re.search(r"CGT\.configure\((\{.*?\})\);\n</script>", html, re.DOTALL)
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
    assert len(cfg["features"]) == expected_features(d) - 1  # the boundary has no popup
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
    cfg = config_of(html)
    names = [s[0] for s in cfg["search"]]
    assert XSS in names and TEMPLATE_NAME in names  # raw in the index; written with textContent
    popups = json.dumps(cfg, ensure_ascii=False)
    assert "&lt;img src=x onerror=alert(1)&gt;" in popups


def test_phase_argument(built):
    d = built["001"]
    assert config_of(render_map(d, phase="p2"))["options"]["phase"] == "001:p2"
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
    assert d.plan.document.doc_label in panel and "全部阶段" in panel
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
        "var l = CGT.byKey[arguments[0]].layer; l.openTooltip();"
        "return l.getTooltip().getElement().textContent",
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
    browser.save_screenshot(str(screens / "many_points.png"))
    check_clean(browser)
