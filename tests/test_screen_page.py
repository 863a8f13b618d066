"""The document page inside a screenshot (`detectors.vision.screen`): found as the upright
paper-white rectangle that holds text, judged on its own, its findings placed back on the
screenshot.

Screens are drawn here: a phone's file preview (the page at half the screen's width on grey,
between app bars), the same in dark mode, an OA reading pane; and what is no page inside a
screen: a page filling the screenshot, a small white button, a white box without text."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw
from vision_synth import BLACK, SANS, font, render_official_page

from detectors import ScanConfig, Scanner
from detectors.model import BBox, Finding, Page, TextLine
from detectors.ocr.base import Decided, Lines
from detectors.vision.screen import (
    ScreenPage,
    find_screen_page,
    on_screen,
    page_inside,
    read_alike,
)


def preview(
    ground: tuple[int, int, int], share: float = 0.5, note: str = ""
) -> tuple[np.ndarray, BBox]:
    """A 1080x2340 phone screen: bars at top and bottom, the page `share` of the width wide on
    `ground`, `note` printed under its marking block; the screen and where the page lies."""
    page = Image.fromarray(render_official_page(1240, body_lines=16).image)
    ImageDraw.Draw(page).text((165, 315), note, font=font(SANS, 30), fill=BLACK)
    width = round(1080 * share)
    page = page.resize((width, round(page.height * width / page.width)), Image.LANCZOS)
    screen = Image.new("RGB", (1080, 2340), ground)
    draw = ImageDraw.Draw(screen)
    bar = tuple(min(255, c + 10) for c in ground)
    draw.rectangle((0, 0, 1080, 228), fill=bar)
    draw.text((400, 140), "关于通知.pdf", font=font(SANS, 40), fill=BLACK)
    draw.rectangle((0, 2150, 1080, 2340), fill=bar)
    x, y = (1080 - width) // 2, 380
    screen.paste(page, (x, y))
    return np.asarray(screen).copy(), (x, y, x + page.width, y + page.height)


def lines_in(box: BBox, count: int = 6) -> list[TextLine]:
    x0, y0, x1, y1 = box
    step = (y1 - y0) // (count + 1)
    return [
        TextLine(f"第{i}行", (x0 + 20, y0 + i * step, x1 - 20, y0 + i * step + 12))
        for i in range(1, count + 1)
    ]


def close_to(found: BBox | None, truth: BBox, slack: int = 12) -> bool:
    return found is not None and all(abs(a - b) <= slack for a, b in zip(found, truth, strict=True))


@pytest.mark.parametrize("ground", [(237, 237, 237), (25, 25, 25), (128, 128, 132)])
def test_the_page_of_a_file_preview_is_found(
    config: ScanConfig, ground: tuple[int, int, int]
) -> None:
    screen, truth = preview(ground)
    found = find_screen_page(screen, lines_in(truth), config.scan.vision.screen_page)
    assert close_to(found, truth), (found, truth)


def test_an_off_white_app_ground_is_not_paper(config: ScanConfig) -> None:
    screen, truth = preview((245, 245, 245))  # #f5f5f5, a common light app grey
    found = find_screen_page(screen, lines_in(truth), config.scan.vision.screen_page)
    assert close_to(found, truth), (found, truth)


def oa_pane(gap: int) -> tuple[np.ndarray, BBox]:
    """A 1600x900 OA system: a white tab bar and a white opinions panel beside a grey reading
    pane whose page starts `gap` pixels under the tab bar; the screen and the page's box."""
    screen = Image.new("RGB", (1600, 900), (233, 236, 241))
    draw = ImageDraw.Draw(screen)
    draw.rectangle((220, 66, 1590, 110), fill=(255, 255, 255))  # tab bar
    draw.rectangle((1310, 120, 1590, 890), fill=(255, 255, 255))  # opinions panel
    draw.rectangle((230, 110, 1300, 890), fill=(128, 128, 132))  # reading pane
    page = Image.fromarray(render_official_page(1240, body_lines=16).image)
    page = page.resize((700, round(page.height * 700 / page.width)), Image.LANCZOS)
    x, y = 415, 110 + gap
    screen.paste(page.crop((0, 0, 700, 890 - y)), (x, y))
    return np.asarray(screen).copy(), (x, y, x + 700, 890)


@pytest.mark.parametrize("gap", [12, 30])
def test_the_page_of_an_oa_pane_is_not_merged_with_the_white_bars_around_it(
    config: ScanConfig, gap: int
) -> None:
    screen, truth = oa_pane(gap)
    found = find_screen_page(screen, lines_in(truth), config.scan.vision.screen_page)
    assert close_to(found, truth), (found, truth)


def photographed(screen: np.ndarray) -> np.ndarray:
    """The screen as a phone photo of the monitor shows it: darker, a blue cast, soft, noisy;
    no pixel is at the screen's white any more."""
    light = screen.astype(np.float32) * np.array([0.78, 0.82, 0.9], np.float32)
    light = cv2.GaussianBlur(light, (0, 0), 1.2)
    light += np.random.default_rng(5).normal(0, 4, light.shape[:2])[..., None]
    return np.asarray(light.clip(0, 255), dtype=np.uint8)


def test_the_page_of_a_photographed_oa_pane_is_found(config: ScanConfig) -> None:
    screen, truth = oa_pane(30)
    found = find_screen_page(photographed(screen), lines_in(truth), config.scan.vision.screen_page)
    assert close_to(found, truth), (found, truth)


def test_a_page_filling_the_screenshot_is_the_page_itself(config: ScanConfig) -> None:
    page = render_official_page(1240, body_lines=16).image
    height, width = page.shape[:2]
    lines = lines_in((0, 0, width, height))
    assert find_screen_page(page, lines, config.scan.vision.screen_page) is None


def test_white_boxes_without_text_or_too_small_are_no_page(config: ScanConfig) -> None:
    screen, _ = preview((237, 237, 237))
    settings = config.scan.vision.screen_page
    assert find_screen_page(screen, [], settings) is None  # no text inside
    button = Image.new("RGB", (1080, 2340), (237, 237, 237))
    ImageDraw.Draw(button).rectangle((100, 1000, 300, 1100), fill=(255, 255, 255))
    small = np.asarray(button).copy()
    assert find_screen_page(small, lines_in((100, 1000, 300, 1100)), settings) is None


def test_a_page_inside_is_read_again_and_findings_go_back_to_the_screen() -> None:
    screen = np.zeros((100, 200, 3), np.uint8)
    screen[20:90, 50:150] = 255
    page = Page("s.png", 1, [TextLine("群聊", (5, 5, 30, 15))], screen, is_capture=True)
    part = page_inside(page, (50, 20, 150, 90))
    assert part.image is not None and part.image.shape[:2] == (70, 100)
    assert bool((part.image == 255).all())
    assert part.lines == [] and part.needs_ocr and not part.is_capture
    finding = Finding("classification_marking", "机密", 0.9, 1, "机密", bbox=(10, 10, 40, 20))
    assert on_screen(finding, (50, 20, 150, 90)).bbox == (60, 30, 90, 40)


def test_a_page_inside_as_high_and_as_large_as_the_picture_reads_alike() -> None:
    """OCR scales a picture by its long side and reads its top and bottom bands first: a page
    inside that spans the picture's height and keeps its long side would read the same."""
    page = Page("scan.png", 1, image=np.full((1400, 1000, 3), 255, np.uint8), is_capture=True)
    assert read_alike(page, (250, 0, 1000, 1400))
    assert not read_alike(page, (250, 100, 1000, 1400))  # its own top band
    wide = Page("wide.png", 1, image=np.full((1000, 1400, 3), 255, np.uint8), is_capture=True)
    assert not read_alike(wide, (100, 0, 1100, 1000))  # read at a larger scale


class _NoOcr:
    """An engine that must not be asked to read."""

    name = "none"

    def read(self, *_: object) -> list[TextLine]:
        raise AssertionError("the page was read again")


def test_a_scanned_page_with_a_dark_margin_is_not_read_twice(config: ScanConfig) -> None:
    """A scan with a dark strip down one side shows a paper-white rectangle as high as the
    picture: its lines are the picture's own, taken into the page's pixels, not read again."""
    image = np.full((1400, 1000, 3), 255, np.uint8)
    image[:, :250] = 90  # the scanner lid's shadow along the binding
    lines = [TextLine("左边", (20, 100, 200, 130)), *lines_in((250, 0, 1000, 1400))]
    page = Page("scan.png", 1, lines, image, needs_ocr=True, is_capture=True)
    screen = Scanner(config, engine=_NoOcr()).read_screen_page(page)  # type: ignore[arg-type]
    assert screen is not None and close_to(screen.box, (250, 0, 1000, 1400), slack=6)
    x0, y0 = screen.box[:2]
    boxes = [line.bbox for line in lines[1:] if line.bbox is not None]
    shifted = [(b[0] - x0, b[1] - y0, b[2] - x0, b[3] - y0) for b in boxes]
    assert [line.bbox for line in screen.page.lines] == shifted
    assert [line.text for line in screen.page.lines] == [line.text for line in lines[1:]]


def test_the_small_print_of_a_page_in_a_file_preview_is_read(config: ScanConfig) -> None:
    """At 40% of the screen's width a page's 注意保存 is 10 px high, too small for text
    detection at the screenshot's scale: the page inside is read again at its own."""
    screen, truth = preview((237, 237, 237), share=0.4, note="内部  注意保存")
    out = io.BytesIO()
    Image.fromarray(screen).save(out, format="PNG")
    report = Scanner(config).scan(out.getvalue(), "preview.png")
    found = {f.label: f for f in report.findings if f.detector == "handling_marking"}
    assert set(found) == {"内部", "注意保存"}
    for finding in found.values():
        assert finding.confidence >= config.policy.min_confidence and finding.bbox is not None
        x0, y0, x1, y1 = finding.bbox
        assert truth[0] <= x0 < x1 <= truth[2] and truth[1] <= y0 < y1 <= truth[3]


def read_oa_pane(config: ScanConfig) -> tuple[Scanner, Page, ScreenPage, list[TextLine]]:
    """The OA pane read as a screenshot: the scanner, the screen, the page inside it, and
    the lines that the page inside recognised itself."""
    screen, truth = oa_pane(30)
    scanner = Scanner(config)
    engine = scanner.engine
    recognised: list[list[TextLine]] = []
    read = engine.read

    def keeping_read(
        image: np.ndarray, boxes: Lines = None, decided: Decided | None = None
    ) -> list[TextLine]:
        lines = read(image, boxes, decided)
        recognised.append(lines)
        return lines

    engine.read = keeping_read  # type: ignore[method-assign]
    page = Page(source="oa.png", number=1, image=screen, needs_ocr=True, is_capture=True)
    scanner.read(page)
    found = scanner.read_screen_page(page)
    assert found is not None and close_to(found.box, truth)
    _, anew = recognised
    return scanner, page, found, anew


def test_the_page_inside_recognises_only_the_lines_the_screen_did_not_read(
    config: ScanConfig,
) -> None:
    """Recognition reads the same pixels at the same size on the screen and on the page inside
    it; only detection differs. So the second reading recognises the lines its finer detection
    found anew and takes the rest from the screen's reading: the same text, fewer lines
    recognised."""
    # The pane shows a marking: read its body whole, so that two readings compare line by line.
    ocr = config.scan.ocr.model_copy(update={"decided_body_chars": config.scan.ocr.rec_char_budget})
    config = config.model_copy(update={"scan": config.scan.model_copy(update={"ocr": ocr})})
    scanner, page, found, anew = read_oa_pane(config)
    taken = len(found.page.lines) - len(anew)
    assert taken > len(anew)  # most lines were read on the screen already
    fresh = page_inside(page, found.box)
    scanner.read(fresh)  # the page inside read whole, as before
    assert [ln.text for ln in found.page.lines] == [ln.text for ln in fresh.lines]


def test_the_top_of_a_page_low_on_the_screen_is_read_at_full_size(config: ScanConfig) -> None:
    """The screen's reading narrows every line below its own top band, where an OA pane's
    page has its organ mark: the page inside reads the lines of its own top band again, at
    full size, as it reads a page of its own; lines the screen read whole are taken."""
    _, page, found, anew = read_oa_pane(config)
    ratio = config.scan.ocr.priority_top_ratio
    inside_top = [
        ln for ln in found.page.lines if ln.bbox and ln.bbox[3] <= ratio * found.page.height
    ]
    narrowed = [
        ln for ln in inside_top if ln.bbox and ln.bbox[1] + found.box[1] > ratio * page.height
    ]
    assert narrowed and all(any(ln is new for new in anew) for ln in narrowed)
    assert len(anew) < len(found.page.lines)  # the body is still taken from the screen


def test_the_surer_reading_of_screen_and_page_is_kept(config: ScanConfig) -> None:
    """内部 mid-screenshot is a word in passing (0.45); at the top of the page inside it is a
    marking. The page's reading wins, placed on the screen; the screen's own findings stay."""
    screen = np.full((2340, 1080, 3), 237, np.uint8)
    box = (270, 380, 810, 1144)
    text = [TextLine(f"正文第{i}行", (300, 500 + 60 * i, 780, 530 + 60 * i)) for i in range(8)]
    word = TextLine("内部", (600, 1000, 660, 1030))
    whole = Page("s.png", 1, [*text, word], screen, is_capture=True)
    inside = Page("s.png", 1, [TextLine("内部", (30, 40, 90, 70))], screen[380:1144, 270:810])
    scanner = Scanner(config)
    alone = scanner.detect_page(whole)
    [passing] = [f for f in alone if f.detector == "handling_marking"]
    assert passing.confidence < config.policy.min_confidence
    merged = scanner.detect_page(whole, screen=ScreenPage(box, inside))
    [marking] = [f for f in merged if f.detector == "handling_marking"]
    assert marking.confidence >= config.policy.min_confidence
    assert marking.bbox == (300, 420, 360, 450)


def test_the_red_header_of_a_page_in_a_file_preview_is_seen(config: ScanConfig) -> None:
    """End to end, with OCR: the header is judged on the page, not on the phone's screen."""
    screen, truth = preview((237, 237, 237), share=0.65)
    out = io.BytesIO()
    Image.fromarray(screen).save(out, format="PNG")
    report = Scanner(config).scan(out.getvalue(), "preview.png")
    [header] = [f for f in report.findings if f.detector == "red_header"]
    assert header.bbox is not None
    x0, y0, x1, y1 = header.bbox
    assert truth[0] <= x0 < x1 <= truth[2] and truth[1] <= y0 < y1 <= truth[3]
