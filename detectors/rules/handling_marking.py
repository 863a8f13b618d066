"""Markings that are not national-secret levels: 内部, 注意保存, 工作秘密, 讨论稿, （此件不公开）…

There is no national rule for them, so the words come from `config/markings.yaml`. They count
by how they stand: alone on a line (several may share it: 内部，注意保存), a note in
parentheses on its own line, or a draft state closing a title (《…通告（讨论稿）》).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from detectors.config import ClassificationMarkings, HandlingMarkings, Headers, Markings, ScanConfig
from detectors.context import PageContext
from detectors.model import Finding, TextLine
from detectors.rules._text import alternation, leftover, nearly_read, normalize
from detectors.rules.classification_marking import marking_pattern

NAME = "handling_marking"

# Short, common words that are markings only where markings stand (top or bottom of a page).
_AMBIGUOUS = frozenset({"内部", "草稿", "初稿", "修改稿", "敏感信息"})
TITLE_END = re.compile(
    r"(通知|通告|通报|公告|意见|办法|方案|规定|规划|报告|细则|条例|决定|纪要|请示|批复|函|要点|计划|"
    r"名单|清单|说明|预案|制度|规则|安排|指南|标准|措施)[》>」]?$"
)


_SENTENCE_PUNCTUATION = re.compile(r"[,.;:!?，。；：！？]")
_SENTENCE_END = (".", "!", "?", "。", "！", "？")
_MAX_TITLE_CHARS = 48


@dataclass(frozen=True)
class _Patterns:
    token: re.Pattern[str]
    note: re.Pattern[str]
    draft_suffix: re.Pattern[str]
    companions: re.Pattern[str]
    misread_notes: dict[str, str]
    """A note's text with one glyph dropped or misread, to the note: （件不公开） in a far shot."""


@lru_cache(maxsize=8)
def phrase_pattern(handling: HandlingMarkings) -> re.Pattern[str]:
    """Any handling marking or draft state from the list (no context checks)."""
    return re.compile(alternation((*handling.phrases, *handling.drafts)))


@lru_cache(maxsize=8)
def any_marking(markings: Markings) -> re.Pattern[str]:
    """A classification or handling marking (no context checks): what a line made only of
    these is, whatever else it looks like (内部文件 ends like 某某局文件)."""
    return re.compile(
        f"{marking_pattern(markings.classification).pattern}|"
        f"{phrase_pattern(markings.handling).pattern}"
    )


@lru_cache(maxsize=8)
def _patterns(
    handling: HandlingMarkings, headers: Headers, classification: ClassificationMarkings
) -> _Patterns:
    notes = alternation(handling.parenthesized)
    drafts = alternation(handling.drafts)
    return _Patterns(
        token=phrase_pattern(handling),
        note=re.compile(rf"[(\[【〔<《]{notes}[)\]】〕>》]"),
        draft_suffix=re.compile(
            rf"^(?P<title>.{{4,}}?)[(\[【〔]?(?P<draft>{drafts})[)\]】〕]?[》>」]?$"
        ),
        companions=re.compile(
            rf"{marking_pattern(classification).pattern}|\d{{{headers.copy_number_digits}}}|"
            + alternation(headers.urgency)
        ),
        misread_notes=_misread_notes(handling.parenthesized),
    )


_MIN_MISREAD_NOTE = 5
"""Notes this long keep their sense with one glyph lost (此件不公开); shorter ones do not."""
_NEGATIONS = frozenset("不非勿禁")
"""Never dropped or replaced: （此件公开） without its 不 says the opposite."""
_MISREAD = "?"
"""Stands for any one glyph in a misread note."""
_MISREAD_FACTOR = 0.9
_OPENING, _CLOSING = "([【〔<《", ")]】〕>》"


def _misread_notes(notes: tuple[str, ...]) -> dict[str, str]:
    """Each long note with one glyph (not a negation) dropped, or replaced by `_MISREAD`."""
    variants: dict[str, str] = {}
    for note in notes:
        if len(note) < _MIN_MISREAD_NOTE:
            continue
        for i, glyph in enumerate(note):
            if glyph not in _NEGATIONS:
                variants.setdefault(note[:i] + note[i + 1 :], note)
                variants.setdefault(note[:i] + _MISREAD + note[i + 1 :], note)
    return variants


def _misread_note(text: str, variants: dict[str, str]) -> str | None:
    """The note a line in parentheses misreads by one glyph, if it is one."""
    inner = text.strip()
    if len(inner) < 3 or inner[0] not in _OPENING or inner[-1] not in _CLOSING:
        return None
    inner = inner[1:-1]
    if inner in variants:
        return variants[inner]
    for i in range(len(inner)):
        note = variants.get(inner[:i] + _MISREAD + inner[i + 1 :])
        if note is not None:
            return note
    return None


def detect(ctx: PageContext) -> list[Finding]:
    config: ScanConfig = ctx.config
    patterns = _patterns(config.markings.handling, config.headers, config.markings.classification)
    findings: list[Finding] = []
    misreads = config.markings.handling.misreads
    for line in ctx.page.lines:
        text = _folded(line.text, misreads)
        if text:
            findings += _line_findings(ctx, line, text, patterns) or _nearly_read(
                ctx, line, patterns, misreads
            )
    return findings


def _folded(text: str, misreads: tuple[tuple[str, str], ...]) -> str:
    text = normalize(text)
    for misread, word in misreads:
        text = text.replace(misread, word)
    return text


def _nearly_read(
    ctx: PageContext, line: TextLine, patterns: _Patterns, misreads: tuple[tuple[str, str], ...]
) -> list[Finding]:
    """The markings of the first alternative reading of the line that has any, trusted less."""
    for alternative in line.alternatives:
        found = _line_findings(ctx, line, _folded(alternative, misreads), patterns)
        if found:
            return [nearly_read(f, alternative) for f in found]
    return []


def _line_findings(
    ctx: PageContext, line: TextLine, text: str, patterns: _Patterns
) -> list[Finding]:
    max_extra = ctx.config.scan.layout.alone_max_extra_chars
    notes = list(patterns.note.finditer(text))
    others = [m.span() for m in patterns.companions.finditer(text)]
    found = list(patterns.token.finditer(text))
    known = [m.span() for m in (*notes, *found)] + others
    tokens = [m for m in found if not _inside_a_word(text, m, known)]
    spans = [m.span() for m in (*notes, *tokens)] + others
    rest = leftover(text, spans)
    # The tail of a wrapped sentence (…说明 / 书并妥善保管。): words before the marking and a
    # full stop after it. A marking stands alone, without a sentence's end.
    wrapped = rest > 0 and text.endswith(_SENTENCE_END)
    if (notes or tokens) and rest <= max_extra and not wrapped:
        block = _in_marking_block(ctx, line, patterns)
        words = [m.group(0).strip("()[]【】〔〕<>《》") for m in notes + tokens]
        return [_marking(ctx, line, word, block) for word in words]
    note = _misread_note(text, patterns.misread_notes)
    if note is not None:
        finding = _marking(ctx, line, note, _in_marking_block(ctx, line, patterns))
        return [replace(finding, confidence=finding.confidence * _MISREAD_FACTOR)]
    draft = patterns.draft_suffix.match(text)
    if draft and _is_title(draft.group("title")):
        return [ctx.finding(NAME, draft.group("draft"), 0.9, line.text.strip(), line.bbox)]
    return []


def _inside_a_word(text: str, token: re.Match[str], known: list[tuple[int, int]]) -> bool:
    """A short, common marking word with a Chinese character right before or after it that
    belongs to nothing else on the line is part of a longer word (加强内部管理 read as 唱内部
    and 管理 in two boxes), not a marking."""
    if token.group(0) not in _AMBIGUOUS:
        return False
    start, end = token.span()
    return any(
        0 <= i < len(text) and _is_hanzi(text[i]) and not any(a <= i < b for a, b in known)
        for i in (start - 1, end)
    )


def _is_hanzi(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"


def _is_title(text: str) -> bool:
    """A document title, not the tail of a sentence that quotes one (…擅自将《…通告》)."""
    text = text.rstrip("()[]【】〔〕")
    if _SENTENCE_PUNCTUATION.search(text) or len(text) > _MAX_TITLE_CHARS:
        return False
    if "《" in text and not text.startswith("《"):
        return False
    return TITLE_END.search(text) is not None


def _in_marking_block(ctx: PageContext, line: TextLine, patterns: _Patterns) -> bool:
    """Whether `line` is stacked with a line of a classification marking, 份号 or 紧急程度
    only: a marking block, even where the page stands mid-picture (a website, a far shot)."""
    for other in ctx.stacked_with(line):
        text = normalize(other.text)
        spans = [m.span() for m in patterns.companions.finditer(text)]
        if spans and leftover(text, spans) == 0:
            return True
    return False


def _marking(ctx: PageContext, line: TextLine, word: str, in_block: bool) -> Finding:
    where_markings_stand = in_block or ctx.in_top_zone(line) or ctx.in_bottom_zone(line)
    if word in _AMBIGUOUS:
        confidence = 0.9 if where_markings_stand else 0.45
    else:
        confidence = 0.92 if where_markings_stand else 0.8
    return ctx.finding(
        NAME, word, confidence * min(1.0, 0.5 + line.confidence), line.text.strip(), line.bbox
    )
