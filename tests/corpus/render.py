"""GB/T 9704-2012 page layout and rasterisation.

`layout(doc, rng)` places a `Document` on A4 pages and returns one `PageSpec` per page: a list
of named `Element`s (份号, 密级, 版头, 红线, 印章, 版记, …), each made of text `Run`s and vector
shapes in page pixels. `rasterize(spec)` draws a spec as an RGB image; `files.py` writes the same
runs and shapes as PDF/OFD vectors, and `labels.py` reads element names and boxes to decide
what a detector must see. Geometry follows the standard in millimetres with random deviations
(margins, sizes, spacing, fonts), because real units bend every rule a little.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tests.corpus.document import TABLE_HEADER, Document, make_document

RGB = tuple[int, int, int]
Box = tuple[float, float, float, float]

FONT_DIR = "/usr/share/fonts"
FONTS: dict[str, tuple[str, int]] = {
    # key: (file, face index). Index 2 is the Simplified Chinese face of the Noto collections.
    "serif": (f"{FONT_DIR}/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    "serif_bold": (f"{FONT_DIR}/opentype/noto/NotoSerifCJK-Bold.ttc", 2),
    "sans": (f"{FONT_DIR}/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    "sans_bold": (f"{FONT_DIR}/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    "wqy": (f"{FONT_DIR}/truetype/wqy/wqy-microhei.ttc", 0),
}
BOLD_FONTS = frozenset({"serif_bold", "sans_bold"})

# Fandol (仿宋, 宋, 楷, 黑; Debian's texlive-lang-chinese): closer to the GB/T 9704 typefaces
# than Noto, and never used to tune a threshold. `use_held_out_fonts` draws with them.
HELD_OUT_FONTS = {
    "serif": "FandolFang-Regular.otf",
    "serif_bold": "FandolSong-Bold.otf",
    "sans": "FandolKai-Regular.otf",
    "sans_bold": "FandolHei-Bold.otf",
    "wqy": "FandolHei-Regular.otf",
}

A4_MM = (210.0, 297.0)
BASE_DPI = 150.0
# Ideographic em box: CJK glyphs sit between -0.12 em and 0.88 em around the baseline.
ASCENT = 0.88
DESCENT = 0.12
WHITE: RGB = (255, 255, 255)


# A FreeType face costs about 2 MB; sizes vary per document, so keep only the recent ones.
@functools.lru_cache(maxsize=64)
def font(key: str, px: int) -> ImageFont.FreeTypeFont:
    path, index = FONTS[key]
    return ImageFont.truetype(path, max(4, px), index=index)


@functools.lru_cache(maxsize=200_000)
def _char_width(key: str, px: int, char: str) -> float:
    return float(font(key, px).getlength(char))


def use_held_out_fonts(folder: Path) -> None:
    """Draw every later page with the Fandol fonts in `folder` (a check on fonts nothing was
    tuned on). Corpus workers are forked, so they draw with them too."""
    missing = [name for name in HELD_OUT_FONTS.values() if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: no {', '.join(missing)}")
    FONTS.update({key: (str(folder / name), 0) for key, name in HELD_OUT_FONTS.items()})
    font.cache_clear()
    _char_width.cache_clear()


def text_width(key: str, size: float, text: str) -> float:
    """Advance width of `text`; CJK layout has no kerning, so per-character sums are exact."""
    px = round(size)
    return sum(_char_width(key, px, c) for c in text)


def red_ink(rng: random.Random) -> RGB:
    """Official red: variations around (200-235, 0-40, 0-40)."""
    return (rng.randint(200, 235), rng.randint(0, 40), rng.randint(0, 40))


def black_ink(rng: random.Random) -> RGB:
    v = rng.randint(0, 35)
    return (v, v, v)


# --- page model --------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One line of text: left edge x, baseline y, em size, all in page pixels."""

    text: str
    x: float
    y: float
    size: float
    font: str
    color: RGB
    scale_x: float = 1.0
    """Horizontal squeeze, as units compress long organ names to fit the width."""
    tracking: float = 0.0
    """Extra space after each character, in pixels."""

    @property
    def width(self) -> float:
        natural = text_width(self.font, self.size, self.text) * self.scale_x
        return natural + self.tracking * max(0, len(self.text) - 1)

    @property
    def box(self) -> Box:
        return (
            self.x,
            self.y - ASCENT * self.size,
            self.x + self.width,
            self.y + DESCENT * self.size,
        )

    def char_positions(self) -> Iterator[tuple[str, float]]:
        """(character, left x) pairs, for writers that place characters one by one."""
        x = self.x
        for char in self.text:
            yield char, x
            x += _char_width(self.font, round(self.size), char) * self.scale_x + self.tracking


@dataclass(frozen=True)
class Rule:
    """A straight line of `width` pixels."""

    x0: float
    y0: float
    x1: float
    y1: float
    width: float
    color: RGB

    @property
    def box(self) -> Box:
        half = self.width / 2
        return (
            min(self.x0, self.x1) - half,
            min(self.y0, self.y1) - half,
            max(self.x0, self.x1) + half,
            max(self.y0, self.y1) + half,
        )


@dataclass(frozen=True)
class Frame:
    """A rectangle outline (width > 0) and/or fill."""

    rect: Box
    width: float
    color: RGB
    fill: RGB | None = None

    @property
    def box(self) -> Box:
        return self.rect


@dataclass(frozen=True)
class Star:
    """A filled five-pointed star."""

    cx: float
    cy: float
    r: float
    color: RGB

    @property
    def box(self) -> Box:
        return (self.cx - self.r, self.cy - self.r, self.cx + self.r, self.cy + self.r)

    def points(self) -> list[tuple[float, float]]:
        return star_points(self.cx, self.cy, self.r)


@dataclass(frozen=True)
class Stamp:
    """A seal: ring (round or oval), optional star, text along the upper arc, inner lines."""

    cx: float
    cy: float
    r: float
    color: RGB
    text: str
    star: bool = True
    inner: tuple[str, ...] = ()
    aspect: float = 1.0
    """Height / width; < 1 for the oval invoice seals."""
    rotation: float = 0.0
    font: str = "serif_bold"

    @property
    def box(self) -> Box:
        ry = self.r * self.aspect
        return (self.cx - self.r, self.cy - ry, self.cx + self.r, self.cy + ry)


Shape = Rule | Frame | Star | Stamp


@dataclass
class Element:
    """A named part of a page. Names are the vocabulary of `labels.py`."""

    name: str
    runs: list[Run] = field(default_factory=list)
    shapes: list[Shape] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    fixed_box: Box | None = None
    """For elements drawn directly on a base image (negatives): where they are."""

    @property
    def box(self) -> Box:
        if self.fixed_box is not None:
            return self.fixed_box
        boxes = [r.box for r in self.runs] + [s.box for s in self.shapes]
        return union(boxes)


@dataclass
class PageSpec:
    """One page: size, named elements, and facts for the manifest."""

    width: int
    height: int
    dpi: float
    elements: list[Element] = field(default_factory=list)
    form: str = ""
    page_no: int = 1
    page_count: int = 1
    facts: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    base: Image.Image | None = None
    """A pre-drawn background (negatives draw freely with PIL and record elements here)."""

    def find(self, name: str) -> list[Element]:
        return [e for e in self.elements if e.name == name]

    def has(self, name: str) -> bool:
        return any(e.name == name for e in self.elements)

    def add(self, name: str, *items: Run | Shape, **attrs: Any) -> Element:
        element = Element(name, attrs=dict(attrs))
        for item in items:
            (element.runs if isinstance(item, Run) else element.shapes).append(item)
        self.elements.append(element)
        return element

    def text_lines(self) -> list[str]:
        """The page's text in reading order (top to bottom, then left to right)."""
        runs = sorted((r for e in self.elements for r in e.runs), key=lambda r: (r.y, r.x))
        return [r.text for r in runs]


def union(boxes: Iterable[Box]) -> Box:
    xs0, ys0, xs1, ys1 = zip(*boxes, strict=True)
    return (min(xs0), min(ys0), max(xs1), max(ys1))


def star_points(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    inner = r * 0.382
    points = []
    for i in range(10):
        radius = r if i % 2 == 0 else inner
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return points


# --- style -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """Page geometry and typography of one document, in pixels."""

    dpi: float
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    body_px: float
    pitch: float
    title_px: float
    body_font: str
    title_font: str
    mark_font: str
    marking_font: str
    heading_font: str
    red: RGB
    black: RGB

    def mm(self, value: float) -> float:
        return value * self.dpi / 25.4

    def pt(self, value: float) -> float:
        return value * self.dpi / 72

    @property
    def text_width(self) -> float:
        return self.right - self.left


def make_style(rng: random.Random, scale: float = 1.0) -> Style:
    dpi = BASE_DPI * scale

    def mm(v: float) -> float:
        return v * dpi / 25.4

    width, height = round(mm(A4_MM[0])), round(mm(A4_MM[1]))
    left = mm(28 + rng.uniform(-7, 5))
    right = width - mm(26 + rng.uniform(-7, 6))
    body_px = dpi / 72 * 16 * rng.uniform(0.82, 1.06)
    return Style(
        dpi=dpi,
        width=width,
        height=height,
        left=left,
        right=right,
        top=mm(37 + rng.uniform(-12, 6)),
        bottom=height - mm(35 + rng.uniform(-10, 5)),
        body_px=body_px,
        pitch=body_px * rng.uniform(1.45, 1.95),
        title_px=dpi / 72 * rng.choice((18, 20, 22, 22, 22, 24)),
        body_font=rng.choices(("serif", "wqy", "sans"), weights=(6, 2, 2))[0],
        title_font=rng.choices(("serif_bold", "sans_bold"), weights=(7, 3))[0],
        mark_font=rng.choices(("serif_bold", "sans_bold"), weights=(8, 2))[0],
        marking_font=rng.choices(("sans_bold", "serif_bold", "sans"), weights=(7, 2, 1))[0],
        heading_font=rng.choice(("sans", "sans_bold", "wqy")),
        red=red_ink(rng),
        black=black_ink(rng),
    )


# --- text wrapping -----------------------------------------------------------------------

# Characters that must not start a line (禁则): they hang at the end of the previous one.
NO_LINE_START = frozenset("，。、；：？！）》”’〕」』】%")


def wrap(text: str, key: str, size: float, width: float, first_indent: float = 0.0) -> list[str]:
    lines: list[str] = []
    current, used, limit = "", 0.0, width - first_indent
    px = round(size)
    for char in text:
        advance = _char_width(key, px, char)
        if used + advance > limit + 0.5 and current and char not in NO_LINE_START:
            lines.append(current)
            current, used, limit = "", 0.0, width
        current += char
        used += advance
    if current:
        lines.append(current)
    return lines


# --- the flow of lines over pages --------------------------------------------------------


class Flow:
    """Places lines top to bottom, starting a new page when the version heart is full."""

    def __init__(self, doc: Document, style: Style, rng: random.Random, seed: int) -> None:
        self.doc, self.style, self.rng, self.seed = doc, style, rng, seed
        self.pages: list[PageSpec] = []
        self.y = 0.0
        self.new_page()

    @property
    def page(self) -> PageSpec:
        return self.pages[-1]

    def new_page(self) -> None:
        s = self.style
        self.pages.append(
            PageSpec(
                s.width,
                s.height,
                s.dpi,
                form=self.doc.form,
                page_no=len(self.pages) + 1,
                seed=self.seed * 31 + len(self.pages),
            )
        )
        self.y = s.top + ASCENT * s.body_px

    def ensure(self, height: float) -> None:
        if self.y + height - self.style.pitch > self.style.bottom:
            self.new_page()

    def line(
        self,
        name: str,
        text: str,
        *,
        size: float | None = None,
        key: str | None = None,
        color: RGB | None = None,
        align: str = "left",
        indent: float = 0.0,
        pitch: float | None = None,
    ) -> Run:
        """Adds one line to the element `name` of the current page (lines of the same name on
        one page share one element: all body text of a page is one `body`)."""
        s = self.style
        size = size or s.body_px
        pitch = pitch or s.pitch
        self.ensure(pitch)
        run = self.aligned(text, size, key or s.body_font, color or s.black, align, indent)
        self._element(name).runs.append(run)
        self.y += pitch
        return run

    def aligned(
        self, text: str, size: float, key: str, color: RGB, align: str, indent: float
    ) -> Run:
        s = self.style
        width = text_width(key, size, text)
        x = {
            "left": s.left + indent,
            "center": s.left + (s.text_width - width) / 2,
            "right": s.right - indent - width,
        }[align]
        return Run(text, x, self.y, size, key, color)

    def _element(self, name: str) -> Element:
        found = self.page.find(name)
        return found[-1] if found else self.page.add(name)

    def paragraph(
        self,
        name: str,
        text: str,
        *,
        indent_chars: float = 2,
        key: str | None = None,
        size: float | None = None,
    ) -> None:
        s = self.style
        key, size = key or s.body_font, size or s.body_px
        lines = wrap(text, key, size, s.text_width, indent_chars * size)
        for i, line in enumerate(lines):
            self.line(name, line, key=key, size=size, indent=indent_chars * size if i == 0 else 0)

    def skip(self, lines: float = 1.0) -> None:
        self.y += self.style.pitch * lines


# --- header ------------------------------------------------------------------------------


def _marking_run(s: Style, text: str, x: float, y: float, right: bool) -> Run:
    width = text_width(s.marking_font, s.body_px, text)
    return Run(text, s.right - width if right else x, y, s.body_px, s.marking_font, s.black)


def _top_block(flow: Flow, left_start: float | None = None) -> float:
    """份号, 密级和保密期限, 紧急程度 top-left (one per line), handling marking and draft state
    left or top-right. Returns the baseline after the left block."""
    doc, s, page = flow.doc, flow.style, flow.page
    y = left_start if left_start is not None else s.top + ASCENT * s.body_px
    left_items = [
        (name, value)
        for name, value in (
            ("copy_number", doc.copy_number),
            ("classification", doc.classification),
            ("urgency", doc.urgency),
            ("handling", None if doc.handling_right else doc.handling),
        )
        if value
    ]
    for name, value in left_items:
        font_key = s.body_font if name == "copy_number" else s.marking_font
        run = replace(_marking_run(s, value, s.left, y, right=False), font=font_key)
        _add_marking(s, page, name, run, boxed=name == "handling" and doc.handling_boxed)
        y += s.pitch
    right_y = s.top + ASCENT * s.body_px
    for name, value in (
        ("handling", doc.handling if doc.handling_right else None),
        ("draft", doc.draft),
    ):
        if value:
            run = _marking_run(s, value, s.left, right_y, right=True)
            _add_marking(s, page, name, run, boxed=name == "handling" and doc.handling_boxed)
            right_y += s.pitch
    return max(y, right_y if (doc.handling_right or doc.draft) else y)


def _add_marking(s: Style, page: PageSpec, name: str, run: Run, *, boxed: bool) -> None:
    shapes: list[Shape] = []
    if boxed:
        pad = s.body_px * 0.25
        x0, y0, x1, y1 = run.box
        shapes.append(Frame((x0 - pad, y0 - pad, x1 + pad, y1 + pad), max(1.0, s.mm(0.3)), s.black))
    page.add(name, run, *shapes, text=run.text)


def _fit_mark(s: Style, text: str, size: float, avail: float, rng: random.Random) -> Run:
    """A red organ-mark run at `size`, squeezed to fit or letter-spaced when short."""
    natural = text_width(s.mark_font, size, text)
    scale_x, tracking = 1.0, 0.0
    if rng.random() < 0.35:  # condensed 长宋-like marks, taller than wide
        scale_x = rng.uniform(0.7, 0.9)
        natural *= scale_x
    if natural > avail:
        scale_x *= avail * rng.uniform(0.92, 0.99) / natural
        if scale_x < 0.5:
            size *= scale_x / 0.5
            scale_x = 0.5
    elif len(text) <= 9 and scale_x == 1.0 and rng.random() < 0.4:
        tracking = min(size * rng.uniform(0.1, 0.5), (avail - natural) / max(1, len(text) - 1))
    return Run(text, 0, 0, size, s.mark_font, s.red, scale_x, tracking)


def _centered(s: Style, run: Run, baseline: float) -> Run:
    return replace(run, x=s.left + (s.text_width - run.width) / 2, y=baseline)


def _organ_mark(flow: Flow, top: float, height_mm: tuple[float, float]) -> float:
    """Places the red organ mark with its top edge at `top`; returns its bottom edge."""
    doc, s, rng = flow.doc, flow.style, flow.rng
    size = s.mm(rng.uniform(*height_mm)) / 0.92
    if len(doc.mark) == 2:
        return _joint_mark(flow, top, size)
    run = _fit_mark(s, doc.mark_text, size, s.text_width, rng)
    run = _centered(s, run, top + ASCENT * run.size)
    flow.page.add("organ_mark", run, text=doc.mark_text, strong=doc.strong_mark)
    return run.box[3]


def _joint_mark(flow: Flow, top: float, size: float) -> float:
    """联合行文: two organ names stacked, 文件 to their right spanning both lines."""
    doc, s, rng = flow.doc, flow.style, flow.rng
    size *= 0.7
    suffix_size = size * 1.7
    suffix_w = text_width(s.mark_font, suffix_size, doc.mark_suffix)
    avail = s.text_width - suffix_w - size * 0.5
    names = [_fit_mark(s, name, size, avail, rng) for name in doc.mark]
    block_w = max(r.width for r in names)
    x0 = s.left + (s.text_width - block_w - size * 0.5 - suffix_w) / 2
    pitch = size * 1.15
    runs = [
        replace(r, x=x0 + (block_w - r.width) / 2, y=top + ASCENT * size + i * pitch)
        for i, r in enumerate(names)
    ]
    middle = top + (pitch + size) / 2
    runs.append(
        Run(
            doc.mark_suffix,
            x0 + block_w + size * 0.5,
            middle + (ASCENT - 0.5) * suffix_size,
            suffix_size,
            s.mark_font,
            s.red,
        )
    )
    flow.page.add("organ_mark", *runs, text=doc.mark_text, strong=doc.strong_mark)
    return max(r.box[3] for r in runs)


def _rule(flow: Flow, y: float, *, width: float | None = None) -> None:
    """The red separator: single, with a star in the middle (party documents), or double."""
    doc, s, rng = flow.doc, flow.style, flow.rng
    thick = rng.uniform(2, 6) * s.dpi / BASE_DPI
    x0, x1 = s.left, s.right
    if width is not None:
        x0, x1 = (s.width - width) / 2, (s.width + width) / 2
    shapes: list[Shape] = []
    if doc.rule == "star":
        r = s.body_px * rng.uniform(0.45, 0.7)
        mid = (x0 + x1) / 2
        gap = r * 1.6
        shapes += [
            Rule(x0, y, mid - gap, y, thick, s.red),
            Star(mid, y - r * 0.08, r, s.red),
            Rule(mid + gap, y, x1, y, thick, s.red),
        ]
    elif doc.rule == "double":
        thin = max(1.0, thick / 3)
        gap = s.mm(rng.uniform(0.8, 1.6))
        shapes += [Rule(x0, y, x1, y, thick, s.red), Rule(x0, y + gap, x1, y + gap, thin, s.red)]
    else:
        shapes.append(Rule(x0, y, x1, y, thick, s.red))
    flow.page.add("rule", *shapes, kind=doc.rule)


def _header_file(flow: Flow) -> None:
    """文件格式 and 上行文: marking block, organ mark, number (with 签发人), red rule."""
    doc, s, rng = flow.doc, flow.style, flow.rng
    after_block = _top_block(flow)
    offset = rng.uniform(22, 40) if doc.form == "file" else rng.uniform(45, 75)
    top = max(s.top + s.mm(offset) - s.body_px, after_block - s.body_px * 0.4)
    bottom = _organ_mark(flow, top, (11, 20))
    y = bottom + s.pitch * rng.uniform(1.1, 2.1) + ASCENT * s.body_px
    if doc.issuer:
        run = Run(doc.doc_number or "", s.left + s.body_px, y, s.body_px, s.body_font, s.black)
        flow.page.add("doc_number", run, text=run.text, alone=False)
        label = Run("签发人：", 0, y, s.body_px, s.body_font, s.black)
        name = Run(doc.issuer, 0, y, s.body_px, rng.choice(("serif", "sans")), s.black)
        name = replace(name, x=s.right - s.body_px - name.width)
        flow.page.add("issuer", replace(label, x=name.x - label.width), name, text=doc.issuer)
    else:
        run = Run(doc.doc_number or "", 0, y, s.body_px, s.body_font, s.black)
        flow.page.add("doc_number", _centered(s, run, y), text=run.text, alone=True)
    rule_y = y + DESCENT * s.body_px + s.mm(rng.uniform(3, 5))
    _rule(flow, rule_y)
    flow.y = rule_y + s.pitch * rng.uniform(1.5, 2.2) + ASCENT * s.title_px


def _header_letter(flow: Flow) -> None:
    """信函格式: organ name in red, red double line, then 份号/密级 left and number right."""
    doc, s, rng = flow.doc, flow.style, flow.rng
    top = s.mm(rng.uniform(22, 32))
    bottom = _organ_mark(flow, top, (9, 15))
    line_w = min(s.mm(170), s.width - s.mm(16))
    rule_y = bottom + s.mm(rng.uniform(3, 5))
    _rule(flow, rule_y, width=line_w)
    first = rule_y + s.pitch * 0.8 + ASCENT * s.body_px
    after = _top_block(flow, left_start=first) if _has_left_block(doc) else first
    run = Run(doc.doc_number or "", 0, first, s.body_px, s.body_font, s.black)
    run = replace(run, x=s.right - run.width)
    flow.page.add("doc_number", run, text=run.text, alone=not _has_left_block(doc))
    bottom_y = s.height - s.mm(20)
    thick = rng.uniform(2, 5) * s.dpi / BASE_DPI
    x0 = (s.width - line_w) / 2
    flow.page.add(
        "letter_footer",
        Rule(
            x0, bottom_y - s.mm(1.2), x0 + line_w, bottom_y - s.mm(1.2), max(1.0, thick / 3), s.red
        ),
        Rule(x0, bottom_y, x0 + line_w, bottom_y, thick, s.red),
    )
    flow.y = max(after, first + s.pitch) + s.pitch * 0.8 + ASCENT * s.title_px


def _has_left_block(doc: Document) -> bool:
    return bool(
        doc.copy_number
        or doc.classification
        or doc.urgency
        or (doc.handling and not doc.handling_right)
    )


def _header_minutes(flow: Flow) -> None:
    """纪要/简报: red name, issue number, office and date on one line, red rule."""
    doc, s, rng = flow.doc, flow.style, flow.rng
    after_block = _top_block(flow)
    top = max(s.top + s.mm(rng.uniform(8, 30)), after_block)
    bottom = _organ_mark(flow, top, (10, 17))
    issue, office = doc.issue_line or ("", "")
    y = bottom + s.pitch * rng.uniform(0.8, 1.5) + ASCENT * s.body_px
    issue_run = Run(issue, 0, y, s.body_px, s.body_font, s.black)
    flow.page.add("issue_number", _centered(s, issue_run, y), text=issue)
    y += s.pitch * rng.uniform(1.0, 1.6)
    office_run = Run(office, s.left, y, s.body_px, s.body_font, s.black)
    date_run = Run(doc.date, 0, y, s.body_px, s.body_font, s.black)
    date_run = replace(date_run, x=s.right - date_run.width)
    flow.page.add("issue_line", office_run, date_run, text=f"{office} {doc.date}")
    rule_y = y + DESCENT * s.body_px + s.mm(rng.uniform(2, 4))
    _rule(flow, rule_y)
    flow.y = rule_y + s.pitch * rng.uniform(1.2, 2.0) + ASCENT * s.title_px


def _header_telegram(flow: Flow) -> None:
    """明电/密码电报: marking block, red title, red rule, field table."""
    doc, s, rng = flow.doc, flow.style, flow.rng
    after_block = _top_block(flow)
    top = max(s.top + s.mm(rng.uniform(5, 20)), after_block)
    bottom = _organ_mark(flow, top, (10, 18))
    rule_y = bottom + s.mm(rng.uniform(3, 5))
    _rule(flow, rule_y)
    size = s.body_px * rng.uniform(0.8, 0.95)
    row_h = size * rng.uniform(1.8, 2.3)
    y0 = rule_y + s.mm(rng.uniform(3, 6))
    cols = [
        s.left,
        s.left + s.text_width * 0.17,
        s.left + s.text_width * 0.6,
        s.left + s.text_width * 0.75,
        s.right,
    ]
    grid_color = s.red if rng.random() < 0.5 else s.black
    thin = max(1.0, s.mm(0.25))
    shapes: list[Shape] = [Frame((s.left, y0, s.right, y0 + 2 * row_h), thin, grid_color)]
    shapes += [Rule(s.left, y0 + row_h, s.right, y0 + row_h, thin, grid_color)]
    shapes += [Rule(x, y0, x, y0 + 2 * row_h, thin, grid_color) for x in cols[1:-1]]
    runs = []
    for i, (label, value) in enumerate(doc.telegram):
        row, col = divmod(i, 2)
        base = y0 + row * row_h + (row_h + size * (ASCENT - DESCENT)) / 2
        runs.append(Run(label, cols[2 * col] + size * 0.4, base, size, s.marking_font, s.black))
        cell_w = cols[2 * col + 2] - cols[2 * col + 1] - size * 0.8
        value_run = Run(value, cols[2 * col + 1] + size * 0.4, base, size, s.body_font, s.black)
        if value_run.width > cell_w:
            value_run = replace(value_run, scale_x=cell_w / value_run.width)
        runs.append(value_run)
    flow.page.add("telegram_fields", *runs, *shapes, text=" ".join(r.text for r in runs))
    flow.y = y0 + 2 * row_h + s.pitch * rng.uniform(1.2, 1.8) + ASCENT * s.title_px


def _header_plain(flow: Flow) -> None:
    """Lists and internal papers: only the marking block, then the title."""
    s = flow.style
    after = _top_block(flow)
    if flow.doc.form == "list" and flow.rng.random() < 0.5:
        run = Run(
            f"附件{flow.rng.randint(1, 4)}", s.left, after, s.body_px, s.heading_font, s.black
        )
        flow.page.add("attachment_label", run, text=run.text)
        after += s.pitch
    flow.y = after + s.pitch * flow.rng.uniform(0.6, 1.4) + ASCENT * s.title_px


HEADERS = {
    "file": _header_file,
    "upward": _header_file,
    "letter": _header_letter,
    "minutes": _header_minutes,
    "bulletin": _header_minutes,
    "telegram": _header_telegram,
    "list": _header_plain,
    "internal": _header_plain,
}


# --- body --------------------------------------------------------------------------------


def _title(flow: Flow) -> None:
    doc, s = flow.doc, flow.style
    lines = wrap(doc.title, s.title_font, s.title_px, s.text_width * 0.86)
    if len(lines) == 2 and len(lines[1]) < len(lines[0]) // 3:
        half = (len(doc.title) + 1) // 2  # balance the two title lines, as typesetters do
        lines = [doc.title[:half], doc.title[half:]]
    flow.y -= s.pitch - s.title_px * 1.4  # the first title line already sits on flow.y
    for line in lines:
        flow.line(
            "title", line, size=s.title_px, key=s.title_font, align="center", pitch=s.title_px * 1.4
        )
    flow.page.find("title")[-1].attrs.update(text=doc.title, draft=doc.title_draft)
    flow.y += s.pitch - s.title_px * 1.4 + s.pitch * flow.rng.uniform(0.3, 1.0)


def _body(flow: Flow) -> None:
    doc, s = flow.doc, flow.style
    if doc.addressee:
        flow.paragraph("addressee", doc.addressee, indent_chars=0)
    for para in doc.paragraphs:
        key = s.heading_font if para.kind == "h1" else s.body_font
        flow.paragraph("body", para.text, key=key)
    if doc.attachments:
        flow.skip(flow.rng.choice((0, 1)))
        for i, item in enumerate(doc.attachments):
            prefix = "附件：" if i == 0 else "　　　"
            number = f"{i + 1}．" if len(doc.attachments) > 1 else ""
            flow.line("attachments", prefix + number + item, indent=2 * s.body_px)


def _signature(flow: Flow) -> None:
    """Signing organ and date at the right; the seal presses on both (印章下压署名和日期)."""
    doc, s, rng = flow.doc, flow.style, flow.rng
    seal_r = s.mm(rng.uniform(19, 22)) if doc.seal else 0.0
    need = (seal_r * 1.4 if doc.seal else s.pitch * 3) + s.pitch * (2 + bool(doc.note))
    flow.ensure(need)
    flow.skip(rng.uniform(0.8, 1.2) if doc.seal else rng.uniform(1.5, 2.5))
    if doc.seal:
        flow.y += seal_r * 0.9
    date_run = flow.aligned(doc.date, s.body_px, s.body_font, s.black, "right", 4 * s.body_px)
    centre = date_run.x + date_run.width / 2
    if doc.signature:
        sig = Run(doc.signature, 0, flow.y, s.body_px, s.body_font, s.black)
        sig = replace(sig, x=min(centre - sig.width / 2, s.right - sig.width))
        flow.page.add("signature", sig, text=doc.signature)
        flow.y += s.pitch
    date_run = replace(date_run, y=flow.y)
    flow.page.add("date", date_run, text=doc.date)
    flow.y += s.pitch
    if doc.seal:
        # Signature and date sit a little below the seal's centre (GB/T 9704 7.3.5.1).
        cy = date_run.y - s.pitch * rng.uniform(0.7, 1.3)
        stamp = Stamp(
            centre + rng.uniform(-0.15, 0.15) * seal_r,
            cy,
            seal_r,
            red_ink(rng),
            doc.seal_text,
            rotation=rng.uniform(-12, 12),
        )
        flow.page.add("seal", stamp, text=doc.seal_text)
        flow.y = max(flow.y, cy + seal_r + ASCENT * s.body_px)
    if doc.note:
        name = "note_public" if doc.public else "note_private"
        flow.line(name, doc.note, indent=2 * s.body_px)


def _colophon(flow: Flow) -> None:
    """版记 at the foot of the last page: 抄送 and 印发 lines between thin black lines."""
    doc, s, rng = flow.doc, flow.style, flow.rng
    if not doc.printer:
        return
    size = s.body_px * rng.uniform(0.85, 0.95)
    cc_lines = wrap(doc.cc or "", s.body_font, size, s.text_width - 2 * size) if doc.cc else []
    pitch = size * 1.6
    height = pitch * (len(cc_lines) + 1) + size * 0.8
    if flow.y - s.pitch + height > s.bottom:
        flow.new_page()
    y_top = s.bottom - height
    thick, thin = max(1.0, s.mm(0.35)), max(1.0, s.mm(0.25))
    element = flow.page.add("colophon", Rule(s.left, y_top, s.right, y_top, thick, s.black))
    y = y_top + size * 0.3 + pitch * 0.85
    for line in cc_lines:
        element.runs.append(Run(line, s.left + size, y, size, s.body_font, s.black))
        y += pitch
    if cc_lines:
        sep = y - pitch * 0.75
        element.shapes.append(Rule(s.left, sep, s.right, sep, thin, s.black))
    office, printed = doc.printer
    element.runs.append(Run(office, s.left + size, y, size, s.body_font, s.black))
    printed_run = Run(printed, 0, y, size, s.body_font, s.black)
    element.runs.append(replace(printed_run, x=s.right - size - printed_run.width))
    end = y + pitch * 0.45
    element.shapes.append(Rule(s.left, end, s.right, end, thick, s.black))
    element.attrs["text"] = " ".join(r.text for r in element.runs)


def _table(flow: Flow) -> None:
    """排查名单: a ruled table, one element per row so crops can count the rows they keep."""
    doc, s, rng = flow.doc, flow.style, flow.rng
    if not doc.table:
        return
    if doc.form != "list":
        flow.new_page()
        run = Run("附件", s.left, flow.y, s.body_px, s.heading_font, s.black)
        flow.page.add("attachment_label", run, text="附件")
        flow.y += s.pitch * 1.5 + ASCENT * s.title_px
        flow.line(
            "title",
            doc.table_title or "",
            size=s.title_px * 0.85,
            key=s.title_font,
            align="center",
            pitch=s.pitch * 1.3,
        )
    size = s.body_px * rng.uniform(0.62, 0.78)
    fractions = (0.07, 0.12, 0.27, 0.19, 0.35)
    xs = [s.left]
    for f in fractions:
        xs.append(xs[-1] + f * s.text_width)
    row_h = size * rng.uniform(1.9, 2.4)
    thin = max(1.0, s.mm(0.25))
    flow.y -= ASCENT * s.body_px
    _table_row(flow, TABLE_HEADER, xs, size, row_h, thin, "table_header")
    for row in doc.table:
        if flow.y + row_h > s.bottom:
            flow.new_page()
            flow.y -= ASCENT * s.body_px
            _table_row(flow, TABLE_HEADER, xs, size, row_h, thin, "table_header")
        _table_row(flow, row, xs, size, row_h, thin, "pd_row")
    flow.y += ASCENT * s.body_px + s.pitch * 0.5


def _table_row(
    flow: Flow,
    cells: list[str],
    xs: list[float],
    size: float,
    row_h: float,
    thin: float,
    name: str,
) -> None:
    s = flow.style
    key = s.heading_font if name == "table_header" else s.body_font
    y0 = flow.y
    shapes: list[Shape] = [Frame((xs[0], y0, xs[-1], y0 + row_h), thin, s.black)]
    shapes += [Rule(x, y0, x, y0 + row_h, thin, s.black) for x in xs[1:-1]]
    runs = []
    base = y0 + (row_h + size * (ASCENT - DESCENT)) / 2
    for i, cell in enumerate(cells):
        run = Run(cell, xs[i] + size * 0.3, base, size, key, s.black)
        room = xs[i + 1] - xs[i] - size * 0.6
        if run.width > room:
            run = replace(run, scale_x=room / run.width)
        runs.append(run)
    flow.page.add(name, *runs, *shapes, text=" ".join(cells))
    flow.y += row_h


def _page_numbers(pages: list[PageSpec], style: Style, rng: random.Random) -> None:
    if len(pages) == 1 and rng.random() < 0.6:
        return
    size = style.body_px * 0.9
    y = style.bottom + style.mm(rng.uniform(9, 14))
    alternate = rng.random() < 0.5  # GB/T 9704: odd pages right, even pages left
    for page in pages:
        run = Run(f"— {page.page_no} —", 0, y, size, "serif", style.black)
        if alternate:
            right = page.page_no % 2 == 1
            x = style.right - style.body_px - run.width if right else style.left + style.body_px
        else:
            x = (style.width - run.width) / 2
        page.add("page_number", replace(run, x=x), text=run.text)


def layout(
    doc: Document, rng: random.Random, *, scale: float = 1.0, seed: int = 0
) -> list[PageSpec]:
    """Lays a document out on A4 pages at 150 dpi x `scale`."""
    style = make_style(rng, scale)
    flow = Flow(doc, style, rng, seed)
    HEADERS[doc.form](flow)
    _title(flow)
    _body(flow)
    if doc.form == "list":
        _table(flow)
    if doc.signature or doc.form in ("file", "upward", "letter"):
        _signature(flow)
    elif doc.note:
        flow.line(
            "note_public" if doc.public else "note_private", doc.note, indent=2 * style.body_px
        )
    if doc.form != "list":
        _table(flow)  # the attached list starts on its own page, before the colophon
    _colophon(flow)
    _page_numbers(flow.pages, style, rng)
    facts = document_facts(doc)
    for page in flow.pages:
        page.page_count = len(flow.pages)
        page.facts = dict(facts, style=_style_facts(style))
    return flow.pages


def document_facts(doc: Document) -> dict[str, Any]:
    return {
        "form": doc.form,
        "organ": doc.organ.name,
        "organ_kind": doc.organ.kind,
        "mark": doc.mark_text or None,
        "doc_number": doc.doc_number,
        "classification": doc.classification,
        "handling": doc.handling,
        "draft": doc.draft or doc.title_draft,
        "note": doc.note,
        "title": doc.title,
        "public_release": doc.public,
    }


def _style_facts(style: Style) -> dict[str, Any]:
    return {
        "body_font": style.body_font,
        "mark_font": style.mark_font,
        "body_px": round(style.body_px, 1),
        "red": list(style.red),
    }


# --- masking -----------------------------------------------------------------------------

HEADER_ELEMENTS = frozenset(
    {
        "copy_number",
        "classification",
        "urgency",
        "handling",
        "draft",
        "organ_mark",
        "doc_number",
        "issuer",
        "rule",
        "issue_number",
        "issue_line",
        "telegram_fields",
    }
)


MARKING_ELEMENTS = frozenset({"copy_number", "classification", "urgency", "handling", "draft"})


def mask_header(
    spec: PageSpec, rng: random.Random, *, covering: frozenset[str] = HEADER_ELEMENTS
) -> PageSpec:
    """The copy with header and marking covered (遮去报头与密级标识): the covered elements are
    gone and a paper patch or a marker bar is drawn where they were. `covering` names the
    elements covered: the whole header, or only the markings (MARKING_ELEMENTS)."""
    covered = [e for e in spec.elements if e.name in covering]
    if not covered:
        return spec
    x0, y0, x1, y1 = union(e.box for e in covered)
    pad = spec.dpi / 25.4 * rng.uniform(1, 4)
    black_bar = rng.random() < 0.3
    patch = Frame(
        (x0 - pad, y0 - pad, x1 + pad, y1 + pad),
        0.0 if black_bar else rng.uniform(0, 1.5),
        (200, 200, 200),
        fill=(20, 20, 22) if black_bar else (253, 253, 250),
    )
    kept = [e for e in spec.elements if e.name not in covering]
    facts = dict(spec.facts, masked=True)
    return replace(spec, elements=[*kept, Element("mask", shapes=[patch])], facts=facts)


# --- rasterisation -----------------------------------------------------------------------


def rasterize(spec: PageSpec) -> Image.Image:
    """Draws the page: shapes, then text, then seals (multiplied over what is under them)."""
    image = (
        spec.base.copy()
        if spec.base is not None
        else Image.new("RGB", (spec.width, spec.height), WHITE)
    )
    draw = ImageDraw.Draw(image)
    stamps: list[Stamp] = []
    ordered = sorted(spec.elements, key=lambda e: e.name == "mask")  # masks cover everything
    for element in ordered:
        for shape in element.shapes:
            if isinstance(shape, Stamp):
                stamps.append(shape)
            else:
                draw_shape(draw, shape)
        for run in element.runs:
            draw_run(image, draw, run)
    rng = np.random.default_rng(spec.seed)
    for stamp in stamps:
        draw_stamp(image, stamp, rng)
    return image


def draw_shape(draw: ImageDraw.ImageDraw, shape: Shape) -> None:
    if isinstance(shape, Rule):
        draw.line(
            [(shape.x0, shape.y0), (shape.x1, shape.y1)],
            fill=shape.color,
            width=max(1, round(shape.width)),
        )
    elif isinstance(shape, Frame):
        width = round(shape.width)
        draw.rectangle(
            shape.rect, fill=shape.fill, outline=shape.color if width else None, width=max(1, width)
        )
    elif isinstance(shape, Star):
        draw.polygon(shape.points(), fill=shape.color)


def draw_run(image: Image.Image, draw: ImageDraw.ImageDraw, run: Run) -> None:
    f = font(run.font, round(run.size))
    if run.scale_x == 1.0 and run.tracking == 0.0:
        draw.text((run.x, run.y), run.text, font=f, fill=run.color, anchor="ls")
        return
    if run.scale_x == 1.0:
        for char, x in run.char_positions():
            draw.text((x, run.y), char, font=f, fill=run.color, anchor="ls")
        return
    # Squeezed text: draw at natural width on a mask, shrink it, stamp the colour through it.
    natural = text_width(run.font, run.size, run.text) + run.tracking / run.scale_x * len(run.text)
    h = math.ceil(run.size * 1.3)
    mask = Image.new("L", (math.ceil(natural) + 2, h), 0)
    mdraw = ImageDraw.Draw(mask)
    x = 1.0
    for char in run.text:
        mdraw.text((x, run.size * 1.05), char, font=f, fill=255, anchor="ls")
        x += _char_width(run.font, round(run.size), char) + run.tracking / run.scale_x
    mask = mask.resize((max(1, round(mask.width * run.scale_x)), h), Image.Resampling.LANCZOS)
    image.paste(run.color, (round(run.x), round(run.y - run.size * 1.05)), mask)


def stamp_mask(stamp: Stamp) -> Image.Image:
    """Ink coverage of a seal as an L image centred on (r, r*aspect) plus padding."""
    r, aspect = stamp.r, stamp.aspect
    pad = 4
    w, h = math.ceil(2 * r) + 2 * pad, math.ceil(2 * r * aspect) + 2 * pad
    cx, cy = w / 2, h / 2
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    ring = max(2, round(r * 0.055))
    draw.ellipse(
        (cx - r + 1, cy - r * aspect + 1, cx + r - 1, cy + r * aspect - 1), outline=255, width=ring
    )
    if stamp.star:
        draw.polygon(star_points(cx, cy, r * 0.3 * min(1.0, aspect * 1.2)), fill=255)
    char_size = r * min(1.0, aspect * 1.15) * (0.26 if len(stamp.text) <= 14 else 0.21)
    for char, angle in _arc_chars(stamp.text):
        glyph = _glyph(stamp.font, round(char_size), char).rotate(
            -angle, resample=Image.Resampling.BICUBIC, expand=True
        )
        rad = math.radians(angle)
        gx = cx + (r - ring - char_size * 0.62) * math.sin(rad)
        gy = cy - (r - ring - char_size * 0.62) * aspect * math.cos(rad)
        mask.paste(255, (round(gx - glyph.width / 2), round(gy - glyph.height / 2)), glyph)
    for i, line in enumerate(stamp.inner):
        # Inner lines fit inside the ring: bounded by height and by the chord width.
        size = min(r * aspect * 0.24, 1.3 * r / max(1, len(line)) * (1.6 if line.isascii() else 1))
        y = cy + r * aspect * (0.25 + 0.28 * i) if stamp.star else cy + (i - 0.35) * size * 1.5
        draw.text((cx, y), line, font=font(stamp.font, round(size)), fill=255, anchor="mm")
    if stamp.rotation:
        mask = mask.rotate(stamp.rotation, resample=Image.Resampling.BICUBIC)
    return mask


def _arc_chars(text: str) -> list[tuple[str, float]]:
    """Characters along the upper arc, clockwise from the left, as (char, degrees from top)."""
    n = len(text)
    span = min(250.0, 24.0 * n + 20)
    step = span / max(1, n - 1) if n > 1 else 0
    return [(c, -span / 2 + i * step) for i, c in enumerate(text)]


@functools.lru_cache(maxsize=4096)
def _glyph(key: str, px: int, char: str) -> Image.Image:
    f = font(key, px)
    mask = Image.new("L", (px + 4, px + 4), 0)
    ImageDraw.Draw(mask).text(((px + 4) / 2, (px + 4) / 2), char, font=f, fill=255, anchor="mm")
    return mask


def draw_stamp(image: Image.Image, stamp: Stamp, rng: np.random.Generator) -> None:
    """Multiplies a seal into the image with uneven ink, as a real stamp on paper looks."""
    mask = np.asarray(stamp_mask(stamp), dtype=np.float32) / 255.0
    h, w = mask.shape
    small = rng.random((max(2, h // 12), max(2, w // 12)), dtype=np.float32)
    texture = (
        np.asarray(
            Image.fromarray((small * 255).astype(np.uint8)).resize(
                (w, h), Image.Resampling.BILINEAR
            ),
            dtype=np.float32,
        )
        / 255.0
    )
    speckle = rng.random((h, w), dtype=np.float32) > 0.06
    density = mask * (0.55 + 0.45 * texture) * speckle * rng.uniform(0.78, 0.95)
    x0, y0 = round(stamp.cx - w / 2), round(stamp.cy - h / 2)
    _multiply(image, density, stamp.color, x0, y0)


def _multiply(image: Image.Image, density: np.ndarray, color: RGB, x0: int, y0: int) -> None:
    h, w = density.shape
    ix0, iy0 = max(0, x0), max(0, y0)
    ix1, iy1 = min(image.width, x0 + w), min(image.height, y0 + h)
    if ix1 <= ix0 or iy1 <= iy0:
        return
    region = np.asarray(image.crop((ix0, iy0, ix1, iy1)), dtype=np.float32)
    d = density[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0, None]
    ink = np.asarray(color, dtype=np.float32) / 255.0
    out = region * (1.0 - d * (1.0 - ink))
    image.paste(Image.fromarray(out.clip(0, 255).astype(np.uint8)), (ix0, iy0))


# --- convenience -------------------------------------------------------------------------


def body_only_pages(pages: list[PageSpec]) -> list[PageSpec]:
    """Continuation pages that carry nothing but body text and a page number."""
    boring = {"body", "page_number", "addressee", "attachments"}
    return [p for p in pages if p.page_no > 1 and {e.name for e in p.elements} <= boring]


def random_document_pages(
    rng: random.Random, *, form: str | None = None, scale: float = 1.0, seed: int = 0
) -> list[PageSpec]:
    """A random document of `form`, laid out: the one-call way to get realistic pages."""
    return layout(make_document(rng, form), rng, scale=scale, seed=seed)


__all__ = [
    "MARKING_ELEMENTS",
    "Box",
    "Element",
    "Frame",
    "PageSpec",
    "Rule",
    "Run",
    "Stamp",
    "Star",
    "Style",
    "body_only_pages",
    "draw_run",
    "draw_shape",
    "draw_stamp",
    "font",
    "layout",
    "make_style",
    "mask_header",
    "random_document_pages",
    "rasterize",
    "red_ink",
    "text_width",
    "wrap",
]
