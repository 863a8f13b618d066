"""Fingerprinting one read page (text layer or OCR lines, and its rectified image).

Registering a document reads its pages with `registration_config(config)`: OCR then reads
the whole page (`fingerprint.registration.rec_char_budget` characters) instead of a scan's
budget, so that the stored fingerprint covers every line a capture may show.
"""

from __future__ import annotations

import statistics

from detectors.config import FingerprintSettings, ScanConfig
from detectors.fingerprint.image import image_hashes
from detectors.fingerprint.layout import pack
from detectors.fingerprint.model import PageFingerprint
from detectors.fingerprint.text import ContentLine, Mark, content_lines, marks
from detectors.model import Page


def fingerprint_page(page: Page, settings: FingerprintSettings) -> PageFingerprint | None:
    """The page's fingerprint; None when it has neither enough text nor an image."""
    lines = content_lines(page.lines, settings)
    text_length = sum(len(line.text) for line in lines)
    # A photo of the header alone may show no content but the 发文字号, which names the document.
    doc_number = next((line.doc_number for line in lines if line.doc_number), 0)
    enough = text_length >= settings.text.min_chars or doc_number
    selected = marks(lines, settings.text) if enough else []
    text_marks = tuple(sorted({m.value for m in selected}))
    hashes: dict[str, int] = {}
    if page.image is not None and _text_chars(page) < settings.image.max_text_chars:
        hashes = image_hashes(page.image, settings.image)
    if not text_marks and not hashes:
        return None
    return PageFingerprint(
        text_marks=text_marks,
        text_length=text_length if text_marks else 0,
        image_hashes=hashes,
        layout=_layout(page, lines, selected, text_marks),
        doc_number=doc_number,
    )


def _text_chars(page: Page) -> int:
    return sum(len("".join(line.text.split())) for line in page.lines)


def registration_config(config: ScanConfig) -> ScanConfig:
    """`config` with OCR reading whole pages: what registering a document reads pages with."""
    ocr = config.scan.ocr.model_copy(
        update={"rec_char_budget": config.fingerprint.registration.rec_char_budget}
    )
    scan = config.scan.model_copy(update={"ocr": ocr})
    return config.model_copy(update={"scan": scan})


def _layout(
    page: Page, lines: list[ContentLine], selected: list[Mark], text_marks: tuple[int, ...]
) -> bytes:
    """Packed mark placements: on the page where every line has a box, else in reading order
    where none has (DOCX, TXT); b"" for a mixture."""
    boxed = [line.height for line in lines if line.height is not None]
    if not text_marks or 0 < len(boxed) < len(lines):
        return b""
    placements = [(m.value, *m.position) for m in selected]
    if not boxed:
        return pack(placements, text_marks, 1.0, None)
    height = statistics.median(boxed)
    side = max(page.width, page.height) or max(max(x, y) for _, x, y in placements) + height
    return pack(placements, text_marks, side, height)
