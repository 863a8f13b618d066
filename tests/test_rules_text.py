"""The text rules: markings and headers count by how they stand, never by the word alone."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from detectors import ScanConfig
from detectors.rules import (
    classification_marking,
    document_header,
    handling_marking,
    personal_data,
    public_release,
)
from tests.conftest import context, laid_out_page, text_page

# The five real leak-case articles the product was born from (copied from shared/seeds).
SEEDS = sorted((Path(__file__).resolve().parent / "fixtures" / "seeds").glob("*.txt"))


def test_seed_articles_are_present() -> None:
    assert len(SEEDS) == 5


def labels(module: ModuleType, lines: list[str], config: ScanConfig) -> list[tuple[str, float]]:
    found = module.detect(context(text_page(lines), config))
    return [(f.label, round(f.confidence, 2)) for f in found]


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("机密★1年", "机密"),
        ("秘密★6个月", "秘密"),
        ("绝密★长期", "绝密"),
        ("绝密★启用前", "绝密"),
        ("机 密 ☆ 1 年", "机密"),
        ("机密*2年", "机密"),
        ("机密女1年", "机密"),  # Tesseract's readings of ★
        ("绝密太1年", "绝密"),
        ("秘密妇长期", "秘密"),
        ("000123  机密★1年  特急", "机密"),
        ("密级：秘密", "秘密"),
        ("机密１年", "机密"),
    ],
)
def test_classification_marking_variants(config: ScanConfig, line: str, level: str) -> None:
    found = classification_marking.detect(context(text_page(["000001", line, "特急"]), config))
    assert [f.label for f in found] == [level]
    assert found[0].confidence >= config.policy.min_confidence


@pytest.mark.parametrize(
    "line",
    [
        "这是我们之间的秘密",
        "他接受了一项机密任务，连家人都不知道。",
        "文件首页标注“机密★1年”字样，随后被拍照转发到微信群中。",
        "我认识一个秘密女孩面前的人",
        "机密",  # bare level, but not in the top zone (see below)
    ],
)
def test_classification_marking_ignores_prose(config: ScanConfig, line: str) -> None:
    lines = ["会议记录", *["正文内容" * 5] * 20, line]
    assert classification_marking.detect(context(text_page(lines), config)) == []


def test_bare_level_counts_only_top_left(config: ScanConfig) -> None:
    top_left = laid_out_page([("机密", (120, 140, 220, 180)), ("正文", (120, 700, 900, 740))])
    top_right = laid_out_page([("机密", (1000, 140, 1100, 180))])
    body = [(f"正文第{i}行", (150, 600 + 60 * i, 1000, 640 + 60 * i)) for i in range(6)]
    mid_page = laid_out_page([*body, ("机密", (120, 1000, 220, 1040))])
    assert classification_marking.detect(context(mid_page, config)) == []
    assert [f.label for f in classification_marking.detect(context(top_left, config))] == ["机密"]
    assert classification_marking.detect(context(top_right, config)) == []


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["内部，注意保存"], {"内部", "注意保存"}),
        (["内部资料 注意保存"], {"内部资料", "注意保存"}),
        (["警务工作秘密"], {"警务工作秘密"}),
        (["税务工作秘密"], {"税务工作秘密"}),
        (["不得外传"], {"不得外传"}),
        (["（此件不公开）"], {"此件不公开"}),
        (["（件不公开）"], {"此件不公开"}),
        (["內部"], {"内部"}),  # the traditional form, as OCR returns it now and then
        (
            ["内都资料"],
            {"内部资料"},
        ),  # 部 misread as 都 on a blurred photo  # one glyph lost by OCR in a far shot
        (["（此仵不予公开）"], {"此件不予公开"}),
        (["讨论稿"], {"讨论稿"}),
        (["关于恢复部分公交线路的通告（讨论稿）"], {"讨论稿"}),
        (["《关于做好春运工作的通知（征求意见稿）》"], {"征求意见稿"}),
        (["000123", "秘密★1年 内部"], {"内部"}),
    ],
)
def test_handling_markings(config: ScanConfig, lines: list[str], expected: set[str]) -> None:
    found = handling_marking.detect(context(text_page(lines), config))
    assert {f.label for f in found} == expected
    assert all(f.confidence >= config.policy.min_confidence for f in found)


@pytest.mark.parametrize(
    "line",
    [
        "公司内部聚餐定在周五晚上",
        "内部人员优先报名",
        "明天开会讨论稿子的事情",
        "范宝欣擅自将《关于恢复部分公交线路的通告（讨论稿）》发布至公司微信群",
        "请注意保存好您的发票",
        "根据工作秘密管理暂行办法的规定，各单位要加强管理。",
        "0唱内部",  # a slide title 加强内部管理 split by OCR: the word goes on
        "内部管",
        "（此件公开）",  # a note without its 不 says the opposite: never read as misread
        "国内都市圈建设",
        "（此件可公开）",
        "（件不公开的）",
    ],
)
def test_handling_markings_ignore_prose(config: ScanConfig, line: str) -> None:
    assert handling_marking.detect(context(text_page(["通知", line]), config)) == []


def test_ambiguous_marking_in_mid_page_is_below_alert_threshold(config: ScanConfig) -> None:
    above = [(f"正文第{i}行", (150, 200 + 60 * i, 1000, 240 + 60 * i)) for i in range(6)]
    page = laid_out_page([*above, ("内部", (500, 900, 600, 940))])
    found = handling_marking.detect(context(page, config))
    assert found and all(f.confidence < config.policy.min_confidence for f in found)


def test_ambiguous_marking_in_a_marking_block_counts_anywhere(config: ScanConfig) -> None:
    """A website or a far shot puts the page's 版头 mid-picture: 内部 stacked under a
    classification marking is a marking there too, and prose beside it is not a block."""
    above = [(f"正文第{i}行", (150, 200 + 60 * i, 1000, 240 + 60 * i)) for i in range(6)]
    block = [("机密★1年", (500, 850, 680, 890)), ("内部", (500, 900, 600, 940))]
    found = handling_marking.detect(context(laid_out_page([*above, *block]), config))
    assert [(f.label, f.confidence >= config.policy.min_confidence) for f in found] == [
        ("内部", True)
    ]
    prose = [("会议纪要如下", (500, 850, 740, 890)), ("内部", (500, 900, 600, 940))]
    found = handling_marking.detect(context(laid_out_page([*above, *prose]), config))
    assert found and all(f.confidence < config.policy.min_confidence for f in found)


def test_public_release(config: ScanConfig) -> None:
    assert labels(public_release, ["（此件公开发布）"], config) == [("public_release", 0.9)]
    assert labels(public_release, ["本文件此件公开发布后请各单位执行相关规定"], config) == []


def test_document_header_features(config: ScanConfig) -> None:
    lines = [
        "000123",
        "特急",
        "吉林省人民政府办公厅文件",
        "吉政办发〔2024〕15号",
        "关于做好春季安全生产工作的通知",
        "各市（州）人民政府：",
        "正文",
        "抄送：省委各部门。",
        "吉林省人民政府办公厅 2024年3月1日印发",
    ]
    found = {f.label for f in document_header.detect(context(text_page(lines), config))}
    assert found == {
        "copy_number",
        "urgency",
        "organ_mark",
        "doc_number",
        "copied_to",
        "printed_by",
    }


@pytest.mark.parametrize(
    "line",
    [
        "吉政办发[2024]15号",
        "吉政办发(2024)15号",
        "吉政办发【2024】15号",
        "吉政办发（2024）15号",
        "国办发 〔 2012 〕 1 号",
        "吉政办发2024 15号",
        "湘卫函〔2023〕第8号",
    ],
)
def test_doc_number_bracket_variants(config: ScanConfig, line: str) -> None:
    found = document_header.detect(context(text_page([line, "正文"]), config))
    assert [f.label for f in found] == ["doc_number"]


def test_doc_number_with_issuer_on_one_line(config: ScanConfig) -> None:
    found = document_header.detect(context(text_page(["吉政报〔2024〕3号 签发人：张志明"]), config))
    assert {f.label for f in found} == {"doc_number", "issuer"}


@pytest.mark.parametrize(
    "lines",
    [
        ["根据国办发〔2012〕1号文件精神，现将有关事项通知如下。"],
        ["武穴市公安局行政处罚决定书(武公(花)行罚决字(2020)326号)对其给予行政处罚。"],
        ["123456"],  # a verification code: one weak feature is not a header
        ["关于做好全市安全生产工作的通报"],  # a title, not an organ mark
    ],
)
def test_document_header_ignores_prose(config: ScanConfig, lines: list[str]) -> None:
    assert document_header.detect(context(text_page(lines), config)) == []


def test_telegram_header(config: ScanConfig) -> None:
    lines = ["密码电报", "等级：特急", "发电单位：省委办公厅", "签批盘号：123"]
    found = {f.label for f in document_header.detect(context(text_page(lines), config))}
    assert "telegram" in found


def _id(seed: int) -> str:
    body = f"2201021990{seed % 12 + 1:02d}{seed % 28 + 1:02d}{seed % 1000:03d}"
    return body + personal_data.id_check_char(body)


def test_personal_data_list(config: ScanConfig) -> None:
    rows = [f"{i} 张三{i} {_id(i)} 1380013800{i}" for i in range(5)]
    found = personal_data.detect(context(text_page(rows), config))
    assert len(found) == 1
    assert found[0].details == {"ids": 5, "phones": 5}
    assert _id(0) not in found[0].evidence  # numbers are masked


def test_personal_data_rejects_bad_check_digits_and_single_contacts(config: ScanConfig) -> None:
    bad = [f"{_id(i)[:17]}{'0' if _id(i)[17] != '0' else '1'}" for i in range(5)]
    assert personal_data.detect(context(text_page(bad), config)) == []
    assert personal_data.detect(context(text_page([f"联系人 {_id(1)} 13800138000"]), config)) == []


def test_id_numbers_split_by_ocr_spaces(config: ScanConfig) -> None:
    rows = [" ".join(_id(i)[k : k + 4] for k in range(0, 18, 4)) for i in range(3)]
    assert personal_data.detect(context(text_page(rows), config))


def test_id_and_phone_cells_read_as_one_number(config: ScanConfig) -> None:
    """OCR of a photographed table often joins adjacent cells: 18-digit ID + 11-digit phone."""
    rows = [f"{_id(i)}1380013800{i}" for i in range(3)]
    found = personal_data.detect(context(text_page(rows), config))
    assert len(found) == 1 and found[0].details == {"ids": 3, "phones": 3}
    phone_first = [f"1380013800{i}{_id(i)}" for i in range(3)]
    assert personal_data.detect(context(text_page(phone_first), config))
    # 29 digits that are neither a valid ID nor a phone on either side: nothing.
    noise = [f"{_id(i)[:17]}{'0' if _id(i)[17] != '0' else '1'}2380013800{i}" for i in range(5)]
    assert personal_data.detect(context(text_page(noise), config)) == []


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.name)
def test_news_articles_about_leaks_are_not_leaks(config: ScanConfig, seed: Path) -> None:
    """The seed articles quote markings and doc numbers in prose: every rule stays silent."""
    lines = seed.read_text(encoding="utf-8").splitlines()
    page = text_page(lines)
    for module in (classification_marking, handling_marking, document_header, personal_data):
        found = [
            f
            for f in module.detect(context(page, config))
            if f.confidence >= config.policy.min_confidence
        ]
        assert found == [], f"{module.NAME}: {found}"


def test_chapter_title_is_not_a_bare_level(config: ScanConfig) -> None:
    assert classification_marking.detect(context(text_page(["第三章　秘密", "正文"]), config)) == []


def test_copy_number_and_marking_make_a_header(config: ScanConfig) -> None:
    found = document_header.detect(context(text_page(["000197", "秘密★20年", "正文"]), config))
    assert {f.label for f in found} == {"copy_number", "marking_block"}
    assert document_header.detect(context(text_page(["秘密★20年", "正文"]), config)) == []


def test_red_organ_name_alone_is_not_a_header(config: ScanConfig) -> None:
    from detectors import Page, TextLine

    masthead = Page(source="x.pdf", number=1, lines=[TextLine("教育部门户网站", color="red")])
    assert document_header.detect(context(masthead, config)) == []
    letter = Page(
        source="x.pdf",
        number=1,
        lines=[TextLine("中共吉林省委办公厅", color="red"), TextLine("吉办函〔2024〕7号")],
    )
    assert {f.label for f in document_header.detect(context(letter, config))} == {
        "organ_mark",
        "doc_number",
    }


def test_first_lines_of_a_header_only_photo_are_the_top(config: ScanConfig) -> None:
    """A photo of a page's top: the page runs off the frame, the marking stands mid-picture."""
    photo = laid_out_page(
        [
            ("000044", (185, 1000, 367, 1060)),
            ("机密", (185, 1080, 306, 1150)),
            ("关于做好安全生产工作的通知", (300, 1300, 1000, 1360)),
        ]
    )
    assert [f.label for f in classification_marking.detect(context(photo, config))] == ["机密"]
    found = {f.label for f in document_header.detect(context(photo, config))}
    assert found == {"copy_number", "marking_block"}


def test_one_misread_level_glyph_with_star_and_period(config: ScanConfig) -> None:
    found = classification_marking.detect(context(text_page(["000480", "秘图*5年"]), config))
    assert len(found) == 1 and found[0].confidence >= config.policy.min_confidence
    assert found[0].label == "秘密"  # the one level that begins with 秘
    assert classification_marking.detect(context(text_page(["保密5年"]), config)) == []


def test_one_lost_level_glyph_before_a_true_star(config: ScanConfig) -> None:
    """A blurred photo loses 密 of 机密★10年: the star and the period still make a marking."""
    found = classification_marking.detect(context(text_page(["030901", "机★10年"]), config))
    assert len(found) == 1 and found[0].confidence >= config.policy.min_confidence
    for line in ("机10年", "机女10年", "手机★10年保修"):  # no true star, or not alone
        assert classification_marking.detect(context(text_page(["030901", line]), config)) == []


def test_a_weak_red_line_does_not_hide_the_organ_mark(config: ScanConfig) -> None:
    """A 简报's issuing office (…办公室印) stands in red too when the red rule runs through
    its box in a photo; the organ mark above it still counts as strong."""
    from detectors import Page, TextLine

    page = Page(
        source="x.pdf",
        number=1,
        lines=[
            TextLine("宁夏回族自治区应急管理厅信息专报", color="red"),
            TextLine("第43期"),
            TextLine("宁夏回族自治区应急管理厅办公室印", color="red"),
        ],
    )
    found = document_header.detect(context(page, config))
    assert next(f.confidence for f in found if f.label == "organ_mark") == 0.95


def test_urgency_and_marking_without_copy_number_is_no_header(config: ScanConfig) -> None:
    lines = ["加急", "内部文件", "东湖街道重点人员排查名单"]
    assert document_header.detect(context(text_page(lines), config)) == []
