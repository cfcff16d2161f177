"""The A4 page: layout, drawing a plan in order, and saving PNG and PDF from one figure."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from shapely import box
from shapely.geometry.base import BaseGeometry

from ..._io import atomic_path
from ...errors import InputError
from .. import style as S
from . import furniture
from ._text import MUTED, OUTSIDE, PAPER, STAMP_RED, halo
from .draw import Drawn, draw_kind_places, draw_places, draw_region, draw_spacing, draw_zones
from .fonts import FALLBACK_FAMILY, FONT_NAME, check_glyphs, font_path
from .labels import place_labels
from .legend import Entry, Legend, draw_legend
from .notes import empty_notice
from .png import write_png

if TYPE_CHECKING:
    from ...build import PlanData
    from .cases import StaticCases

#: A4 landscape, inches.
PAGE_SIZE_IN = (3508 / 300, 2480 / 300)  # 297 × 210 mm to 0.1 mm; whole pixels at 300 dpi
#: Print resolution of the PNG.
DPI = 300
#: Layers :func:`render_static` can draw (``dissolved`` is accepted for ``zones``).
STATIC_LAYERS = ("region", "zones", "spacing", "places", "kind_places", "labels")
#: Height (inches) of the locator map at the foot of the legend panel.
LOCATOR_H = 1.75


class Canvas:
    """The page layout (inches): title band, map frame, legend panel, footer."""

    W, H = PAGE_SIZE_IN
    MARGIN = 0.35
    TITLE_H = 0.95
    FOOT_H = 0.55
    PANEL_W = 2.9
    GAP = 0.2

    def __init__(self) -> None:
        self.fig = Figure(figsize=PAGE_SIZE_IN, dpi=DPI, facecolor="white")
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(self.fig)
        W, H, m = self.W, self.H, self.MARGIN
        map_w = W - 2 * m - self.PANEL_W - self.GAP
        map_h = H - self.TITLE_H - self.FOOT_H - m * 0.4
        self.map_box = (m, self.FOOT_H, map_w, map_h)  # inches: left, bottom, width, height
        self.panel_box = (m + map_w + self.GAP, self.FOOT_H, self.PANEL_W, map_h)
        self.ax = self.fig.add_axes(self._frac(self.map_box))
        self.panel = self.fig.add_axes(self._frac(self.panel_box))
        self.panel.set_xlim(0, self.PANEL_W)
        self.panel.set_ylim(0, map_h)
        self.panel.set_axis_off()

    def _frac(self, box_in):
        left, bottom, w, h = box_in
        return [left / self.W, bottom / self.H, w / self.W, h / self.H]

    def renderer(self):
        return self.fig.canvas.get_renderer()


def norm_layers(layers: Sequence[str] | str | None) -> set[str]:
    """The layer names asked for, checked against :data:`STATIC_LAYERS`."""
    if layers is None:
        return set(STATIC_LAYERS)
    if isinstance(layers, str):
        layers = [s for s in re.split(r"[,\s]+", layers) if s]
    out = set()
    for name in layers:
        n = "zones" if name == "dissolved" else name
        if n not in STATIC_LAYERS:
            raise InputError.single(
                "--layers", f"unknown layer {name!r}; expected some of: {', '.join(STATIC_LAYERS)}"
            )
        out.add(n)
    return out


def _metric(df: gpd.GeoDataFrame, epsg: int) -> gpd.GeoDataFrame:
    return df.to_crs(epsg) if len(df) else df


def extent(frames: Sequence[gpd.GeoDataFrame], boundary_m: BaseGeometry | None) -> tuple[float, ...]:
    """What the map frames: the features, or the region when there are none; at least 800 m
    square."""
    bounds = [f.total_bounds for f in frames if len(f) and not f.geometry.is_empty.all()]
    if bounds:
        b = np.array(bounds)
        x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    elif boundary_m is not None and not boundary_m.is_empty:
        x0, y0, x1, y1 = boundary_m.bounds
    else:
        return (0.0, 0.0, 1000.0, 1000.0)
    w, h = max(x1 - x0, 800.0), max(y1 - y0, 800.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def fit_aspect(ext, box_w: float, box_h: float, pad: float = 0.07) -> tuple[float, float, float, float]:
    """Limits (x0, x1, y0, y1) around ``ext`` with the frame's aspect ratio and some margin."""
    x0, y0, x1, y1 = ext
    w, h = (x1 - x0) * (1 + 2 * pad), (y1 - y0) * (1 + 2 * pad)
    # room for the stamp/arrow band at the top and the scale bar at the bottom
    h *= 1.12
    target = box_w / box_h
    if w / h < target:
        w = h * target
    else:
        h = w / target
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2


def build_figure(
    data: PlanData,
    *,
    layers: Sequence[str] | str | None = None,
    basemap: str | None = None,
    cases: StaticCases | None = None,
) -> Figure:
    """Draw a plan's map on an A4 landscape figure (not saved; see :func:`render_static`).

    Parameters
    ----------
    data : PlanData
    layers : sequence of str, optional
        Some of :data:`STATIC_LAYERS` (default all).
    basemap : str, optional
        ``None``/``"none"``: plain. ``"osm"`` or an xyzservices provider name
        (``"CartoDB.Positron"``): web tiles via the optional ``contextily`` package; when it is
        missing or the network fails, a warning and a plain map.
    cases : StaticCases, optional
        The 问题台账 at a date (:func:`geo.publish.static.cases.load_cases`): its cases drawn by
        status above the zones, listed in the legend, with a note of the date and of the cases
        that have no position.

    Returns
    -------
    matplotlib.figure.Figure
    """
    font_path()  # refuse early without a CJK font
    want = norm_layers(layers)
    with matplotlib.rc_context(
        {
            "font.family": [FONT_NAME, FALLBACK_FAMILY],
            "pdf.fonttype": 3,
            "ps.fonttype": 3,
            "svg.fonttype": "path",
            "axes.unicode_minus": False,
            "path.simplify": True,
            "text.parse_math": False,
            "hatch.linewidth": 0.6,
        }
    ):
        return _draw(data, want, basemap, cases)


def _draw(data: PlanData, want: set[str], basemap: str | None, cases: StaticCases | None = None) -> Figure:
    cv = Canvas()
    ax, epsg = cv.ax, data.epsg

    boundary_m = None
    if data.region.boundary is not None and not data.region.boundary.is_empty:
        boundary_m = gpd.GeoSeries([data.region.boundary], crs="EPSG:4326").to_crs(epsg).iloc[0]
    show_region = boundary_m is not None and "region" in want

    def layer(name: str, df: gpd.GeoDataFrame, key: str) -> gpd.GeoDataFrame:
        return _metric(df, epsg) if key in want else df.iloc[0:0]

    places = layer("places", data.places, "places")
    dissolved = layer("dissolved", data.dissolved, "zones")
    kind_places = layer("kind_places", data.kind_places, "kind_places")
    spacing = layer("spacing", data.spacing, "spacing")

    frames = [places, dissolved, kind_places, spacing]
    case_xy = None
    if cases is not None:
        from .cases import in_region, project

        case_xy = project(cases, epsg)
        # the cases in the plan's region widen the frame; a ledger reaching beyond it does not
        framed = case_xy[in_region(case_xy, boundary_m)]
        frames.append(gpd.GeoDataFrame(geometry=gpd.points_from_xy(framed[:, 0], framed[:, 1]), crs=epsg))
    ext = extent(frames, boundary_m if show_region else None)
    _, _, bw, bh = cv.map_box
    x0, x1, y0, y1 = fit_aspect(ext, bw, bh)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_edgecolor("#444444")
        s.set_linewidth(0.9)
    ax.set_facecolor(OUTSIDE if show_region else PAPER)

    tiles = _add_basemap(ax, basemap, epsg) if basemap not in (None, "", "none", "plain") else False

    drawn = Drawn()
    span = x1 - x0
    if show_region:
        draw_region(ax, boundary_m, tiles=tiles, paper=PAPER)
    draw_zones(ax, data, dissolved, drawn)
    draw_spacing(ax, data, spacing, drawn)
    draw_kind_places(ax, kind_places, drawn, span)
    draw_places(ax, data, places, drawn, span)
    frame = box(x0, y0, x1, y1)
    cases_drawn, cases_outside = 0, 0
    if cases is not None:
        from .cases import draw_cases

        entries, cases_outside = draw_cases(ax, case_xy, cases.status, frame)
        drawn.entries.extend(entries)
        cases_drawn = len(case_xy) - cases_outside
    if show_region and boundary_m.boundary.intersects(frame):
        drawn.entries.append(Entry("行政区", S.BOUNDARY, "line", f"行政区界：{data.region.boundary_label}"))

    # -- map furniture, then labels around it ---------------------------------------------------
    renderer = cv.renderer()
    reserved = [furniture.scale_bar(ax, renderer), furniture.north_arrow(ax, data, renderer)]
    if data.schematic:
        reserved.append(furniture.stamp(ax, renderer))
    if not (len(places) or len(dissolved) or len(kind_places) or len(spacing) or cases_drawn):
        t = ax.text(
            0.5,
            0.5,
            empty_notice(data),
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=11,
            color=MUTED,
            linespacing=1.6,
            zorder=40,
            path_effects=halo(3.0),
        )
        reserved.append(t.get_window_extent(renderer))
    if "labels" in want and drawn.labels:
        place_labels(ax, renderer, drawn.labels, reserved, drawn.markers, drawn.obstacles)

    # -- title, legend, footer -------------------------------------------------------------------
    furniture.title(cv, data.plan.document)
    leg = Legend(cv.panel, cv.PANEL_W, cv.panel_box[3])
    notes = []
    if data.schematic:
        notes.append("示意：图中位置取自内置示意数据，按方案文字示意布设，非实测，不得作为执法或测量依据。")
    if len(data.unresolved):
        notes.append(f"另有 {len(data.unresolved)} 处地点未能定位，未绘入图中（见 unresolved.csv）。")
    if cases is not None:
        from .cases import cases_note

        notes.append(cases_note(cases, cases_outside))
    if tiles:
        notes.append("底图：网络瓦片（见图内署名），仅作位置参考。")
    headers = {"问题台账": f"问题台账（截至 {cases.as_of.isoformat()}）"} if cases is not None else None
    draw_legend(leg, drawn.entries, notes, headers)
    # the locator takes the room the legend left (the legend and its notes come first)
    room = leg.y - 0.45
    if show_region and not frame.contains(boundary_m) and room >= 1.0:
        locator(cv, boundary_m, frame, data.region.name, min(room, LOCATOR_H))
    furniture.footer(cv, data, renderer)
    check_glyphs(cv.fig)
    return cv.fig


def locator(cv: Canvas, boundary_m: BaseGeometry, frame, name: str, height: float = LOCATOR_H) -> None:
    """A small map of the whole region at the foot of the legend panel, the main map's frame
    outlined on it, so the region's boundary is always shown when the map does not hold all of it."""
    left, bottom, w, _ = cv.panel_box
    lax = cv.fig.add_axes(cv._frac((left, bottom, w, height)))
    lax.set_xticks([])
    lax.set_yticks([])
    for s in lax.spines.values():
        s.set_edgecolor("#c9cdd2")
        s.set_linewidth(0.6)
    lax.set_facecolor(OUTSIDE)
    region = boundary_m.union(frame)
    x0, y0, x1, y1 = region.bounds
    bx, by = x1 - x0, y1 - y0
    ratio = w / height
    if bx / by < ratio:
        bx = by * ratio
    else:
        by = bx / ratio
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    lax.set_xlim(cx - bx * 0.55, cx + bx * 0.55)
    lax.set_ylim(cy - by * 0.55, cy + by * 0.55)
    lax.set_aspect("equal", adjustable="box")
    draw_region(lax, boundary_m, tiles=False, paper=PAPER)
    fx0, fy0, fx1, fy1 = frame.bounds
    lax.add_patch(
        Rectangle((fx0, fy0), fx1 - fx0, fy1 - fy0, fill=False, edgecolor=STAMP_RED, lw=1.0, zorder=5)
    )
    cv.panel.text(
        0.0,
        height + 0.08,
        f"区位：{name}（红框为本图范围）",
        fontsize=6.8,
        color=MUTED,
        va="bottom",
        ha="left",
    )


def _add_basemap(ax, basemap: str, epsg: int) -> bool:
    """Web tiles under the map via contextily (optional); False, with a warning, when unavailable."""
    try:
        import contextily as cx
    except ImportError:
        warnings.warn(
            "basemap needs the optional package contextily (pip install contextily); drawing a plain map",
            UserWarning,
            stacklevel=3,
        )
        return False
    name = {"osm": "OpenStreetMap.Mapnik"}.get(basemap.lower(), basemap)
    if name.lower() in ("amap", "tianditu", "gaode"):
        warnings.warn(
            f"basemap {basemap!r} is not supported in static maps (GCJ-02 tiles / API key); "
            "drawing a plain map",
            UserWarning,
            stacklevel=3,
        )
        return False
    try:
        import xyzservices.providers as xyz

        source = xyz.query_name(name)
    except (ImportError, ValueError):
        warnings.warn(f"unknown basemap {basemap!r}; drawing a plain map", UserWarning, stacklevel=3)
        return False
    try:
        cx.add_basemap(ax, crs=f"EPSG:{epsg}", source=source, attribution_size=5, zorder=0)
    except Exception as exc:  # network, tile server, reprojection: fall back to a plain map
        warnings.warn(
            f"basemap tiles unavailable ({type(exc).__name__}: {exc}); drawing a plain map",
            UserWarning,
            stacklevel=3,
        )
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Saving


def render_static(
    data: PlanData,
    path: str | Path,
    *,
    layers: Sequence[str] | str | None = None,
    basemap: str | None = None,
    dpi: int = DPI,
    cases: StaticCases | None = None,
) -> Path:
    """Render a plan's map to ``path`` (``.png`` raster at ``dpi``, ``.pdf`` vector), atomically.

    Parameters
    ----------
    data : PlanData
        From :func:`geo.build.build_plan`.
    path : str or Path
        Target file; the suffix picks the format (``.png`` or ``.pdf``).
    layers : sequence of str or comma-separated str, optional
        Some of :data:`STATIC_LAYERS`; default all.
    basemap : str, optional
        See :func:`build_figure`.
    dpi : int
        PNG resolution (A4 landscape at 300 dpi is 3508×2480 pixels).
    cases : StaticCases, optional
        The 问题台账 layer; see :func:`build_figure`.

    Returns
    -------
    Path

    Raises
    ------
    InputError
        For an unsupported suffix or an unknown layer.
    GeoError
        When no CJK font is available.
    """
    return render_static_files(data, [path], layers=layers, basemap=basemap, dpi=dpi, cases=cases)[0]


def _png_pixels(fig: Figure, dpi: int) -> tuple[bytes, tuple[int, int]]:
    """The page rendered by Agg at ``dpi``: RGB bytes and (width, height) — a copy, so the
    figure may be drawn again (into the PDF) while they are encoded."""
    from PIL import Image

    if dpi != fig.dpi:
        fig.set_dpi(dpi)
    fig.canvas.draw()
    size = fig.canvas.get_width_height(physical=True)
    # RGBX unpacking drops the alpha channel (the page is opaque white) in one copy
    return Image.frombytes("RGB", size, fig.canvas.buffer_rgba(), "raw", "RGBX").tobytes(), size


def _write_png(rgb: bytes, size: tuple[int, int], path: Path, dpi: int, title: str, description: str) -> None:
    """An RGB PNG (no alpha channel) with title, description and dpi, no software stamp,
    atomically (:mod:`.png`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write_png(f, rgb, size, dpi, {"Title": title, "Description": description})


class _Background:
    """Run one call in a thread (in the caller's context, so staged writes stay staged);
    :meth:`join` waits and re-raises its error. zlib releases the GIL, so the PNG's compression
    runs beside the PDF drawing on a second core; the bytes are the same."""

    def __init__(self, fn, *args) -> None:
        import contextvars
        import threading

        self.error: BaseException | None = None
        ctx = contextvars.copy_context()

        def run() -> None:
            try:
                ctx.run(fn, *args)
            except BaseException as exc:  # handed to join()
                self.error = exc

        self.thread = threading.Thread(target=run, name="png-encoder", daemon=True)
        self.thread.start()

    def join(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


def render_static_files(
    data: PlanData,
    paths: Sequence[str | Path],
    *,
    layers: Sequence[str] | str | None = None,
    basemap: str | None = None,
    dpi: int = DPI,
    cases: StaticCases | None = None,
) -> list[Path]:
    """Like :func:`render_static` for several files (e.g. ``map.png`` and ``map.pdf``) of one
    drawing: the map is drawn once and saved in each format."""
    targets = [Path(p) for p in paths]
    for path in targets:
        if path.suffix.lower() not in (".png", ".pdf"):
            raise InputError.single(
                str(path), f"unsupported static map format {path.suffix!r}; expected .png or .pdf"
            )
    fig = build_figure(data, layers=layers, basemap=basemap, cases=cases)
    doc = data.plan.document
    rc = {"pdf.fonttype": 3, "font.family": [FONT_NAME, FALLBACK_FAMILY]}
    pending: list[_Background] = []
    try:
        for path in targets:
            if path.suffix.lower() == ".png":
                with matplotlib.rc_context(rc):
                    rgb, size = _png_pixels(fig, dpi)
                args = (rgb, size, path, dpi, doc.title, doc.doc_phrase)
                if len(targets) > 1:  # encode while the other format is drawn
                    pending.append(_Background(_write_png, *args))
                else:
                    _write_png(*args)
                continue
            meta = {
                "Title": doc.title,
                "Subject": doc.doc_phrase,
                "Creator": "chengguan-geo",
                "Producer": None,
                "CreationDate": None,
                "ModDate": None,
            }
            with matplotlib.rc_context(rc), atomic_path(path) as tmp:
                fig.savefig(tmp, format="pdf", dpi=dpi, metadata=meta, facecolor="white")
    finally:
        for job in pending:
            job.join()
    return targets
