"""Label placement on the printed map: no overlaps, nothing on the furniture, leader lines where
crowded.

Labels are placed greedily, most important first (严管街 and 十纵十横, then 马路市场 and other
streets, then places, then reference features), each at the best of a list of candidate
positions, scored in display space:

- **never**: outside the map frame, over the scale bar, north arrow, 示意 stamp or any label
  already placed, or over another feature's marker;
- **avoided**: crossing a line or outline drawn for another feature; sitting closer to another
  feature's marker than to its own (a reader would match it to the wrong dot); being far out.

A point or area is first tried in the eight positions around its symbol, then on rings further
out, where a thin leader line joins label and symbol. A street is labelled along itself (north–
south streets get upright characters stacked vertically, as Chinese maps set them). A feature
with no allowed position stays unlabelled; it is still in the legend counts and the layer files.
Each text is measured once; candidate boxes are then plain arithmetic, so placement costs little
even on crowded maps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from matplotlib.lines import Line2D
from matplotlib.transforms import Bbox
from shapely import STRtree, box
from shapely.geometry import LineString, MultiLineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from ._text import LEADER, halo


@dataclass
class LabelJob:
    """One feature to label."""

    priority: int  # lower first
    name: str
    geom: BaseGeometry  # in the map's (metric) coordinates
    kind: str  # "street": along the line; "place": beside the symbol
    colour: str
    size: float  # font size, points
    clearance: float  # radius of the feature's own symbol, points


# Around a symbol: right, left, above, below, then the diagonals (the cartographic preference).
_AROUND = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, 1), (1, -1), (-1, -1)]
# Further out, with a leader: 16 directions on each ring (points beyond the symbol's edge).
_RINGS = (12.0, 22.0, 34.0)
_RING_DIRS = [(math.cos(a), math.sin(a)) for a in np.linspace(0, 2 * math.pi, 16, endpoint=False)]


def _iter_lines(g: BaseGeometry):
    if isinstance(g, LineString):
        yield g
    elif hasattr(g, "geoms"):
        for p in g.geoms:
            yield from _iter_lines(p)


def line_anchor(g: BaseGeometry, frac: float) -> tuple[float, float, float] | None:
    """(x, y, angle°) on the longest line part at ``frac`` of its length, angle kept upright."""
    lines = list(_iter_lines(g))
    if not lines:
        return None
    line = max(lines, key=lambda p: p.length)
    if line.length == 0:
        return None
    d = frac * line.length
    step = min(line.length * 0.05, 60.0)
    a, b = line.interpolate(max(d - step, 0)), line.interpolate(min(d + step, line.length))
    ang = math.degrees(math.atan2(b.y - a.y, b.x - a.x))
    if ang > 90:
        ang -= 180
    elif ang <= -90:
        ang += 180
    p = line.interpolate(d)
    return p.x, p.y, ang


class _Placer:
    def __init__(self, ax, renderer, reserved, markers, obstacles) -> None:
        self.ax, self.renderer = ax, renderer
        self.k = ax.figure.dpi / 72  # pixels per point
        ab = ax.get_window_extent(renderer)
        pad = 1.5 * self.k
        self.frame = (ab.x0 + pad, ab.y0 + pad, ab.x1 - pad, ab.y1 - pad)
        self.hard: list[tuple[float, float, float, float]] = [(b.x0, b.y0, b.x1, b.y1) for b in reserved]
        self.label_boxes: list[tuple[float, float, float, float]] = []
        if markers:
            m = np.asarray(markers, dtype=float)
            xy = ax.transData.transform(m[:, :2])
            self.mxy = xy
            self.mr = m[:, 2] * self.k
        else:
            self.mxy = np.empty((0, 2))
            self.mr = np.empty(0)
        kept = [(o, g) for o, g in obstacles if g is not None and not g.is_empty]
        self.owners = np.asarray([o for o, _ in kept], dtype=np.int64)
        self.obstacles = [g for _, g in kept]
        self.tree = STRtree(self.obstacles) if self.obstacles else None
        self.to_data = ax.transData.inverted()

    # -- tests ---------------------------------------------------------------------------------

    def allowed(self, b, own_xy) -> bool:
        x0, y0, x1, y1 = b
        f = self.frame
        if x0 < f[0] or y0 < f[1] or x1 > f[2] or y1 > f[3]:
            return False
        g = 1.2 * self.k
        for h in self.hard:
            if x0 - g < h[2] and x1 + g > h[0] and y0 - g < h[3] and y1 + g > h[1]:
                return False
        if len(self.mr):
            mx, my, r = self.mxy[:, 0], self.mxy[:, 1], self.mr
            hit = (mx + r > x0) & (mx - r < x1) & (my + r > y0) & (my - r < y1)
            if own_xy is not None:
                own = (np.abs(mx - own_xy[0]) < 0.5) & (np.abs(my - own_xy[1]) < 0.5)
                hit &= ~own
            if hit.any():
                return False
        return True

    def crossings(self, b, own: BaseGeometry, margin: float = 2.5) -> tuple[int, int]:
        """Lines of other features, and of the feature itself, under the box grown by ``margin``
        points (by default half the widest street with its casing)."""
        if self.tree is None:
            return 0, 0
        m = margin * self.k
        (x0, y0), (x1, y1) = self.to_data.transform([(b[0] - m, b[1] - m), (b[2] + m, b[3] + m)])
        hits = self.tree.query(box(x0, y0, x1, y1), predicate="intersects")
        mine = int((self.owners[hits] == id(own)).sum())
        return len(hits) - mine, mine

    def touches_label(self, b) -> bool:
        """The box comes within 3 points of a label already placed."""
        g = 3.0 * self.k
        x0, y0, x1, y1 = b
        return any(
            x0 - g < h[2] and x1 + g > h[0] and y0 - g < h[3] and y1 + g > h[1] for h in self.label_boxes
        )

    def nearer_other_line(self, b, own: BaseGeometry, own_xy, radius: float) -> bool:
        """Another feature's line is clearly nearer the label than the label's own symbol (a
        reader would take the label for that line's)."""
        if self.tree is None:
            return False
        px, py = own_xy
        gap = math.hypot(px - np.clip(px, b[0], b[2]), py - np.clip(py, b[1], b[3])) - radius
        if gap <= 0:
            return False
        (x0, y0), (x1, y1) = self.to_data.transform([(b[0] - gap, b[1] - gap), (b[2] + gap, b[3] + gap)])
        hits = self.tree.query(box(x0, y0, x1, y1), predicate="intersects")
        hits = hits[self.owners[hits] != id(own)]
        if not len(hits):
            return False
        (dx0, dy0), (dx1, dy1) = self.to_data.transform([(b[0], b[1]), (b[2], b[3])])
        per_px = (dx1 - dx0) / max(b[2] - b[0], 1e-9)  # data units per display pixel
        near = shapely.distance(box(dx0, dy0, dx1, dy1), np.asarray(self.obstacles, dtype=object)[hits]).min()
        return bool(near / per_px < 0.6 * gap)

    def ambiguous(self, b, own_xy) -> bool:
        """Another marker is nearer the label than the label's own symbol."""
        if own_xy is None or len(self.mr) < 2:
            return False
        cx = np.clip(self.mxy[:, 0], b[0], b[2])
        cy = np.clip(self.mxy[:, 1], b[1], b[3])
        d = np.hypot(self.mxy[:, 0] - cx, self.mxy[:, 1] - cy) - self.mr
        own = (np.abs(self.mxy[:, 0] - own_xy[0]) < 0.5) & (np.abs(self.mxy[:, 1] - own_xy[1]) < 0.5)
        if not own.any():
            return False
        return bool(d[~own].min(initial=np.inf) < d[own].min() - 1.0 * self.k)

    # -- placing -------------------------------------------------------------------------------

    def measure(self, text: str, job: LabelJob) -> tuple[float, float]:
        t = self.ax.text(0, 0, text, fontsize=job.size, linespacing=0.95)
        bb = t.get_window_extent(self.renderer)
        t.remove()
        return bb.width, bb.height

    def place(self, job: LabelJob) -> None:
        k = self.k
        geom = job.geom
        best = None  # (score, order, centre xy display, rotation, text, leader from)
        order = 0
        if job.kind == "street" and isinstance(geom, (LineString, MultiLineString)):
            flat_wh = self.measure(job.name, job)
            tall_wh = self.measure("\n".join(job.name), job)
            for frac in (0.5, 0.38, 0.62, 0.26, 0.74, 0.14, 0.86):
                a = line_anchor(geom, frac)
                if not a:
                    continue
                px, py = self.ax.transData.transform((a[0], a[1]))
                if abs(a[2]) > 60:  # north–south: upright characters, one under another
                    text, rot, (w, h) = "\n".join(job.name), 0.0, tall_wh
                else:
                    text, rot, (w, h) = job.name, a[2], flat_wh
                r = math.radians(rot)
                W = abs(w * math.cos(r)) + abs(h * math.sin(r))
                H = abs(w * math.sin(r)) + abs(h * math.cos(r))
                b = (px - W / 2, py - H / 2, px + W / 2, py + H / 2)
                order += 1
                if not self.allowed(b, None):
                    continue
                score = 5 * self.crossings(b, geom)[0] + 0.1 * order
                if best is None or score < best[0]:
                    best = (score, b, (px, py), rot, text, None)
        else:
            if isinstance(geom, Point):
                p = geom
            elif isinstance(geom, (LineString, MultiLineString)):
                a = line_anchor(geom, 0.5)
                p = Point(a[0], a[1]) if a else geom.representative_point()
            else:
                p = geom.representative_point()
            px, py = self.ax.transData.transform((p.x, p.y))
            w, h = self.measure(job.name, job)
            c = job.clearance * k
            cands = []
            gap = 2.0 * k
            for dx, dy in _AROUND:
                cx = px + dx * (c + gap + w / 2) if dx else px
                cy = py + dy * (c + gap + h / 2) if dy else py
                cands.append((cx, cy, 0))
            if isinstance(geom, Polygon):
                cands.insert(0, (px, py, -1))  # inside a large area, if it fits there
            for ring, dist in enumerate(_RINGS, start=1):
                for ux, uy in _RING_DIRS:
                    d = c + dist * k
                    cands.append((px + ux * (d + w / 2), py + uy * (d + h / 2), ring))
            for cx, cy, ring in cands:
                b = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                order += 1
                if ring == -1:
                    (dx0, dy0), (dx1, dy1) = self.to_data.transform([(b[0], b[1]), (b[2], b[3])])
                    if not geom.contains(box(dx0, dy0, dx1, dy1)):
                        continue
                if not self.allowed(b, (px, py)):
                    continue
                others, mine = self.crossings(b, geom)
                score = 5 * others + (mine if ring != -1 else 0) + 3 * max(ring, 0) + 0.05 * order
                if ring != -1 and self.ambiguous(b, (px, py)):
                    score += 8
                if ring != -1 and not others and self.nearer_other_line(b, geom, (px, py), c):
                    score += 4
                if self.touches_label(b):  # stacked on another label, it reads as one block
                    score += 4
                if best is None or score < best[0]:
                    best = (score, b, (cx, cy), 0.0, job.name, (px, py, c) if ring > 0 else None)
        if best is None:
            return
        _, b, (cx, cy), rot, text, leader = best
        x, y = self.to_data.transform((cx, cy))
        self.ax.text(
            x,
            y,
            text,
            fontsize=job.size,
            color=job.colour,
            ha="center",
            va="center",
            rotation=rot,
            rotation_mode="anchor",
            linespacing=0.95,
            zorder=30,
            path_effects=halo(2.2),
            gid="label",
        )
        self.hard.append(b)
        self.label_boxes.append(b)
        if leader is not None:
            px, py, c = leader
            qx, qy = np.clip(px, b[0], b[2]), np.clip(py, b[1], b[3])
            d = math.hypot(qx - px, qy - py)
            if d > c:
                sx, sy = px + (qx - px) * c / d, py + (qy - py) * c / d
                (x0, y0), (x1, y1) = self.to_data.transform([(sx, sy), (qx, qy)])
                self.ax.add_line(Line2D([x0, x1], [y0, y1], color=LEADER, lw=0.5, zorder=29, gid="leader"))


def place_labels(
    ax,
    renderer,
    jobs: list[LabelJob],
    reserved: list[Bbox],
    markers: list[tuple[float, float, float]],
    obstacles: list[tuple[int, BaseGeometry]],
) -> None:
    """Label ``jobs`` on ``ax`` (see the module notes); each name once.

    Parameters
    ----------
    ax, renderer
        The map axes, limits set, and a renderer to measure text.
    jobs : list of LabelJob
    reserved : list of Bbox
        Display boxes no label may cover (scale bar, north arrow, stamp, notices).
    markers : list of (x, y, radius_pt)
        Symbols drawn (data coordinates): no label covers another feature's symbol.
    obstacles : list of (owner, geometry)
        Lines and outlines drawn (data coordinates) with ``id()`` of the feature geometry they
        belong to: labels avoid crossing those of other features.
    """
    placer = _Placer(ax, renderer, reserved, markers, obstacles)
    seen: set[str] = set()
    for job in sorted(jobs, key=lambda j: (j.priority, j.name if isinstance(j.name, str) else "")):
        name = job.name
        if not isinstance(name, str) or not name.strip() or name in seen:
            continue
        if job.geom is None or job.geom.is_empty:
            continue
        seen.add(name)
        placer.place(job)
