"""Perceptual hashes of a page image and of regions of it.

The page is first cut to its ink (margins, desk and screen bezel around the page differ
from capture to capture), then hashed whole ("page"), without the top header band that all
documents of an organ share ("body"), and by halves ("top", "bottom"), so that a photo of
half a page can meet the registered page's half.
"""

from __future__ import annotations

import cv2
import imagehash
import numpy as np
import numpy.typing as npt
from PIL import Image

from detectors.config import ImageFingerprintSettings
from detectors.model import RgbImage

REGIONS = ("page", "body", "top", "bottom")
_WORK_SIDE = 512
"""Hashes look at 32 x 32 pixels at most: the page is shrunk to this first."""
_INK_SHARE = 0.003
"""A row or column with less ink than this share of its length is margin."""
_PAPER_PERCENTILE = 90

Gray = npt.NDArray[np.uint8]


def image_hashes(image: RgbImage, settings: ImageFingerprintSettings) -> dict[str, int]:
    """Region name -> 64-bit hash; regions smaller than `settings.min_side` are left out.
    A page without ink gets none: every blank page would otherwise match every other."""
    gray = _shrunk_gray(image)
    box = _ink_box(gray, settings.ink_level)
    if box is None:
        return {}
    top, bottom, left, right = box
    page = gray[top:bottom, left:right]
    height = page.shape[0]
    regions = {
        "page": page,
        "body": page[round(settings.header_band_ratio * height) :],
        "top": page[: height // 2],
        "bottom": page[height // 2 :],
    }
    hasher = {"phash": imagehash.phash, "dhash": imagehash.dhash, "whash": imagehash.whash}[
        settings.method
    ]
    return {
        name: _as_int(hasher(Image.fromarray(region)))
        for name, region in regions.items()
        if min(region.shape) >= settings.min_side
    }


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def _shrunk_gray(image: RgbImage) -> Gray:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    scale = _WORK_SIDE / max(gray.shape)
    if scale < 1:
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(gray)


def _ink_box(gray: Gray, ink_level: float) -> tuple[int, int, int, int] | None:
    """Top, bottom, left, right of the page's ink; None when there is none."""
    paper = float(np.percentile(gray, _PAPER_PERCENTILE))
    ink = gray < ink_level * paper
    rows = np.flatnonzero(ink.mean(axis=1) > _INK_SHARE)
    cols = np.flatnonzero(ink.mean(axis=0) > _INK_SHARE)
    if len(rows) < 2 or len(cols) < 2:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _as_int(value: imagehash.ImageHash) -> int:
    bits = np.asarray(value.hash, dtype=np.uint8).flatten()
    return int("".join(map(str, bits.tolist())), 2)
