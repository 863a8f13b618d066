"""The red header detector on rendered pages, photos and the red things that are not headers.

OCR is not run here: where a test needs the OCR'd text of the red band, it places the lines
that OCR reads there (test_ocr covers reading them).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw
from vision_synth import (
    ORGAN,
    SANS_BOLD,
    SynthPage,
    downscale,
    font,
    photograph,
    render_banner,
    render_invoice,
    render_official_page,
    render_plain_document,
    render_red_title_slide,
    render_slide,
)

from detectors import Page, ScanConfig, TextLine
from detectors.context import PageContext
from detectors.model import BBox, Finding
from detectors.rules import red_header
from detectors.vision.capture import find_page, straighten


def detect(
    config: ScanConfig, image: np.ndarray, lines: list[TextLine] | None = None
) -> list[Finding]:
    page = Page(source="photo.jpg", number=1, image=image, lines=lines or [])
    return red_header.detect(PageContext(page=page, config=config))


def contains(outer: BBox | None, inner: BBox, slack: int = 4) -> bool:
    assert outer is not None
    return (
        outer[0] <= inner[0] + slack
        and outer[1] <= inner[1] + slack
        and outer[2] >= inner[2] - slack
        and outer[3] >= inner[3] - slack
    )


@pytest.fixture(scope="module")
def official() -> SynthPage:
    return render_official_page(1240)


# Positives.


def test_organ_mark_over_rule_is_a_red_header(config: ScanConfig, official: SynthPage) -> None:
    (finding,) = detect(config, official.image)
    assert finding.label == "red_header" and finding.confidence >= 0.9
    assert official.mark_box and official.rule_y
    assert contains(finding.bbox, official.mark_box)
    assert finding.bbox is not None and finding.bbox[3] >= official.rule_y
    assert finding.evidence == "red organ mark and red rule"


def test_ocr_text_of_the_mark_is_the_evidence(config: ScanConfig, official: SynthPage) -> None:
    assert official.mark_box
    lines = [
        TextLine("机密★1年", bbox=(167, 273, 319, 324)),
        TextLine(ORGAN, bbox=official.mark_box),
        TextLine("吉政办发〔2024〕15号", bbox=(463, 512, 780, 554)),
    ]
    (finding,) = detect(config, official.image, lines)
    assert finding.evidence == ORGAN
    assert finding.confidence > 0.9


def test_each_red_line_may_name_the_organ(config: ScanConfig, official: SynthPage) -> None:
    """A joint document (联合行文) stacks organ marks, a 简报 its office under its name: the
    red text together is longer than one organ mark, each line is one."""
    assert official.mark_box
    x0, y0, x1, y1 = official.mark_box
    middle = (y0 + y1) // 2
    lines = [
        TextLine("宁夏回族自治区应急管理厅信息专报", bbox=(x0, y0, x1, middle)),
        TextLine("宁夏回族自治区人力资源和社会保障厅", bbox=(x0, middle, x1, y1)),
    ]
    (finding,) = detect(config, official.image, lines)
    assert finding.confidence > 0.9


def test_a_text_layer_names_a_mark_whose_glyphs_touch(
    config: ScanConfig, official: SynthPage
) -> None:
    """A condensed or substituted font runs an organ mark's glyphs together: the shapes look
    like a bar, but a PDF or OFD says the line is red."""
    assert official.mark_box
    image = official.image.copy()
    x0, y0, x1, y1 = official.mark_box
    mark = image[y0:y1, x0:x1]
    red = (mark[..., 0] > 150) & (mark[..., 1] < 100)
    touching = cv2.dilate(red.astype(np.uint8), np.ones((1, 25), np.uint8)).astype(bool)
    mark[touching] = (215, 20, 20)
    assert official.rule_y
    body = [
        TextLine(text, bbox=(x0, y, x1, y + 40), size=16)
        for text, y in (
            ("关于做好全省防汛抗旱工作的通知", official.rule_y + 80),
            ("各市、县人民政府，省政府各部门：", official.rule_y + 160),
        )
    ]
    read = TextLine(ORGAN, bbox=official.mark_box, size=26)
    (rule_only,) = detect(config, image, [read, *body])
    assert rule_only.confidence < config.policy.min_confidence
    (finding,) = detect(config, image, [dataclasses.replace(read, color="red"), *body])
    assert finding.details["organ_mark"] and finding.confidence > 0.9


def test_rule_split_by_a_star_counts(config: ScanConfig) -> None:
    (finding,) = detect(config, render_official_page(1240, star_rule=True).image)
    assert finding.details["rule"] and finding.details["organ_mark"]


def test_a_pale_rule_counts(config: ScanConfig, official: SynthPage) -> None:
    """A thin rule photographed off a monitor or out of focus loses its saturation before the
    organ mark does: it is found in pale red, by the same shape tests."""
    assert official.mark_box and official.rule_y
    image = official.image.copy()
    band = image[official.rule_y - 8 : official.rule_y + 8]
    band[(band[..., 0] > 150) & (band[..., 1] < 100)] = (236, 160, 160)  # saturation 81
    lines = [TextLine(ORGAN, bbox=official.mark_box)]
    (finding,) = detect(config, image, lines)
    assert finding.details["rule"] and finding.confidence >= config.policy.min_confidence
    floor = config.scan.red.min_saturation  # no paler red than the strong mask's
    red = config.scan.red.model_copy(update={"faint_min_saturation": floor})
    strict = config.model_copy(update={"scan": config.scan.model_copy(update={"red": red})})
    assert not any(f.details["rule"] for f in detect(strict, image, lines))


def dotted(image: np.ndarray, rule_y: int, period: int = 30, dot: int = 8) -> np.ndarray:
    """The rule at `rule_y` as a monitor's moiré leaves it: pale dots `period` apart."""
    out = image.copy()
    band = out[rule_y - 8 : rule_y + 8]
    red = (band[..., 0] > 150) & (band[..., 1] < 100)
    columns = np.arange(band.shape[1]) % period >= dot
    band[red & columns[None, :]] = (255, 255, 255)
    band[red & ~columns[None, :]] = (236, 160, 160)
    return out


def test_a_rule_broken_into_dots_by_moire_counts(config: ScanConfig, official: SynthPage) -> None:
    assert official.mark_box and official.rule_y
    lines = [TextLine(ORGAN, bbox=official.mark_box)]
    (finding,) = detect(config, dotted(official.image, official.rule_y), lines)
    assert finding.details["rule"] and finding.details["organ_mark"]


def test_lines_of_text_tinted_red_are_no_rule(config: ScanConfig) -> None:
    """Moiré tints small black text red in pieces; stacked lines of it join into bars along
    their rows, but each has text just above and below it: no rule under a red title."""
    pil = Image.new("RGB", (1240, 1754), (255, 255, 255))
    draw = ImageDraw.Draw(pil)
    draw.text((300, 200), "社区温馨提示", font=font(SANS_BOLD, 96), fill=(220, 30, 30))
    for y in range(400, 1000, 16):  # tinted lines of small text, dots along each
        for x in range(150, 1090, 14):
            draw.rectangle((x, y, x + 6, y + 8), fill=(236, 160, 160))
    assert not any(f.details["rule"] for f in detect(config, np.asarray(pil)))


def test_an_organ_mark_whose_glyphs_run_together_counts(
    config: ScanConfig, official: SynthPage
) -> None:
    """In a small, re-compressed copy a few bold glyphs of the mark touch (管理局): the row is
    still glyphs, not a bar with knocked-out text, while less than half of it is one piece."""
    assert official.mark_box and official.rule_y
    x0, y0, x1, y1 = official.mark_box
    image = official.image.copy()
    run = slice(x0 + (x1 - x0) // 3, x0 + 2 * (x1 - x0) // 3)  # a third of the row
    image[y0:y1, run] = cv2.erode(image[y0:y1, run], np.ones((1, 25), np.uint8))
    (finding,) = detect(config, image, [TextLine(ORGAN, bbox=official.mark_box)])
    assert finding.details["organ_mark"] and finding.details["rule"]


def test_a_seals_text_read_as_red_lines_is_no_red_body(config: ScanConfig) -> None:
    """On a short page OCR reads a seal's arc and the signature under it as two or three red
    lines; they stand on the seal, not in the body, and do not make the page a menu."""
    official = render_official_page(1240, body_lines=3)
    assert official.mark_box and official.seal_box
    x0, y0, x1, _ = official.seal_box
    side = (x1 - x0) // 4
    on_seal = [
        TextLine("县教育", bbox=(x0 + side, y0 + 4, x1 - side, y0 + side)),
        TextLine("白沙县", bbox=(x0 + 4, y0 + side, x0 + 2 * side, y0 + 2 * side)),
        TextLine("教育局", bbox=(x1 - 2 * side, y0 + side, x1 - 4, y0 + 2 * side)),
    ]
    lines = [TextLine(ORGAN, bbox=official.mark_box), *on_seal]
    page = Page(source="photo.jpg", number=1, image=official.image, lines=lines)
    ctx = PageContext(page=page, config=config)
    assert all(ctx.is_red(line) for line in on_seal)
    (finding,) = red_header.detect(ctx)
    assert finding.details["organ_mark"] and finding.details["rule"]


def test_letter_spaced_organ_mark(config: ScanConfig) -> None:
    (finding,) = detect(config, render_official_page(1240, organ="中 共 广 州 市 委 员 会").image)
    assert finding.details["organ_mark"]


def test_top_half_of_a_page(config: ScanConfig) -> None:
    (finding,) = detect(config, render_official_page(1240, top_half=True).image)
    assert finding.details["rule"] and finding.details["organ_mark"]


def test_warm_photo_rectified(config: ScanConfig) -> None:
    synth = render_official_page(1600, body_lines=14)
    photo, _ = photograph(synth.image, (1800, 2400), seed=4, warm=True)
    quad = find_page(photo, config.scan.vision)
    assert quad is not None
    (finding,) = detect(config, straighten(photo, quad, config.scan.vision.page_max_side))
    assert finding.confidence >= 0.8


def test_top_half_photo_without_page_outline(config: ScanConfig) -> None:
    top = render_official_page(1600, top_half=True).image
    photo, _ = photograph(top, (2400, 1800), seed=5, fill=0.95)
    (finding,) = detect(config, downscale(photo, 1600))
    assert finding.details["organ_mark"]


# Negatives.


def test_festive_banner_on_white_is_not_a_header(config: ScanConfig) -> None:
    banner = render_banner()
    assert detect(config, banner) == []
    words = [TextLine("热烈庆祝公司成立二十周年", bbox=(150, 110, 1450, 230))]
    assert detect(config, banner, words) == []


def test_banner_on_red_is_not_a_header(config: ScanConfig) -> None:
    assert detect(config, render_banner(red_background=True)) == []


def test_slide_with_a_red_title_bar_is_not_a_header(config: ScanConfig) -> None:
    assert detect(config, render_slide()) == []


def test_red_welcome_title_with_an_underline_is_not_a_header(config: ScanConfig) -> None:
    slide = render_red_title_slide()
    title = [TextLine("热烈欢迎各位领导莅临指导", bbox=(300, 70, 1300, 150))]
    assert detect(config, slide, title) == []


def test_a_big_bold_glyph_is_not_a_form_frame() -> None:
    """In a close photo of a header, one glyph of the mark (区) is a tenth of the text's
    width: a box with full rows and columns, as a form's frame is, but no larger than the
    line of text it stands in."""
    canvas = Image.new("L", (900, 400), 0)
    draw = ImageDraw.Draw(canvas)
    draw.text((100, 100), "区", font=font(SANS_BOLD, 120), fill=1)
    draw.rectangle((400, 60, 860, 360), outline=1, width=3)  # a frame, with a row line
    draw.line((400, 200, 860, 200), fill=1, width=3)
    mask = np.asarray(canvas, dtype=np.uint8)
    glyph, frame = mask.copy(), mask.copy()
    glyph[:, 380:] = 0
    frame[:, :380] = 0
    line_height = 130
    assert red_header._red_grid(glyph, 0)  # shape alone: a frame
    assert not red_header._red_grid(glyph, line_height)
    assert red_header._red_grid(frame, line_height)


def test_e_invoice_is_not_a_header(config: ScanConfig) -> None:
    assert detect(config, render_invoice()) == []


def test_red_title_naming_no_organ_does_not_count(config: ScanConfig) -> None:
    synth = render_official_page(1240, organ="老北京涮肉美食广场")  # a shop's flyer, same layout
    assert synth.mark_box is not None
    findings = detect(config, synth.image, [TextLine("老北京涮肉美食广场", bbox=synth.mark_box)])
    assert all(f.confidence < config.policy.min_confidence for f in findings)


def test_black_document_is_not_a_header(config: ScanConfig) -> None:
    assert detect(config, render_plain_document()) == []


# Pages without image.


def _styled(*lines: TextLine) -> Page:
    return Page(source="doc.docx", number=1, lines=list(lines))


def test_text_path_red_large_organ_mark(config: ScanConfig) -> None:
    page = _styled(
        TextLine(ORGAN, color="red", size=26),
        TextLine("吉政办发〔2024〕15号", size=16),
        TextLine("关于做好全省防汛抗旱工作的通知", size=22),
    )
    (finding,) = red_header.detect(PageContext(page=page, config=config))
    assert finding.confidence == pytest.approx(0.8)
    assert finding.evidence == ORGAN


@pytest.mark.parametrize(
    "line",
    [
        TextLine("热烈庆祝县人民政府成立七十周年", color="red", size=26),  # festive
        TextLine(ORGAN, size=26),  # not red
        TextLine(ORGAN, color="red", size=12),  # too small
        TextLine("今天天气很好，我们去公园散步吧", color="red", size=26),  # not an organ
        TextLine("内部文件", color="red", size=26),  # a marking in red, not 某某局文件
    ],
)
def test_text_path_negatives(config: ScanConfig, line: TextLine) -> None:
    page = _styled(line, TextLine("正文", size=16))
    assert red_header.detect(PageContext(page=page, config=config)) == []
