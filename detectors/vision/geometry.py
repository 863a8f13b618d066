"""Small geometry helpers on images and quadrilaterals, shared by page finding and OCR."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from detectors.model import BBox, RgbImage

Quad = npt.NDArray[np.float32]
"""Four (x, y) corners, shape (4, 2): top-left, top-right, bottom-right, bottom-left."""
GrayImage = npt.NDArray[np.uint8]
Contour = npt.NDArray[np.int32]

_QUARTER_TURNS = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


Components = tuple[int, npt.NDArray[np.int32], npt.NDArray[np.int32]]


def components(mask: npt.NDArray[np.generic]) -> Components:
    """Connected components (8-connected): count, label image, stats rows (x, y, w, h, area).

    The one way to call OpenCV's labelling here: it crashes the process (SIGSEGV) on an empty
    array, which a crop of a hostile or odd page can produce.
    """
    if mask.size == 0:
        return 1, np.zeros(mask.shape, np.int32), np.zeros((1, 5), np.int32)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        np.ascontiguousarray(mask), connectivity=8
    )
    return int(count), np.asarray(labels, np.int32), np.asarray(stats, np.int32)


def order_corners(points: npt.ArrayLike) -> Quad:
    """Corners as TL, TR, BR, BL, whatever order a contour gave them in."""
    pts = np.asarray(points, dtype=np.float32).reshape(4, 2)
    by_sum = pts.sum(axis=1)
    by_diff = pts[:, 1] - pts[:, 0]
    tl, br = pts[np.argmin(by_sum)], pts[np.argmax(by_sum)]
    tr, bl = pts[np.argmin(by_diff)], pts[np.argmax(by_diff)]
    quad = np.array([tl, tr, br, bl], dtype=np.float32)
    if len({tuple(p) for p in quad.tolist()}) < 4:
        # Sum/difference ties (a quad turned by ~45°): fall back to the angle around the centre.
        centre = pts.mean(axis=0)
        angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
        ring = pts[np.argsort(angles)]
        start = int(np.argmin(ring.sum(axis=1)))
        quad = np.roll(ring, -start, axis=0).astype(np.float32)
    return quad


def quad_size(quad: Quad) -> tuple[float, float]:
    """(width, height) of the rectangle a quad maps to: the longer of each pair of sides."""
    top, bottom = np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3])
    left, right = np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1])
    return float(max(top, bottom)), float(max(left, right))


def warp_quad(image: RgbImage, quad: Quad, width: int, height: int) -> RgbImage:
    """The quad's content, perspective-corrected onto a width x height rectangle."""
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    warped = cv2.warpPerspective(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(warped, dtype=np.uint8)


def rotate_quarter(image: RgbImage, clockwise: int) -> RgbImage:
    """The image turned clockwise by 0, 90, 180 or 270 degrees."""
    code = _QUARTER_TURNS.get(clockwise % 360)
    return image if code is None else np.asarray(cv2.rotate(image, code), dtype=np.uint8)


Affine = npt.NDArray[np.float64]
"""A 2 x 3 affine map of image points, as OpenCV's warpAffine takes it."""


def quarter_turn_map(clockwise: int, width: int, height: int) -> Affine:
    """Where `rotate_quarter` of a width x height image takes each pixel (x, y)."""
    turn = clockwise % 360
    rows = {
        0: [[1, 0, 0], [0, 1, 0]],
        90: [[0, -1, height - 1], [1, 0, 0]],
        180: [[-1, 0, width - 1], [0, -1, height - 1]],
        270: [[0, 1, 0], [-1, 0, width - 1]],
    }[turn]
    return np.asarray(rows, dtype=np.float64)


def map_quad(quad: Quad, mapping: Affine) -> Quad:
    """The quad's corners moved by `mapping`, reordered TL, TR, BR, BL on the moved image."""
    moved = cv2.transform(quad.reshape(-1, 1, 2).astype(np.float64), mapping).reshape(4, 2)
    return order_corners(moved)


def scale_to_max_side(image: RgbImage, max_side: int) -> tuple[RgbImage, float]:
    """The image shrunk so that its long side is at most `max_side`, and the scale used.

    Never enlarges: callers that need a minimum size handle it themselves.
    """
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.uint8), scale


def to_gray(image: RgbImage) -> GrayImage:
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), dtype=np.uint8)


def contours_of(mask: GrayImage, mode: int) -> list[Contour]:
    """Every outline of the non-zero regions (`mode`: cv2.RETR_*), all points kept."""
    found, _ = cv2.findContours(mask, mode, cv2.CHAIN_APPROX_NONE)
    return [np.asarray(c, dtype=np.int32) for c in found]


def quad_bbox(quad: Quad, width: int, height: int) -> BBox:
    """The axis-aligned integer box around a quad, clipped to the image."""
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    return (max(0, int(x0)), max(0, int(y0)), min(width, int(x1)), min(height, int(y1)))


def centre_within(inner: BBox, outer: BBox) -> bool:
    """Whether the centre of box `inner` lies inside box `outer`."""
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return outer[0] <= cx <= outer[2] and outer[1] <= cy <= outer[3]
