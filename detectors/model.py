"""The data that flows through the scanner: pages in, findings and a report out.

Everything here is plain data. Extractors produce `Page`s, the OCR step fills their `lines`,
detectors turn a page into `Finding`s, and `scan()` folds them into one `ScanReport`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

BBox = tuple[int, int, int, int]
"""(x0, y0, x1, y1) in pixels of the page image the finding was made on."""

RgbImage = npt.NDArray[np.uint8]
"""An H x W x 3 RGB image."""


class Verdict(IntEnum):
    """How loud a report is. Ordered, so that the loudest of several is `max()`."""

    CLEAN = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Verdict:
        return cls[text.strip().upper()]


@dataclass(frozen=True)
class TextLine:
    """One line of text on a page, from a text layer or from OCR."""

    text: str
    bbox: BBox | None = None
    """Box on the page image; None for text that has no layout (TXT, DOCX paragraphs)."""
    confidence: float = 1.0
    """OCR confidence in [0, 1]; 1.0 for text read from a text layer."""
    color: str | None = None
    """"red" when the source format says so (PDF span, OOXML run, OFD fill colour)."""
    size: float | None = None
    """Font size in points, when the source format says so."""
    slope: float = 0.0
    """How far the line's centre drops per pixel across (dy/dx): an OCR line of a page that
    is not quite level or lies in perspective runs across its box diagonally."""
    alternatives: tuple[str, ...] = ()
    """Marking words the recogniser nearly read here, in the line's text: 内部 for a far
    shot's 山都 (`detectors.ocr.lexicon`); detectors trust them less than the text."""


@dataclass
class Page:
    """One page of one document, as extracted.

    A page may carry an image (a photo, a scan, a rendered PDF/OFD page), lines of text
    (from a text layer), or both. `needs_ocr` says that the lines must come from OCR of the
    image; `is_capture` says that the image may be a camera capture that needs page finding,
    orientation and deskew before OCR.
    """

    source: str
    """Where the page comes from: the file name, or `archive.zip/inner/doc.pdf` for members."""
    number: int
    """1-based page number within `source`."""
    lines: list[TextLine] = field(default_factory=list)
    image: RgbImage | None = None
    needs_ocr: bool = False
    is_capture: bool = False
    is_metadata: bool = False
    """A pseudo-page holding document properties, EXIF, comments: every line is a field value."""

    @property
    def width(self) -> int:
        return 0 if self.image is None else int(self.image.shape[1])

    @property
    def height(self) -> int:
        return 0 if self.image is None else int(self.image.shape[0])

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True)
class Finding:
    """One thing a detector saw on one page."""

    detector: str
    label: str
    confidence: float
    page: int
    evidence: str
    bbox: BBox | None = None
    member: str | None = None
    """Archive member path when the page came from inside a container, else None."""
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Detector-specific extras (for example the known document's id); not shown in tables."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "detector": self.detector,
            "label": self.label,
            "confidence": round(self.confidence, 3),
            "page": self.page,
            "bbox": list(self.bbox) if self.bbox else None,
            "evidence": self.evidence,
            "member": self.member,
        }
        if self.details:
            out["details"] = self.details
        return out


@dataclass
class ScanReport:
    """The result of scanning one input file."""

    source: str
    verdict: Verdict = Verdict.CLEAN
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    """Set when the file could not be scanned (corrupt, over a limit, unsupported)."""
    media_type: str | None = None
    pages: int = 0
    timings_ms: dict[str, int] = field(default_factory=lambda: {"total": 0, "ocr": 0})
    warnings: list[str] = field(default_factory=list)
    """Problems with parts of the input (an unreadable archive member) that did not stop it."""

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "verdict": self.verdict.label,
            "findings": [f.to_json() for f in self.findings],
            "error": self.error,
            "media_type": self.media_type,
            "pages": self.pages,
            "warnings": self.warnings,
            "timings_ms": self.timings_ms,
        }
