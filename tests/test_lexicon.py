"""Alternative readings of short marking lines from the recogniser's own odds
(`detectors.ocr.lexicon`), and the detectors that take a marking from them, trusting it less."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from vision_synth import BLACK, SANS, font

from detectors import Page, ScanConfig, Scanner, TextLine
from detectors.ocr.lexicon import alternatives, best_path
from detectors.rules import classification_marking, handling_marking
from detectors.rules._text import ALTERNATIVE_FACTOR
from tests.conftest import context

ALPHABET = ("blank", "山", "内", "都", "部", "容", "机", "实", "密")
INDEX = {glyph: i for i, glyph in enumerate(ALPHABET)}


def frames(*steps: dict[str, float]) -> np.ndarray:
    """Recogniser output: each step's odds by glyph, the rest of its mass on the blank."""
    out = np.zeros((len(steps), len(ALPHABET)), np.float32)
    for t, odds in enumerate(steps):
        for glyph, p in odds.items():
            out[t, INDEX[glyph]] = p
        out[t, 0] = 1.0 - sum(odds.values())
    return out


BLURRED = frames(
    {},
    {"山": 0.6, "内": 0.05},
    {"山": 0.55},
    {},
    {"都": 0.7, "部": 0.2, "容": 0.001},
    {},
)
"""内部 on a far shot: the best path reads 山都, 内 and 部 were seen at 1/12 and 1/3.5."""


def test_the_best_path_collapses_repeats_and_drops_blanks() -> None:
    path = best_path(BLURRED, ALPHABET)
    assert [(e.glyph, e.steps) for e in path] == [("山", (1, 2)), ("都", (4,))]


def test_a_word_the_recogniser_nearly_saw_is_an_alternative() -> None:
    assert alternatives(BLURRED, ALPHABET, INDEX, ["内部", "内容"], max_loss=4.0) == ("内部",)
    # 内 at 1/12 and 部 at 1/3.5 of the best: a mean loss of about 1.9 per glyph.
    assert alternatives(BLURRED, ALPHABET, INDEX, ["内部"], max_loss=1.5) == ()


def test_a_word_already_read_or_outside_the_alphabet_makes_none() -> None:
    clear = frames({"内": 0.9}, {}, {"部": 0.9})
    assert alternatives(clear, ALPHABET, INDEX, ["内部", "注意"], max_loss=10.0) == ()


def test_a_stretch_of_a_longer_line_is_replaced() -> None:
    level = frames({"实": 0.5, "机": 0.1}, {}, {"密": 0.9})
    assert alternatives(level, ALPHABET, INDEX, ["机密"], max_loss=4.0) == ("机密",)


def _top_right(text: str, alternatives: tuple[str, ...]) -> Page:
    image = np.full((1754, 1240, 3), 255, dtype=np.uint8)
    rows = [
        TextLine(text, bbox=(950, 160, 1040, 210), confidence=0.72, alternatives=alternatives),
        TextLine("关于做好全省防汛抗旱工作的通知", bbox=(200, 600, 1040, 660), confidence=0.99),
    ]
    return Page(source="photo.jpg", number=1, image=image, lines=rows)


def test_a_handling_marking_nearly_read_counts_trusted_less(config: ScanConfig) -> None:
    (found,) = handling_marking.detect(context(_top_right("山都", ("内部",)), config))
    (read,) = handling_marking.detect(context(_top_right("内部", ()), config))
    assert found.label == "内部" and found.details["nearly_read"] == "内部"
    assert found.evidence == "山都"  # what was read, as read
    assert found.confidence == read.confidence * ALTERNATIVE_FACTOR
    assert found.confidence >= config.policy.min_confidence
    assert handling_marking.detect(context(_top_right("山都", ()), config)) == []


def test_a_level_nearly_read_in_its_field_is_named(config: ScanConfig) -> None:
    image = np.full((1754, 1240, 3), 255, dtype=np.uint8)
    rows = [
        TextLine("密　级", bbox=(170, 300, 280, 340), confidence=0.95),
        TextLine(
            "实密★1年", bbox=(340, 300, 520, 340), confidence=0.64, alternatives=("机密★1年",)
        ),
    ]
    page = Page(source="photo.jpg", number=1, image=image, lines=rows)
    (found,) = classification_marking.detect(context(page, config))
    assert found.label == "实密"  # the reading itself is a misread level in its field
    rows[1] = TextLine(
        "实告★1年", bbox=(340, 300, 520, 340), confidence=0.64, alternatives=("机密★1年",)
    )
    (nearly,) = classification_marking.detect(context(page, config))
    assert nearly.label == "机密" and nearly.details["nearly_read"] == "机密★1年"


def test_a_blank_line_has_no_alternative() -> None:
    assert alternatives(frames({}, {}), ALPHABET, INDEX, ["内部"], max_loss=10.0) == ()


def test_clear_words_near_a_marking_are_read_as_themselves(config: ScanConfig) -> None:
    """The real recogniser on clear print: 山都 and 内容 at the top of a page are what they
    are; the lexicon proposes nothing, and nothing marks the page."""
    pil = Image.new("RGB", (1240, 1754), (255, 255, 255))
    draw = ImageDraw.Draw(pil)
    draw.text((950, 160), "山都", font=font(SANS, 40), fill=BLACK)
    draw.text((170, 160), "内容", font=font(SANS, 40), fill=BLACK)
    draw.text((170, 600), "关于做好全省防汛抗旱工作的通知", font=font(SANS, 44), fill=BLACK)
    page = Page(source="x.png", number=1, image=np.asarray(pil), needs_ocr=True)
    scanner = Scanner(config)
    scanner.read(page)
    assert {"山都", "内容"} <= {line.text for line in page.lines}
    assert all(line.alternatives == () for line in page.lines)
    assert scanner.detect_page(page) == []
