"""The GIS quickstart notebook runs top to bottom, offline, and shows the expected tables."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "gis_quickstart.ipynb"
# An address nothing listens on: any HTTP(S) request from the kernel fails at once.
DEAD_PROXY = "http://127.0.0.1:9"


def _text(output) -> str:
    """All text an output carries (stream text, plain and HTML representations, errors)."""
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return "\n".join(str(data.get(k, "")) for k in ("text/plain", "text/html")) + "\n".join(
        output.get("traceback", [])
    )


def _cell_text(nb, cell_id: str) -> str:
    cell = next(c for c in nb.cells if c.get("id") == cell_id)
    return "\n".join(_text(o) for o in cell.get("outputs", []))


def test_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has no code cells"
    for c in code:
        assert not c.get("outputs"), f"cell {c.get('id')} was committed with outputs; clear them"
        assert c.get("execution_count") is None, f"cell {c.get('id')} has an execution count"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("GEO_QUICKSTART_OUT", str(out))  # where the notebook writes its files
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            mp.setenv(var, DEAD_PROXY)
        for var in ("NO_PROXY", "no_proxy"):
            mp.delenv(var, raising=False)
        mp.setenv("GEO_OVERPASS_URL", DEAD_PROXY)
        mp.setenv("GEO_NOMINATIM_URL", DEAD_PROXY)
        mp.setenv("GEO_TIMEOUT", "2")
        mp.setenv("MPLBACKEND", "Agg")
        client = nbclient.NotebookClient(
            nb,
            kernel_name="python3",  # the kernel of the interpreter running the tests (ipykernel)
            timeout=600,  # per cell
            startup_timeout=120,
            resources={"metadata": {"path": str(NOTEBOOK.parent)}},
        )
        client.execute()  # raises CellExecutionError on the first failing cell
    finally:
        mp.undo()
    return nb, out


def test_notebook_runs_offline_and_shows_zones(executed):
    nb, _ = executed
    zones = _cell_text(nb, "zones")
    assert "r_school_200" in zones
    assert "r_market_station_hospital_500" in zones
    assert "五区城管（环卫、园林）部门" in zones  # the responsible unit is shown
    assert "r_school_200" in _cell_text(nb, "zones-by-rule")


def test_notebook_query_tables(executed):
    nb, _ = executed
    query = _cell_text(nb, "query")
    for expected in ("TS-001", "TS-002", "TS-003", "r_school_200", "五区城管（环卫、园林）部门"):
        assert expected in query, expected
    summary = _cell_text(nb, "query-summary")
    assert "r_school_200" in summary
    assert "不在任何规则区内" in summary  # TS-003 is in no zone
    dated = _cell_text(nb, "query-date")
    assert "2024-03-01" in dated


def test_notebook_writes_files_and_map(executed):
    nb, out = executed
    assert (out / "quickstart_points.csv").is_file()
    assert (out / "quickstart_query.gpkg").stat().st_size > 0
    assert (out / "quickstart_query.csv").stat().st_size > 0
    page = (out / "quickstart_002.html").read_text(encoding="utf-8")
    assert "r_school_200" in page or "中小学校" in page
    assert "iframe" in _cell_text(nb, "map")
    # The optional online cell is tagged and was not run.
    explore = next(c for c in nb.cells if c.get("id") == "explore")
    assert "skip-execution" in explore.metadata.get("tags", [])
    assert not explore.get("outputs")
