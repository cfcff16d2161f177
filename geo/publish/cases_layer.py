"""The 问题台账 layer of the HTML map: cases clustered and styled by status, grid cells shaded by
their overdue count, and a per-unit table.

It is added to a page :func:`geo.publish.html.render_map` made: :func:`add_cases_layer` inlines the
vendored Leaflet.markercluster, ``templates/cases_layer.{js,css}`` and the ledger's data before
``</body>``; the script waits for the page's map (``CGT.map``) and draws on it. Case text goes
into the page as JSON and is written with ``textContent``, so it is never read as HTML.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from shapely.geometry import mapping

from ..ledger.store import Store

__all__ = ["STATUS_COLORS", "STATUS_WORDS", "add_cases_layer", "cases_payload"]

_HERE = Path(__file__).parent
_VENDOR = _HERE / "vendor" / "leaflet.markercluster"
_TEMPLATES = _HERE / "templates"

#: Marker style of each case status, from the shared symbology table (geo/publish/style.py):
#: 处置中 cases are open cases there, drawn as 待处置.
_STYLE_OF = {"open": "open", "in_progress": "open", "closed": "closed", "struck_off": "written_off"}
#: Legend order: the four classes of the shared table.
_LEGEND = ("open", "overdue", "closed", "written_off")


def _case_styles() -> dict[str, Any]:
    from .style import style_for_case

    return {k: style_for_case(k) for k in _LEGEND}


#: ``#rrggbb`` of each legend class (open, overdue, closed, written_off).
STATUS_COLORS = {k: s.colour for k, s in _case_styles().items()}
#: Marker shape of each class (circle, square, triangle, diamond).
STATUS_SHAPES = {k: s.marker for k, s in _case_styles().items()}
#: Chinese legend words of each class.
STATUS_WORDS = {k: s.label for k, s in _case_styles().items()}
#: Words for the case's own status in popups.
STATUS_LABELS = {"open": "待处置", "in_progress": "处置中", "closed": "已结案", "struck_off": "已销号"}
ASSIGNED_WORDS = {
    "case": "案件所填单位",
    "street_chief": "街(路)长",
    "grid": "网格责任主体",
    "rule": "方案规则",
}


def _text(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return None
    s = str(v).strip()
    return s or None


def cases_payload(store: Store, as_of: dt.date | str | None = None) -> dict[str, Any]:
    """The ledger's data for the page: cases, grids with overdue counts, per-unit figures."""
    from ..ledger.report import as_of_day, export_frame, summary

    day = as_of_day(as_of)
    date_text = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
    cases = export_frame(store, date_text)
    # As in the report and the printed map: a case reported after the date is not yet in the ledger.
    reported = pd.to_numeric(cases["reported_day"], errors="coerce").to_numpy(dtype=float)
    cases = cases[reported <= day]
    placed = cases[cases["lon"].notna()]
    status = placed["status"].astype(str)
    cols = {
        "id": placed["case_id"],
        "s": status,
        "cat": placed["category"],
        "desc": placed["description"],
        "rep": placed["reported_at"],
        "dl": placed["deadline"],
        "cl": placed["closed_at"],
        "g": placed["grid_code"],
        "st": placed["street"],
        "ch": placed["street_chief"],
        "r": placed["rule_ids"],
        "u": placed["units"],
        "by": placed["assigned_by"],
    }
    # Column by column (one list per field, None for blanks); the page rebuilds the records.
    out_cases: dict[str, list] = {}
    for k, col in cols.items():
        text = col.astype("string").str.strip()
        blank = (text.isna() | (text == "")).to_numpy(dtype=bool)
        out_cases[k] = np.where(blank, None, text.to_numpy(dtype=object)).tolist()
    out_cases["x"] = np.round(placed["lon"].to_numpy(dtype=float), 6).tolist()
    out_cases["y"] = np.round(placed["lat"].to_numpy(dtype=float), 6).tolist()
    out_cases["o"] = placed["overdue"].to_numpy(dtype=bool).tolist()
    out_cases["d"] = placed["days_overdue"].astype("float").fillna(0).astype(int).tolist()
    # Grid cells with open and overdue counts at the date.
    g = store.frame(f"SELECT code, community, {store.geom_select()} FROM grids")  # noqa: S608 (fixed text)
    geoms = store.geometries(g["geom"].tolist())
    open_mask = ~cases["closed_now"].to_numpy(dtype=bool)
    counts = pd.DataFrame({"g": cases["grid_code"], "open": open_mask, "over": cases["overdue"]})
    per = counts[counts["g"].notna()].groupby("g")[["open", "over"]].sum()
    features = []
    for code, comm, geom in zip(g["code"], g["community"], geoms, strict=True):
        if geom is None:
            continue
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": code,
                    "community": _text(comm),
                    "open": int(per["open"].get(code, 0)),
                    "overdue": int(per["over"].get(code, 0)),
                },
                "geometry": mapping(geom.simplify(0.000005)),
            }
        )
    units = summary(store, "unit", date_text)
    unit_rows = [
        {
            "unit": r.unit,
            "received": int(r.received),
            "closed": int(r.closed),
            "open": int(r.open),
            "open_overdue": int(r.open_overdue),
            "close_rate": None if pd.isna(r.close_rate) else float(r.close_rate),
        }
        for r in units.itertuples()
    ]
    unplaced = int(cases["lon"].isna().sum())
    note = f"{unplaced} 件案件地址未能定位，未上图（见导出表）" if unplaced else ""
    return {
        "as_of": date_text,
        "cases": out_cases,
        "grids": {"type": "FeatureCollection", "features": features},
        "units": unit_rows,
        "colors": STATUS_COLORS,
        "status_words": STATUS_WORDS,
        "style_of": _STYLE_OF,
        "shapes": STATUS_SHAPES,
        "labels": STATUS_LABELS,
        "assigned": ASSIGNED_WORDS,
        "note": note,
    }


def add_cases_layer(html: str, store: Store, as_of: dt.date | str | None = None) -> str:
    """Add the 问题台账 layer to a page from :func:`geo.publish.html.render_map`.

    Parameters
    ----------
    html : str
        The page.
    store : Store
        The open ledger.
    as_of : date or ISO text, optional
        Day at which ``overdue`` is judged (default today).

    Returns
    -------
    str
        The page with the layer's styles, scripts and data inlined (still offline).
    """
    from .html import js_json

    data = cases_payload(store, as_of)
    css = "".join(
        (_VENDOR / n).read_text("utf-8") for n in ("MarkerCluster.css", "MarkerCluster.Default.css")
    )
    css += (_TEMPLATES / "cases_layer.css").read_text("utf-8")
    # The vendored file names a source map that is not shipped: the reference goes.
    js = (
        (_VENDOR / "leaflet.markercluster.js")
        .read_text("utf-8")
        .replace("//# sourceMappingURL=leaflet.markercluster.js.map", "")
    )
    js += "\n" + (_TEMPLATES / "cases_layer.js").read_text("utf-8")
    block = (
        f"<style>{css}</style>\n<script>{js}\n</script>\n<script>CGTCases.start({js_json(data)});</script>\n"
    )
    at = html.rfind("</body>")
    if at < 0:
        raise ValueError("the page has no </body>")
    return html[:at] + block + html[at:]


def add_ledger_layer(html: str, db: str, as_of: str | None = None) -> str:
    """:func:`add_cases_layer` for a ledger named by path or URL (``--cases DB --as-of DATE``)."""
    import datetime as dt_

    from ..errors import InputError
    from ..ledger.store import open_store

    if as_of is not None:
        try:
            dt_.date.fromisoformat(as_of.strip())
        except ValueError:
            raise InputError.single("--as-of", f"{as_of!r} is not a date; expected YYYY-MM-DD") from None
    with open_store(db, create=False) as store:
        return add_cases_layer(html, store, as_of)
