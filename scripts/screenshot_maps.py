"""Screenshots of the five bundled plans' interactive maps at 1600×1000 and 1280×720.

Builds each plan from the schematic default, writes its map, opens it in Debian's headless
Chromium (network cut off) and saves ``<out>/map_<plan>_<w>x<h>.png``. Prints any JavaScript
error it sees. Usage: ``python scripts/screenshot_maps.py [out_dir]`` (default ``screens/``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from geo.build import build_plan
from geo.plan import get_plan
from geo.publish.html import write_map

PLANS = ["000", "001", "002", "003", "004"]
SIZES = [(1600, 1000), (1280, 720)]


def driver(width: int, height: int) -> webdriver.Chrome:
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--hide-scrollbars",
        "--lang=zh-CN",
    ):
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    d.set_window_rect(width=width, height=height)
    # The window has browser chrome in headless mode too; size the viewport exactly.
    d.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    d.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": "window.__errors=[];"
            "addEventListener('error',function(e){__errors.push(String(e.message))});"
        },
    )
    return d


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    pages = {}
    for pid in PLANS:
        pages[pid] = write_map(build_plan(get_plan(pid)), out / f"map_{pid}.html")
    bad = 0
    for w, h in SIZES:
        drv = driver(w, h)
        try:
            for pid, path in pages.items():
                drv.get(path.as_uri())
                for _ in range(100):
                    if drv.execute_script("return !!(window.CGT && CGT.ready)"):
                        break
                    time.sleep(0.05)
                time.sleep(0.5)
                png = out / f"map_{pid}_{w}x{h}.png"
                drv.save_screenshot(str(png))
                errors = drv.execute_script("return window.__errors")
                labels = drv.execute_script("return CGT.labelCount")
                print(f"{png}  labels={labels}  errors={errors}")
                bad += bool(errors)
        finally:
            drv.quit()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("screens")))
