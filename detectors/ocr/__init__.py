"""OCR engines behind one protocol (`base.OcrEngine`); `create_engine` picks one by name."""

from __future__ import annotations

from collections.abc import Sequence

from detectors.config import OcrSettings
from detectors.ocr.base import OcrEngine

ENGINES = ("rapidocr", "rapidocr3", "tesseract")


def create_engine(
    settings: OcrSettings, name: str | None = None, lexicon: Sequence[str] = ()
) -> OcrEngine:
    """Load the engine `name` (default: `settings.engine`). Loading models takes ~1 s: once.

    `lexicon`: marking words the PP-OCR engines also read short lines of the top band as
    (`TextLine.alternatives`); Tesseract gives no odds to read them by."""
    chosen = name or settings.engine
    # Imported here: each engine pulls in its own heavy dependencies.
    if chosen == "rapidocr":
        from detectors.ocr.rapid import RapidOcrEngine

        return RapidOcrEngine(settings, lexicon)
    if chosen == "rapidocr3":
        from detectors.ocr.rapid3 import RapidOcr3Engine

        return RapidOcr3Engine(settings, lexicon)
    if chosen == "tesseract":
        from detectors.ocr.tesseract import TesseractEngine

        return TesseractEngine(settings)
    raise ValueError(f"unknown OCR engine {chosen!r} (known: {', '.join(ENGINES)})")
