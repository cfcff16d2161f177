"""Track passes on the maps: street segments coloured met / short / none against the target.

The layer reads the per-segment-per-day table of :mod:`geo.tracks` (``geo tracks --segments
FILE.gpkg``) — data flows one way, from the tracks to the map. :func:`add_tracks_layer` adds it
to a page rendered by :func:`geo.publish.html.render_map` (its own script, from
``publish/templates/tracks_layer.js``, inlined before ``</body>``); :func:`draw_static` draws the
same statuses with matplotlib for a briefing ("4月3日 十纵十横 清扫达标情况").

Only segments whose street carries a daily target are drawn: the layer answers "did the
streets the plan names get their passes", not where vehicles drove.
"""

from __future__ import annotations

import datetime as dt
import html as _html
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .style import PASS_STATUS

__all__ = ["STATUS", "add_tracks_layer", "draw_static", "segment_status", "select_day"]

#: The pass statuses, drawn in the shared symbology (:data:`geo.publish.style.PASS_STATUS`).
#: met: passes reached the target; short: some passes, fewer than the target; none: no pass.
STATUS = tuple(PASS_STATUS)
_JS = Path(__file__).with_name("templates") / "tracks_layer.js"


def segment_status(passes: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``met`` / ``short`` / ``none`` per segment (target NaN: empty string)."""
    p = np.asarray(passes, dtype=float)
    t = np.asarray(target, dtype=float)
    out = np.where(p >= t, "met", np.where(p > 0, "short", "none")).astype(object)
    out[np.isnan(t)] = ""
    return out


def select_day(segments: gpd.GeoDataFrame, date: str | dt.date | None = None) -> tuple[gpd.GeoDataFrame, str]:
    """The targeted segments of one day (default: the last day in the table) and that day."""
    days = sorted(segments["date"].astype(str).unique())
    if not days:
        return segments.iloc[0:0], ""
    day = str(date) if date is not None else days[-1]
    out = segments[(segments["date"].astype(str) == day) & segments["target"].notna()].copy()
    out["status"] = segment_status(out["passes"].to_numpy(), out["target"].to_numpy())
    return out.to_crs(4326) if out.crs is not None else out, day


def _day_label(day: str) -> str:
    d = dt.date.fromisoformat(day)
    return f"{d.month}月{d.day}日"


def _popup(r: pd.Series) -> str:
    e = _html.escape
    rows = [
        ("街路", r["street"]),
        ("日期", r["date"]),
        ("作业次数", f"{int(r['passes'])}"),
        ("目标", f"{float(r['target']):g} 次/天"),
        ("车辆", f"{int(r['vehicles'])}（{r['vehicle_ids']}）" if r["vehicles"] else "0"),
    ]
    return "<br>".join(f"<b>{e(k)}</b>：{e(str(v))}" for k, v in rows)


def add_tracks_layer(
    page: str,
    segments: gpd.GeoDataFrame,
    *,
    date: str | dt.date | None = None,
    title: str = "清扫达标情况",
    schematic: bool = False,
) -> str:
    """Add the passes layer (with its legend) to an HTML page from :func:`render_map`.

    Parameters
    ----------
    page : str
        The page.
    segments : GeoDataFrame
        Per segment per day (``street, date, passes, target, vehicles, vehicle_ids``), lines.
    date : date or ISO text, optional
        Day to show (default: the last day in the table).
    title : str
        Legend title after the day ("4月3日 清扫达标情况").
    schematic : bool
        The streets are the schematic (示意) extract: the legend says so.

    Returns
    -------
    str
        The page with the layer.
    """
    day_segs, day = select_day(segments, date)
    feats = [
        {
            "type": "Feature",
            "geometry": g.__geo_interface__,
            "properties": {"s": s, "p": _popup(r)},
        }
        for g, s, (_, r) in zip(day_segs.geometry, day_segs["status"], day_segs.iterrows(), strict=True)
    ]  # one popup per drawn segment: thousands at most (the streets a plan targets)
    counts = day_segs["status"].value_counts()
    data = {
        "title": f"{_day_label(day)} {title}" if day else title,
        "features": {"type": "FeatureCollection", "features": feats},
        "statuses": [
            {
                "key": k,
                "color": st.colour,
                "label": st.label,
                "weight": st.weight,
                "dash": " ".join(f"{d * st.weight:g}" for d in st.dash),
                "count": int(counts.get(k, 0)),
            }
            for k, st in PASS_STATUS.items()
        ],
        "note": "街路为示意数据，非实测" if schematic else "",
    }
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    script = f"<script>{_JS.read_text('utf-8')}\nCGTTracks.add({payload});\n</script>\n"
    if page.count("</body>") != 1:
        raise ValueError("the page has no single </body> to add the tracks layer before")
    return page.replace("</body>", script + "</body>")


def draw_static(
    segments: gpd.GeoDataFrame,
    path: str | Path,
    *,
    date: str | dt.date | None = None,
    title: str = "十纵十横 清扫达标情况",
    schematic: bool = False,
) -> Path:
    """A static map of one day's statuses for a briefing, e.g. "4月3日 十纵十横 清扫达标情况".

    Drawn in the metric CRS of the segments' centre, with the shared Noto Sans SC font of
    :mod:`geo.publish.static`; written atomically (PNG or PDF by suffix).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.font_manager import FontProperties
    from matplotlib.lines import Line2D

    from .._io import atomic_path
    from ..crs import local_crs
    from .static import font_path  # the shared CJK font

    day_segs, day = select_day(segments, date)
    if not len(day_segs):
        raise ValueError("no segment with a target on that day")
    metric = day_segs.to_crs(local_crs(day_segs.total_bounds[[0, 2]].mean()))
    fig, ax = plt.subplots(figsize=(8.27, 8.27))
    fp = FontProperties(fname=str(font_path()))
    for key, st in PASS_STATUS.items():
        part = metric[metric["status"] == key]
        if len(part):
            part.plot(ax=ax, color=st.colour, linewidth=3, linestyle=(0, st.dash) if st.dash else "-")
    # Street names a quarter along each street's longest stretch (clear of the crossings in the
    # middle), on a white box, so the briefing reads without the HTML map.
    import shapely

    for name, geom in metric.dissolve("street").geometry.items():
        parts = shapely.get_parts(shapely.line_merge(geom))
        p = max(parts, key=lambda g: g.length).interpolate(0.25, normalized=True)
        ax.annotate(
            name, (p.x, p.y), fontproperties=fp, fontsize=9, ha="center", va="center", color="#222",
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
        )  # fmt: skip
    ax.set_axis_off()
    ax.set_aspect("equal")
    counts = metric["status"].value_counts()
    handles = [
        Line2D(
            [0],
            [0],
            color=st.colour,
            lw=3,
            ls=(0, st.dash) if st.dash else "-",
            label=f"{st.label}（{int(counts.get(k, 0))} 段）",
        )
        for k, st in PASS_STATUS.items()
    ]
    ax.legend(handles=handles, loc="lower right", prop=fp, title="街路分段", title_fontproperties=fp)
    ax.set_title(f"{_day_label(day)} {title}", fontproperties=fp, fontsize=16)
    if schematic:
        fig.text(0.5, 0.02, "示意：街路为示意数据，非实测", ha="center", color="#a00", fontproperties=fp)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return Path(path)
