"""The parts of an official document's header and colophon (GB/T 9704-2012).

发文字号 (吉政办发〔2024〕15号, with the brackets OCR makes of 〔〕), 发文机关标志 (…文件),
签发人, 份号, 紧急程度, 版记 (抄送 / …印发) and 密码电报 fields. Each feature counts only
standing as it does in a header — a document number quoted in a sentence does not. A page is
a document header when its features add up to `headers.min_features` (strong ones count 2).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from detectors.config import Headers, Markings
from detectors.context import PageContext
from detectors.model import Finding, TextLine
from detectors.rules._text import alternation, char_class, leftover, normalize
from detectors.rules.handling_marking import any_marking

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


@dataclass(frozen=True)
class _Patterns:
    doc_number: re.Pattern[str]
    issuer: re.Pattern[str]
    organ_suffix: re.Pattern[str]
    organ_word: re.Pattern[str]
    copy_number: re.Pattern[str]
    urgency: re.Pattern[str]
    cc: re.Pattern[str]
    printed: re.Pattern[str]
    telegram: re.Pattern[str]
    marking: re.Pattern[str]


@dataclass(frozen=True)
class _Feature:
    label: str
    weight: int
    confidence: float
    line: TextLine


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
        organ_suffix=re.compile(rf"{alternation(headers.organ_mark.suffixes)}$"),
        organ_word=re.compile(alternation(headers.organ_mark.organ_words)),
        copy_number=re.compile(rf"^(?:份号[:：]?)?\d{{{headers.copy_number_digits}}}$"),
        urgency=re.compile(alternation(headers.urgency)),
        cc=re.compile(rf"^{alternation((*colophon.cc_labels, *colophon.main_labels))}[:：]"),
        printed=re.compile(rf"{_DATE}{re.escape(colophon.printed_suffix)}$"),
        # Telegram header fields stand as table cells or "label：value", not inside prose.
        telegram=re.compile(rf"(?:^|\s)({alternation(headers.telegram_fields)})\s*(?:[:：]|\s|$)"),
        marking=any_marking(markings),
    )


def detect(ctx: PageContext) -> list[Finding]:
    if ctx.page.is_metadata:
        return []
    headers = ctx.config.headers
    patterns = _patterns(headers, ctx.config.markings)
    features = list(_features(ctx, patterns))
    if _score(features) < headers.min_features:
        return []
    return [
        ctx.finding(NAME, f.label, f.confidence, f.line.text.strip(), f.line.bbox) for f in features
    ]


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
    telegram_fields: set[str] = set()
    for line in ctx.page.lines:
        text = normalize(line.text)
        if not text:
            continue
        for check in checks:
            feature = check(ctx, line, text, patterns)
            if feature is not None:
                yield feature
        if len(telegram_fields) < 2:
            fields = patterns.telegram.finditer(line.text.strip())
            telegram_fields.update(m.group(1) for m in fields)
            if len(telegram_fields) >= 2:  # once per page, at the line that completes it
                yield _Feature("telegram", _STRONG, 0.85, line)


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
    if len(text) > ctx.config.headers.organ_mark.max_chars or text.startswith("关于"):
        return None
    organ = p.organ_word.search(text)
    if organ is None or "的" in text or p.marking.fullmatch(text):
        return None  # 内部文件 is a marking, not the organ 内部 + 文件
    suffix = p.organ_suffix.search(text)
    red = ctx.is_red(line)
    if suffix is not None and suffix.start() >= organ.end() and (red or ctx.in_top_zone(line)):
        return _Feature("organ_mark", _STRONG, 0.95 if red else 0.85, line)
    if red and ctx.in_top_zone(line) and len(text) >= 4:
        # 信函格式: the organ name alone, in red, without 文件. Weak: a web site's masthead
        # or the arc text of an invoice seal looks the same.
        return _Feature("organ_mark", _WEAK, 0.7, line)
    return None


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
    if p.copy_number.match(text) and ctx.in_top_zone(line) and ctx.in_left_zone(line):
        return _Feature("copy_number", _WEAK, 0.7, line)
    return None


def _urgency(ctx: PageContext, line: TextLine, text: str, p: _Patterns) -> _Feature | None:
    match = p.urgency.search(text)
    if match is None or not ctx.in_top_zone(line):
        return None
    if leftover(text, [match.span(), *(m.span() for m in re.finditer(r"\d{6}", text))]) > 0:
        return None
    return _Feature("urgency", _WEAK, 0.7, line)


def _colophon(ctx: PageContext, line: TextLine, text: str, p: _Patterns) -> _Feature | None:
    # "××办公室 2024年3月1日印发" closes only official documents: it counts on its own.
    if p.printed.search(text) and len(text) <= ctx.config.headers.organ_mark.max_chars + 16:
        return _Feature("printed_by", _STRONG, 0.85, line)
    if p.cc.match(text) and (ctx.in_bottom_zone(line) or line.bbox is None):
        return _Feature("copied_to", _WEAK, 0.7, line)
    return None
