"""OFD: text lines with colour and size, a rendered page image, metadata, encryption."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from test_extract_builders import content_pages, metadata_lines, ofd_bytes, run

from detectors.errors import CorruptFile, EncryptedContent
from detectors.model import RgbImage

RED_HEADER = (
    '<ofd:TextObject ID="4" Boundary="30 30 150 12" Font="2" Size="10">'
    '<ofd:FillColor Value="255 0 0"/>'
    '<ofd:TextCode X="0" Y="10" DeltaX="g 8 10">某某市人民政府文件</ofd:TextCode></ofd:TextObject>'
    '<ofd:PathObject ID="6" Boundary="25 48 160 2" LineWidth="0.8">'
    '<ofd:StrokeColor Value="255 0 0"/><ofd:AbbreviatedData>M 0 1 L 160 1</ofd:AbbreviatedData>'
    "</ofd:PathObject>"
    '<ofd:TextObject ID="5" Boundary="30 60 150 8" Font="2" Size="5.6">'
    '<ofd:TextCode X="0" Y="6" DeltaX="g 10 5.6">关于开展安全检查工作的通知</ofd:TextCode>'
    "</ofd:TextObject>"
)


def px_per_mm(image: RgbImage) -> float:
    return image.shape[1] / 210


def red(pixels: RgbImage) -> np.ndarray:
    return (pixels[..., 0] > 180) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)


def test_text_lines_and_rendered_red_rule() -> None:
    pages, _ = run(ofd_bytes([RED_HEADER]), "notice.ofd")
    (page,) = content_pages(pages)
    assert (page.source, page.number, page.needs_ocr) == ("notice.ofd", 1, False)
    organ, title = page.lines
    assert organ.text == "某某市人民政府文件"
    assert (organ.color, organ.size) == ("red", 28.5)  # 10 mm = 28.35 pt
    assert title.color is None and title.text == "关于开展安全检查工作的通知"
    image = page.image
    assert image is not None and image.shape == (1286, 909, 3)  # A4 at 110 dpi
    scale = px_per_mm(image)
    rule = image[round(49 * scale), round(30 * scale) : round(180 * scale)]
    assert red(rule).all(), "the red PathObject rule is drawn where it stands"
    above = image[round(45 * scale), round(30 * scale) : round(180 * scale)]
    assert not red(above).any()
    # Text boxes are in pixels of the rendered image, around the glyphs that were drawn.
    assert organ.bbox is not None
    x0, y0, x1, y1 = organ.bbox
    assert abs(x0 - 30 * scale) < 3 and abs(y1 - 41.2 * scale) < 3
    assert red(image[y0:y1, x0:x1]).mean() > 0.05


def test_one_text_object_per_character_is_one_line() -> None:
    glyphs = "".join(
        f'<ofd:TextObject ID="{10 + i}" Boundary="{30 + 6 * i} 100 6 8" Font="2" Size="5.6">'
        f'<ofd:TextCode X="0" Y="6">{ch}</ofd:TextCode></ofd:TextObject>'
        for i, ch in enumerate("机密★1年")
    )
    far = (
        '<ofd:TextObject ID="30" Boundary="150 100 40 8" Font="2" Size="5.6">'
        '<ofd:TextCode X="0" Y="6">右侧文字内容</ofd:TextCode></ofd:TextObject>'
    )
    pages, _ = run(ofd_bytes([glyphs + far]), "chars.ofd")
    texts = [line.text for line in content_pages(pages)[0].lines]
    assert texts == ["机密★1年", "右侧文字内容"]


def test_paths_curves_fill_and_template_background() -> None:
    seal = (
        '<ofd:PathObject ID="7" Boundary="80 150 50 50" Stroke="false" Fill="true">'
        '<ofd:FillColor Value="#E6 #00 #00"/><ofd:AbbreviatedData>'
        "M 25 0 B 38.8 0 50 11.2 50 25 B 50 38.8 38.8 50 25 50 B 11.2 50 0 38.8 0 25 "
        "B 0 11.2 11.2 0 25 0 C</ofd:AbbreviatedData></ofd:PathObject>"
    )
    template = (
        '<ofd:PathObject ID="92" Boundary="0 280 210 5" LineWidth="1">'
        "<ofd:AbbreviatedData>M 10 1 L 200 1</ofd:AbbreviatedData></ofd:PathObject>"
    )
    pages, _ = run(ofd_bytes([RED_HEADER + seal], template=template), "seal.ofd")
    image = content_pages(pages)[0].image
    assert image is not None
    scale = px_per_mm(image)
    assert red(image[round(175 * scale), round(105 * scale)][None])[0], "disc filled red"
    assert not red(image[round(152 * scale), round(82 * scale)][None])[0], "corner outside"
    footer = image[round(281 * scale), round(20 * scale) : round(190 * scale)]
    assert (footer.max(axis=1) < 60).all(), "the template's black rule is drawn under the page"


def test_seal_ring_drawn_with_arcs() -> None:
    ring = (
        '<ofd:PathObject ID="47" Boundary="100 120 42 42" LineWidth="1.2">'
        '<ofd:StrokeColor Value="223 12 21"/><ofd:AbbreviatedData>'
        "M 0 21 A 21 21 0 1 1 42 21 A 21 21 0 1 1 0 21 C</ofd:AbbreviatedData></ofd:PathObject>"
    )
    pages, _ = run(ofd_bytes([RED_HEADER + ring]), "ring.ofd")
    image = content_pages(pages)[0].image
    assert image is not None
    scale = px_per_mm(image)

    def at(x_mm: float, y_mm: float) -> bool:
        return bool(red(image[round(y_mm * scale), round(x_mm * scale)][None])[0])

    assert all(at(x, y) for x, y in ((121, 120.2), (121, 161.8), (100.2, 141), (141.8, 141)))
    diagonal = 121 + 21 * 0.7071
    assert at(diagonal, 141 - 21 * 0.7071), "on the circle, not a chord"
    assert not at(121, 141), "the centre stays white"


def test_stamp_annotation_is_drawn_over_the_page() -> None:
    stamp = (
        '<ofd:Appearance Boundary="120 200 40 40">'
        '<ofd:PathObject ID="81" Boundary="0 0 40 40" LineWidth="1.5">'
        '<ofd:StrokeColor Value="230 0 0"/>'
        "<ofd:AbbreviatedData>M 2 20 L 38 20</ofd:AbbreviatedData></ofd:PathObject>"
        "</ofd:Appearance>"
    )
    pages, _ = run(ofd_bytes([RED_HEADER], annotation=stamp), "stamped.ofd")
    image = content_pages(pages)[0].image
    assert image is not None
    scale = px_per_mm(image)
    assert red(image[round(220 * scale), round(125 * scale) : round(155 * scale)]).all()


def test_image_objects_and_scanned_pages_need_ocr() -> None:
    picture = io.BytesIO()
    Image.new("RGB", (200, 280), (0, 0, 255)).save(picture, "PNG")
    resources = (
        '<ofd:MultiMedias><ofd:MultiMedia ID="8" Type="Image">'
        "<ofd:MediaFile>scan.png</ofd:MediaFile></ofd:MultiMedia></ofd:MultiMedias>"
    )
    scan = '<ofd:ImageObject ID="9" Boundary="0 0 210 297" CTM="210 0 0 297 0 0" ResourceID="8"/>'
    data = ofd_bytes(
        [scan], resources=resources, extra=[("Doc_0/Res/scan.png", picture.getvalue())]
    )
    pages, _ = run(data, "scan.ofd")
    (page,) = content_pages(pages)
    assert page.needs_ocr and page.is_capture and page.lines == []
    assert page.image is not None and max(page.image.shape[:2]) == 2339  # 200 dpi for OCR
    assert tuple(page.image[1000, 800]) == (0, 0, 255)


def test_metadata_from_docinfo() -> None:
    info = (
        "<ofd:Title>关于检查的通知</ofd:Title><ofd:Subject>秘密</ofd:Subject>"
        "<ofd:Keywords><ofd:Keyword>内部资料</ofd:Keyword></ofd:Keywords>"
        '<ofd:CustomDatas><ofd:CustomData Name="密级">机密</ofd:CustomData></ofd:CustomDatas>'
    )
    pages, _ = run(ofd_bytes([RED_HEADER], doc_info=info), "meta.ofd")
    assert metadata_lines(pages) == ["关于检查的通知", "秘密", "内部资料", "机密"]


def test_encrypted_ofd() -> None:
    data = ofd_bytes([RED_HEADER], extra=[("Encryptions.xml", b"<Encryptions/>")])
    with pytest.raises(EncryptedContent, match="OFD"):
        run(data, "secret.ofd")


def test_ofd_without_document_is_corrupt() -> None:
    data = ofd_bytes([RED_HEADER])
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            if info.filename != "Doc_0/Document.xml":
                target.writestr(info, source.read(info))
    with pytest.raises(CorruptFile, match=r"Document\.xml"):
        run(out.getvalue(), "broken.ofd")


def test_page_cap_counts_ofd_pages() -> None:
    pages, ctx = run(ofd_bytes([RED_HEADER] * 4), "four.ofd", max_pages=3)
    assert [p.number for p in content_pages(pages)] == [1, 2, 3]
    assert ctx.tally.pages_skipped == 1
