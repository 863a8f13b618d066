"""The parts of an official document's header and colophon (GB/T 9704-2012).

发文字号 (吉政办发〔2024〕15号, with the brackets OCR makes of 〔〕), 发文机关标志 (…文件),
签发人, 份号, 紧急程度, 版记 (抄送 / …印发) and 密码电报 fields. Each feature counts only
standing as it does in a header — a document number quoted in a sentence does not. A page is
a document header when its features add up to `headers.min_features` (strong ones count 2).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from statistics import median

from detectors.config import Headers, Markings
from detectors.context import PageContext
from detectors.model import BBox, Finding, TextLine
from detectors.rules._organ import header_suffix, organ_name
from detectors.rules._text import alternation, char_class, leftover, normalize, spaced_alternation
from detectors.rules.handling_marking import TITLE_END, any_marking

NAME = "document_header"

_CJK = r"[\u4e00-\u9fff]"
_CN_DIGIT = "〇零一二三四五六七八九十"
# OCR drops the 〇 of 二〇二四 now and then: accept 2-4 digits for the year.
_DATE = (
    rf"(?:\d{{4}}年\d{{1,2}}月\d{{1,2}}日"
    rf"|[{_CN_DIGIT}]{{2,4}}年[{_CN_DIGIT}]{{1,2}}月[{_CN_DIGIT}]{{1,3}}日)"
)
# The last character of a 机关代字 (吉政办发, 湘卫函, 武公行罚决字).
_BARE_AGENCY = re.compile(r"[发函字电办报令]$")
_STRONG = 2
_WEAK = 1
_TOP_LEFT_BLOCK = ("urgency", "marking_block")
_TITLE_LINES = 4
"""A document's title follows its organ mark within this many lines (number, rule, blank)."""
_MIN_TITLE_CHARS, _MAX_TITLE_CHARS = 6, 48
_SENTENCE = re.compile(r"^(?:根据|按照|依据|依照|据)|[,.;!?，。；！？]")
_MARK_SCALE = 1.6
"""An organ mark is set at least this many times the height of the page's usual line."""


@dataclass(frozen=True)
class _Patterns:
    doc_number: re.Pattern[str]
    issuer: re.Pattern[str]
    copy_number: re.Pattern[str]
    urgency: re.Pattern[str]
    cc: re.Pattern[str]
    printed: re.Pattern[str]
    telegram: re.Pattern[str]
    marking: re.Pattern[str]
    cell_label: re.Pattern[str]


@dataclass(frozen=True)
class _Feature:
    label: str
    weight: int
    confidence: float
    line: TextLine
    value: TextLine | None = None
    """The value beside a form's label cell, read with it."""

    @property
    def evidence(self) -> str:
        return " ".join(ln.text.strip() for ln in (self.line, self.value) if ln is not None)

    @property
    def bbox(self) -> BBox | None:
        boxes = [ln.bbox for ln in (self.line, self.value) if ln is not None and ln.bbox]
        if not boxes:
            return None
        return (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )


@lru_cache(maxsize=8)
def _patterns(headers: Headers, markings: Markings) -> _Patterns:
    number = headers.doc_number
    # OCR turns 〔〕 into any bracket, or drops one or both: 黔司函2020]184号, 吉政办发2024 15号.
    doc_number = (
        rf"(?P<agency>{_CJK}{{1,{number.max_agency_chars}}})"
        rf"(?P<open>{char_class(number.open_brackets)})?(?P<year>\d{{4}})"
        rf"(?P<close>{char_class(number.close_brackets)})?第?(?P<no>\d{{1,5}})号"
    )
    colophon = headers.colophon
    return _Patterns(
        doc_number=re.compile(doc_number),
        issuer=re.compile(rf"{alternation(headers.issuer_labels)}[:：]?(?:{_CJK}{{2,4}})?"),
        copy_number=re.compile(rf"^(?:份号[:：]?)?\d{{{headers.copy_number_digits}}}$"),
        urgency=re.compile(alternation(headers.urgency)),
        cc=re.compile(rf"^{alternation((*colophon.cc_labels, *colophon.main_labels))}[:：]"),
        printed=re.compile(rf"{_DATE}{re.escape(colophon.printed_suffix)}$"),
        telegram=telegram_pattern(headers),
        marking=any_marking(markings),
        cell_label=re.compile(rf"{alternation(headers.cell_labels)}[:：]?"),
    )


@lru_cache(maxsize=8)
def telegram_pattern(headers: Headers) -> re.Pattern[str]:
    """A telegram header field (发电单位, 等　级, 电报号): it stands as a table cell or as
    "label：value", not inside prose. Group 1 is the label as printed."""
    fields = spaced_alternation(headers.telegram_fields)
    return re.compile(rf"(?:^|\s)({fields})\s*(?:[:：]|\s|$)")


def telegram_fields(text: str, headers: Headers) -> set[str]:
    """The distinct telegram fields on a line of text."""
    return {normalize(m.group(1)) for m in telegram_pattern(headers).finditer(text.strip())}


def detect(ctx: PageContext) -> list[Finding]:
    if ctx.page.is_metadata:
        return []
    headers = ctx.config.headers
    patterns = _patterns(headers, ctx.config.markings)
    features = list(_features(ctx, patterns))
    if _score(features) < headers.min_features:
        return []
    return [ctx.finding(NAME, f.label, f.confidence, f.evidence, f.bbox) for f in features]


def _score(features: list[_Feature]) -> int:
    """Distinct features' weights. Urgency and a marking line are one block (the top-left
    block of 份号, 密级, 紧急程度): together they count once, so 加急 + 内部文件 is no header
    without the copy number."""
    weights: dict[str, int] = {}
    for f in features:  # a label counts once, at its strongest (a red organ mark over a weak one)
        weights[f.label] = max(f.weight, weights.get(f.label, 0))
    block = sum(weights.pop(label, 0) for label in _TOP_LEFT_BLOCK)
    return sum(weights.values()) + min(block, _WEAK)


def _features(ctx: PageContext, patterns: _Patterns) -> Iterator[_Feature]:
    checks: tuple[Callable[[PageContext, TextLine, str, _Patterns], _Feature | None], ...] = (
        _doc_number,
        _organ_mark,
        _issuer,
        _copy_number,
        _urgency,
        _marking_block,
        _colophon,
    )
    fields: set[str] = set()
    cells = ctx.field_values(patterns.cell_label)
    values = {id(value) for value in cells.values()}
    for line in ctx.page.lines:
        if id(line) in values:
            continue  # read with its label
        value = cells.get(id(line))
        text = normalize(line.text) + (f"：{normalize(value.text)}" if value else "")
        if not text:
            continue
        for check in checks:
            feature = check(ctx, line, text, patterns)
            if feature is not None:
                yield replace(feature, value=value)
        if len(fields) < 2:
            fields |= telegram_fields(line.text, ctx.config.headers)
            if len(fields) >= 2:  # once per page, at the line that completes it
                yield _Feature("telegram", _STRONG, 0.85, line)


def numbered(ctx: PageContext, below: int) -> bool:
    """Whether a 发文字号 stands on the page below the row `below` (as in a header)."""
    patterns = _patterns(ctx.config.headers, ctx.config.markings)
    return any(
        line.bbox is not None
        and line.bbox[1] >= below
        and _doc_number(ctx, line, normalize(line.text), patterns) is not None
        for line in ctx.page.lines
    )


def _doc_number(ctx: PageContext, line: TextLine, text: str, p: _Patterns) -> _Feature | None:
    match = p.doc_number.search(text)
    if match is None:
        return None
    limits = ctx.config.headers.doc_number
    if not limits.min_year <= int(match.group("year")) <= limits.max_year:
        return None
    if not (match.group("open") or match.group("close") or _BARE_AGENCY.search(match["agency"])):
        return None  # without brackets, only a 机关代字 ending like 发/函/字 makes it a number
    spans = [match.span(), *(m.span() for m in p.issuer.finditer(text))]
    if leftover(text, spans) > ctx.config.scan.layout.alone_max_extra_chars:
        return None  # quoted in a sentence: 根据国办发〔2012〕1号文件精神
    return _Feature("doc_number", _STRONG, 0.95 if ctx.in_top_zone(line) else 0.85, line)


def _organ_mark(ctx: PageContext, line: TextLine, text: str, p: _Patterns) -> _Feature | None:
    organ = ctx.config.headers.organ_mark
    if "的" in text or p.marking.fullmatch(text) or not organ_name(text, organ):
        return None  # 内部文件 is a marking, not the organ 内部 + 文件
    red = ctx.is_red(line)
    if header_suffix(text, organ) and (red or ctx.in_top_zone(line)):
        return _Feature("organ_mark", _STRONG, 0.95 if red else 0.85, line)
    if red and ctx.in_top_zone(line) and len(text) >= 4:
        # The organ name alone, in red, without 文件 (信函格式, a notice issued without number
        # or rule): strong over the document's title. Weak elsewhere: a web site's masthead,
        # a gate plaque or the arc text of an invoice seal look the same.
        if _large(ctx, line) and _title_below(ctx, line):
            return _Feature("organ_mark", _STRONG, 0.85, line)
        return _Feature("organ_mark", _WEAK, 0.7, line)
    return None


def _large(ctx: PageContext, mark: TextLine) -> bool:
    """Set large, as an organ mark is: well above the page's usual line (by box or size)."""
    lines = ctx.page.lines
    if mark.bbox is not None:
        heights = [ln.bbox[3] - ln.bbox[1] for ln in lines if ln.bbox is not None]
        return mark.bbox[3] - mark.bbox[1] >= _MARK_SCALE * median(heights)
    sizes = [ln.size for ln in lines if ln.size]
    return bool(mark.size and sizes) and (mark.size or 0) >= _MARK_SCALE * median(sizes)


def _title_below(ctx: PageContext, mark: TextLine) -> bool:
    """Whether a document's title (关于…的通知, …工作方案) follows the mark within a few
    lines: what makes a red organ name the head of a document. A title is no sentence:
    根据《…的通知》 in running text is a quote."""
    rank = ctx.index_of(mark)
    for line in ctx.page.lines:
        text = normalize(line.text)
        if (
            0 < ctx.index_of(line) - rank <= _TITLE_LINES
            and not ctx.is_red(line)
            and _MIN_TITLE_CHARS <= len(text) <= _MAX_TITLE_CHARS
            and TITLE_END.search(text)
            and not _SENTENCE.search(text)
        ):
            return True
    return False


def _marking_block(ctx: PageContext, line: TextLine, text: str, p: _Patterns) -> _Feature | None:
    """份号, 密级 and 紧急程度 belong to the 版头 (GB/T 9704 §7.2); units put 内部 and the
    like in the same place. A line of markings in the top zone counts."""
    if not ctx.in_top_zone(line):
        return None
    spans = [m.span() for m in p.marking.finditer(text)]
    if not spans:
        return None
    spans += [m.span() for m in p.urgency.finditer(text)]
    if leftover(text, spans) > 0:
        return None
    return _Feature("marking_block", _WEAK, 0.7, line)


def _issuer(ctx: PageContext, line: TextLine, text: str, p: _Patterns) -> _Feature | None:
    match = p.issuer.search(text)
    if match is None or not match.group(0).startswith("签发人"):
        return None
    spans = [match.span(), *(m.span() for m in p.doc_number.finditer(text))]
    if leftover(text, spans) > ctx.config.scan.layout.alone_max_extra_chars + 4:
        return None
    return _Feature("issuer", _STRONG, 0.85, line)


def _copy_number(ctx: PageContext, line: TextLine, text: str, p: _Patterns) -> _Feature | None:
    labelled = text.startswith("份号")  # a form's 份号 cell stands where the form puts it
    if p.copy_number.match(text) and ctx.in_top_zone(line) and (labelled or ctx.in_left_zone(line)):
        return _Feature("copy_number", _WEAK, 0.7, line)
    return None


def _urgency(ctx: PageContext, line: TextLine, text: str, p: _Patterns) -> _Feature | None:
    match = p.urgency.search(text)
    if match is None or not ctx.in_top_zone(line):
        return None
    spans = [match.span(), *(m.span() for m in re.finditer(r"\d{6}", text))]
    if leftover(text, [*spans, *(m.span() for m in p.cell_label.finditer(text))]) > 0:
        return None
    return _Feature("urgency", _WEAK, 0.7, line)


def _colophon(ctx: PageContext, line: TextLine, text: str, p: _Patterns) -> _Feature | None:
    # "××办公室 2024年3月1日印发" closes only official documents: it counts on its own.
    if p.printed.search(text) and len(text) <= ctx.config.headers.organ_mark.max_chars + 16:
        return _Feature("printed_by", _STRONG, 0.85, line)
    if p.cc.match(text) and (ctx.in_bottom_zone(line) or line.bbox is None):
        return _Feature("copied_to", _WEAK, 0.7, line)
    return None
