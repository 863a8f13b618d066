"""Where text lines stand on a page: reading order, and which lines to recognise first.

Recognition is the expensive part of OCR (about 3.7 ms per character on one core), so an
engine reads lines in an order that puts what detectors need most first, under a per-page
budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import TypeVar

from detectors.config import OcrSettings
from detectors.model import BBox
from detectors.vision.geometry import Quad, quad_bbox, quad_size

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class TextBox:
    """One detected line: its quad in page pixels and the rectangle it straightens to."""

    quad: Quad
    width: float
    """Along the line: for a vertical line, the quad's height."""
    height: float
    bbox: BBox
    vertical: bool = False
    """A box much taller than wide holds a vertical line (turned before recognition)."""

    @property
    def slope(self) -> float:
        """dy/dx of the line's top and bottom edges, averaged; 0 for a vertical line."""
        if self.vertical:
            return 0.0
        tl, tr, br, bl = self.quad
        run = float(tr[0] - tl[0] + br[0] - bl[0])
        return float(tr[1] - tl[1] + br[1] - bl[1]) / run if run > 0 else 0.0

    @property
    def chars(self) -> float:
        """Estimated character count: CJK glyphs are about as wide as the line is high."""
        return max(1.0, self.width / max(self.height, 1.0))


def text_box(quad: Quad, page_width: int, page_height: int) -> TextBox:
    width, height = quad_size(quad)
    bbox = quad_bbox(quad, page_width, page_height)
    if height >= 1.5 * width:
        return TextBox(quad, height, width, bbox, vertical=True)
    return TextBox(quad, width, height, bbox)


class Priority(IntEnum):
    """Which lines are read first; lower is earlier."""

    TOP = 0
    """Markings, copy number, organ mark, document number."""
    SHORT = 1
    """Short lines anywhere: fields, table cells, signature, date, 附注."""
    BOTTOM = 2
    """The colophon (版记): 抄送, the printing organ and date."""
    BODY = 3
    """Running text, in reading order, while the budget lasts."""


def in_top_band(bbox: BBox, page_height: int, settings: OcrSettings) -> bool:
    """Whether a line stands in the top band, which is read first and at full size."""
    return (bbox[1] + bbox[3]) / 2 <= settings.priority_top_ratio * page_height


def priority(box: TextBox, page_height: int, settings: OcrSettings) -> Priority:
    centre = (box.bbox[1] + box.bbox[3]) / 2
    if in_top_band(box.bbox, page_height, settings):
        return Priority.TOP
    if box.chars <= settings.short_line_chars:
        return Priority.SHORT
    if centre >= (1 - settings.priority_bottom_ratio) * page_height:
        return Priority.BOTTOM
    return Priority.BODY


NATIVE_HEIGHT = 48
"""The PP-OCR recogniser's training height; its cost grows with input height x width."""


@dataclass(frozen=True)
class ReadMode:
    """How a line crop is fed to the recogniser: its height, and a horizontal squeeze."""

    height: int = NATIVE_HEIGHT
    squeeze: float = 1.0

    def cost(self, chars: float) -> float:
        """Characters read at full size that take as long as `chars` read in this mode."""
        return chars * self.squeeze * (self.height / NATIVE_HEIGHT) ** 2


FULL = ReadMode()


def fast_mode(settings: OcrSettings) -> ReadMode:
    return ReadMode(settings.fast_rec_height, settings.fast_rec_squeeze)


@dataclass(frozen=True, eq=False)
class PlannedLine:
    box: TextBox
    mode: ReadMode
    priority: Priority

    @property
    def cost(self) -> float:
        return self.mode.cost(self.box.chars)


def plan_recognition(
    boxes: Sequence[TextBox],
    page_height: int,
    settings: OcrSettings,
    *,
    fast: ReadMode | None = None,
) -> list[PlannedLine]:
    """Every line, most needed first: by priority, then in reading order.

    The top band is read at full size, everything else in the fast mode first (`fast`, by
    default `fast_mode(settings)`: an engine whose recogniser takes one height only narrows),
    long lines (running text, the colophon) narrowed further: a short line outside the top
    band may be a field or a marking, a long one is prose.
    """
    ordered = reading_order(boxes, lambda b: b.bbox)
    ranked = sorted(
        ((priority(box, page_height, settings), index, box) for index, box in enumerate(ordered)),
        key=lambda item: (item[0], item[1]),
    )
    fast = fast or fast_mode(settings)
    long = replace(fast, squeeze=settings.long_rec_squeeze)
    modes = {Priority.TOP: FULL, Priority.SHORT: fast, Priority.BOTTOM: long, Priority.BODY: long}
    return [PlannedLine(box, modes[rank], rank) for rank, _, box in ranked]


@dataclass
class Budget:
    """What is left of a page's recognition budget, in characters read at full size."""

    left: float

    def take(self, cost: float) -> bool:
        """Spend `cost` if it fits. A line that does not fit is skipped, not truncated: a
        shorter one further down may still fit."""
        if cost > self.left:
            return False
        self.left -= cost
        return True


def reading_order(items: Sequence[T], bbox_of: Callable[[T], BBox | None]) -> list[T]:
    """Top to bottom, and left to right within a row of vertically overlapping items.

    Items without a box keep their relative order at the end.
    """
    placed = [(item, box) for item in items if (box := bbox_of(item)) is not None]
    unplaced = [item for item in items if bbox_of(item) is None]
    placed.sort(key=lambda ib: ((ib[1][1] + ib[1][3]) / 2, ib[1][0]))
    rows: list[list[tuple[T, BBox]]] = []
    row_top = row_bottom = 0.0
    for item, box in placed:
        height = max(1, box[3] - box[1])
        overlap = min(row_bottom, box[3]) - max(row_top, box[1])
        if rows and overlap >= 0.5 * min(height, row_bottom - row_top):
            rows[-1].append((item, box))
            row_top, row_bottom = min(row_top, box[1]), max(row_bottom, box[3])
        else:
            rows.append([(item, box)])
            row_top, row_bottom = box[1], box[3]
    ordered = [item for row in rows for item, _ in sorted(row, key=lambda ib: ib[1][0])]
    return ordered + unplaced
