"""OFD (GB/T 33190-2016), China's fixed-layout format for official documents.

An OFD is a ZIP: `OFD.xml` names each document's `Document.xml`, which lists the pages, page
templates and resource files (fonts, images, drawing parameters). A page's `Content.xml` holds
layers of text, path and image objects with boundaries in millimetres. Each page gives its text
lines (with colour and size) and a rendered image: headers and the rule under them are often
vector paths with no text, and the red-header and seal detectors work on pixels.
Element names are matched by local name: producers disagree on the namespace.
"""

from __future__ import annotations

import itertools
import posixpath
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import etree

from detectors.errors import CorruptFile, EncryptedContent, ScanError
from detectors.extract.base import ExtractContext
from detectors.extract.common import (
    CAPTURE_IMAGE_COVER,
    MIN_TEXT_CHARS,
    OCR_RENDER,
    TEXT_RENDER,
    dominant,
    local,
    metadata_page,
    parse_xml,
    red_or_none,
)
from detectors.extract.fonts import FontBook
from detectors.extract.images import decode_image
from detectors.extract.ofd_render import (
    Canvas,
    Matrix,
    Point,
    Rgb,
    Subpath,
    apply,
    matrix_scale,
    numbers,
    parse_matrix,
    parse_path,
)
from detectors.extract.zipread import open_zip, read_member
from detectors.model import BBox, Page, TextLine

MM_PER_INCH = 25.4
PT_PER_MM = 72 / MM_PER_INCH
DEFAULT_BOX = (0.0, 0.0, 210.0, 297.0)
"""A4, when a document does not say."""
DEFAULT_LINE_WIDTH = 0.353
MAX_GLYPHS_PER_PAGE = 50_000
"""Hostile pages with millions of glyphs: the rest is neither drawn nor read."""
BLACK: Rgb = (0, 0, 0)

Box = tuple[float, float, float, float]
"""x, y, width, height in millimetres."""


def extract_ofd(data: bytes, name: str, ctx: ExtractContext) -> Iterator[Page]:
    with open_zip(data, "OFD document") as archive:
        pkg = _Package(archive, ctx)
        root = pkg.xml("OFD.xml")
        if root is None:
            raise CorruptFile("OFD document has no OFD.xml entry file")
        if pkg.encrypted(root):
            raise EncryptedContent("OFD document is encrypted")
        meta = metadata_page(name, _docinfo_values(root))
        if meta:
            yield meta
        fonts = FontBook()
        number = 0
        for doc_root in root.iter("{*}DocRoot"):
            doc = _load_document(pkg, _resolve("", doc_root.text or ""))
            for page_id, content in doc.pages:
                number += 1
                if ctx.take_page():
                    yield _page(pkg, doc, page_id, content, name, number, fonts)


# Package, document and resources


class _Package:
    """The ZIP, read with bounds; names looked up case-insensitively (producers differ)."""

    def __init__(self, archive: zipfile.ZipFile, ctx: ExtractContext) -> None:
        self.archive = archive
        self.ctx = ctx
        self.names = {info.filename.lower(): info for info in archive.infolist()}

    def read(self, path: str) -> bytes | None:
        info = self.names.get(path.lower())
        return None if info is None else read_member(self.archive, info, self.ctx, members=0)

    def xml(self, path: str) -> etree._Element | None:
        data = self.read(path) if path else None
        if data is None:
            return None
        try:
            return parse_xml(data)
        except etree.XMLSyntaxError as exc:
            raise CorruptFile(f"OFD part {path} is damaged ({exc})") from exc

    def encrypted(self, root: etree._Element) -> bool:
        # GB/T 33190 §18: encryption is declared by an Encryptions entry (file or element).
        listed = any(posixpath.basename(n) == "encryptions.xml" for n in self.names)
        return listed or any(local(e.tag) == "Encryptions" for e in root.iter())


def _resolve(base_dir: str, location: str) -> str:
    """A package path: absolute ("/Doc_0/…") from the root, else relative to `base_dir`."""
    location = location.strip().replace("\\", "/")
    if not location:
        return ""
    path = location.lstrip("/") if location.startswith("/") else posixpath.join(base_dir, location)
    normal = posixpath.normpath(path)
    return "" if normal.startswith("..") else normal


@dataclass
class _Resources:
    fonts: dict[str, str] = field(default_factory=dict)
    """Font ID → family name, to choose serif or sans."""
    media: dict[str, str] = field(default_factory=dict)
    """MultiMedia ID → package path of the image file."""
    params: dict[str, etree._Element] = field(default_factory=dict)
    """DrawParam ID → element (LineWidth, StrokeColor, FillColor)."""
    components: dict[str, int] = field(default_factory=dict)
    """ColorSpace ID → components per colour (1 gray, 3 RGB, 4 CMYK)."""


@dataclass
class _Document:
    box: Box
    pages: list[tuple[str, str]]
    """(page ID, Content.xml path) in reading order."""
    templates: dict[str, str]
    annotations: dict[str, list[str]]
    resources: _Resources


def _load_document(pkg: _Package, path: str) -> _Document:
    root = pkg.xml(path)
    if root is None:
        raise CorruptFile(f"OFD document part {path or 'Document.xml'} is missing")
    base = posixpath.dirname(path)
    common = _first(root, "CommonData")
    resources = _Resources()
    for res in ("PublicRes", "DocumentRes"):
        for element in _children(common, res):
            _load_resources(pkg, _resolve(base, element.text or ""), resources)
    pages = [
        (page.get("ID", ""), _resolve(base, page.get("BaseLoc", "")))
        for page in root.iter("{*}Page")
        if local(page.getparent().tag) == "Pages"
    ]
    templates = {
        t.get("ID", ""): _resolve(base, t.get("BaseLoc", ""))
        for t in _children(common, "TemplatePage")
    }
    return _Document(
        box=_box(_first(_first(common, "PageArea"), "PhysicalBox"), DEFAULT_BOX),
        pages=pages,
        templates=templates,
        annotations=_annotations(pkg, base, _first(root, "Annotations")),
        resources=resources,
    )


def _load_resources(pkg: _Package, path: str, into: _Resources) -> None:
    root = pkg.xml(path)
    if root is None:
        return
    media_dir = _resolve(posixpath.dirname(path), root.get("BaseLoc", ""))
    for element in root.iter():
        kind, ident = local(element.tag), element.get("ID", "")
        if kind == "Font":
            into.fonts[ident] = element.get("FamilyName") or element.get("FontName") or ""
        elif kind == "MultiMedia":
            media_file = _first(element, "MediaFile")
            if media_file is not None and media_file.text:
                into.media[ident] = _resolve(media_dir, media_file.text)
        elif kind == "DrawParam":
            into.params[ident] = element
        elif kind == "ColorSpace":
            into.components[ident] = {"GRAY": 1, "CMYK": 4}.get(element.get("Type", ""), 3)


def _annotations(pkg: _Package, base: str, entry: etree._Element | None) -> dict[str, list[str]]:
    if entry is None or not entry.text:
        return {}
    path = _resolve(base, entry.text)
    root = pkg.xml(path)
    found: dict[str, list[str]] = {}
    for page in root.iter("{*}Page") if root is not None else []:
        location = _first(page, "FileLoc")
        if location is not None and location.text:
            target = _resolve(posixpath.dirname(path), location.text)
            found.setdefault(page.get("PageID", ""), []).append(target)
    return found


def _docinfo_values(root: etree._Element) -> list[str]:
    values: list[str] = []
    for info in root.iter("{*}DocInfo"):
        for element in info.iter():
            if local(element.tag) in ("Title", "Subject", "Abstract", "Keyword", "CustomData"):
                values.append(element.text or "")
    return values


# One page: collect what to draw, then draw it at the resolution the page needs


@dataclass
class _TextRun:
    text: str
    box: Box
    """x0, y0, x1, y1 in page millimetres."""
    baseline: float
    color: Rgb
    size: float
    """Millimetres."""


@dataclass(frozen=True)
class _PathOp:
    subpaths: list[Subpath]
    stroke: Rgb | None
    fill: Rgb | None
    width: float


@dataclass(frozen=True)
class _TextOp:
    text: str
    points: list[Point]
    size: float
    color: Rgb
    family: str


@dataclass(frozen=True)
class _ImageOp:
    path: str
    box: Box
    """x0, y0, x1, y1 in page millimetres."""


@dataclass
class _Scene:
    """Everything on one page, in drawing order, in page millimetres."""

    origin: Point
    resources: _Resources
    ops: list[_PathOp | _TextOp | _ImageOp] = field(default_factory=list)
    runs: list[_TextRun] = field(default_factory=list)
    glyphs: int = 0
    image_areas: list[float] = field(default_factory=list)


def _page(
    pkg: _Package,
    doc: _Document,
    page_id: str,
    content: str,
    name: str,
    number: int,
    fonts: FontBook,
) -> Page:
    root = pkg.xml(content)
    if root is None:
        pkg.ctx.warn(name, f"corrupt: page {number} has no content ({content or 'no location'})")
    box = _box(_first(_first(root, "Area"), "PhysicalBox"), doc.box)
    scene = _Scene(origin=(box[0], box[1]), resources=doc.resources)
    if root is not None:
        templates = list(_children(root, "Template"))
        background = [t for t in templates if t.get("ZOrder", "Background") == "Background"]
        for template in background:
            _draw_part(pkg, scene, doc.templates.get(template.get("TemplateID", ""), ""))
        _draw_content(pkg, scene, root)
        for template in templates:
            if template not in background:
                _draw_part(pkg, scene, doc.templates.get(template.get("TemplateID", ""), ""))
    for annotation_file in doc.annotations.get(page_id, []):
        _draw_annotations(pkg, scene, annotation_file)
    chars = sum(len("".join(run.text.split())) for run in scene.runs)
    needs_ocr = chars < MIN_TEXT_CHARS
    spec = OCR_RENDER if needs_ocr else TEXT_RENDER
    canvas = Canvas(box[2], box[3], spec.scale(box[2], box[3], MM_PER_INCH), fonts)
    _paint(pkg, scene, canvas)
    page_area = max(box[2] * box[3], 1e-6)
    mostly_image = any(area / page_area >= CAPTURE_IMAGE_COVER for area in scene.image_areas)
    return Page(
        source=name,
        number=number,
        lines=[] if needs_ocr else _text_lines(scene.runs, canvas.scale),
        image=canvas.pixels(),
        needs_ocr=needs_ocr,
        is_capture=needs_ocr and mostly_image,
    )


def _draw_part(pkg: _Package, scene: _Scene, path: str) -> None:
    root = pkg.xml(path) if path else None
    if root is not None:
        _draw_content(pkg, scene, root)


def _draw_content(pkg: _Package, scene: _Scene, page_root: etree._Element) -> None:
    for content in _children(page_root, "Content"):
        for layer in _children(content, "Layer"):
            _draw_block(pkg, scene, layer, (0.0, 0.0), _param(scene, layer))


def _draw_annotations(pkg: _Package, scene: _Scene, path: str) -> None:
    root = pkg.xml(path)
    for annot in root.iter("{*}Annot") if root is not None else []:
        if annot.get("Visible", "true") == "false":
            continue
        for appearance in _children(annot, "Appearance"):
            box = _box(appearance.get("Boundary"), (0.0, 0.0, 0.0, 0.0))
            _draw_block(pkg, scene, appearance, (box[0], box[1]), None)


def _draw_block(
    pkg: _Package,
    scene: _Scene,
    block: etree._Element,
    offset: Point,
    param: etree._Element | None,
) -> None:
    for element in block:
        kind = local(element.tag)
        own = _param(scene, element) or param
        if kind == "TextObject":
            _collect_text(scene, element, offset, own)
        elif kind == "PathObject":
            _collect_path(scene, element, offset, own)
        elif kind == "ImageObject":
            _collect_image(scene, element, offset)
        elif kind == "PageBlock":
            _draw_block(pkg, scene, element, offset, own)


@dataclass(frozen=True)
class _Placement:
    """Object space → page millimetres: the CTM, then the boundary's corner."""

    ctm: Matrix
    dx: float
    dy: float

    @classmethod
    def of(cls, scene: _Scene, element: etree._Element, offset: Point) -> _Placement:
        box = _box(element.get("Boundary"), (0.0, 0.0, 0.0, 0.0))
        dx = box[0] + offset[0] - scene.origin[0]
        dy = box[1] + offset[1] - scene.origin[1]
        return cls(parse_matrix(element.get("CTM")), dx, dy)

    def __call__(self, point: Point) -> Point:
        x, y = apply(self.ctm, point)
        return x + self.dx, y + self.dy


def _collect_path(
    scene: _Scene, element: etree._Element, offset: Point, param: etree._Element | None
) -> None:
    data = _first(element, "AbbreviatedData")
    if data is None or not data.text:
        return
    place = _Placement.of(scene, element, offset)
    subpaths = [
        Subpath([place(p) for p in sub.points], sub.closed) for sub in parse_path(data.text)
    ]
    stroke = fill = None
    if _flag(element, "Stroke", True):
        stroke = _color(scene, element, "StrokeColor", param)
    if _flag(element, "Fill", False):
        fill = _color(scene, element, "FillColor", param)
    width = _number(element.get("LineWidth") or _attr(param, "LineWidth"), DEFAULT_LINE_WIDTH)
    scene.ops.append(_PathOp(subpaths, stroke, fill, width * matrix_scale(place.ctm)))


def _collect_text(
    scene: _Scene, element: etree._Element, offset: Point, param: etree._Element | None
) -> None:
    place = _Placement.of(scene, element, offset)
    size = _number(element.get("Size"), 3.5) * matrix_scale(place.ctm)
    filled = _flag(element, "Fill", True)
    color = _color(scene, element, "FillColor" if filled else "StrokeColor", param) or BLACK
    family = scene.resources.fonts.get(element.get("Font", ""), "")
    x = y = 0.0
    for code in _children(element, "TextCode"):
        text = code.text or ""
        x, y = _number(code.get("X"), x), _number(code.get("Y"), y)
        steps_x = _deltas(code.get("DeltaX"), len(text))
        steps_y = _deltas(code.get("DeltaY"), len(text))
        points: list[Point] = []
        for index, char in enumerate(text):
            points.append(place((x, y)))
            x += steps_x[index] if index < len(steps_x) else _advance(char, size)
            y += steps_y[index] if index < len(steps_y) else 0.0
        _add_run(scene, text, points, size, color, family)


def _add_run(
    scene: _Scene, text: str, points: list[Point], size: float, color: Rgb, family: str
) -> None:
    room = MAX_GLYPHS_PER_PAGE - scene.glyphs
    if not text.strip() or room <= 0:
        return
    text, points = text[:room], points[:room]
    scene.glyphs += len(text)
    scene.ops.append(_TextOp(text, points, size, color, family))
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    # Glyphs stand on the baseline: most of the em above it, a little below.
    right = max(xs) + _advance(text[-1], size)
    box = (min(xs), min(ys) - size * 0.88, right, max(ys) + size * 0.12)
    scene.runs.append(_TextRun(text, box, points[0][1], color, size))


def _collect_image(scene: _Scene, element: etree._Element, offset: Point) -> None:
    path = scene.resources.media.get(element.get("ResourceID", ""))
    if not path:
        return
    place = _Placement.of(scene, element, offset)
    # An image fills the unit square of its object space; the CTM maps it onto the page.
    corners = [place(p) for p in ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0))]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    box = (min(xs), min(ys), max(xs), max(ys))
    scene.image_areas.append((box[2] - box[0]) * (box[3] - box[1]))
    scene.ops.append(_ImageOp(path, box))


def _paint(pkg: _Package, scene: _Scene, canvas: Canvas) -> None:
    for op in scene.ops:
        if isinstance(op, _PathOp):
            canvas.path(op.subpaths, op.stroke, op.fill, op.width)
        elif isinstance(op, _TextOp):
            for char, point in zip(op.text, op.points, strict=True):
                canvas.glyph(char, point, op.size, op.color, op.family)
        else:
            _paint_image(pkg, canvas, op.path, op.box)


def _paint_image(pkg: _Package, canvas: Canvas, path: str, box: Box) -> None:
    try:
        data = pkg.read(path)
        if data:
            side = max(canvas.image.size)
            canvas.paste(decode_image(data, pkg.ctx, max_side=side), box)
    except ScanError as exc:
        if pkg.ctx.exhausted:
            raise
        pkg.ctx.warn(path, f"image skipped: {exc}")


# Text lines: OFD producers often write one TextObject per character


def _text_lines(runs: list[_TextRun], scale: float) -> list[TextLine]:
    """Runs on one baseline, left to right, as lines; a wide gap starts a new line."""
    lines: list[TextLine] = []
    for row in _rows(sorted(runs, key=lambda r: (r.baseline, r.box[0]))):
        row.sort(key=lambda r: r.box[0])
        group: list[_TextRun] = [row[0]]
        for run in row[1:]:
            if run.box[0] - group[-1].box[2] > 4 * max(run.size, group[-1].size):
                lines.append(_line(group, scale))
                group = []
            group.append(run)
        lines.append(_line(group, scale))
    return lines


def _rows(runs: list[_TextRun]) -> Iterator[list[_TextRun]]:
    row: list[_TextRun] = []
    for run in runs:
        if row and abs(run.baseline - row[0].baseline) > 0.4 * max(run.size, row[0].size):
            yield row
            row = []
        row.append(run)
    if row:
        yield row


def _line(runs: list[_TextRun], scale: float) -> TextLine:
    parts = [runs[0].text]
    for previous, run in itertools.pairwise(runs):
        gap = run.box[0] - previous.box[2]
        parts.append((" " if gap > 0.8 * run.size else "") + run.text)
    weights = [(run, len(run.text.strip())) for run in runs]
    bbox: BBox = (
        round(min(r.box[0] for r in runs) * scale),
        round(min(r.box[1] for r in runs) * scale),
        round(max(r.box[2] for r in runs) * scale),
        round(max(r.box[3] for r in runs) * scale),
    )
    size = dominant((round(run.size * PT_PER_MM * 2) / 2, w) for run, w in weights)
    return TextLine(
        text="".join(parts).strip(),
        bbox=bbox,
        color=red_or_none(dominant((run.color, w) for run, w in weights)),
        size=size,
    )


# Small readers


def _first(element: etree._Element | None, name: str) -> etree._Element | None:
    return next(_children(element, name), None)


def _children(element: etree._Element | None, name: str) -> Iterator[etree._Element]:
    if element is None:
        return iter(())
    return (child for child in element if local(child.tag) == name)


def _attr(element: etree._Element | None, name: str) -> str | None:
    return None if element is None else element.get(name)


def _box(value: etree._Element | str | None, default: Box) -> Box:
    text = value if isinstance(value, str) or value is None else value.text
    found = numbers(text)
    if len(found) != 4:
        return default
    return found[0], found[1], found[2], found[3]


def _number(value: str | None, default: float) -> float:
    found = numbers(value)
    return found[0] if found else default


def _flag(element: etree._Element, name: str, default: bool) -> bool:
    value = element.get(name)
    return default if value is None else value.strip().lower() in ("true", "1")


def _deltas(value: str | None, count: int) -> list[float]:
    """DeltaX / DeltaY: numbers, where "g N d" stands for N times d."""
    tokens = (value or "").split()
    out: list[float] = []
    pos = 0
    while pos < len(tokens) and len(out) < count:
        if tokens[pos] == "g" and pos + 2 < len(tokens):
            repeat, step = int(_number(tokens[pos + 1], 0)), _number(tokens[pos + 2], 0.0)
            out += [step] * max(0, min(repeat, count - len(out)))
            pos += 3
        else:
            out.append(_number(tokens[pos], 0.0))
            pos += 1
    return out


def _advance(char: str, size: float) -> float:
    return size * (0.5 if char.isascii() else 1.0)


def _param(scene: _Scene, element: etree._Element) -> etree._Element | None:
    return scene.resources.params.get(element.get("DrawParam", ""))


def _color(scene: _Scene, element: etree._Element, name: str, param: etree._Element | None) -> Rgb:
    holder = _first(element, name)
    if holder is None:
        holder = _first(param, name)
    if holder is None or holder.get("Value") is None:
        return BLACK
    components = scene.resources.components.get(holder.get("ColorSpace", ""), 0)
    return _rgb(holder.get("Value", ""), components)


def _rgb(value: str, components: int) -> Rgb:
    parts = []
    for token in value.split():
        try:
            parts.append(int(token[1:], 16) if token.startswith("#") else int(float(token)))
        except ValueError:
            return BLACK
    count = components or len(parts)
    clamp = [max(0, min(255, v)) for v in parts[:count]]
    if count == 1 and len(clamp) == 1:
        return clamp[0], clamp[0], clamp[0]
    if count == 4 and len(clamp) == 4:
        c, m, y, k = (v / 255 for v in clamp)
        return _byte((1 - c) * (1 - k)), _byte((1 - m) * (1 - k)), _byte((1 - y) * (1 - k))
    if len(clamp) >= 3:
        return clamp[0], clamp[1], clamp[2]
    return BLACK


def _byte(fraction: float) -> int:
    return round(255 * fraction)
