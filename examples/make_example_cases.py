"""Regenerate examples/cases.csv: invented cases (示例数据) placed on the bundled schematic extract.

The cases are not real. Their positions are points along the named streets of the bundled
schematic (示意) extract of 晋城市城区 (data/osm/jincheng.schematic.osm), so every map drawn
from them is schematic too. Run: python examples/make_example_cases.py
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geo.regions import get_region
from geo.resolve import build_sources

CATEGORIES = ["占道经营", "乱堆物料", "垃圾满溢", "井盖缺失", "违规广告", "车辆乱停放", "餐饮油烟"]
STATUSES = ["待处置", "处置中", "已结案", "已结案", "已销号"]


def main() -> None:
    rng = np.random.default_rng(20230315)
    sources, _ = build_sources(get_region("晋城市城区"))
    streets = sources.streets[sources.streets["name"].fillna("") != ""].reset_index(drop=True)
    metric = gpd.GeoSeries(streets.geometry, crs=4326).to_crs(sources.epsg)
    rows = []
    start = dt.datetime(2023, 3, 16, 8, 30)
    for i in range(36):
        k = i % len(streets)
        line = shapely.line_merge(metric.iloc[k])
        if line.geom_type != "LineString":
            line = max(line.geoms, key=lambda g: g.length)
        pt_m = line.interpolate(float(rng.uniform(0.1, 0.9)), normalized=True)
        pt = gpd.GeoSeries([pt_m], crs=sources.epsg).to_crs(4326).iloc[0]
        reported = start + dt.timedelta(days=int(rng.integers(0, 30)), hours=int(rng.integers(0, 9)))
        limit = int(rng.choice([1, 3, 5, 7]))
        status = STATUSES[int(rng.integers(0, len(STATUSES)))]
        closed = ""
        if status in ("已结案", "已销号"):
            closed = (reported + dt.timedelta(days=int(rng.integers(0, limit + 4)), hours=3)).strftime(
                "%Y-%m-%d %H:%M"
            )
        rows.append(
            {
                "案件编号": f"EX2023{i + 1:04d}",
                "上报时间": reported.strftime("%Y-%m-%d %H:%M"),
                "问题类型": CATEGORIES[int(rng.integers(0, len(CATEGORIES)))],
                "问题描述": f"{streets['name'].iloc[k]}沿线（示例）",
                "经度": f"{pt.x:.6f}",
                "纬度": f"{pt.y:.6f}",
                "地址": "",
                "状态": status,
                "时限(天)": str(limit),
                "结案时间": closed,
                "责任单位": "城区市场监管局" if i == 5 else "",
                "数据说明": "示例数据：虚构案件，位置取自示意图",
            }
        )
    # Two cases given by address only: one the schematic extract knows, one nobody does.
    for j, addr in enumerate(("金屯菜市场", "幸福里小区东门")):
        rows.append(
            {
                "案件编号": f"EX2023{37 + j:04d}",
                "上报时间": "2023-04-02 09:15",
                "问题类型": "占道经营",
                "问题描述": f"{addr}（示例）",
                "经度": "",
                "纬度": "",
                "地址": addr,
                "状态": "待处置",
                "时限(天)": "3",
                "结案时间": "",
                "责任单位": "",
                "数据说明": "示例数据：虚构案件，位置取自示意图",
            }
        )
    out = Path(__file__).with_name("cases.csv")
    with out.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {out} ({len(rows)} cases)")


if __name__ == "__main__":
    main()
