"""Forms and look-alikes the corpus generator never drew, scanned end to end with real OCR:
telegram forms (密码电报, 明电) with label and value in cells of their own, 上行文 with the
organ mark lower on the page, a notice whose red organ name stands alone, photos of a
monitor with the red shifted, and red things that are no red header."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest
from form_synth import (
    book_page,
    community_notice,
    gate_plaque,
    itinerary,
    jpeg,
    menu,
    monitor_photo,
    newspaper,
    organ_alone_notice,
    organ_alone_pdf,
    png,
    quota_invoice,
    red_heading_pdf,
    taxi_receipt,
    telegram_form,
    telegram_pdf,
    upward_report,
)
from vision_synth import SynthPage, photograph, render_official_page

from detectors import Page, ScanConfig, Scanner, ScanReport, TextLine
from detectors.context import PageContext
from detectors.policy import fired
from detectors.rules import classification_marking, document_header, handling_marking, red_header
from detectors.rules._organ import organ_name
from detectors.vision.color import red_mask
from tests.conftest import context, laid_out_page, text_page


@pytest.fixture(scope="module")
def scanner(config: ScanConfig) -> Scanner:
    return Scanner(config)


def _scan(scanner: Scanner, data: bytes, name: str) -> tuple[ScanReport, set[str]]:
    report = scanner.scan(data, name)
    assert report.error is None, report.error
    return report, fired(report.findings, scanner.config.policy.min_confidence)


def _photo(page: np.ndarray, seed: int, **kwargs: object) -> bytes:
    shot, _ = photograph(page, (3000, 4000), seed=seed, **kwargs)  # type: ignore[arg-type]
    return jpeg(shot)


RIGHT_COLUMN_LEVEL = (
    ("发电单位", "江湾市人民政府办公室", "等　级", "特提"),
    ("签　发", "卢思远", "密　级", "秘密★3个月"),
    ("电报号", "湾政办电〔2023〕44号", "份　号", "000046"),
)
"""The level in the right-hand column: not top-left, a marking only as its cell's value."""


# Telegram forms.


@pytest.mark.parametrize(
    ("name", "make", "level"),
    [
        ("密码电报.png", lambda: png(telegram_form()), "机密"),
        ("明电.png", lambda: png(telegram_form("江湾市人民政府办公室明电")), "机密"),
        ("右栏密级.png", lambda: png(telegram_form(fields=RIGHT_COLUMN_LEVEL)), "秘密"),
        ("明电.pdf", telegram_pdf, "机密"),
        ("密码电报.jpg", lambda: _photo(telegram_form(), seed=3), "机密"),
        (
            "明电-warm.jpg",
            lambda: _photo(telegram_form("江湾市人民政府办公室明电"), seed=5, warm=True),
            "机密",
        ),
        ("密码电报-monitor.jpg", lambda: jpeg(monitor_photo(telegram_form())), "机密"),
    ],
)
def test_telegram_form(scanner: Scanner, name: str, make: Callable[[], bytes], level: str) -> None:
    """The level in the 密级 cell is a classification marking, the fields make a header, the
    red title over the red-ruled table is the red header: a leaked telegram is critical."""
    report, names = _scan(scanner, make(), name)
    assert {"classification_marking", "document_header", "red_header"} <= names, report.findings
    assert f"classification_marking:{level}" in names
    assert report.verdict.label == "critical"
    (red,) = [f for f in report.findings if f.detector == "red_header"]
    assert red.details.get("telegram")


def test_telegram_level_in_a_black_table_without_red_title(scanner: Scanner) -> None:
    """A table ruled in black under a black title: the level in its 密级 cell still counts,
    but nothing red makes a red header."""
    page = telegram_form("公务联系单", grid=(30, 30, 30), title_ink=(30, 30, 30))
    report, names = _scan(scanner, png(page), "联系单.png")
    assert "classification_marking:机密" in names
    assert not [f for f in report.findings if f.detector == "red_header"]


# 上行文 and an organ name alone.


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("请示.png", lambda: png(upward_report())),
        ("报告.jpg", lambda: _photo(upward_report(kind="报告"), seed=8, fill=0.9)),
        ("请示.jpg", lambda: _photo(upward_report(organ="江湾市人民政府"), seed=11)),
    ],
)
def test_upward_report_has_a_red_header(
    scanner: Scanner, name: str, make: Callable[[], bytes]
) -> None:
    report, names = _scan(scanner, make(), name)
    assert {"red_header", "document_header:issuer"} <= names, report.findings


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("通知.png", lambda: png(organ_alone_notice())),
        ("通知.jpg", lambda: _photo(organ_alone_notice(), seed=2)),
        ("通知.pdf", organ_alone_pdf),
    ],
)
def test_red_organ_name_alone_over_a_title_is_a_header(
    scanner: Scanner, name: str, make: Callable[[], bytes]
) -> None:
    """No number, no rule: the red organ name over the notice's title is its 发文机关标志.
    Without a rule it is no red header."""
    report, names = _scan(scanner, make(), name)
    assert "document_header:organ_mark" in names, report.findings
    assert "red_header" not in names


# Monitor photos.


@pytest.mark.parametrize("cast", ["magenta", "orange"])
def test_monitor_photo_with_shifted_red(scanner: Scanner, config: ScanConfig, cast: str) -> None:
    """Moiré and a panel that turns red toward magenta or orange: the mark is still red."""
    synth = render_official_page(1240)
    shot = monitor_photo(synth.image, cast=cast, seed=1)
    assert synth.mark_box
    x0, y0, x1, y1 = synth.mark_box
    assert red_mask(shot, config.scan.red)[y0:y1, x0:x1].mean() > 0.1
    report, names = _scan(scanner, jpeg(shot), f"monitor-{cast}.jpg")
    assert {"red_header", "classification_marking"} <= names, report.findings


def test_brown_desk_is_not_red_ink(config: ScanConfig) -> None:
    """The hue window follows the ink, not a desk: a page on warm wood keeps the plain
    window, and the wood does not turn red."""
    synth = render_official_page(1240, seal=False)
    shot, _ = photograph(synth.image, (1500, 2000), seed=4, fill=0.6)
    mask = red_mask(shot, config.scan.red)
    assert mask[:, :100].mean() < 0.01  # the desk left of the page


# Red look-alikes.


LOOK_ALIKES: list[tuple[str, Callable[[], bytes]]] = [
    ("停水通知.png", lambda: png(community_notice())),
    ("停水通知.jpg", lambda: _photo(community_notice(), seed=6)),
    ("菜单.png", lambda: png(menu())),
    ("菜单.jpg", lambda: _photo(menu(), seed=9)),
    ("出租车票.jpg", lambda: jpeg(taxi_receipt())),
    ("定额发票.jpg", lambda: jpeg(quota_invoice())),
    ("报纸.png", lambda: png(newspaper())),
    ("书页.jpg", lambda: _photo(book_page(), seed=12)),
    ("行程单.png", lambda: png(itinerary())),
    ("门牌.jpg", lambda: jpeg(gate_plaque())),
    ("方案.pdf", lambda: red_heading_pdf("第一部分　项目建设方案")),
    ("总结.pdf", lambda: red_heading_pdf("2023年度安全生产工作总结", rule=True)),
    ("通知.pdf", lambda: red_heading_pdf("关于举办职工运动会的通知")),
    ("简章.pdf", lambda: red_heading_pdf("江湾大学2023年招生简章", rule=True)),
    ("安排.pdf", lambda: red_heading_pdf("社区服务中心暑期活动安排")),
]


@pytest.mark.parametrize(("name", "make"), LOOK_ALIKES, ids=[n for n, _ in LOOK_ALIKES])
def test_red_look_alike_is_no_red_header(
    scanner: Scanner, name: str, make: Callable[[], bytes]
) -> None:
    """Red titles, rules, frames, mastheads and seals on things that are not official
    documents: no red header finding at all, and no alert."""
    report, _ = _scan(scanner, make(), name)
    assert [f for f in report.findings if f.detector == "red_header"] == []
    assert report.verdict.label == "clean", report.findings


# The rules on laid-out lines (what OCR returns), without OCR.


@pytest.mark.parametrize(
    ("text", "organ"),
    [
        ("江湾市人民政府办公室", True),
        ("中 共 广 州 市 委 员 会", True),
        ("江湾市人民政府文件", True),
        ("江湾市人民政府办公室明电", True),
        ("宁夏回族自治区应急管理厅信息专报", True),
        ("吉林省人民政府办公厅文仵", True),  # the last glyph of 文件 misread
        ("第一部分项目建设方案", False),  # 部 inside a phrase
        ("江湾科技有限公司年度经营计划", False),
        ("社区服务中心暑期活动安排", False),
        ("关于调整城区公交线路的请示", False),
        ("江湾日报", False),
        ("工作简报", False),  # a header word with no organ before it
    ],
)
def test_organ_name(config: ScanConfig, text: str, organ: bool) -> None:
    assert organ_name(text, config.headers.organ_mark) is organ


def test_a_level_beside_its_label_counts_anywhere_on_the_row(config: ScanConfig) -> None:
    """密　级 | 秘密★3个月 in a form's right-hand column: not top-left, but the value of the
    field. The same value beside another label is no marking."""
    rows = [
        ("等　级", (170, 320, 280, 360)),
        ("特提", (340, 320, 420, 360)),
        ("密　级", (740, 320, 850, 360)),
        ("秘密★3个月", (880, 320, 1060, 360)),
        ("正文", (170, 900, 1000, 940)),
    ]
    (found,) = classification_marking.detect(context(laid_out_page(rows), config))
    assert found.label == "秘密" and found.evidence == "密　级 秘密★3个月"
    assert found.bbox == (740, 320, 1060, 360)
    other = [("备　注", (740, 320, 850, 360)), ("秘密", (880, 320, 960, 360))]
    assert classification_marking.detect(context(laid_out_page(other), config)) == []
    far = [("密　级", (170, 320, 280, 360)), ("机密", (1000, 320, 1080, 360))]
    assert classification_marking.detect(context(laid_out_page(far), config)) == []  # too far


def test_a_misread_level_in_its_field_counts_anywhere(config: ScanConfig) -> None:
    """A far shot of a telegram reads 机密★1年 in its 密级 cell as 实密★1年: the label says
    what the value is, mid-page too. The same reading without the label is no marking there."""
    body = [("正文", (170, y, 1000, y + 40)) for y in range(200, 640, 60)]
    rows = [*body, ("密　级", (170, 700, 280, 740)), ("实密★1年", (340, 700, 520, 740))]
    (found,) = classification_marking.detect(context(laid_out_page(rows), config))
    assert found.confidence >= config.policy.min_confidence
    assert found.evidence == "密　级 实密★1年"
    bare = [*body, ("实密★1年", (340, 700, 520, 740))]
    assert classification_marking.detect(context(laid_out_page(bare), config)) == []


def _table_top(image: np.ndarray) -> int:
    """The first row of the telegram's red table under its title."""
    red = (image[..., 0] > 150) & (image[..., 1] < 100)
    rows = red.mean(axis=1)
    title_end = int(np.argmax(rows > 0.05)) + 60
    return title_end + int(np.argmax(rows[title_end:] > 0.5))


def _telegram_lines(image: np.ndarray, top: int) -> list[TextLine]:
    """What OCR reads of the form: the red title, and cell text whose boxes take in the
    cell's red edges (a photo's boxes run to the rules)."""
    width = image.shape[1]
    red = (image[..., 0] > 150) & (image[..., 1] < 100)
    title_rows = np.flatnonzero(red[: top - 20].mean(axis=1) > 0.01)
    title_cols = np.flatnonzero(red[title_rows[0] : title_rows[-1] + 1].any(axis=0))
    title = (int(title_cols[0]), int(title_rows[0]), int(title_cols[-1]), int(title_rows[-1]))
    lines = [TextLine("密码电报", bbox=title)]
    left, right = round(0.13 * width), round(0.88 * width)
    for r, row in enumerate(("发电单位", "密　级", "电报号")):
        y0 = top - 2 + 78 * r
        lines.append(TextLine(row, bbox=(left - 2, y0, left + round(0.14 * width), y0 + 82)))
    title_box = (left, top + 300, right, top + 340)
    lines.append(TextLine("关于做好近期防汛工作的紧急通知", bbox=title_box))
    return lines


def test_black_cells_of_a_red_table_are_not_red_lines(config: ScanConfig) -> None:
    """The red edges inside a black cell's box do not make its text red: the fields count,
    and the red title over the table is a red header."""
    image = telegram_form()
    lines = _telegram_lines(image, _table_top(image))
    ctx = PageContext(page=Page(source="t.png", number=1, image=image, lines=lines), config=config)
    assert [ctx.is_red(line) for line in lines] == [True, False, False, False, False]
    (found,) = red_header.detect(ctx)
    assert found.details["telegram"]


def test_a_table_edge_dotted_by_moire_still_tops_a_telegram(config: ScanConfig) -> None:
    """A monitor's moiré breaks the table's top edge into dots: joined, it is the rule."""
    image = telegram_form()
    top = _table_top(image)
    lines = _telegram_lines(image, top)
    band = image[top - 3 : top + 6]
    red = (band[..., 0] > 150) & (band[..., 1] < 100)
    dots = np.arange(band.shape[1]) % 30 >= 8
    band[red & dots[None, :]] = (252, 252, 250)  # red dots 8 px long, 30 px apart
    page = Page(source="t.jpg", number=1, image=image, lines=lines)
    (found,) = red_header.detect(PageContext(page=page, config=config))
    assert found.details["telegram"]


def test_letter_spaced_telegram_fields_and_cells(config: ScanConfig) -> None:
    rows = [
        ("发电单位", (170, 320, 300, 360)),
        ("江湾市人民政府办公室", (340, 320, 660, 360)),
        ("等　级", (170, 400, 280, 440)),
        ("加急", (340, 400, 420, 440)),
        ("份　号", (740, 400, 850, 440)),
        ("000046", (880, 400, 1000, 440)),
    ]
    found = {f.label: f for f in document_header.detect(context(laid_out_page(rows), config))}
    assert {"telegram", "urgency", "copy_number"} <= set(found)
    assert found["copy_number"].evidence == "份　号 000046"


def test_red_organ_name_over_a_quote_is_weak(config: ScanConfig) -> None:
    """A portal's red banner names an organ; the line below quotes a notice in prose: no
    title, so the red name alone is no header."""
    page = laid_out_page(
        [
            ("中共厦门市委员会门户网站", (40, 40, 750, 120)),
            ("根据《国务院办公厅关于做好干部考核工作的通知》", (100, 300, 1040, 345)),
            ("要坚持问题导向和目标导向，聚焦群众反映强烈的突出问题。", (40, 360, 1040, 405)),
        ]
    )
    page.image[40:120, 40:750] = (210, 30, 30)
    assert document_header.detect(context(page, config)) == []


@pytest.mark.parametrize("degrees", [-6.0, 4.0])
def test_a_tilted_rule_is_still_a_rule(config: ScanConfig, degrees: float) -> None:
    """A photo of a header that was not straightened: the rule (split by a ★) runs at a slant,
    its box is taller than the rule is thick, and its halves do not share a row."""
    top = render_official_page(1240, organ="中共江湾市委员会", star_rule=True, top_half=True).image
    h, w = top.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    tilted = cv2.warpAffine(top, turn, (w, h), borderValue=(255, 255, 255))
    page = Page(source="photo.jpg", number=1, image=tilted)
    (finding,) = red_header.detect(PageContext(page=page, config=config))
    assert finding.details["rule"] and finding.details["organ_mark"]


def _without_rule(organ: str) -> SynthPage:
    synth = render_official_page(1240, organ=organ, marking=None, seal=False)
    assert synth.rule_y and synth.mark_box
    synth.image[synth.rule_y - 8 : synth.rule_y + 16] = 255  # lost in a thumbnail
    return synth


@pytest.mark.parametrize(
    ("organ", "number", "header"),
    [
        ("吉林省人民政府办公厅文件", False, True),  # a full mark: organ name + 文件
        ("中共江湾市委员会", True, True),  # 信函格式: the organ name over its 发文字号
        ("中共江湾市委员会", False, False),  # an organ name alone: a plaque as much
    ],
)
def test_a_mark_whose_rule_is_lost(
    config: ScanConfig, organ: str, number: bool, header: bool
) -> None:
    synth = _without_rule(organ)
    assert synth.mark_box
    *_, y1 = synth.mark_box
    lines = [TextLine(organ, bbox=synth.mark_box, confidence=0.95)]
    if number:
        lines.append(TextLine("吉政办发〔2024〕15号", bbox=(463, y1 + 60, 780, y1 + 100)))
    lines += [
        TextLine("各市州人民政府，省政府各厅委办：", bbox=(160, y, 1060, y + 40))
        for y in (900, 960)
    ]
    page = Page(source="thumb.jpg", number=1, image=synth.image, lines=lines)
    found = red_header.detect(PageContext(page=page, config=config))
    fires = [f for f in found if f.confidence >= config.policy.min_confidence]
    assert bool(fires) is header
    assert all(not f.details["rule"] for f in found)


def test_red_cells_and_a_seller_above_a_rule_do_not_name_the_mark(config: ScanConfig) -> None:
    """An invoice photographed: its red title (电子发票) is the mark; the seller's name in red
    elsewhere above the rule names a company, not the mark."""
    synth = render_official_page(1240, organ="电子发票（普通发票）", marking=None, seal=False)
    assert synth.mark_box and synth.rule_y
    *_, y1 = synth.mark_box
    synth.image[y1 + 20 : y1 + 60, 160:600] = (215, 25, 25)
    lines = [
        TextLine("电子发票（普通发票）", bbox=synth.mark_box),
        TextLine("江湾市某商贸有限公司", bbox=(160, y1 + 20, 600, y1 + 60)),
    ]
    lines += [
        TextLine("项目名称 规格型号 单位 数量 单价", bbox=(160, y, 1060, y + 40))
        for y in (900, 960)
    ]
    page = Page(source="invoice.jpg", number=1, image=synth.image, lines=lines)
    assert red_header.detect(PageContext(page=page, config=config)) == []


@pytest.mark.parametrize(
    ("lines", "marked"),
    [
        (["本产品适用于家庭及办公场所，使用前请仔细阅读说明", "书并妥善保管。"], False),
        (["内部，注意保存", "关于做好防汛工作的通知"], True),
        (["妥善保管", "关于做好防汛工作的通知"], True),
    ],
)
def test_a_wrapped_sentence_tail_is_no_marking(
    config: ScanConfig, lines: list[str], marked: bool
) -> None:
    found = handling_marking.detect(context(text_page(lines), config))
    assert bool(found) is marked
