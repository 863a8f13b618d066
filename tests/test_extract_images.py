"""Images: decoding, orientation, downscaling, metadata, multi-page TIFF, HEIC, bombs."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from test_extract_builders import LIMITS, content_pages, metadata_lines, run

from detectors.errors import CorruptFile, LimitExceeded
from detectors.extract import ExtractContext, extract_pages


def halves(size: tuple[int, int] = (400, 200)) -> Image.Image:
    """Left half red, right half blue: shows which way an image was turned."""
    image = Image.new("RGB", size, (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    return image


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP"])
def test_formats_decode_to_one_rgb_capture_page(fmt: str) -> None:
    pages, ctx = run(encode(halves(), fmt), f"photo.{fmt.lower()}")
    (page,) = pages
    assert page.image is not None and page.image.dtype == np.uint8
    assert page.image.shape == (200, 400, 3)
    assert (page.needs_ocr, page.is_capture, page.number, page.source) == (
        True,
        True,
        1,
        f"photo.{fmt.lower()}",
    )
    assert ctx.tally.pages_emitted == 1


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: turn 90° clockwise to view
    pages, _ = run(encode(halves(), "JPEG", exif=exif, quality=95), "phone.jpg")
    image = pages[0].image
    assert image is not None and image.shape == (400, 200, 3)
    top, bottom = image[20, 100], image[380, 100]
    assert top[0] > 200 and top[2] < 60, "the left (red) half is on top after turning"
    assert bottom[2] > 200 and bottom[0] < 60


def test_large_jpeg_is_decoded_small() -> None:
    data = encode(halves((4000, 3000)), "JPEG", quality=80)
    pages, _ = run(data, "big.jpg", decode_max_side=1000)
    image = pages[0].image
    assert image is not None and max(image.shape[:2]) == 1000
    assert image.shape[:2] == (750, 1000)


def test_large_jpeg_may_decode_at_a_scale_down_to_the_least_side() -> None:
    """libjpeg's 1/2 scale lands within [decode_min_side, decode_max_side]: no shrink after."""
    ctx = ExtractContext(LIMITS, decode_max_side=2400, decode_min_side=2000)
    jpeg = encode(halves((4000, 3000)), "JPEG", quality=80)
    assert _sizes(jpeg, "big.jpg", ctx) == [(1500, 2000)]
    # A PNG has no scaled decode: decoded whole, it is shrunk to the long side.
    png = encode(halves((4000, 3000)), "PNG")
    assert _sizes(png, "big.png", ctx) == [(1800, 2400)]


def _sizes(data: bytes, name: str, ctx: ExtractContext) -> list[tuple[int, ...]]:
    return [p.image.shape[:2] for p in extract_pages(data, name, ctx) if p.image is not None]


def test_large_png_is_downscaled_to_the_long_side() -> None:
    pages, _ = run(encode(halves((3000, 1000)), "PNG"), "wide.png", decode_max_side=1200)
    assert pages[0].image is not None and pages[0].image.shape[:2] == (400, 1200)


def test_transparent_png_is_flattened_on_white() -> None:
    image = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    image.paste((0, 0, 0, 255), (0, 0, 100, 100))
    pages, _ = run(encode(image, "PNG"), "shot.png")
    rgb = pages[0].image
    assert rgb is not None
    assert tuple(rgb[50, 150]) == (255, 255, 255) and tuple(rgb[50, 50]) == (0, 0, 0)


def test_jpeg_comment_and_exif_text_fields_make_a_metadata_page() -> None:
    exif = Image.Exif()
    exif[0x010E] = "机密★1年".encode()  # ImageDescription, UTF-8 as Chinese phones write it
    exif[0x9C9B] = "内部资料".encode("utf-16-le") + b"\0\0"  # XPTitle
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + "不得外传".encode("utf-16-le")  # UserComment
    data = encode(halves(), "JPEG", exif=exif, comment="工作秘密".encode())
    pages, _ = run(data, "photo.jpg")
    meta = [page for page in pages if page.is_metadata]
    assert len(meta) == 1 and meta[0].number == 0 and meta[0].image is None
    assert metadata_lines(pages) == ["机密★1年", "内部资料", "不得外传", "工作秘密"]


def test_png_text_chunks_are_metadata_even_after_the_pixels() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("Title", "秘密")
    data = encode(halves(), "PNG", pnginfo=info)
    chunk = b"tEXt" + b"Comment\0late note"
    tail = struct.pack(">I", len(chunk) - 4) + chunk + struct.pack(">I", zlib.crc32(chunk))
    end = data.rindex(b"IEND") - 4
    pages, _ = run(data[:end] + tail + data[end:], "x.png")
    assert metadata_lines(pages) == ["秘密", "late note"]


def test_no_metadata_page_without_values() -> None:
    pages, _ = run(encode(halves(), "PNG"), "plain.png")
    assert not any(page.is_metadata for page in pages)


def test_tiff_yields_every_page() -> None:
    frames = [Image.new("RGB", (300, 200), color) for color in ("red", "green", "blue")]
    data = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    pages, ctx = run(data, "fax.tif")
    assert [page.number for page in pages] == [1, 2, 3]
    assert [tuple(page.image[10, 10]) for page in pages if page.image is not None] == [
        (255, 0, 0),
        (0, 128, 0),
        (0, 0, 255),
    ]
    assert ctx.tally.pages_emitted == 3


def test_tiff_pages_past_the_cap_are_counted_not_decoded() -> None:
    frames = [Image.new("L", (100, 100), shade) for shade in range(0, 250, 50)]
    data = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    pages, ctx = run(data, "long.tif", max_pages=2)
    assert len(content_pages(pages)) == 2
    assert ctx.tally.pages_skipped == 3


def test_heic_decodes() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    data = encode(halves((320, 200)), "HEIF", quality=90)
    pages, _ = run(data, "IMG_0001.HEIC")
    image = pages[0].image
    assert image is not None and image.shape == (200, 320, 3)
    assert image[100, 40, 0] > 180 and image[100, 280, 2] > 180


def test_gif_first_frame_only() -> None:
    frames = [Image.new("RGB", (120, 80), color) for color in ("red", "blue")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    pages, _ = run(data, "anim.gif")
    assert len(pages) == 1


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image_is_corrupt(fmt: str) -> None:
    data = encode(Image.effect_noise((600, 400), 60).convert("RGB"), fmt)
    with pytest.raises(CorruptFile, match="truncated or damaged"):
        run(data[: len(data) // 2], f"cut.{fmt.lower()}")


def test_decompression_bomb_png_is_refused_before_decoding() -> None:
    # 30000 x 30000 1-bit PNG: about 100 KB on disk, 900 million pixels.
    width = height = 30000
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\0" * (1 + width // 8)
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
    png += chunk(b"IEND", b"")
    with pytest.raises(LimitExceeded, match=r"900,000,000 pixels exceeds the 60,000,000 pixel"):
        run(png, "bomb.png")


def test_pixel_cap_below_pils_own() -> None:
    data = encode(Image.new("1", (5000, 4000)), "PNG")
    with pytest.raises(LimitExceeded, match="image of 20,000,000 pixels exceeds the 1,000,000"):
        run(data, "big.png", max_image_pixels=1_000_000)
