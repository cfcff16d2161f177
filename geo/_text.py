"""Text folding shared by every stage that compares names (regions, resolving, ledgers).

It sits below ``regions`` and ``resolve`` so that neither has to reach into the other.
"""

from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")
_BRACKETS = str.maketrans({"（": "(", "）": ")", "【": "[", "】": "]", "〔": "[", "〕": "]"})


def normalize(name: str) -> str:
    """Fold width, spaces and brackets so that spellings of one name compare equal.

    Examples
    --------
    >>> normalize("泽州路 ")
    '泽州路'
    >>> normalize("Ｗｅｎｃｈａｎｇ （东段）")
    'Wenchang(东段)'
    """
    s = unicodedata.normalize("NFKC", name or "")
    s = s.translate(_BRACKETS)
    return _SPACE.sub("", s)
