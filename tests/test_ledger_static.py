"""The 问题台账 on the printed map (``geo static``/``geo build`` with ``--cases --as-of``): the
status colours read back from the PNG's map frame, the legend words and counts, the note of the
date and of the cases with no position, and bad input."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _figures import artist_colours
from conftest import run_geo
from PIL import Image

from geo.build import build_plan
from geo.ledger.assign import context_for
from geo.ledger.cases import import_cases
from geo.ledger.grid import make_grid, save_grid
from geo.ledger.report import as_of_day, export_frame
from geo.ledger.store import open_store
from geo.plan import get_plan
from geo.publish.static import build_figure, drawn_texts
from geo.publish.static.cases import CASE_CLASSES, load_cases
from geo.publish.static.page import Canvas
from geo.publish.style import style_for_case

ROOT = Path(__file__).resolve().parents[1]
DPI = 120
#: At 04-20 every open case is past its deadline; at 04-05 some are not yet; on 03-01 none is reported.
DATES = ("2023-04-20", "2023-04-05", "2023-03-01")
WORDS = {"open": "待处置", "overdue": "超期未办结", "closed": "已办结", "written_off": "已销号"}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> Path:
    """The README's ledger tour: a 500 m grid and the example cases, on plan 000."""
    db = tmp_path_factory.mktemp("ledger_static") / "ledger.gpkg"
    ctx, _ = context_for(["000"])
    with open_store(db) as store:
        save_grid(store, make_grid(ctx.plans[0].region.boundary, 500, ctx.sources.epsg), ctx.sources.epsg)
        import_cases(store, [ROOT / "examples" / "cases.csv"], context=ctx)
    return db


def expected(db: Path, date: str) -> tuple[dict[str, int], int]:
    """From the ledger's own export at the date (what ``geo cases export`` lists): placed cases
    reported by then per class, and those with no position."""
    with open_store(db, create=False) as store:
        f = export_frame(store, date)
    f = f[pd.to_numeric(f["reported_day"]) <= as_of_day(date)]
    placed = f["lon"].notna()
    closed = f["closed_now"].to_numpy(bool)
    cls = np.where(
        f["overdue"].to_numpy(bool),
        "overdue",
        np.where(~closed, "open", np.where(f["status"] == "struck_off", "written_off", "closed")),
    )
    counts = {k: int(((cls == k) & placed).sum()) for k in CASE_CLASSES}
    return counts, int((~placed).sum())


def map_pixels(png: Path) -> np.ndarray:
    """The RGB pixels inside the map frame (not the legend panel, whose symbols share the colours)."""
    a = np.asarray(Image.open(png).convert("RGB"))
    left, bottom, w, h = Canvas().map_box  # inches
    dpi = a.shape[1] / Canvas.W
    top = Canvas.H - bottom - h
    return a[int(top * dpi) + 3 : int((top + h) * dpi) - 3, int(left * dpi) + 3 : int((left + w) * dpi) - 3]


def colour_pixels(pixels: np.ndarray, colour: str) -> int:
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return int((pixels == rgb).all(-1).sum())


def test_ledger_has_what_the_dates_need(ledger):
    """The dates below test something: overdue without open, open beside overdue, nothing."""
    c20, unplaced = expected(ledger, DATES[0])
    assert c20["overdue"] > 0 and c20["open"] == 0 and c20["closed"] > 0 and c20["written_off"] > 0
    assert unplaced == 1
    c05, _ = expected(ledger, DATES[1])
    assert c05["open"] > 0 and c05["overdue"] > 0 and sum(c05.values()) < sum(c20.values())
    assert sum(expected(ledger, DATES[2])[0].values()) == 0


@pytest.mark.parametrize("date", DATES)
def test_static_cli_draws_the_statuses_of_the_date(ledger, tmp_path, date):
    png = tmp_path / "cases.png"
    args = ["--cases", str(ledger), "--as-of", date, "--dpi", str(DPI)]
    r = run_geo("static", "000", *args, "--out", str(png))
    assert r.returncode == 0, r.stderr
    pixels = map_pixels(png)
    counts, _ = expected(ledger, date)
    for cls, n in counts.items():
        seen = colour_pixels(pixels, style_for_case(cls).colour)
        # each marker shows at least a few pixels of its exact colour inside its white edge
        assert (seen >= 5 * n) if n else (seen == 0), (cls, n, seen)


def test_figure_one_scatter_per_status_in_the_shared_styles(ledger):
    data = build_plan(get_plan("000"))
    cases = load_cases(str(ledger), DATES[1])
    counts, unplaced = expected(ledger, DATES[1])
    fig = build_figure(data, cases=cases)
    ax = fig.axes[0]
    drawn = {a.get_gid(): a for a in ax.collections if str(a.get_gid()).startswith("case:")}
    assert set(drawn) == {f"case:{k}" for k, n in counts.items() if n}
    for key, artist in drawn.items():  # one artist per class, holding every case of it
        assert len(artist.get_offsets()) == counts[key[5:]]
    colours = artist_colours(fig)
    for key in drawn:
        assert colours[key] == {style_for_case(key[5:]).colour}
    # above the zones, below the labels
    zones = [a.get_zorder() for a in ax.collections if str(a.get_gid()).startswith("zone:")]
    labels = [t.get_zorder() for t in ax.texts if t.get_gid() == "label"]
    assert zones and max(zones) < min(a.get_zorder() for a in drawn.values())
    if labels:
        assert max(a.get_zorder() for a in drawn.values()) < min(labels)
    texts = "\n".join(t.get_text().replace("\n", "") for t in drawn_texts(fig))
    for cls, n in counts.items():
        assert (f"{WORDS[cls]}（{n} 件）" in texts) == (n > 0)
    assert f"问题台账（截至 {DATES[1]}）" in texts
    assert f"{unplaced} 件未定位" in texts
    # without a ledger: no case artist, no case words
    plain = build_figure(data)
    assert not [a for a in plain.axes[0].collections if str(a.get_gid()).startswith("case:")]
    assert "问题台账" not in "".join(t.get_text() for t in drawn_texts(plain))


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="needs pdftotext (poppler-utils)")
def test_build_draws_cases_on_the_printed_maps(ledger, tmp_path):
    out = tmp_path / "maps"
    r = run_geo(
        "build", "000", "--cases", str(ledger), "--as-of", DATES[0], "--out", str(out),
        env={"SOURCE_DATE_EPOCH": "1700000000"},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    counts, unplaced = expected(ledger, DATES[0])
    pixels = map_pixels(out / "000" / "map.png")
    assert colour_pixels(pixels, style_for_case("overdue").colour) > 0
    assert colour_pixels(pixels, style_for_case("open").colour) == 0
    text = subprocess.run(
        ["pdftotext", str(out / "000" / "map.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = "".join(text.split())
    for cls, n in counts.items():
        assert (f"{WORDS[cls]}（{n}件）" in flat) == (n > 0), cls
    assert f"截至{DATES[0]}" in flat
    assert f"{unplaced}件未定位" in flat


def test_bad_case_options_exit_2_and_write_nothing(ledger, tmp_path):
    png = tmp_path / "x.png"
    for args, field in (
        (["--cases", str(ledger), "--as-of", "2023-13-40"], "--as-of"),
        (["--cases", str(tmp_path / "missing.gpkg")], "missing.gpkg"),
        (["--as-of", "2023-04-20"], "--as-of"),
    ):
        r = run_geo("static", "000", *args, "--out", str(png))
        assert r.returncode == 2, (args, r.stderr)
        assert field in r.stderr and "Traceback" not in r.stderr
        assert not png.exists()


@pytest.mark.parametrize("date", ["2023-04-05", "2023-04-20"])
def test_html_layer_and_printed_map_hold_the_same_cases(ledger, date):
    """Both maps of one ledger at one date show the cases reported by then, and only those."""
    from geo.publish.cases_layer import cases_payload

    with open_store(ledger) as store:
        payload = cases_payload(store, date)
        frame = export_frame(store, date)
    reported = pd.to_numeric(frame["reported_day"]).to_numpy()
    by_then = frame[(reported <= as_of_day(date)) & frame["lon"].notna()]
    later = frame[reported > as_of_day(date)]
    assert len(later) > 0 or date == "2023-04-20"  # 04-05 must leave some cases out
    assert sorted(payload["cases"]["id"]) == sorted(by_then["case_id"])
    printed = load_cases(str(ledger), date)
    assert len(printed.lon) == len(payload["cases"]["id"])
