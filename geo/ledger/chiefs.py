"""街(路)长: street or street segment → the chief's unit and role, resolved to street geometry.

A row names a street as a plan would (``凤台街``, or a segment ``凤台街望川楼路段``, parsed by
the resolver's locator code) and the 街长/路长's unit. Streets are resolved like plan places;
a street that cannot be found is reported, never placed at a guess.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import InputError, Problem
from .store import Store

__all__ = ["import_chiefs", "read_chiefs"]

CHIEF_ALIASES = {
    "street": ("街路名称", "街道名称", "道路", "路段", "街路", "street", "road"),
    "chief": ("街长", "路长", "姓名", "chief", "name"),
    "role": ("角色", "职务", "role"),
    "unit": ("责任单位", "单位", "unit"),
}


def read_chiefs(path: str | Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Read a CSV/XLSX of street chiefs.

    Returns
    -------
    rows : DataFrame
        ``street, chief, role, unit, source_row``.
    problems : list of Problem
        Rows without a street or unit (skipped).
    """
    from ..tables import csv_table, fold_key, xlsx_table

    p = Path(path)
    source = str(path)
    if not p.is_file():
        raise InputError.single(source, "file not found; expected a CSV or XLSX of street chiefs")
    if p.suffix.lower() in (".csv", ".txt"):
        table, lines, problems = csv_table(p, source)
    elif p.suffix.lower() in (".xlsx", ".xlsm"):
        table, lines = xlsx_table(p, source)
        problems = []
    else:
        raise InputError.single(source, f"unsupported file type {p.suffix!r}; expected .csv or .xlsx")
    index = {fold_key(a): c for c, names in CHIEF_ALIASES.items() for a in names}
    rename: dict[str, str] = {}
    for col in table.columns:
        canon = index.get(fold_key(str(col)))
        if canon and canon not in rename.values():
            rename[col] = canon
    t = table[list(rename)].rename(columns=rename)
    for c in ("street", "unit"):
        if c not in t.columns:
            raise InputError.single(
                source, f"missing the {c} column ({CHIEF_ALIASES[c][0]})", line=1, field=c
            )
    for c in CHIEF_ALIASES:
        if c not in t.columns:
            t[c] = None
    t = t.map(lambda v: None if v is None or str(v).strip() == "" else str(v).strip())
    t["source_row"] = lines
    bad = np.zeros(len(t), dtype=bool)
    for c in ("street", "unit"):
        for i in np.flatnonzero(t[c].isna().to_numpy() & ~bad):
            problems.append(
                Problem(source, f"empty {c}; expected {CHIEF_ALIASES[c][0]}", line=lines[i], field=c)
            )
            bad[i] = True
    t["role"] = t["role"].fillna("街(路)长")
    return t[~bad].reset_index(drop=True), problems


def import_chiefs(store: Store, path: str | Path, sources) -> tuple[int, list[Problem]]:
    """Resolve and upsert street chiefs (one transaction).

    Returns
    -------
    count : int
        Rows written.
    problems : list of Problem
        Bad rows and streets that could not be resolved (not written).
    """
    from ..resolve import Unresolved, resolve_one

    rows, problems = read_chiefs(path)
    geoms, keep, src, refs, how = [], [], [], [], []
    # One resolver call per street (a city has a few hundred street chiefs at most).
    for i, (street, line) in enumerate(zip(rows["street"], rows["source_row"], strict=True)):
        try:
            m = resolve_one(street, sources, kind=None)
        except Unresolved as u:
            near = f"; closest: {'、'.join(u.candidates)}" if u.candidates else ""
            problems.append(
                Problem(
                    str(path),
                    f"street {street!r} not found: {u.reason}{near}",
                    line=int(line),
                    field="street",
                )
            )
            continue
        keep.append(i)
        geoms.append(m.geometry)
        src.append(m.source)
        refs.append(m.source_ref)
        how.append(m.matched_by)
    good = rows.loc[keep].drop(columns="source_row").reset_index(drop=True)
    good["source"] = src
    good["source_ref"] = refs
    good["matched_by"] = how
    good["updated_at"] = dt.datetime.now().replace(microsecond=0).isoformat(sep=" ")
    wgs = np.asarray(gpd.GeoSeries(geoms, crs=sources.epsg).to_crs(4326).array, dtype=object) if geoms else []
    with store.transaction():
        store.executemany("DELETE FROM street_chiefs WHERE street = ?", [(s,) for s in good["street"]])
        store.insert_frame("street_chiefs", good, wgs)
    return len(good), problems
