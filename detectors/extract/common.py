"""Small helpers that several format modules share: metadata pages, colours, text decoding."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from lxml import etree

from detectors.model import Page, TextLine

T = TypeVar("T")

MIB = 1024 * 1024


@dataclass(frozen=True)
class RenderSpec:
    """How sharp a rendered document page is (PDF, OFD)."""

    dpi: float
    max_side: int

    def scale(self, width: float, height: float, units_per_inch: float) -> float:
        """Pixels per unit (points, millimetres) for a page of `width` x `height` units."""
        return min(self.dpi / units_per_inch, self.max_side / max(width, height, 1e-6))


TEXT_RENDER = RenderSpec(dpi=110, max_side=1600)
"""Pages with a text layer: the image is for the visual detectors (red header, seal)."""
OCR_RENDER = RenderSpec(dpi=200, max_side=2400)
"""Pages without usable text: sharp enough for OCR of body text."""
MIN_TEXT_CHARS = 10
"""Fewer readable characters than this and a page is read by OCR instead."""
CAPTURE_IMAGE_COVER = 0.5
"""A page that is mostly one picture may be a phone photo saved as PDF/OFD."""


def join_source(container: str, member: str) -> str:
    """`outer.zip/inner/doc.pdf`: where a page of an archive member comes from."""
    return f"{container}/{member.lstrip('/')}"


def metadata_page(source: str, values: Iterable[str | None]) -> Page | None:
    """The metadata pseudo-page: one line per non-empty value, or None when there is none.

    Values stand alone on their lines (no "title:" prefix), so that a value "机密" is a marking
    standing alone, as it would be at the top of a printed page.
    """
    lines: list[TextLine] = []
    seen: set[str] = set()
    for value in values:
        text = clean_value(value)
        if text and text not in seen:
            seen.add(text)
            lines.append(TextLine(text))
    if not lines:
        return None
    return Page(source=source, number=0, lines=lines, is_metadata=True)


def clean_value(value: str | None) -> str:
    """A metadata value on one line: no NULs or control characters, blanks collapsed."""
    if not value:
        return ""
    kept = "".join(ch if ch.isprintable() else " " for ch in value)
    return " ".join(kept.split())


def decode_legacy(data: bytes) -> str:
    """Bytes of unknown encoding from Chinese software: UTF-8, else GB18030, else Latin-1."""
    data = data.rstrip(b"\x00")
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def is_cjk(ch: str) -> bool:
    """A CJK unified ideograph (the common block and extension A)."""
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def is_reddish(r: int, g: int, b: int) -> bool:
    """Seal / organ-mark red: strong red, little green and blue (sRGB 0-255)."""
    return r >= 150 and g <= 90 and b <= 90


def red_or_none(rgb: tuple[int, int, int] | None) -> str | None:
    return "red" if rgb is not None and is_reddish(*rgb) else None


def dominant(weighted: Iterable[tuple[T, int]]) -> T | None:
    """The value with the largest total weight (characters), None when nothing weighs."""
    totals: Counter[T] = Counter()
    for value, weight in weighted:
        if weight > 0:
            totals[value] += weight
    if not totals:
        return None
    return totals.most_common(1)[0][0]


def xml_parser() -> etree.XMLParser:
    """A parser for untrusted XML: no entities, no network, no huge-tree mode."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True
    )


def parse_xml(data: bytes) -> etree._Element:
    """Parse untrusted XML; lxml's XMLSyntaxError is left to the caller's context."""
    return etree.fromstring(data, parser=xml_parser())


def local(tag: object) -> str:
    """The local name of an element tag, whatever its namespace (OFD files vary)."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def capped_text(lines: list[TextLine], max_chars: int) -> list[TextLine]:
    """Lines up to `max_chars` characters in all; the line that crosses the cap is cut."""
    kept: list[TextLine] = []
    left = max_chars
    for line in lines:
        if left <= 0:
            break
        if len(line.text) > left:
            line = TextLine(line.text[:left], line.bbox, line.confidence, line.color, line.size)
        kept.append(line)
        left -= len(line.text)
    return kept
