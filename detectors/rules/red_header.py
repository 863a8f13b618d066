"""The red header (红头) of an official document: a large red organ mark over a red rule.

On a page image: in the top band, a long thin red horizontal rule (single, double, or split
by a red ★) and a row of large red glyphs above it, centred. Both together are the red
header; one of them on a page that otherwise looks like a document counts for less.

What else is red at the top of a picture, and how it is told apart:
- banners and posters: too much red overall, or red text with festive words (OCR);
- slides: a title bar is a filled red rectangle, not a thin rule; a red title is read by OCR
  and names no organ (安全生产培训), so it counts for little;
- web pages: a red bar with white text is one piece, not separate glyphs;
- e-invoices, certificates, forms: red lines forming a frame or grid;
- newspapers: the masthead ends with 日报/晚报/…, and the text below stands in columns;
- menus and flyers: red text goes on below the rule (a document's body is black).

On a page without image (DOCX, TXT with styles): a red line of text set at 18 pt or more
among the first lines that reads like an organ mark.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

from detectors.config import RedHeaderSettings
from detectors.context import PageContext
from detectors.model import BBox, Finding, TextLine
from detectors.rules._organ import header_suffix, organ_name
from detectors.rules._text import alternation, normalize
from detectors.rules.document_header import numbered, telegram_fields
from detectors.rules.handling_marking import any_marking
from detectors.rules.seal import find_seals
from detectors.vision.color import paper_color
from detectors.vision.geometry import centre_within, components

NAME = "red_header"
LABEL = "red_header"

Mask = npt.NDArray[np.uint8]

_BOTH = 0.9
_MARK_ONLY = 0.6
_RULE_ONLY = 0.4
"""A lone red rule is shown, but does not raise a verdict (policy `min_confidence`)."""
_NO_NUMBER_PENALTY = 0.1
"""Mark and rule without (black) text between them, where the 发文字号 stands."""
_ORGAN_TEXT_BONUS = 0.05
_TEXT_PATH = 0.8

_SEGMENT_MIN_ELONGATION = 12
_SEGMENT_MIN_WIDTH = 0.12
"""Rule pieces (a rule split by a ★) are at least this share of the text width."""
_SEGMENT_GAP = 0.12
_MAX_TILT = 0.15
"""A rule may run at up to about 8° in a photo that was not straightened."""
_DOT_GAP = 0.06
"""Dots of a rule broken by moiré are joined across gaps up to this share of the text width."""
_DOT_CLEARANCE, _DOT_MAX_BESIDE = 2.0, 0.5
"""In strips this many rule heights tall above and below a dotted rule, no joined row of red
spans more than this share of it: a 发文字号 above is short, a line of body text is not."""
_END_COLUMNS = 30
"""A segment's ends, for their heights: this share (1/n) of its width on each side."""
_DOUBLE_RULE_GAP = 0.02
"""Two rules this close (of page height) are one double rule (信函格式: thick over thin)."""
_MARK_MIN_DENSITY, _MARK_MAX_DENSITY = 0.08, 0.75
"""Red share of a glyph row's box: text, not a filled bar."""
_MARK_MAX_HEIGHT = 0.25
_MARK_MIN_GLYPHS = 1.5
"""A mark row is at least this many glyph heights wide (公 安 部: three spaced glyphs)."""
_MARK_SMEAR = 2.0
"""Glyphs of one row are joined across gaps up to this many minimum glyph heights: organ
marks in letter format (信函格式) are spaced out (中 共 广 州 市 委 员 会)."""
_MAX_GLYPH_WIDTH = 2.0
_MAX_RUN_SHARE = 0.4
"""No piece of a glyph row is wider than this many row heights, or this share of the row
when glyphs run together."""
_MARK_CENTRE_TOLERANCE = 0.2
"""A mark row's centre lies within this share of the text width from the text's centre."""
_GRID_LINE_FILL = 0.7
_GRID_MIN_SIDE = 0.1
_GRID_MIN_GLYPHS = 1.5
"""A frame or table is larger than this many heights of the page's tallest line of text: a
big bold glyph of the organ mark (区, 国, 回) is a box with full rows and columns too."""
_MARK_LINE_SHARE = 0.75
"""Red lines at least this share of the tallest one's height are the mark's."""
_TELEGRAM_MIN_FIELDS = 2
_TELEGRAM_TITLE_GAP = 0.2
"""A telegram's red title stands at most this share of the page height above its fields."""
_MAX_RED_BODY_LINES = 2
"""Red lines of text between the rule and the end of the band: a menu, a poster."""
_MIN_COLUMN_LINES, _COLUMN_SHARE = 8, 0.6
_TEXT_AREA_PAD = 0.04
"""Margin (share of the picture's width) around the text when red is measured there."""
_COLUMN_MIN_WIDTH = 0.2
"""A column line is at least this share of the text width."""
_DARK = 0.55
"""Black ink: darker (brightest channel) than this share of the paper's brightness."""
_MIN_BODY_LINES = 2
_MIN_INK_SHARE, _MAX_INK_SHARE = 0.004, 0.35


@dataclass(frozen=True)
class _Rule:
    bbox: BBox
    double: bool = False


@dataclass(frozen=True)
class _Outcome:
    findings: list[Finding]
    rejected: str | None = None
    """Why the page's red is not a header (banner, grid); then the text path is not tried."""


def detect(ctx: PageContext) -> list[Finding]:
    settings = ctx.config.scan.red_header
    mask = ctx.red_mask
    if mask is not None:  # a page image shows whether there is a rule: it decides
        return _visual(ctx, mask.view(np.uint8), settings).findings
    return _textual(ctx, settings)


# The visual path.


def _visual(ctx: PageContext, mask: Mask, settings: RedHeaderSettings) -> _Outcome:
    height = _page_height(mask)
    band = mask[: max(1, round(settings.band_ratio * height))]
    left, right = _text_extent(ctx)
    # Too much red, or red frame lines, make a poster or a form: on the whole picture and
    # also around the text. A red-brown desk around a photographed page is red on the whole
    # picture only; a poster's red ground and an invoice's frame lie around its text too.
    area, top = _text_area(ctx, mask, left, right)
    too_red = settings.max_red_area_ratio
    if (
        max(_share(mask), _share(band)) > too_red
        and max(_share(area), _share(band[top:, left:right])) > too_red
    ):
        return _Outcome([], "poster")
    telegram = _telegram(ctx, mask, left, right, settings)
    if telegram is not None:
        return _Outcome([telegram])
    glyph = _tallest_line(ctx)
    if _red_grid(mask, glyph) and _red_grid(area, glyph):
        return _Outcome([], "grid")
    rule = _find_rule(band, left, right, height, settings) or _faint_rule(
        ctx, len(band), left, right, height, settings
    )
    above = band if rule is None else band[: rule.bbox[1]]
    mark = _find_mark(above, left, right, height, settings) or _text_mark(ctx, len(above), settings)
    if rule is None and mark is None:
        return _Outcome([])
    boundary = rule.bbox[1] if rule else (mark[3] if mark else 0)
    red_text = _red_lines(ctx, 0, boundary)
    body_red = _red_lines(ctx, boundary, len(band))
    reason = _not_a_header(ctx, settings, red_text, body_red, boundary, right - left)
    if reason:
        return _Outcome([], reason)
    # What OCR read of the mark itself; other red text above the rule (an invoice's red
    # cells, a seller's name) does not make the mark an organ's.
    named = _mark_lines(red_text, mark)
    organ = ctx.config.headers.organ_mark
    full_mark = any(_organ_like(ctx, ln) and header_suffix(ln.text, organ) for ln in named)
    full_mark = full_mark or bool(mark and named and numbered(ctx, mark[3]))
    confidence = _confidence(ctx, mark, rule, full_mark)
    if confidence is None:
        return _Outcome([])
    evidence = " ".join(line.text.strip() for line in named)
    if evidence:  # OCR read the red text: it must name an organ
        # Line by line: a joint document (联合行文) stacks one organ mark per line.
        if not any(_organ_like(ctx, line) for line in named):
            return _Outcome([], "names no organ")  # a notice's title, a chapter, a shop
        confidence += _ORGAN_TEXT_BONUS
    boxes = [b.bbox for b in (rule,) if b is not None] + ([mark] if mark else [])
    finding = ctx.finding(
        NAME,
        LABEL,
        confidence,
        evidence or _describe(mark, rule),
        _union(boxes),
        organ_mark=mark is not None,
        rule=rule is not None,
        double_rule=bool(rule and rule.double),
    )
    return _Outcome([finding])


def _not_a_header(
    ctx: PageContext,
    settings: RedHeaderSettings,
    header_red: list[TextLine],
    body_red: list[TextLine],
    boundary: int,
    text_width: int,
) -> str | None:
    """Why red shapes that look like a header are something else, from the OCR'd text."""
    texts = [normalize(line.text) for line in header_red]
    if any(_banner_words(settings.banner_words).search(t) for t in texts):
        return "banner"  # 热烈庆祝…
    if any(t.endswith(settings.masthead_suffixes) for t in texts):
        return "masthead"  # …日报: a newspaper
    # Lines of text, not the single glyphs of a seal's arc that a text layer may hold.
    words = [line for line in body_red if len(normalize(line.text)) >= 2]
    if len(words) >= _MAX_RED_BODY_LINES and len(_off_seals(ctx, words)) >= _MAX_RED_BODY_LINES:
        return "red body text"  # a menu, a poster: a document's body is black
    if _columns(ctx, boundary, text_width):
        return "columns"  # a newspaper or a leaflet
    return None


def _off_seals(ctx: PageContext, lines: list[TextLine]) -> list[TextLine]:
    """The lines that stand on no seal: OCR reads a seal's arc (白沙县教育局) and the black
    signature under it as red lines, two or three of them on a small page. Seals are looked
    for only here, where red lines in the body would reject the header."""
    mask = ctx.red_mask
    seals = [] if mask is None else find_seals(mask.view(np.uint8), ctx.config.scan.seal)
    return [
        line
        for line in lines
        if line.bbox is None or not any(centre_within(line.bbox, s.bbox) for s in seals)
    ]


def _columns(ctx: PageContext, top: int, text_width: int) -> bool:
    """Whether the lines below `top` mostly stand side by side, in columns.

    Only lines of a column's width count: the label cells of a telegram's header table
    (发电单位 | 天津市…) stand side by side too, but they are short.
    """
    min_width = _COLUMN_MIN_WIDTH * text_width
    lines = [
        ln.bbox
        for ln in ctx.page.lines
        if ln.bbox is not None and ln.bbox[1] >= top and ln.bbox[2] - ln.bbox[0] >= min_width
    ]
    if len(lines) < _MIN_COLUMN_LINES:
        return False
    beside = sum(1 for box in lines if any(_side_by_side(box, other) for other in lines))
    return beside >= _COLUMN_SHARE * len(lines)


def _side_by_side(a: BBox, b: BBox) -> bool:
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    apart = a[2] <= b[0] or b[2] <= a[0]
    return apart and overlap >= 0.5 * min(a[3] - a[1], b[3] - b[1])


def _confidence(
    ctx: PageContext, mark: BBox | None, rule: _Rule | None, full_mark: bool
) -> float | None:
    """How sure the red shapes are a header; None when they are not enough on this page.

    Without a rule, red glyphs are a header only as a full mark: OCR reads them as an organ
    name with its header word (…文件, …简报, …明电), or a 发文字号 stands under them. The
    rule is there but lost in the photo (faded, tilted, folded, a thumbnail), and no plaque,
    heading or masthead reads like that. Red text naming an organ alone is a gate plaque as
    much as a letterhead.
    """
    below = rule.bbox[3] if rule else (mark[3] if mark else 0)
    if mark and rule:
        between = _dark_share(ctx, (mark[0], mark[3], mark[2], rule.bbox[1]))
        return _BOTH - (0.0 if between >= _MIN_INK_SHARE else _NO_NUMBER_PENALTY)
    if not _document_below(ctx, below):
        return None
    if rule:
        return _RULE_ONLY
    return _MARK_ONLY if full_mark else None


def _describe(mark: BBox | None, rule: _Rule | None) -> str:
    if mark and rule:
        return "red organ mark and red rule"
    return "red organ mark" if mark else "red rule"


@dataclass(frozen=True)
class _Segment:
    """A piece of a rule, with the heights of its two ends: a photo not quite straight
    tilts it, so that its box is taller than the line is thick."""

    bbox: BBox
    y_left: float
    y_right: float

    @property
    def slope(self) -> float:
        return (self.y_right - self.y_left) / max(1, self.bbox[2] - self.bbox[0])


def _find_rule(
    band: Mask,
    left: int,
    right: int,
    page_height: int,
    settings: RedHeaderSettings,
    keep: Callable[[BBox], bool] = lambda _: True,
) -> _Rule | None:
    """The lowest long, thin red horizontal rule in the band (pieces split by a ★ joined)
    that `keep` accepts."""
    text_width = right - left
    max_thickness = settings.max_rule_height_ratio * page_height
    count, labels, stats = components(band)
    segments = []
    for i in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[i])
        thickness = area / max(w, 1)
        box = (x, y, x + w, y + h)
        if (
            w >= _SEGMENT_MIN_WIDTH * text_width
            and thickness <= max_thickness
            and w >= _SEGMENT_MIN_ELONGATION * thickness
            and h <= thickness + _MAX_TILT * w
            and not _at_frame_edge(box, band.shape[1])
        ):
            segments.append(_segment(labels[y : y + h, x : x + w] == i, box))
    rules = [
        r.bbox
        for r in _join_segments(segments, _SEGMENT_GAP * text_width, max_thickness)
        if r.bbox[2] - r.bbox[0] >= settings.min_rule_width_ratio * text_width and keep(r.bbox)
    ]
    if not rules:
        return None
    rules.sort(key=lambda r: r[1])
    lowest = rules[-1]
    partner = [r for r in rules[:-1] if lowest[1] - r[3] <= _DOUBLE_RULE_GAP * page_height]
    if partner:
        return _Rule(_union([lowest, partner[-1]]), double=True)
    return _Rule(lowest)


def _faint_rule(
    ctx: PageContext,
    band_height: int,
    left: int,
    right: int,
    height: int,
    settings: RedHeaderSettings,
) -> _Rule | None:
    """The rule in pale red, by the same tests: a thin rule loses its saturation to blur, and
    a monitor's moiré breaks it into dashes at the strong threshold."""
    faint = ctx.faint_red_mask
    if faint is None:
        return None
    return _solid_or_dotted_rule(faint.view(np.uint8)[:band_height], left, right, height, settings)


def _solid_or_dotted_rule(
    band: Mask, left: int, right: int, height: int, settings: RedHeaderSettings
) -> _Rule | None:
    """The rule in the band, whole or as the dots a monitor's moiré leaves of it."""
    return _find_rule(band, left, right, height, settings) or _dotted_rule(
        band, left, right, height, settings
    )


def _dotted_rule(
    band: Mask, left: int, right: int, height: int, settings: RedHeaderSettings
) -> _Rule | None:
    """A rule that a monitor's moiré breaks into dots: the dots joined along their row, and
    kept where no other long row of red stands just above or below it. A line of text that
    moiré tints red joins into a bar too, but lines of body text stand over one another,
    while near a rule stand only the short 发文字号 above and, a line's height away, the
    title below."""
    gap = np.ones((1, max(3, round(_DOT_GAP * (right - left)))), np.uint8)
    joined: Mask = np.asarray(cv2.morphologyEx(band, cv2.MORPH_CLOSE, gap), dtype=np.uint8)
    margin = max(2, round(_DOT_CLEARANCE * settings.max_rule_height_ratio * height))

    def clear(box: BBox) -> bool:
        if box[3] - box[1] > 2 * margin:  # stacked lines joined: a block, not a rule
            return False
        above = joined[max(0, box[1] - margin) : box[1], box[0] : box[2]]
        below = joined[box[3] : box[3] + margin, box[0] : box[2]]
        return all(_widest_row(strip) <= _DOT_MAX_BESIDE for strip in (above, below))

    return _find_rule(joined, left, right, height, settings, keep=clear)


def _widest_row(strip: Mask) -> float:
    """The largest share of its width that one row of `strip` covers in red."""
    return float(strip.mean(axis=1).max()) if strip.size else 0.0


def _segment(part: npt.NDArray[np.bool_], box: BBox) -> _Segment:
    """The segment of a component's pixels `part` (inside `box`), with its ends' heights."""
    end = max(1, part.shape[1] // _END_COLUMNS)
    rows = np.arange(part.shape[0], dtype=np.float64)[:, None]

    def height(cols: npt.NDArray[np.bool_]) -> float:
        return box[1] + float((rows * cols).sum() / max(1, int(cols.sum())))

    return _Segment(box, height(part[:, :end]), height(part[:, -end:]))


def _join_segments(
    segments: list[_Segment], max_gap: float, max_thickness: float
) -> list[_Segment]:
    """Collinear pieces with small gaps between them, as one rule each."""
    rules: list[_Segment] = []
    for seg in sorted(segments, key=lambda s: s.bbox[0]):
        for i, rule in enumerate(rules):
            gap = seg.bbox[0] - rule.bbox[2]
            expected = rule.y_right + rule.slope * max(gap, 0)
            if gap <= max_gap and abs(seg.y_left - expected) <= max(max_thickness, 2):
                rules[i] = _Segment(_union([rule.bbox, seg.bbox]), rule.y_left, seg.y_right)
                break
        else:
            rules.append(seg)
    return rules


def _find_mark(
    region: Mask, left: int, right: int, page_height: int, settings: RedHeaderSettings
) -> BBox | None:
    """The lowest row of large red glyphs in `region`, roughly centred on the text."""
    min_height = settings.min_mark_height_ratio * page_height
    if region.shape[0] < min_height:
        return None
    # Join the glyphs of a row (closing: the row's box stays tight around its glyphs).
    smear = max(3, round(_MARK_SMEAR * min_height))
    rows = cv2.morphologyEx(region, cv2.MORPH_CLOSE, np.ones((3, smear), np.uint8))
    count, _, stats = components(rows)
    centre, text_width = (left + right) / 2, right - left
    marks: list[BBox] = []
    for x, y, w, h, _ in stats[1:count]:
        box = (int(x), int(y), int(x + w), int(y + h))
        density = float(region[box[1] : box[3], box[0] : box[2]].mean())
        if (
            min_height <= h <= _MARK_MAX_HEIGHT * page_height
            and w >= _MARK_MIN_GLYPHS * h
            and _MARK_MIN_DENSITY <= density <= _MARK_MAX_DENSITY
            and abs((box[0] + box[2]) / 2 - centre) <= _MARK_CENTRE_TOLERANCE * text_width
            and _separate_glyphs(region[box[1] : box[3], box[0] : box[2]])
            and not _at_frame_edge(box, region.shape[1])
        ):
            marks.append(box)
    return max(marks, key=lambda b: b[3]) if marks else None


def _text_mark(ctx: PageContext, bottom: int, settings: RedHeaderSettings) -> BBox | None:
    """An organ mark that a text layer says is red, above `bottom`: its glyphs may touch (a
    condensed 小标宋, a substituted font), which the shapes alone take for a bar."""
    line = _red_organ_line(ctx, settings)
    if line is None or line.bbox is None or line.bbox[3] > bottom:
        return None
    return line.bbox


def _at_frame_edge(box: BBox, width: int) -> bool:
    """Red touching the picture's top or sides: a border, or something cut off by the frame
    (a header is printed inside the page's margins)."""
    return box[0] <= 0 or box[1] <= 0 or box[2] >= width


def _separate_glyphs(row: Mask) -> bool:
    """Red glyphs stand apart; a bar with white (knocked-out) text is one wide piece. In a
    small or blurred copy a few bold glyphs run together (管理局), but not the whole row."""
    count, _, stats = components(row)
    widest = int(stats[1:count, 2].max()) if count > 1 else 0
    return widest <= max(_MAX_GLYPH_WIDTH * row.shape[0], _MAX_RUN_SHARE * row.shape[1])


def _telegram(
    ctx: PageContext, mask: Mask, left: int, right: int, settings: RedHeaderSettings
) -> Finding | None:
    """明电 / 密码电报: a red title, then a red rule or the red top edge of a table (a monitor's
    moiré dots it: joined) whose cells hold the telegram's fields (发电单位, 等　级, 电报号).
    The table may be ruled in red all through, which makes it a grid like an invoice's; an
    invoice has neither such a title nor such cells."""
    headers, height = ctx.config.headers, _page_height(mask)
    cells = [
        (line, telegram_fields(line.text, headers))
        for line in ctx.page.lines
        if line.bbox is not None and not ctx.is_red(line)
    ]
    cells = [(line, found) for line, found in cells if found]
    if len(set().union(*(found for _, found in cells))) < _TELEGRAM_MIN_FIELDS:
        return None
    top = min(line.bbox[1] for line, _ in cells if line.bbox)
    titles = [
        line
        for line in _red_lines(ctx, max(0, top - round(_TELEGRAM_TITLE_GAP * height)), top)
        if line.bbox
        and line.bbox[3] <= top
        and line.bbox[3] - line.bbox[1] >= settings.min_mark_height_ratio * height
        and _organ_like(ctx, line)
    ]
    if not titles:
        return None
    title = max(titles, key=lambda line: line.bbox[3] if line.bbox else 0)
    assert title.bbox is not None
    # A photo's boxes of the cells may take in the table's top edge: look as far below their
    # top as a rule may be thick.
    below_top = top + round(settings.max_rule_height_ratio * height)
    rule = _solid_or_dotted_rule(mask[title.bbox[3] : below_top], left, right, height, settings)
    if rule is None:
        return None
    x0, y0, x1, y1 = rule.bbox
    edge = (x0, y0 + title.bbox[3], x1, y1 + title.bbox[3])
    return ctx.finding(
        NAME,
        LABEL,
        _BOTH + _ORGAN_TEXT_BONUS,
        title.text.strip(),
        _union([title.bbox, edge]),
        organ_mark=True,
        rule=True,
        double_rule=rule.double,
        telegram=True,
    )


def _red_grid(mask: Mask, glyph_height: int) -> bool:
    """Red lines forming a frame or table (e-invoices, forms): long red runs both ways."""
    height, width = mask.shape
    least = _GRID_MIN_GLYPHS * glyph_height
    # A frame's full rows and columns are as much red in the mask's own rows and columns:
    # where two of each are not, no component can be a frame (labelling a page costs more).
    rows = np.count_nonzero(mask, axis=1) >= _GRID_LINE_FILL * max(least, _GRID_MIN_SIDE * width)
    cols = np.count_nonzero(mask, axis=0) >= _GRID_LINE_FILL * max(least, _GRID_MIN_SIDE * height)
    if np.count_nonzero(rows) < 2 or np.count_nonzero(cols) < 2:
        return False
    count, labels, stats = components(mask)
    for i in range(1, count):
        x, y, w, h, _ = stats[i]
        if min(w, h) <= least or w < _GRID_MIN_SIDE * width or h < _GRID_MIN_SIDE * height:
            continue
        part = labels[y : y + h, x : x + w] == i
        rows = int((part.mean(axis=1) >= _GRID_LINE_FILL).sum())
        cols = int((part.mean(axis=0) >= _GRID_LINE_FILL).sum())
        if rows >= 2 and cols >= 2:
            return True
    return False


# Page context.


def _tallest_line(ctx: PageContext) -> int:
    """Height of the page's tallest horizontal OCR line (0 without any)."""
    boxes = [ln.bbox for ln in ctx.page.lines if ln.bbox is not None]
    return max((b[3] - b[1] for b in boxes if b[2] - b[0] >= b[3] - b[1]), default=0)


def _page_height(mask: Mask) -> int:
    """Height of the page the image shows, assuming an A4 portrait page as wide as the image.

    A photo of the top half of a page is wide: its header band is most of its height.
    """
    height, width = mask.shape
    return max(height, round(math.sqrt(2) * width))


def _share(mask: Mask) -> float:
    """The red share of a mask region; an empty region has none."""
    return float(mask.mean()) if mask.size else 0.0


def _text_area(ctx: PageContext, mask: Mask, left: int, right: int) -> tuple[Mask, int]:
    """The part of the mask from the first to the last line of text, in the text's columns
    (the whole mask when there is too little text to tell), and its top row."""
    boxes = [line.bbox for line in ctx.page.lines if line.bbox is not None]
    if len(boxes) < 3:
        return mask, 0
    # A margin around the text keeps a form's frame lines, which stand just outside it.
    pad = round(_TEXT_AREA_PAD * mask.shape[1])
    top = max(0, min(b[1] for b in boxes) - pad)
    bottom = max(b[3] for b in boxes) + pad
    return mask[top:bottom, max(0, left - pad) : right + pad], top


def _text_extent(ctx: PageContext) -> tuple[int, int]:
    """Left and right edge of the page's text (the rule spans it), at least half the page."""
    width = ctx.page.width
    boxes = [line.bbox for line in ctx.page.lines if line.bbox is not None]
    if len(boxes) >= 3:
        left = int(np.percentile([b[0] for b in boxes], 10))
        right = int(np.percentile([b[2] for b in boxes], 90))
    else:
        left, right = _ink_columns(ctx)
    if right - left < width / 2:
        centre = (left + right) / 2
        left, right = round(centre - width / 4), round(centre + width / 4)
    return left, right


def _ink_columns(ctx: PageContext) -> tuple[int, int]:
    image = ctx.page.image
    assert image is not None
    dark = image[::4, ::4].max(axis=2) < _ink_level(image)
    columns = np.flatnonzero(dark.mean(axis=0) > 0.002)
    if columns.size < 2:
        return 0, ctx.page.width
    return int(columns[0]) * 4, int(columns[-1]) * 4


def _dark_share(ctx: PageContext, box: BBox) -> float:
    """Share of dark (black-ink) pixels in a box of the page image."""
    image = ctx.page.image
    x0, y0, x1, y1 = box
    if image is None or x1 <= x0 or y1 <= y0:
        return 0.0
    return float((image[y0:y1, x0:x1].max(axis=2) < _ink_level(image)).mean())


def _ink_level(image: npt.NDArray[np.uint8]) -> float:
    """Brightness under which a pixel is black ink, relative to the paper (photos are dim)."""
    return _DARK * float(paper_color(image).max())


def _document_below(ctx: PageContext, top: int) -> bool:
    """Whether black body text follows below `top`, as on a document page."""
    lines = [ln for ln in ctx.page.lines if ln.bbox is not None]
    if lines:
        below = [ln for ln in lines if ln.bbox and ln.bbox[1] >= top]
        return sum(1 for ln in below if not ctx.is_red(ln)) >= _MIN_BODY_LINES
    share = _dark_share(ctx, (0, top, ctx.page.width, ctx.page.height))
    return _MIN_INK_SHARE <= share <= _MAX_INK_SHARE


def _red_lines(ctx: PageContext, top: int, bottom: int) -> list[TextLine]:
    """Lines starting between `top` and `bottom` that are printed in red. A text layer
    (its lines carry a font size) says so itself: black text under a red seal is black."""
    return [
        line
        for line in ctx.page.lines
        if line.bbox is not None
        and top <= line.bbox[1] < bottom
        and (line.color == "red" if line.size is not None else ctx.is_red(line))
    ]


def _mark_lines(red_text: list[TextLine], mark: BBox | None) -> list[TextLine]:
    """The red lines that are the mark: those on its rows, or without a mark found (its
    glyphs touch), the largest ones."""
    if mark is not None:
        on_mark = [line for line in red_text if _same_rows(line, mark)]
        if on_mark:
            return on_mark
    heights = [ln.bbox[3] - ln.bbox[1] for ln in red_text if ln.bbox is not None]
    tallest = max(heights, default=0)
    return [
        ln
        for ln in red_text
        if ln.bbox is not None and ln.bbox[3] - ln.bbox[1] >= _MARK_LINE_SHARE * tallest
    ]


def _same_rows(line: TextLine, box: BBox) -> bool:
    """Whether the line's box and `box` share rows (the line is part of the mark)."""
    return line.bbox is not None and min(line.bbox[3], box[3]) > max(line.bbox[1], box[1])


def _union(boxes: list[BBox]) -> BBox:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


# The text path.


def _textual(ctx: PageContext, settings: RedHeaderSettings) -> list[Finding]:
    line = _red_organ_line(ctx, settings)
    if line is None:
        return []
    return [ctx.finding(NAME, LABEL, _TEXT_PATH, line.text.strip(), line.bbox)]


def _red_organ_line(ctx: PageContext, settings: RedHeaderSettings) -> TextLine | None:
    """The first line that a text layer prints in red, large, at the top, naming an organ."""
    words = _banner_words(settings.banner_words)
    for line in ctx.page.lines:
        if (
            line.color == "red"
            and (line.size or 0) >= settings.min_text_size
            and ctx.in_top_zone(line)
            and _organ_like(ctx, line)
            and not words.search(normalize(line.text))
        ):
            return line
    return None


def _organ_like(ctx: PageContext, line: TextLine) -> bool:
    """Reads like an organ mark: an organ name (…人民政府, …局文件, …办公室明电) or a header
    title that names none (密码电报); not a marking printed in red (内部文件 ends like
    某某局文件)."""
    organ = ctx.config.headers.organ_mark
    compact = normalize(line.text)
    if not compact or any_marking(ctx.config.markings).fullmatch(compact):
        return False
    return compact in organ.titles or organ_name(compact, organ)


@lru_cache(maxsize=8)
def _banner_words(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(alternation(words) if words else r"(?!)")
