"""The logical content of one generated document, independent of layout and file format.

`make_document` decides which GB/T 9704 elements a document carries (marking, organ mark,
number, seal, colophon, …) and fills them with text from `text.py`. `render.py` lays the same
`Document` out on pages; `files.py` writes it as PDF/DOCX/OFD/TXT, so every format of one
document says the same thing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from tests.corpus import text as tx

FORMS: tuple[str, ...] = (
    "file",  # 文件格式: ××文件 in red, number centred, red rule
    "upward",  # 上行文: number left, 签发人 right
    "letter",  # 信函格式: organ name in red between red double lines
    "minutes",  # 纪要格式: ××会议纪要 in red
    "bulletin",  # 简报/情况通报 in red
    "telegram",  # 明电/密码电报 header with a field table
    "list",  # personal-data list (排查名单) with a handling marking, no red header
    "internal",  # black internal paper with a handling marking or draft state
)
FORM_WEIGHTS: tuple[float, ...] = (30, 9, 11, 8, 6, 7, 13, 13)

# Suffixes that make an organ mark a strong header feature (config/headers.yaml).
STRONG_SUFFIXES = ("文件", "纪要", "简报", "通报", "专报", "明电", "密码电报")


@dataclass
class Document:
    """Everything that is printed on a document, as text. None / empty = not present."""

    form: str
    organ: tx.Organ
    title: str
    paragraphs: list[tx.Paragraph]
    date: str
    copy_number: str | None = None
    classification: str | None = None
    urgency: str | None = None
    handling: str | None = None
    handling_right: bool = False
    handling_boxed: bool = False
    draft: str | None = None
    """Standalone draft state printed at the top right (讨论稿)."""
    title_draft: str | None = None
    """Draft state closing the title: 关于…的通告（征求意见稿）."""
    mark: list[str] = field(default_factory=list)
    """Organ mark lines (two for joint documents); the last may end with 文件."""
    mark_suffix: str = ""
    """文件 / 会议纪要 / 明电 … printed after the organ name(s), or '' for the name alone."""
    doc_number: str | None = None
    issue_line: tuple[str, str] | None = None
    """(第12期, ××办公室编  2024年3月1日) for minutes and bulletins."""
    issuer: str | None = None
    rule: str | None = None
    """single | star | double | None."""
    addressee: str | None = None
    attachments: list[str] = field(default_factory=list)
    signature: str | None = None
    seal: bool = False
    seal_text: str = ""
    note: str | None = None
    """（此件不公开） or （此件公开发布）."""
    cc: str | None = None
    printer: tuple[str, str] | None = None
    """(××办公室, 2024年3月1日印发)."""
    telegram: list[tuple[str, str]] = field(default_factory=list)
    """Field table of a telegram header: (label, value) pairs."""
    table_title: str | None = None
    table: list[list[str]] = field(default_factory=list)
    """Personal-data rows under TABLE_HEADER."""
    year: int = 2024

    @property
    def mark_text(self) -> str:
        return "".join(self.mark) + self.mark_suffix

    @property
    def strong_mark(self) -> bool:
        return bool(self.mark) and self.mark_suffix.endswith(STRONG_SUFFIXES)

    @property
    def public(self) -> bool:
        return self.note is not None and "公开发布" in self.note


TABLE_HEADER = ["序号", "姓名", "身份证号", "联系电话", "住址"]


def _chance(rng: random.Random, p: float) -> bool:
    return rng.random() < p


# Per form: P(classification), P(handling), P(signature+seal), P(colophon)
_PROBS: dict[str, tuple[float, float, float, float]] = {
    "file": (0.45, 0.3, 0.8, 0.7),
    "upward": (0.35, 0.2, 0.7, 0.6),
    "letter": (0.3, 0.25, 0.85, 0.2),
    "minutes": (0.35, 0.35, 0.0, 0.6),
    "bulletin": (0.2, 0.45, 0.0, 0.6),
    "telegram": (0.45, 0.4, 0.1, 0.0),
    "list": (0.15, 0.85, 0.2, 0.0),
    "internal": (0.3, 0.7, 0.15, 0.1),
}


def make_document(
    rng: random.Random, form: str | None = None, organ: tx.Organ | None = None
) -> Document:
    """A random document of `form` (random when None) with a random set of elements, issued
    by `organ` (random when None)."""
    form = form or rng.choices(FORMS, weights=FORM_WEIGHTS)[0]
    org = organ or tx.organ(rng)
    yr = tx.year(rng)
    p_class, p_handling, p_seal, p_colophon = _PROBS[form]
    upward = form == "upward"
    genre = rng.choice(tx.UPWARD_GENRES) if upward else "函" if form == "letter" else None
    doc = Document(
        form=form,
        organ=org,
        title=tx.title(rng, org, genre),
        paragraphs=tx.body(
            rng, org, paragraphs=rng.randint(2, 11), upward=upward, letter=form == "letter"
        ),
        date=tx.date_text(rng, tx.date(rng, yr)),
        year=yr,
    )
    _markings(rng, doc, p_class, p_handling)
    _header(rng, doc)
    _ending(rng, doc, p_seal, p_colophon)
    if form == "list" or (form in ("file", "internal") and _chance(rng, 0.12)):
        _person_table(rng, doc)
    return doc


def _markings(rng: random.Random, doc: Document, p_class: float, p_handling: float) -> None:
    if _chance(rng, p_class):
        doc.classification = tx.classification(rng)
        doc.copy_number = tx.copy_number(rng) if _chance(rng, 0.85) else None
    elif _chance(rng, 0.06):
        doc.copy_number = tx.copy_number(rng)
    if _chance(rng, p_handling):
        doc.handling = (
            "内部明电"
            if doc.form == "telegram" and _chance(rng, 0.5)
            else tx.handling(rng, doc.organ)
        )
        doc.handling_right = _chance(rng, 0.45)
        doc.handling_boxed = _chance(rng, 0.2)
    if _chance(rng, 0.2):
        doc.urgency = rng.choice(tx.URGENCY if doc.form != "telegram" else ("特提", "特急", "加急"))
    draft_p = 0.35 if doc.form == "internal" else 0.06
    if _chance(rng, draft_p):
        state = rng.choice(tx.DRAFTS)
        if _chance(rng, 0.5):
            doc.title_draft = state
            doc.title += f"（{state}）"
        else:
            doc.draft = state
    if doc.form in ("internal", "list") and not (doc.classification or doc.handling or doc.draft):
        doc.handling = tx.handling(rng, doc.organ)


def _header(rng: random.Random, doc: Document) -> None:
    org = doc.organ
    form = doc.form
    if form in ("file", "upward"):
        doc.mark = [org.mark_name]
        if form == "file" and org.kind in ("gov", "party") and _chance(rng, 0.15):
            doc.mark = _joint_mark(rng, org)
        doc.mark_suffix = "文件"
        doc.doc_number = tx.doc_number(rng, org.code, doc.year)
        doc.rule = "star" if org.kind.startswith("party") and _chance(rng, 0.7) else "single"
        if form == "upward":
            doc.issuer = tx.signer(rng)
    elif form == "letter":
        doc.mark = [org.name]
        doc.doc_number = tx.doc_number(rng, org.letter_code, doc.year)
        doc.rule = "double"
    elif form in ("minutes", "bulletin"):
        doc.mark = [_minutes_name(rng, org) if form == "minutes" else org.name]
        doc.mark_suffix = (
            "会议纪要" if form == "minutes" else rng.choice(("工作简报", "情况通报", "信息专报"))
        )
        issue = rng.choice((f"第{rng.randint(1, 60)}期", f"〔{doc.year}〕{rng.randint(1, 60)}号"))
        doc.issue_line = (issue, f"{org.office}{rng.choice(('编', '', '印'))}")
        doc.rule = "single"
    elif form == "telegram":
        doc.mark = [org.name] if _chance(rng, 0.6) else []
        doc.mark_suffix = rng.choice(("明电", "明电", "密码电报"))
        doc.rule = "single"
        doc.telegram = [
            ("发电单位", org.name),
            ("签发", tx.signer(rng)),
            ("等级", rng.choice(("特急", "特提", "加急", "平急")) + "·" + doc.mark_suffix),
            (rng.choice(("电报号", "签批盘号")), tx.doc_number(rng, org.code + "明电", doc.year)),
        ]
    if form in ("file", "upward", "letter", "minutes", "bulletin"):
        doc.addressee = org.superior + "：" if form == "upward" else org.addressees
    if form == "minutes":
        doc.addressee = None


def _joint_mark(rng: random.Random, org: tx.Organ) -> list[str]:
    """联合行文 of the party committee and the government of the organ's own region."""
    names = [f"中共{org.region}委员会", f"{org.region}人民政府"]
    if _chance(rng, 0.3):
        names.reverse()
    return names


def _minutes_name(rng: random.Random, org: tx.Organ) -> str:
    meeting = rng.choice(("常务会议", "专题会议", "党组会议", "办公会议", "工作调度会议"))
    return org.name + meeting.removesuffix("会议")


def _ending(rng: random.Random, doc: Document, p_seal: float, p_colophon: float) -> None:
    org = doc.organ
    if _chance(rng, 0.35) and doc.form not in ("minutes", "telegram", "list"):
        doc.attachments = [
            f"{rng.choice(('', '《'))}{tx.list_title(rng)}" for _ in range(rng.randint(1, 3))
        ]
        doc.attachments = [a + "》" if a.startswith("《") else a for a in doc.attachments]
    p_sign = max(p_seal, 0.6 if doc.form in ("file", "upward", "letter") else 0.2)
    if _chance(rng, p_sign):
        doc.signature = org.name
        doc.seal = _chance(rng, p_seal / p_sign)
        doc.seal_text = org.name
    if doc.form in ("file", "upward", "letter", "internal"):
        if _chance(rng, 0.25) and not doc.classification:
            doc.note = "（此件不公开）"
        elif _chance(rng, 0.2) and not (doc.classification or doc.handling):
            doc.note = "（此件公开发布）"
    if _chance(rng, p_colophon):
        label = (
            "抄送："
            if doc.form not in ("bulletin", "minutes")
            else rng.choice(("分送：", "抄报："))
        )
        doc.cc = label + tx.cc_line(rng, org).removeprefix("抄送：")
        doc.printer = (org.office, f"{doc.date}印发")


def _person_table(rng: random.Random, doc: Document) -> None:
    doc.table_title = tx.list_title(rng)
    doc.table = tx.person_rows(rng, rng.randint(5, 20))
    if doc.form == "list":
        doc.paragraphs = doc.paragraphs[: rng.randint(0, 1)]
        doc.title = doc.table_title
        doc.addressee = None
