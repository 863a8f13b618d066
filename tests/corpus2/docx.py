"""Writes a `Paper` as a DOCX with python-docx, the way a clerk sets one in a word processor:
styled runs, paragraph borders for the red rules, a bordered table for telegram fields, a
right tab for 签发人 and dates. LibreOffice sets the page (`office.py`)."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

from docx import Document as new_document
from docx.document import Document as DocxDocument
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Mm, Pt, RGBColor
from docx.table import _Cell
from docx.text.paragraph import Paragraph

from tests.corpus2.paper import Cell, Paper, Para, Span, Table

ALIGN = {
    "left": WD_ALIGN_PARAGRAPH.LEFT,
    "center": WD_ALIGN_PARAGRAPH.CENTER,
    "right": WD_ALIGN_PARAGRAPH.RIGHT,
    "both": WD_ALIGN_PARAGRAPH.JUSTIFY,
}
# Word's border styles for GB/T 9704 rules; sizes in eighths of a point.
RULES = {
    "single": ("single", 12),
    "thick": ("single", 24),
    "double": ("double", 6),
    "thinthick": ("thinThickSmallGap", 18),
    "thickthin": ("thickThinSmallGap", 18),
}


@dataclass(frozen=True)
class Ink:
    """The document's colours and font families, as hex and family names."""

    red: str
    black: str
    families: dict[str, str]


def ink(r: random.Random, families: dict[str, str]) -> Ink:
    red = (r.randint(196, 232), r.randint(0, 36), r.randint(0, 30))
    grey = r.randint(0, 30)
    return Ink(_hex(red), _hex((grey, grey, grey)), families)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "".join(f"{v:02X}" for v in rgb)


def _el(tag: str, **attrs: str) -> BaseOxmlElement:
    element = OxmlElement(tag)
    for key, value in attrs.items():
        element.set(qn(f"w:{key}"), value)
    return element


def _run(paragraph: Paragraph, span: Span, colours: Ink) -> None:
    run = paragraph.add_run(span.text)
    family = colours.families[span.role]
    run.font.size = Pt(span.size)
    run.font.name = family
    run.font.bold = span.bold
    run.font.color.rgb = RGBColor.from_string(colours.red if span.red else colours.black)
    rpr = run._element.get_or_add_rPr()
    rpr.get_or_add_rFonts().set(qn("w:eastAsia"), family)
    if span.spacing:
        rpr.append(_el("w:spacing", val=str(round(span.spacing * 20))))
    if span.squeeze != 100:
        rpr.append(_el("w:w", val=str(span.squeeze)))
    if span.boxed:
        rpr.append(_el("w:bdr", val="single", sz="8", space="1", color=colours.black))


def _border(paragraph: Paragraph, side: str, rule: str, colour: str) -> None:
    style, size = RULES[rule]
    ppr = paragraph._p.get_or_add_pPr()
    borders = ppr.find(qn("w:pBdr"))
    if borders is None:
        borders = _el("w:pBdr")
        ppr.append(borders)
    borders.append(_el(f"w:{side}", val=style, sz=str(size), space="4", color=colour))


def _paragraph(paragraph: Paragraph, para: Para, colours: Ink, area_mm: float) -> None:
    fmt = paragraph.paragraph_format
    paragraph.alignment = ALIGN[para.align]
    fmt.space_before = Pt(para.before)
    fmt.space_after = Pt(para.after)
    if para.line_pt:
        fmt.line_spacing = Pt(para.line_pt)
    if para.indent_chars and para.spans:
        fmt.first_line_indent = Pt(para.spans[0].size * para.indent_chars)
    for span in para.spans:
        _run(paragraph, span, colours)
    if para.right_tab is not None:
        fmt.tab_stops.add_tab_stop(Mm(area_mm), WD_TAB_ALIGNMENT.RIGHT)
        paragraph.add_run("\t")
        _run(paragraph, para.right_tab, colours)
    rule_colour = colours.red if para.rule_red else colours.black
    if para.rule:
        _border(paragraph, "bottom", para.rule, rule_colour)
    if para.rule_above:
        _border(paragraph, "top", para.rule_above, rule_colour)


def _cell(cell: _Cell, content: Cell, colours: Ink, area_mm: float) -> None:
    first = True
    for span in content.spans:
        paragraph = cell.paragraphs[0] if first else cell.add_paragraph()
        first = False
        _paragraph(paragraph, Para((span,), align=content.align), colours, area_mm)


def _table(doc: DocxDocument, table: Table, colours: Ink, area_mm: float) -> None:
    cols = len(table.widths)
    grid = doc.add_table(rows=len(table.rows), cols=cols)
    grid.autofit = False
    props = grid._tbl.tblPr
    # LibreOffice sizes a table by its own width and the grid's columns, not the cells'.
    props.append(_el("w:tblW", w=str(round(area_mm / 25.4 * 1440)), type="dxa"))
    for column, share in zip(grid.columns, table.widths, strict=True):
        column.width = Mm(share * area_mm)
    borders = _el("w:tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        if table.borders:
            borders.append(_el(f"w:{side}", val="single", sz="12", color=colours.red))
        else:
            borders.append(_el(f"w:{side}", val="nil"))
    props.append(borders)
    for i, row in enumerate(table.rows):
        if table.row_pt:
            grid.rows[i].height = Pt(table.row_pt)
        col = 0
        for content in row:
            cell = grid.cell(i, col)
            if content.span_cols > 1:
                cell = cell.merge(grid.cell(i, col + content.span_cols - 1))
            width = sum(table.widths[col : col + content.span_cols]) * area_mm
            cell.width = Mm(width)
            cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
            _cell(cell, content, colours, width)
            col += content.span_cols
    if not table.borders and any(not c.spans[0].text for row in table.rows for c in row):
        _star_rule_borders(grid, colours)


def _star_rule_borders(grid: object, colours: Ink) -> None:
    """The empty outer cells of a star rule carry the red line as their middle border."""
    for cell in grid.rows[0].cells:  # type: ignore[attr-defined]
        if cell.text:
            continue
        tcpr = cell._tc.get_or_add_tcPr()
        tcpr.append(_el("w:tcBorders"))
        tcpr[-1].append(_el("w:bottom", val="single", sz="18", color=colours.red))


def write_docx(paper: Paper, colours: Ink) -> bytes:
    doc = new_document()
    top, right, bottom, left = paper.margins_mm
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.right_margin = Mm(top), Mm(right)
    section.bottom_margin, section.left_margin = Mm(bottom), Mm(left)
    area_mm = 210 - left - right
    for block in paper.blocks:
        if isinstance(block, Table):
            _table(doc, block, colours, area_mm)
        else:
            _paragraph(doc.add_paragraph(), block, colours, area_mm)
    if paper.facts.get("bottom_double_rule"):
        _footer_rule(doc, colours)
    doc.core_properties.author = paper.organ.office
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def _footer_rule(doc: DocxDocument, colours: Ink) -> None:
    """信函格式: the red double rule near the bottom edge, as a footer paragraph's border."""
    footer = doc.sections[0].footer.paragraphs[0]
    _border(footer, "top", "thinthick", colours.red)
