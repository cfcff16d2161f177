"""Interactive map size and opening time: ``geo map`` vs plain folium, side by side in one run.

Plan 002 (许昌) with a gazetteer of N schools (random points inside the real 许昌 district
polygon, fixed seed): every school gets the plan's 200 m zone, so the map holds N points and N
zones. For N in 10k and 100k the same schools are drawn three ways:

``geo``
    :func:`geo.publish.html.render_map` (points and zones on canvases, rasterised in script;
    popups built on click). ``drawn.timing_ms`` holds the page's own split of ``CGT.init``
    (cumulative milliseconds: layers made, furniture, opening view, canvases drawn, labels).
``folium_geojson``
    a plain ``folium.GeoJson`` of the points with a name tooltip (what a user would write first).
``folium_fastmarkercluster``
    ``folium.plugins.FastMarkerCluster`` of the points (clustered, no names, no zones).

Each page is written to disk (size in MB, write time) and opened in Debian's headless Chromium
with the network cut off; the opening time runs from navigation start until the page has
loaded and painted twice (two animation frames), measured ``--repeat`` times in round-robin
order (min and median reported). folium links Leaflet and its plugins from CDNs; for a fair
offline comparison its pages get the same vendored files inlined (``geo.publish.assets``), as
a user publishing to an intranet would have to do, and each page is checked to have drawn its
markers. Results go to ``benchmarks/map_results.json`` with machine and load information; the
machine is shared, so the load average is recorded at start and end.

Usage: ``python benchmarks/bench_map.py [--sizes 10000 100000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261129
PLAN = "002"


def machine_info() -> dict:
    """The machine record of ``bench_query.py``, plus what the map pages depend on."""
    import folium

    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    from bench_query import machine_info as base_info

    chromium = ""
    with contextlib.suppress(Exception):
        chromium = subprocess.run(
            ["/usr/bin/chromium", "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    info = base_info()
    info["note"] = "shared machine: other jobs ran during the measurement (see the load averages)"
    info["versions"].update(folium=folium.__version__, chromium=chromium)
    return info


def make_gazetteer(n: int, path: Path) -> Path:
    """``n`` schools at random points inside the 许昌 district polygon (fixed seed)."""
    import numpy as np
    import shapely

    from geo.regions import get_region

    poly = get_region("许昌").boundary
    b = poly.bounds
    rng = np.random.default_rng(SEED)
    out = np.empty((0, 2))
    while len(out) < n:
        xy = rng.uniform((b[0], b[1]), (b[2], b[3]), size=(2 * n, 2))
        out = np.vstack([out, xy[shapely.contains_xy(poly, xy[:, 0], xy[:, 1])]])
    out = out[:n]
    with path.open("w", encoding="utf-8") as f:
        f.write("name,kind,lon,lat,crs\n")
        f.writelines(f"第{i}号学校,school,{x:.6f},{y:.6f},wgs84\n" for i, (x, y) in enumerate(out))
    return path


def write_pages(n: int, folder: Path) -> tuple[dict, dict]:
    """The three pages for ``n`` schools; returns (paths, figures)."""
    import folium
    from folium.plugins import FastMarkerCluster

    from geo.build import build_plan
    from geo.plan import get_plan
    from geo.publish.html import write_map

    gaz = make_gazetteer(n, folder / f"schools_{n}.csv")
    t = time.perf_counter()
    data = build_plan(get_plan(PLAN), gazetteers=[gaz])
    build_s = time.perf_counter() - t
    kp = data.kind_places
    pts = kp[(kp["kind"] == "school") & (kp.geom_type == "Point")]
    paths, figs = {}, {}

    t = time.perf_counter()
    paths["geo"] = write_map(data, folder / f"geo_{n}.html")
    figs["geo"] = {"write_s": time.perf_counter() - t, "build_plan_s": build_s}

    centre = [float(pts.geometry.y.mean()), float(pts.geometry.x.mean())]
    t = time.perf_counter()
    m = folium.Map(location=centre, zoom_start=12, tiles=None, prefer_canvas=True, max_zoom=18)
    folium.GeoJson(
        pts[["name", "geometry"]],
        marker=folium.CircleMarker(radius=5),
        tooltip=folium.GeoJsonTooltip(["name"]),
    ).add_to(m)
    p = folder / f"folium_geojson_{n}.html"
    _save_offline(m, p)
    paths["folium_geojson"] = p
    figs["folium_geojson"] = {"write_s": time.perf_counter() - t}

    t = time.perf_counter()
    m = folium.Map(location=centre, zoom_start=12, tiles=None)
    m.options["max_zoom"] = 18  # the cluster plugin needs it; with no tile layer folium sets none
    # Leaflet's default marker (folium's default callback wants Font Awesome markers).
    callback = "function (row) { return L.marker(new L.LatLng(row[0], row[1])); }"
    coords = list(zip(pts.geometry.y.round(6), pts.geometry.x.round(6), strict=True))
    FastMarkerCluster(coords, callback=callback).add_to(m)
    p = folder / f"folium_fastmarkercluster_{n}.html"
    _save_offline(m, p)
    paths["folium_fastmarkercluster"] = p
    figs["folium_fastmarkercluster"] = {"write_s": time.perf_counter() - t}
    for k, p in paths.items():
        figs[k]["size_mb"] = round(p.stat().st_size / 1e6, 2)
        figs[k]["write_s"] = round(figs[k]["write_s"], 2)
    figs["geo"]["build_plan_s"] = round(build_s, 2)
    figs["geo"]["points"] = len(pts)
    figs["geo"]["zones"] = len(data.zones)
    return paths, figs


def _save_offline(m, path: Path) -> None:
    """Save a folium map with its scripts inlined from the vendored copies (no CDN)."""
    from geo.publish import assets

    root = m.get_root()
    assets.localize(root)
    html = assets.inline(root.render())
    assets.assert_offline(html)
    path.write_text(html, encoding="utf-8")


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1600,1000",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--disable-background-networking",
        "--no-first-run",
    ):
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    d.set_page_load_timeout(300)
    d.set_script_timeout(300)
    d.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": "window.__errors=[];"
            "addEventListener('error',function(e){__errors.push(String(e.message))});"
        },
    )
    d.execute_cdp_cmd("Network.enable", {})
    d.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0},
    )
    return d


def open_time(driver, path: Path) -> float:
    """Seconds from navigation start to the page loaded and painted (two animation frames)."""
    driver.get("about:blank")
    t = time.perf_counter()
    driver.get(path.as_uri())
    driver.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "requestAnimationFrame(function () { requestAnimationFrame(function () { done(); }); });"
    )
    return time.perf_counter() - t


def drawn(driver, kind: str) -> dict:
    """What a page drew (so that a fast open is not an empty one)."""
    if kind == "geo":
        out = driver.execute_script(
            "return {errors: window.__errors, ready: CGT.ready, features: CGT.counts().total,"
            " timing_ms: CGT.timing};"
        )
        out["timing_ms"] = {k: round(v) for k, v in (out.get("timing_ms") or {}).items()}
        return out
    return driver.execute_script(
        "return {errors: window.__errors, leaflet: !!window.L,"
        " paths: document.querySelectorAll('.leaflet-overlay-pane path,"
        " .leaflet-overlay-pane canvas').length,"
        " markers: document.querySelectorAll('.leaflet-marker-pane > *').length};"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "map_results.json")
    args = ap.parse_args(argv)
    result = {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine_info(),
        "method": (
            "plan 002 + gazetteer of N schools inside the 许昌 district polygon (seed "
            f"{SEED}); each page written once; opened --repeat times in headless Chromium "
            "(network emulated offline, hosts unresolvable), round-robin; open = navigation "
            "start to load + two animation frames"
        ),
        "cases": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench_map_") as tmp:
        folder = Path(tmp)
        driver = browser()
        try:
            for n in args.sizes:
                paths, figs = write_pages(n, folder)
                times: dict[str, list[float]] = {k: [] for k in paths}
                for _ in range(args.repeat):
                    for k, p in paths.items():
                        times[k].append(open_time(driver, p))
                        figs[k]["drawn"] = drawn(driver, k)
                for k in paths:
                    figs[k]["open_s_min"] = round(min(times[k]), 2)
                    figs[k]["open_s_median"] = round(statistics.median(times[k]), 2)
                    figs[k]["open_s_all"] = [round(v, 2) for v in times[k]]
                result["cases"].append({"schools": n, "pages": figs})
                print(json.dumps({"schools": n, "pages": figs}, ensure_ascii=False), flush=True)
        finally:
            driver.quit()
    result["machine"]["loadavg_at_end"] = [round(v, 2) for v in os.getloadavg()]
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
