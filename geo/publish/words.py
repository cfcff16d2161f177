"""Chinese wording of the codes and English notes that data columns carry, for map text.

Data columns keep their codes (``exact``, ``primary``, ``lane meets street`` …) so that scripts
can read them; what a user reads on a map is translated here. A note part no pattern knows is
left out of the map rather than shown in English (the data column still has it).
"""

from __future__ import annotations

import re

__all__ = ["HIGHWAY_LABELS", "MATCHED_LABELS", "METRIC_LABELS", "SOURCE_LABELS", "note_text"]

SOURCE_LABELS = {
    "osm": "OpenStreetMap",
    "gazetteer": "地名表（用户提供）",
    "schematic": "示意数据（非实测）",
    "user": "用户提供",
}
MATCHED_LABELS = {
    "exact": "名称完全一致",
    "normalized": "规范化名称一致",
    "directional": "分向街路合并（如东街＋西街）",
    "locator": "按定位短语推算（路段/周边/门前等）",
    "fuzzy": "近似名称",
    "kind": "按类型纳入（规则适用的同类地点）",
}
METRIC_LABELS = {"euclidean": "直线距离", "network": "沿道路距离"}
HIGHWAY_LABELS = {
    "motorway": "高速公路",
    "trunk": "快速路",
    "primary": "主干路",
    "secondary": "次干路",
    "tertiary": "支路",
    "unclassified": "一般道路",
    "residential": "街坊路",
    "living_street": "生活街道",
    "service": "服务道路",
    "pedestrian": "步行街",
    "footway": "人行道",
    "path": "小路",
    "track": "机耕路",
    "primary_link": "主干路匝道",
    "secondary_link": "次干路匝道",
    "tertiary_link": "支路连接道",
    "trunk_link": "快速路匝道",
}
_SIDES = {"east": "东", "west": "西", "north": "北", "south": "南"}

# (pattern, replacement) for the notes geo.resolve writes; first match wins per part.
_NOTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^parts: (.+)$"), r"由多条同名街路合并：\1"),
    (re.compile(r"^matched (.+)$"), r"匹配到“\1”"),
    (re.compile(r"^lane meets street$"), "巷与街交汇处"),
    (re.compile(r"^anchor far from street; whole street$"), "参照地点离街路较远，取整条街路"),
    (
        re.compile(r"^street within (\d+) m of the anchor \((\d+) m away\)$"),
        r"参照地点 \1 米范围内的街路段（相距 \2 米）",
    ),
    (re.compile(r"^(\S+): half of the street by its own extent$"), r"\1：按街路走向取一半"),
    (
        re.compile(r"^(\S+) does not fit a street running the other way; whole street$"),
        r"\1与街路走向不符，取整条街路",
    ),
    (re.compile(r"^周边 read as (\d+) m around the anchor$"), r"周边按参照地点外 \1 米计"),
    (re.compile(r"^street in front of the anchor, (\d+) m$"), r"参照地点门前街路 \1 米"),
    (re.compile(r"^street across the street from the anchor, (\d+) m$"), r"参照地点对面街路 \1 米"),
    (re.compile(r"^lane ends (\d+) m from the street; closest point$"), r"巷道终点距街路 \1 米，取最近点"),
    (re.compile(r"^anchor (.+) not found; whole street (.+)$"), r"未找到参照地点“\1”，取整条\2"),
    (re.compile(r"^(\S+): side unknown; anchor centre$"), r"\1：方位不明，取参照地点中心"),
    (re.compile(r"^(\S+): anchor is a point; its \S+ is not known$"), r"\1：参照地点为点，方位不明"),
    (re.compile(r"^(\S+): middle of the anchor's \S+ side$"), r"\1：参照地点该侧中点"),
]
_ASCII_WORD = re.compile(r"[A-Za-z]{2,}")


def note_text(note: str, keep_unknown: bool = False) -> str:
    """A resolver note in Chinese; parts no pattern knows are left out.

    Parameters
    ----------
    note : str
        The ``note`` column of a layer (parts joined by ``"; "``).
    keep_unknown : bool
        Keep parts no pattern knows as they are: a user's own note (gazetteer rows).

    Returns
    -------
    str
        The parts translated, joined by ``"；"``; English words of the sides (east …) are
        translated too.
    """
    out = []
    for part in (p.strip() for p in str(note or "").split(";")):
        if not part:
            continue
        for pat, repl in _NOTES:
            if pat.match(part):
                text = pat.sub(repl, part)
                for en, zh in _SIDES.items():
                    text = text.replace(en, zh)
                break
        else:
            text = part if keep_unknown else ""
        if text and (keep_unknown or not _ASCII_WORD.search(text)):
            out.append(text)
    return "；".join(dict.fromkeys(out))
