"""Office documents: DOCX/XLSX/PPTX from the ZIP parts, legacy .doc/.wps/.xls, passwords."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import docx
import openpyxl
import pptx
import pytest
from docx.shared import Pt, RGBColor
from PIL import Image
from pptx.dml.color import RGBColor as PptxRGB
from pptx.util import Pt as PptxPt
from test_extract_builders import (
    add_members,
    all_text,
    cfb,
    content_pages,
    custom_properties,
    metadata_lines,
    run,
    zip_bytes,
)

from detectors.errors import CorruptFile, EncryptedContent, UnsupportedFormat
from detectors.extract.ole import ole10_native

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def saved(
    document: docx.document.Document | openpyxl.Workbook | pptx.presentation.Presentation,
) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def png(size: tuple[int, int]) -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    out.seek(0)
    return out


def official_docx() -> bytes:
    document = docx.Document()
    organ = document.add_paragraph().add_run("某某市人民政府文件")
    organ.font.size = Pt(24)
    organ.font.color.rgb = RGBColor(0xE0, 0x10, 0x10)
    mixed = document.add_paragraph()
    mixed.add_run("机密★1年").font.size = Pt(16)
    mixed.add_run("x").font.color.rgb = RGBColor(0xFF, 0, 0)  # one red character does not count
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "单元格甲"
    table.cell(0, 1).text = "单元格乙"
    document.sections[0].header.paragraphs[0].text = "页眉：内部资料"
    document.sections[0].footer.paragraphs[0].text = "页脚文字"
    document.add_picture(png((320, 200)))
    document.add_picture(png((40, 40)))  # a bullet-sized picture: skipped
    document.core_properties.title = "关于检查的通知"
    document.core_properties.subject = "秘密"
    document.core_properties.comments = "征求意见稿"
    return add_members(saved(document), [custom_properties(SecurityLevel="机密")])


def test_docx_text_order_colour_and_size() -> None:
    pages, ctx = run(official_docx(), "notice.docx")
    body = [p for p in content_pages(pages) if p.source == "notice.docx"]
    assert len(body) == 1 and body[0].number == 1 and body[0].image is None
    lines = body[0].lines
    texts = [line.text for line in lines]
    assert texts[:5] == [
        "页眉：内部资料",
        "某某市人民政府文件",
        "机密★1年x",
        "单元格甲",
        "单元格乙",
    ]
    assert texts[-1] == "页脚文字"
    organ, marking = lines[1], lines[2]
    assert (organ.color, organ.size) == ("red", 24.0)
    assert (marking.color, marking.size) == (None, 16.0)
    assert ctx.tally.warnings == []


def test_docx_metadata_and_custom_property_values_stand_alone() -> None:
    pages, _ = run(official_docx(), "notice.docx")
    values = metadata_lines(pages)
    assert values[:3] == ["关于检查的通知", "秘密", "征求意见稿"]
    assert "机密" in values and not any("SecurityLevel" in v for v in values)


def test_docx_embedded_pictures_become_pages_and_icons_are_skipped() -> None:
    pages, _ = run(official_docx(), "notice.docx")
    pictures = [p for p in pages if p.source.startswith("notice.docx/word/media/")]
    assert len(pictures) == 1
    assert pictures[0].image is not None and pictures[0].image.shape == (200, 320, 3)
    assert pictures[0].needs_ocr and pictures[0].number == 1


def test_docx_styles_text_boxes_and_breaks() -> None:
    # A hand-written package: a red paragraph style, a text box stored twice (DrawingML
    # choice + VML fallback, to be read once), and a manual line break.
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<w:document xmlns:w="{W_NS}"
  xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"><w:body>
 <w:p><w:pPr><w:pStyle w:val="Organ"/></w:pPr><w:r><w:t>某某县委员会文件</w:t></w:r></w:p>
 <w:p><w:r><mc:AlternateContent>
   <mc:Choice><w:drawing><w:txbxContent><w:p><w:r><w:t>框内文字</w:t></w:r></w:p>
   </w:txbxContent></w:drawing></mc:Choice>
   <mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>框内文字</w:t></w:r></w:p>
   </w:txbxContent></w:pict></mc:Fallback>
 </mc:AlternateContent></w:r><w:r><w:t>锚定段落</w:t></w:r></w:p>
 <w:p><w:r><w:t>第一行</w:t><w:br/><w:t>第二行</w:t><w:tab/><w:t>续</w:t></w:r></w:p>
 <w:p><w:r><w:delText>删除的文字</w:delText></w:r></w:p>
</w:body></w:document>"""
    styles = f"""<?xml version="1.0" encoding="UTF-8"?>
<w:styles xmlns:w="{W_NS}">
 <w:docDefaults><w:rPrDefault><w:rPr><w:sz w:val="32"/></w:rPr></w:rPrDefault></w:docDefaults>
 <w:style w:type="paragraph" w:styleId="Big"><w:rPr><w:sz w:val="44"/></w:rPr></w:style>
 <w:style w:type="paragraph" w:styleId="Organ"><w:basedOn w:val="Big"/>
   <w:rPr><w:color w:val="FF0000"/></w:rPr></w:style>
</w:styles>"""
    data = zip_bytes([("word/document.xml", body.encode()), ("word/styles.xml", styles.encode())])
    pages, _ = run(data, "hand.docx")
    lines = content_pages(pages)[0].lines
    assert [line.text for line in lines] == [
        "某某县委员会文件",
        "框内文字",
        "锚定段落",
        "第一行",
        "第二行\t续",
    ]
    assert (lines[0].color, lines[0].size) == ("red", 22.0)
    assert (lines[1].color, lines[1].size) == (None, 16.0)


def test_docx_embedded_document_is_scanned_with_its_path() -> None:
    inner = docx.Document()
    inner.add_paragraph("附件：绝密★长期")
    data = add_members(official_docx(), [("word/embeddings/Document1.docx", saved(inner))])
    pages, _ = run(data, "outer.docx")
    embedded = [p for p in pages if p.source == "outer.docx/word/embeddings/Document1.docx"]
    assert [p.text for p in content_pages(embedded)] == ["附件：绝密★长期"]


def test_xlsx_one_page_per_sheet_rows_as_tab_lines() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "名单"
    sheet.append(["姓名", "身份证号", "电话"])
    sheet.append(["张三", "110101199003077777", 13800138000])
    book.create_sheet("备注")["B2"] = "内部资料 注意保存"
    data = add_members(saved(book), [custom_properties(SecurityLevel="机密")])
    pages, _ = run(data, "list.xlsx")
    first, second = content_pages(pages)
    assert (first.number, second.number) == (1, 2)
    assert [line.text for line in first.lines] == [
        "姓名\t身份证号\t电话",
        "张三\t110101199003077777\t13800138000",
    ]
    assert second.text == "内部资料 注意保存"
    assert "机密" in metadata_lines(pages)


def test_xlsx_inline_strings() -> None:
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel_ns = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    workbook = (
        f'<workbook {ns} {rel_ns}><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets>'
        "</workbook>"
    )
    rels = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    )
    sheet = (
        f'<worksheet {ns}><sheetData><row r="1">'
        '<c r="A1" t="inlineStr"><is><t>行内</t></is></c><c r="B1" t="s"><v>0</v></c>'
        '<c r="C1"><v>42</v></c></row></sheetData></worksheet>'
    )
    shared = f"<sst {ns}><si><r><t>共</t></r><r><t>享</t></r><rPh><t>きょう</t></rPh></si></sst>"
    data = zip_bytes(
        [
            ("xl/workbook.xml", workbook.encode()),
            ("xl/_rels/workbook.xml.rels", rels.encode()),
            ("xl/worksheets/sheet1.xml", sheet.encode()),
            ("xl/sharedStrings.xml", shared.encode()),
        ]
    )
    pages, _ = run(data, "inline.xlsx")
    assert content_pages(pages)[0].text == "行内\t共享\t42"


def test_pptx_slides_with_notes_colour_and_size() -> None:
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "工作部署"
    run_ = slide.placeholders[1].text_frame.paragraphs[0].add_run()
    run_.text = "机密★6个月"
    run_.font.color.rgb = PptxRGB(0xFF, 0, 0)
    run_.font.size = PptxPt(28)
    slide.notes_slide.notes_text_frame.text = "备注：不得外传"
    deck.slides.add_slide(deck.slide_layouts[5]).shapes.title.text = "第二页"
    pages, _ = run(saved(deck), "deck.pptx")
    first, second = content_pages(pages)
    assert (first.number, second.number) == (1, 2)
    texts = [line.text for line in first.lines]
    assert texts[:2] == ["工作部署", "机密★6个月"] and "备注：不得外传" in texts
    assert (first.lines[1].color, first.lines[1].size) == ("red", 28.0)
    assert second.text == "第二页"


def test_truncated_docx_is_corrupt() -> None:
    data = official_docx()
    with pytest.raises(CorruptFile):
        run(data[: len(data) - 200], "cut.docx")


# Password-protected Office files: an OLE container with EncryptionInfo, or a .doc flag.


def test_encrypted_ooxml_container() -> None:
    data = cfb({"EncryptionInfo": b"\x04\x00\x04\x00\x40\x00\x00\x00", "EncryptedPackage": b"x"})
    with pytest.raises(EncryptedContent, match="password-protected"):
        run(data, "secret.docx")


def test_encrypted_doc_flag() -> None:
    fib = bytearray(1472)
    struct.pack_into("<HH", fib, 0, 0xA5EC, 0xC1)
    struct.pack_into("<H", fib, 0x0A, 0x0100 | 0x0200)  # fEncrypted, 1Table
    data = cfb({"WordDocument": bytes(fib), "1Table": b"\0" * 64})
    with pytest.raises(EncryptedContent, match="Word document is password-protected"):
        run(data, "secret.doc")


def test_ppt_is_unsupported_with_advice() -> None:
    with pytest.raises(UnsupportedFormat, match=r"save as \.pptx"):
        run(cfb({"PowerPoint Document": b"\0" * 100}), "slides.ppt")


def test_ole_package_payload_is_scanned() -> None:
    payload = "附件内容：秘密★1年".encode()
    label = b"report.txt\0"
    native = struct.pack("<H", 2) + label + b"C:\\tmp\\report.txt\0" + struct.pack("<HH", 0, 3)
    native += struct.pack("<I", 9) + b"C:\\t\\r.t\0" + struct.pack("<I", len(payload)) + payload
    stream = struct.pack("<I", len(native)) + native
    assert ole10_native(stream) == ("report.txt", payload)
    pages, _ = run(cfb({"\x01Ole10Native": stream}), "oleObject1.bin")
    assert [(p.source, p.text) for p in pages] == [("oleObject1.bin/report.txt", payload.decode())]


# Real legacy files, made once by LibreOffice: see tests/fixtures/legacy/make.py.

LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy"


@pytest.fixture(scope="module")
def legacy_files() -> dict[str, bytes]:
    return {
        "doc": (LEGACY / "marked.doc").read_bytes(),
        "ascii": (LEGACY / "ascii.doc").read_bytes(),
        "xls": (LEGACY / "list.xls").read_bytes(),
    }


def test_doc_text_from_the_piece_table(legacy_files: dict[str, bytes]) -> None:
    pages, _ = run(legacy_files["doc"], "old.doc")
    body = content_pages(pages)
    assert len(body) == 1
    assert [line.text for line in body[0].lines] == [
        "页眉内容",
        "机密★1年",
        "某某市人民政府文件 Notice",
        "单元格",
    ]
    assert "标题：内部资料" in metadata_lines(pages)


def test_doc_with_8bit_pieces(legacy_files: dict[str, bytes]) -> None:
    pages, _ = run(legacy_files["ascii"], "plain.doc")
    assert "Plain ASCII body stored as 8-bit text." in all_text(content_pages(pages))


def test_wps_is_the_word_binary_format(legacy_files: dict[str, bytes]) -> None:
    from detectors.extract import media_kind

    assert media_kind(legacy_files["doc"], "公文.wps") == "wps"
    pages, _ = run(legacy_files["doc"], "公文.wps")
    assert "机密★1年" in all_text(content_pages(pages))


def test_xls_rows_as_lines(legacy_files: dict[str, bytes]) -> None:
    pages, _ = run(legacy_files["xls"], "list.xls")
    (sheet,) = content_pages(pages)
    assert [line.text for line in sheet.lines] == ["姓名\t电话", "张三\t13800138000"]
