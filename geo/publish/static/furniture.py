"""Map furniture of the printed map: title, scale bar, north arrow, 示意图 stamp and footer.

Each drawing function returns the display-space box it covers (where it has one), so that labels
keep off it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import geopandas as gpd
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon as MplPolygon
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox
from shapely.geometry import Point

from ._text import INK, MUTED, STAMP_RED, bold, fmt_m, halo, nice_length, wrap
from .notes import footer_text

if TYPE_CHECKING:
    from ...build import PlanData


def scale_bar(ax, renderer) -> Bbox:
    """A 4-segment scale bar at the lower left, in metres/kilometres (the axes are metric)."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    w, h = x1 - x0, y1 - y0
    length = nice_length(w * 0.22)
    segs = 4 if length / 4 == int(length / 4) or length >= 4 else 2
    bx, by = x0 + w * 0.035, y0 + h * 0.05
    bar_h = h * 0.009
    bg = Rectangle(
        (bx - w * 0.015, by - h * 0.035),
        length + w * 0.05,
        h * 0.085,
        facecolor="white",
        edgecolor="#bbbbbb",
        lw=0.5,
        alpha=0.88,
        zorder=35,
    )
    ax.add_patch(bg)
    step = length / segs
    for i in range(segs):
        ax.add_patch(
            Rectangle(
                (bx + i * step, by),
                step,
                bar_h,
                facecolor=INK if i % 2 == 0 else "white",
                edgecolor=INK,
                lw=0.6,
                zorder=36,
            )
        )
    for i in (0, segs // 2, segs):
        v = i * step
        label = (
            "0" if i == 0 else (fmt_m(v) if i == segs else (f"{v / 1000:g}" if length >= 1000 else f"{v:g}"))
        )
        ax.text(
            bx + v,
            by + bar_h * 1.8,
            label,
            ha="center",
            va="bottom",
            fontsize=6.6,
            color=INK,
            zorder=37,
            parse_math=False,
        )
    ax.text(
        bx,
        by - bar_h * 1.4,
        "比例尺",
        ha="left",
        va="top",
        fontsize=6.2,
        color=MUTED,
        zorder=37,
        parse_math=False,
    )
    return bg.get_window_extent(renderer)


def north_arrow(ax, data: PlanData, renderer) -> Bbox:
    """North arrow at the upper right, pointing to true north (grid convergence applied)."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    # true north at the map centre: project a short step north
    pts = gpd.GeoSeries([Point(cx, cy)], crs=data.epsg).to_crs(4326)
    lon, lat = pts.iloc[0].x, pts.iloc[0].y
    north = gpd.GeoSeries([Point(lon, lat), Point(lon, lat + 0.01)], crs=4326).to_crs(data.epsg)
    dx, dy = north.iloc[1].x - north.iloc[0].x, north.iloc[1].y - north.iloc[0].y
    ang = math.atan2(dx, dy)  # clockwise from grid north
    size = h * 0.085
    ax_x, ax_y = x1 - w * 0.045, y1 - h * 0.05 - size
    ux, uy = math.sin(ang), math.cos(ang)
    px, py = -uy, ux
    tip = (ax_x + ux * size, ax_y + uy * size)
    left = (ax_x + px * size * 0.28, ax_y + py * size * 0.28)
    right = (ax_x - px * size * 0.28, ax_y - py * size * 0.28)
    notch = (ax_x + ux * size * 0.25, ax_y + uy * size * 0.25)
    ax.add_patch(MplPolygon([tip, left, notch], closed=True, facecolor=INK, edgecolor=INK, lw=0.6, zorder=36))
    ax.add_patch(
        MplPolygon([tip, right, notch], closed=True, facecolor="white", edgecolor=INK, lw=0.6, zorder=36)
    )
    t = ax.text(
        tip[0] + ux * size * 0.12,
        tip[1] + uy * size * 0.12,
        "N",
        ha="center",
        va="bottom",
        fontsize=10,
        color=INK,
        zorder=37,
        path_effects=bold(INK, 0.5),
        parse_math=False,
    )
    arrow_bb = Bbox.union(
        [p.get_window_extent(renderer) for p in ax.patches[-2:]] + [t.get_window_extent(renderer)]
    )
    return arrow_bb


def stamp(ax, renderer) -> Bbox:
    """The 示意图 stamp at the upper left of the map."""
    big = ax.text(
        0.03,
        0.965,
        "示 意 图",
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=22,
        color=STAMP_RED,
        zorder=38,
        path_effects=bold(STAMP_RED, 0.8),
        parse_math=False,
        bbox={
            "boxstyle": "square,pad=0.35",
            "facecolor": "white",
            "edgecolor": STAMP_RED,
            "linewidth": 2.0,
            "alpha": 0.92,
        },
    )
    bb = big.get_window_extent(renderer)
    inv = ax.transAxes.inverted()
    (_, ybot) = inv.transform((bb.x0, bb.y0))
    small = ax.text(
        0.03,
        ybot - 0.035,
        "位置为示意布设，非实测\n不得作为执法或测量依据",
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=7.2,
        color=STAMP_RED,
        zorder=38,
        linespacing=1.35,
        path_effects=halo(2.4),
        parse_math=False,
    )
    pad = (0.35 * 22 + 3) * ax.figure.dpi / 72  # the box's padding and border, in pixels
    bb = Bbox.from_extents(bb.x0 - pad, bb.y0 - pad, bb.x1 + pad, bb.y1 + pad)
    return Bbox.union([bb, small.get_window_extent(renderer)])


def title(cv, doc) -> None:
    """The plan's title (shrunk to fit) and a line of 文号, issuer, dates and region."""
    fig, renderer = cv.fig, cv.renderer()
    left = cv.MARGIN / cv.W
    top = 1 - 0.3 / cv.H
    size = 17.0
    max_w = (cv.W - 2 * cv.MARGIN) * fig.dpi
    t = fig.text(
        left,
        top,
        doc.title,
        fontsize=size,
        color=INK,
        ha="left",
        va="top",
        path_effects=bold(INK, 0.7),
        parse_math=False,
    )
    while t.get_window_extent(renderer).width > max_w and size > 11:
        size -= 0.5
        t.set_fontsize(size)
    parts = [doc.doc_number, doc.issuer]
    if doc.issued:
        parts.append(f"{doc.issued.year}年{doc.issued.month}月{doc.issued.day}日")
    span = doc.span
    end = f"{span.end.year}年{span.end.month}月{span.end.day}日" if span.end else "长期"
    parts.append(f"实施：{span.start.year}年{span.start.month}月{span.start.day}日—{end}")
    parts.append(f"范围：{doc.region}")
    fig.text(
        left,
        top - 0.43 / cv.H,
        "　".join(parts),
        fontsize=9.5,
        color=MUTED,
        ha="left",
        va="top",
        parse_math=False,
    )
    y = 1 - (cv.TITLE_H - 0.02) / cv.H
    fig.add_artist(Line2D([left, 1 - left], [y, y], color=INK, lw=1.2))


def footer(cv, data: PlanData, renderer) -> None:
    """Sources, CRS and 制图日期 under the map."""
    fig = cv.fig
    left = cv.MARGIN / cv.W
    max_em = (cv.W - 2 * cv.MARGIN) / (6.8 / 72) - 2
    wrapped = "\n".join(wrap(line, max_em, 2) for line in footer_text(data).split("\n"))
    fig.text(
        left,
        (cv.FOOT_H - 0.12) / cv.H,
        wrapped,
        fontsize=6.8,
        color=MUTED,
        ha="left",
        va="top",
        linespacing=1.4,
        parse_math=False,
    )
