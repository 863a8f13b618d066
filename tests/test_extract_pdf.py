"""PDF: text layer with layout and colour, rendering, scans, metadata, passwords, page cap."""

from __future__ import annotations

import io
import time

import numpy as np
import pymupdf
import pytest
from PIL import Image
from test_extract_builders import content_pages, metadata_lines, run

from detectors.errors import CorruptFile, EncryptedContent


def official_pdf() -> bytes:
    doc = pymupdf.open()
    page = doc.new_page()  # A4: 595 x 842 pt
    page.insert_text((72, 100), "Municipal Government Document", fontsize=24, color=(0.9, 0, 0))
    page.draw_line((72, 120), (523, 120), color=(0.9, 0, 0), width=2)
    page.insert_text((72, 160), "Body text of the notice, in black.", fontsize=12)
    second = doc.new_page()
    second.insert_text((72, 100), "Second page with enough text to read.", fontsize=12)
    doc.set_metadata({"title": "Notice", "subject": "机密", "keywords": "内部资料"})
    return doc.tobytes()


def test_text_lines_with_colour_size_and_pixel_boxes() -> None:
    pages, _ = run(official_pdf(), "notice.pdf")
    first, second = content_pages(pages)
    assert (first.number, second.number) == (1, 2)
    assert first.image is not None and first.image.shape[2] == 3
    assert max(first.image.shape[:2]) <= 1600
    head, body = first.lines
    assert head.text == "Municipal Government Document"
    assert (head.color, head.size) == ("red", 24.0)
    assert (body.color, body.size) == (None, 12.0)
    assert not first.needs_ocr and not first.is_capture
    # The box is in pixels of the rendered image: the red text is there.
    assert head.bbox is not None
    x0, y0, x1, y1 = head.bbox
    scale = first.image.shape[1] / 595
    assert abs(x0 - 72 * scale) < 5 and 0 < y0 < y1 < 110 * scale
    crop = first.image[y0:y1, x0:x1]
    assert ((crop[..., 0] > 150) & (crop[..., 1] < 90)).any()


def test_rule_is_rendered_in_red() -> None:
    pages, _ = run(official_pdf(), "notice.pdf")
    image = content_pages(pages)[0].image
    assert image is not None
    scale = image.shape[1] / 595
    row = image[round(120 * scale), round(100 * scale) : round(500 * scale)]
    assert ((row[:, 0] > 150) & (row[:, 1] < 90)).mean() > 0.9


def test_metadata_subject_and_custom_info() -> None:
    doc = pymupdf.open(stream=official_pdf(), filetype="pdf")
    info = int(doc.xref_get_key(-1, "Info")[1].split()[0])
    doc.xref_set_key(info, "SecurityLevel", pymupdf.get_pdf_str("绝密"))
    pages, _ = run(doc.tobytes(), "notice.pdf")
    assert metadata_lines(pages) == ["Notice", "机密", "内部资料", "绝密"]
    assert pages[0].is_metadata and pages[0].number == 0


def test_rotated_page_boxes_follow_the_rendering() -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 100), "Rotated page text that is long enough", fontsize=14)
    page.set_rotation(90)
    pages, _ = run(doc.tobytes(), "rot.pdf")
    (only,) = content_pages(pages)
    assert only.image is not None and only.image.shape[1] > only.image.shape[0]
    (line,) = only.lines
    assert line.bbox is not None
    x0, y0, x1, y1 = line.bbox
    assert 0 <= x0 < x1 <= only.width and 0 <= y0 < y1 <= only.height
    assert y1 - y0 > x1 - x0, "text runs down the page once it is turned"


def test_scanned_page_needs_ocr_and_may_be_a_capture() -> None:
    photo = io.BytesIO()
    Image.effect_noise((800, 1100), 50).convert("RGB").save(photo, "JPEG")
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_image(page.rect, stream=photo.getvalue())
    pages, _ = run(doc.tobytes(), "scan.pdf")
    (scan,) = content_pages(pages)
    assert scan.needs_ocr and scan.is_capture and scan.lines == []
    assert scan.image is not None and max(scan.image.shape[:2]) == 2339  # ~200 dpi for OCR


def test_blank_page_needs_ocr_but_is_no_capture() -> None:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "p. 1", fontsize=10)
    pages, _ = run(doc.tobytes(), "blank.pdf")
    (page,) = content_pages(pages)
    assert page.needs_ocr and not page.is_capture


def test_password_protected_pdf() -> None:
    out = io.BytesIO()
    pymupdf.open(stream=official_pdf(), filetype="pdf").save(
        out, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="owner"
    )
    with pytest.raises(EncryptedContent, match="password"):
        run(out.getvalue(), "locked.pdf")


def test_truncated_pdf() -> None:
    data = official_pdf()
    with pytest.raises(CorruptFile, match="PDF"):
        run(data[:200], "cut.pdf")
    # Cut later, MuPDF repairs what it can; whatever comes out is a page or a clean error.
    try:
        pages, _ = run(data[: len(data) * 2 // 3], "cut.pdf")
    except CorruptFile:
        return
    assert all(page.image is not None or page.is_metadata for page in pages)


def test_five_thousand_pages_are_capped_and_counted_fast() -> None:
    doc = pymupdf.open()
    for _ in range(5000):
        doc.new_page(width=200, height=300)
    data = doc.tobytes()
    started = time.perf_counter()
    pages, ctx = run(data, "huge.pdf", max_pages=20)
    elapsed = time.perf_counter() - started
    assert len(content_pages(pages)) == 20
    assert (ctx.tally.pages_emitted, ctx.tally.pages_skipped) == (20, 4980)
    assert elapsed < 10
    assert all(isinstance(p.image, np.ndarray) for p in pages)
