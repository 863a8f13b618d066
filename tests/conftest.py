"""Shared fixtures: the real config from `config/`, pages built from lines of text."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from detectors import Page, ScanConfig, TextLine, load_config
from detectors.context import PageContext


@pytest.fixture(scope="session")
def config() -> ScanConfig:
    return load_config()


def text_page(lines: Sequence[str], number: int = 1) -> Page:
    """A page without layout (a DOCX body, a pasted text): lines in order."""
    return Page(source="test.txt", number=number, lines=[TextLine(t) for t in lines])


def laid_out_page(rows: Sequence[tuple[str, tuple[int, int, int, int]]]) -> Page:
    """An OCR'd A4 page of 1240 x 1754 px: each row is (text, bbox)."""
    import numpy as np

    image = np.full((1754, 1240, 3), 255, dtype=np.uint8)
    return Page(
        source="photo.jpg",
        number=1,
        image=image,
        lines=[TextLine(text, bbox=bbox, confidence=0.95) for text, bbox in rows],
    )


def context(page: Page, config: ScanConfig) -> PageContext:
    return PageContext(page=page, config=config)
