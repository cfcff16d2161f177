"""Page inks and small text helpers of the printed map (wrapping, halos, numbers in Chinese)."""

from __future__ import annotations

import math

import matplotlib.patheffects as pe

INK = "#222222"
MUTED = "#5f6368"
STAMP_RED = "#c62828"
#: Inside the governed region, and outside it.
PAPER = "#f8f6f1"
OUTSIDE = "#e9ecef"
#: Leader lines from a moved label to its feature.
LEADER = "#6b7178"
_CN_NUM = "零一二三四五六七八九十"


def cn_batch(b: int) -> str:
    """第一批 … for a batch number."""
    return f"第{_CN_NUM[b]}批" if 0 < b <= 10 else f"第{b}批"


def em(c: str) -> float:
    """Width of a character in ems (Latin about half a CJK character)."""
    return 0.55 if ord(c) < 0x2E80 else 1.0


_NO_LINE_START = set("，。；：、）》」』”’！？…—,.;:)!?%")


def wrap(text: str, width_em: float, max_lines: int = 3) -> str:
    """Wrap mixed CJK/Latin text to lines of about ``width_em`` ems (no line starts with a comma,
    a full stop or a closing bracket)."""
    lines, cur, w = [], "", 0.0
    for c in text:
        if w + em(c) > width_em and cur and c not in _NO_LINE_START:
            lines.append(cur)
            cur, w = "", 0.0
            if c == " ":
                continue
        cur += c
        w += em(c)
    if cur:
        lines.append(cur)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:-1] + "…"
    return "\n".join(lines)


def halo(width: float = 2.4, colour: str = "white"):
    """A white outline that keeps text readable over lines and fills."""
    return [pe.withStroke(linewidth=width, foreground=colour)]


def bold(colour: str = INK, width: float = 0.45):
    """Emphasis for text: the single-weight CJK font stroked in its own colour."""
    return [pe.withStroke(linewidth=width, foreground=colour)]


def nice_length(max_m: float) -> float:
    """The largest 1/2/5×10ⁿ metres not above ``max_m``."""
    if max_m <= 0:
        return 1.0
    exp = math.floor(math.log10(max_m))
    for m in (5, 2, 1):
        if m * 10**exp <= max_m:
            return float(m * 10**exp)
    return float(10**exp)


def fmt_m(m: float) -> str:
    """Metres as 米 or 千米."""
    if m >= 1000:
        km = m / 1000
        return f"{km:g} 千米"
    return f"{m:g} 米"
