"""DOCX, XLSX and PPTX, read straight from the ZIP package with lxml.

One code path for the three, so nothing is missed that a high-level library skips: DOCX text
boxes, headers, footers and notes; XLSX inline strings; PPTX speaker notes. Run colour and size
come along, because a red 22 pt line at the top is how an organ mark looks in a DOCX.
Large parts are parsed incrementally so memory stays near the size of the part.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from lxml import etree

from detectors.errors import CorruptFile, EncryptedContent, ScanError
from detectors.extract.base import ExtractContext
from detectors.extract.common import (
    capped_text,
    dominant,
    join_source,
    local,
    metadata_page,
    parse_xml,
    red_or_none,
)
from detectors.extract.images import extract_image, image_size
from detectors.extract.members import extract_member
from detectors.extract.zipread import open_zip, read_member
from detectors.model import Page, TextLine

MIN_MEDIA_WIDTH = 100
MIN_MEDIA_HEIGHT = 60
"""Smaller embedded pictures are logos, bullets and icons: not worth an OCR pass."""

_MEDIA = re.compile(r"^(word|xl|ppt)/media/[^/]+$", re.IGNORECASE)
_EMBEDDING = re.compile(r"^(word|xl|ppt)/embeddings/[^/]+$", re.IGNORECASE)
_WORD_STORIES_BEFORE = re.compile(r"^word/header\d*\.xml$")
_WORD_STORIES_AFTER = re.compile(r"^word/(footer\d*|footnotes|endnotes)\.xml$")
_CORE_FIELDS = frozenset(
    {"title", "subject", "keywords", "description", "category", "contentStatus"}
)
_NOTES_REL = "/notesSlide"
_SECURE = {"resolve_entities": False, "no_network": True, "huge_tree": False}

Rgb = tuple[int, int, int]


@dataclass(frozen=True)
class RunFormat:
    color: Rgb | None = None
    size: float | None = None
    """Points."""

    def over(self, base: RunFormat) -> RunFormat:
        """This format, with what it leaves unset taken from `base` (style inheritance)."""
        return RunFormat(self.color or base.color, self.size or base.size)


Segment = tuple[str, RunFormat]
"""A piece of one line of text and the format it is written in."""


@dataclass
class Package:
    """An opened OOXML package: bounded part reads and relationship targets."""

    archive: zipfile.ZipFile
    name: str
    ctx: ExtractContext
    chars_left: int = 0
    names: set[str] = field(default_factory=set)

    def part(self, path: str) -> bytes | None:
        try:
            info = self.archive.getinfo(path)
        except KeyError:
            return None
        return read_member(self.archive, info, self.ctx, members=0)

    def targets(self, source_part: str) -> dict[str, tuple[str, str]]:
        """Relationship id → (type, package path) for one part."""
        folder, base = posixpath.split(source_part)
        xml = self.part(posixpath.join(folder, "_rels", base + ".rels"))
        if xml is None:
            return {}
        found: dict[str, tuple[str, str]] = {}
        for rel in _parse(xml).iter("{*}Relationship"):
            target = rel.get("Target", "")
            if rel.get("TargetMode") == "External" or not target:
                continue
            path = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
            found[rel.get("Id", "")] = (rel.get("Type", ""), posixpath.normpath(path))
        return found

    def page(self, number: int, lines: list[TextLine]) -> Page:
        kept = capped_text(lines, self.chars_left)
        self.chars_left -= sum(len(line.text) for line in kept)
        return Page(source=self.name, number=number, lines=kept)


def extract_ooxml(data: bytes, name: str, ctx: ExtractContext) -> Iterator[Page]:
    with open_zip(data, "Office document") as archive:
        pkg = Package(
            archive=archive,
            name=name,
            ctx=ctx,
            chars_left=ctx.limits.max_text_chars,
            names=set(archive.namelist()),
        )
        meta = metadata_page(name, _metadata_values(pkg))
        if meta:
            yield meta
        try:
            if "word/document.xml" in pkg.names:
                yield from _docx_pages(pkg)
            elif "xl/workbook.xml" in pkg.names:
                yield from _xlsx_pages(pkg)
            elif "ppt/presentation.xml" in pkg.names:
                yield from _pptx_pages(pkg)
            else:
                raise CorruptFile("Office document has no main part (document, workbook or slides)")
        except etree.XMLSyntaxError as exc:
            raise CorruptFile(f"Office document XML is damaged ({exc})") from exc
        yield from _embedded_pages(pkg)


def _parse(xml: bytes) -> etree._Element:
    try:
        return parse_xml(xml)
    except etree.XMLSyntaxError as exc:
        raise CorruptFile(f"Office document XML is damaged ({exc})") from exc


def _stream(xml: bytes, tag: str) -> Iterator[etree._Element]:
    """Elements named `tag` (any namespace) as each one ends, then freed with what precedes it.

    Freeing keeps memory near the part's size; an element's content is complete when it ends
    (an inner paragraph of a text box ends, and is read and cleared, before its anchor's).
    """
    events = etree.iterparse(io.BytesIO(xml), events=("end",), tag=f"{{*}}{tag}", **_SECURE)
    for _, element in events:
        yield element
        element.clear(keep_tail=False)
        parent = element.getparent()
        while parent is not None and element.getprevious() is not None:
            del parent[0]


def _lines(segments_per_line: Iterable[list[Segment]]) -> list[TextLine]:
    """TextLines with the colour and size that most of their characters are written in."""
    lines: list[TextLine] = []
    for segments in segments_per_line:
        text = "".join(text for text, _ in segments).strip()
        if not text:
            continue
        # Characters without a colour (automatic, black) count too: one red letter in a black
        # line does not make the line red.
        color = dominant((fmt.color, len(t.strip())) for t, fmt in segments)
        size = dominant((fmt.size, len(t.strip())) for t, fmt in segments)
        lines.append(TextLine(text=text, color=red_or_none(color), size=size))
    return lines


def _hex_rgb(value: str | None) -> Rgb | None:
    if not value or len(value) != 6:
        return None
    try:
        number = int(value, 16)
    except ValueError:
        return None
    return (number >> 16) & 0xFF, (number >> 8) & 0xFF, number & 0xFF


def _attr(element: etree._Element | None, name: str) -> str | None:
    """An attribute by local name (w:val, or the strict-OOXML namespace's val)."""
    if element is None:
        return None
    for key, value in element.attrib.items():
        if local(key) == name:
            return str(value)
    return None


def _rel_id(element: etree._Element) -> str:
    """The r:id attribute (a sldId also has a plain, numeric `id`)."""
    for key, value in element.attrib.items():
        if str(key).startswith("{") and local(key) == "id":
            return str(value)
    return ""


def _child(element: etree._Element | None, name: str) -> etree._Element | None:
    if element is None:
        return None
    for child in element:
        if local(child.tag) == name:
            return child
    return None


# DOCX


def _docx_pages(pkg: Package) -> Iterator[Page]:
    styles = _word_styles(pkg.part("word/styles.xml"))
    parts = sorted(n for n in pkg.names if _WORD_STORIES_BEFORE.match(n))
    parts.append("word/document.xml")
    parts += sorted(n for n in pkg.names if _WORD_STORIES_AFTER.match(n))
    lines: list[TextLine] = []
    for part in parts:
        xml = pkg.part(part)
        if xml is not None:
            lines += _lines(_word_paragraphs(xml, styles))
    if pkg.ctx.take_page():
        yield pkg.page(1, lines)


def _word_paragraphs(xml: bytes, styles: WordStyles) -> Iterator[list[Segment]]:
    for paragraph in _stream(xml, "p"):
        if local(paragraph.tag) != "p" or _in_fallback(paragraph):
            continue
        base = styles.paragraph_format(_attr(_child(_child(paragraph, "pPr"), "pStyle"), "val"))
        yield from _word_runs(paragraph, styles, base)


def _in_fallback(element: etree._Element) -> bool:
    # Text boxes are stored twice (DrawingML choice and VML fallback): read the choice only.
    return any(local(a.tag) == "Fallback" for a in element.iterancestors())


def _word_runs(
    paragraph: etree._Element, styles: WordStyles, base: RunFormat
) -> Iterator[list[Segment]]:
    """The paragraph's lines (split at manual line breaks) as formatted segments.

    Paragraphs nested in text boxes were read and cleared before this one ended, so the
    runs found here are the paragraph's own.
    """
    line: list[Segment] = []
    for run in paragraph.iter("{*}r"):
        if _in_fallback(run):
            continue
        fmt = styles.run_format(run, base)
        for child in run:
            name = local(child.tag)
            if name == "t":
                line.append((child.text or "", fmt))
            elif name == "tab":
                line.append(("\t", fmt))
            elif name in ("br", "cr"):
                yield line
                line = []
    yield line


@dataclass(frozen=True)
class WordStyles:
    """Run formats of paragraph and character styles, inheritance resolved."""

    formats: dict[str, RunFormat]
    default: RunFormat
    default_paragraph: str | None

    def paragraph_format(self, style_id: str | None) -> RunFormat:
        style = style_id or self.default_paragraph
        return self.formats.get(style or "", RunFormat()).over(self.default)

    def run_format(self, run: etree._Element, base: RunFormat) -> RunFormat:
        props = _child(run, "rPr")
        direct = _run_props(props)
        char_style = self.formats.get(_attr(_child(props, "rStyle"), "val") or "", RunFormat())
        return direct.over(char_style).over(base)


def _run_props(props: etree._Element | None) -> RunFormat:
    color = _hex_rgb(_attr(_child(props, "color"), "val"))
    half_points = _attr(_child(props, "sz"), "val")
    size = int(half_points) / 2 if half_points and half_points.isdigit() else None
    return RunFormat(color, size)


def _word_styles(xml: bytes | None) -> WordStyles:
    if xml is None:
        return WordStyles({}, RunFormat(), None)
    root = _parse(xml)
    own: dict[str, tuple[RunFormat, str | None]] = {}
    default_paragraph = None
    for style in root.iter("{*}style"):
        style_id = _attr(style, "styleId") or ""
        based_on = _attr(_child(style, "basedOn"), "val")
        own[style_id] = (_run_props(_child(style, "rPr")), based_on)
        if _attr(style, "type") == "paragraph" and _attr(style, "default") in ("1", "true"):
            default_paragraph = style_id
    defaults = next(root.iter("{*}rPrDefault"), None)
    default = _run_props(_child(defaults, "rPr"))
    return WordStyles({sid: _resolve(sid, own) for sid in own}, default, default_paragraph)


def _resolve(style_id: str, own: dict[str, tuple[RunFormat, str | None]]) -> RunFormat:
    fmt, parent = own[style_id]
    seen = {style_id}
    while parent and parent in own and parent not in seen:  # basedOn chains may loop
        seen.add(parent)
        parent_fmt, parent = own[parent]
        fmt = fmt.over(parent_fmt)
    return fmt


# XLSX


def _xlsx_pages(pkg: Package) -> Iterator[Page]:
    shared = _shared_strings(pkg.part("xl/sharedStrings.xml"))
    rels = pkg.targets("xl/workbook.xml")
    workbook = _parse(pkg.part("xl/workbook.xml") or b"")
    for number, sheet in enumerate(workbook.iter("{*}sheet"), start=1):
        if not pkg.ctx.take_page():
            continue
        target = rels.get(_rel_id(sheet))
        xml = pkg.part(target[1]) if target else None
        lines = [TextLine(row) for row in _sheet_rows(xml, shared)] if xml else []
        yield pkg.page(number, lines)


def _shared_strings(xml: bytes | None) -> list[str]:
    if xml is None:
        return []
    return [_cell_text(item) for item in _stream(xml, "si")]


def _cell_text(element: etree._Element) -> str:
    # Phonetic guides (rPh) repeat the reading of East Asian text: not part of the value.
    return "".join(
        t.text or ""
        for t in element.iter("{*}t")
        if not any(local(a.tag) == "rPh" for a in t.iterancestors())
    )


def _sheet_rows(xml: bytes, shared: list[str]) -> Iterator[str]:
    for row in _stream(xml, "row"):
        cells = [_cell_value(cell, shared) for cell in row if local(cell.tag) == "c"]
        line = "\t".join(value for value in cells if value.strip())
        if line:
            yield line


def _cell_value(cell: etree._Element, shared: list[str]) -> str:
    kind = cell.get("t")
    if kind == "inlineStr":
        return _cell_text(cell)
    value = _child(cell, "v")
    text = value.text or "" if value is not None else ""
    if kind == "s":
        index = int(text) if text.isdigit() else -1
        return shared[index] if 0 <= index < len(shared) else ""
    return text  # numbers stay as written: phone and ID numbers are often numeric cells


# PPTX


def _pptx_pages(pkg: Package) -> Iterator[Page]:
    rels = pkg.targets("ppt/presentation.xml")
    presentation = _parse(pkg.part("ppt/presentation.xml") or b"")
    for number, slide in enumerate(presentation.iter("{*}sldId"), start=1):
        if not pkg.ctx.take_page():
            continue
        target = rels.get(_rel_id(slide))
        lines: list[TextLine] = []
        if target:
            lines = _slide_lines(pkg, target[1])
            for kind, path in pkg.targets(target[1]).values():
                if kind.endswith(_NOTES_REL):
                    lines += _slide_lines(pkg, path)
        yield pkg.page(number, lines)


def _slide_lines(pkg: Package, path: str) -> list[TextLine]:
    xml = pkg.part(path)
    return _lines(_drawing_paragraphs(xml)) if xml else []


def _drawing_paragraphs(xml: bytes) -> Iterator[list[Segment]]:
    for paragraph in _stream(xml, "p"):
        line: list[Segment] = []
        for element in paragraph.iter():
            name = local(element.tag)
            if name == "t":
                line.append((element.text or "", _drawing_format(element.getparent())))
            elif name == "br":
                yield line
                line = []
        yield line


def _drawing_format(run: etree._Element | None) -> RunFormat:
    props = _child(run, "rPr")
    hundredths = _attr(props, "sz")
    fill = _child(_child(props, "solidFill"), "srgbClr")
    return RunFormat(
        _hex_rgb(_attr(fill, "val")),
        int(hundredths) / 100 if hundredths and hundredths.isdigit() else None,
    )


# Metadata and embedded files


def _metadata_values(pkg: Package) -> list[str]:
    values: list[str] = []
    core = pkg.part("docProps/core.xml")
    if core:
        for element in _parse(core).iter():
            if local(element.tag) in _CORE_FIELDS and element.text:
                values.append(element.text)
    custom = pkg.part("docProps/custom.xml")
    if custom:
        # <property name="SecurityLevel"><vt:lpwstr>机密</vt:lpwstr></property>: the value alone.
        for prop in _parse(custom).iter("{*}property"):
            values += [text for text in prop.itertext() if text.strip()]
    return values


def _embedded_pages(pkg: Package) -> Iterator[Page]:
    for member in sorted(pkg.names):
        if _MEDIA.match(member):
            yield from _media_pages(pkg, member)
        elif _EMBEDDING.match(member):
            try:
                data = pkg.part(member) or b""
            except ScanError as exc:
                _record(pkg, member, exc)
                continue
            yield from extract_member(data, join_source(pkg.name, member), pkg.ctx)


def _media_pages(pkg: Package, member: str) -> Iterator[Page]:
    source = join_source(pkg.name, member)
    try:
        data = pkg.part(member) or b""
        size = image_size(data)
        if size is None or size[0] < MIN_MEDIA_WIDTH or size[1] < MIN_MEDIA_HEIGHT:
            return  # an icon, or a format we do not render (EMF/WMF)
        yield from extract_image(data, source, pkg.ctx)
    except ScanError as exc:
        _record(pkg, member, exc)


def _record(pkg: Package, member: str, exc: ScanError) -> None:
    if pkg.ctx.exhausted:
        raise exc
    source = join_source(pkg.name, member)
    if isinstance(exc, EncryptedContent):
        pkg.ctx.encrypted(source)
    else:
        pkg.ctx.warn(source, str(exc))
