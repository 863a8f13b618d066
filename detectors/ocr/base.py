"""One interface for OCR engines, so that the pipeline does not know which one runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from detectors.model import RgbImage, TextLine
from detectors.ocr.layout import TextBox

Lines = Sequence[TextBox] | None
"""Text line boxes found on a page image, or None from an engine that finds its own lines
as it reads (Tesseract)."""


class OcrEngine(Protocol):
    """An OCR engine, loaded once per process and reused for every page."""

    name: str

    def detect_lines(self, image: RgbImage) -> Lines:
        """The line boxes `read` would find on `image`: found once, they serve `orientation`
        and, carried through the page's turn and deskew, `read`."""
        ...

    def read(self, image: RgbImage, boxes: Lines = None) -> list[TextLine]:
        """Lines of text on an upright page image, boxes in that image's pixels; `boxes`
        are the page's line boxes when the caller has them (else they are detected).

        Engines spend a bounded effort per page (config `ocr.rec_char_budget`): the top band,
        short lines (markings, fields) and the bottom band are read first.
        """
        ...

    def orientation(self, image: RgbImage, boxes: Lines = None) -> int:
        """Clockwise rotation in degrees (0, 90, 180, 270) that makes the page upright;
        `boxes` as from `detect_lines(image)` when the caller has them."""
        ...
