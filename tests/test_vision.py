"""Page finding, straightening, orientation and deskew of captures; the red mask.

Photos are synthesised at the extractor's decode size (long side 2400) so that no test pays
for 12-megapixel warps; the one OCR call reads a rectified photo.
"""

from __future__ import annotations

import difflib
import io
import re
import time

import cv2
import numpy as np
import pytest
from PIL import Image
from vision_synth import (
    DOC_NUMBER,
    ORGAN,
    SynthPage,
    photograph,
    render_official_page,
    render_screenshot,
)

from detectors import ScanConfig, Scanner
from detectors.extract import extract_pages
from detectors.extract.base import ExtractContext
from detectors.model import Page, TextLine
from detectors.ocr import create_engine
from detectors.ocr.base import OcrEngine
from detectors.vision.capture import estimate_skew, find_page, prepare_capture, rotate_small
from detectors.vision.color import red_mask, white_balance
from detectors.vision.geometry import order_corners, quarter_turn_map, rotate_quarter
from tests.corpus.capture import fold

PHOTO = (1800, 2400)


@pytest.fixture(scope="module")
def engine(config: ScanConfig) -> OcrEngine:
    return create_engine(config.scan.ocr, "rapidocr")


@pytest.fixture(scope="module")
def official() -> SynthPage:
    return render_official_page(1600, body_lines=14)


@pytest.fixture(scope="module")
def page(official: SynthPage) -> np.ndarray:
    return official.image


# Geometry.


def test_order_corners_whatever_the_input_order() -> None:
    tl, tr, br, bl = (10, 12), (200, 5), (210, 300), (5, 290)
    assert order_corners([br, tl, bl, tr]).tolist() == [list(tl), list(tr), list(br), list(bl)]


def test_rotate_quarter_is_clockwise() -> None:
    image = np.zeros((2, 3, 3), np.uint8)
    image[0, 0] = 255  # top-left
    assert rotate_quarter(image, 90)[0, -1].tolist() == [255] * 3  # now top-right
    assert rotate_quarter(image, 0) is image


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_quarter_turn_map_follows_the_pixels(turn: int) -> None:
    image = np.zeros((4, 7, 3), np.uint8)
    image[1, 5] = 255
    turned = rotate_quarter(image, turn)
    x, y = cv2.transform(np.array([[[5.0, 1.0]]]), quarter_turn_map(turn, 7, 4))[0, 0]
    assert turned[round(y), round(x)].tolist() == [255] * 3


# Page finding.


def test_finds_the_page_in_a_photo(config: ScanConfig, page: np.ndarray) -> None:
    photo, corners = photograph(page, PHOTO, seed=1)
    quad = find_page(photo, config.scan.vision)
    assert quad is not None
    assert np.abs(quad - corners).max() < 0.02 * max(PHOTO)


def test_finds_the_page_of_a_far_shot(config: ScanConfig, page: np.ndarray) -> None:
    """Taken across a desk or a meeting table, the page is an eighth of the photo."""
    photo, corners = photograph(page, PHOTO, seed=3, fill=0.35)
    assert cv2.contourArea(corners.astype(np.float32)) < 0.15 * PHOTO[0] * PHOTO[1]
    quad = find_page(photo, config.scan.vision)
    assert quad is not None
    assert np.abs(quad - corners).max() < 0.02 * max(PHOTO)


def test_photo_sideways_in_warm_light_is_straightened_turned_and_read(
    config: ScanConfig, engine: OcrEngine, page: np.ndarray
) -> None:
    photo, _ = photograph(page, PHOTO, seed=2, warm=True, rotate_k=1)
    capture = prepare_capture(photo, engine, config.scan.vision)
    assert capture.quad is not None
    assert capture.rotation == 90
    h, w = capture.image.shape[:2]
    assert max(h, w) == config.scan.vision.page_max_side and h > w
    texts = ["".join(line.text.split()) for line in engine.read(capture.image)]
    assert ORGAN in texts


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_panel_of_a_folded_page_is_not_taken_for_the_page(
    config: ScanConfig, page: np.ndarray, seed: int
) -> None:
    """A crease is a long straight edge across the page: the panel it cuts off is
    quadrilateral and bright, but paper lies on both sides of it. Whole on the desk, the page
    is found whole; running off the frame, the photo is kept whole, never cut to a panel."""
    rgba = fold(page, np.random.default_rng(seed))
    paper = np.where(rgba[..., 3:] > 0, rgba[..., :3], 255).astype(np.uint8)
    photo, corners = photograph(paper, PHOTO, seed=seed)
    quad = find_page(photo, config.scan.vision)
    assert quad is not None and cv2.contourArea(quad) > 0.75 * cv2.contourArea(corners)
    photo, _ = photograph(paper, PHOTO, seed=seed, fill=1.0, offset=(0.0, 0.2))
    assert find_page(photo, config.scan.vision) is None


def test_a_page_turned_on_the_desk_and_filling_the_frame_is_found(
    config: ScanConfig, engine: OcrEngine, page: np.ndarray
) -> None:
    """Phone photos of a page turned on the desk often cut its corners off at the frame's
    edge; its four sides are still edges against the desk, unlike a page that runs off."""
    photo, corners = photograph(page, PHOTO, seed=4, fill=0.92, turn=22.0)
    assert (
        (corners < 0).any() or (corners[:, 0] > PHOTO[0]).any() or (corners[:, 1] > PHOTO[1]).any()
    )
    capture = prepare_capture(photo, engine, config.scan.vision)
    assert capture.quad is not None and abs(capture.skew) < 2
    texts = ["".join(line.text.split()) for line in engine.read(capture.image)]
    assert ORGAN in texts


def test_without_an_outline_the_text_lines_turn_the_page_level(
    config: ScanConfig, engine: OcrEngine, page: np.ndarray
) -> None:
    """On a white table the page has no edge to find; its lines still say it lies at 28°."""
    photo, _ = photograph(page, PHOTO, seed=5, turn=28.0, desk=(236, 236, 232))
    capture = prepare_capture(photo, engine, config.scan.vision)
    assert capture.quad is None
    assert abs(capture.skew) > config.scan.vision.max_skew_degrees
    assert abs(estimate_skew(capture.image)) < 2
    texts = ["".join(line.text.split()) for line in engine.read(capture.image)]
    assert ORGAN in texts


def test_an_upright_photo_is_read_with_the_boxes_that_told_its_orientation(
    config: ScanConfig, engine: OcrEngine, page: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Orientation and reading share one text detection pass, at the reading's size."""
    sides: list[int] = []
    detect = engine.detect  # type: ignore[attr-defined]

    def counted(image: np.ndarray, side: int) -> object:
        sides.append(side)
        return detect(image, side)

    monkeypatch.setattr(engine, "detect", counted)
    photo, _ = photograph(page, PHOTO, seed=1)
    scanned = Page(source="p.jpg", number=1, image=photo, needs_ocr=True, is_capture=True)
    Scanner(config, engine=engine).read(scanned)
    assert sides == [config.scan.ocr.det_max_side]
    assert ORGAN in ["".join(line.text.split()) for line in scanned.lines]


@pytest.mark.parametrize(("rotate_k", "tilt"), [(1, 0.0), (2, 4.0)])
def test_the_boxes_that_turn_the_page_are_carried_onto_it_and_read(
    config: ScanConfig, engine: OcrEngine, official: SynthPage, rotate_k: int, tilt: float
) -> None:
    """Turned and deskewed with the page, orientation's boxes read it as well as boxes found
    again on the upright page do."""
    photo, _ = photograph(rotate_small(official.image, tilt), PHOTO, seed=1, rotate_k=rotate_k)
    capture = prepare_capture(photo, engine, config.scan.vision)
    assert capture.rotation == 90 * rotate_k and capture.boxes is not None
    assert (abs(capture.skew) >= config.scan.vision.min_skew_degrees) == bool(tilt)
    carried = engine.read(capture.image, capture.boxes)
    assert ORGAN in ["".join(line.text.split()) for line in carried]
    fresh = engine.read(capture.image)
    assert _share_read(official, carried) >= _share_read(official, fresh) - 0.02


def _share_read(page: SynthPage, lines: list[TextLine]) -> float:
    """Share of the page's characters that the reading recovered, in order."""
    truth = "".join("".join(page.lines).split())
    got = "".join("".join(line.text.split()) for line in lines)
    blocks = difflib.SequenceMatcher(None, truth, got, autojunk=False).get_matching_blocks()
    return sum(b.size for b in blocks) / len(truth)


def test_a_12_mp_photo_decoded_at_half_scale_still_reads(
    config: ScanConfig, engine: OcrEngine
) -> None:
    """A 12 MP JPEG comes out of libjpeg's 1/2 scale at `decode_min_side`: its page still
    gets the pixels the OCR needs, down to the small print (the document number)."""
    official = render_official_page(2480, body_lines=14)
    photo, _ = photograph(official.image, (3000, 4000), seed=1)
    out = io.BytesIO()
    Image.fromarray(photo).save(out, "JPEG", quality=90)
    vision = config.scan.vision
    ctx = ExtractContext(
        limits=config.scan.limits,
        decode_max_side=vision.decode_max_side,
        decode_min_side=vision.decode_min_side,
    )
    (decoded,) = extract_pages(out.getvalue(), "photo.jpg", ctx)
    assert decoded.image is not None
    assert decoded.image.shape == (vision.decode_min_side, vision.decode_min_side * 3 // 4, 3)
    Scanner(config, engine=engine).read(decoded)
    texts = ["".join(line.text.split()) for line in decoded.lines]
    assert ORGAN in texts
    # The number's brackets (〔〕) read as any of their look-alikes.
    assert _letters(DOC_NUMBER) in [_letters(text) for text in texts]


def _letters(text: str) -> str:
    return re.sub(r"\W", "", text)


def test_screenshot_passes_through_untouched(config: ScanConfig, engine: OcrEngine) -> None:
    shot = render_screenshot()  # a bordered table on a flat background: not a page
    capture = prepare_capture(shot, engine, config.scan.vision)
    assert capture.quad is None and capture.rotation == 0
    assert capture.image is shot


def test_flat_render_is_not_cropped(config: ScanConfig, page: np.ndarray) -> None:
    assert find_page(page, config.scan.vision) is None


def test_top_of_a_page_running_off_the_frame_is_kept_whole(
    config: ScanConfig, engine: OcrEngine, page: np.ndarray
) -> None:
    photo, _ = photograph(page, (2400, 1800), seed=3, fill=1.1, offset=(0.0, 0.3))
    capture = prepare_capture(photo, engine, config.scan.vision)
    assert capture.quad is None
    assert capture.rotation == 0
    assert capture.image.shape == photo.shape


# Skew.


@pytest.mark.parametrize("degrees", [-6.0, -2.0, 1.5, 4.0])
def test_skew_is_measured(page: np.ndarray, degrees: float) -> None:
    tilted = rotate_small(page, degrees)  # counter-clockwise: lines slope up to the right
    assert estimate_skew(tilted) == pytest.approx(-degrees, abs=0.25)


def test_small_skew_is_left_alone_and_larger_is_corrected(
    config: ScanConfig, engine: OcrEngine, page: np.ndarray
) -> None:
    slight = rotate_small(page, 0.2)
    assert prepare_capture(slight, engine, config.scan.vision).image is slight
    tilted = prepare_capture(rotate_small(page, 3.0), engine, config.scan.vision)
    assert tilted.skew == pytest.approx(-3.0, abs=0.25)
    assert abs(estimate_skew(tilted.image)) < 0.3


# Red.


def _warm(image: np.ndarray) -> np.ndarray:
    """A strong desk-lamp cast: white paper turns orange (255, 199, 158)."""
    cast = image.astype(np.float32) * np.array([1.0, 0.78, 0.62], np.float32)
    return np.clip(cast, 0, 255).astype(np.uint8)


def test_red_mask_finds_the_header_under_warm_light(config: ScanConfig) -> None:
    synth = render_official_page(1240, seal=False)
    assert synth.mark_box is not None
    photo = _warm(synth.image)
    mask = red_mask(photo, config.scan.red)
    x0, y0, x1, y1 = synth.mark_box
    assert mask[y0:y1, x0:x1].mean() > 0.2  # the organ mark is red
    assert mask.mean() < 0.03  # the paper is not
    hsv = cv2.cvtColor(photo, cv2.COLOR_RGB2HSV)
    naive = (hsv[..., 0] <= 12) & (hsv[..., 1] >= 90) & (hsv[..., 2] >= 80)
    assert naive.mean() > 0.5  # without balancing, the whole page looked red


def test_white_balance_does_not_grey_out_a_red_poster() -> None:
    poster = np.zeros((100, 100, 3), np.uint8)
    poster[:] = (200, 20, 25)
    poster[40:60, 20:80] = (255, 220, 60)
    balanced = white_balance(poster, 2.2)
    r, g, b = balanced[5, 5].tolist()
    assert r > 2 * max(g, b)


def test_red_mask_is_cheap(config: ScanConfig) -> None:
    page = _warm(render_official_page(1131).image)  # 1131 x 1600
    red_mask(page, config.scan.red)
    started = time.perf_counter()
    for _ in range(5):
        red_mask(page, config.scan.red)
    assert (time.perf_counter() - started) / 5 < 0.06  # ~10 ms here; slack for shared CI


def test_components_of_an_empty_crop_do_not_crash() -> None:
    """OpenCV's labelling kills the process on an empty array; the wrapper must not."""
    from detectors.vision.geometry import components

    count, labels, stats = components(np.zeros((0, 40), np.uint8))
    assert count == 1 and labels.shape == (0, 40) and stats.shape == (1, 5)
    count, _, stats = components(np.pad(np.ones((3, 5), np.uint8), 2)[1:-1, 1:])
    assert count == 2 and stats[1, 4] == 15
