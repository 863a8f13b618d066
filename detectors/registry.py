"""The one list of detectors. Adding a detector is adding a module and one line here."""

from __future__ import annotations

from collections.abc import Callable

from detectors.context import PageContext
from detectors.model import Finding
from detectors.rules import (
    classification_marking,
    document_header,
    handling_marking,
    personal_data,
    public_release,
    red_header,
    seal,
)

PageDetector = Callable[[PageContext], list[Finding]]

PAGE_DETECTORS: dict[str, PageDetector] = {
    module.NAME: module.detect
    for module in (
        classification_marking,
        handling_marking,
        public_release,
        document_header,
        red_header,
        seal,
        personal_data,
    )
}

ENCRYPTED = "encrypted"
"""Findings made by extraction itself: password-protected content to review."""
INCOMPLETE = "incomplete"
"""Findings made by extraction itself: a part of a container that was not read whole (skipped
by a cap, a bomb, corrupt), where a leak may hide; the label says why."""
KNOWN_DOCUMENT = "known_document"
"""Findings made by looking a page up among the registered controlled documents."""

DETECTOR_NAMES: tuple[str, ...] = (*PAGE_DETECTORS, ENCRYPTED, INCOMPLETE, KNOWN_DOCUMENT)
