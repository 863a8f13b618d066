"""The second page model: what one page says and how its blocks are set, before rendering.

A `Paper` is a list of blocks (paragraphs of styled spans, tables, tab lines) plus `Mark`s:
the elements a detector must see, each with the text (`needle`) that finds it on the rendered
page. Layout follows GB/T 9704-2012 and the telegram conventions, form by form, with its own
idea of geometry (points and paragraph spacing, as a word processor sets a page), not the
pixel flow of the first model. `docx.py` writes a Paper as DOCX; LibreOffice sets it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from tests.corpus2 import vocab as vc

FORMS: tuple[str, ...] = (
    "xiaxing",  # 下行文: ××文件 in red, number centred, red rule (a star in it for party organs)
    "shangxing",  # 上行文 (请示/报告): mark lower on the page, number left, 签发人 right
    "xinhan",  # 信函: full organ name in red, red double rules at top and bottom
    "jiyao",  # 纪要: ××会议纪要 in red, issue number, office and date, red rule
    "joint",  # 联合行文: two or three organ names stacked, one 文件 beside them
    "telegram",  # 密码电报 / ××办公室明电: red title over a table ruled in red
    "alone",  # a red organ name alone at the top: no number, no rule
)
FORM_WEIGHTS = (6, 4, 3, 3, 3, 5, 3)

# Strong organ-mark endings (a header feature on their own, see config/headers.yaml).
STRONG_ENDINGS = ("文件", "纪要", "明电", "密码电报")


@dataclass(frozen=True)
class Span:
    text: str
    role: str = "fang"
    """Font role: fang (仿宋 body), song (小标宋-like, bold), hei, kai."""
    size: float = 16.0
    """Points; 三号 is 16 pt."""
    red: bool = False
    bold: bool = False
    spacing: float = 0.0
    """Extra space between characters, points (letter-spaced labels, spread marks)."""
    squeeze: int = 100
    """Horizontal scale in percent, as long organ names are narrowed to the type area."""
    boxed: bool = False


@dataclass(frozen=True)
class Para:
    spans: tuple[Span, ...]
    align: str = "left"
    """left | center | right | both (distributed for the body)."""
    before: float = 0.0
    after: float = 0.0
    indent_chars: float = 0.0
    rule: str | None = None
    """A rule under the paragraph: single | thick | double | thinthick | thickthin."""
    rule_red: bool = True
    rule_above: str | None = None
    right_tab: Span | None = None
    """Text pushed to the right margin on the same line (签发人, dates)."""
    line_pt: float | None = None


@dataclass(frozen=True)
class Cell:
    spans: tuple[Span, ...]
    span_cols: int = 1
    align: str = "left"


@dataclass(frozen=True)
class Table:
    rows: tuple[tuple[Cell, ...], ...]
    widths: tuple[float, ...]
    """Column widths as fractions of the type area."""
    red: bool = True
    borders: bool = True
    valign_center: bool = False
    row_pt: float = 0.0


Block = Para | Table


@dataclass(frozen=True)
class Mark:
    """An element a detector must see: `needle` finds it on the page (the first hit)."""

    name: str
    needle: str
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Paper:
    form: str
    organ: vc.Organ
    blocks: list[Block] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    margins_mm: tuple[float, float, float, float] = (37.0, 26.0, 35.0, 28.0)
    """top, right, bottom, left."""
    seal_under: str | None = None
    """Text the seal is stamped over (the signing organ), None for no seal."""
    red_rules: int = 0
    """How many full-width red rules the form draws (located on the rendered page)."""
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, block: Block, *marks: Mark) -> None:
        self.blocks.append(block)
        self.marks.extend(marks)

    def mark(self, name: str) -> list[Mark]:
        return [m for m in self.marks if m.name == name]


# --- shared pieces -----------------------------------------------------------------------


def _p(text: str, **kw: Any) -> Span:
    return Span(text, **kw)


def mark_span(r: random.Random, text: str, area_pt: float, size: float | None = None) -> Span:
    """A red organ mark: as big as the form wants, squeezed or shrunk to the type area."""
    size = size or r.choice((36.0, 40.0, 42.0, 48.0))
    area_pt *= 0.92  # the word processor's own side bearings and rounding: keep it one line
    natural = size * len(text)
    squeeze = 100
    if natural > area_pt:
        squeeze = max(60, int(100 * area_pt / natural))
        if natural * squeeze / 100 > area_pt:
            size = area_pt / (len(text) * squeeze / 100)
    return Span(text, "song", size, red=True, bold=True, squeeze=squeeze)


def _marking_lines(r: random.Random, paper: Paper, extra: dict[str, str]) -> None:
    """份号 / 密级 / 紧急程度 top left, one a line, and a handling or draft marking at the top
    right: where GB/T 9704 and local practice put them."""
    left: list[tuple[str, str]] = []
    if "copy_number" in extra:
        left.append(("copy_number", extra["copy_number"]))
    if "classification" in extra:
        left.append(("classification", extra["classification"]))
    if "urgency" in extra:
        left.append(("urgency", extra["urgency"]))
    for name, text in left:
        role = "hei" if name != "copy_number" else "fang"
        paper.add(Para((Span(text, role, 16),), line_pt=22), Mark(name, text))
    if "handling" in extra:
        text = extra["handling"]
        boxed = r.random() < 0.3
        align = r.choice(("right", "right", "left"))
        span = Span(text, r.choice(("hei", "song")), r.choice((14.0, 16.0)), boxed=boxed)
        paper.add(Para((span,), align=align, line_pt=22), Mark("handling", text))
    if "draft" in extra:
        paper.add(
            Para((Span(extra["draft"], "hei", 16),), align="right", line_pt=22),
            Mark("draft", extra["draft"]),
        )


def markings(r: random.Random, form: str) -> dict[str, str]:
    """Which markings a page carries, drawn per form: most carry one, some several."""
    out: dict[str, str] = {}
    roll = r.random()
    if roll < 0.42:
        out["classification"] = vc.classification(r)
        if r.random() < 0.7:
            out["copy_number"] = vc.copy_number(r)
    elif roll < 0.72:
        out["handling"] = r.choice(vc.HANDLINGS)
    elif roll < 0.82:
        out["draft"] = r.choice(vc.DRAFTS)
    if r.random() < 0.25:
        out["urgency"] = r.choice(("特急", "加急"))
    if form == "jiyao" and "classification" in out and r.random() < 0.5:
        out["handling"] = "内部"
    return out


def body(r: random.Random, paper: Paper, count: int, area_pt: float, upward: bool) -> None:
    addressee = (
        paper.organ.superior
        if upward
        else r.choice(
            (
                "各县（市、区）人民政府，市政府各部门",
                "各乡镇人民政府、街道办事处，县直各单位",
                "各有关单位",
            )
        )
    )
    paper.add(Para((Span(addressee + "：", "fang", 16),), before=8, line_pt=29))
    for text in vc.paragraphs(r, count):
        role = "hei" if text[1:2] == "、" else "fang"
        paper.add(Para((Span(text, role, 16),), align="both", indent_chars=2, line_pt=29))


def ending(r: random.Random, paper: Paper, date: str, *, seal: bool) -> None:
    """Signature, date, seal over them, 附注, and sometimes the 版记 between black rules."""
    signer = paper.organ.name
    paper.add(
        Para((Span(signer, "fang", 16),), align="right", before=r.choice((24.0, 36.0)), line_pt=29),
        Mark("signature", signer, {"above": "date"}),
    )
    paper.add(Para((Span(date, "fang", 16),), align="right", line_pt=29), Mark("date", date))
    if seal:
        paper.seal_under = signer
    if r.random() < 0.3:
        paper.add(Para((Span("（此件不公开）", "fang", 16),), indent_chars=2, before=6))
        paper.marks.append(Mark("note_private", "此件不公开"))
    if r.random() < 0.5:
        cc = "抄送：" + r.choice(
            ("市委办公室，市人大常委会办公室，市政协办公室。", "省应急管理厅，市纪委监委。")
        )
        paper.add(Para((Span(cc, "fang", 14),), before=18, rule_above="single", rule_red=False))
        printed = f"{paper.organ.office}"
        paper.add(
            Para(
                (Span(printed, "fang", 14),),
                right_tab=Span(f"{date}印发", "fang", 14),
                rule="single",
                rule_red=False,
            ),
            Mark("colophon", "印发"),
        )


# --- forms -------------------------------------------------------------------------------


def _numbered(r: random.Random, org: vc.Organ, yr: int) -> str:
    return vc.doc_number(r, org.code, yr, r.choice(("发", "发", "办发", "函")))


def xiaxing(r: random.Random, paper: Paper, area_pt: float) -> None:
    org, yr = paper.organ, paper.facts["year"]
    paper.add(
        Para((mark_span(r, org.name + "文件", area_pt),), align="center", before=r.uniform(6, 30)),
        Mark("organ_mark", org.name + "文件", {"strong": True}),
    )
    number = _numbered(r, org, yr)
    star = org.party and r.random() < 0.7
    paper.add(
        Para(
            (Span(number, "fang", 16),),
            align="center",
            before=r.uniform(14, 30),
            after=4,
            rule=None if star else r.choice(("single", "thick")),
        ),
        Mark("doc_number", number),
    )
    if star:
        _star_rule(paper)
    paper.red_rules = 1


def _star_rule(paper: Paper) -> None:
    """The party organs' rule: red line, red star, red line, on one level."""
    left = Cell((Span("", size=8),))
    star = Cell((Span("★", "song", 14, red=True),), align="center")
    paper.add(Table(((left, star, left),), (0.46, 0.08, 0.46), borders=False))
    paper.facts["star_rule"] = True


def shangxing(r: random.Random, paper: Paper, area_pt: float) -> None:
    org, yr = paper.organ, paper.facts["year"]
    # GB/T 9704 7.2.1: the mark of a report upward sits 80 mm below the type area's top.
    paper.add(
        Para(
            (mark_span(r, org.name + "文件", area_pt),),
            align="center",
            before=r.uniform(90, 150),
        ),
        Mark("organ_mark", org.name + "文件", {"strong": True}),
    )
    number = vc.doc_number(r, org.code, yr, r.choice(("发", "报", "呈")))
    issuer = "签发人：" + vc.person(r)
    paper.add(
        Para(
            (Span(number, "fang", 16),),
            indent_chars=1,
            before=r.uniform(14, 28),
            after=4,
            right_tab=Span(issuer, r.choice(("fang", "kai")), 16),
            rule="single",
        ),
        Mark("doc_number", number),
        Mark("issuer", issuer),
    )
    paper.red_rules = 1


def xinhan(r: random.Random, paper: Paper, area_pt: float) -> None:
    org, yr = paper.organ, paper.facts["year"]
    paper.add(
        Para(
            (mark_span(r, org.name, area_pt, r.choice((28.0, 32.0, 36.0))),),
            align="center",
            after=4,
            rule=r.choice(("thickthin", "double")),
        ),
        Mark("organ_mark", org.name, {"strong": False, "letter": True}),
    )
    number = vc.doc_number(r, org.code, yr, "函")
    paper.add(
        Para((Span(number, "fang", 16),), align="right", before=6), Mark("doc_number", number)
    )
    paper.red_rules = 1
    paper.facts["bottom_double_rule"] = True


def jiyao(r: random.Random, paper: Paper, area_pt: float) -> None:
    org, yr = paper.organ, paper.facts["year"]
    meeting = org.name.removesuffix("人民政府") + r.choice(
        ("常务会议纪要", "专题会议纪要", "办公会议纪要")
    )
    if not meeting.startswith(org.name):
        meeting = org.name + r.choice(("常务会议纪要", "专题会议纪要"))
    paper.add(
        Para(
            (mark_span(r, meeting, area_pt, r.choice((32.0, 36.0, 40.0))),),
            align="center",
            before=r.uniform(0, 20),
        ),
        Mark("organ_mark", meeting, {"strong": True}),
    )
    issue = r.choice((f"第{r.randint(1, 40)}期", f"〔{yr}〕{r.randint(1, 40)}号"))
    paper.add(Para((Span(issue, "fang", 16),), align="center", before=8))
    paper.add(
        Para(
            (Span(org.office, "fang", 16),),
            right_tab=Span(vc.date_text(r, yr), "fang", 16),
            before=6,
            after=4,
            rule="single",
        )
    )
    paper.red_rules = 1


def joint(r: random.Random, paper: Paper, area_pt: float) -> None:
    org, yr = paper.organ, paper.facts["year"]
    place = org.place
    names = [f"中共{place}委员会", f"{place}人民政府"]
    if r.random() < 0.35:
        names.append(f"{place}{r.choice(('人民武装部', '总工会', '财政局'))}")
    if r.random() < 0.3:
        names.reverse()
    longest = max(len(n) for n in names)
    size = min(r.choice((26.0, 28.0, 32.0)), 0.72 * area_pt / longest)
    left = Cell(
        tuple(Span(n, "song", size, red=True, bold=True, spacing=0.0) for n in names),
        align="right",
    )
    right = Cell((Span("文件", "song", size * 1.4, red=True, bold=True),), align="left")
    paper.add(
        Table(((left, right),), (0.74, 0.26), borders=False, valign_center=True),
        Mark("organ_mark", names[0], {"strong": True, "joint": names}),
    )
    number = vc.doc_number(r, org.code, yr, "联发")
    paper.add(
        Para((Span(number, "fang", 16),), align="center", before=18, after=4, rule="single"),
        Mark("doc_number", number),
    )
    paper.red_rules = 1


LABEL_SPACED = {"密级": "密　级", "等级": "等　级", "签发": "签　发", "份号": "份　号"}


def telegram(r: random.Random, paper: Paper, area_pt: float, extra: dict[str, str]) -> None:
    org, yr = paper.organ, paper.facts["year"]
    coded = r.random() < 0.5
    head = "密码电报" if coded else f"{org.office}明电"
    size = 42.0 if coded else r.choice((30.0, 32.0, 36.0))
    paper.add(
        Para(
            (mark_span(r, head, area_pt, size),), align="center", before=r.uniform(0, 16), after=10
        ),
        Mark("organ_mark", head, {"strong": True, "telegram": True}),
    )
    level = extra.pop("classification", None) if coded else None
    if coded and level is None:
        level = r.choice(("机密", "秘密★3个月", "绝密", "机密★1年"))
    urgency = r.choice(("特急", "加急", "平急", "特提"))
    number = vc.doc_number(r, org.code + "办", yr, "电")
    copy_no = extra.pop("copy_number", vc.copy_number(r))
    extra.pop("urgency", None)

    def label(text: str) -> Cell:
        return Cell((Span(LABEL_SPACED.get(text, text), "hei", 14),), align="center")

    def value(text: str, cols: int = 1) -> Cell:
        return Cell((Span(text, "fang", 14),), span_cols=cols)

    signer = vc.person(r)
    rows = [
        (label("发电单位"), value(org.office, 3)),
        (label("签发"), value(signer), label("等级"), value(urgency)),
        (label("电报号"), value(number), label("份号"), value(copy_no)),
    ]
    if level:
        rows.insert(1, (label("密级"), value(level), label("签发"), value(signer)))
        rows[2] = (label("等级"), value(urgency), label("抄送"), value("市委办公室"))
    tail = rows[1:]
    r.shuffle(tail)
    rows = rows[:1] + tail
    marks = [
        Mark("telegram_fields", "发电单位"),
        Mark("doc_number", number),
        Mark("copy_number", copy_no),
        Mark("issuer", "签　发"),
    ]
    if level:
        marks.append(Mark("classification", level, {"cell": True}))
    paper.add(
        Table(tuple(rows), (0.17, 0.38, 0.15, 0.30), row_pt=r.choice((26.0, 30.0, 34.0))), *marks
    )
    paper.red_rules = 1
    paper.facts["telegram"] = head


def alone(r: random.Random, paper: Paper, area_pt: float) -> None:
    org = paper.organ
    paper.add(
        Para(
            (mark_span(r, org.name, area_pt, r.choice((30.0, 36.0, 42.0))),),
            align="center",
            before=r.uniform(0, 24),
            after=18,
        ),
        Mark("organ_mark", org.name, {"strong": False, "alone": True}),
    )


def make_paper(r: random.Random, form: str | None = None) -> Paper:
    form = form or r.choices(FORMS, weights=FORM_WEIGHTS)[0]
    org = vc.organ(r)
    yr = vc.year(r)
    top = r.uniform(25, 40)
    side = r.uniform(22, 30)
    paper = Paper(form, org, margins_mm=(top, side, r.uniform(28, 36), side + r.uniform(-2, 2)))
    paper.facts.update(form=form, organ=org.name, year=yr)
    area_pt = (210 - 2 * side) / 25.4 * 72
    extra = markings(r, form)
    if form == "alone" and not extra:
        # Nothing else at the top of this form says "document": give it the marking that
        # such notices usually carry, so that every positive has something to find up top.
        extra["handling"] = r.choice(vc.HANDLINGS)
    if form == "telegram":
        # A telegram's level and copy number live in its table; other markings above it.
        tg_extra = dict(extra)
        pre = {k: v for k, v in extra.items() if k in ("handling", "draft")}
        _marking_lines(r, paper, pre)
        telegram(r, paper, area_pt, tg_extra)
    else:
        _marking_lines(r, paper, extra)
        {
            "xiaxing": xiaxing,
            "shangxing": shangxing,
            "xinhan": xinhan,
            "jiyao": jiyao,
            "joint": joint,
            "alone": alone,
        }[form](r, paper, area_pt)
    upward = form == "shangxing"
    doc_title = vc.title(r, org, upward=upward)
    if "draft" not in extra and r.random() < 0.08:
        draft = r.choice(vc.DRAFTS)
        doc_title += f"（{draft}）"
        paper.marks.append(Mark("draft", f"（{draft}）", {"title": True}))
    paper.add(
        Para(
            (Span(doc_title, "song", 22, bold=True),),
            align="center",
            before=20,
            after=10,
            line_pt=34,
        )
    )
    # Short bodies: most pages end on page 1, with signature, seal and 版记 in view.
    body(r, paper, r.randint(1, 3) if form != "shangxing" else 1, area_pt, upward)
    ending(r, paper, vc.date_text(r, yr), seal=form != "jiyao" and r.random() < 0.75)
    paper.facts["markings"] = sorted(extra)
    return paper
