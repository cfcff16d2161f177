"""The side panel (plan summary, phases, units, tasks) and the legend of an interactive map.

The HTML shells live in ``templates/panel.html`` and ``templates/legend.html``; the rows are
filled in here, every text escaped. A plan has tens of tasks and units, so rows are written
one by one.
"""

from __future__ import annotations

import html as _html
from string import Template
from typing import Any

import pandas as pd

from .map_data import MapData, phase_dict
from .templates import read as read_template
from .words import SOURCE_LABELS

__all__ = ["esc", "legend_html", "live_phases", "panel_html"]


def esc(value: Any) -> str:
    """HTML-escape text; braces too (as entities), so no template engine can read it as code."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return _html.escape(str(value).strip(), quote=True).replace("{", "&#123;").replace("}", "&#125;")


def _overlaps(a: dict, b: dict) -> bool:
    return a["start"] <= (b["end"] or "9999-12-31") and b["start"] <= (a["end"] or "9999-12-31")


def live_phases(md: MapData) -> set[str]:
    """Keys of the phases whose button changes what the map shows (some feature not in force)."""
    sets = md.tables.to_json()["phsets"]
    used: set[tuple[str, int]] = set()
    for lay in md.drawn():
        ph = lay.phases
        vals = {int(ph)} if isinstance(ph, int) else {int(v) for v in set(ph.tolist())}
        used |= {(lay.plan, v) for v in vals}
    by_key = {p["k"]: p for p in md.phases}
    live = set()
    for ph in md.phases:
        for plan, si in used:
            if si < 0:
                continue
            ids = sets[si]
            if plan == ph["plan"]:
                in_force = ph["id"] in ids
            else:
                in_force = any(_overlaps(by_key[f"{plan}:{i}"], ph) for i in ids if f"{plan}:{i}" in by_key)
            if not in_force:
                live.add(ph["k"])
                break
    return live


def _coverage_html(d, schematic: bool) -> str:
    """责任单位 table: units that answer for a task, rule or place (geo.analysis.coverage)."""
    from ..analysis import coverage

    cov = coverage(d)
    if not len(cov):
        return ""
    cov = cov[(cov["n_tasks"] > 0) | (cov["n_rules"] > 0) | (cov["n_places"] > 0)]
    if not len(cov):
        return ""
    mark = "<small>示意</small>" if schematic else ""
    rows = []
    for c in cov.to_dict("records"):
        km = f"{c['street_km']:.1f}" if pd.notna(c["street_km"]) and c["street_km"] else "—"
        area = f"{c['zone_area_km2']:.2f}" if pd.notna(c["zone_area_km2"]) and c["zone_area_km2"] else "—"
        role = str(c["role"] or "").replace(";", "、") or "—"
        tasks = str(c["task_ids"] or "").replace(";", "、")
        rows.append(
            f'<tr title="任务：{esc(tasks)}"><th>{esc(c["unit"])}</th><td>{esc(role)}</td>'
            f"<td>{int(c['n_tasks'])}</td><td>{int(c['n_places'])}</td>"
            f"<td>{esc(km)}</td><td>{esc(area)}</td></tr>"
        )
    note = (
        '<p class="cgt-muted cgt-schem">示意：街路长度与范围面积按示意数据计算，仅供参考。</p>'
        if schematic
        else ""
    )
    return (
        "<h3>责任单位覆盖</h3>"
        '<table class="cgt-counts cgt-coverage"><tr><th>单位</th><td>角色</td><td>任务</td>'
        f"<td>地点</td><td>街路<br>km{mark}</td><td>范围<br>km²{mark}</td></tr>"
        + "".join(rows)
        + "</table>"
        + note
    )


def _tasks_html(plan) -> str:
    """The plan's tasks with their lead and responsible units (main content of an empty map)."""
    items = []
    for t in plan.tasks:
        lead = "、".join(plan.unit_names(t.lead))
        units = "、".join(plan.unit_names(t.units))
        who = "".join(
            f'<span class="cgt-muted">{esc(k)}：{esc(v)}</span>'
            for k, v in (("牵头", lead), ("责任", units))
            if v
        )
        items.append(f"<li><b>{esc(t.number)} {esc(t.title)}</b>{who}</li>")
    if not items:
        return ""
    return f'<h3>方案任务（{len(items)}）</h3><ol class="cgt-tasks">' + "".join(items) + "</ol>"


def _phases_html(md: MapData, initial: str, live: set[str]) -> str:
    parts = ["<h2>实施阶段</h2>"]
    if not live:
        # No phase changes the map: the phases are listed, without buttons that do nothing.
        parts.append('<ul class="cgt-phase-list">')
        for d in md.datas:
            for ph in phase_dict(d.plan).values():
                dates = ph["dates"]
                parts.append(f"<li><b>{esc(ph['name'])}</b><span>{esc(dates)}</span></li>")
        parts.append('</ul><p class="cgt-muted">图上要素不分阶段，各阶段显示相同。</p>')
        return "".join(parts)
    parts.append('<div class="cgt-phases" role="radiogroup" aria-label="实施阶段">')
    active = ' cgt-active" aria-checked="true' if not initial else '" aria-checked="false'
    parts.append(
        f'<button type="button" role="radio" class="cgt-phase{active}" data-phase="">'
        "<b>全部阶段</b><span>显示全部要素</span></button>"
    )
    for d in md.datas:
        if md.multi:
            parts.append(f'<div class="cgt-phase-plan">{esc(d.plan.document.doc_label)}</div>')
        for ph in phase_dict(d.plan).values():
            dates = ph["dates"]
            if ph["k"] not in live:
                parts.append(
                    f'<div class="cgt-phase-static"><b>{esc(ph["name"])}</b><span>{esc(dates)}</span>'
                    "<span>（本阶段图上要素与全部阶段相同）</span></div>"
                )
                continue
            on = ' cgt-active" aria-checked="true' if ph["k"] == initial else '" aria-checked="false'
            parts.append(
                f'<button type="button" role="radio" class="cgt-phase{on}" data-phase="{esc(ph["k"])}">'
                f"<b>{esc(ph['name'])}</b><span>{esc(dates)}</span></button>"
            )
    parts.append('</div><div id="cgt-phase-status" class="cgt-muted"></div>')
    return "".join(parts)


def panel_html(md: MapData, initial: str, live: set[str], empty: bool) -> str:
    """The side panel's HTML."""
    if len(md.datas) == 1:
        title = f"<h1>{esc(md.datas[0].plan.document.title)}</h1>"
    else:
        title = f"<h1>城管图 · {len(md.datas)} 个方案</h1>"
    plans = []
    for d in md.datas:
        plan, doc = d.plan, d.plan.document
        parts = ['<section class="cgt-plan">']
        parts.append(f"<h2>{esc(doc.title)}</h2>" if md.multi else "<h2>方案概要</h2>")
        region = d.region.boundary_label
        span = doc.span
        span_text = f"{span.start} 至 {span.end}" if span.end else f"{span.start} 起（长期）"
        rows = [
            ("文号", doc.doc_label),
            ("发文单位", doc.issuer),
            ("成文日期", doc.issued.isoformat() if doc.issued else "未载明"),
            ("适用区域", doc.region),
            ("图上区界", region),
            ("实施期限", span_text),
        ]
        parts.append("<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows) + "</dl>")
        if empty:
            parts.append(
                '<p class="cgt-empty-note">本方案未列出可上图的具体地点；下列为方案的任务与责任单位。</p>'
            )
            parts.append(_tasks_html(plan))
            parts.append(_coverage_html(d, d.schematic))
        n_buffer = sum(1 for r in plan.rules if r.type == "buffer")
        n_spacing = sum(1 for r in plan.rules if r.type == "spacing")
        counts = [
            ("方案列出的地点", len(plan.places)),
            ("已上图地点", len(d.places)),
            ("规则适用的其他地点", len(d.kind_places)),
            ("距离规则 / 间距规则", f"{n_buffer} / {n_spacing}"),
            ("规则范围（缓冲区）", len(d.zones)),
            ("间距规则街路", len(d.spacing)),
            ("任务", len(plan.tasks)),
            ("未能定位", len(d.unresolved)),
        ]
        parts.append(
            '<table class="cgt-counts">'
            + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in counts)
            + "</table>"
        )
        if not empty:
            parts.append(_coverage_html(d, d.schematic))
        drawn = len(d.places) + len(d.kind_places) + len(d.zones) + len(d.spacing)
        srcs = "、".join(SOURCE_LABELS.get(s, s) for s in d.sources_used) if drawn else ""
        if srcs:
            parts.append(f'<p class="cgt-muted">地点数据来源：{esc(srcs)}</p>')
        un = d.unresolved
        parts.append(f"<h3>未能定位的地点（{len(un)}）</h3>")
        if len(un):
            parts.append('<ul class="cgt-unresolved">')
            for u in un.to_dict("records"):
                cand = str(u.get("candidates") or "")
                near = (
                    f'<span class="cgt-muted">相近名称：{esc(cand.replace(";", "、"))}</span>' if cand else ""
                )
                parts.append(f"<li><b>{esc(u.get('name'))}</b><span>{esc(u.get('reason'))}</span>{near}</li>")
            parts.append("</ul>")
        else:
            parts.append(
                '<p class="cgt-muted">无：方案所列地点均已上图。</p>'
                if plan.places
                else '<p class="cgt-muted">本方案未列出具体地点。</p>'
            )
        if d.problems:
            parts.append(f'<p class="cgt-muted">地名表中有 {len(d.problems)} 行有误，已跳过。</p>')
        parts.append("</section>")
        plans.append("".join(parts))
    return Template(read_template("panel.html")).substitute(
        title=title, phases=_phases_html(md, initial, live), plans="".join(plans)
    )


LEGEND_ORDER = ["规则范围（缓冲区）", "间距规则", "街路", "马路市场批次", "地点类型", "样式说明", "底图"]


def legend_html(md: MapData, schematic: bool, empty: bool) -> str:
    """The legend's HTML (swatches are SVG made from style values; texts escaped)."""
    sections = []
    for title in sorted(md.legend.sections, key=lambda t: LEGEND_ORDER.index(t) if t in LEGEND_ORDER else 99):
        entries = md.legend.sections[title]
        cols = ' class="cgt-cols"' if title == "地点类型" and len(entries) > 3 else ""
        items = []
        for sw, text in entries.values():
            head, _, more = text.partition("\n")
            extra = f"<div class='cgt-muted'>{esc(more)}</div>" if more else ""
            items.append(f"<li>{sw}<span>{esc(head)}{extra}</span></li>")
        sections.append(f"<h4>{esc(title)}</h4><ul{cols}>" + "".join(items) + "</ul>")
    notes = list(dict.fromkeys(md.legend.notes))
    if md.basemap == "amap":
        notes.append(
            "高德底图为 GCJ-02 坐标：图上所有叠加要素已由 WGS84 偏移至 GCJ-02 显示；导出数据仍为 WGS84。"
        )
    else:
        notes.append("坐标系：WGS84（CGCS2000 视同）。")
    if schematic:
        notes.append("示意数据：位置为示意布设，非实测，精度不适用；请以实测或用户地名表数据替换。")
    if empty:
        notes.append("本图没有可上图的地点或规则范围。")
    return Template(read_template("legend.html")).substitute(
        sections="".join(sections),
        notes="".join(f"<p{' class=cgt-schem' if n.startswith('示意') else ''}>{esc(n)}</p>" for n in notes),
    )
