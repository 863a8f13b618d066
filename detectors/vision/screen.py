"""The document's own page inside a screenshot: a file preview, an OA system's reading pane, a
website's article area.

A screen shows the page as an upright rectangle of paper white set off from the application
around it (a grey viewer, a dark mode, a site's off-white ground). The detectors judge a header
by where it stands on its page: the top band, the text's width. On the whole screen the
page's header stands mid-picture and an app's bars widen the text. So a screenshot's page is
found as the largest upright paper-white rectangle that holds text, and judged on its own.

A phone photo of a monitor has no pixel at the screen's white (exposure, colour cast, moiré):
there the page is the brightest upright rectangle by the photo's own white level.

This is the screen's counterpart of `capture.find_page`, which looks for a photographed page's
tilted outline and rejects upright rectangles because on a photo they are interface boxes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from detectors.config import ScreenPageSettings
from detectors.model import BBox, Finding, Page, RgbImage, TextLine
from detectors.vision.geometry import centre_within, contours_of, scale_to_max_side


@dataclass(frozen=True)
class ScreenPage:
    """The document page found inside a screenshot, and where it lies on the screen."""

    box: BBox
    page: Page


_FIND_MAX_SIDE = 800
"""The screenshot is searched at this long side: app bars and page margins stay several
pixels wide."""

_LIT_LIFT_RATIO = 0.008
"""Glyphs narrower than this share of the long side are lifted to the paper around them
before the photo's white is judged: small print in a far shot of a monitor is dense."""

_LIT_OPEN_RATIO = 0.025
"""In a photo of a screen, light bridges narrower than this share of the long side are cut."""

_CLOSE_RATIO = 0.004
"""Speckle in the paper white (JPEG noise, antialiased glyph edges) is closed with a square of
this share of the long side, 3 px at the search size. No more: the grey strip between an OA
viewer's page and its white tab bar can be under 1 % of the screen, and a wider close merges
the page with the application's white panels. Text needs no closing: a page's lines are holes
inside its outline, which the outer contour ignores."""


def find_screen_page(
    image: RgbImage, lines: list[TextLine], settings: ScreenPageSettings
) -> BBox | None:
    """The box of the document page inside a screenshot, or None when the picture is the page
    itself (or shows none)."""
    small, scale = scale_to_max_side(image, _FIND_MAX_SIDE)
    screen_white = _paper_mask(small, settings.paper_min_level, settings.paper_max_spread)
    found = _page_box(image, screen_white, scale, lines, settings)
    if found is None:  # a photo of a screen: no pixel is at the screen's white
        lit = _lit_paper_mask(small, settings.photo_paper_share)
        found = _page_box(image, lit, scale, lines, settings)
    return found


def _page_box(
    image: RgbImage,
    paper: np.ndarray,
    scale: float,
    lines: list[TextLine],
    settings: ScreenPageSettings,
) -> BBox | None:
    """The largest paper rectangle of `paper` (found at `scale`) on the picture, when it is
    of a page's size and holds text."""
    box = _largest_rectangle(paper, settings.min_fill)
    if box is None:
        return None
    x0, y0, x1, y1 = (round(v / scale) for v in box)
    height, width = image.shape[:2]
    share = (x1 - x0) * (y1 - y0) / float(width * height)
    if not settings.min_area_ratio <= share <= settings.max_area_ratio:
        return None
    found = (max(0, x0), max(0, y0), min(width, x1), min(height, y1))
    inside = sum(1 for line in lines if line.bbox is not None and centre_within(line.bbox, found))
    return found if inside >= settings.min_lines else None


def _paper_mask(image: RgbImage, min_level: int, max_spread: int) -> np.ndarray:
    """Pixels of paper white: bright in every channel, and grey (channels close together),
    with speckle closed."""
    # Channel by channel: numpy's reductions over a 3-wide last axis are ten times slower.
    red, green, blue = image[..., 0], image[..., 1], image[..., 2]
    low = np.minimum(np.minimum(red, green), blue)
    high = np.maximum(np.maximum(red, green), blue)
    paper = ((low >= min_level) & (high - low <= max_spread)).astype(np.uint8) * 255
    return _despeckled(paper, max(image.shape[:2]))


def _despeckled(mask: np.ndarray, long_side: int, open_ratio: float = _CLOSE_RATIO) -> np.ndarray:
    """The mask closed over speckle, then opened with a square of `open_ratio` of the long
    side: light bridges thinner than that (a table's rule, a text caret) are cut, the page's
    margin stays."""
    close = np.ones((_square(long_side, _CLOSE_RATIO),) * 2, np.uint8)
    opening = np.ones((_square(long_side, open_ratio),) * 2, np.uint8)
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, close)
    return np.asarray(cv2.morphologyEx(closed, cv2.MORPH_OPEN, opening))


def _square(long_side: int, ratio: float) -> int:
    return max(3, round(long_side * ratio))


def _lit_paper_mask(image: RgbImage, share: float) -> np.ndarray:
    """Paper white in a photo of a screen: at least `share` of the picture's own white.

    The camera's exposure and colour cast leave no pixel at the screen's white, and moiré
    paints rainbow bands over it; what stays is that the page is the brightest thing on the
    screen. The brightest channel is judged (a rainbow band dims one channel at a time),
    after a grey-level closing that lifts glyphs and moiré's dark fringes to their surround."""
    top = np.maximum(np.maximum(image[..., 0], image[..., 1]), image[..., 2])
    long_side = max(image.shape[:2])
    lift = np.ones((_square(long_side, _LIT_LIFT_RATIO),) * 2, np.uint8)
    level = cv2.GaussianBlur(cv2.morphologyEx(top, cv2.MORPH_CLOSE, lift), (0, 0), 2)
    white = float(np.percentile(level, 99))
    # A photo loses the thin dark frames that part a viewer's page from the application's
    # light panels: opened wider, a strip of light ground along the viewer's edge does not
    # join the page to them.
    lit = (level >= share * white).astype(np.uint8) * 255
    return _despeckled(lit, long_side, _LIT_OPEN_RATIO)


def _largest_rectangle(mask: np.ndarray, min_fill: float) -> tuple[int, int, int, int] | None:
    """The bounding box of the largest bright region that fills its box like a rectangle."""
    best: tuple[float, tuple[int, int, int, int]] | None = None
    for contour in contours_of(mask, cv2.RETR_EXTERNAL):
        x, y, w, h = cv2.boundingRect(contour)
        area = float(w * h)
        if area <= 0 or cv2.contourArea(contour) < min_fill * area:
            continue
        if best is None or area > best[0]:
            best = (area, (x, y, x + w, y + h))
    return None if best is None else best[1]


def page_inside(page: Page, box: BBox) -> Page:
    """The part of a page image inside `box` as a page of its own, to be read again: the
    screenshot's text detection saw the page's small print at the screen's scale, where a
    file preview's 份号 or 注意保存 is a few pixels high."""
    assert page.image is not None
    x0, y0, x1, y1 = box
    image = np.ascontiguousarray(page.image[y0:y1, x0:x1])
    return replace(page, lines=[], image=image, needs_ocr=True, is_capture=False)


def read_alike(page: Page, box: BBox) -> bool:
    """Whether the page inside `box` would read as the whole picture does: it spans the
    picture's height (the same top and bottom bands) and its long side is the picture's (OCR
    scales both alike), as a scanned page with a dark margin at one side does. Its lines are
    then the picture's own, and reading it again finds them again."""
    x0, y0, x1, y1 = box
    same_bands = y0 == 0 and y1 == page.height
    return same_bands and max(x1 - x0, y1 - y0) == max(page.width, page.height)


def lines_inside(lines: list[TextLine], box: BBox) -> list[TextLine]:
    """The lines whose centre lies inside `box`, in the box's own pixels."""
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    return [
        replace(
            line,
            bbox=(
                max(0, b[0] - x0),
                max(0, b[1] - y0),
                min(width, b[2] - x0),
                min(height, b[3] - y0),
            ),
        )
        for line in lines
        if (b := line.bbox) is not None and centre_within(b, box)
    ]


_SAME_LINE_OVERLAP = 0.7
"""A detected box and a line already read are one line when they overlap this much
(intersection over union)."""


def same_line(box: BBox, lines: list[TextLine]) -> TextLine | None:
    """The line of `lines` that `box` outlines again, if one does."""
    best = max(lines, key=lambda line: _overlap(box, line.bbox), default=None)
    return best if best is not None and _overlap(box, best.bbox) >= _SAME_LINE_OVERLAP else None


def _overlap(a: BBox, b: BBox | None) -> float:
    if b is None:
        return 0.0
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    both = w * h
    return both / float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - both)


def on_screen(finding: Finding, box: BBox) -> Finding:
    """A finding on the page inside `box`, placed back on the screenshot."""
    if finding.bbox is None:
        return finding
    b, x0, y0 = finding.bbox, box[0], box[1]
    return replace(finding, bbox=(b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0))
