"""QGIS styles for the GeoPackage: each layer opens styled as on the printed and the screen map.

QGIS keeps a layer's styles inside a GeoPackage in a table ``layer_styles`` (one row per style,
QML text, ``useAsDefault`` marking the one loaded when the layer is added). :func:`write_layer_styles`
writes that table, with the same schema and ``gpkg_contents`` registration QGIS uses, and one
default style per layer, generated from :mod:`geo.publish.style`:

=============== ===============================================================================
layer           renderer
=============== ===============================================================================
places          rule-based: one rule per style class (street category, 马路市场 batch, anchor,
                kind) and geometry type present — the layer mixes points, lines and polygons,
                and a QGIS symbol draws one geometry type
kind_places     rule-based, by kind and geometry type (markers hollow, as on the printed map)
zones,          categorized on ``rule_id``, colours of the plan's buffer rules
dissolved
spacing         categorized on ``rule_id``
region          single symbol: the boundary line
=============== ===============================================================================

Every style labels features on ``name`` (along lines for lines, around the symbol for points)
and gives the standard columns Chinese aliases. Rows are written in layer order with a fixed
``update_time`` (the build's reproducible date), so the file stays byte-identical across builds.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import geopandas as gpd
import numpy as np

from ..layers import split
from . import style as S

__all__ = ["LAYER_STYLES_SQL", "layer_qml", "place_class_expression", "write_layer_styles"]

#: The ``layer_styles`` table as QGIS creates it in a GeoPackage.
LAYER_STYLES_SQL = """CREATE TABLE "layer_styles" (
"id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
"f_table_catalog" TEXT(256),
"f_table_schema" TEXT(256),
"f_table_name" TEXT(256),
"f_geometry_column" TEXT(256),
"styleName" TEXT(30),
"styleQML" TEXT,
"styleSLD" TEXT,
"useAsDefault" BOOLEAN,
"description" TEXT,
"owner" TEXT(30),
"ui" TEXT(30),
"update_time" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"""

#: Chinese aliases of the standard and common columns (QGIS attribute table and forms).
ALIASES = {
    "id": "编号",
    "name": "名称",
    "kind": "类型",
    "plan_id": "方案",
    "phase_id": "阶段",
    "batch": "批次",
    "units": "责任单位",
    "source": "数据来源",
    "source_ref": "来源记录",
    "accuracy_m": "精度（米）",
    "matched_by": "匹配方式",
    "relation": "定位关系",
    "tags": "标签",
    "note": "备注",
    "rule_id": "规则编号",
    "distance_m": "距离（米）",
    "restriction": "管控要求",
    "clause": "条文",
    "lead": "牵头单位",
    "label": "适用对象",
    "place_name": "地点名称",
    "place_kind": "地点类型",
}

_QGIS_GEOM = {"point": ("Point", 0), "line": ("Line", 1), "area": ("Polygon", 2)}
_FONT = "Noto Sans CJK SC"


def _tag_test(tag: str) -> str:
    return f"regexp_match(coalesce(\"tags\", ''), '(^|;){tag}(;|$)')"


def place_class_expression() -> str:
    """A QGIS expression giving a named place's style key, as
    :func:`geo.publish.style.place_key` does (first match wins, in the same order)."""
    whens = []
    for t in S.STREET_ORDER:
        key = S.style_for_street(t).key
        whens.append(f"WHEN \"kind\" = 'street' AND {_tag_test(t)} THEN '{key}'")
    whens.append(f"WHEN \"kind\" = 'street' AND {_tag_test('锚点')} THEN 'street:anchor'")
    whens.append("WHEN \"kind\" = 'street' THEN 'street:plan'")
    whens.append('WHEN "kind" = \'market\' AND "batch" IS NOT NULL THEN \'batch:\' || to_string("batch")')
    whens.append(f"WHEN {_tag_test('锚点')} THEN 'anchor'")
    return "CASE " + " ".join(whens) + " ELSE 'kind:' || \"kind\" END"


# ---------------------------------------------------------------------------------------------
# QML pieces


def _geom_classes(geoms) -> np.ndarray:
    """``point``/``line``/``area`` per geometry (by its first part's family)."""
    t = np.asarray(gpd.GeoSeries(list(geoms)).geom_type.fillna(""), dtype=object)
    out = np.full(len(t), "", dtype=object)
    out[np.char.find(t.astype(str), "Point") >= 0] = "point"
    out[np.char.find(t.astype(str), "LineString") >= 0] = "line"
    out[np.char.find(t.astype(str), "Polygon") >= 0] = "area"
    return out


def _symbol(style: S.Style, geometry: str, name: str, *, hollow: bool = False) -> str:
    xml = S.to_qml(style, geometry, name=name)
    if hollow and geometry == "point":  # white inside, coloured edge: places the plan does not name
        col = S.qgis_colour(style.colour)
        xml = xml.replace(f'<prop k="color" v="{col}"/>', '<prop k="color" v="255,255,255,255"/>', 1)
        xml = xml.replace(
            '<prop k="outline_color" v="255,255,255,255"/>', f'<prop k="outline_color" v="{col}"/>', 1
        )
    return xml


def _rule_renderer(rules: list[tuple[str, str, str]]) -> str:
    """``rules``: (filter expression, legend label, symbol xml) — symbol names are indices."""
    items = "".join(
        f'<rule key="r{i}" filter={quoteattr(f)} label={quoteattr(label)} symbol="{i}"/>'
        for i, (f, label, _) in enumerate(rules)
    )
    symbols = "".join(sym for _, _, sym in rules)
    return (
        '<renderer-v2 type="RuleRenderer" symbollevels="0" enableorderby="0" forceraster="0">'
        f'<rules key="root">{items}</rules><symbols>{symbols}</symbols></renderer-v2>'
    )


def _categorized(attr: str, cats: list[tuple[str, str, str]]) -> str:
    """``cats``: (value, legend label, symbol xml) — symbol names are indices."""
    items = "".join(
        f'<category value={quoteattr(v)} symbol="{i}" label={quoteattr(label)} render="true"/>'
        for i, (v, label, _) in enumerate(cats)
    )
    symbols = "".join(sym for _, _, sym in cats)
    return (
        f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(attr)} symbollevels="0" '
        f'enableorderby="0" forceraster="0"><categories>{items}</categories>'
        f"<symbols>{symbols}</symbols></renderer-v2>"
    )


def _single(symbol: str) -> str:
    return (
        '<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">'
        f"<symbols>{symbol}</symbols></renderer-v2>"
    )


def _label_settings(geometry: str) -> str:
    # PAL placements: 2 = parallel to the line, 6 = ordered positions around a point,
    # 1 = over the point (a polygon's label inside it)
    placement = {"line": 2, "point": 6, "area": 1}[geometry]
    return (
        '<settings calloutType="simple">'
        f'<text-style fieldName="name" isExpression="0" fontFamily={quoteattr(_FONT)} '
        'fontSize="9" fontSizeUnit="Point" textColor="34,34,34,255" textOpacity="1" '
        'namedStyle="Regular" multilineHeight="1"/>'
        '<text-buffer bufferDraw="1" bufferSize="1" bufferSizeUnits="MM" '
        'bufferColor="255,255,255,255" bufferOpacity="1" bufferJoinStyle="128"/>'
        f'<placement placement="{placement}" placementFlags="10" dist="1" distUnits="MM" '
        'repeatDistance="0" overrunDistance="0"/>'
        '<rendering obstacle="1" obstacleType="1" displayAll="0" upsidedownLabels="0" '
        'scaleVisibility="0" fontLimitPixelSize="0" drawLabels="1" labelPerPart="0" mergeLines="1"/>'
        "</settings>"
    )


def _labeling(geometries: Sequence[str]) -> str:
    """Labels on ``name``: one rule per geometry type present (placement differs by type)."""
    filters = [f"geometry_type($geometry) = '{_QGIS_GEOM[g][0]}'" for g in geometries]
    rules = "".join(
        f'<rule key="l{i}" filter={quoteattr(f)} description="{escape(g)}">{_label_settings(g)}</rule>'
        for i, (f, g) in enumerate(zip(filters, geometries, strict=True))
    )
    return f'<labeling type="rule-based"><rules key="lroot">{rules}</rules></labeling>'


def _aliases(columns: Sequence[str]) -> str:
    items = "".join(
        f'<alias field={quoteattr(c)} index="{i}" name={quoteattr(ALIASES.get(c, ""))}/>'
        for i, c in enumerate(columns)
    )
    return f"<aliases>{items}</aliases>"


def _document(renderer: str, labeling: str, columns: Sequence[str], geometry_type: int) -> str:
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.22.16-Białowieża" styleCategories="Symbology|Labeling|Fields" '
        'labelsEnabled="1">'
        f"{renderer}{labeling}{_aliases(columns)}"
        f"<layerGeometryType>{geometry_type}</layerGeometryType></qgis>\n"
    )


# ---------------------------------------------------------------------------------------------
# Per layer


def _class_rules(keys, geoms, *, hollow: bool, expr: str) -> list[tuple[str, str, str]]:
    """Rules for the (class, geometry type) pairs present, in a stable order."""
    gcls = _geom_classes(geoms)
    pairs = sorted({(k, g) for k, g in zip(keys, gcls, strict=True) if g}, key=lambda kg: (kg[0], kg[1]))
    per_class: dict[str, int] = {}
    for k, _ in pairs:
        per_class[k] = per_class.get(k, 0) + 1
    words = {"point": "点", "line": "线", "area": "面"}
    rules = []
    for i, (k, g) in enumerate(pairs):
        st = S.style_for(k)
        label = st.label if per_class[k] == 1 else f"{st.label}（{words[g]}）"
        filt = f"{expr} = '{k}' AND geometry_type($geometry) = '{_QGIS_GEOM[g][0]}'"
        rules.append((filt, label, _symbol(st, g, str(i), hollow=hollow)))
    return rules


def layer_qml(layer: str, df: gpd.GeoDataFrame, rules: Sequence[Any] = ()) -> str:
    """The default QGIS style (QML document) of one layer of :func:`geo.publish.files.layer_frames`.

    Parameters
    ----------
    layer : str
        ``places``, ``zones``, ``dissolved``, ``spacing``, ``kind_places`` or ``region``.
    df : GeoDataFrame
        The layer as written (flat columns, WGS84).
    rules : sequence of geo.plan.Rule
        The plan's rules (zone colours and spacing words).
    """
    columns = [c for c in df.columns if c != "geometry"]
    geoms = list(df.geometry) if len(df) else []
    present = [g for g in ("point", "line", "area") if g in set(_geom_classes(geoms))] if geoms else []
    if layer == "places":
        if len(df):
            keys = [
                S.place_key(k, split(t), b)
                for k, t, b in zip(df["kind"], df["tags"], df["batch"], strict=True)
            ]
        else:
            keys = []
        renderer = _rule_renderer(_class_rules(keys, geoms, hollow=False, expr=place_class_expression()))
        gtype = 3
    elif layer == "kind_places":
        keys = [f"kind:{k}" for k in df["kind"]] if len(df) else []
        renderer = _rule_renderer(_class_rules(keys, geoms, hollow=True, expr="'kind:' || \"kind\""))
        gtype = 3
    elif layer in ("zones", "dissolved"):
        styles = S.zone_styles(rules)
        cats = [
            (rid, st.label, S.to_qml(st, "area", name=str(i))) for i, (rid, st) in enumerate(styles.items())
        ]
        renderer = _categorized("rule_id", cats)
        present, gtype = ["area"], 2
    elif layer == "spacing":
        spacing = [r for r in rules if getattr(r, "type", "") == "spacing"]
        cats = [
            (
                r.id,
                f"{r.applies_to.label}：每 {r.distance_m:g} 米至少 1 处",
                S.to_qml(S.SPACING, "line", name=str(i)),
            )
            for i, r in enumerate(spacing)
        ]
        renderer = _categorized("rule_id", cats)
        present, gtype = ["line"], 1
    elif layer == "region":
        renderer = _single(S.to_qml(S.BOUNDARY, "area", name="0"))
        present, gtype = ["area"], 2
    else:
        raise ValueError(f"no style for layer {layer!r}")
    return _document(renderer, _labeling(present or ["point"]), columns, gtype)


#: The plan layers :func:`layer_qml` styles; other tables (a query's, a spacing check's) get
#: QGIS's own default style.
STYLED_LAYERS = frozenset({"places", "kind_places", "zones", "dissolved", "spacing", "region"})


def write_layer_styles(
    path: str | Path,
    frames: dict[str, gpd.GeoDataFrame],
    rules: Sequence[Any],
    when: dt.date,
    titles: dict[str, str],
) -> None:
    """Add QGIS's ``layer_styles`` table to a GeoPackage GDAL has finished writing: one default
    style per layer, registered in ``gpkg_contents`` (as an attributes table) as QGIS does.

    Parameters
    ----------
    path : str or Path
        The GeoPackage (closed by its writer).
    frames : dict
        Layer name → GeoDataFrame, as written.
    rules : sequence of geo.plan.Rule
    when : datetime.date
        The build's reproducible date (``update_time`` and ``last_change``).
    titles : dict
        Chinese layer titles, used as the style descriptions.
    """
    stamp = f"{when.isoformat()}T00:00:00.000Z"
    con = sqlite3.connect(str(path), isolation_level=None)
    try:
        con.execute("PRAGMA synchronous = OFF")  # a temporary file, renamed when complete
        # QGIS finds a layer's style by table and geometry column (GDAL names it "geom")
        geom_col = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
        rows = []
        for name, df in frames.items():
            if name not in STYLED_LAYERS:
                continue
            qml = layer_qml(name, df, rules)
            desc = f"{titles.get(name, name)}（城管图默认样式）"
            col = geom_col.get(name, "geom")
            rows.append(("", "", name, col, f"{name} 默认样式", qml, "", 1, desc, "", None, stamp))
        if not rows:
            return
        con.execute("BEGIN")
        con.execute(LAYER_STYLES_SQL)
        con.executemany(
            'INSERT INTO "layer_styles" ("f_table_catalog","f_table_schema","f_table_name",'
            '"f_geometry_column","styleName","styleQML","styleSLD","useAsDefault","description",'
            '"owner","ui","update_time") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)',
            rows,
        )
        con.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
            "VALUES ('layer_styles', 'attributes', 'layer_styles', '', ?)",
            (stamp,),
        )
        has_ogr = con.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gpkg_ogr_contents'"
        ).fetchone()
        if has_ogr:
            con.execute(
                "INSERT INTO gpkg_ogr_contents (table_name, feature_count) VALUES ('layer_styles', ?)",
                (len(rows),),
            )
        con.execute("COMMIT")
    finally:
        con.close()
