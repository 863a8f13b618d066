"""OCR engines on a rendered GB/T 9704 page, and the layout logic behind the budget.

Model-backed tests are few and share one engine and one page per module: each read costs
0.3-1.5 s on a CI core.
"""

from __future__ import annotations

import re
import socket

import numpy as np
import pytest
from PIL import Image, ImageDraw
from vision_synth import MARKING, ORGAN, SANS, TITLE, font, render_official_page

from detectors import ScanConfig, TextLine
from detectors.config import OcrSettings
from detectors.ocr import create_engine
from detectors.ocr.base import OcrEngine
from detectors.ocr.layout import (
    FULL,
    Budget,
    Priority,
    ReadMode,
    TextBox,
    fast_mode,
    plan_recognition,
    priority,
    reading_order,
    text_box,
)
from detectors.ocr.tesseract import group_words, join_words

# 〔〕 come back as any of these; the document-number rule accepts them all.
DOC_NUMBER_STEM = r"吉政办发[〔\[【(（［﹝]2024[〕\]】)）］﹞]15"
DOC_NUMBER_READ = re.compile(DOC_NUMBER_STEM + "号")


def compact(lines: list[TextLine]) -> list[str]:
    return ["".join(line.text.split()) for line in lines]


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return render_official_page(1240, body_lines=6, seal=False).image


@pytest.fixture(scope="module")
def rapid(config: ScanConfig) -> OcrEngine:
    return create_engine(config.scan.ocr, "rapidocr")


@pytest.fixture(scope="module")
def rapid3(config: ScanConfig) -> OcrEngine:
    return create_engine(config.scan.ocr, "rapidocr3")


@pytest.fixture(scope="module")
def tesseract(config: ScanConfig) -> OcrEngine:
    return create_engine(config.scan.ocr, "tesseract")


RAPID_FIXTURES = {"rapidocr": "rapid", "rapidocr3": "rapid3", "tesseract": "tesseract"}


# Engines.


def test_create_engine_by_name(config: ScanConfig, rapid: OcrEngine, rapid3: OcrEngine) -> None:
    assert rapid.name == "rapidocr"
    assert rapid3.name == "rapidocr3"
    assert create_engine(config.scan.ocr, "tesseract").name == "tesseract"
    assert create_engine(config.scan.ocr).name == config.scan.ocr.engine
    with pytest.raises(ValueError, match="unknown OCR engine"):
        create_engine(config.scan.ocr, "paddle")


def test_rapidocr3_reads_a_rendered_chinese_line(rapid3: OcrEngine) -> None:
    """PP-OCRv6 small, from the `rapidocr` 3 wheel, next to the 1.4 package."""
    image = Image.new("RGB", (1240, 300), "white")
    ImageDraw.Draw(image).text((120, 120), TITLE, font=font(SANS, 44), fill="black")
    lines = rapid3.read(np.asarray(image))
    assert compact(lines) == [TITLE]
    assert lines[0].confidence >= 0.9


def test_rapidocr3_loads_without_the_network(
    config: ScanConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bot runs offline: models and the character list come from the wheel, by path."""

    def refuse(*args: object) -> None:
        raise AssertionError(f"network connection attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert create_engine(config.scan.ocr, "rapidocr3").name == "rapidocr3"


@pytest.mark.parametrize("engine_name", ["rapidocr", "rapidocr3"])
def test_rapidocr_reads_the_header_in_reading_order(
    engine_name: str, request: pytest.FixtureRequest, page: np.ndarray
) -> None:
    rapid: OcrEngine = request.getfixturevalue(RAPID_FIXTURES[engine_name])
    lines = rapid.read(page)
    texts = compact(lines)
    assert MARKING in texts  # the ★ survives
    assert ORGAN in texts
    number = next(i for i, t in enumerate(texts) if DOC_NUMBER_READ.fullmatch(t))
    assert texts.index(MARKING) < texts.index(ORGAN) < number
    h, w = page.shape[:2]
    for line in lines:
        assert line.bbox is not None
        x0, y0, x1, y1 = line.bbox
        assert all(isinstance(v, int) for v in line.bbox)
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert 0.45 <= line.confidence <= 1.0
    tops = [line.bbox[1] for line in lines if line.bbox]
    assert tops == sorted(tops)


def test_rapidocr_budget_reads_the_header_first(config: ScanConfig, page: np.ndarray) -> None:
    settings = config.scan.ocr.model_copy(update={"rec_char_budget": 60})
    lines = create_engine(settings, "rapidocr").read(page)
    texts = compact(lines)
    assert ORGAN in texts and MARKING in texts
    # 60 characters' worth of time: the header at full size, then ~2.4x as many characters
    # read fast; the page holds ~230.
    assert sum(len(t) for t in texts) <= 160


@pytest.mark.parametrize("engine_name", ["rapidocr", "rapidocr3"])
def test_rapidocr_reads_digits_right_in_a_list(
    engine_name: str, request: pytest.FixtureRequest
) -> None:
    """Rows below the header are read fast first; rows with digits are read again in full."""
    rapid: OcrEngine = request.getfixturevalue(RAPID_FIXTURES[engine_name])
    image = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(image)
    rows = [f"张{i}  11010119900307{1230 + i}  1380013{8000 + i * 111}" for i in range(8)]
    for i, row in enumerate(rows):
        draw.text((120, 900 + 70 * i), row, font=font(SANS, 34), fill="black")
    texts = ["".join(line.text.split()) for line in rapid.read(np.asarray(image))]
    assert ["".join(row.split()) for row in rows] == texts


@pytest.mark.parametrize("lang", ["chi_sim+eng", "chi_sim"])
def test_tesseract_reads_the_header(config: ScanConfig, page: np.ndarray, lang: str) -> None:
    settings = config.scan.ocr.model_copy(update={"tesseract_lang": lang})
    texts = compact(create_engine(settings, "tesseract").read(page))
    assert ORGAN in texts
    # chi_sim has no ★: Tesseract reads a CJK look-alike (女, 妇, 娘) in its place.
    assert any(re.fullmatch(r"机密.1年", t) for t in texts), texts
    if lang == "chi_sim":
        assert any(DOC_NUMBER_READ.fullmatch(t) for t in texts), texts
    else:  # with the English model loaded too, the final 号 comes back as "5"
        assert any(re.fullmatch(DOC_NUMBER_STEM + "[号5]", t) for t in texts), texts


@pytest.mark.parametrize("engine_name", ["rapidocr", "rapidocr3", "tesseract"])
def test_orientation_turns_the_page_upright(
    engine_name: str, request: pytest.FixtureRequest, page: np.ndarray
) -> None:
    engine: OcrEngine = request.getfixturevalue(RAPID_FIXTURES[engine_name])
    for quarter_turns_ccw in range(4):
        turned = np.ascontiguousarray(np.rot90(page, quarter_turns_ccw))
        assert engine.orientation(turned) == 90 * quarter_turns_ccw


def test_orientation_of_a_blank_image_is_zero(
    rapid: OcrEngine, rapid3: OcrEngine, tesseract: OcrEngine
) -> None:
    blank = np.full((400, 300, 3), 255, np.uint8)
    assert rapid.orientation(blank) == 0
    assert rapid3.orientation(blank) == 0
    assert tesseract.orientation(blank) == 0
    assert rapid.read(blank) == []
    assert rapid3.read(blank) == []


# Layout, without models.


def _box(x0: int, y0: int, x1: int, y1: int) -> TextBox:
    quad = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)
    return text_box(quad, 1000, 1400)


def test_text_box_estimates_characters_and_verticals() -> None:
    line = _box(100, 100, 500, 140)
    assert line.chars == pytest.approx(10)
    assert not line.vertical
    column = _box(100, 100, 140, 500)
    assert column.vertical and column.chars == pytest.approx(10)


def test_plan_puts_header_short_lines_and_colophon_before_body(config: ScanConfig) -> None:
    settings: OcrSettings = config.scan.ocr
    body = [_box(100, 500 + 50 * i, 1000, 540 + 50 * i) for i in range(10)]  # 22.5 chars each
    top = _box(200, 200, 800, 260)
    short = _box(100, 900, 300, 940)
    colophon = _box(100, 1300, 900, 1340)
    boxes = [*body, colophon, short, top]
    assert priority(top, 1400, settings) is Priority.TOP
    assert priority(short, 1400, settings) is Priority.SHORT
    assert priority(colophon, 1400, settings) is Priority.BOTTOM
    assert priority(body[0], 1400, settings) is Priority.BODY
    plan = plan_recognition(boxes, 1400, settings)
    assert [line.box for line in plan] == [top, short, colophon, *body]  # body in reading order
    assert [line.priority for line in plan[:3]] == [Priority.TOP, Priority.SHORT, Priority.BOTTOM]
    assert plan[0].mode == FULL  # the header is read at full size
    assert plan[1].mode == fast_mode(settings)  # a short line: maybe a field or a marking
    long = ReadMode(settings.fast_rec_height, settings.long_rec_squeeze)
    assert all(line.mode == long for line in plan[2:])  # prose: narrowed further
    assert plan[1].cost < plan[1].box.chars  # fast reading costs less than full size
    assert plan[3].cost < fast_mode(settings).cost(plan[3].box.chars)
    # A recogniser of one input height (PP-OCRv6: 48 px) is only narrowed.
    narrow = ReadMode(FULL.height, settings.fast_rec_squeeze)
    narrowed = plan_recognition(boxes, 1400, settings, fast=narrow)
    assert narrowed[0].mode == FULL and narrowed[1].mode == narrow
    assert all(line.mode.height == FULL.height for line in narrowed[2:])
    assert plan[1].cost < narrowed[1].cost < narrowed[1].box.chars


def test_budget_skips_what_does_not_fit() -> None:
    budget = Budget(10)
    assert budget.take(6) and not budget.take(6) and budget.take(4)
    assert budget.left == 0


def test_reading_order_rows_then_columns() -> None:
    items = [
        TextLine("right", bbox=(600, 102, 900, 140)),
        TextLine("below", bbox=(100, 200, 500, 240)),
        TextLine("left", bbox=(100, 100, 500, 138)),
        TextLine("no box"),
    ]
    ordered = reading_order(items, lambda line: line.bbox)
    assert [line.text for line in ordered] == ["left", "right", "below", "no box"]


def test_tesseract_words_join_cjk_tight_and_latin_spaced() -> None:
    assert join_words(["吉林省", "人民政府", "文件"]) == "吉林省人民政府文件"
    assert join_words(["Top", "secret", "文件", "2024", "年"]) == "Top secret文件2024年"
    data: dict[str, list[object]] = {
        "text": ["", "机密", "1年", "正文", "  "],
        "conf": ["-1", "90", "80", "70", "-1"],
        "block_num": [1, 1, 1, 2, 2],
        "par_num": [1, 1, 1, 1, 1],
        "line_num": [1, 1, 1, 1, 1],
        "left": [0, 10, 60, 10, 0],
        "top": [0, 10, 12, 100, 0],
        "width": [0, 40, 30, 50, 0],
        "height": [0, 20, 18, 20, 0],
    }
    lines = [line.to_text_line(0.5) for line in group_words(data)]
    assert [line.text for line in lines] == ["机密1年", "正文"]
    assert lines[0].bbox == (20, 20, 180, 60)
    assert lines[0].confidence == pytest.approx(0.85)
