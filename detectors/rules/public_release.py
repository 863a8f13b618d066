"""（此件公开发布）: the document says it is published. Not an alert; policy lowers the verdict."""

from __future__ import annotations

import re
from functools import lru_cache

from detectors.config import PublicRelease
from detectors.context import PageContext
from detectors.model import Finding
from detectors.rules._text import alternation, leftover, normalize

NAME = "public_release"


@lru_cache(maxsize=8)
def _pattern(release: PublicRelease) -> re.Pattern[str]:
    return re.compile(rf"[(\[【〔]?{alternation(release.parenthesized)}[)\]】〕]?")


def detect(ctx: PageContext) -> list[Finding]:
    pattern = _pattern(ctx.config.markings.public_release)
    max_extra = ctx.config.scan.layout.alone_max_extra_chars
    findings = []
    for line in ctx.page.lines:
        text = normalize(line.text)
        match = pattern.search(text)
        if match and leftover(text, [match.span()]) <= max_extra:
            findings.append(ctx.finding(NAME, "public_release", 0.9, line.text.strip(), line.bbox))
    return findings
