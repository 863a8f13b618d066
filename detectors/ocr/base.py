"""One interface for OCR engines, so that the pipeline does not know which one runs."""

from __future__ import annotations

from typing import Protocol

from detectors.model import RgbImage, TextLine


class OcrEngine(Protocol):
    """An OCR engine, loaded once per process and reused for every page."""

    name: str

    def read(self, image: RgbImage) -> list[TextLine]:
        """Lines of text on an upright page image, boxes in that image's pixels.

        Engines spend a bounded effort per page (config `ocr.rec_char_budget`): the top band,
        short lines (markings, fields) and the bottom band are read first.
        """
        ...

    def orientation(self, image: RgbImage) -> int:
        """Clockwise rotation in degrees (0, 90, 180, 270) that makes the page upright."""
        ...
