"""What an organ name looks like, for the rules that judge an organ mark (发文机关标志).

An organ name ends with an organ word (江湾市人民政府办公室, 中共广州市委员会), or with a
header word after one (…人民政府文件, …办公室明电, …厅信息专报). A word of the list inside
a longer phrase (第一部分, 公司年度计划, 学术交流中心活动安排) does not make an organ name.
"""

from __future__ import annotations

import re

from detectors.config import OrganMark
from detectors.rules._text import normalize

_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")
"""OCR adds stray dots and brackets at a line's ends."""


def organ_name(text: str, organ: OrganMark) -> bool:
    """Whether `text` reads as an organ name, with or without a header suffix."""
    compact = _EDGE_PUNCTUATION.sub("", normalize(text))
    if len(compact) < 2 or len(compact) > organ.max_chars or compact.startswith("关于"):
        return False
    words = tuple(organ.organ_words)
    for suffix in sorted(organ.suffixes, key=len, reverse=True):
        if compact.endswith(suffix) and len(compact) > len(suffix):
            return any(word in compact[: -len(suffix)] for word in words)
    if compact.endswith(words):
        return True
    # The last glyph of a header word misread (…办公厅文仵): right after an organ word only.
    return any(
        len(suffix) >= 2
        and compact[-len(suffix) : -1] == suffix[:-1]
        and compact[: -len(suffix)].endswith(words)
        for suffix in organ.suffixes
    )


def header_suffix(text: str, organ: OrganMark) -> bool:
    """Whether `text` is an organ name ending with a header word (文件, 明电, 纪要…)."""
    compact = _EDGE_PUNCTUATION.sub("", normalize(text))
    return organ_name(compact, organ) and not compact.endswith(tuple(organ.organ_words))
