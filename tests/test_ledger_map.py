"""The 问题台账 layer in a real headless Chromium with the network off (harness of test_html.py):
markers, clusters, overdue styling, grid shading, the unit table, and escaped popups."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from test_html import XSS, browser, check_clean, open_map, screens  # noqa: F401  (fixtures)

from geo.build import build_plan
from geo.ledger.assign import context_for
from geo.ledger.cases import import_cases
from geo.ledger.grid import make_grid, save_grid
from geo.ledger.report import export_frame
from geo.ledger.store import open_store
from geo.publish import assets
from geo.publish.cases_layer import STATUS_COLORS, add_cases_layer
from geo.publish.html import render_map

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2023-04-20"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ledger_map")
    ctx, _ = context_for(["000"])
    db = tmp / "ledger.gpkg"
    # The example cases plus one hostile, overdue case a little apart from the others.
    with (ROOT / "examples" / "cases.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    hostile = dict(rows[0])
    hostile.update({"案件编号": "XSS1", "问题描述": XSS, "状态": "待处置", "结案时间": "",
                    "上报时间": "2023-04-01 09:00", "时限(天)": "2",
                    "经度": f"{float(rows[0]['经度']) + 0.004:.6f}"})  # fmt: skip
    src = tmp / "cases.csv"
    with src.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows([*rows, hostile])
    with open_store(db) as store:
        save_grid(store, make_grid(ctx.plans[0].region.boundary, 500, ctx.sources.epsg), ctx.sources.epsg)
        import_cases(store, [src], context=ctx)
        frame = export_frame(store, AS_OF)
        html = add_cases_layer(render_map(build_plan(ctx.plans[0].plan)), store, AS_OF)
    assets.assert_offline(html)
    path = tmp / "map.html"
    path.write_text(html, encoding="utf-8")
    return path, frame


def test_case_layer_in_browser(browser, page, screens):  # noqa: F811
    path, frame = page
    open_map(browser, path)
    for _ in range(100):
        if browser.execute_script("return !!(window.CGTCases && CGTCases.ready)"):
            break
        time.sleep(0.05)
    assert browser.execute_script("return CGTCases.ready") is True
    placed = frame[frame["lon"].notna()]
    assert browser.execute_script("return CGTCases.markers.length") == len(placed)
    n_over = browser.execute_script(
        "return CGTCases.markers.filter(function (m) { return m.options.cgtCase.o; }).length"
    )
    assert n_over == int(placed["overdue"].sum()) > 0
    # At the opening zoom nearby cases are clustered; clusters holding an overdue case are red.
    assert browser.execute_script("return document.querySelectorAll('.cgt-case-cluster').length") > 0
    shown = browser.execute_script(
        "return document.querySelectorAll('.cgt-case').length + "
        "Array.prototype.reduce.call(document.querySelectorAll('.cgt-case-cluster span'),"
        " function (s, e) { return s + parseInt(e.textContent, 10); }, 0)"
    )
    legend_swatches = browser.execute_script(
        "return document.querySelectorAll('.cgt-case-legend .cgt-case').length"
    )
    assert shown - legend_swatches == len(placed)
    # Grid cells with overdue cases are shaded, the others are not.
    shaded = browser.execute_script(
        "var n = 0, z = 0; CGTCases.grid.eachLayer(function (l) {"
        " if (l.cgtOverdue > 0) { n += l.options.fillOpacity > 0 ? 1 : 0; }"
        " else { z += l.options.fillOpacity; } });"
        " return [n, z];"
    )
    cells_over = frame[frame["overdue"] & frame["grid_code"].notna()]["grid_code"].nunique()
    assert shaded == [cells_over, 0]
    panel = browser.execute_script("return document.getElementById('cgt-case-panel').textContent")
    assert "问题台账" in panel and AS_OF in panel and "结案率" in panel
    browser.save_screenshot(str(screens / "ledger_overview.png"))

    # Zoom to the hostile case: a single marker in the overdue colour; its popup shows the text as text.
    browser.execute_script(
        "var m = CGTCases.markers.filter(function (m) { return m.options.cgtCase.id === 'XSS1'; })[0];"
        "CGT.map.setView(m.getLatLng(), 18, {animate: false});"
    )
    time.sleep(0.5)
    colour = browser.execute_script(
        "var m = CGTCases.markers.filter(function (m) { return m.options.cgtCase.id === 'XSS1'; })[0];"
        "var e = m.getElement(); return e ? getComputedStyle(e).backgroundColor : null;"
    )
    h = STATUS_COLORS["overdue"].lstrip("#")
    assert colour == f"rgb({int(h[0:2], 16)}, {int(h[2:4], 16)}, {int(h[4:6], 16)})"
    point = browser.execute_script(
        "var m = CGTCases.markers.filter(function (m) { return m.options.cgtCase.id === 'XSS1'; })[0];"
        "var r = m.getElement().getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2];"
    )
    from selenium.webdriver.common.action_chains import ActionChains

    actions = ActionChains(browser)
    actions.w3c_actions.pointer_action.move_to_location(int(point[0]), int(point[1]))
    actions.w3c_actions.pointer_action.click()
    actions.perform()
    time.sleep(0.3)
    text = browser.execute_script(
        "var p = document.querySelector('.leaflet-popup-content'); return p ? p.textContent : null"
    )
    assert text is not None and XSS in text and "超期" in text
    assert (
        browser.execute_script("return document.querySelectorAll('.leaflet-popup-content img').length") == 0
    )
    browser.save_screenshot(str(screens / "ledger_popup.png"))
    check_clean(browser)
