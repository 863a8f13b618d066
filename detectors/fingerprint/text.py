"""The text of a page as fingerprint marks: normalised content lines, shingles, marks.

Template text that every document of one organ shares (the organ mark, marking lines, page
numbers, closing formulas, the signature organ name) is not content: two documents of the
same organ must not match on it. Everything else is normalised (NFKC, lower case, OCR
confusables folded, only letters and digits kept), cut into overlapping character shingles,
hashed to 32 bits with a stable hash, and a shingle is a mark when its hash is 0 mod p:
selected by value, so any fragment of a page selects exactly the marks the page has there.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from detectors.config import FingerprintSettings, Headers, Markings, TextFingerprintSettings
from detectors.model import TextLine
from detectors.rules._text import alternation, leftover
from detectors.rules.classification_marking import marking_pattern
from detectors.rules.handling_marking import phrase_pattern

_CLAUSE_PUNCTUATION = re.compile(r"[。，,；;：:、！!？?]")
"""An organ name standing alone (organ mark, signature) has none of these; prose has."""
_PAGE_NUMBER = re.compile(r"^(?:一?\d{1,3}一?|第\d{1,3}页(?:共\d{1,3}页)?)$")
"""— 3 — (dashes read as 一 or dropped as punctuation), 第3页共5页."""
_HEADER_FIELDS = ("份号", "密级", "紧急程度", "保密期限")
_NARROW_WIDTH = 0.55
"""Width of a Latin letter, digit or punctuation mark relative to a CJK glyph."""
_BOX_HEIGHT_PER_PITCH = 1.2
"""A flat line's box is about this many glyph widths high (text layers 1.15-1.2, OCR boxes a
little more)."""
_LIST_SEPARATORS = re.compile("[,、;]")
_ADDRESSEE_NAME_CHARS = 12
"""An addressee (各市（州）委, 省直各单位党组（党委）) is short; a clause of body text is longer."""
_VERTICAL_CHARS = 2
_VERTICAL_MIN_RUN = 3


@dataclass(frozen=True)
class ContentLine:
    """One line of content: normalised characters and where each stands on the page."""

    text: str
    centres: tuple[tuple[float, float], ...]
    """(x, y) in page pixels of each character of `text`; for a line without a box (DOCX,
    TXT) (offset in the page's content, 0): reading order is all there is."""
    height: float | None
    """Line height in pixels; None for a line without a box."""
    doc_number: int = 0
    """The line's 发文字号 (`doc_number_id`), 0 when it is not one: it carries
    `doc_number_marks` besides its shingles."""


@dataclass(frozen=True)
class Mark:
    value: int
    position: tuple[float, float]


@dataclass(frozen=True)
class _Template:
    marking: re.Pattern[str] | None
    organ_end: re.Pattern[str] | None
    organ_word: re.Pattern[str] | None
    colophon: re.Pattern[str] | None
    doc_number: re.Pattern[str] | None
    issuer: re.Pattern[str] | None
    field_label: re.Pattern[str] | None
    boilerplate: frozenset[str]


def normalise(text: str, settings: TextFingerprintSettings) -> str:
    """Letters and digits only, NFKC-folded, lower case, OCR confusables folded."""
    return "".join(c for c, _ in _normalised_with_source(text, settings))


def _is_content_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LN"


def content_lines(lines: list[TextLine], settings: FingerprintSettings) -> list[ContentLine]:
    """The lines that are content, normalised, with the position of every character."""
    template = _template(settings.markings, settings.headers, settings.text)
    out: list[ContentLine] = []
    offset = 0
    for line in _vertical_runs_joined(lines):
        raw = template.issuer.split(line.text)[0] if template.issuer else line.text
        if template.field_label is not None:
            raw = template.field_label.sub("", raw.strip(), count=1)
        kept = _normalised_with_source(raw, settings.text)
        text = "".join(c for c, _ in kept)
        if not text or _is_template(raw, text, template, settings.text):
            continue
        number = template.doc_number.match(text) if template.doc_number else None
        if number is not None and not number.group("no"):
            continue  # 吉政发〔2024〕 without its serial (OCR split the line): template
        doc_number = doc_number_id(number) if number is not None else 0
        if number is not None:
            text = number.group("no") + "号"  # agency and year are the template's
            kept = kept[number.start("no") :]
        if line.bbox is None:
            centres = tuple((float(offset + i), 0.0) for i in range(len(text)))
            out.append(ContentLine(text, centres, None, doc_number))
            offset += len(text)
            continue
        x0, y0, x1, y1 = line.bbox
        xs, pitch = _char_centres(raw, x0, x1)
        # A slanted line runs across its box diagonally: each character's height follows it.
        xc, yc = (x0 + x1) / 2, (y0 + y1) / 2
        ys = [yc + line.slope * (x - xc) for x in xs]
        # A box far higher than its glyphs are wide holds a slanted or bent line.
        height = min(float(y1 - y0), _BOX_HEIGHT_PER_PITCH * pitch)
        out.append(ContentLine(text, tuple((xs[i], ys[i]) for _, i in kept), height, doc_number))
    return out


def _vertical_runs_joined(lines: list[TextLine]) -> list[TextLine]:
    """Runs of one- or two-character lines (vertical text: a seal's ring read line by line,
    a vertical label) joined into one line, so that they are judged, and shingled, as the
    words they spell (内/蒙/古/... is the organ's name, template) and not as single marks."""
    out: list[TextLine] = []
    run: list[TextLine] = []
    for line in [*lines, None]:
        if line is not None and 0 < len("".join(line.text.split())) <= _VERTICAL_CHARS:
            run.append(line)
            continue
        out += [_joined(run)] if len(run) >= _VERTICAL_MIN_RUN else run
        run = []
        if line is not None:
            out.append(line)
    return out


def _joined(run: list[TextLine]) -> TextLine:
    boxes = [line.bbox for line in run if line.bbox is not None]
    bbox = None
    if len(boxes) == len(run):
        bbox = (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
    return TextLine(
        text="".join(line.text.strip() for line in run),
        bbox=bbox,
        confidence=min(line.confidence for line in run),
    )


def marks(lines: list[ContentLine], settings: TextFingerprintSettings) -> list[Mark]:
    """Every selected shingle of every line, in reading order (duplicates kept). A line
    shorter than a shingle is one shingle."""
    k, modulus = settings.shingle_chars, settings.sample_modulus
    out = []
    for line in lines:
        text, centres = line.text, line.centres
        for start in range(max(0, len(text) - k) + 1):
            value = shingle_hash(text[start : start + k])
            if value % modulus == 0:
                end = min(len(text), start + k) - 1
                (ax, ay), (bx, by) = centres[start], centres[end]
                out.append(Mark(value, ((ax + bx) / 2, (ay + by) / 2)))
        if line.doc_number:
            (ax, ay), (bx, by) = centres[0], centres[-1]
            centre = ((ax + bx) / 2, (ay + by) / 2)
            out += [Mark(v, centre) for v in doc_number_marks(line.doc_number, settings)]
    return out


def doc_number_id(number: re.Match[str]) -> int:
    """A 发文字号 as one non-zero number: agency code, year and serial together name one
    document (the brackets, which OCR reads in many ways, are gone)."""
    return max(1, shingle_hash("№{agency}{year}-{no}".format(**number.groupdict())))


def doc_number_marks(doc_number: int, settings: TextFingerprintSettings) -> tuple[int, ...]:
    """A 发文字号 is worth `doc_number_weight` marks, all or none. Its agency code and year
    alone are shared by the organ's documents and make no mark."""
    return tuple(shingle_hash(f"№{doc_number:08x}#{i}") for i in range(settings.doc_number_weight))


def shingle_hash(shingle: str) -> int:
    """A stable 32-bit hash (Python's `hash()` is salted per process)."""
    digest = hashlib.blake2b(shingle.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "big")


def _normalised_with_source(text: str, settings: TextFingerprintSettings) -> list[tuple[str, int]]:
    """The normalised characters of `text`, each with the index of the character it came from
    (NFKC maps one character to one or more; positions follow the source character)."""
    confusables = _confusables(settings.confusables)
    out = []
    for i, char in enumerate(text):
        for folded in unicodedata.normalize("NFKC", char).lower():
            mapped = confusables.get(folded, folded)
            if _is_content_char(mapped):
                out.append((mapped, i))
    return out


def _char_centres(text: str, x0: float, x1: float) -> tuple[list[float], float]:
    """Estimated x centre of each character of a line (CJK glyphs are full width, the rest
    about half), and the width of a full-width glyph."""
    widths = [1.0 if unicodedata.east_asian_width(c) in ("W", "F") else _NARROW_WIDTH for c in text]
    unit = (x1 - x0) / max(sum(widths), 1e-6)
    centres, x = [], float(x0)
    for w in widths:
        centres.append(x + w * unit / 2)
        x += w * unit
    return centres, unit


def _is_template(
    raw: str, text: str, template: _Template, settings: TextFingerprintSettings
) -> bool:
    if _PAGE_NUMBER.match(text) or text in template.boilerplate:
        return True
    if template.marking is not None:
        spans = [m.span() for m in template.marking.finditer(text)]
        if spans and leftover(text, spans) <= settings.marking_max_extra_chars:
            return True
    if template.colophon is not None and template.colophon.search(text):
        return True
    if template.organ_end is not None and _is_organ_name(raw, text, template.organ_end):
        return True
    return template.organ_word is not None and _is_addressee(raw, text, template.organ_word)


def _is_organ_name(raw: str, text: str, organ_end: re.Pattern[str]) -> bool:
    """An organ name alone on its line: the organ mark (…文件), a joint mark's lines, the
    signature. Shared by every document of the organ."""
    if _CLAUSE_PUNCTUATION.search(unicodedata.normalize("NFKC", raw)):
        return False
    if "关于" in text or "的" in text or any(c.isdigit() for c in text):
        return False
    return organ_end.search(text) is not None


def _is_addressee(raw: str, text: str, organ_word: re.Pattern[str]) -> bool:
    """主送机关 (各市人民政府，省政府各部门：): the organ's usual addressees, one line ending
    with a colon, without a full stop. OCR often drops the colon: a line of two or more short
    names, the first beginning with 各, still is one."""
    stripped = unicodedata.normalize("NFKC", raw).strip()
    if "。" in stripped:
        return False
    if stripped.endswith(":"):
        return text.startswith("各") or organ_word.search(text) is not None
    names = [n for n in _LIST_SEPARATORS.split(stripped) if n]
    return (
        text.startswith("各")
        and len(names) >= 2
        and all(len(n) <= _ADDRESSEE_NAME_CHARS for n in names)
        and organ_word.search(text) is not None
    )


@lru_cache(maxsize=8)
def _confusables(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return dict(pairs)


@lru_cache(maxsize=8)
def _template(
    markings: Markings | None, headers: Headers | None, settings: TextFingerprintSettings
) -> _Template:
    boilerplate = frozenset(normalise(b, settings) for b in settings.boilerplate)
    if markings is None or headers is None:
        return _Template(None, None, None, None, None, None, None, boilerplate)
    fields = [
        marking_pattern(markings.classification).pattern,
        phrase_pattern(markings.handling).pattern,
        alternation(_HEADER_FIELDS),
        rf"\d{{{headers.copy_number_digits}}}",
        alternation(headers.urgency),
    ]
    organ = headers.organ_mark
    ends = alternation((*organ.suffixes, *organ.organ_words))
    colophon = headers.colophon
    number = headers.doc_number
    return _Template(
        marking=re.compile("|".join(f"(?:{p})" for p in fields)),
        # The organ's name alone; 编/印 close the issuing office's line in 简报 and 纪要.
        organ_end=re.compile(rf"^.{{2,{organ.max_chars}}}?{ends}[编印]?$"),
        organ_word=re.compile(alternation(organ.organ_words)),
        colophon=re.compile(
            rf"^{alternation((*colophon.cc_labels, *colophon.main_labels))}"
            rf"|{re.escape(colophon.printed_suffix)}$"
        ),
        # Brackets are gone after normalisation: 吉政办发2024 15号.
        doc_number=re.compile(
            rf"^(?P<agency>[\u4e00-\u9fff]{{1,{number.max_agency_chars}}}?)"
            rf"(?P<year>(?:19|20)\d\d)(?:第?(?P<no>\d{{1,5}})号)?$"
        ),
        # 签发人 and the name after it: the organ's signer, not this document's content.
        issuer=re.compile(alternation([w for w in headers.issuer_labels if len(w) >= 3])),
        # A telegram's field label (签批盘号：, 发电单位：) before its value, or alone where OCR
        # split the two; a signer's label with its name (签发：王某).
        field_label=re.compile(
            rf"^(?:{alternation(headers.telegram_fields)})\s*(?:[:：]\s*|$)"
            rf"|^(?:{alternation(headers.issuer_labels)})\s*[:：].*"
        ),
        boilerplate=boilerplate,
    )
