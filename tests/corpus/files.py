"""File variants of a generated document: PDF (text layer, header as image or outlines,
scanned), DOCX, XLSX, PPTX, OFD, TXT, CSV and ZIP archives (also nested).

Writers take the same `Document` / `PageSpec`s that `render.py` draws, so a PDF and a photo of
one document carry the same text in the same places. Nothing here imports leaksentry code.
"""

from __future__ import annotations

import csv
import io
import math
import random
import re
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any
from xml.sax.saxutils import escape

import cv2
import numpy as np
import pymupdf
from PIL import Image

from tests.corpus.document import TABLE_HEADER, Document
from tests.corpus.render import (
    FONTS,
    RGB,
    Element,
    Frame,
    PageSpec,
    Rule,
    Run,
    Stamp,
    Star,
    draw_run,
    rasterize,
    star_points,
)

PT_PER_INCH = 72.0
HEADER_NAMES = frozenset({"organ_mark", "rule"})
"""Elements that a 'header as image/outline' file draws without text."""

# --- PDF -----------------------------------------------------------------------------------

PDF_FONTS = {"embedded": "F0", "builtin_serif": "china-ss", "builtin_sans": "china-s"}


def _pdf_colour(color: RGB) -> tuple[float, float, float]:
    r, g, b = color
    return (r / 255, g / 255, b / 255)


class _PdfPage:
    """Draws runs and shapes of a PageSpec on a PyMuPDF page, in points."""

    def __init__(self, page: pymupdf.Page, spec: PageSpec, font_mode: str) -> None:
        self.page, self.k = page, PT_PER_INCH / spec.dpi
        self.fontname = PDF_FONTS[font_mode]
        # Built-in CJK fonts have other advances than the layout's; placing characters one by
        # one keeps the layout (and the text layer still reads as lines).
        self.per_char = font_mode != "embedded"
        if font_mode == "embedded":
            page.insert_font(fontname=self.fontname, fontfile=FONTS["wqy"][0])

    def run(self, run: Run) -> None:
        k = self.k
        colour = _pdf_colour(run.color)
        if run.tracking or self.per_char:
            for char, x in run.char_positions():
                self._text(char, x * k, run.y * k, run.size * k, colour, run.scale_x)
        else:
            self._text(run.text, run.x * k, run.y * k, run.size * k, colour, run.scale_x)

    def _text(
        self,
        text: str,
        x: float,
        y: float,
        size: float,
        colour: Any,
        scale_x: float,
        angle: float = 0.0,
        opacity: float = 1.0,
    ) -> None:
        point = pymupdf.Point(x, y)
        matrix = pymupdf.Matrix(scale_x, 1) if not angle else pymupdf.Matrix(-angle)
        self.page.insert_text(
            point,
            text,
            fontsize=size,
            fontname=self.fontname,
            color=colour,
            morph=(point, matrix),
            fill_opacity=opacity,
        )

    def shape(self, shape: Rule | Frame | Star | Stamp) -> None:
        k, page = self.k, self.page
        if isinstance(shape, Rule):
            page.draw_line(
                (shape.x0 * k, shape.y0 * k),
                (shape.x1 * k, shape.y1 * k),
                color=_pdf_colour(shape.color),
                width=max(0.3, shape.width * k),
            )
        elif isinstance(shape, Frame):
            x0, y0, x1, y1 = (v * k for v in shape.rect)
            page.draw_rect(
                pymupdf.Rect(x0, y0, x1, y1),
                color=_pdf_colour(shape.color) if shape.width else None,
                fill=_pdf_colour(shape.fill) if shape.fill else None,
                width=max(0.3, shape.width * k),
            )
        elif isinstance(shape, Star):
            self._star(shape.cx, shape.cy, shape.r, shape.color, 1.0)
        else:
            self._stamp(shape)

    def _star(self, cx: float, cy: float, r: float, color: RGB, opacity: float) -> None:
        k = self.k
        points = [pymupdf.Point(x * k, y * k) for x, y in star_points(cx, cy, r)]
        self.page.draw_polyline(
            points, color=None, fill=_pdf_colour(color), closePath=True, fill_opacity=opacity
        )

    def _stamp(self, stamp: Stamp) -> None:
        """A vector seal: ring, star, name along the arc, semi-transparent like ink."""
        k, colour, opacity = self.k, _pdf_colour(stamp.color), 0.85
        ry = stamp.r * stamp.aspect
        rect = pymupdf.Rect(
            (stamp.cx - stamp.r) * k,
            (stamp.cy - ry) * k,
            (stamp.cx + stamp.r) * k,
            (stamp.cy + ry) * k,
        )
        self.page.draw_oval(rect, color=colour, width=stamp.r * 0.055 * k, stroke_opacity=opacity)
        if stamp.star:
            self._star(stamp.cx, stamp.cy, stamp.r * 0.3, stamp.color, opacity)
        size = stamp.r * 0.24 * min(1.0, stamp.aspect * 1.15)
        n = len(stamp.text)
        span = min(250.0, 24.0 * n + 20)
        for i, char in enumerate(stamp.text):
            angle = -span / 2 + (span / max(1, n - 1)) * i if n > 1 else 0.0
            rad = math.radians(angle + stamp.rotation * -1)
            radius = stamp.r * 0.7
            cx = stamp.cx + radius * math.sin(rad)
            cy = stamp.cy - radius * stamp.aspect * math.cos(rad)
            # Place the glyph so that its centre sits on the arc, rotated to face outwards.
            ox = -size / 2 * math.cos(rad) - size * 0.38 * math.sin(rad)
            oy = -size / 2 * math.sin(rad) + size * 0.38 * math.cos(rad)
            self._text(
                char,
                (cx + ox) * k,
                (cy + oy) * k,
                size * k,
                colour,
                1.0,
                angle=angle - stamp.rotation,
                opacity=opacity,
            )

    def outline(self, run: Run) -> None:
        """The run's glyphs as filled vector outlines: visible, but not text."""
        k = self.k
        shape = self.page.new_shape()
        for contour in glyph_outlines(run):
            shape.draw_polyline([pymupdf.Point(x * k, y * k) for x, y in contour])
        shape.finish(color=None, fill=_pdf_colour(run.color), even_odd=True, closePath=True)
        shape.commit()

    def image(self, picture: Image.Image, box: tuple[float, float, float, float]) -> None:
        k = self.k
        buf = io.BytesIO()
        picture.save(buf, format="PNG")
        x0, y0, x1, y1 = box
        self.page.insert_image(pymupdf.Rect(x0 * k, y0 * k, x1 * k, y1 * k), stream=buf.getvalue())


def pdf_text(
    pages: Sequence[PageSpec],
    *,
    title: str = "",
    header_as: str | None = None,
    font_mode: str = "embedded",
    author: str = "",
) -> bytes:
    """A born-digital PDF: text as text (red runs in red), rules and seals as vectors.
    `header_as` = "image" or "outline" draws the organ mark and red rule without text."""
    doc = pymupdf.open()
    for spec in pages:
        k = PT_PER_INCH / spec.dpi
        page = doc.new_page(width=spec.width * k, height=spec.height * k)
        writer = _PdfPage(page, spec, font_mode)
        for element in spec.elements:
            if header_as and element.name in HEADER_NAMES:
                _header_without_text(writer, spec, element, header_as)
                continue
            for shape in element.shapes:
                writer.shape(shape)
            for run in element.runs:
                writer.run(run)
    doc.set_metadata({"title": title, "author": author, "creator": "WPS 文字", "producer": "WPS"})
    if font_mode == "embedded":
        doc.subset_fonts()
    return doc.tobytes(garbage=3, deflate=True, no_new_id=True)


def _header_without_text(writer: _PdfPage, spec: PageSpec, element: Element, mode: str) -> None:
    if mode == "outline":
        for run in element.runs:
            writer.outline(run)
        for shape in element.shapes:
            writer.shape(shape)
        return
    x0, y0, x1, y1 = (round(v) for v in element.box)
    only = PageSpec(spec.width, spec.height, spec.dpi, elements=[element], seed=spec.seed)
    writer.image(
        rasterize(only).crop((x0 - 2, y0 - 2, x1 + 2, y1 + 2)), (x0 - 2, y0 - 2, x1 + 2, y1 + 2)
    )


def pdf_scanned(images: Sequence[Image.Image], *, dpi: float = 150.0, quality: int = 70) -> bytes:
    """A PDF of page images only (a scanner's output): no text layer at all."""
    doc = pymupdf.open()
    for image in images:
        k = PT_PER_INCH / dpi
        page = doc.new_page(width=image.width * k, height=image.height * k)
        buf = io.BytesIO()
        image.convert("RGB").save(buf, format="JPEG", quality=quality)
        page.insert_image(page.rect, stream=buf.getvalue())
    return doc.tobytes(garbage=3, deflate=True, no_new_id=True)


def glyph_outlines(run: Run, oversample: float = 3.0) -> list[list[tuple[float, float]]]:
    """Closed polygons (page pixels) tracing the run's glyphs, holes included."""
    x0, y0, x1, y1 = run.box
    pad = run.size * 0.2
    w = math.ceil((x1 - x0 + 2 * pad) * oversample)
    h = math.ceil((y1 - y0 + 2 * pad) * oversample)
    canvas = Image.new("RGB", (w, h), (255, 255, 255))
    local = Run(
        run.text,
        pad * oversample,
        (run.y - y0 + pad) * oversample,
        run.size * oversample,
        run.font,
        (0, 0, 0),
        run.scale_x,
        run.tracking * oversample,
    )
    from PIL import ImageDraw

    draw_run(canvas, ImageDraw.Draw(canvas), local)
    mask = (np.asarray(canvas.convert("L")) < 128).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for contour in contours:
        if len(contour) < 3:
            continue
        approx = cv2.approxPolyDP(contour, 0.6, True)[:, 0, :].astype(np.float64)
        out.append([(x0 - pad + px / oversample, y0 - pad + py / oversample) for px, py in approx])
    return out


# --- OFD (GB/T 33190-2016) -------------------------------------------------------------------

OFD_NS = "http://www.ofdspec.org/2016"
MM_PER_INCH = 25.4


class _OfdIds:
    def __init__(self) -> None:
        self.value = 10

    def next(self) -> int:
        self.value += 1
        return self.value


def _ofd_colour(color: RGB) -> str:
    return " ".join(str(c) for c in color)


def _f(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"


def _ofd_text(ids: _OfdIds, run: Run, mm: float, font_id: int) -> str:
    """A TextObject: Boundary box, baseline TextCode, DeltaX for each advance."""
    x0, y0, x1, y1 = run.box
    size = run.size * mm
    deltas = []
    previous = None
    for _, x in run.char_positions():
        if previous is not None:
            deltas.append(_f((x - previous) * mm))
        previous = x
    delta = f' DeltaX="{" ".join(deltas)}"' if deltas else ""
    hscale = f' HScale="{_f(run.scale_x)}"' if run.scale_x != 1.0 else ""
    return (
        f'<ofd:TextObject ID="{ids.next()}" Boundary="{_f(x0 * mm)} {_f(y0 * mm)} '
        f'{_f((x1 - x0) * mm)} {_f((y1 - y0) * mm)}" Font="{font_id}" Size="{_f(size)}"{hscale}>'
        f'<ofd:FillColor Value="{_ofd_colour(run.color)}"/>'
        f'<ofd:TextCode X="0" Y="{_f((run.y - y0) * mm)}"{delta}>{escape(run.text)}</ofd:TextCode>'
        "</ofd:TextObject>"
    )


def _ofd_path(
    ids: _OfdIds,
    data: str,
    box: tuple[float, float, float, float],
    mm: float,
    color: RGB,
    *,
    fill: bool,
    width: float = 0.0,
    even_odd: bool = False,
) -> str:
    """A PathObject; `data` uses page-mm coordinates and is shifted to the boundary origin."""
    x0, y0, x1, y1 = box
    rule = ' Rule="Even-Odd"' if even_odd else ""
    paint = (
        f'Fill="true" Stroke="false"{rule}'
        if fill
        else f'Stroke="true" Fill="false" LineWidth="{_f(width * mm)}"'
    )
    colour = (
        f'<ofd:FillColor Value="{_ofd_colour(color)}"/>'
        if fill
        else f'<ofd:StrokeColor Value="{_ofd_colour(color)}"/>'
    )
    return (
        f'<ofd:PathObject ID="{ids.next()}" Boundary="{_f(x0 * mm)} {_f(y0 * mm)} '
        f'{_f((x1 - x0) * mm)} {_f((y1 - y0) * mm)}" {paint}>{colour}'
        f"<ofd:AbbreviatedData>{data}</ofd:AbbreviatedData></ofd:PathObject>"
    )


def _local(
    points: Iterable[tuple[float, float]], origin: tuple[float, float], mm: float
) -> list[str]:
    ox, oy = origin
    return [f"{_f((x - ox) * mm)} {_f((y - oy) * mm)}" for x, y in points]


def _ofd_polygon(
    points: Sequence[tuple[float, float]], origin: tuple[float, float], mm: float
) -> str:
    coords = _local(points, origin, mm)
    return "M " + coords[0] + " " + " ".join("L " + c for c in coords[1:]) + " C"


def _ofd_shape(
    ids: _OfdIds, shape: Rule | Frame | Star | Stamp, mm: float, font_id: int
) -> list[str]:
    if isinstance(shape, Rule):
        box = shape.box
        data = f"M {' L '.join(_local([(shape.x0, shape.y0), (shape.x1, shape.y1)], box[:2], mm))}"
        return [_ofd_path(ids, data, box, mm, shape.color, fill=False, width=shape.width)]
    if isinstance(shape, Frame):
        x0, y0, x1, y1 = shape.rect
        data = _ofd_polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], (x0, y0), mm)
        out = []
        if shape.fill:
            out.append(_ofd_path(ids, data, shape.rect, mm, shape.fill, fill=True))
        if shape.width:
            out.append(
                _ofd_path(ids, data, shape.rect, mm, shape.color, fill=False, width=shape.width)
            )
        return out
    if isinstance(shape, Star):
        return [
            _ofd_path(
                ids,
                _ofd_polygon(shape.points(), shape.box[:2], mm),
                shape.box,
                mm,
                shape.color,
                fill=True,
            )
        ]
    return _ofd_stamp(ids, shape, mm, font_id)


def _ofd_stamp(ids: _OfdIds, stamp: Stamp, mm: float, font_id: int) -> list[str]:
    """Ring as two arcs (A rx ry rot large sweep x y), star, name chars placed with a CTM."""
    box = stamp.box
    r, ry = stamp.r, stamp.r * stamp.aspect
    rx_mm, ry_mm = _f(r * mm), _f(ry * mm)
    data = (
        f"M 0 {_f(ry * mm)} A {rx_mm} {ry_mm} 0 1 1 {_f(2 * r * mm)} {_f(ry * mm)} "
        f"A {rx_mm} {ry_mm} 0 1 1 0 {_f(ry * mm)} C"
    )
    out = [_ofd_path(ids, data, box, mm, stamp.color, fill=False, width=r * 0.055)]
    if stamp.star:
        star = Star(stamp.cx, stamp.cy, r * 0.3, stamp.color)
        out += _ofd_shape(ids, star, mm, font_id)
    size = r * 0.24 * min(1.0, stamp.aspect * 1.15)
    n = len(stamp.text)
    span = min(250.0, 24.0 * n + 20)
    for i, char in enumerate(stamp.text):
        angle = math.radians(-span / 2 + (span / max(1, n - 1)) * i if n > 1 else 0.0)
        cx = stamp.cx + r * 0.7 * math.sin(angle)
        cy = stamp.cy - ry * 0.7 * math.cos(angle)
        cos, sin = math.cos(angle), math.sin(angle)
        s = size * mm
        half = s / 2  # rotate about the glyph box centre
        shift = (half - (cos * half - sin * half), half - (sin * half + cos * half))
        ctm = " ".join(_f(v) for v in (cos, sin, -sin, cos, *shift))
        out.append(
            f'<ofd:TextObject ID="{ids.next()}" Boundary="{_f((cx - size / 2) * mm)} '
            f'{_f((cy - size / 2) * mm)} {_f(s)} {_f(s)}" Font="{font_id}" Size="{_f(s)}" '
            f'CTM="{ctm}"><ofd:FillColor Value="{_ofd_colour(stamp.color)}"/>'
            f'<ofd:TextCode X="0" Y="{_f(s * 0.88)}">{escape(char)}</ofd:TextCode></ofd:TextObject>'
        )
    return out


def _ofd_outline(ids: _OfdIds, run: Run, mm: float) -> str:
    contours = glyph_outlines(run)
    box = run.box
    data = " ".join(_ofd_polygon(c, box[:2], mm) for c in contours)
    return _ofd_path(ids, data, box, mm, run.color, fill=True, even_odd=True)


def _ofd_page(spec: PageSpec, ids: _OfdIds, fonts: dict[str, int], outline_mark: bool) -> str:
    mm = MM_PER_INCH / spec.dpi
    objects: list[str] = []
    for element in spec.elements:
        for shape in element.shapes:
            objects += _ofd_shape(ids, shape, mm, fonts["serif_bold"])
        for run in element.runs:
            if outline_mark and element.name == "organ_mark":
                objects.append(_ofd_outline(ids, run, mm))
            else:
                objects.append(_ofd_text(ids, run, mm, fonts.get(run.font, fonts["serif"])))
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page xmlns:ofd="{OFD_NS}">'
        f'<ofd:Content><ofd:Layer ID="{ids.next()}">{"".join(objects)}</ofd:Layer></ofd:Content>'
        "</ofd:Page>"
    )


OFD_FONT_NAMES = {
    "serif": "宋体",
    "serif_bold": "方正小标宋简体",
    "sans": "黑体",
    "sans_bold": "黑体",
    "wqy": "仿宋_GB2312",
}


def ofd(
    pages: Sequence[PageSpec],
    *,
    title: str = "",
    author: str = "",
    outline_mark: bool = False,
    custom: dict[str, str] | None = None,
) -> bytes:
    """A minimal valid OFD 1.0 package: OFD.xml → Doc_0/Document.xml (CommonData with
    PageArea and PublicRes), Doc_0/PublicRes.xml (fonts), one Content.xml per page. Units are
    millimetres. With `outline_mark` the red organ mark is a filled PathObject, not text."""
    ids = _OfdIds()
    fonts = {key: i + 2 for i, key in enumerate(OFD_FONT_NAMES)}
    contents = [_ofd_page(spec, ids, fonts, outline_mark) for spec in pages]
    first = pages[0]
    # Pages are whole pixels; round back to the paper size in tenths of a millimetre.
    width_mm, height_mm = (
        round(first.width * MM_PER_INCH / first.dpi, 1),
        round(first.height * MM_PER_INCH / first.dpi, 1),
    )
    custom_xml = "".join(
        f'<ofd:CustomData Name="{escape(k)}">{escape(v)}</ofd:CustomData>'
        for k, v in (custom or {}).items()
    )
    info = (
        f"<ofd:DocID>{uuid.UUID(int=first.seed % 2**128).hex}</ofd:DocID>"
        f"<ofd:Title>{escape(title)}</ofd:Title><ofd:Author>{escape(author)}</ofd:Author>"
        "<ofd:CreationDate>2024-03-01</ofd:CreationDate>"
    )
    if custom_xml:
        info += f"<ofd:CustomDatas>{custom_xml}</ofd:CustomDatas>"
    ofd_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="{OFD_NS}" Version="1.0" '
        f'DocType="OFD"><ofd:DocBody><ofd:DocInfo>{info}</ofd:DocInfo>'
        "<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
    )
    page_refs = "".join(
        f'<ofd:Page ID="{i + 1}" BaseLoc="Pages/Page_{i}/Content.xml"/>' for i in range(len(pages))
    )
    document_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Document xmlns:ofd="{OFD_NS}"><ofd:CommonData>'
        f"<ofd:MaxUnitID>{ids.value}</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 "
        f"{_f(width_mm)} {_f(height_mm)}</ofd:PhysicalBox></ofd:PageArea>"
        "<ofd:PublicRes>PublicRes.xml</ofd:PublicRes></ofd:CommonData>"
        f"<ofd:Pages>{page_refs}</ofd:Pages></ofd:Document>"
    )
    font_xml = "".join(
        f'<ofd:Font ID="{fonts[k]}" FontName="{name}" FamilyName="{name}"/>'
        for k, name in OFD_FONT_NAMES.items()
    )
    res_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Res xmlns:ofd="{OFD_NS}" BaseLoc="Res">'
        f"<ofd:Fonts>{font_xml}</ofd:Fonts></ofd:Res>"
    )
    members = {
        "OFD.xml": ofd_xml,
        "Doc_0/Document.xml": document_xml,
        "Doc_0/PublicRes.xml": res_xml,
    }
    members.update({f"Doc_0/Pages/Page_{i}/Content.xml": c for i, c in enumerate(contents)})
    return zip_bytes({name: text.encode("utf-8") for name, text in members.items()})


# --- text formats ------------------------------------------------------------------------------


def document_lines(doc: Document) -> list[str]:
    """The document as plain lines, in reading order, the way a copy-paste would give it."""
    lines: list[str] = []
    for value in (doc.copy_number, doc.classification, doc.urgency, doc.handling, doc.draft):
        if value:
            lines.append(value)
    if doc.mark:
        lines.append(doc.mark_text)
    if doc.issue_line:
        lines += [doc.issue_line[0], f"{doc.issue_line[1]}    {doc.date}"]
    if doc.doc_number:
        lines.append(doc.doc_number + (f"        签发人：{doc.issuer}" if doc.issuer else ""))
    lines += [f"{label}：{value}" for label, value in doc.telegram]
    lines += ["", doc.title, ""]
    if doc.addressee:
        lines.append(doc.addressee)
    lines += [("" if p.kind == "h1" else "    ") + p.text for p in doc.paragraphs]
    if doc.table:
        lines += ["", doc.table_title or "", "\t".join(TABLE_HEADER)]
        lines += ["\t".join(row) for row in doc.table]
    for i, item in enumerate(doc.attachments):
        lines.append(("附件：" if i == 0 else "      ") + item)
    if doc.signature:
        lines += ["", doc.signature]
    lines.append(doc.date)
    if doc.note:
        lines.append(doc.note)
    if doc.cc:
        lines += ["", doc.cc]
    if doc.printer:
        lines.append(f"{doc.printer[0]}    {doc.printer[1]}")
    return lines


def txt(doc: Document, *, encoding: str = "utf-8") -> bytes:
    newline = "\r\n" if encoding.lower() in ("gb18030", "gbk") else "\n"
    return newline.join(document_lines(doc)).encode(encoding)


def csv_rows(
    rows: Sequence[Sequence[str]],
    header: Sequence[str] = TABLE_HEADER,
    *,
    encoding: str = "utf-8-sig",
) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode(encoding)


# --- OOXML -------------------------------------------------------------------------------------


def docx(doc: Document, rng: random.Random, *, security_property: bool = False) -> bytes:
    """A Word file: red bold organ mark, a red bottom border under the number line, marking
    paragraphs, body, colophon; core title; optionally custom property SecurityLevel."""
    from docx import Document as Word
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm, Pt, RGBColor

    word = Word()
    section = word.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.left_margin, section.right_margin = Mm(37), Mm(28), Mm(26)
    red = RGBColor(*_docx_red(rng))

    def para(
        text: str,
        *,
        size: float = 16,
        bold: bool = False,
        colour: RGBColor | None = None,
        align: Any = None,
        font: str = "仿宋_GB2312",
        indent: bool = False,
    ) -> Any:
        p = word.add_paragraph()
        if align is not None:
            p.alignment = align
        if indent:
            p.paragraph_format.first_line_indent = Pt(size * 2)
        run = p.add_run(text)
        run.font.size, run.font.bold = Pt(size), bold
        run.font.name = font
        run._element.rPr.rFonts.set(_qn("w:eastAsia"), font)
        if colour is not None:
            run.font.color.rgb = colour
        return p

    for value in (doc.copy_number, doc.classification, doc.urgency, doc.handling, doc.draft):
        if value:
            right = value in (doc.handling, doc.draft) and doc.handling_right
            para(value, font="黑体", align=WD_ALIGN_PARAGRAPH.RIGHT if right else None)
    if doc.mark:
        para(
            doc.mark_text,
            size=rng.choice((36, 42, 48)),
            bold=True,
            colour=red,
            align=WD_ALIGN_PARAGRAPH.CENTER,
            font="方正小标宋简体",
        )
    last = None
    if doc.issue_line:
        para(doc.issue_line[0], align=WD_ALIGN_PARAGRAPH.CENTER)
        last = para(f"{doc.issue_line[1]}\t\t{doc.date}")
    if doc.doc_number:
        text = doc.doc_number + (f"\t\t签发人：{doc.issuer}" if doc.issuer else "")
        last = para(text, align=None if doc.issuer else WD_ALIGN_PARAGRAPH.CENTER)
    for label, value in doc.telegram:
        last = para(f"{label}：{value}")
    if doc.rule and last is not None:
        _bottom_border(last, _hex(red), size=rng.choice((12, 18, 24)))
    elif doc.rule and doc.mark:
        _bottom_border(word.paragraphs[-1], _hex(red), size=18)
    para(doc.title, size=22, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, font="方正小标宋简体")
    if doc.addressee:
        para(doc.addressee)
    for p in doc.paragraphs:
        para(p.text, indent=True, font="黑体" if p.kind == "h1" else "仿宋_GB2312")
    if doc.table:
        _docx_table(word, doc)
    for i, item in enumerate(doc.attachments):
        para(("附件：" if i == 0 else "      ") + item, indent=True)
    if doc.signature:
        para(doc.signature, align=WD_ALIGN_PARAGRAPH.RIGHT)
    para(doc.date, align=WD_ALIGN_PARAGRAPH.RIGHT)
    if doc.note:
        para(doc.note, indent=True)
    if doc.cc:
        _bottom_border(para(doc.cc, size=14), "000000", size=6, top=True)
    if doc.printer:
        _bottom_border(para(f"{doc.printer[0]}\t\t{doc.printer[1]}", size=14), "000000", size=6)
    word.core_properties.title = doc.title
    word.core_properties.comments = ""  # python-docx writes "generated by python-docx" here
    word.core_properties.author = doc.organ.office
    buf = io.BytesIO()
    word.save(buf)
    data = _normalise_zip(buf.getvalue())
    if security_property and doc.classification:
        data = add_custom_properties(data, {"SecurityLevel": doc.classification[:2]})
    return data


def _qn(tag: str) -> str:
    from docx.oxml.ns import qn

    return str(qn(tag))


def _docx_red(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randint(220, 255), rng.randint(0, 20), rng.randint(0, 20))


def _hex(colour: Any) -> str:
    return str(colour)


PPR_AFTER_BORDER = (
    "w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct",
    "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd",
    "w:snapToGrid", "w:spacing", "w:ind", "w:contextualSpacing", "w:mirrorIndents",
    "w:suppressOverlap", "w:jc", "w:textDirection", "w:textAlignment", "w:textboxTightWrap",
    "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange",
)  # fmt: skip


def _bottom_border(paragraph: Any, colour: str, *, size: int, top: bool = False) -> None:
    """A paragraph border (w:pBdr) — the usual way Word templates draw the red rule."""
    from docx.oxml import OxmlElement

    ppr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    for side in ("top", "bottom") if top else ("bottom",):
        edge = OxmlElement(f"w:{side}")
        edge.set(_qn("w:val"), "single")
        edge.set(_qn("w:sz"), str(size))
        edge.set(_qn("w:space"), "1")
        edge.set(_qn("w:color"), colour)
        borders.append(edge)
    # Word rejects pPr children out of schema order: pBdr goes before shd/tabs/spacing/ind/jc.
    ppr.insert_element_before(borders, *PPR_AFTER_BORDER)


def _docx_table(word: Any, doc: Document) -> None:
    word.add_paragraph(doc.table_title or "")
    table = word.add_table(rows=1, cols=len(TABLE_HEADER))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, TABLE_HEADER, strict=True):
        cell.text = text
    for row in doc.table:
        for cell, text in zip(table.add_row().cells, row, strict=True):
            cell.text = text


CUSTOM_NS = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
VT_NS = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"
CUSTOM_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties"
CUSTOM_TYPE = "application/vnd.openxmlformats-officedocument.custom-properties+xml"


def add_custom_properties(package: bytes, props: dict[str, str]) -> bytes:
    """Adds docProps/custom.xml (with its relationship and content type) to an OOXML file,
    which python-docx cannot do itself."""
    items = "".join(
        f'<property fmtid="{{D5CDD505-2E9C-101B-9397-08002B2CF9AE}}" pid="{i + 2}" '
        f'name="{escape(k)}"><vt:lpwstr>{escape(v)}</vt:lpwstr></property>'
        for i, (k, v) in enumerate(props.items())
    )
    custom = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<Properties xmlns="{CUSTOM_NS}" xmlns:vt="{VT_NS}">{items}</Properties>'
    )
    src = zipfile.ZipFile(io.BytesIO(package))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "[Content_Types].xml":
                override = (
                    f'<Override PartName="/docProps/custom.xml" ContentType="{CUSTOM_TYPE}"/>'
                )
                data = data.replace(b"</Types>", override.encode() + b"</Types>")
            elif info.filename == "_rels/.rels":
                rel = (
                    f'<Relationship Id="rIdCustom1" Type="{CUSTOM_REL}" '
                    'Target="docProps/custom.xml"/>'
                )
                data = data.replace(b"</Relationships>", rel.encode() + b"</Relationships>")
            dst.writestr(_fixed_info(info.filename), data)
        dst.writestr(_fixed_info("docProps/custom.xml"), custom.encode("utf-8"))
    return out.getvalue()


def xlsx(
    rows: Sequence[Sequence[str]],
    *,
    title: str,
    marking: str | None,
    marking_sheet: str | None = None,
    security: str | None = None,
) -> bytes:
    """A personal-data list workbook: marking in A1, merged title, header, rows (IDs as text).
    `marking_sheet` adds a second sheet whose only content is that marking."""
    from openpyxl import Workbook
    from openpyxl.packaging.custom import StringProperty
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "名单"
    top = 1
    if marking:
        sheet.cell(1, 1, marking).font = Font(bold=True, name="黑体")
        top = 2
    sheet.cell(top, 1, title).font = Font(bold=True, size=16)
    sheet.merge_cells(start_row=top, start_column=1, end_row=top, end_column=len(TABLE_HEADER))
    sheet.append(TABLE_HEADER)
    for row in rows:
        sheet.append([int(row[0]), *row[1:]])
    for cell in sheet["C"]:
        cell.number_format = "@"
    if marking_sheet:
        other = book.create_sheet("说明")
        other.cell(1, 1, marking_sheet).font = Font(bold=True, color="FFFF0000")
        other.cell(3, 1, "本表仅用于工作联系。")
    book.properties.title = title
    book.properties.creator = "Administrator"  # openpyxl writes its own name here
    if security:
        book.custom_doc_props.append(StringProperty(name="SecurityLevel", value=security))
    buf = io.BytesIO()
    book.save(buf)
    return _normalise_zip(buf.getvalue())


def pptx(*, title: str, bullets: Sequence[str], marking: str, organ: str) -> bytes:
    """A slide with a red marking box at the top right, the way briefing decks mark them."""
    from pptx import Presentation
    from pptx.dml.color import RGBColor
    from pptx.util import Emu, Pt

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = title
    body = slide.placeholders[1].text_frame
    body.text = bullets[0]
    for item in bullets[1:]:
        body.add_paragraph().text = item
    box = slide.shapes.add_textbox(
        deck.slide_width - Emu(2_400_000), Emu(150_000), Emu(2_200_000), Emu(500_000)
    )
    run = box.text_frame.paragraphs[0].add_run()
    run.text = marking
    run.font.size, run.font.bold = Pt(20), True
    run.font.color.rgb = RGBColor(0xE0, 0x10, 0x10)
    footer = slide.shapes.add_textbox(
        Emu(300_000), deck.slide_height - Emu(600_000), Emu(6_000_000), Emu(400_000)
    )
    footer.text_frame.text = organ
    deck.core_properties.title = title
    # python-pptx leaves its own name and comment in the core properties: look like Office.
    deck.core_properties.comments = ""
    deck.core_properties.author = organ
    deck.core_properties.last_modified_by = "Administrator"
    buf = io.BytesIO()
    deck.save(buf)
    return _normalise_zip(buf.getvalue())


# --- archives ------------------------------------------------------------------------------------

FIXED_TIME = (2024, 3, 1, 9, 0, 0)


def _fixed_info(name: str) -> zipfile.ZipInfo:
    """Fixed timestamps, so that the same seed gives the same bytes."""
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(_fixed_info(name), data)
    return out.getvalue()


_CORE_TIME = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def _normalise_zip(package: bytes) -> bytes:
    """Rewrites an OOXML package with fixed zip and core-property times: the libraries stamp
    'now', and a corpus must be the same bytes for the same seed."""
    src = zipfile.ZipFile(io.BytesIO(package))
    members = {}
    for info in src.infolist():
        data = src.read(info.filename)
        if info.filename == "docProps/core.xml":
            data = _CORE_TIME.sub(rb"\g<1>2024-03-01T09:00:00Z\g<2>", data)
        members[info.filename] = data
    return zip_bytes(members)
