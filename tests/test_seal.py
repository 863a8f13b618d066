"""The seal detector: round and oval red stamps, and red shapes that are not stamps."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from vision_synth import draw_seal, photograph, render_banner, render_invoice, render_official_page

from detectors import Page, ScanConfig
from detectors.context import PageContext
from detectors.model import Finding
from detectors.rules import seal
from detectors.vision.capture import find_page, straighten

RED = (220, 25, 35)


def detect(config: ScanConfig, image: np.ndarray) -> list[Finding]:
    page = Page(source="photo.jpg", number=1, image=image)
    return seal.detect(PageContext(page=page, config=config))


def blank(width: int = 1240, height: int = 1754) -> np.ndarray:
    return np.full((height, width, 3), 255, np.uint8)


def test_round_seal_with_star_and_arc_text(config: ScanConfig) -> None:
    synth = render_official_page(1240)
    findings = detect(config, synth.image)
    assert [f.label for f in findings] == ["round_seal"]
    assert synth.seal_box is not None and findings[0].bbox is not None
    assert np.abs(np.subtract(findings[0].bbox, synth.seal_box)).max() <= 6
    assert findings[0].confidence >= 0.9


def test_seal_on_a_warm_photo(config: ScanConfig) -> None:
    synth = render_official_page(1600, body_lines=14)
    photo, _ = photograph(synth.image, (1800, 2400), seed=6, warm=True)
    quad = find_page(photo, config.scan.vision)
    assert quad is not None
    page = straighten(photo, quad, config.scan.vision.page_max_side)
    assert [f.label for f in detect(config, page)] == ["round_seal"]


def test_oval_invoice_seal_is_reported_as_oval(config: ScanConfig) -> None:
    assert [f.label for f in detect(config, render_invoice())] == ["oval_seal"]


def test_seal_touching_a_red_frame(config: ScanConfig) -> None:
    image = blank(1600, 1131)
    cv2.rectangle(image, (30, 30), (1570, 1100), RED, 6)  # a certificate's border
    cv2.rectangle(image, (50, 50), (1550, 1080), RED, 2)
    draw_seal(image, (1100, 960), 120, "某某集团有限公司")  # its ring crosses the inner line
    assert [f.label for f in detect(config, image)] == ["round_seal"]


def test_seal_with_a_broken_ring(config: ScanConfig) -> None:
    image = blank()
    draw_seal(image, (600, 900), 130, "某某县人民政府")
    for angle in range(0, 360, 60):  # faded ink: six gaps in the ring, wider than a stroke
        gap = np.deg2rad(angle)
        x, y = 600 + 130 * np.cos(gap), 900 + 130 * np.sin(gap)
        cv2.circle(image, (round(x), round(y)), 22, (255, 255, 255), -1)
    assert [f.label for f in detect(config, image)] == ["round_seal"]


def test_faded_pink_seal(config: ScanConfig) -> None:
    image = blank()
    draw_seal(image, (600, 900), 130, "某某县人民政府", strength=0.3)
    assert [f.label for f in detect(config, image)] == ["round_seal"]


def test_organ_mark_glyphs_are_not_seals(config: ScanConfig) -> None:
    top = render_official_page(1240, top_half=True).image  # big red glyphs, short page
    assert detect(config, top) == []
    assert detect(config, render_banner()) == []


@pytest.mark.parametrize("filled", [False, True])
def test_red_rectangle_is_not_a_seal(config: ScanConfig, filled: bool) -> None:
    image = blank()
    cv2.rectangle(image, (400, 600), (650, 850), RED, -1 if filled else 8)
    assert detect(config, image) == []


def test_red_disc_is_not_a_seal(config: ScanConfig) -> None:
    image = blank()
    cv2.circle(image, (600, 800), 120, RED, -1)
    assert detect(config, image) == []


def test_hairline_red_circle_is_not_a_seal(config: ScanConfig) -> None:
    image = blank()
    cv2.circle(image, (600, 800), 120, RED, 1)
    assert detect(config, image) == []


def test_tiny_and_huge_seals_are_out_of_range(config: ScanConfig) -> None:
    image = blank()
    draw_seal(image, (300, 300), 30, "某某公司")  # 60 px: under 8 % of the short side
    draw_seal(image, (620, 1000), 400, "某某公司")  # 800 px: over 40 %
    assert detect(config, image) == []


def red_everywhere(seed: int = 3) -> np.ndarray:
    """A page whose every line of text is tinted red, as a monitor's moiré tints them: short
    red strokes all over."""
    image = blank()
    rng = np.random.default_rng(seed)
    for y in range(120, 1700, 40):
        for x in range(100, 1140, 26):
            if rng.random() < 0.8:
                x1, y1 = x + int(rng.integers(6, 22)), y + int(rng.integers(-4, 18))
                cv2.line(image, (x, y), (x1, y1), RED, 3)
    return image


def test_a_page_red_all_over_holds_no_circle_and_its_whole_seal_is_found(
    config: ScanConfig,
) -> None:
    assert detect(config, red_everywhere()) == []
    image = red_everywhere()
    cv2.circle(image, (600, 900), 150, (255, 255, 255), -1)
    draw_seal(image, (600, 900), 130, "某某县人民政府")
    assert [f.label for f in detect(config, image)] == ["round_seal"]
