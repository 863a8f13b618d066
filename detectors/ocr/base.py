"""One interface for OCR engines, so that the pipeline does not know which one runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from detectors.model import RgbImage, TextLine
from detectors.ocr.layout import TextBox

Lines = Sequence[TextBox] | None
"""Text line boxes found on a page image, or None from an engine that finds its own lines
as it reads (Tesseract)."""


Decided = Callable[[list[TextLine]], bool]
"""Whether the lines read so far (the top band, short lines, the bottom band: everything but
running body text) already decide the page's verdict. An engine that reads in that order asks
once, before the body; a decided page's body is read only as far as `ocr.decided_body_chars`
(what the registry lookup and the evidence need), not to the end of the page's budget."""


class OcrEngine(Protocol):
    """An OCR engine, loaded once per process and reused for every page."""

    name: str

    def detect_lines(self, image: RgbImage) -> Lines:
        """The line boxes `read` would find on `image`: found once, they serve `orientation`
        and, carried through the page's turn and deskew, `read`."""
        ...

    def read(
        self, image: RgbImage, boxes: Lines = None, decided: Decided | None = None
    ) -> list[TextLine]:
        """Lines of text on an upright page image, boxes in that image's pixels; `boxes`
        are the page's line boxes when the caller has them (else they are detected).

        Engines spend a bounded effort per page (config `ocr.rec_char_budget`): the top band,
        short lines (markings, fields) and the bottom band are read first, and the body only
        in part when `decided` says those lines decide the page (an engine that reads the
        whole page in one pass, Tesseract, never asks).
        """
        ...

    def orientation(self, image: RgbImage, boxes: Lines = None) -> int:
        """Clockwise rotation in degrees (0, 90, 180, 270) that makes the page upright;
        `boxes` as from `detect_lines(image)` when the caller has them."""
        ...
