"""PDF with PyMuPDF: the text layer with layout and colour, and a rendered image of each page.

The image is always there because red headers and seals are found visually, and a header is
often vector outlines rather than text. A page with little real text (a scan, outlined text,
a font without a Unicode map) is rendered sharper and marked for OCR.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pymupdf

from detectors.errors import CorruptFile, EncryptedContent
from detectors.extract.base import ExtractContext
from detectors.extract.common import (
    CAPTURE_IMAGE_COVER,
    MIN_TEXT_CHARS,
    OCR_RENDER,
    TEXT_RENDER,
    RenderSpec,
    dominant,
    metadata_page,
    red_or_none,
)
from detectors.extract.xmp import xmp_values
from detectors.model import BBox, Page, RgbImage, TextLine

_TEXT_FLAGS = pymupdf.TEXTFLAGS_DICT & ~pymupdf.TEXT_PRESERVE_IMAGES
_STANDARD_INFO_KEYS = frozenset(
    {"Title", "Subject", "Keywords", "Author", "Creator", "Producer", "CreationDate", "ModDate"}
    | {"Trapped"}
)


def extract_pdf(data: bytes, name: str, ctx: ExtractContext) -> Iterator[Page]:
    with _open(data) as doc:
        meta = metadata_page(name, _metadata_values(doc))
        if meta:
            yield meta
        chars_left = ctx.limits.max_text_chars
        for index in range(doc.page_count):
            if not ctx.take_page():
                continue  # counted as skipped, never loaded
            try:
                page = _page(doc.load_page(index), name, index + 1, chars_left)
            except (RuntimeError, ValueError, TypeError) as exc:
                ctx.warn(name, f"corrupt: page {index + 1} cannot be read ({exc})")
                continue
            chars_left -= sum(len(line.text) for line in page.lines)
            yield page


def _open(data: bytes) -> pymupdf.Document:
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except (RuntimeError, ValueError) as exc:
        raise CorruptFile("PDF is truncated or damaged and cannot be repaired") from exc
    if doc.needs_pass:
        doc.close()
        raise EncryptedContent("PDF is password-protected")
    if doc.page_count == 0:
        doc.close()
        raise CorruptFile("PDF has no readable pages (truncated or damaged)")
    return doc


def _page(page: pymupdf.Page, name: str, number: int, chars_left: int) -> Page:
    zoom = _zoom(page, TEXT_RENDER)
    to_pixels = page.rotation_matrix * pymupdf.Matrix(zoom, zoom)
    lines = _text_lines(page, to_pixels, chars_left)
    if _readable_chars(lines) >= MIN_TEXT_CHARS:
        return Page(source=name, number=number, lines=lines, image=_render(page, TEXT_RENDER))
    # OCR replaces the lines of such a page; a short text layer would only duplicate them.
    return Page(
        source=name,
        number=number,
        image=_render(page, OCR_RENDER),
        needs_ocr=True,
        is_capture=_mostly_image(page),
    )


def _zoom(page: pymupdf.Page, spec: RenderSpec) -> float:
    return spec.scale(page.rect.width, page.rect.height, units_per_inch=72.0)


def _render(page: pymupdf.Page, spec: RenderSpec) -> RgbImage:
    zoom = _zoom(page, spec)
    pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csRGB, alpha=False)
    rows = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.stride)
    return rows[:, : pix.width * 3].reshape(pix.height, pix.width, 3).copy()


def _text_lines(page: pymupdf.Page, to_pixels: pymupdf.Matrix, chars_left: int) -> list[TextLine]:
    lines: list[TextLine] = []
    for block in page.get_text("dict", flags=_TEXT_FLAGS)["blocks"]:
        for line in block.get("lines", []):
            spans = [span for span in line["spans"] if span["text"].strip()]
            text = "".join(span["text"] for span in spans).strip()
            if not text or chars_left <= 0:
                continue
            text = text[:chars_left]
            chars_left -= len(text)
            lines.append(
                TextLine(
                    text=text,
                    bbox=_pixel_box(line["bbox"], to_pixels),
                    color=red_or_none(dominant((_rgb(s["color"]), len(s["text"])) for s in spans)),
                    size=dominant((round(s["size"] * 2) / 2, len(s["text"])) for s in spans),
                )
            )
    return lines


def _pixel_box(bbox: tuple[float, float, float, float], to_pixels: pymupdf.Matrix) -> BBox:
    rect = pymupdf.Rect(bbox) * to_pixels
    return (int(rect.x0), int(rect.y0), round(rect.x1), round(rect.y1))


def _rgb(srgb: int) -> tuple[int, int, int]:
    return (srgb >> 16) & 0xFF, (srgb >> 8) & 0xFF, srgb & 0xFF


def _readable_chars(lines: list[TextLine]) -> int:
    """Characters a reader would see: not blanks, not U+FFFD, not private-use glyph codes."""
    return sum(1 for line in lines for ch in line.text if _readable(ch))


def _readable(ch: str) -> bool:
    garbage = ch == "\ufffd" or "\ue000" <= ch <= "\uf8ff"
    return ch.isprintable() and not ch.isspace() and not garbage


def _mostly_image(page: pymupdf.Page) -> bool:
    area = abs(page.rect) or 1.0
    try:
        boxes = [pymupdf.Rect(info["bbox"]) & page.rect for info in page.get_image_info()]
    except (RuntimeError, ValueError):
        return False
    return any(abs(box) / area >= CAPTURE_IMAGE_COVER for box in boxes)


def _metadata_values(doc: pymupdf.Document) -> list[str]:
    """Title, subject, keywords, custom Info entries and XMP fields; [] when damaged."""
    try:
        info = doc.metadata or {}
        values = [info.get(key) or "" for key in ("title", "subject", "keywords")]
        values += _custom_info_values(doc)
        xml = doc.get_xml_metadata()
    except (RuntimeError, ValueError, TypeError, IndexError):
        return []  # damaged metadata must not cost us the pages
    return values + (xmp_values(xml) if xml else [])


def _custom_info_values(doc: pymupdf.Document) -> list[str]:
    """Values of non-standard Info entries, e.g. /SecurityLevel (机密)."""
    try:
        kind, ref = doc.xref_get_key(-1, "Info")
        if kind != "xref":
            return []
        xref = int(ref.split()[0])
        values = []
        for key in doc.xref_get_keys(xref):
            if key in _STANDARD_INFO_KEYS:
                continue
            kind, value = doc.xref_get_key(xref, key)
            if kind in ("string", "name"):
                values.append(value.lstrip("/"))
        return values
    except (RuntimeError, ValueError, TypeError, IndexError):
        return []
