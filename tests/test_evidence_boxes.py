"""Evidence pictures: boxes in the same place are drawn apart, each outline and number visible."""

from __future__ import annotations

import io

from PIL import Image

from bot.web.evidence import BOX_COLOURS, EvidenceView, _draw_boxes

MARKING = BOX_COLOURS["classification_marking"]
HEADER = BOX_COLOURS["document_header"]


def finding(detector: str, bbox: list[int]) -> dict[str, object]:
    return {"detector": detector, "label": "x", "page": 1, "bbox": bbox, "member": None}


def colours(png: bytes) -> dict[tuple[int, int, int], int]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    counts: dict[tuple[int, int, int], int] = {}
    for pixel in image.getdata():
        counts[pixel] = counts.get(pixel, 0) + 1
    return counts


def test_a_marking_under_the_marking_line_box_is_still_seen() -> None:
    page = Image.new("RGB", (800, 1000), "white")
    same = [100, 200, 400, 240]
    # The header's part first, as the scanner lists it: it must not hide the marking.
    findings = [finding("document_header", same), finding("classification_marking", same)]
    found = colours(_draw_boxes(page, EvidenceView(None, 1), findings))
    line = 2
    box_pixels = 2 * (300 + 40) * line  # at least one outline's worth of each colour
    assert found.get(MARKING, 0) > box_pixels
    assert found.get(HEADER, 0) > box_pixels


def test_apart_boxes_keep_their_place() -> None:
    page = Image.new("RGB", (800, 1000), "white")
    findings = [
        finding("classification_marking", [100, 100, 300, 140]),
        finding("document_header", [100, 600, 300, 640]),
    ]
    image = Image.open(io.BytesIO(_draw_boxes(page, EvidenceView(None, 1), findings)))
    line = 2
    assert image.convert("RGB").getpixel((100 - line, 120)) == MARKING
    assert image.convert("RGB").getpixel((100 - line, 620)) == HEADER
