"""Reading a printed map's colours back, for the tests that hold it against the screen and QGIS."""

from __future__ import annotations

from matplotlib.colors import to_hex


def artist_colours(fig) -> dict[str, set[str]]:
    """gid (style key) → colours of the map artists drawn for it (legend and labels excluded):
    the stroke, or for markers with a white outline their fill."""
    ax = fig.axes[0]
    out: dict[str, set[str]] = {}
    for a in [*ax.collections, *ax.lines, *ax.patches]:
        gid = a.get_gid()
        if not gid or gid in ("label", "leader"):
            continue
        if hasattr(a, "get_edgecolor"):
            colours = [to_hex(c, keep_alpha=False) for c in a.get_edgecolor()]
            if set(colours) <= {"#ffffff"}:
                colours = [to_hex(c, keep_alpha=False) for c in a.get_facecolor()]
        else:
            colours = [to_hex(a.get_color(), keep_alpha=False)]
        out.setdefault(gid, set()).update(colours)
    return out
