"""Text helpers shared by the rule detectors: OCR-tolerant normalisation and "how it stands".

A marking counts by how it stands on its line, not by the word: `leftover()` measures what
else is on the line once the marking (and other markings) are taken away.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

from detectors.model import Finding

ALTERNATIVE_FACTOR = 0.85
"""Confidence kept by a marking found in a line's alternative reading (`TextLine.alternatives`),
not in its text: the recogniser saw the word, but read something else first."""


def nearly_read(finding: Finding, alternative: str) -> Finding:
    """`finding`, made from the line's alternative reading `alternative`: trusted less, and
    saying what it was read as."""
    return replace(
        finding,
        confidence=finding.confidence * ALTERNATIVE_FACTOR,
        details={**finding.details, "nearly_read": alternative},
    )


# Punctuation and separators that never make a line "prose". NFKC has already folded
# full-width forms (，：（） etc.) into ASCII where Unicode defines a compatibility form.
_NEUTRAL = re.compile(r"[\s\W_]+", re.UNICODE)


_TRADITIONAL = str.maketrans("內祕絕機級號發電報", "内秘绝机级号发电报")
"""Traditional forms of the glyphs markings and headers are made of, folded to the simplified
ones: OCR models trained on mixed text return one now and then (內部 on a photo of 内部), and a
document retyped in traditional script is the same document."""


def normalize(text: str) -> str:
    """NFKC-fold, fold traditional forms (`_TRADITIONAL`) and drop whitespace: OCR inserts
    spaces between CJK glyphs at random."""
    return "".join(unicodedata.normalize("NFKC", text).translate(_TRADITIONAL).split())


def leftover(text: str, spans: list[tuple[int, int]]) -> int:
    """How many word characters of `text` lie outside `spans` (ignoring punctuation)."""
    kept = []
    last = 0
    for start, end in sorted(spans):
        kept.append(text[last:start])
        last = max(last, end)
    kept.append(text[last:])
    return len(_NEUTRAL.sub("", "".join(kept)))


def char_class(chars: str) -> str:
    """A regex character class that matches any of `chars` literally."""
    return "[" + "".join(re.escape(c) for c in dict.fromkeys(chars)) + "]"


def alternation(words: tuple[str, ...] | list[str]) -> str:
    """A regex alternation of literal words, longest first so that 内部资料 beats 内部."""
    ordered = sorted({normalize(w) for w in words if w.strip()}, key=len, reverse=True)
    return "(?:" + "|".join(re.escape(w) for w in ordered) + ")"


def spaced_alternation(words: tuple[str, ...] | list[str]) -> str:
    """`alternation()` for raw text in which a word may be letter-spaced: forms set short
    labels across their cell (密　级, 签　发), and OCR keeps the gaps as spaces."""
    ordered = sorted({normalize(w) for w in words if w.strip()}, key=len, reverse=True)
    return "(?:" + "|".join(r"\s*".join(re.escape(c) for c in w) for w in ordered) + ")"
