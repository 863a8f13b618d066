"""Red round seals (公章: a red ring, a ★ in the centre, the organ's name on the arc) and the
oval seals of invoices (发票专用章). Policy decides how much an oval seal matters.

A seal is a red blob that is round (its outline lies on the ellipse of its box: bold red
glyphs, which closing also turns into blobs, have notched outlines), has a red ring along that
ellipse (not a filled disc, not a hairline), and something red inside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np
import numpy.typing as npt

from detectors.config import SealSettings
from detectors.context import PageContext
from detectors.model import BBox, Finding
from detectors.vision.geometry import Contour, components, contours_of

NAME = "seal"

Mask = npt.NDArray[np.uint8]

_CLOSE = 0.008
"""Closing kernel, of the page's short side: joins a ring broken by faded ink or black text."""
_STRAIGHT = 0.25
"""Straight red runs at least this long (of the short side) are lines, not seal strokes: the
flattest stretch of the largest seal's ring is ~0.14."""
_ELLIPSE_FILL = (0.85, 1.1)
"""The outline's hull area over the area of the ellipse in its box: a box outline is 4/π."""
_ON_ELLIPSE = (0.9, 1.08)
"""Outline points within this range of the ellipse's radius count as lying on it."""
_RING_BAND = (0.78, 1.02)
"""Radial band, as a share of the ellipse's radius, where the ring is looked for."""
_RING_SAMPLES = 180
_FAINT_GAIN = 1.25
"""The looser red must add this much red (a pale seal's worth), not just soft glyph edges."""
_WORK_SIDE = 800
"""Seals are searched on the mask scaled to this short side (the smallest is ~64 px there)."""
_HOUGH_SIDE = 640
"""Circles are searched on the mask scaled to this short side."""
_HOUGH_VOTES = 30
_HOUGH_MAX_ARCS = 0.03
"""Above this share of the mask in arcs, red is everywhere (a monitor's moiré tints black
text, a red-printed form): the circle search's cost grows with every edge pixel (seconds
there) and it votes for circles anywhere; only outlined seals are looked for."""
_MIN_ARC = 0.2
"""Pieces of red smaller than this share of the smallest seal are not arcs of a ring."""
_HOUGH_MIN_FILL = 0.7
_HOUGH_MAX_INNER = 0.25
_OUTSIDE = (1.1, 1.3)
_MAX_OUTSIDE_INK = 0.05
_MIN_RING_INK = 0.03
"""Red share of the ring band: a stroke, not specks (a faded ring in a photo reads ~0.05)."""
_INNER = 0.65
_MIN_INNER_INK, _MAX_INNER_INK = 0.02, 0.6
"""Red share inside the ring: a star or characters, neither empty nor a filled disc."""
_ROUND_ASPECT = 1.15


@dataclass(frozen=True)
class _Seal:
    bbox: BBox
    ring_fill: float
    circularity: float
    aspect: float

    @property
    def label(self) -> str:
        return "round_seal" if self.aspect <= _ROUND_ASPECT else "oval_seal"

    @property
    def confidence(self) -> float:
        return min(0.98, 0.5 + 0.3 * self.ring_fill + 0.2 * self.circularity)


def detect(ctx: PageContext) -> list[Finding]:
    mask = ctx.red_mask
    if mask is None:
        return []
    settings = ctx.config.scan.seal
    strong = mask.view(np.uint8)
    seals = find_seals(strong, settings)
    if not seals:
        # Seal ink is often faded or pale: a looser red, judged by the same shape tests, where
        # it adds enough red to make a seal.
        pale = ctx.faint_red_mask
        assert pale is not None  # the page has an image: it has a red mask
        faint = pale.view(np.uint8)
        if _ring_pixels(faint, settings) >= _FAINT_GAIN * _ring_pixels(strong, settings) + 1:
            seals = find_seals(faint, settings)
    return [
        ctx.finding(
            NAME,
            seal.label,
            seal.confidence,
            f"red {seal.label.replace('_', ' ')} (ring {seal.ring_fill:.0%})",
            seal.bbox,
            ring_fill=round(seal.ring_fill, 3),
            circularity=round(seal.circularity, 3),
        )
        for seal in seals
    ]


def find_seals(mask: Mask, settings: SealSettings) -> list[_Seal]:
    """Seals on a 0/1 red mask, largest first."""
    if _ring_pixels(mask, settings) < 1.0:
        return []  # most pages: too little red for even the smallest, faintest ring
    # Seals are large: look for them on a smaller mask (morphology cost grows with area).
    mask, scale = _shrunk(mask, _WORK_SIDE)
    short = min(mask.shape)
    mask = _without_straight_lines(mask, round(_STRAIGHT * short))
    k = max(3, round(_CLOSE * short)) | 1
    closed = cv2.morphologyEx(
        mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    )
    low, high = settings.min_diameter_ratio * short, settings.max_diameter_ratio * short
    # Circle search (~10 ms) only where no outline was found: a page rarely bears two seals.
    seals = _outlined_seals(mask, np.asarray(closed, np.uint8), low, high, settings)
    seals = seals or _hough_seals(mask, low, high, settings)
    seals = [replace(s, bbox=_scaled(s.bbox, 1 / scale)) for s in seals]
    return sorted(
        seals, key=lambda s: (s.bbox[2] - s.bbox[0]) * (s.bbox[3] - s.bbox[1]), reverse=True
    )


def _without_specks(mask: Mask, min_size: float) -> Mask:
    """The mask less its small pieces: desk grain, paper texture. A ring's arcs are long."""
    _, labels, stats = components(mask)
    keep = np.maximum(stats[:, 2], stats[:, 3]) >= min_size
    keep[0] = False
    return np.asarray(keep[labels], dtype=np.uint8)


def _scaled(box: BBox, factor: float) -> BBox:
    x0, y0, x1, y1 = (round(v * factor) for v in box)
    return (x0, y0, x1, y1)


def _shrunk(mask: Mask, short_side: int) -> tuple[Mask, float]:
    """The 0/1 mask with its short side at most `short_side`; a pixel is red where a quarter
    of what it covers was: thin ring strokes survive."""
    scale = min(1.0, short_side / min(mask.shape))
    if scale == 1.0:
        return mask, 1.0
    area = cv2.resize(mask * 255, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.asarray(area >= 64, dtype=np.uint8), scale


def _ring_pixels(mask: Mask, settings: SealSettings) -> float:
    """Red pixels in units of the least a seal can show: its smallest ring, as far as
    `min_ring_fill` goes, one pixel wide."""
    smallest = math.pi * settings.min_diameter_ratio * min(mask.shape) * settings.min_ring_fill
    return float(np.count_nonzero(mask)) / max(smallest, 1.0)


def _outlined_seals(
    mask: Mask, closed: Mask, low: float, high: float, settings: SealSettings
) -> list[_Seal]:
    """Seals whose whole outline is one closed red blob (most of them)."""
    seals = []
    for contour in contours_of(closed, cv2.RETR_EXTERNAL):
        x, y, w, h = cv2.boundingRect(contour)
        aspect = max(w, h) / max(min(w, h), 1)
        if not (low <= max(w, h) <= high) or aspect > settings.max_aspect:
            continue
        seal = _measure(contour, mask, (x, y, x + w, y + h), aspect)
        if (
            seal
            and seal.circularity >= settings.min_circularity
            and seal.ring_fill >= settings.min_ring_fill
        ):
            seals.append(seal)
    return seals


def _hough_seals(mask: Mask, low: float, high: float, settings: SealSettings) -> list[_Seal]:
    """Round seals whose ring is broken (faded ink, a thin ring): circles the ring votes for.

    Without an outline to judge, stricter: the ring must cover most of the circle, the inside
    must be sparse (a circle drawn through one bold red glyph is full of strokes), and nothing
    red may stand just outside it (a circle through a row of red glyphs has red all around).
    """
    scale = min(1.0, _HOUGH_SIDE / min(mask.shape))
    arcs = _without_specks(mask, _MIN_ARC * low)
    if float(arcs.mean()) > _HOUGH_MAX_ARCS:
        return []
    small = cv2.resize(arcs * 255, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    circles = cv2.HoughCircles(
        cv2.GaussianBlur(small, (5, 5), 0),
        cv2.HOUGH_GRADIENT,
        dp=1.5,
        minDist=low * scale,
        param1=100,
        param2=_HOUGH_VOTES,
        minRadius=max(3, int(low * scale / 2)),
        maxRadius=int(high * scale / 2) + 1,
    )
    seals = []
    for x, y, r in [] if circles is None else circles[0] / scale:
        centre = (float(x), float(y))
        fill = _ring_fill(mask, centre, r, r)
        if (
            fill >= max(settings.min_ring_fill, settings.min_circularity, _HOUGH_MIN_FILL)
            and _band_share(mask, centre, r, r, *_RING_BAND) >= _MIN_RING_INK
            and _MIN_INNER_INK <= _band_share(mask, centre, r, r, 0.0, _INNER) <= _HOUGH_MAX_INNER
            and _band_share(mask, centre, r, r, *_OUTSIDE) <= _MAX_OUTSIDE_INK
        ):
            box = (round(x - r), round(y - r), round(x + r), round(y + r))
            seals.append(_Seal(box, fill, fill, 1.0))
    return seals


def _without_straight_lines(mask: Mask, length: int) -> Mask:
    """The mask less its long straight horizontal and vertical runs (frames, rules, grids).

    A seal that touches a certificate's frame or an invoice's table would otherwise be one
    blob with it. A seal's ring is curved: no straight run of its stroke is this long.
    """
    across = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, length), np.uint8))
    down = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((length, 1), np.uint8))
    return np.asarray(cv2.subtract(mask, cv2.bitwise_or(across, down)), dtype=np.uint8)


def _measure(contour: Contour, mask: Mask, box: BBox, aspect: float) -> _Seal | None:
    hull = cv2.convexHull(contour)
    x0, y0, x1, y1 = box
    rx, ry = (x1 - x0) / 2, (y1 - y0) / 2
    fill = cv2.contourArea(hull) / (math.pi * max(rx, 1) * max(ry, 1))
    if not (_ELLIPSE_FILL[0] <= fill <= _ELLIPSE_FILL[1]):
        return None
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    ring_ink = _band_share(mask, centre, rx, ry, *_RING_BAND)
    inner_ink = _band_share(mask, centre, rx, ry, 0.0, _INNER)
    if ring_ink < _MIN_RING_INK or not (_MIN_INNER_INK <= inner_ink <= _MAX_INNER_INK):
        return None
    circularity = _on_ellipse(contour, centre, rx, ry)
    return _Seal(box, _ring_fill(mask, centre, rx, ry), circularity, aspect)


def _on_ellipse(contour: Contour, centre: tuple[float, float], rx: float, ry: float) -> float:
    """Circularity: the share of the outline's points that lie on the ellipse of its box."""
    points = contour.reshape(-1, 2).astype(np.float64)
    radius = np.hypot(
        (points[:, 0] - centre[0]) / max(rx, 1), (points[:, 1] - centre[1]) / max(ry, 1)
    )
    return float(((radius >= _ON_ELLIPSE[0]) & (radius <= _ON_ELLIPSE[1])).mean())


def _band_share(
    mask: Mask, centre: tuple[float, float], rx: float, ry: float, inner: float, outer: float
) -> float:
    """Red share of the pixels between two scaled copies of the ellipse."""
    x0, y0 = max(0, int(centre[0] - outer * rx)), max(0, int(centre[1] - outer * ry))
    x1, y1 = (
        min(mask.shape[1], int(centre[0] + outer * rx) + 1),
        min(mask.shape[0], int(centre[1] + outer * ry) + 1),
    )
    ys, xs = np.mgrid[y0:y1, x0:x1]
    radius = np.hypot((xs - centre[0]) / max(rx, 1), (ys - centre[1]) / max(ry, 1))
    band = (radius >= inner) & (radius <= outer)
    return float(mask[y0:y1, x0:x1][band].mean()) if band.any() else 0.0


def _ring_fill(mask: Mask, centre: tuple[float, float], rx: float, ry: float) -> float:
    """Share of directions from the centre in which the ring band holds red."""
    angles = np.linspace(0, 2 * math.pi, _RING_SAMPLES, endpoint=False)
    radii = np.linspace(*_RING_BAND, 8)
    xs = centre[0] + np.outer(np.cos(angles), radii) * rx
    ys = centre[1] + np.outer(np.sin(angles), radii) * ry
    xs = np.clip(np.round(xs).astype(int), 0, mask.shape[1] - 1)
    ys = np.clip(np.round(ys).astype(int), 0, mask.shape[0] - 1)
    return float(mask[ys, xs].any(axis=1).mean())
