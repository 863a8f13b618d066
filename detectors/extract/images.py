"""Photos, screenshots and scans: JPEG, PNG, WebP, GIF, BMP, TIFF (every page), HEIC/HEIF.

Each image becomes one page to OCR (a TIFF one page per frame), decoded no larger than
`ctx.decode_max_side` on its long side and turned upright by its EXIF orientation. The pixel
cap is checked on the header before a single pixel is decoded.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from detectors.errors import CorruptFile, LimitExceeded
from detectors.extract.base import BOMB, ExtractContext
from detectors.extract.common import decode_legacy, is_cjk, metadata_page
from detectors.extract.xmp import xmp_values
from detectors.model import Page, RgbImage

# EXIF fields a marking can be typed into (camera apps, Windows Explorer "Properties").
_EXIF_TEXT_TAGS = (0x010E, 0x013B, 0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F)
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
_XP_TAGS = frozenset({0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F})
_MULTI_PAGE_FORMATS = frozenset({"TIFF"})
_SKIPPED_PNG_KEYS = ("raw profile", "xml:com.adobe.xmp", "xmp", "icc")
_MAX_METADATA_CHARS = 2000


def extract_image(data: bytes, name: str, ctx: ExtractContext) -> Iterator[Page]:
    """One page per image (per frame for TIFF), preceded by a metadata page if it has any."""
    with _opened(data, ctx.limits.max_image_pixels) as img:
        check_pixels(img.width, img.height, ctx)
        frames = getattr(img, "n_frames", 1) if img.format in _MULTI_PAGE_FORMATS else 1
        first = _decode_frame(img, 0, ctx) if ctx.take_page() else None
        meta = metadata_page(name, image_metadata(img))
        if meta:
            yield meta
        if first is not None:
            yield _page(name, 1, first)
        for index in range(1, frames):
            if ctx.take_page():
                yield _page(name, index + 1, _decode_frame(img, index, ctx))


def decode_image(data: bytes, ctx: ExtractContext, max_side: int | None = None) -> RgbImage:
    """The first frame of an embedded image (OFD resources), upright, as RGB."""
    with _opened(data, ctx.limits.max_image_pixels) as img:
        return _decode_frame(img, 0, ctx, max_side)


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the header alone, or None when it is no image PIL knows."""
    try:
        with _opened(data, 0) as img:
            return img.size
    except Exception:  # a size probe never fails; extraction reports the damage
        return None


def _page(name: str, number: int, image: RgbImage) -> Page:
    return Page(source=name, number=number, image=image, needs_ocr=True, is_capture=True)


def _register_heif() -> None:
    # Imported here: pillow-heif registers a plugin in PIL's tables; doing it twice is a no-op.
    import pillow_heif

    pillow_heif.register_heif_opener()


def _opened(data: bytes, cap: int) -> Image.Image:
    """The image opened lazily (header only); damage and unknown formats are CorruptFile."""
    if data[4:8] == b"ftyp":
        _register_heif()
    try:
        with _quiet():
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise _bomb_error(exc, cap) from exc
    except UnidentifiedImageError as exc:
        raise CorruptFile("image is damaged or in a format that cannot be read") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise CorruptFile(f"image header is damaged ({exc})") from exc


@contextmanager
def _quiet() -> Iterator[None]:
    """PIL warns about damaged tags (our errors say what matters) and about its own pixel
    cap (we apply ours): keep both out of the logs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _bomb_error(exc: Image.DecompressionBombError, cap: int) -> LimitExceeded:
    # PIL's own cap (a process-wide setting we leave alone) fired before ours could.
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"image of {int(found.group(1)):,} pixels" if found else "image"
    return LimitExceeded(f"decompression bomb: {size} exceeds the {cap:,} pixel cap", BOMB)


def check_pixels(width: int, height: int, ctx: ExtractContext) -> None:
    pixels = width * height
    cap = ctx.limits.max_image_pixels
    if pixels > cap:
        raise LimitExceeded(
            f"decompression bomb: image of {pixels:,} pixels exceeds the {cap:,} pixel cap", BOMB
        )


def _decode_frame(
    img: Image.Image, index: int, ctx: ExtractContext, max_side: int | None = None
) -> RgbImage:
    side = max_side or ctx.decode_max_side
    # A photo may decode smaller than `side`; an embedded image at the size it is painted at.
    least = side if max_side else min(side, ctx.decode_min_side)
    kind = img.format or "image"
    try:
        if index:
            img.seek(index)
        check_pixels(img.width, img.height, ctx)
        if img.format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale, no smaller than `least`: a 12 MP
            # photo loads in 25 ms, against 120 ms decoded whole and shrunk to `side`.
            img.draft("RGB", _fit(img.size, least))
        with _quiet():
            img.load()
            ImageOps.exif_transpose(img, in_place=True)  # a copy of 12 MP costs as much as a turn
    except (LimitExceeded, CorruptFile):
        raise
    except Image.DecompressionBombError as exc:
        raise _bomb_error(exc, ctx.limits.max_image_pixels) from exc
    except EOFError as exc:
        raise CorruptFile(f"{kind} is truncated: frame {index + 1} is missing") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise CorruptFile(f"{kind} is truncated or damaged ({exc})") from exc
    rgb = _to_rgb(img)
    if max(rgb.size) <= side:
        return np.array(rgb, dtype=np.uint8)
    # Shrunk by area averaging: as sharp for OCR as Pillow's bicubic, in a third of its time
    # on a 12 MP photo that libjpeg's 1/2 scale would take below `side`.
    pixels = np.asarray(rgb, dtype=np.uint8)
    small = cv2.resize(pixels, _fit(rgb.size, side), interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.uint8)


def _fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, side / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB on white: transparent screenshots must not turn black text on black."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(img, dtype=np.float32)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low or 1.0))
        img = Image.fromarray(scaled.astype(np.uint8), "L")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


# Metadata


def image_metadata(img: Image.Image) -> list[str]:
    """Values of EXIF text fields, JPEG comments, PNG text chunks and XMP, in that order."""
    values = _exif_values(img)
    applist = getattr(img, "applist", [])
    values += [decode_legacy(body) for marker, body in applist if marker == "COM"]
    values += _png_text_values(img)
    xmp = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp")
    if isinstance(xmp, (bytes, str)):
        values += xmp_values(xmp)
    return [value[:_MAX_METADATA_CHARS] for value in values if value]


def _exif_values(img: Image.Image) -> list[str]:
    try:
        exif = img.getexif()
        values = [_exif_text(tag, exif.get(tag)) for tag in _EXIF_TEXT_TAGS]
        values.append(_user_comment(exif.get_ifd(_EXIF_IFD).get(_USER_COMMENT)))
    except Exception:  # damaged EXIF must not cost us the pixels
        return []
    return [value for value in values if value]


def _exif_text(tag: int, value: object) -> str:
    if value is None:
        return ""
    if tag in _XP_TAGS:
        # Windows "XP" tags: UTF-16LE in a BYTE array (PIL gives bytes or a tuple of ints).
        raw = bytes(value) if isinstance(value, (bytes, tuple, list)) else b""
        return raw.decode("utf-16-le", "replace").rstrip("\x00")
    if isinstance(value, bytes):
        return decode_legacy(value)
    if isinstance(value, str):
        # PIL decodes ASCII fields as Latin-1; Chinese cameras write UTF-8 or GBK into them.
        try:
            return decode_legacy(value.encode("latin-1"))
        except UnicodeEncodeError:
            return value
    return ""


def _user_comment(value: object) -> str:
    """EXIF UserComment: an 8-byte character-code prefix, then the text."""
    if not isinstance(value, bytes) or len(value) <= 8:
        return ""
    code, body = value[:8], value[8:]
    if code.startswith(b"UNICODE"):
        # UCS-2 in the file's byte order, which writers get wrong: take the readable one.
        candidates = [body.decode(enc, "replace") for enc in ("utf-16-le", "utf-16-be")]
        return max(candidates, key=_readability).rstrip("\x00 ")
    return decode_legacy(body).rstrip("\x00 ")


def _readability(text: str) -> int:
    """Printable ASCII and common CJK characters: the right byte order scores higher."""
    return sum(1 for ch in text if (ch.isascii() and ch.isprintable()) or is_cjk(ch))


def _png_text_values(img: Image.Image) -> list[str]:
    """tEXt / zTXt / iTXt values; chunks after the pixels are there once the image is loaded."""
    if img.format != "PNG":
        return []
    return [
        value
        for key, value in img.info.items()
        if isinstance(value, str) and not str(key).lower().startswith(_SKIPPED_PNG_KEYS)
    ]
