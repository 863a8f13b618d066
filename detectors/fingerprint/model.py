"""The data of page fingerprints and the protocol of a registry that can look them up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

FINGERPRINT_VERSION = 2
"""Bumped whenever the way fingerprints are computed changes: stored ones must be recomputed."""


@dataclass(frozen=True)
class PageFingerprint:
    """Everything needed to find and verify one page, small enough to keep per page."""

    text_marks: tuple[int, ...]
    """Sorted, unique 32-bit hashes of selected character shingles: the text index keys."""
    text_length: int
    """Normalised characters the marks were taken from (0 for a page without text)."""
    image_hashes: dict[str, int] = field(default_factory=dict)
    """Region name ("page", "body", "top", "bottom", ...) -> 64-bit perceptual hash."""
    layout: bytes = b""
    """Opaque verification data (line layout, keypoints), compared by `verify`."""
    doc_number: int = 0
    """The page's 发文字号 as a 32-bit hash (`text.doc_number_id`); 0 when it shows none."""
    version: int = FINGERPRINT_VERSION


@dataclass(frozen=True)
class PageMatch:
    """The outcome of verifying a query page against one registered page."""

    score: float
    """In [0, 1]; only matches at or above the configured threshold are returned."""
    methods: tuple[str, ...]
    """Which fingerprints agreed, for example ("text", "layout") or ("image:body",)."""


@dataclass(frozen=True)
class KnownMatch:
    """A registered page that a scanned page was found to be a copy of."""

    doc_id: str
    page: int
    title: str
    level: str | None
    score: float
    methods: tuple[str, ...]


class KnownDocuments(Protocol):
    """A registry of controlled documents that the scanner asks about every page it reads."""

    def lookup(self, fingerprint: PageFingerprint) -> list[KnownMatch]:
        """The registered pages `fingerprint` is a copy of, best first (usually 0 or 1)."""
        ...
