"""Text lines found without OCR: glyphs smeared together along one direction.

CJK glyphs are square, but the gap between two glyphs of a line is much smaller than the gap
between two lines. Closing the ink with a kernel of about half a glyph along the lines joins
each line into one long blob; across the lines, the same kernel joins nothing. So the long
blobs say which way the text runs (page turned sideways or not) and how it slopes (skew).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from detectors.vision.geometry import Contour, GrayImage, components, contours_of

LONG_SMEAR = 1.2
"""Closing kernel along the lines, in median component sizes (radicals make the median
smaller than a glyph), that joins whole lines across punctuation and justified spacing."""
SHORT_SMEAR = 0.5
"""A kernel that joins neighbouring glyphs but never two lines, even where lines are close:
for telling the direction of the text."""
_MIN_ELONGATION = 4
_MAX_THICKNESS = 3.0
"""A line blob is at most this many glyphs thick (a photo, a filled box is not a line)."""


def ink(gray: GrayImage) -> GrayImage:
    """Dark marks on the local background (255), robust to uneven light."""
    return np.asarray(
        cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 25, 15),
        dtype=np.uint8,
    )


def glyph_size(marks: GrayImage) -> float:
    """Median size of the ink's connected components bigger than specks; 0 if none."""
    count, _, stats = components(marks)
    sizes = np.maximum(stats[1:count, 2], stats[1:count, 3])
    sizes = sizes[sizes > 4]
    return float(np.median(sizes)) if sizes.size else 0.0


def line_contours(
    gray: GrayImage, *, horizontal: bool = True, smear: float = LONG_SMEAR
) -> list[Contour]:
    """Outlines of the text lines that run horizontally (or vertically, ±45°) in `gray`."""
    marks = ink(gray)
    glyph = glyph_size(marks)
    if glyph <= 0:
        return []
    k = max(2, round(smear * glyph))
    kernel = np.ones((1, k) if horizontal else (k, 1), np.uint8)
    smeared = cv2.morphologyEx(marks, cv2.MORPH_CLOSE, kernel)
    # Every level, not just the outermost: text in a bordered table or box is inside a frame.
    contours = contours_of(np.asarray(smeared, np.uint8), cv2.RETR_LIST)
    height, width = gray.shape[:2]
    lines = []
    for contour in contours:
        _, (w, h), _ = cv2.minAreaRect(contour)
        along, across = max(w, h), min(w, h)
        if (
            along >= _MIN_ELONGATION * across
            and 0.5 * glyph <= across <= _MAX_THICKNESS * glyph
            and not _touches_edge(contour, width, height)
            and (abs(line_angle(contour)) <= 45) == horizontal
        ):
            lines.append(contour)
    return lines


def _touches_edge(contour: Contour, width: int, height: int) -> bool:
    """Blobs at the image edge are mostly the page's edge or the desk beyond it."""
    x, y, w, h = cv2.boundingRect(contour)
    return x <= 1 or y <= 1 or x + w >= width - 1 or y + h >= height - 1


def line_angle(contour: Contour) -> float:
    """Direction of a line blob in degrees, in (-90, 90]: positive slopes down to the right."""
    vx, vy = cv2.fitLine(contour, cv2.DIST_L2, 0, 0.01, 0.01).ravel()[:2]
    angle = math.degrees(math.atan2(float(vy), float(vx)))
    return (angle + 90) % 180 - 90 if angle != 90 else 90.0


def line_length(contour: Contour) -> float:
    _, (w, h), _ = cv2.minAreaRect(contour)
    return float(max(w, h))


def run_length(contours: list[Contour]) -> float:
    """Total length of the lines."""
    return sum(line_length(c) for c in contours)
