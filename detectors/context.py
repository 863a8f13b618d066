"""What a detector gets: one page, the config, and lazily derived views of the page."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from detectors.config import ScanConfig
from detectors.model import BBox, Finding, Page, TextLine
from detectors.rules._text import normalize
from detectors.vision.color import Colors, colors, red_in

_RED_LINE_INK_SHARE = 0.06
_RULE_SHARE = 0.8
"""A row (or an edge column) of a line's box this red is a rule crossing it, not a stroke."""
_EDGE_SHARE = 0.15
"""Columns this near either end of a box may be a table's vertical rule."""
_SAME_ROW_OVERLAP = 0.5
"""Two boxes stand on one row when they overlap by this share of the lower one's height."""
_STACK_GAP = 0.8
"""Lines of one block stand at most this many line heights apart."""


@dataclass
class PageContext:
    """One page under scan. Derived data (the red mask) is computed once, on first use."""

    page: Page
    config: ScanConfig
    member: str | None = None
    _line_index: dict[int, int] = field(default_factory=dict, init=False, repr=False)

    def finding(
        self,
        detector: str,
        label: str,
        confidence: float,
        evidence: str,
        bbox: BBox | None = None,
        **details: object,
    ) -> Finding:
        return Finding(
            detector=detector,
            label=label,
            confidence=max(0.0, min(1.0, confidence)),
            page=self.page.number,
            evidence=evidence,
            bbox=bbox,
            member=self.member,
            details=dict(details),
        )

    @cached_property
    def red_mask(self) -> npt.NDArray[np.bool_] | None:
        """Pixels of seal/header red on the page image, or None for a page without image."""
        return self._red_from(self.config.scan.red.min_saturation)

    @cached_property
    def faint_red_mask(self) -> npt.NDArray[np.bool_] | None:
        """Pixels of pale red: faded seal ink, a thin rule blurred or broken up by a monitor's
        moiré. Only shapes that red's own tests accept count from it."""
        return self._red_from(self.config.scan.red.faint_min_saturation)

    @cached_property
    def _colors(self) -> Colors | None:
        if self.page.image is None:
            return None
        return colors(self.page.image, self.config.scan.red.max_white_balance_gain)

    def _red_from(self, min_saturation: int) -> npt.NDArray[np.bool_] | None:
        if self._colors is None:
            return None
        red = self.config.scan.red.model_copy(update={"min_saturation": min_saturation})
        return red_in(self._colors, red)

    def is_red(self, line: TextLine) -> bool:
        """Whether a line is printed in red: from the format's colour, else from the image."""
        if line.color is not None:
            return line.color == "red"
        mask = self.red_mask
        if mask is None or line.bbox is None:
            return False
        x0, y0, x1, y1 = line.bbox
        box = _without_rules(mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)])
        # Glyph strokes cover roughly 15-35 % of a text box; a red line is mostly red ink.
        return box.size > 0 and float(box.mean()) >= _RED_LINE_INK_SHARE

    # Layout. Lines with a box are placed by their box; lines without one (DOCX paragraphs,
    # plain text) by their index, so "the top of the page" means "the first lines".

    def index_of(self, line: TextLine) -> int:
        """The line's rank from the top: by its box where it has one, else by its order."""
        if not self._line_index:
            order = sorted(
                range(len(self.page.lines)),
                key=lambda i: (self.page.lines[i].bbox or (0, i, 0, 0))[1],
            )
            self._line_index.update({id(self.page.lines[i]): r for r, i in enumerate(order)})
        return self._line_index.get(id(line), len(self.page.lines))

    def in_top_zone(self, line: TextLine) -> bool:
        """In the top band of the page, or among its first lines of text.

        The second half matters for photos of a page's top only: the page runs off the
        frame, so the marking block stands mid-picture but is still the first text on it.
        """
        layout = self.config.scan.layout
        if self.page.is_metadata:
            return True
        if line.bbox is not None and self.page.height:
            in_band = line.bbox[1] <= layout.top_zone_ratio * self.page.height
            return in_band or self.index_of(line) < layout.top_zone_first_lines
        return self.index_of(line) < layout.top_zone_lines

    def right_of(self, line: TextLine) -> TextLine | None:
        """The nearest line to the right of `line` on its row, within the cell gap: the value
        of a form's field whose label OCR read as a box of its own (密　级 | 机密)."""
        box = line.bbox
        if box is None or not self.page.width:
            return None
        max_gap = self.config.scan.layout.cell_max_gap_ratio * self.page.width
        best: tuple[int, TextLine] | None = None
        for other in self.page.lines:
            ob = other.bbox
            if ob is None or other is line or ob[0] < box[2] - (box[3] - box[1]) // 2:
                continue
            overlap = min(box[3], ob[3]) - max(box[1], ob[1])
            gap = max(0, ob[0] - box[2])
            if (
                overlap >= _SAME_ROW_OVERLAP * min(box[3] - box[1], ob[3] - ob[1])
                and gap <= max_gap
                and (best is None or gap < best[0])
            ):
                best = (gap, other)
        return best[1] if best else None

    def stacked_with(self, line: TextLine) -> list[TextLine]:
        """The lines set directly above and below `line` and flush left with it: a block
        such as the 版头's stack of 份号, 密级 and 内部 (GB/T 9704 §7.2), wherever the page
        stands in the picture."""
        box = line.bbox
        if box is None:
            return []
        height = box[3] - box[1]
        stacked = []
        for other in self.page.lines:
            ob = other.bbox
            if ob is None or other is line:
                continue
            gap = max(ob[1] - box[3], box[1] - ob[3])
            if -height // 2 <= gap <= height * _STACK_GAP and abs(ob[0] - box[0]) <= height:
                stacked.append(other)
        return stacked

    def field_values(self, label: re.Pattern[str]) -> dict[int, TextLine]:
        """Form fields whose label OCR read as a box of its own (份　号 | 000046): the value
        line beside each line that is only a label, by the label line's id."""
        values = {}
        for line in self.page.lines:
            if label.fullmatch(normalize(line.text)):
                value = self.right_of(line)
                if value is not None:
                    values[id(line)] = value
        return values

    def in_left_zone(self, line: TextLine) -> bool:
        if line.bbox is None or not self.page.width:
            return True
        return line.bbox[0] <= self.config.scan.layout.left_zone_ratio * self.page.width

    def in_bottom_zone(self, line: TextLine) -> bool:
        layout = self.config.scan.layout
        if line.bbox is not None and self.page.height:
            return line.bbox[3] >= (1 - layout.bottom_zone_ratio) * self.page.height
        return self.index_of(line) >= len(self.page.lines) - layout.top_zone_lines


def _without_rules(box: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """A line's box without the red rules that cross it: black text in a table ruled in red
    (a telegram's 电报号 | 份号 cells) has the cell's edges inside its OCR box, as much red
    as a red line's strokes. A rule fills a row of the box; a vertical rule fills a column
    near either end. Strokes fill neither: no glyph spans a whole line, and a red line keeps
    its strokes in the middle columns."""
    if box.size == 0:
        return box
    rows = box.mean(axis=1) < _RULE_SHARE
    columns = box.mean(axis=0) < _RULE_SHARE
    edge = max(1, round(_EDGE_SHARE * box.shape[1]))
    columns[edge:-edge] = True
    return box[rows][:, columns]
