"""Chinese place names and place phrases: normalisation, street-name variants, locator parsing.

Pure text, no geometry. The rules encoded here come from how the plans write places:

- names are written with full- or half-width characters, stray spaces and either kind of
  bracket: ``normalize`` folds those;
- streets are often split by direction on the ground and in OSM (凤台街 = 凤台东街 + 凤台西街,
  泽州路 may continue as 泽州南路 / 泽州北路): :func:`street_parts_pattern` matches every
  direction-split part of a bare name, and only that part for a name that already has one;
- suffixes vary (文昌街 / 文昌大街): :func:`suffix_variants`;
- place phrases carry a locator (文昌街望川楼路段, 百灵街东段, 建设路建东巷口, 金屯菜市场周边,
  龙度华府小区门前, 晋城二中对面路段, 陈岭路新市医院东门路段): :func:`parse_phrase`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._text import normalize

#: Street-type suffixes, longest first so 大街 wins over 街.
STREET_SUFFIXES = ("大道", "大街", "快线", "快速路", "环路", "路", "街", "巷", "道", "线")
DIRECTIONS = ("东", "西", "南", "北", "中")
GATES = ("东门", "西门", "南门", "北门", "正门", "大门")


def split_street(name: str) -> tuple[str, str, str] | None:
    """Split a street name into (stem, direction, suffix).

    ``凤台东街`` → ('凤台', '东', '街'); ``泽州路`` → ('泽州', '', '路'); a name with no
    street suffix gives None.
    """
    n = normalize(name)
    for suf in STREET_SUFFIXES:
        if n.endswith(suf) and len(n) > len(suf):
            head = n[: -len(suf)]
            if len(head) > 1 and head[-1] in DIRECTIONS:
                return head[:-1], head[-1], suf
            return head, "", suf
    return None


def is_street_name(name: str) -> bool:
    """Whether ``name`` ends in a street-type suffix."""
    return split_street(name) is not None


def suffix_variants(name: str) -> list[str]:
    """Other spellings of a street name's suffix: 文昌街 ↔ 文昌大街, 丹河快线 ↔ 丹河快速路."""
    parts = split_street(name)
    if not parts:
        return []
    stem, d, suf = parts
    groups = (("街", "大街"), ("快线", "快速路"), ("路", "大道"))
    out = []
    for g in groups:
        if suf in g:
            out += [stem + d + other for other in g if other != suf]
    return out


def street_parts_pattern(name: str) -> re.Pattern[str] | None:
    """A regex matching every direction-split part of a bare street name.

    A bare name (泽州路) matches itself and 泽州南路 / 泽州北路 …; a name that already carries a
    direction (凤台东街) matches only itself. Suffix variants (街/大街) match too.
    """
    parts = split_street(name)
    if not parts:
        return None
    stem, d, suf = parts
    sufs = [suf, *[v[len(stem) + len(d) :] for v in suffix_variants(name)]]
    suf_rx = "|".join(re.escape(s) for s in sorted(set(sufs), key=len, reverse=True))
    if d:
        return re.compile(rf"^{re.escape(stem + d)}(?:{suf_rx})$")
    dirs = "".join(DIRECTIONS)
    return re.compile(rf"^{re.escape(stem)}[{dirs}]?(?:{suf_rx})$")


@dataclass(frozen=True)
class Phrase:
    """A parsed place phrase."""

    text: str
    street: str | None = None
    anchor: str | None = None
    relation: str | None = None
    gate: str | None = None

    @property
    def anchor_base(self) -> str | None:
        """The anchor without its gate: 新市医院东门 → 新市医院."""
        if self.anchor and self.gate and self.anchor.endswith(self.gate):
            return self.anchor[: -len(self.gate)] or None
        return self.anchor


_STREET_HEAD = re.compile(r"^(.{2,}?(?:大道|大街|快线|路|街))(?=.)")


def _split_gate(anchor: str | None) -> str | None:
    if not anchor:
        return None
    return next((g for g in GATES if anchor.endswith(g) and len(anchor) > len(g)), None)


_DIR_TAIL = re.compile(r"^([东西南北])(大街|街|路)")


def canonical_street(name: str) -> str:
    """Fold a street written with its direction after the name: 新市街东街 → 新市东街."""
    n = normalize(name)
    head, rest = _head_street_raw(n)
    if head and rest:
        m = _DIR_TAIL.match(rest)
        parts = split_street(head)
        if m and parts and m.end() == len(rest) and not parts[1]:
            return parts[0] + m.group(1) + parts[2]
    return n


def _head_street_raw(text: str) -> tuple[str | None, str]:
    m = _STREET_HEAD.match(text)
    if not m:
        return None, text
    return m.group(1), text[m.end() :]


def _head_street(text: str) -> tuple[str | None, str]:
    """Split a leading street name off ``text``: 文昌街望川楼 → ('文昌街', '望川楼').

    A direction written after the street (新市街东街富士康) belongs to the street: → ('新市东街',
    '富士康').
    """
    head, rest = _head_street_raw(text)
    if head is None:
        return None, text
    m = _DIR_TAIL.match(rest)
    parts = split_street(head)
    if m and parts and not parts[1] and len(rest) > m.end():
        return parts[0] + m.group(1) + parts[2], rest[m.end() :]
    return head, rest


def parse_phrase(text: str) -> Phrase:
    """Parse a plan's place phrase into street, anchor and relation.

    Parameters
    ----------
    text : str
        The place as the plan writes it.

    Returns
    -------
    Phrase
        ``relation`` is one of 路段, 东段/西段/南段/北段, 周边, 门前, 对面, 巷口, or None for a
        plain name.

    Examples
    --------
    >>> parse_phrase("文昌街望川楼路段")
    Phrase(text='文昌街望川楼路段', street='文昌街', anchor='望川楼', relation='路段', gate=None)
    >>> parse_phrase("建设路建东巷口").anchor
    '建东巷'
    >>> parse_phrase("金屯菜市场周边").relation
    '周边'
    """
    t = normalize(text)
    # Longest endings first: 周边路段 is 周边, 对面路段 is 对面.
    for ending, rel in (
        ("周边路段", "周边"),
        ("对面路段", "对面"),
        ("周边", "周边"),
        ("门前", "门前"),
        ("对面", "对面"),
    ):
        if t.endswith(ending) and len(t) > len(ending):
            anchor = t[: -len(ending)]
            return Phrase(text, anchor=anchor, relation=rel, gate=_split_gate(anchor))
    for d in ("东段", "西段", "南段", "北段"):
        if t.endswith(d) and is_street_name(t[: -len(d)]):
            return Phrase(text, street=t[: -len(d)], relation=d)
    if t.endswith("巷口") and len(t) > 2:
        street, rest = _head_street(t[:-1])  # keep 巷 on the lane's name
        if street and rest:
            return Phrase(text, street=street, anchor=rest, relation="巷口")
        return Phrase(text, anchor=t[:-1], relation="巷口")
    if t.endswith("路段") and len(t) > 2:
        body = t[:-2]
        street, rest = _head_street(body)
        if street and rest:
            return Phrase(text, street=street, anchor=rest, relation="路段", gate=_split_gate(rest))
        if is_street_name(body):
            return Phrase(text, street=body, relation="路段")
        return Phrase(text, anchor=body, relation="路段", gate=_split_gate(body))
    if is_street_name(t):
        return Phrase(text, street=t)
    return Phrase(text, anchor=t, gate=_split_gate(t))
