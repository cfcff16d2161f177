"""Static maps for briefings: A4 at 300 dpi, not blank, Chinese text in a font that has every
glyph (never boxes), vector PDF, 示意 stamp, reproducible bytes."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import subprocess
import warnings

import numpy as np
import pytest
from fontTools.ttLib import TTFont
from matplotlib import font_manager
from PIL import Image

from geo.build import build_plan
from geo.errors import InputError
from geo.plan import get_plan
from geo.publish import static
from geo.publish.static import (
    CJKGlyphWarning,
    build_figure,
    drawn_texts,
    font_path,
    map_date,
    missing_glyphs,
    render_static,
)

PLAN_IDS = ("000", "001", "002", "003", "004")


@pytest.fixture(scope="module")
def datas():
    return {pid: build_plan(get_plan(pid)) for pid in PLAN_IDS}


@pytest.fixture(scope="module")
def rendered(datas, tmp_path_factory):
    """Plan 001 (the most labels) as PNG and PDF."""
    d = tmp_path_factory.mktemp("static")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CJKGlyphWarning)
        png = render_static(datas["001"], d / "map.png")
        pdf = render_static(datas["001"], d / "map.pdf")
    return png, pdf


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the font ---------------------------------------------------------------------------------


def test_font_comes_from_the_pip_package():
    import pylopdf_fonts_zh_cn

    assert font_path() == pylopdf_fonts_zh_cn.sans_path()
    assert font_manager.FontProperties(fname=str(font_path())).get_name() == "Noto Sans SC"


@pytest.mark.parametrize("pid", PLAN_IDS)
def test_every_drawn_string_has_its_glyphs_in_the_font_used(datas, pid):
    with warnings.catch_warnings():
        warnings.simplefilter("error", CJKGlyphWarning)  # the renderer's own check must stay quiet
        fig = build_figure(datas[pid])
    texts = drawn_texts(fig)
    strings = [t.get_text() for t in texts]
    doc = datas[pid].plan.document
    assert doc.title in strings
    assert any(doc.doc_phrase in s for s in strings)
    assert any(s.startswith("数据来源：") and "制图日期：" in s for s in strings)
    # independently of the module: the font file's own cmap has every character drawn
    with TTFont(str(font_path()), lazy=True) as f:
        cmap = f.getBestCmap()
    missing = {c for s in strings for c in s if not c.isspace() and ord(c) not in cmap}
    assert not missing, f"characters without a glyph: {sorted(missing)}"
    assert missing_glyphs(strings) == {}
    # and matplotlib resolves every text to that very file
    for t in texts:
        assert font_manager.findfont(t.get_fontproperties(), fallback_to_default=False) == str(font_path())


def test_missing_glyph_is_reported_loudly(datas):
    assert missing_glyphs(["凤台街", "\U0001f600"]) == {"\U0001f600": ["\U0001f600"]}
    plan = datas["000"].plan
    odd = plan.model_copy(
        update={"document": plan.document.model_copy(update={"title": "测试\U0001f600方案"})}
    )
    data = dataclasses.replace(datas["000"], plan=odd)
    with pytest.warns(CJKGlyphWarning, match="\U0001f600"):
        build_figure(data)


# --- the PNG ----------------------------------------------------------------------------------


def test_png_is_a4_at_300_dpi_and_not_blank(rendered):
    png, _ = rendered
    im = Image.open(png)
    assert im.size == (3508, 2480)
    assert im.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    a = np.asarray(im.convert("L"), dtype=float)
    assert a.std() > 20
    assert (a < 245).mean() > 0.10  # a good share of the page is ink or fill, not paper


def test_png_has_no_software_stamp(rendered):
    png, _ = rendered
    im = Image.open(png)
    assert "Software" not in im.info
    assert "Title" in im.info


def test_schematic_stamp_and_furniture(datas):
    fig = build_figure(datas["001"])
    strings = [t.get_text() for t in drawn_texts(fig)]
    assert "示 意 图" in strings
    assert any("非实测" in s for s in strings)
    assert "N" in strings  # north arrow
    assert any(s.endswith("千米") or s.endswith(" 米") for s in strings)  # scale bar end label
    assert "比例尺" in strings
    assert any("第一批" in s for s in strings) and any("第二批" in s for s in strings)  # legend
    assert any("严管街" in s for s in strings)
    # labels of named places, once each
    names = set(datas["001"].places["name"])
    labelled = [s.replace("\n", "") for s in strings if s.replace("\n", "") in names]
    assert len(labelled) == len(set(labelled)) >= 20


def test_zones_and_kind_places_in_the_legend(datas):
    strings = [t.get_text() for t in drawn_texts(build_figure(datas["002"]))]
    assert any("中小学校周边 200 米" in s for s in strings)
    assert any("方案未点名" in s for s in strings)


def test_plan_without_geometry_still_makes_a_sensible_map(datas, tmp_path):
    d = datas["003"]
    assert not d.schematic
    strings = [t.get_text() for t in drawn_texts(build_figure(d))]
    assert "示 意 图" not in strings
    assert any("本方案未点名具体地点，也未规定以米计的距离规则" in s for s in strings)
    png = render_static(d, tmp_path / "003.png")
    a = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert a.std() > 10


def test_map_is_drawn_in_the_metric_crs(datas):
    fig = build_figure(datas["000"])
    ax = fig.axes[0]
    x0, x1 = ax.get_xlim()
    assert 300_000 < x0 < 700_000  # Gauss-Krüger eastings (metres), not degrees
    assert 1_000 < x1 - x0 < 50_000
    assert ax.get_aspect() == 1.0
    assert static._nice_length(2300) == 2000
    assert static._nice_length(740) == 500
    assert static._nice_length(13) == 10


def test_rerendering_gives_identical_bytes(datas, rendered, tmp_path):
    png, pdf = rendered
    assert _sha(render_static(datas["001"], tmp_path / "again.png")) == _sha(png)
    assert _sha(render_static(datas["001"], tmp_path / "again.pdf")) == _sha(pdf)


def test_map_date_is_never_today(datas, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert map_date(datas["000"]) == (datas["000"].plan.document.issued, "issued")
    assert map_date(datas["001"]) == (datas["001"].plan.document.span.start, "span")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    day, basis = map_date(datas["001"])
    assert (day.isoformat(), basis) == ("2023-11-14", "SOURCE_DATE_EPOCH")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(InputError):
        map_date(datas["001"])


def test_bad_requests_are_input_errors(datas, tmp_path):
    with pytest.raises(InputError, match=r"\.png or \.pdf"):
        render_static(datas["000"], tmp_path / "map.jpg")
    with pytest.raises(InputError, match="unknown layer"):
        render_static(datas["000"], tmp_path / "map.png", layers=["roads"])
    assert not list(tmp_path.iterdir())


def test_layer_subset(datas, tmp_path):
    fig = build_figure(datas["002"], layers="region,zones")
    strings = [t.get_text() for t in drawn_texts(fig)]
    assert any("周边 500 米" in s for s in strings)
    assert not any("方案未点名" in s for s in strings)


def test_missing_basemap_package_falls_back_to_plain(datas, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_contextily(name, *a, **kw):
        if name == "contextily":
            raise ImportError("no contextily here")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_contextily)
    with pytest.warns(UserWarning, match="contextily"):
        build_figure(datas["000"], basemap="osm")


# --- the PDF ----------------------------------------------------------------------------------


def test_pdf_is_vector_with_the_cjk_font_embedded(rendered, datas):
    _, pdf = rendered
    raw = pdf.read_bytes()
    assert raw.startswith(b"%PDF")
    assert b"/CreationDate" not in raw
    assert b"NotoSansSC-Regular" in raw  # the font file matplotlib used, embedded
    assert b"/Subtype /Image" not in raw  # no raster: everything is paths and text
    if shutil.which("pdffonts") is None:
        pytest.skip("poppler-utils not installed")
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    assert "NotoSansSC-Regular" in fonts.stdout
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert datas["001"].plan.document.doc_number in text  # real text, searchable


def test_pdf_page_renders_not_blank(rendered, tmp_path):
    _, pdf = rendered
    if shutil.which("pdftoppm") is None:
        pytest.skip("poppler-utils not installed")
    res = subprocess.run(
        ["pdftoppm", "-r", "40", "-png", "-singlefile", str(pdf), str(tmp_path / "page")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Error" not in res.stderr and "Mismatch" not in res.stderr
    im = Image.open(tmp_path / "page.png")
    assert im.size[0] > im.size[1]  # landscape
    a = np.asarray(im.convert("L"), dtype=float)
    assert a.std() > 20 and (a < 245).mean() > 0.10


@pytest.mark.parametrize("pid", ["000", "001", "004"])
def test_labels_keep_off_each_other_and_the_furniture(datas, pid):
    """No label over another label, the north arrow, the scale bar or the 示意 stamp."""
    fig = build_figure(datas[pid])
    ax = fig.axes[0]
    r = fig.canvas.get_renderer()
    labels = [t.get_window_extent(r) for t in ax.texts if t.get_gid() == "label"]
    assert len(labels) >= 8
    furniture = [t.get_window_extent(r) for t in ax.texts if t.get_text() in ("N", "比例尺", "示 意 图")]
    furniture += [p.get_window_extent(r) for p in ax.patches if p.get_zorder() >= 35]  # bar, arrow
    assert len(furniture) >= 5
    for i, a in enumerate(labels):
        assert not any(a.overlaps(b) for b in furniture), a
        assert not any(a.overlaps(b) for b in labels[i + 1 :]), a


def test_png_and_pdf_of_one_drawing_equal_the_files_made_one_at_a_time(datas, rendered, tmp_path):
    # render_static_files encodes the PNG in a second thread while the PDF is drawn
    png, pdf = rendered
    both = static.render_static_files(datas["001"], [tmp_path / "map.png", tmp_path / "map.pdf"])
    assert [_sha(p) for p in both] == [_sha(png), _sha(pdf)]


def test_png_error_in_the_encoding_thread_reaches_the_caller_and_leaves_nothing(datas, tmp_path, monkeypatch):
    from geo import _io
    from geo.publish.static import page

    def disk_full(rgb, size, path, *a):
        with _io.atomic_path(path) as tmp:
            tmp.write_bytes(b"half a png")
            raise InputError.single(str(path), "disk said no")

    monkeypatch.setattr(page, "_write_png", disk_full)
    with pytest.raises(InputError, match="disk said no"), _io.staged():
        static.render_static_files(datas["002"], [tmp_path / "map.png", tmp_path / "map.pdf"])
    assert not list(tmp_path.iterdir())  # neither file, no temporary file


def test_png_writer_keeps_every_pixel_and_the_metadata():
    import io

    from geo.publish.static.png import write_png

    rgb = np.random.default_rng(7).integers(0, 256, (23, 37, 3), dtype=np.uint8)
    buf = io.BytesIO()
    write_png(buf, rgb.tobytes(), (37, 23), 300, {"Title": "城管图 示意", "Description": "plain"})
    im = Image.open(io.BytesIO(buf.getvalue()))
    im.load()  # decodes and checks every chunk's CRC
    assert (im.mode, im.size) == ("RGB", (37, 23))
    assert (np.asarray(im) == rgb).all()
    assert im.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    assert (im.info["Title"], im.info["Description"]) == ("城管图 示意", "plain")
    with pytest.raises(ValueError, match="bytes of RGB"):
        write_png(io.BytesIO(), rgb.tobytes()[:-1], (37, 23), 300)
