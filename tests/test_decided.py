"""A page its first lines decide: its running text is read only as far as the registry needs.

A classification marking in the top band makes a page critical whatever its body says, so
once the engine has read the top band, the short lines and the bottom band, it asks the
scanner whether the page is decided, and reads the body only to `ocr.decided_body_chars`.
"""

from __future__ import annotations

import numpy as np
import pytest
from vision_synth import MARKING, render_official_page

from detectors import Page, ScanConfig, Scanner, TextLine
from detectors.config import Policy
from detectors.ocr.base import OcrEngine
from detectors.policy import deciding_detectors
from detectors.registry import PAGE_DETECTORS


def compact(lines: list[TextLine]) -> list[str]:
    return ["".join(line.text.split()) for line in lines]


@pytest.fixture(scope="module")
def scanner(config: ScanConfig) -> Scanner:
    return Scanner(config, engine_name="rapidocr3")


@pytest.fixture(scope="module")
def engine(scanner: Scanner) -> OcrEngine:
    return scanner.engine


@pytest.fixture(scope="module")
def marked() -> np.ndarray:
    return render_official_page(1240, body_lines=18, seal=False).image


def _policy(config: ScanConfig, extra: list[dict[str, object]]) -> Policy:
    rules = [rule.model_dump() for rule in config.policy.rules]
    return Policy.model_validate({**config.policy.model_dump(), "rules": [*extra, *rules]})


def test_deciding_detectors_are_those_critical_on_their_own(config: ScanConfig) -> None:
    assert deciding_detectors(config.policy, PAGE_DETECTORS) == ("classification_marking",)
    louder = _policy(config, [{"when": ["handling_marking:内部"], "verdict": "critical"}])
    assert "handling_marking" in deciding_detectors(louder, PAGE_DETECTORS)
    together = _policy(config, [{"when": ["seal", "red_header"], "verdict": "critical"}])
    assert deciding_detectors(together, PAGE_DETECTORS) == ("classification_marking",)


def test_engine_asks_once_before_the_body_and_reads_it_in_part(
    config: ScanConfig, engine: OcrEngine, marked: np.ndarray
) -> None:
    whole = compact(engine.read(marked))
    asked: list[list[str]] = []

    def decided(lines: list[TextLine]) -> bool:
        asked.append(compact(lines))
        return True

    part = compact(engine.read(marked, decided=decided))
    assert len(asked) == 1
    first = asked[0]
    assert MARKING in first and len(first) < len(part) < len(whole)
    # What the decided page still reads of its body is the body's beginning, in order.
    body = [line for line in whole if line not in first]
    read = [line for line in part if line not in first]
    assert read == body[: len(read)]
    # Undecided, the page is read as if nobody had asked.
    assert compact(engine.read(marked, decided=lambda lines: False)) == whole


def test_scanner_reads_a_marked_page_in_part_and_registering_reads_it_whole(
    scanner: Scanner, marked: np.ndarray
) -> None:
    scanned = Page(source="marked.png", number=1, image=marked, needs_ocr=True)
    registered = Page(source="marked.png", number=1, image=marked, needs_ocr=True)
    scanner.read(scanned)
    scanner.read(registered, whole=True)
    assert len(scanned.lines) < len(registered.lines)
    assert MARKING in compact(scanned.lines)
    names = {f.detector for f in scanner.detect_page(scanned)}
    assert "classification_marking" in names


def test_scanner_reads_an_unmarked_page_whole(scanner: Scanner) -> None:
    image = render_official_page(1240, marking=None, body_lines=18, seal=False).image
    scanned = Page(source="plain.png", number=1, image=image, needs_ocr=True)
    registered = Page(source="plain.png", number=1, image=image, needs_ocr=True)
    scanner.read(scanned)
    scanner.read(registered, whole=True)
    assert compact(scanned.lines) == compact(registered.lines)
