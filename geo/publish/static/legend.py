"""The legend panel of the printed map, drawn from what the map drew.

The drawing step (:mod:`.draw`) records one :class:`Entry` per class of features it drew, with
the :class:`geo.publish.style.Style` it used and the geometry it drew (a polygon class gets a
patch, a line class a line, a point class its marker), so the legend cannot disagree with the
map. Symbols carry the style key as their matplotlib ``gid`` (``legend:<key>``).
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ..style import Style, to_mpl
from ._text import INK, MUTED, STAMP_RED, bold, wrap

#: Sections in the order they are listed.
SECTIONS = ("规则区域", "道路", "马路市场", "方案点名地点", "规则所及的其他地点", "问题台账", "行政区")


@dataclass
class Entry:
    """One legend line: a symbol drawn like the map's features, and its words."""

    section: str
    style: Style
    geometry: str  # point | line | area
    text: str
    sub: str = ""
    hollow: bool = False  # markers of places the plan does not name: white inside


class Legend:
    """Manual legend in the right panel (units: inches, y grows upwards)."""

    ITEM_SIZE = 7.6
    SUB_SIZE = 6.4

    def __init__(self, ax, width: float, height: float) -> None:
        self.ax, self.w, self.y = ax, width, height - 0.05
        self.bottom = 0.05
        self.items = 0
        self.dropped = 0

    @property
    def text_em(self) -> float:
        return (self.w - 0.45) / (self.ITEM_SIZE / 72) - 0.5

    @property
    def sub_em(self) -> float:
        return (self.w - 0.45) / (self.SUB_SIZE / 72) - 0.5

    def _room(self, need: float) -> bool:
        if self.y - need < self.bottom:
            self.dropped += 1
            return False
        return True

    def header(self, text: str) -> None:
        """A section heading with a rule under it."""
        if not self._room(0.42):
            return
        self.y -= 0.12 if self.items else 0.0
        self.ax.text(
            0.0, self.y, text, fontsize=9, color=INK, va="top", ha="left", path_effects=bold(INK, 0.4)
        )
        self.y -= 0.2
        self.ax.add_line(Line2D([0, self.w], [self.y + 0.04] * 2, color="#c9cdd2", lw=0.6))
        self.y -= 0.04
        self.items += 1

    def item(self, e: Entry) -> None:
        """One symbol and its words (and a muted second text under them)."""
        text = wrap(e.text, self.text_em, 2)
        sub = wrap(e.sub, self.sub_em, 3) if e.sub else ""
        lines = text.count("\n") + 1
        sub_lines = (sub.count("\n") + 1) if sub else 0
        need = 0.06 + 0.135 * lines + 0.115 * sub_lines + 0.03
        if not self._room(need):
            return
        ax, y = self.ax, self.y - 0.1
        x0, x1 = 0.04, 0.36
        gid = f"legend:{e.style.key}"
        if e.geometry == "area":
            kw = to_mpl(e.style, "area")
            ax.add_patch(Rectangle((x0, y - 0.055), x1 - x0, 0.11, gid=gid, **kw))
        elif e.geometry == "line":
            kw = to_mpl(e.style, "line")
            if e.style.casing:
                ax.add_line(Line2D([x0, x1], [y, y], color="white", lw=kw["linewidth"] + 1.6))
            ax.add_line(Line2D([x0, x1], [y, y], gid=gid, **kw))
        else:
            kw = to_mpl(e.style, "point")
            face = "white" if e.hollow else kw["facecolor"]
            edge = kw["facecolor"] if e.hollow else kw["edgecolor"]
            ax.add_line(
                Line2D(
                    [(x0 + x1) / 2],
                    [y],
                    marker=kw["marker"],
                    linestyle="none",
                    markersize=kw["s"] ** 0.5,
                    markerfacecolor=face,
                    markeredgecolor=edge,
                    markeredgewidth=1.0 if e.hollow else 0.7,
                    gid=gid,
                )
            )
        ax.text(
            0.45, y + 0.065, text, fontsize=self.ITEM_SIZE, color=INK, va="top", ha="left", linespacing=1.25
        )
        if sub:
            ax.text(
                0.45,
                y + 0.065 - 0.135 * lines,
                sub,
                fontsize=self.SUB_SIZE,
                color=MUTED,
                va="top",
                ha="left",
                linespacing=1.25,
            )
        self.y -= need
        self.items += 1

    def note(self, text: str, colour: str = MUTED, size: float = 6.8) -> None:
        """A paragraph of notes (示意, unresolved places)."""
        text = wrap(text, (self.w - 0.05) / (size / 72) - 1, 4)
        lines = text.count("\n") + 1
        need = 0.05 + 0.12 * lines
        if not self._room(need):
            return
        self.ax.text(
            0.0, self.y - 0.03, text, fontsize=size, color=colour, va="top", ha="left", linespacing=1.3
        )
        self.y -= need


def draw_legend(
    leg: Legend, entries: list[Entry], notes: list[str], headers: dict[str, str] | None = None
) -> None:
    """Sections in :data:`SECTIONS` order, entries in drawing order, then notes; ``headers``
    replaces a section's heading (``问题台账`` → ``问题台账（截至 …）``)."""
    for section in SECTIONS:
        items = [e for e in entries if e.section == section]
        if not items:
            continue
        leg.header((headers or {}).get(section, section))
        for e in items:
            leg.item(e)
    if notes:
        leg.y -= 0.1
        for n in notes:
            leg.note(n, colour=STAMP_RED if n.startswith("示意") else MUTED)
    if leg.dropped:
        leg.bottom = 0.0
        leg.note(f"（图例另有 {leg.dropped} 项从略，详见图层文件）")
