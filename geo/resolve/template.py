"""A gazetteer template: the plans' places that no real source resolves, as a sheet to fill in.

OpenStreetMap is thin in the plans' cities and many places (马路市场, 路段) exist only in a plan;
the people who run the plans know where they are. :func:`template_rows` lists every place of
the given plans that the real sources (the user's OSM extracts and gazetteers, never the bundled
schematic) cannot place: the name exactly as written, its kind, the parsed street, anchor and
relation, the clause, and empty coordinates with a ``坐标系`` column defaulting to ``gcj02``
(points picked on 高德/腾讯 maps). :func:`write_template` writes it as an XLSX workbook, with a
second sheet explaining how to fill it in, and the same rows as a GBK CSV beside it.

Filled in, the file is an ordinary gazetteer (:func:`geo.resolve.gazetteer.read_gazetteer`
reads its ``名称, 类型, 经度, 纬度, 坐标系, 几何, 标签, 备注`` columns and ignores the others):
passed back with ``--gazetteer`` its rows win over every other source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .._io import atomic_path
from ..layers import join
from ..plan import PLACE_KINDS, Plan

__all__ = ["TEMPLATE_COLUMNS", "template_rows", "write_template"]

#: Column key → header written (Chinese, as the staff who fill it in read it). The reader
#: knows 名称/类型/经度/纬度/坐标系/几何/标签/备注; the other columns are context and are ignored.
TEMPLATE_COLUMNS: dict[str, str] = {
    "name": "名称",
    "kind": "类型",
    "lon": "经度",
    "lat": "纬度",
    "crs": "坐标系",
    "wkt": "几何",
    "note": "备注",
    "street": "街路",
    "anchor": "参照物",
    "relation": "方位关系",
    "tags": "标签",
    "plan": "方案",
    "place_id": "地点编号",
    "clause": "条文",
}

#: The coordinate system staff pick points in (高德 and 腾讯 maps use GCJ-02).
DEFAULT_CRS = "gcj02"

#: The second sheet: how to fill the template in.
INSTRUCTIONS: tuple[str, ...] = (
    "地名表填写说明",
    "",
    "1. “地点”表每行是方案中写到、但现有真实数据（OpenStreetMap、已有地名表）找不到位置的一个地点。"
    "请在地图上找到它，填写经度、纬度。",
    "2. 坐标系：默认 gcj02，即在高德地图、腾讯地图上拾取的坐标；取自百度地图的填 bd09；"
    "取自天地图、GPS 或测绘成果的填 wgs84 或 cgcs2000。",
    "3. 经纬度填小数形式的度（不是度分秒），经度一列、纬度一列，不要填反。",
    "4. 街路、路段、片区：可只填一个代表点（如路段中点）；能描出走向或范围的，在“几何”列填 WKT，"
    "如 LINESTRING(经度1 纬度1, 经度2 纬度2) 或 POLYGON((…))，坐标系同该行“坐标系”，此时经纬度可留空。",
    "5. 请勿改动“名称”列：程序按名称把这一行对上方案中的地点。“类型”可改为更准确的类型（见下表）。",
    "6. “街路”“参照物”“方位关系”“方案”“地点编号”“条文”各列只帮助查找，不会读入；“标签”“备注”会读入。",
    "7. 找不到或拿不准的地点，经纬度留空即可：程序不会猜测位置，它会继续列在“未定位清单”中。",
    "8. 可以另加行，例如全市的中小学校、农贸市场、医院"
    "（类型填 中小学校、市场、医院；农贸市场在“标签”填 农贸市场），"
    "按类型适用的距离规则（如学校周边 200 米）会用到它们。",
    "9. 填好后保存为 xlsx 或 csv，运行：geo build 方案编号 --gazetteer 本文件。"
    "地图用到的地点全部来自地名表或真实数据时，地图不再标注“示意”。",
    "",
    "类型取值：",
    *(f"{label}（{key}）" for key, label in PLACE_KINDS.items()),
)


@dataclass(frozen=True)
class _Entry:
    plan: str
    place_id: str
    name: str
    kind: str
    street: str
    anchor: str
    relation: str
    tags: str
    clause: str


def _entries(plan: Plan) -> list[_Entry]:
    out = []
    for p in plan.places:
        loc = p.locator
        out.append(
            _Entry(
                plan=plan.id,
                place_id=f"{plan.id}.{p.id}",
                name=p.name,
                kind=p.kind,
                street=(loc.street or "") if loc else "",
                anchor=(loc.anchor or "") if loc else "",
                relation=(loc.relation or "") if loc else "",
                tags=join(p.tags),
                clause=p.clause or "",
            )
        )
    return out


def template_rows(
    plans: Sequence[Plan],
    *,
    osm: Sequence[str | Path] = (),
    gazetteers: Sequence[str | Path] = (),
) -> pd.DataFrame:
    """The places of ``plans`` that no real source resolves, one row per distinct name.

    Parameters
    ----------
    plans : sequence of Plan
    osm, gazetteers : sequences of paths
        The real sources to try first (see :func:`geo.resolve.build_sources`); the bundled
        schematic extract is never used here. With none, every place is listed.

    Returns
    -------
    DataFrame
        Columns :data:`TEMPLATE_COLUMNS` (keys), in plan order; ``kind`` holds the Chinese
        label (中小学校), ``lon``/``lat``/``wkt``/``note`` are empty, ``crs`` is ``gcj02``.
        A name written in several plans gets one row, with the plans and place ids joined by ``;``.
    """
    from ..regions import get_region
    from .resolver import build_sources, resolve_plan

    missing: list[_Entry] = []
    sources_by_region: dict[str, object] = {}
    for plan in plans:
        entries = _entries(plan)
        if not (osm or gazetteers):
            missing.extend(entries)
            continue
        region = get_region(plan.document.region)
        if region.id not in sources_by_region:
            sources_by_region[region.id] = build_sources(
                region, osm=osm, gazetteers=gazetteers, schematic=False
            )[0]
        _, unresolved = resolve_plan(plan, sources_by_region[region.id])
        gone = {f"{plan.id}.{pid}" for pid in unresolved["place_id"]}
        missing.extend(e for e in entries if e.place_id in gone)

    rows: dict[str, dict[str, str]] = {}
    for e in missing:
        row = rows.get(e.name)
        if row is not None:  # the same name in another plan: one row to fill in
            row["plan"] = join(dict.fromkeys([*row["plan"].split(";"), e.plan]))
            row["place_id"] = join([*row["place_id"].split(";"), e.place_id])
            continue
        rows[e.name] = {
            "name": e.name,
            "kind": PLACE_KINDS[e.kind],
            "lon": "",
            "lat": "",
            "crs": DEFAULT_CRS,
            "wkt": "",
            "note": "",
            "street": e.street,
            "anchor": e.anchor,
            "relation": e.relation,
            "tags": e.tags,
            "plan": e.plan,
            "place_id": e.place_id,
            "clause": e.clause,
        }
    return pd.DataFrame(list(rows.values()), columns=list(TEMPLATE_COLUMNS))


def csv_path(xlsx: str | Path) -> Path:
    """The GBK CSV written beside the workbook (``places.xlsx`` → ``places.csv``)."""
    return Path(xlsx).with_suffix(".csv")


def write_template(rows: pd.DataFrame, path: str | Path) -> tuple[Path, Path]:
    """Write the template: ``path`` (XLSX: sheet 地点 and sheet 填写说明) and a GBK CSV beside it.

    Every cell is written as text, so no name or clause can turn into a spreadsheet formula.
    Both files are written to temporary names first and renamed only when both succeeded.

    Returns
    -------
    (xlsx, csv) : tuple of Path
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    xlsx, csv = Path(path), csv_path(path)
    headers = list(TEMPLATE_COLUMNS.values())
    table = rows.rename(columns=TEMPLATE_COLUMNS)[headers]

    wb = Workbook()
    ws = wb.active
    ws.title = "地点"
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for values in table.itertuples(index=False):
        ws.append(list(values))
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.data_type = "s"  # text, never a formula
    widths = {"名称": 28, "类型": 10, "经度": 14, "纬度": 14, "坐标系": 9, "几何": 20, "条文": 60}
    for i, h in enumerate(headers, start=1):
        ws.column_dimensions[ws.cell(1, i).column_letter].width = widths.get(h, 14)
    ws.freeze_panes = "A2"
    help_ws = wb.create_sheet("填写说明")
    for line in INSTRUCTIONS:
        help_ws.append([line])
        help_ws.cell(help_ws.max_row, 1).data_type = "s"
    help_ws.column_dimensions["A"].width = 120
    help_ws["A1"].font = Font(bold=True, size=13)
    for row in help_ws.iter_rows(min_row=2):
        row[0].alignment = Alignment(wrap_text=True, vertical="top")

    text = table.to_csv(index=False, lineterminator="\r\n")
    try:
        data = text.encode("gbk")
    except UnicodeEncodeError:  # a character outside GBK: GB18030 is its superset
        data = text.encode("gb18030")
    with atomic_path(xlsx) as tmp_x, atomic_path(csv) as tmp_c:
        wb.save(tmp_x)
        tmp_c.write_bytes(data)
    return xlsx, csv
