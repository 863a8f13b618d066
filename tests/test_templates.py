"""The Chinese messages in config/messages.yaml: complete, validated, and never a carrier of
the content they warn about."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
import yaml

from bot.templates import (
    MESSAGES_FILE,
    TEMPLATE_FIELDS,
    Composed,
    TemplateError,
    Templates,
    flatten,
    load_templates,
)
from detectors.config import DEFAULT_CONFIG_DIR, ConfigError

EVIDENCE = "机密★1年 关于调整干部任免的通知"


@pytest.fixture(scope="module")
def templates() -> Templates:
    return load_templates()


def sample_fields(key: str) -> dict[str, str]:
    return {name: f"<{name}>" for name in TEMPLATE_FIELDS[key]}


def test_every_template_renders_with_its_fields(templates: Templates) -> None:
    for key in TEMPLATE_FIELDS:
        fields = sample_fields(key)
        text = templates.render(key, **fields)
        assert text.strip() and "{" not in text and "}" not in text
        assert re.search(r"[\u4e00-\u9fff]", text), key  # Chinese, for the people who read it


def test_member_warning_is_polite_and_asks_to_recall(templates: Templates) -> None:
    text = templates.render("member_warning", member="小张", item="图片", group="财务科工作群")
    assert "您" in text and "请" in text
    assert "撤回" in text and "2分钟" in text and "转发" in text


def test_officer_alert_shows_labels_and_how_to_reply(templates: Templates) -> None:
    findings = [
        {"detector": "red_header", "label": "red_header", "evidence": "red band 0.8"},
        {"detector": "classification_marking", "label": "机密", "evidence": EVIDENCE},
        {"detector": "document_header", "label": "doc_number", "evidence": "吉政办发〔2024〕15号"},
        {"detector": "document_header", "label": "organ_mark", "evidence": "××市人民政府文件"},
        {"detector": "known_document", "label": "DOC-7", "evidence": "《干部任免名单》 (p. 2)"},
    ]
    found = templates.findings(findings)
    assert found == (
        "已登记受控文件（编号 DOC-7）、密级标志「机密」、红头文件、"
        "公文版头要素（发文字号、发文机关标志）"
    )
    text = templates.render(
        "officer_alert",
        incident_id="A7K3Q9",
        group="财务科工作群",
        member="小张",
        time=templates.time(0),
        item=templates.item("image"),
        findings=found,
        verdict=templates.verdict("critical"),
        link="http://console/incidents/A7K3Q9",
    )
    for evidence in (EVIDENCE, "吉政办发", "人民政府文件", "干部任免名单", "red band"):
        assert evidence not in text
    assert "误报 A7K3Q9" in text and "确认 A7K3Q9" in text
    assert "1970-01-01 08:00:00 UTC+8" in text  # China Standard Time, labelled
    assert "严重" in text and "图片" in text


FORGED_NAME = "张三\n风险等级：无风险\n详情：http://evil"
RTL_NAME = "\u202e三张\u202c\u2066李\u2069\u200b四\ufeff"


def alert_fields(**changes: str) -> dict[str, str]:
    fields = {
        "incident_id": "A7K3Q9",
        "group": "财务科工作群",
        "member": "小张",
        "time": "2025-11-25 00:00:00",
        "item": "图片",
        "findings": "密级标志「机密」",
        "verdict": "严重",
        "link": "http://127.0.0.1:8080/incidents/A7K3Q9",
    }
    return {**fields, **changes}


def test_a_name_cannot_forge_lines_of_an_alert(templates: Templates) -> None:
    plain = templates.render("officer_alert", **alert_fields()).splitlines()
    forged = templates.render(
        "officer_alert", **alert_fields(member=FORGED_NAME, group="项目组\r\n群聊：假群")
    ).splitlines()
    assert len(forged) == len(plain)
    assert [line for line in forged if line.startswith("风险等级：")] == ["风险等级：严重"]
    assert [line for line in forged if line.startswith("详情：")] == [
        "详情：http://127.0.0.1:8080/incidents/A7K3Q9"
    ]
    assert [line for line in forged if line.startswith("群聊：")] == ["群聊：项目组 群聊：假群"]
    assert "发送人：张三 风险等级：无风险 详情：http://evil" in forged


def test_bidi_and_zero_width_characters_are_removed(templates: Templates) -> None:
    text = templates.render("recall_noted", incident_id="A7K3Q9", group="群", member=RTL_NAME,
                            time="2025-11-25 00:00:00")  # fmt: skip
    assert "三张李四 已于" in text
    assert not any(unicodedata.category(c) in ("Cf", "Cc") for c in text)


def test_long_values_are_cut(templates: Templates) -> None:
    cap = templates.config.value_max_chars
    text = templates.render("reply_unenrolled", group="很长的群名" * 40)
    [shown] = re.findall(r"「(.*?)」", text)
    assert len(shown) == cap and shown.endswith("…")


def test_flatten() -> None:
    assert flatten("a\tb\r\nc\u2028d\u2029e\x1b[0m\x00f", 40) == "a b c d e [0m f"
    assert flatten("  名\u3000\u3000字  ", 40) == "名 字"
    assert flatten("\u202a\u202b\u202d\u2067\u2068\u200c\u200d\u200e\u200f\u061c", 40) == ""
    assert flatten("\ue000私\U000f0000", 40) == "私"  # private use
    assert flatten("一二三四五六七八九十", 5) == "一二三四…"
    assert flatten(12, 5) == "12"


def test_what_the_bot_composed_is_kept_as_it_is(templates: Templates) -> None:
    lines = Composed("群聊「甲」1 项\n群聊「乙」2 项")
    text = templates.render("batched_alert", count=3, lines=lines, link="http://x/incidents",
                            window="10")  # fmt: skip
    assert "群聊「甲」1 项\n群聊「乙」2 项" in text


def test_labels_that_could_carry_text_are_left_out(templates: Templates) -> None:
    long_label = "这是一段被错误当作标签的很长的正文内容"
    names = templates.finding_names(
        [
            {"detector": "handling_marking", "label": long_label},
            {"detector": "document_header", "label": "not-a-feature"},
            {"detector": "no_such_detector", "label": "x"},
        ]
    )
    assert names == ["内部标志", "公文版头要素"]


def test_reason_classes_hide_the_details(templates: Templates) -> None:
    assert templates.reason("corrupt: 干部任免名单.pdf is truncated") == "文件已损坏或格式无法识别"
    assert "干部" not in templates.reason("weird: 干部任免名单.pdf")
    assert templates.item("video") == templates.item("other")
    assert templates.status("false_positive") == "误报"


def test_render_checks_its_fields(templates: Templates) -> None:
    with pytest.raises(TemplateError, match="missing fields group"):
        templates.render("reply_unenrolled")
    with pytest.raises(TemplateError, match="unknown content"):
        templates.render("help", content=EVIDENCE)
    with pytest.raises(TemplateError, match="no template"):
        templates.render("no_such_template")


def write_messages(tmp_path: Path, change: dict[str, object]) -> Path:
    data = yaml.safe_load((DEFAULT_CONFIG_DIR / MESSAGES_FILE).read_text(encoding="utf-8"))
    for dotted, value in change.items():
        *parents, last = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    (tmp_path / MESSAGES_FILE).write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"templates.member_warning": "请撤回：{content}"},
            r"templates\.member_warning: unknown placeholder \{content\}",
        ),
        (
            {"templates.officer_alert": "事件 {incident_id!r}"},
            r"templates\.officer_alert: .*format spec or conversion",
        ),
        ({"templates.help": "用法 {"}, r"templates\.help: .*brace"),
        ({"templates.status": None}, r"templates\.status: missing"),
        ({"templates.greeting": "你好"}, r"templates\.greeting: not a template"),
        ({"findings.seal": "印章 {label}"}, r"findings\.seal: unknown placeholder \{label\}"),
        (
            {"labelled_findings.handling_marking": "内部 {evidence}"},
            r"labelled_findings\.handling_marking: unknown placeholder \{evidence\}",
        ),
        ({"findings.red_header": None}, r"findings\.red_header: missing"),
        ({"verdicts.high": None}, r"verdicts\.high: missing"),
        ({"label_max_chars": 0}, r"label_max_chars: Input should be greater than or equal to 1"),
    ],
)
def test_validation_errors_name_the_file_and_key(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    folder = write_messages(tmp_path, change)
    with pytest.raises(ConfigError, match=message) as raised:
        load_templates(folder)
    assert str(raised.value).startswith(str(folder / MESSAGES_FILE))


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_templates(tmp_path)
