"""Lists of people: 18-digit 身份证号 with a valid GB 11643 check digit, mobile numbers.

One number is an address book entry; several on one page are a list (排查名单, 病历), which is
how the epidemic-era lists in the cases leaked. Evidence is masked: alerts must never carry
the numbers themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from detectors.context import PageContext
from detectors.model import Finding

NAME = "personal_data"

_ID = re.compile(
    r"(?<![0-9])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx](?![0-9])"
)
_MOBILE = re.compile(r"(?<![0-9])1[3-9]\d{9}(?![0-9])")
_ID_LENGTH = 18
_MOBILE_LENGTH = 11
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
# A run of digit groups separated only by spaces or dashes: OCR and typists split long numbers
# (2201 0219 9003 0712 34), and a table row puts an ID and a phone side by side.
_DIGIT_RUN = re.compile(r"[0-9Xx]+(?:[\s\-]+[0-9Xx]+)*")
_GROUP = re.compile(r"[0-9Xx]+")


def id_check_char(first17: str) -> str:
    """The GB 11643-1999 check character for the first 17 digits of an ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def is_valid_id(number: str) -> bool:
    return bool(_ID.fullmatch(number)) and id_check_char(number[:17]) == number[17].upper()


def mask(number: str) -> str:
    return f"{number[:4]}{'*' * (len(number) - 8)}{number[-4:]}"


def numbers(text: str) -> Iterator[str]:
    """Candidate numbers: each digit group, and consecutive groups joined up to 18 chars. A
    table row's ID and phone cells that OCR read as one 29-digit number are split both ways."""
    for run in _DIGIT_RUN.finditer(text):
        groups = _GROUP.findall(run.group(0))
        for start in range(len(groups)):
            joined = ""
            for group in groups[start:]:
                joined += group
                if len(joined) == _ID_LENGTH + _MOBILE_LENGTH:
                    yield from (joined[:_ID_LENGTH], joined[_ID_LENGTH:])
                    yield from (joined[:_MOBILE_LENGTH], joined[_MOBILE_LENGTH:])
                if len(joined) > _ID_LENGTH:
                    break
                yield joined


def detect(ctx: PageContext) -> list[Finding]:
    ids: set[str] = set()
    phones: set[str] = set()
    for line in ctx.page.lines:
        for number in numbers(line.text):
            if is_valid_id(number):
                ids.add(number.upper())
            elif _MOBILE.fullmatch(number):
                phones.add(number)
    settings = ctx.config.scan.personal_data
    is_list = (
        len(ids) >= settings.min_ids
        or len(phones) >= settings.min_phones
        or (ids and len(ids) + len(phones) >= settings.min_mixed)
    )
    if not is_list:
        return []
    examples = ", ".join(mask(n) for n in sorted(ids)[:2] or sorted(phones)[:2])
    evidence = f"{len(ids)} valid ID numbers, {len(phones)} mobile numbers (e.g. {examples})"
    confidence = min(0.99, 0.7 + 0.05 * (len(ids) + len(phones) / 2))
    return [
        ctx.finding(
            NAME, "person_list", confidence, evidence, None, ids=len(ids), phones=len(phones)
        )
    ]
