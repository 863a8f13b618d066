"""Dispatch by content, and the inputs every reader must refuse cleanly."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image
from test_extract_builders import context, run, zip_bytes

from detectors.errors import CorruptFile, LimitExceeded, UnsupportedFormat
from detectors.extract import extract_pages, media_kind, sniff


def png_bytes(size: tuple[int, int] = (320, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (240, 240, 240)).save(out, "PNG")
    return out.getvalue()


def docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("机密★1年")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\xff\xd8\xff\xe0" + b"\0" * 20, "jpeg"),
        (b"GIF89a" + b"\0" * 20, "gif"),
        (b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 20, "webp"),
        (b"II*\x00" + b"\0" * 20, "tiff"),
        (b"\0\0\0\x18ftypheic" + b"\0" * 20, "heic"),
        (b"BM" + b"\0" * 12 + (40).to_bytes(4, "little") + b"\0" * 20, "bmp"),
        (b"junk\n%PDF-1.7\n", "pdf"),
        (b"7z\xbc\xaf\x27\x1c" + b"\0" * 20, "7z"),
        (b"Rar!\x1a\x07\x01\x00" + b"\0" * 20, "rar"),
        ("纯文本，没有扩展名".encode(), "text"),
    ],
)
def test_sniff_by_magic(head: bytes, kind: str) -> None:
    assert sniff(head, "whatever.bin") == kind


def test_wrong_extensions_are_ignored() -> None:
    assert media_kind(png_bytes(), "scan.pdf") == "png"
    assert media_kind(docx_bytes(), "photo.jpg") == "docx"
    assert media_kind(zip_bytes([("a.txt", b"x")]), "report.docx") == "zip"
    pages, _ = run(png_bytes(), "scan.pdf")
    assert pages[0].image is not None and pages[0].needs_ocr


def test_truncated_docx_is_still_recognised_and_refused() -> None:
    data = docx_bytes()
    truncated = data[: len(data) // 2]
    assert media_kind(truncated, "x.bin") == "docx"
    with pytest.raises(CorruptFile, match="truncated or damaged"):
        run(truncated, "x.docx")


def test_empty_file() -> None:
    assert media_kind(b"", "a.txt") == "empty"
    with pytest.raises(CorruptFile, match="empty file"):
        extract_pages(b"", "a.txt", context())


def test_size_cap_is_checked_before_parsing() -> None:
    data = b"%PDF-1.7\n" + b"\0" * 5000
    with pytest.raises(LimitExceeded, match="file of 5,009 bytes exceeds the 4,096 byte cap"):
        extract_pages(data, "big.pdf", context(max_file_bytes=4096))  # raised at the call


@pytest.mark.parametrize("name", ["random.bin", "random.txt", "random.jpg"])
def test_random_bytes_are_unsupported(name: str) -> None:
    data = os.urandom(4096)
    assert media_kind(data, name) == "unknown"
    with pytest.raises(UnsupportedFormat, match="unknown binary format"):
        run(data, name)


def test_control_heavy_text_named_txt_is_not_text() -> None:
    data = b"abc\x01\x02\x03\x04\x05def" * 50
    assert media_kind(data, "notes.txt") == "unknown"


def test_latin1_named_txt_is_text_with_a_clear_error() -> None:
    data = "caf\xe9 ".encode("latin-1") * 10 + b"\xff\xfe\xfd"
    assert media_kind(data, "notes.txt") == "text"
    with pytest.raises(CorruptFile, match="neither UTF-8 nor GB18030"):
        run(data, "notes.txt")
