"""绝密 / 机密 / 秘密 with ★ and a period: the national classification marking (GB/T 9704).

Counts when it stands as a marking: alone on its line (份号 and 紧急程度 may share the line),
or as the field 密级：机密 — also in a form's cells, where OCR reads the label and the value
beside it as boxes of their own (密　级 | 机密). The same words inside prose (这是我们之间的
秘密, 机密任务) do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from detectors.config import ClassificationMarkings, Headers, ScanConfig
from detectors.context import PageContext
from detectors.model import BBox, Finding, TextLine
from detectors.rules._text import alternation, char_class, leftover, nearly_read, normalize

NAME = "classification_marking"

# Stars that are unmistakable; the other variants are OCR misreads (女, 大, *) and are only
# accepted before a strict period, so that 秘密女孩 in a novel does not become 秘密★.
_TRUE_STARS = "★☆✩✭✮✯⭐"
_STRICT_PERIOD = r"\d{1,2}[年月]|\d{1,2}个月|长期|启用前"


@dataclass(frozen=True)
class _Patterns:
    starred: re.Pattern[str]
    misread_star: re.Pattern[str]
    no_star: re.Pattern[str]
    misread_level: re.Pattern[str]
    misread_field: re.Pattern[str]
    dropped_glyph: re.Pattern[str]
    field: re.Pattern[str]
    label: re.Pattern[str]
    bare: re.Pattern[str]
    companions: re.Pattern[str]


@lru_cache(maxsize=8)
def _patterns(markings: ClassificationMarkings, headers: Headers) -> _Patterns:
    levels = alternation(markings.levels)
    labels = alternation(markings.field_labels)
    periods = "|".join(f"(?:{p})" for p in markings.periods)
    true_stars = char_class(_TRUE_STARS)
    any_star = char_class("".join(markings.star_variants))
    misread = _one_glyph_off(markings.levels)
    # What may share a marking's line: the copy number, the urgency, other markings.
    companions = rf"\d{{{headers.copy_number_digits}}}|{alternation(headers.urgency)}"
    return _Patterns(
        starred=re.compile(rf"(?P<level>{levels}){true_stars}(?P<period>{periods})?"),
        # OCR makes anything of ★ (女, 妇, 太, 友, 大, *): between a level and a strict
        # period, any one glyph is the star.
        misread_star=re.compile(rf"(?P<level>{levels}).(?P<period>{_STRICT_PERIOD})"),
        no_star=re.compile(rf"(?P<level>{levels})(?P<period>{_STRICT_PERIOD})"),
        # One glyph of the level misread (秘图*5年): still a marking with a star and a period.
        misread_level=re.compile(rf"(?P<level>{misread}){any_star}(?P<period>{_STRICT_PERIOD})"),
        # The same in a form's 密级 cell (密　级 | 实密★1年, a far shot): the label says what
        # the value is, wherever the table stands on the page.
        misread_field=re.compile(
            rf"{labels}[:：]?(?P<level>{misread}){any_star}(?P<period>{_STRICT_PERIOD})"
        ),
        # One glyph of the level lost on a blurred photo (机★10年): only before a true star.
        dropped_glyph=re.compile(
            rf"(?P<level>{char_class(''.join(markings.levels))})"
            rf"{true_stars}(?P<period>{_STRICT_PERIOD})"
        ),
        field=re.compile(
            rf"{labels}[:：]?(?P<level>{levels})"
            rf"(?:{any_star}(?:{periods})?)?"
        ),
        label=re.compile(rf"{labels}[:：]?"),
        bare=re.compile(rf"(?P<level>{levels})"),
        companions=re.compile(companions),
    )


def _one_glyph_off(levels: tuple[str, ...]) -> str:
    """绝密 → 绝. | .密: each two-glyph level with one glyph replaced by any character."""
    forms = {f"{re.escape(level[0])}." for level in levels} | {
        f".{re.escape(level[1])}" for level in levels
    }
    return "|".join(sorted(forms))


def _level(read: str, levels: tuple[str, ...]) -> str:
    """The level a reading names: itself, or the one level whose first glyph it keeps (机图 →
    机密). A reading that keeps only 密 (实密) could be any level and is shown as read."""
    if read in levels:
        return read
    named = [level for level in levels if level[0] == read[:1]]
    return named[0] if len(named) == 1 else read


@lru_cache(maxsize=8)
def marking_pattern(markings: ClassificationMarkings) -> re.Pattern[str]:
    """Any classification marking (level, optional star, optional period), for other rules
    that must tell a marking sharing a line from prose around it."""
    stars = char_class("".join(markings.star_variants))
    periods = "|".join(f"(?:{p})" for p in markings.periods)
    return re.compile(rf"{alternation(markings.levels)}{stars}?(?:{periods})?")


def detect(ctx: PageContext) -> list[Finding]:
    patterns = _patterns(ctx.config.markings.classification, ctx.config.headers)
    findings = []
    cells = ctx.field_values(patterns.label)
    values = {id(value) for value in cells.values()}
    for line in ctx.page.lines:
        if id(line) in values:
            continue  # read with its label
        value = cells.get(id(line))
        (read, _), *nearly = _readings(line, value)
        finding = _finding(ctx, patterns, line, value, read)
        for text, alternative in nearly if finding is None else ():
            finding = _finding(ctx, patterns, line, value, text)
            if finding is not None:
                finding = nearly_read(finding, alternative)
                break
        if finding is not None:
            findings.append(finding)
    return findings


def _readings(line: TextLine, value: TextLine | None) -> list[tuple[str, str]]:
    """The line with its field's value as read, then as the recogniser nearly read either:
    (text, the alternative reading it takes)."""
    field = f"：{normalize(value.text)}" if value else ""
    readings = [(normalize(line.text) + field, line.text)]
    readings += [(normalize(alt) + field, alt) for alt in line.alternatives]
    if value is not None:
        readings += [
            (f"{normalize(line.text)}：{normalize(alt)}", alt) for alt in value.alternatives
        ]
    return readings


def _finding(
    ctx: PageContext, patterns: _Patterns, line: TextLine, value: TextLine | None, text: str
) -> Finding | None:
    """The marking `text` (the line and its field's value) makes, by the surest pattern."""
    if not text:
        return None
    config: ScanConfig = ctx.config
    max_extra = config.scan.layout.alone_max_extra_chars
    side = [m.span() for m in patterns.companions.finditer(text)]
    for pattern, confidence, needs_top, extra in (
        (patterns.starred, 0.97, False, max_extra),
        (patterns.field, 0.93, False, max_extra),
        (patterns.misread_star, 0.9, False, max_extra),
        (patterns.no_star, 0.85, True, max_extra),
        (patterns.misread_level, 0.8, True, max_extra),
        (patterns.misread_field, 0.8, False, max_extra),
        (patterns.dropped_glyph, 0.75, True, 0),
        # A bare level word must stand quite alone: 第三章　秘密 is a chapter title.
        (patterns.bare, config.markings.classification.bare_level_confidence, True, 0),
    ):
        match = pattern.search(text)
        if match is None or leftover(text, [match.span(), *side]) > extra:
            continue
        if needs_top and not (ctx.in_top_zone(line) and ctx.in_left_zone(line)):
            continue
        read = min(line.confidence, value.confidence) if value else line.confidence
        evidence = line.text.strip() + (f" {value.text.strip()}" if value else "")
        return ctx.finding(
            NAME,
            _level(match.group("level"), config.markings.classification.levels),
            confidence * min(1.0, 0.5 + read),
            evidence,
            _union(line.bbox, value.bbox) if value else line.bbox,
        )
    return None


def _union(a: BBox | None, b: BBox | None) -> BBox | None:
    if a is None or b is None:
        return a or b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
