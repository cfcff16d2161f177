"""The case ledger on a real PostgreSQL + PostGIS server, started and stopped by the test.

The server is Debian's (``postgresql`` and ``postgis`` packages, installed by ``.ci/run``),
initialised in a temporary folder and listening on a free loopback port, the way
``benchmarks/bench_query.py`` runs it. The same import gives the same report as the GeoPackage.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from geo.ledger.assign import context_for
from geo.ledger.cases import import_cases
from geo.ledger.chiefs import import_chiefs
from geo.ledger.grid import make_grid, save_grid
from geo.ledger.report import export_frame, overdue_cases, summary
from geo.ledger.store import SCHEMA_VERSION, open_store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_query", ROOT / "benchmarks" / "bench_query.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def pg():
    pytest.importorskip("psycopg", reason="the postgis extra (psycopg) is not installed")
    if not sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.skip("PostgreSQL server binaries are not installed (apt-get install postgresql postgis)")
    server = _bench_module().PostGIS()
    try:
        server.start()
    except Exception as exc:  # a server that cannot start here is a failure, not a skip
        server.stop()
        pytest.fail(f"could not start the local PostgreSQL + PostGIS server: {exc}")
    yield f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
    server.stop()


@pytest.fixture(scope="module")
def ctx():
    c, problems = context_for(["000"])
    assert problems == []
    return c


def fill(db: str, ctx) -> None:
    region_boundary = ctx.plans[0].region.boundary
    cells = make_grid(region_boundary, 500, ctx.sources.epsg, units="示例网格站")
    with open_store(db) as store:
        save_grid(store, cells, ctx.sources.epsg)
        n, problems = import_chiefs(store, EXAMPLES / "chiefs.csv", ctx.sources)
        assert n == 4 and problems == []
        res = import_cases(store, [EXAMPLES / "cases.csv"], context=ctx, now="2023-04-20 12:00:00")
        assert (res.created, res.unresolved, len(res.problems)) == (38, 1, 0)


def test_same_import_same_report_on_gpkg_and_postgis(pg, ctx, tmp_path):
    gpkg = str(tmp_path / "ledger.gpkg")
    fill(gpkg, ctx)
    fill(pg, ctx)
    with open_store(gpkg) as a, open_store(pg) as b:
        assert a.version() == b.version() == SCHEMA_VERSION
        for by in ("unit", "grid_code"):
            sa, sb = summary(a, by, "2023-04-20"), summary(b, by, "2023-04-20")
            assert len(sa) > 3
            pd.testing.assert_frame_equal(sa, sb, check_dtype=False)
        pd.testing.assert_frame_equal(
            overdue_cases(a, "2023-04-20"), overdue_cases(b, "2023-04-20"), check_dtype=False
        )
        cols = ["case_id", "status", "grid_code", "street", "street_chief", "rule_ids", "units",
                "assigned_by", "overdue", "days_overdue"]  # fmt: skip
        ea, eb = export_frame(a, "2023-04-20"), export_frame(b, "2023-04-20")
        pd.testing.assert_frame_equal(ea[cols], eb[cols], check_dtype=False)
        for c in ("lon", "lat"):
            assert (pd.to_numeric(ea[c]) - pd.to_numeric(eb[c])).abs().fillna(0).max() < 1e-9
        # PostGIS holds real geometries: a spatial query on the server agrees with the grid codes.
        row = b.execute(
            "SELECT COUNT(*) FROM cases c JOIN grids g ON ST_Intersects(g.geom, c.geom) "
            "WHERE g.code = c.grid_code"
        ).fetchone()
        assert row[0] == int(ea["grid_code"].notna().sum()) > 30


def test_postgis_upsert_is_idempotent_and_tracked(pg, ctx):
    with open_store(pg) as store:
        empty = store.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 0
    if empty:  # run on its own
        fill(pg, ctx)
    with open_store(pg) as store:
        before = store.execute("SELECT COUNT(*) FROM case_events").fetchone()[0]
        res = import_cases(store, [EXAMPLES / "cases.csv"], context=ctx, now="2023-04-21 12:00:00")
        assert (res.created, res.updated, res.unchanged) == (0, 0, 38)
        assert store.execute("SELECT COUNT(*) FROM case_events").fetchone()[0] == before


def test_changed_cases_update_alike_on_gpkg_and_postgis(pg, ctx, tmp_path):
    """A second file that moves one case and closes another: both stores end up the same."""
    gpkg = str(tmp_path / "ledger.gpkg")
    fill(gpkg, ctx)
    with open_store(pg) as store:
        empty = store.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 0
    if empty:  # run on its own
        fill(pg, ctx)
    df = pd.read_csv(EXAMPLES / "cases.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    open_rows = df.index[df["状态"] != "已结案"]
    closing, moving = open_rows[0], 0
    df.loc[closing, ["状态", "结案时间"]] = ["已结案", "2023-04-21 10:00"]
    df.loc[moving, ["经度", "纬度"]] = [df.loc[1, "经度"], df.loc[1, "纬度"]]  # onto case 2's spot
    changed = tmp_path / "cases-changed.csv"
    df.to_csv(changed, index=False, encoding="utf-8-sig")
    cols = ["case_id", "status", "closed_at", "grid_code", "street", "units", "assigned_by", "lon", "lat"]
    frames = []
    for db in (gpkg, pg):
        with open_store(db) as store:
            res = import_cases(store, [changed], context=ctx, now="2023-04-21 12:00:00")
            assert (res.created, res.updated) == (0, 2)
            ex = export_frame(store, "2023-04-21").sort_values("case_id").reset_index(drop=True)
            events = store.frame(
                "SELECT case_id, kind FROM case_events WHERE kind = 'updated' ORDER BY case_id"
            )
            units = store.frame("SELECT case_id, unit FROM case_units ORDER BY case_id, unit")
            frames.append((ex[cols], events, units))
    (ea, eva, ua), (eb, evb, ub) = frames
    pd.testing.assert_frame_equal(eva, evb, check_dtype=False)
    assert sorted(eva["case_id"]) == sorted([df.loc[closing, "案件编号"], df.loc[moving, "案件编号"]])
    pd.testing.assert_frame_equal(ua, ub, check_dtype=False)
    for c in ("lon", "lat"):
        assert (pd.to_numeric(ea[c]) - pd.to_numeric(eb[c])).abs().max() < 1e-9
    rest = [c for c in cols if c not in ("lon", "lat")]
    pd.testing.assert_frame_equal(ea[rest], eb[rest], check_dtype=False)
    moved = ea[ea["case_id"] == df.loc[moving, "案件编号"]].iloc[0]
    assert abs(float(moved["lon"]) - float(df.loc[1, "经度"])) < 1e-9
    # The server's geometry moved with the coordinates.
    with open_store(pg) as store:
        x = store.execute("SELECT ST_X(geom) FROM cases WHERE case_id = ?", (moved["case_id"],)).fetchone()[0]
    assert abs(x - float(df.loc[1, "经度"])) < 1e-9
