"""Fuzzed input files against the CLI: plans, point files, gazetteers, figure files, OSM extracts.

Whatever the bytes, ``geo`` answers with exit status 0 (done), 2 (bad input, said in a line) or 3
(nothing resolved): never a traceback or an internal error, and nothing written when it fails.
The CLI runs in this process (tests/_cli.py) and the example counts are fixed and derandomised,
so the whole file runs in well under a minute and the same way every time.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from _cli import geo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
PLANS = sorted((ROOT / "data" / "plans").glob("*.yaml"))


def fuzz(n: int):
    """Settings for one fuzz target: ``n`` derandomised examples, no deadline, no database."""
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def assert_clean(res, allowed=(0, 2)) -> None:
    assert res.returncode in allowed, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr[-2000:]
    if res.returncode == 2:
        assert any(ln.startswith("error:") for ln in res.stderr.splitlines()), res.stderr


def strict_json(text: str):
    def refuse(token):
        raise AssertionError(f"{token} in JSON output")

    return json.loads(text, parse_constant=refuse)


# ---------------------------------------------------------------------------------------------
# Cells and text that trip parsers

NASTY = [
    "",
    " ",
    "\u3000",
    "true",
    "false",
    "null",
    "~",
    ".inf",
    "-.inf",
    ".nan",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "-1e400",
    "1e308",
    "0",
    "-0",
    "-1",
    "０",
    "１１２．８５",
    "112.85",
    "35.49",
    "2023-02-30",
    "[]",
    "{}",
    "&a",
    "*a",
    "<<: *a",
    "!!python/object:os.system",
    "'",
    '"',
    "\\",
    "#",
    "- ",
    ": ",
    "=cmd|' /C calc'!A0",
    "<img src=x onerror=alert(1)>",
    "泽州路",
    "\x00",
    "\ufeff",
]
cells = st.one_of(
    st.sampled_from(NASTY),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(max_size=12),
)


# ---------------------------------------------------------------------------------------------
# Plan YAML (geo check)

mutation = st.tuples(
    st.sampled_from(["delete", "duplicate", "replace", "insert", "indent", "truncate"]),
    st.integers(min_value=0, max_value=10_000),
    cells,
)


@fuzz(50)
@given(plan=st.sampled_from(PLANS), edits=st.lists(mutation, min_size=1, max_size=4))
def test_fuzz_plan_yaml(plan, edits):
    lines = plan.read_text(encoding="utf-8").splitlines()
    for op, at, text in edits:
        if not lines:
            break
        i = at % len(lines)
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "replace":  # the value after the first colon
            head, sep, _ = lines[i].partition(": ")
            lines[i] = f"{head}{sep}{text}" if sep else text
        elif op == "insert":
            lines.insert(i, text)
        elif op == "indent":
            lines[i] = " " * (at % 7) + lines[i]
        else:
            lines = lines[: i + 1]
            lines[-1] = lines[-1][: at % (len(lines[-1]) + 1)]
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / plan.name
        f.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
        assert_clean(geo("check", f))


@fuzz(30)
@given(
    raw=st.one_of(st.binary(max_size=400), st.text(alphabet=":-[]{}&*!|>'\"#%@`,? \n\t0aé泽", max_size=200))
)
def test_fuzz_plan_bytes(raw):
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "000.yaml"
        f.write_bytes(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass"))
        assert_clean(geo("check", f))


# ---------------------------------------------------------------------------------------------
# Tables: points, gazetteers, figures


def _csv(header: list[str], rows: list[list[str]]) -> str:
    def q(c: str) -> str:
        return '"' + c.replace('"', '""') + '"' if any(ch in c for ch in ',"\n\r') else c

    return "\n".join(",".join(q(c) for c in r) for r in [header, *rows]) + "\n"


def mostly(good, bad=cells):
    """Three draws in four from ``good``, so that many examples get past the first check."""
    return st.one_of(good, good, good, bad)


def table(columns: dict[str, st.SearchStrategy[str]]):
    """A CSV text: usually the given columns with plausible values, sometimes a junk header or
    ragged rows of nasty cells."""
    names = list(columns)
    good_header = st.just(names)
    bad_header = st.lists(st.one_of(st.sampled_from(names), st.text(max_size=4)), min_size=1, max_size=6)
    good_rows = st.lists(st.tuples(*(mostly(columns[c]) for c in names)).map(list), min_size=1, max_size=6)
    bad_rows = st.lists(st.lists(cells, min_size=0, max_size=7), max_size=6)
    return st.builds(_csv, mostly(good_header, bad_header), mostly(good_rows, bad_rows))


def _num(lo: float, hi: float) -> st.SearchStrategy[str]:
    return st.floats(min_value=lo, max_value=hi).map(lambda v: f"{v:.6f}")


LON, LAT = _num(112.80, 112.92), _num(35.45, 35.55)  # 晋城市城区
NAMES = st.sampled_from(["泽州路", "文昌街", "金屯菜市场", "凤台街", "某学校", "=1+1", "<b>x</b>"])
KINDS = st.sampled_from(["street", "market", "school", "hospital", "park", "nosuch"])


def _write_table(d: Path, name: str, text: str, encoding: str, garble: bytes) -> Path:
    f = Path(d) / name
    f.write_bytes(text.encode(encoding, errors="replace") + garble)
    return f


encodings = st.sampled_from(["utf-8", "utf-8-sig", "gbk"])
garbles = st.one_of(st.just(b""), st.just(b""), st.just(b""), st.binary(max_size=8))


@fuzz(10)
@given(
    text=table({"name": NAMES, "lon": LON, "lat": LAT}),
    encoding=encodings,
    garble=garbles,
)
def test_fuzz_point_files(text, encoding, garble):
    with tempfile.TemporaryDirectory() as d:
        pts = _write_table(Path(d), "points.csv", text, encoding, garble)
        out = Path(d) / "hits.csv"
        res = geo("query", pts, "--plan", "000", "--out", out)
        assert_clean(res)
        assert out.exists() == (res.returncode == 0)


@fuzz(12)
@given(
    text=table(
        {
            "name": NAMES,
            "kind": KINDS,
            "lon": LON,
            "lat": LAT,
            "crs": st.sampled_from(["wgs84", "gcj02", "bd09", "mars"]),
        }
    ),
    encoding=encodings,
    garble=garbles,
)
def test_fuzz_gazetteers(text, encoding, garble):
    with tempfile.TemporaryDirectory() as d:
        gaz = _write_table(Path(d), "places.csv", text, encoding, garble)
        report = Path(d) / "unresolved.csv"
        res = geo("resolve", "泽州路", "--gazetteer", gaz, "--report", report)
        assert_clean(res, (0, 2, 3))
        if res.returncode == 2:
            assert not report.exists() and res.stdout == ""
        else:
            strict_json(res.stdout)


@fuzz(30)
@given(
    text=table(
        {
            "target": st.sampled_from(["manhole", "ad_spacing", "nosuch"]),
            "area": NAMES,
            "value": _num(-1000, 1000),
        }
    ),
    encoding=encodings,
    garble=garbles,
    suffix=st.sampled_from([".csv", ".csv", ".csv", ".xlsx"]),
)
def test_fuzz_figure_files(text, encoding, garble, suffix):
    with tempfile.TemporaryDirectory() as d:
        fig = _write_table(Path(d), f"figures{suffix}", text, encoding, garble)
        out = Path(d) / "targets.xlsx"
        res = geo("targets", "002", "--figures", fig, "--out", out)
        assert_clean(res)
        assert out.exists() == (res.returncode == 0)


@fuzz(10)
@given(rows=st.lists(st.tuples(st.sampled_from(["manhole", "ad_spacing", "nosuch", ""]), cells), max_size=5))
def test_fuzz_figure_workbooks(rows):
    from openpyxl import Workbook

    with tempfile.TemporaryDirectory() as d:
        fig = Path(d) / "figures.xlsx"
        wb = Workbook()
        ws = wb.active
        ws.append(["target", "value"])
        for target, value in rows:
            ws.append([target, value.replace("\x00", "")])
        wb.save(fig)
        out = Path(d) / "targets.csv"
        res = geo("targets", "002", "--figures", fig, "--out", out)
        assert_clean(res)
        assert out.exists() == (res.returncode == 0)


# ---------------------------------------------------------------------------------------------
# OSM extracts

bad_coord = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "95", "500", "", "abc", "-0"]),
)


def _osm(nodes, ways, tail: str) -> str:
    from xml.sax.saxutils import quoteattr

    parts = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    for i, (lat, lon, named) in enumerate(nodes, start=1):
        tag = '<tag k="name" v="凤台街"/><tag k="amenity" v="marketplace"/>' if named else ""
        parts.append(f"<node id={quoteattr(str(i))} lat={quoteattr(lat)} lon={quoteattr(lon)}>{tag}</node>")
    for j, refs in enumerate(ways, start=100):
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        parts.append(f'<way id="{j}">{nds}<tag k="highway" v="primary"/><tag k="name" v="凤台街"/></way>')
    parts.append("</osm>")
    text = "\n".join(parts)
    return text[: len(text) - len(tail)] + tail if tail else text


@fuzz(12)
@given(
    nodes=st.lists(
        st.tuples(mostly(LAT, bad_coord), mostly(LON, bad_coord), st.booleans()), min_size=2, max_size=6
    ),
    ways=st.lists(
        st.lists(st.integers(min_value=-1, max_value=8), min_size=2, max_size=5), min_size=1, max_size=3
    ),
    tail=mostly(st.just(""), st.text(max_size=6)),
)
def test_fuzz_osm_extracts(nodes, ways, tail):
    with tempfile.TemporaryDirectory() as d:
        osm = Path(d) / "extract.osm"
        osm.write_text(_osm(nodes, ways, tail), encoding="utf-8", errors="surrogatepass")
        res = geo("resolve", "凤台街", "--osm", osm)
        assert_clean(res, (0, 2, 3))
        if res.returncode != 2:
            fc = strict_json(res.stdout)
            for f in fc["features"]:
                assert "Infinity" not in json.dumps(f["geometry"])


@pytest.mark.parametrize("plan", [p.name for p in PLANS])
def test_bundled_plans_pass_check(plan):
    assert geo("check", ROOT / "data" / "plans" / plan).returncode == 0
