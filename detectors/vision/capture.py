"""Camera captures to upright pages: find the page, straighten it, turn it, deskew it.

A photo posted to a work group shows a page on a desk, a page on a monitor, or only the top
of a page running off the frame. Screenshots and scans are flagged as captures too, because
the extractor cannot always tell. So every step must be safe to skip: without a convincing
page outline the whole image is kept as it is, never cropped to some inner rectangle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from detectors.config import VisionSettings
from detectors.model import RgbImage
from detectors.ocr.base import Lines, OcrEngine
from detectors.ocr.layout import TextBox, text_box
from detectors.vision.geometry import (
    Affine,
    Contour,
    GrayImage,
    Quad,
    contours_of,
    map_quad,
    order_corners,
    quad_size,
    quarter_turn_map,
    rotate_quarter,
    scale_to_max_side,
    to_gray,
    warp_quad,
)
from detectors.vision.textlines import line_angle, line_contours, line_length

_A4_RATIO = math.sqrt(2)
_A4_SNAP = 0.10
"""A straightened page within 10 % of A4's proportions is taken to be A4 (perspective
foreshortening makes the measured ratio wobble)."""
_MAX_PAGE_AREA = 0.97
"""A quad covering nearly the whole frame gains nothing over the frame itself."""
_MIN_CORNER_ANGLE, _MAX_CORNER_ANGLE = 45.0, 135.0
_MIN_SIDE_RATIO = 0.5
"""Opposite sides of a photographed page differ by perspective, but not by half."""
_BORDER_MARGIN = 0.015
"""A quad corner this close to the frame edge is where the outline leaves the picture."""
_AXIS_TOLERANCE = 0.75
"""Degrees. A rectangle this exactly upright is a user-interface box, not a photographed page."""
_RING = 0.02
"""Width of the bands inside and outside a quad's outline that are compared, of the long side."""
_OUTER_AREA = 1.3
"""A page outline this much larger around the chosen one may make it a panel of the page."""
_PAGE_EDGE_CONTRAST = 30.0
"""A side this much brighter inside than outside is a page's edge against the desk..."""
_OUTER_EDGES = 3
"""...and an outline with this many such sides is a page's."""
_CREASE_CONTRAST = 0.5
"""A side this much fainter than the page's edges is a crease, not an edge."""
_SIDE_TRIM = 0.15
"""Share of a side at each end left out of its contrast (corners, corner shadows)."""
_SKEW_SIDE = 1000
_MIN_SKEW_LINES = 3
_MIN_SKEW_LINE = 0.08
"""Lines shorter than this share of the width give poor angles."""
_SKEW_AGREEMENT = 5.0
"""Degrees from the median within which a line agrees with it."""


@dataclass(frozen=True, eq=False)
class Capture:
    """An upright page made from a camera capture."""

    image: RgbImage
    quad: Quad | None
    """Page corners (TL, TR, BR, BL) in the input image, or None when the whole image was kept."""
    rotation: int
    """Clockwise quarter turn applied after straightening: 0, 90, 180 or 270."""
    skew: float
    """Skew in degrees measured on the upright page; corrected when within the limits."""
    boxes: Lines
    """The text line boxes found on the page, in `image`'s pixels, for `engine.read`."""


def prepare_capture(image: RgbImage, engine: OcrEngine, settings: VisionSettings) -> Capture:
    """The page in `image`, straightened, turned upright and deskewed, with its line boxes.

    One text detection pass serves both orientation and reading: the boxes found on the
    straightened page are turned and deskewed with it, not found again on the upright page.
    """
    quad = find_page(image, settings)
    page = image if quad is None else straighten(image, quad, settings.page_max_side)
    boxes = engine.detect_lines(page)
    rotation = engine.orientation(page, boxes)
    if rotation:
        height, width = page.shape[:2]
        page = rotate_quarter(page, rotation)
        boxes = _moved(boxes, quarter_turn_map(rotation, width, height), page)
    skew = estimate_skew(page, settings.min_skew_agreement)
    # A page straightened from its outline is nearly level; a page that filled the frame or
    # lay on a desk as bright as itself may lie at any angle, and only its text tells which.
    limit = settings.max_skew_degrees if quad is not None else settings.max_text_skew_degrees
    if settings.min_skew_degrees <= abs(skew) <= limit:
        steep = abs(skew) > settings.max_skew_degrees
        height, width = page.shape[:2]
        page = rotate_small(page, skew, expand=steep)
        if steep:
            # Boxes around lines lying at a steep angle take in their neighbours' ink: they
            # read worse carried level than found again on the level page.
            boxes = engine.detect_lines(page)
        else:
            boxes = _moved(boxes, small_rotation_map(width, height, skew)[0], page)
    return Capture(image=page, quad=quad, rotation=rotation, skew=skew, boxes=boxes)


def _moved(boxes: Sequence[TextBox] | None, mapping: Affine, onto: RgbImage) -> Lines:
    """Line boxes carried onto the page image `onto` that `mapping` made."""
    if boxes is None:
        return None
    height, width = onto.shape[:2]
    return [text_box(map_quad(box.quad, mapping), width, height) for box in boxes]


# Page finding.


def find_page(image: RgbImage, settings: VisionSettings) -> Quad | None:
    """Corners of the page in `image`, or None when no convincing outline is found."""
    small, scale = scale_to_max_side(image, settings.find_max_side)
    gray = np.asarray(cv2.GaussianBlur(to_gray(small), (5, 5), 0), dtype=np.uint8)
    candidates = [*_edge_quads(gray), *_bright_quads(gray)]
    plausible = [q for q in candidates if _is_page(q, gray, settings)]
    if not plausible:
        return None
    best = max(plausible, key=lambda q: cv2.contourArea(q))
    if any(_is_part_of(best, outer, gray) for outer in candidates):
        return None  # a panel of a folded page: the page is larger than this
    return np.asarray(best / scale, dtype=np.float32)


def _is_part_of(inner: Quad, outer: Quad, gray: GrayImage) -> bool:
    """Whether `inner` is a panel of the page `outer` outlines: `outer` is well larger, around
    it, and sharply brighter than what lies outside it on most sides (the rest may run off
    the frame or lift off the desk, which is why it was not taken itself), while one side of
    `inner` is far fainter than those edges: a crease, with paper on both sides. A bright
    desk around a page is no such outline."""
    h, w = gray.shape[:2]
    area = cv2.contourArea(outer)
    if not _OUTER_AREA * cv2.contourArea(inner) <= area <= _MAX_PAGE_AREA * h * w:
        return False
    if not _sane_shape(outer) or _axis_aligned(outer):
        return False
    slack = _RING * max(h, w)
    contour = outer.reshape(-1, 1, 2).astype(np.float32)
    if any(cv2.pointPolygonTest(contour, (float(x), float(y)), True) < -slack for x, y in inner):
        return False
    edges = [c for c in _side_contrasts(outer, gray) if c >= _PAGE_EDGE_CONTRAST]
    if len(edges) < _OUTER_EDGES:
        return False
    return _contrast(inner, gray) < _CREASE_CONTRAST * min(edges)


def _edge_quads(gray: GrayImage) -> list[Quad]:
    """Four-cornered outlines among the strongest edges (a page on a contrasting desk)."""
    edges = cv2.Canny(gray, 40, 120)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
    contours = contours_of(np.asarray(edges, np.uint8), cv2.RETR_LIST)
    largest = sorted(contours, key=cv2.contourArea, reverse=True)[:8]
    return [q for c in largest if (q := _as_quad(c)) is not None]


def _bright_quads(gray: GrayImage) -> list[Quad]:
    """The outline of the largest bright region (a page on a textured or dark background)."""
    _, bright = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Close the holes that text leaves in the page, then cut thin bridges to the background.
    k = max(3, round(max(gray.shape) * 0.03))
    bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    bright = cv2.morphologyEx(bright, cv2.MORPH_OPEN, np.ones((k, k), np.uint8))
    contours = contours_of(np.asarray(bright, np.uint8), cv2.RETR_EXTERNAL)
    if not contours:
        return []
    blob = max(contours, key=cv2.contourArea)
    quads = [cv2.boxPoints(cv2.minAreaRect(blob))]
    if (q := _as_quad(blob)) is not None:
        quads.append(q)
    return [order_corners(q) for q in quads]


def _as_quad(contour: Contour) -> Quad | None:
    """The contour's convex hull simplified to four corners, if it has four."""
    hull = cv2.convexHull(contour)
    perimeter = cv2.arcLength(hull, True)
    for tolerance in (0.02, 0.04, 0.06):
        approx = cv2.approxPolyDP(hull, tolerance * perimeter, True)
        if len(approx) == 4:
            return order_corners(approx.reshape(4, 2))
    return None


def _is_page(quad: Quad, gray: GrayImage, settings: VisionSettings) -> bool:
    h, w = gray.shape[:2]
    area = cv2.contourArea(quad) / float(h * w)
    return (
        settings.min_page_area_ratio <= area <= _MAX_PAGE_AREA
        and cv2.isContourConvex(quad.astype(np.int32).reshape(-1, 1, 2))
        and _sane_shape(quad)
        and (not _on_frame_edge(quad, w, h) or _outlined_on_every_side(quad, gray))
        and not _axis_aligned(quad)
        and _contrast(quad, gray) >= settings.min_page_contrast
    )


def _sane_shape(quad: Quad) -> bool:
    sides = [float(np.linalg.norm(quad[(i + 1) % 4] - quad[i])) for i in range(4)]
    if min(sides) < 1:
        return False
    if min(sides[0], sides[2]) / max(sides[0], sides[2]) < _MIN_SIDE_RATIO:
        return False
    if min(sides[1], sides[3]) / max(sides[1], sides[3]) < _MIN_SIDE_RATIO:
        return False
    return all(_MIN_CORNER_ANGLE <= a <= _MAX_CORNER_ANGLE for a in _corner_angles(quad))


def _corner_angles(quad: Quad) -> list[float]:
    angles = []
    for i in range(4):
        a, b = quad[i - 1] - quad[i], quad[(i + 1) % 4] - quad[i]
        cos = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))
        angles.append(math.degrees(math.acos(max(-1.0, min(1.0, cos)))))
    return angles


def _on_frame_edge(quad: Quad, width: int, height: int) -> bool:
    """Whether a corner lies on the frame's edge: the page (or screen) continues outside the
    picture, and the "corner" is where its outline leaves the frame."""
    mx, my = _BORDER_MARGIN * width, _BORDER_MARGIN * height
    xs, ys = quad[:, 0], quad[:, 1]
    return bool(
        (xs <= mx).any()
        or (xs >= width - 1 - mx).any()
        or (ys <= my).any()
        or (ys >= height - 1 - my).any()
    )


def _outlined_on_every_side(quad: Quad, gray: GrayImage) -> bool:
    """Whether all four sides of a quad with a corner at the frame's edge can be compared
    with what lies outside them: a page that fills the frame, its corners just cut off, still
    shows four edges against the desk; a page that runs off the frame has a side along the
    frame's edge, with nothing outside it to compare (a photo of the top of a page)."""
    return len(_side_contrasts(quad, gray)) == 4


def _axis_aligned(quad: Quad) -> bool:
    for i in range(4):
        dx, dy = quad[(i + 1) % 4] - quad[i]
        angle = abs(math.degrees(math.atan2(float(dy), float(dx)))) % 90
        if min(angle, 90 - angle) > _AXIS_TOLERANCE:
            return False
    return True


def _contrast(quad: Quad, gray: GrayImage) -> float:
    """How much brighter the page is just inside its outline than just outside it, on its
    weakest side. Every side counts: a side that is no edge of the page (a crease of a folded
    page, a diagonal cut where the page runs off the frame, a desk shadow) shows it is not the
    page's outline, and a wrong crop loses more than keeping the whole picture does."""
    return min(_side_contrasts(quad, gray), default=0.0)


def _side_contrasts(quad: Quad, gray: GrayImage) -> list[float]:
    """Inside minus outside brightness along each side whose outer band lies in the picture."""
    h, w = gray.shape[:2]
    ring = max(2, round(_RING * max(h, w)))
    centre = quad.mean(axis=0)
    contrasts = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        # The middle of the side: the corners belong to two sides and to shadows.
        a, b = a + (b - a) * _SIDE_TRIM, b - (b - a) * _SIDE_TRIM
        normal = np.array([a[1] - b[1], b[0] - a[0]], dtype=np.float64)
        normal /= max(float(np.linalg.norm(normal)), 1e-9)
        if np.dot(centre - a, normal) < 0:
            normal = -normal  # point inwards
        inner = _band_mean(gray, a, b, normal * ring)
        outer = _band_mean(gray, a, b, -normal * ring)
        if inner is not None and outer is not None:
            contrasts.append(inner - outer)
    return contrasts


def _band_mean(
    gray: GrayImage, a: npt.NDArray[Any], b: npt.NDArray[Any], offset: npt.NDArray[Any]
) -> float | None:
    """Mean brightness of the strip from side a-b to a+offset-b+offset, or None when most of
    it lies outside the picture."""
    h, w = gray.shape[:2]
    strip = np.array([a, b, b + offset, a + offset], dtype=np.float64)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, np.round(strip).astype(np.int32), 255)
    inside = int(np.count_nonzero(mask))
    whole = abs(float(cv2.contourArea(strip.astype(np.float32))))
    if inside == 0 or inside < 0.5 * whole:
        return None
    return float(cv2.mean(gray, mask)[0])


# Straightening, skew.


def straighten(image: RgbImage, quad: Quad, max_side: int) -> RgbImage:
    """The quad warped to a rectangle whose long side is `max_side`."""
    width, height = quad_size(quad)
    ratio = max(width, height) / max(min(width, height), 1.0)
    if abs(ratio / _A4_RATIO - 1) <= _A4_SNAP:
        ratio = _A4_RATIO
    long_side, short_side = max_side, max(1, round(max_side / ratio))
    size = (short_side, long_side) if height >= width else (long_side, short_side)
    return warp_quad(image, quad, *size)


def estimate_skew(image: RgbImage, min_agreement: float = 0.0) -> float:
    """Degrees the text lines slope down to the right (negative: up); 0 when unsure.

    The median direction of the long text-line blobs, weighted by length. Cheaper than a
    projection-profile search and good to ~0.2°. Unsure: fewer than `_MIN_SKEW_LINES` lines,
    or less than `min_agreement` of their length within `_SKEW_AGREEMENT` degrees of the
    median (table rules, a fold's shadow and a crumpled page's creases point every way).
    """
    gray, _ = scale_to_max_side(to_gray(image), _SKEW_SIDE)
    min_length = _MIN_SKEW_LINE * gray.shape[1]
    lines = [c for c in line_contours(gray) if line_length(c) >= min_length]
    if len(lines) < _MIN_SKEW_LINES:
        return 0.0
    angles = np.array([line_angle(c) for c in lines])
    lengths = np.array([line_length(c) for c in lines])
    median = _weighted_median(angles.tolist(), lengths.tolist())
    agreeing = lengths[np.abs(angles - median) <= _SKEW_AGREEMENT].sum()
    return median if agreeing >= min_agreement * lengths.sum() else 0.0


def _weighted_median(values: list[float], weights: list[float]) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(np.asarray(weights, dtype=np.float64)[order])
    index = int(np.searchsorted(cumulative, cumulative[-1] / 2))
    return float(np.asarray(values)[order][index])


def rotate_small(image: RgbImage, degrees: float, *, expand: bool = False) -> RgbImage:
    """The image rotated by `degrees` (positive: counter-clockwise): the same size, or with
    `expand` large enough to keep every corner (a page turned by 30° would lose its own)."""
    h, w = image.shape[:2]
    matrix, size = small_rotation_map(w, h, degrees, expand=expand)
    # White corners: replicated edge pixels would smear a red rule or text into streaks.
    rotated = cv2.warpAffine(
        image,
        matrix,
        size,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(255, 255, 255),
    )
    return np.asarray(rotated, dtype=np.uint8)


def small_rotation_map(
    width: int, height: int, degrees: float, *, expand: bool = False
) -> tuple[Affine, tuple[int, int]]:
    """Where `rotate_small` takes each pixel of a width x height image, and its new size."""
    matrix = np.asarray(cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0), np.float64)
    size = (width, height)
    if expand:
        cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
        size = (round(width * cos + height * sin), round(width * sin + height * cos))
        matrix[:, 2] += np.array([size[0] - width, size[1] - height], np.float64) / 2
    return matrix, size
